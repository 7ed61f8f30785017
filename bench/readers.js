"use strict";
// The two in-process readers the benchmarks compare: the raw reader (the least a program must do to get
// each delta out of the stream: undici request + eventsource-parser + JSON.parse of every event) and
// DbgptClient.chat() iterated as its users iterate it.
const diagnostics = require("node:diagnostics_channel");
const { request } = require("undici");
const { createParser } = require("eventsource-parser");

const MODEL = "chatgpt_proxyllm";

/**
 * When undici (this process's) created the current request and received its first body bytes, from its
 * diagnostics channels: the part of a first-event time that is the reader's own work, without the
 * network and the server.
 */
const undiciTimes = { requestCreated: undefined, firstBodyChunk: undefined };
diagnostics.subscribe("undici:request:create", () => {
  if (undiciTimes.requestCreated === undefined) undiciTimes.requestCreated = performance.now();
});
diagnostics.subscribe("undici:request:bodyChunkReceived", () => {
  if (undiciTimes.firstBodyChunk === undefined) undiciTimes.firstBodyChunk = performance.now();
});

function startTiming() {
  undiciTimes.requestCreated = undefined;
  undiciTimes.firstBodyChunk = undefined;
  return performance.now();
}

/** The reader's own time before the first event: call to request creation, first body bytes to first event. */
function ownTime(started, firstEventAt) {
  return undiciTimes.requestCreated - started + (firstEventAt - undiciTimes.firstBodyChunk);
}

/**
 * Raw reader over one chat_normal stream. Resolves to { deltas, firstEventMs, ownMs } (firstEventMs: from
 * the request to the first parsed content event, performance.now(); ownMs: see ownTime()).
 * `expectDeltas` is checked when given.
 */
async function rawDeltas(dispatcher, url, question, expectDeltas) {
  const started = startTiming();
  const { statusCode, body } = await request(`${url}/api/v2/chat/completions`, {
    dispatcher,
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({
      model: MODEL,
      messages: question,
      stream: true,
      chat_mode: "chat_normal",
      temperature: null,
    }),
  });
  if (statusCode !== 200) {
    await body.dump();
    throw new Error(`raw reader: HTTP ${statusCode}`);
  }
  let deltas = 0;
  let done = false;
  let firstEventMs;
  let ownMs;
  const parser = createParser({
    onEvent(event) {
      if (event.data === "[DONE]") {
        done = true;
        return;
      }
      const content = JSON.parse(event.data).choices[0].delta.content;
      if (typeof content === "string" && content !== "") {
        if (deltas === 0) {
          const now = performance.now();
          firstEventMs = now - started;
          ownMs = ownTime(started, now);
        }
        deltas++;
      }
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of body) parser.feed(decoder.decode(chunk, { stream: true }));
  if (!done || (expectDeltas !== undefined && deltas !== expectDeltas)) {
    throw new Error(`raw reader: ${deltas} deltas (expected ${expectDeltas}), [DONE] ${done}`);
  }
  return { deltas, firstEventMs, ownMs };
}

/** DbgptClient.chat() over the same stream: the deltas as its `for await` yields them. */
async function clientDeltas(client, question, expectDeltas) {
  const started = startTiming();
  const call = client.chat({ chatMode: "chat_normal", model: MODEL, question, stream: true });
  let deltas = 0;
  let firstEventMs;
  let ownMs;
  for await (const event of call) {
    if (event.type !== "delta") continue;
    if (deltas === 0) {
      const now = performance.now();
      firstEventMs = now - started;
      ownMs = ownTime(started, now);
    }
    deltas++;
  }
  const result = await call.result;
  if (expectDeltas !== undefined && (deltas !== expectDeltas || result.chunks !== expectDeltas + 1)) {
    throw new Error(`client: ${deltas} deltas, ${result.chunks} chunks (expected ${expectDeltas})`);
  }
  return { deltas, firstEventMs, ownMs };
}

module.exports = { MODEL, rawDeltas, clientDeltas };
