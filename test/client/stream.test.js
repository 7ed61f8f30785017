"use strict";
// bytes -> SSE events -> typed chunks (src/client/stream.ts), without a network.
const { assert, client } = require("./helpers");
const { SseChunkDecoder } = require("../../nodes/lib/client/stream.js");

/** A decoder whose handler records what it got. */
function recorder(maxEventBytes) {
  const seen = [];
  const handler = {
    onDelta: (chunk, content, reasoning) => seen.push(["delta", chunk.id, content, reasoning]),
    onSnapshot: (chunk, content, reasoning) => seen.push(["snapshot", chunk.id, content, reasoning]),
  };
  return { seen, decoder: new SseChunkDecoder(handler, () => seen.push(["done"]), maxEventBytes) };
}

function thrown(fn) {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail("expected a throw");
}

const DELTA = (content, reasoning = null) =>
  `data: {"id": "chatcmpl-1", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ${JSON.stringify(content)}, "reasoning_content": ${JSON.stringify(reasoning)}}}]}\n\n`;

describe("client stream decoding (stream.ts)", () => {
  it("reads delta chunks, null content and [DONE] (dbgpt-api.md §5.1, §5.3)", () => {
    const { seen, decoder } = recorder();
    decoder.push(Buffer.from(DELTA(null, "Let me") + DELTA("Hello") + DELTA("") + "data: [DONE]\n\n"));
    assert.deepEqual(seen, [
      ["delta", "chatcmpl-1", null, "Let me"],
      ["delta", "chatcmpl-1", "Hello", null],
      ["delta", "chatcmpl-1", "", null],
      ["done"],
    ]);
  });

  it("holds the events of a chunk while paused and hands them on in order on release()", () => {
    const seen = [];
    let paused = false;
    const handler = {
      onDelta: (_chunk, content) => {
        seen.push(content);
        if (content === "a" || content === "c") paused = true; // the consumer pauses after these
      },
      onSnapshot: () => assert.fail("no snapshot"),
    };
    const decoder = new SseChunkDecoder(
      handler,
      () => seen.push("[DONE]"),
      undefined,
      () => paused,
    );
    decoder.push(Buffer.from(DELTA("a") + DELTA("b") + DELTA("c") + ": heartbeat\n\n" + DELTA("d")));
    assert.deepEqual(seen, ["a"], "nothing after the pause, even from the same chunk");
    decoder.release();
    assert.deepEqual(seen, ["a"], "still paused: still held");
    paused = false;
    decoder.release();
    assert.deepEqual(seen, ["a", "b", "c"]);
    decoder.push(Buffer.from(DELTA("e") + "data: [DONE]\n\n"));
    assert.deepEqual(seen, ["a", "b", "c"], "held events keep their place before later chunks");
    paused = false;
    decoder.release();
    assert.deepEqual(seen, ["a", "b", "c", "d", "e", "[DONE]"]);
  });

  it("reads `message` snapshots as snapshots (incremental: false, §5.2)", () => {
    const { seen, decoder } = recorder();
    decoder.push(
      Buffer.from(
        'data: {"id": "c", "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hel", "reasoning_content": null}}], "usage": {}}\n\n',
      ),
    );
    assert.deepEqual(seen, [["snapshot", "c", "Hel", null]]);
  });

  it("reads flow's role-only chunk as a delta without content (§5.4)", () => {
    const { seen, decoder } = recorder();
    decoder.push(
      Buffer.from(
        'data: {"id":"conv-3","model":"m","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}\n\n',
      ),
    );
    assert.deepEqual(seen, [["delta", "conv-3", undefined, undefined]]);
  });

  it("decodes UTF-8 characters cut between chunks, at every byte", () => {
    const bytes = Buffer.from(DELTA("你好 🌍 Ünï") + "data: [DONE]\n\n");
    for (let cut = 1; cut < bytes.length; cut++) {
      const { seen, decoder } = recorder();
      decoder.push(bytes.subarray(0, cut));
      decoder.push(bytes.subarray(cut));
      assert.deepEqual(seen[0], ["delta", "chatcmpl-1", "你好 🌍 Ünï", null], `cut at ${cut}`);
    }
  });

  it("tolerates CRLF framing, comments and unknown fields", () => {
    const { seen, decoder } = recorder();
    decoder.push(
      Buffer.from(
        ": keep-alive\r\nevent: x\r\n" + DELTA("a").replace(/\n/g, "\r\n") + "data: [DONE]\r\n\r\n",
      ),
    );
    assert.deepEqual(
      seen.map((s) => s[0]),
      ["delta", "done"],
    );
  });

  it("dispatches a last event that lacks its blank line on a clean end", () => {
    const { seen, decoder } = recorder();
    decoder.push(Buffer.from("data: [DONE]"));
    assert.deepEqual(seen, []);
    decoder.end();
    assert.deepEqual(seen, [["done"]]);
  });

  it("throws DBGPT_STREAM_ERROR with the server's text for [SERVER_ERROR] (§5.6)", () => {
    const { decoder } = recorder();
    const err = thrown(() =>
      decoder.push(Buffer.from("data: [SERVER_ERROR]have not found knowledge space:nope\n\n")),
    );
    assert.ok(err instanceof client.DbgptError);
    assert.equal(err.code, "DBGPT_STREAM_ERROR");
    assert.equal(err.serverMessage, "have not found knowledge space:nope");
    assert.match(err.message, /have not found knowledge space:nope/);
  });

  it("keeps the lines of a multi-line [SERVER_ERROR] text", () => {
    const { decoder } = recorder();
    const err = thrown(() =>
      decoder.push(Buffer.from("data: [SERVER_ERROR]Traceback:\nValueError: bad thing\n\n")),
    );
    assert.equal(err.serverMessage, "Traceback:\nValueError: bad thing");
  });

  it("throws DBGPT_STREAM_ERROR for a flow error event (§5.4)", () => {
    const { decoder } = recorder();
    const err = thrown(() =>
      decoder.push(
        Buffer.from(
          'data: {"error_code": 1, "text": "Flow nope not found", "incremental": true, "model_context": null}\n\n',
        ),
      ),
    );
    assert.equal(err.code, "DBGPT_STREAM_ERROR");
    assert.equal(err.serverMessage, "Flow nope not found");
  });

  for (const [what, data] of [
    ["bad JSON", "data: {not json\n\n"],
    ["a JSON scalar", "data: 42\n\n"],
    ["an object without choices", 'data: {"id": "x"}\n\n'],
    ["a choice without delta or message", 'data: {"choices": [{"index": 0}]}\n\n'],
  ]) {
    it(`throws DBGPT_PROTOCOL for ${what}, keeping the event`, () => {
      const { decoder } = recorder();
      const err = thrown(() => decoder.push(Buffer.from(data)));
      assert.equal(err.code, "DBGPT_PROTOCOL");
      assert.equal(err.body, data.slice(6, -2));
    });
  }

  it("accepts an event of exactly the byte limit and refuses one byte more (multi-byte counted as bytes)", () => {
    const limit = 4096;
    const event = (bytes) => {
      // "é" is 2 bytes: fill with it so characters and bytes differ.
      const frame = DELTA("");
      const content = "é".repeat(Math.floor((bytes - Buffer.byteLength(frame.slice(6, -2))) / 2));
      const data = frame.slice(6, -2).replace('"content": ""', `"content": "${content}"`);
      const pad = bytes - Buffer.byteLength(data);
      return data.replace('"model": "m"', `"model": "${"m".repeat(1 + pad)}"`);
    };
    const fits = event(limit);
    assert.equal(Buffer.byteLength(fits), limit);
    const ok = recorder(limit);
    ok.decoder.push(Buffer.from(`data: ${fits}\n\n`));
    assert.equal(ok.seen.length, 1);

    const tooBig = event(limit + 1);
    assert.equal(Buffer.byteLength(tooBig), limit + 1);
    const bad = recorder(limit);
    const err = thrown(() => bad.decoder.push(Buffer.from(`data: ${tooBig}\n\n`)));
    assert.equal(err.code, "DBGPT_PROTOCOL");
    assert.match(err.message, /larger than 4096 bytes/);
  });

  it("refuses an unterminated event as soon as it outgrows the limit", () => {
    const { decoder } = recorder(1000);
    decoder.push(Buffer.from("data: " + "x".repeat(900)));
    const err = thrown(() => decoder.push(Buffer.from("x".repeat(200))));
    assert.equal(err.code, "DBGPT_PROTOCOL");
  });
});

