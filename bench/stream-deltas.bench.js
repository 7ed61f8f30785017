"use strict";
// Deltas per second of DbgptClient.chat() against a raw reader (undici request + eventsource-parser +
// JSON.parse of each event) on the same [long:N] chat_normal stream from the emulator (its own process,
// no delay, one event per write). Target: client/raw >= 0.9. Each run also reports deltas per CPU-second
// of this process, which the load of other processes on the machine barely moves.
const { Agent, request } = require("undici");
const { createParser } = require("eventsource-parser");
const { DbgptClient } = require("../nodes/lib/client/index.js");
const { median, alternate, formatRate } = require("./stats");

const DELTAS = Number(process.env.BENCH_DELTAS || 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 11);
const MODEL = "chatgpt_proxyllm";

function chatBody() {
  return {
    model: MODEL,
    messages: `[long:${DELTAS}]`,
    stream: true,
    chat_mode: "chat_normal",
    temperature: null,
  };
}

/** Times `read()` (which resolves to the number of deltas): deltas per wall-clock and per CPU second. */
async function measure(read) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deltas = await read();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { wall: deltas / seconds, cpu: deltas / ((used.user + used.system) / 1e6) };
}

/** The baseline: the least a reader must do to get each delta out of the stream. */
async function rawDeltas(dispatcher, url) {
  const { statusCode, body } = await request(`${url}/api/v2/chat/completions`, {
    dispatcher,
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify(chatBody()),
  });
  if (statusCode !== 200) throw new Error(`raw reader: HTTP ${statusCode}`);
  let deltas = 0;
  let done = false;
  const parser = createParser({
    onEvent(event) {
      if (event.data === "[DONE]") {
        done = true;
        return;
      }
      const content = JSON.parse(event.data).choices[0].delta.content;
      if (typeof content === "string" && content !== "") deltas++;
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of body) parser.feed(decoder.decode(chunk, { stream: true }));
  if (!done || deltas !== DELTAS) throw new Error(`raw reader: ${deltas} deltas, [DONE] ${done}`);
  return deltas;
}

async function clientDeltas(client) {
  const call = client.chat({
    chatMode: "chat_normal",
    model: MODEL,
    question: `[long:${DELTAS}]`,
    stream: true,
  });
  let deltas = 0;
  for await (const event of call) if (event.type === "delta") deltas++;
  const result = await call.result;
  if (deltas !== DELTAS || result.chunks !== DELTAS + 1) {
    throw new Error(`client: ${deltas} deltas, ${result.chunks} chunks`);
  }
  return deltas;
}

module.exports = {
  name: `stream deltas (${DELTAS.toLocaleString("en-US")}-delta chat_normal stream, ${ROUNDS} rounds each)`,
  async run({ emulatorUrl }) {
    const dispatcher = new Agent({ keepAliveTimeout: 4000, headersTimeout: 120_000, bodyTimeout: 120_000 });
    const client = new DbgptClient({ baseUrl: emulatorUrl });
    try {
      const samples = await alternate(
        {
          raw: () => measure(() => rawDeltas(dispatcher, emulatorUrl)),
          client: () => measure(() => clientDeltas(client)),
        },
        ROUNDS,
      );
      const raw = median(samples.raw.map((s) => s.wall));
      const ours = median(samples.client.map((s) => s.wall));
      const rawCpu = median(samples.raw.map((s) => s.cpu));
      const oursCpu = median(samples.client.map((s) => s.cpu));
      return [
        `raw reader median: ${formatRate(raw)} deltas (${formatRate(rawCpu)} per CPU-second)`,
        `client median:     ${formatRate(ours)} deltas (${formatRate(oursCpu)} per CPU-second)`,
        `client/raw ratio (CPU time) = ${(oursCpu / rawCpu).toFixed(3)}`,
        `client/raw ratio = ${(ours / raw).toFixed(3)}`,
      ];
    } finally {
      await client.close();
      await dispatcher.close();
    }
  },
};
