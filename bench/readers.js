"use strict";
// The two in-process readers the benchmarks compare: the raw reader (the least a program must do to get
// each delta out of the stream: undici request + eventsource-parser + JSON.parse of every event) and
// DbgptClient.chat() iterated as its users iterate it.
const { request } = require("undici");
const { createParser } = require("eventsource-parser");

const MODEL = "chatgpt_proxyllm";

/**
 * Raw reader over one chat_normal stream. Resolves to { deltas, firstEventMs } (firstEventMs: from the
 * request to the first parsed content event, performance.now()). `expectDeltas` is checked when given.
 */
async function rawDeltas(dispatcher, url, question, expectDeltas) {
  const started = performance.now();
  const { statusCode, body } = await request(`${url}/api/v2/chat/completions`, {
    dispatcher,
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ model: MODEL, messages: question, stream: true, chat_mode: "chat_normal", temperature: null }),
  });
  if (statusCode !== 200) {
    await body.dump();
    throw new Error(`raw reader: HTTP ${statusCode}`);
  }
  let deltas = 0;
  let done = false;
  let firstEventMs;
  const parser = createParser({
    onEvent(event) {
      if (event.data === "[DONE]") {
        done = true;
        return;
      }
      const content = JSON.parse(event.data).choices[0].delta.content;
      if (typeof content === "string" && content !== "") {
        if (deltas === 0) firstEventMs = performance.now() - started;
        deltas++;
      }
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of body) parser.feed(decoder.decode(chunk, { stream: true }));
  if (!done || (expectDeltas !== undefined && deltas !== expectDeltas)) {
    throw new Error(`raw reader: ${deltas} deltas (expected ${expectDeltas}), [DONE] ${done}`);
  }
  return { deltas, firstEventMs };
}

/** DbgptClient.chat() over the same stream: the deltas as its `for await` yields them. */
async function clientDeltas(client, question, expectDeltas) {
  const started = performance.now();
  const call = client.chat({ chatMode: "chat_normal", model: MODEL, question, stream: true });
  let deltas = 0;
  let firstEventMs;
  for await (const event of call) {
    if (event.type !== "delta") continue;
    if (deltas === 0) firstEventMs = performance.now() - started;
    deltas++;
  }
  const result = await call.result;
  if (expectDeltas !== undefined && (deltas !== expectDeltas || result.chunks !== expectDeltas + 1)) {
    throw new Error(`client: ${deltas} deltas, ${result.chunks} chunks (expected ${expectDeltas})`);
  }
  return { deltas, firstEventMs };
}

module.exports = { MODEL, rawDeltas, clientDeltas };