describe("client stream edge cases over real sockets (issue 9)", () => {
  const { useEmulator, collect, chatRequest } = require("./helpers");
  const { answerTokens } = require("../../emulator");
  const ctx = useEmulator();

  it("a UTF-8 BOM before the first event is ignored: the whole answer arrives", async () => {
    ctx.emu.fault({ bom: true });
    const { events, result } = await collect(ctx.client().chat(chatRequest({ question: "bom" })));
    assert.equal(result.text, answerTokens("bom").join(""));
    assert.equal(events[0].text, answerTokens("bom")[0]);
  });

  it("a BOM split from the rest of the body is ignored too", async () => {
    ctx.emu.fault({ bom: true, splitAt: [1, 2, 3] });
    const { result } = await collect(ctx.client().chat(chatRequest({ question: "bom" })));
    assert.equal(result.text, answerTokens("bom").join(""));
  });

  it("empty `data:` lines (heartbeats) are ignored", async () => {
    ctx.emu.fault({ heartbeats: true });
    const { result, error } = await collect(ctx.client().chat(chatRequest({ question: "beat" })));
    assert.equal(error, undefined);
    assert.equal(result.text, answerTokens("beat").join(""));
  });

  it("a stream event nested deeper than 64 levels is DBGPT_PROTOCOL before anything of it is used", async () => {
    const deep = "[".repeat(65) + "]".repeat(65);
    ctx.emu.fault({
      rawEvents: [
        `data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"a"}}],"x":${deep}}\n\n`,
        "data: [DONE]\n\n",
      ],
    });
    const { events, error } = await collect(ctx.client().chat(chatRequest({ question: "q" })));
    assert.equal(error.code, "DBGPT_PROTOCOL");
    assert.match(error.message, /nested deeper than 64 levels/);
    assert.deepEqual(events, []);
  });

  it("a non-stream answer whose usage is nested 10,000 levels deep is DBGPT_PROTOCOL", async () => {
    ctx.emu.fault({ deepUsage: 10_000 });
    const { error } = await collect(ctx.client().chat(chatRequest({ question: "q", stream: false })));
    assert.equal(error.code, "DBGPT_PROTOCOL");
    assert.match(error.message, /nested deeper than 64 levels/);
  });
});

