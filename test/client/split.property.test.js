"use strict";
// Property: however the response bytes are cut into pieces, the events and the final answer are the
// same (fast-check). In process (stream.ts + answer.ts) and over real sockets (emulator splitAt).
const fc = require("fast-check");
const { assert, useEmulator, collect, fold, chatRequest } = require("./helpers");
const { SseChunkDecoder } = require("../../nodes/lib/client/stream.js");
const { ChatAnswer } = require("../../nodes/lib/client/answer.js");
const { answerFor, reasoningFor, APP_CODES } = require("../../emulator");

/** Text pieces that stress the decoder and the vis-thinking splitter. */
const piece = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.constantFrom(
    "你好",
    "😀👍🏽",
    "é",
    "\n",
    "`",
    "``````",
    "``````vis-thinking\n",
    "\n``````",
    "\n``````\n",
    "\\n",
    '"',
  ),
);
const deltas = fc.array(fc.tuple(fc.option(piece, { nil: null }), fc.option(piece, { nil: null })), {
  minLength: 1,
  maxLength: 25,
});

/** chat_normal-family SSE bytes for (content, reasoning) pairs, as the server spaces them. */
function normalStream(pairs) {
  let body = "";
  for (const [content, reasoning] of pairs) {
    const delta = { role: "assistant", content, reasoning_content: reasoning };
    body += `data: ${JSON.stringify({ id: "chatcmpl-p", model: "m", choices: [{ index: 0, delta }] })}\n\n`;
  }
  return Buffer.from(body + "data: [DONE]\n\n");
}

/** chat_app SSE bytes: cumulative re-renders of one or two agents, with content:null chunks. */
function appStream(texts) {
  const render = (list) => "```agent-messages\n" + JSON.stringify(list) + "\n```";
  let body = "";
  let cumulative = "";
  const event = (content) =>
    `data: ${JSON.stringify({ id: "conv", created: 1, model: "m", choices: [{ index: 0, delta: { role: "assistant", content } }] })}\n\n`;
  body += event(null);
  const half = Math.ceil(texts.length / 2);
  texts.forEach((text, i) => {
    if (i === half) cumulative = "";
    cumulative += text;
    const first = {
      sender: "A",
      receiver: "?",
      markdown: i < half ? cumulative : texts.slice(0, half).join(""),
    };
    body += event(render(i < half ? [first] : [first, { sender: "B", receiver: "?", markdown: cumulative }]));
  });
  return Buffer.from(body + "data: [DONE]\n\n");
}

/** Feeds `bytes` cut at `cuts` (piece lengths, cycled) through the decoder into a ChatAnswer. */
function decodeInPieces(bytes, cuts, mode) {
  const events = [];
  const answer = new ChatAnswer(mode, "app", "m", (event) => events.push(event));
  let done = false;
  let error;
  const decoder = new SseChunkDecoder(answer, () => {
    done = true;
    answer.finish();
  });
  try {
    let at = 0;
    for (let i = 0; at < bytes.length; i++) {
      const size = cuts.length === 0 ? bytes.length : cuts[i % cuts.length];
      decoder.push(bytes.subarray(at, at + size));
      at += size;
    }
  } catch (err) {
    error = err.code;
  }
  return {
    events,
    text: answer.output.text,
    reasoning: answer.output.reasoning,
    chunks: answer.chunks,
    done,
    error,
  };
}

const cutSizes = fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 30 });

describe("client: any split of the byte stream gives the same events and answer (fast-check)", () => {
  it("chat_normal family deltas, reasoning, vis-thinking fences and multi-byte text", () => {
    fc.assert(
      fc.property(deltas, cutSizes, (pairs, cuts) => {
        const bytes = normalStream(pairs);
        const whole = decodeInPieces(bytes, [], "chat_normal");
        const split = decodeInPieces(bytes, cuts, "chat_normal");
        assert.deepEqual(split, whole);
        if (whole.error === undefined) {
          assert.equal(whole.done, true);
          assert.deepEqual(fold(whole.events), { text: whole.text, reasoning: whole.reasoning });
        }
      }),
      { numRuns: 300 },
    );
  });

  it("chat_app cumulative re-renders (delta and replace events)", () => {
    fc.assert(
      fc.property(fc.array(piece, { minLength: 1, maxLength: 12 }), cutSizes, (texts, cuts) => {
        const bytes = appStream(texts);
        const whole = decodeInPieces(bytes, [], "chat_app");
        assert.deepEqual(decodeInPieces(bytes, cuts, "chat_app"), whole);
        if (whole.error === undefined) {
          assert.deepEqual(fold(whole.events), { text: whole.text, reasoning: whole.reasoning });
        }
      }),
      { numRuns: 200 },
    );
  });

  describe("over real sockets (emulator splitAt, inside multi-byte characters too)", () => {
    const ctx = useEmulator();

    for (const [what, fields, expected] of [
      [
        "[unicode] chat_normal",
        { question: "[unicode] split" },
        { text: answerFor("[unicode] split"), reasoning: "" },
      ],
      [
        "[think] chat_normal",
        { question: "[think] split" },
        { text: answerFor("[think] split"), reasoning: reasoningFor("[think] split") },
      ],
      [
        "[think] chat_app",
        { chatMode: "chat_app", chatParam: APP_CODES.singleAgent, question: "[think] app split" },
        {
          text: answerFor("[think] app split", { chatMode: "chat_app" }),
          reasoning: reasoningFor("[think] app split"),
        },
      ],
    ]) {
      it(what, async function () {
        this.timeout(60_000);
        const reference = await collect(ctx.client().chat(chatRequest(fields)));
        assert.deepEqual({ text: reference.result.text, reasoning: reference.result.reasoning }, expected);
        const bodyLength = 4000; // longer than these responses: offsets past the end are ignored
        await fc.assert(
          fc.asyncProperty(
            fc.uniqueArray(fc.integer({ min: 1, max: bodyLength }), { maxLength: 40 }),
            async (offsets) => {
              const faultId = ctx.emu.fault({ splitAt: offsets });
              const { events, result, error } = await collect(ctx.client().chat(chatRequest(fields)));
              assert.equal(
                ctx.emu.requests.at(-1).fault,
                faultId,
                "the response was written in those pieces",
              );
              assert.equal(error, undefined);
              assert.deepEqual(events, reference.events);
              assert.equal(result.text, expected.text);
              assert.equal(result.reasoning, expected.reasoning);
              assert.equal(result.chunks, reference.result.chunks);
            },
          ),
          { numRuns: 15 },
        );
      });
    }
  });
});
