"use strict";
// The decoder's template (stream.ts DeltaTemplate): events that differ from a parsed one only in a short
// plain content are read without JSON.parse. Property: whatever the events, the handler gets exactly
// what JSON.parse of each event gives (fast-check), in one piece or cut anywhere.
const fc = require("fast-check");
const { assert } = require("./helpers");
const { SseChunkDecoder } = require("../../nodes/lib/client/stream.js");

/** What the handler got, per event: the chunk's id, model and usage, the content and the reasoning. */
function decode(body, cuts = []) {
  const seen = [];
  const note = (kind) => (chunk, content, reasoning) =>
    seen.push({ kind, id: chunk.id, model: chunk.model, usage: chunk.usage, content, reasoning });
  const decoder = new SseChunkDecoder({ onDelta: note("delta"), onSnapshot: note("snapshot") }, () =>
    seen.push({ kind: "done" }),
  );
  const bytes = Buffer.from(body);
  let from = 0;
  for (const cut of cuts) {
    const to = Math.min(bytes.length, from + cut);
    decoder.push(bytes.subarray(from, to));
    from = to;
  }
  decoder.push(bytes.subarray(from));
  decoder.end();
  return { seen };
}

/** What the handler should get: JSON.parse of every event. */
function expected(events) {
  return events.map((data) => {
    if (data === "[DONE]") return { kind: "done" };
    const chunk = JSON.parse(data);
    const delta = chunk.choices[0].delta;
    return {
      kind: "delta",
      id: chunk.id,
      model: chunk.model,
      usage: chunk.usage,
      content: delta.content,
      reasoning: delta.reasoning_content,
    };
  });
}

/** JSON as DB-GPT writes it (Python's json.dumps: ", " and ": "), or compact, or with \u escapes. */
function serialize(value, style) {
  const compact = JSON.stringify(value);
  if (style === "compact") return compact;
  if (style === "escaped")
    return compact.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return JSON.stringify(value, null, 1)
    .replace(/\n\s*/g, " ")
    .replace(/([[{]) /g, "$1")
    .replace(/ ([\]}])/g, "$1");
}

/** Short texts, most of them plain, some needing escapes, some equal to the chunk's other values. */
const text = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      "",
      " ab",
      "é",
      "你好",
      "😀",
      "m",
      "chatcmpl-1",
      "assistant",
      "null",
      "twelve chars",
    ),
    weight: 4,
  },
  {
    arbitrary: fc.constantFrom('"', "\\", "a\\b", "\n", "\t", "\u0000", "\\u0000", '","', "thirteen char"),
    weight: 2,
  },
  { arbitrary: fc.string({ maxLength: 14 }), weight: 1 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 6 }), weight: 1 },
);
/** One event: its texts, and now and then another id, model, usage or way of writing JSON. */
const event = fc.record({
  content: fc.option(text, { nil: null, freq: 8 }),
  reasoning: fc.oneof({ arbitrary: fc.constant(null), weight: 2 }, { arbitrary: text, weight: 1 }),
  id: fc.option(fc.constantFrom("chatcmpl-2", " ab", "é", "m"), { nil: undefined, freq: 8 }),
  model: fc.option(fc.constantFrom("gpt-4o", "assistant", "chatcmpl-1"), { nil: undefined, freq: 8 }),
  usage: fc.option(fc.record({ total_tokens: fc.nat(99) }), { nil: undefined, freq: 8 }),
  style: fc.option(fc.constantFrom("compact", "escaped"), { nil: undefined, freq: 8 }),
});
const stream = fc.record({
  id: fc.constantFrom("chatcmpl-1", "é"),
  model: fc.constantFrom("m", "gpt-4o"),
  style: fc.constantFrom("python", "compact", "escaped"),
  events: fc.array(event, { minLength: 1, maxLength: 40 }),
});

/** The stream's events as `data:` texts, [DONE] last, and its bytes. */
function body({ id, model, style, events }) {
  const datas = events.map((e) => {
    const delta = { role: "assistant", content: e.content, reasoning_content: e.reasoning };
    const chunk = { id: e.id ?? id, model: e.model ?? model, choices: [{ index: 0, delta }] };
    if (e.usage !== undefined) chunk.usage = e.usage;
    return serialize(chunk, e.style ?? style);
  });
  datas.push("[DONE]");
  return { datas, text: datas.map((d) => `data: ${d}\n\n`).join("") };
}

describe("client stream decoding: events read through a template (stream.ts DeltaTemplate)", () => {
  it("hands on exactly what JSON.parse of each event gives, in one piece and cut anywhere", () => {
    fc.assert(
      fc.property(stream, fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 20 }), (events, cuts) => {
        const { datas, text } = body(events);
        const want = expected(datas);
        assert.deepEqual(decode(text).seen, want);
        assert.deepEqual(decode(text, cuts).seen, want);
      }),
      { numRuns: 1000 },
    );
  });

  it("from the second event on, events that differ only in a short plain content share one parsed chunk", () => {
    const events = [" He", "llo", "", " wo", "rld"].map((content) => ({ content, reasoning: null }));
    const chunks = [];
    const decoder = new SseChunkDecoder(
      {
        onDelta: (chunk, content) => chunks.push([chunk, content]),
        onSnapshot: () => assert.fail("snapshot"),
      },
      () => {},
    );
    decoder.push(Buffer.from(body({ id: "chatcmpl-1", model: "m", style: "python", events }).text));
    assert.deepEqual(
      chunks.map(([, content]) => content),
      [" He", "llo", "", " wo", "rld"],
    );
    // The first event is parsed and handed on at once; the template is built from the second.
    assert.notStrictEqual(chunks[1][0], chunks[0][0]);
    for (const [chunk] of chunks.slice(2)) assert.strictEqual(chunk, chunks[1][0]);
  });

  it("a content with an escape, a longer content or another id is parsed, and the chunk's values follow it", () => {
    const events = [
      { content: "a", reasoning: null },
      { content: 'say "hi"', reasoning: null },
      { content: "b\\", reasoning: null },
      { content: "a longer piece of text", reasoning: null },
      { content: "c", reasoning: null, id: "chatcmpl-2" },
      { content: "d", reasoning: null },
      // The last "x" is the reasoning's: only the first of the two is the content.
      { content: "x", reasoning: "x" },
      { content: "x", reasoning: "y" },
    ];
    const { datas, text } = body({ id: "chatcmpl-1", model: "m", style: "python", events });
    assert.deepEqual(decode(text).seen, expected(datas));
  });

  it("a raw control character in a content is not JSON: DBGPT_PROTOCOL, as without the template", () => {
    const { text } = body({
      id: "chatcmpl-1",
      model: "m",
      style: "python",
      events: [{ content: "a", reasoning: null }],
    });
    const bad = text.replace(
      "[DONE]",
      JSON.stringify({
        id: "chatcmpl-1",
        model: "m",
        choices: [{ index: 0, delta: { role: "assistant", content: "QQ", reasoning_content: null } }],
      })
        .replace(/,/g, ", ")
        .replace(/":/g, '": ')
        .replace("QQ", "\t"),
    );
    assert.throws(
      () => decode(bad),
      (err) => err.code === "DBGPT_PROTOCOL",
    );
  });
});