describe("parseServerJson depth limit", () => {
  const { parseServerJson } = require("../../nodes/lib/client/stream.js");
  const nested = (n) => "[".repeat(n) + "]".repeat(n);

  it("accepts 64 levels, refuses 65; brackets inside strings do not count", () => {
    assert.equal(parseServerJson(nested(64)).length, 1);
    assert.equal(thrown(() => parseServerJson(nested(65))).code, "DBGPT_PROTOCOL");
    const inString = JSON.stringify({ text: "[{".repeat(200) + '\\"' });
    assert.equal(parseServerJson(inString).text, "[{".repeat(200) + '\\"');
    // Objects and arrays count together: 33 objects around 32 arrays are 65 levels.
    const mixed = '{"a":'.repeat(33) + nested(32) + "}".repeat(33);
    assert.equal(thrown(() => parseServerJson(mixed)).code, "DBGPT_PROTOCOL");
    assert.ok(parseServerJson('{"a":'.repeat(32) + nested(32) + "}".repeat(32)));
  });

  it("the decoder refuses a deep event and ignores a heartbeat", () => {
    const { seen, decoder } = recorder();
    decoder.push(Buffer.from("data:\n\n" + DELTA("x")));
    assert.deepEqual(seen, [["delta", "chatcmpl-1", "x", null]]);
    const err = thrown(() => decoder.push(Buffer.from(`data: {"a":${nested(70)}}\n\n`)));
    assert.equal(err.code, "DBGPT_PROTOCOL");
  });
});

describe("eventsource-parser dependency", () => {
  it("package.json asks for ^3.1.0 or later: maxBufferSize (the 16 MiB event limit) does not exist in 3.0.x", () => {
    const pkg = require("../../package.json");
    const range = pkg.dependencies["eventsource-parser"];
    const match = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(range);
    assert.ok(match, `a caret range, got ${range}`);
    const [major, minor] = [Number(match[1]), Number(match[2])];
    assert.ok(
      major === 3 && minor >= 1,
      `eventsource-parser ${range} may resolve to a 3.0.x without maxBufferSize`,
    );
    const installed = require("eventsource-parser/package.json").version.split(".").map(Number);
    assert.ok(installed[0] === 3 && installed[1] >= 1, `installed ${installed.join(".")}`);
  });
});
