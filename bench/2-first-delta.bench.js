"use strict";
/**
 * Added time to the first delta. The emulator sends the first event 50 ms after the headers
 * (firstEventDelayMs). Measured path: in a real Node-RED, from the moment dbgpt-chat receives the input
 * message (an onReceive hook) to the first delta reaching the next node (the counting node), both with
 * performance.now() in that process. Baseline: the raw reader's request-to-first-event in this process.
 * Both on warm keep-alive connections, after 300 unmeasured requests per path (the per-request code
 * compiled, as in a process that has been serving), alternated, median of 20 each. Target: node - raw < 1 ms.
 *
 * The difference of the two medians carries the jitter of the emulator's 50 ms timer (about ±1 ms). So each
 * path's own time is also reported, which leaves out the network and the server: the time from the call
 * (input) to undici creating the request, plus the time from undici receiving the first body bytes to the
 * first event (delta at the next node), read from undici's diagnostics channels in each process.
 */
const { Agent } = require("undici");
const { DbgptClient } = require("../nodes/lib/client/index.js");
const { answerFor } = require("../emulator");
const { fnv1a } = require("./fnv");
const { startBenchNodeRed } = require("./nodered");
const { rawDeltas, clientDeltas } = require("./readers");
const { median, alternate, target } = require("./stats");

const ROUNDS = Number(process.env.BENCH_LATENCY_ROUNDS || 20);
/** Requests each path makes before the fault is set, so that per-request code is compiled. */
const WARMUP_REQUESTS = Number(process.env.BENCH_LATENCY_WARMUP || 300);
const FIRST_EVENT_DELAY_MS = 50;
const DELTAS = 10;
const QUESTION = `[long:${DELTAS}]`;

const fmt = (ms) => `${ms.toFixed(2)} ms`;
const spread = (values) => `${fmt(Math.min(...values))} .. ${fmt(Math.max(...values))}`;

module.exports = {
  name: `Added time to the first delta (first event ${FIRST_EVENT_DELAY_MS} ms after the headers, median of ${ROUNDS})`,
  async run({ emulatorUrl, emulator }) {
    const text = answerFor(QUESTION, { chatMode: "chat_normal" });
    const expect = { deltas: DELTAS, length: text.length, hash: fnv1a(text), chunks: DELTAS + 1 };
    const dispatcher = new Agent({ keepAliveTimeout: 4000 });
    const client = new DbgptClient({ baseUrl: emulatorUrl });
    const nodeRed = await startBenchNodeRed({ emulatorUrl });
    const runNode = async (extra = {}) => {
      const result = await nodeRed.call(
        "run",
        {
          driver: "drv-chat",
          count: 1,
          question: QUESTION,
          convPrefix: "fd",
          expect,
          timeoutMs: 10_000,
          ...extra,
        },
        15_000,
      );
      if (result.failureCount > 0) throw new Error(`node: ${result.failures.join("; ")}`);
      return result;
    };
    try {
      for (let i = 0; i < WARMUP_REQUESTS; i++) {
        await rawDeltas(dispatcher, emulatorUrl, QUESTION, DELTAS);
        await clientDeltas(client, QUESTION, DELTAS);
        await runNode();
      }
      await emulator.control("fault", {
        match: { question: QUESTION },
        times: 0,
        firstEventDelayMs: FIRST_EVENT_DELAY_MS,
      });
      const samples = await alternate(
        {
          raw: () => rawDeltas(dispatcher, emulatorUrl, QUESTION, DELTAS),
          client: () => clientDeltas(client, QUESTION, DELTAS),
          node: async () => {
            const result = await runNode({ watch: "chat", trace: true });
            const conv = result.perConv[0];
            const { requestCreated, firstBodyChunk } = result.trace;
            return {
              firstEventMs: conv.firstFromInputMs,
              ownMs: requestCreated - conv.inputMs + (conv.firstMs - firstBodyChunk),
            };
          },
        },
        ROUNDS,
        2,
      );
      const first = (name) => samples[name].map((s) => s.firstEventMs);
      const own = (name) => samples[name].map((s) => s.ownMs);
      const added = median(first("node")) - median(first("raw"));
      const addedOwn = median(own("node")) - median(own("raw"));
      return {
        lines: [
          `raw reader, request to first event:            median ${fmt(median(first("raw")))} (${spread(first("raw"))})`,
          `client, call to first delta:                   median ${fmt(median(first("client")))} (${spread(first("client"))})`,
          `dbgpt-chat, input to first delta at next node: median ${fmt(median(first("node")))} (${spread(first("node"))})`,
          `added by the client: ${fmt(median(first("client")) - median(first("raw")))}; ` +
            `added by the node: ${fmt(added)}`,
          `own time (network and server left out): raw ${fmt(median(own("raw")))}, ` +
            `client ${fmt(median(own("client")))}, node ${fmt(median(own("node")))}: the node adds ${fmt(addedOwn)}`,
        ],
        targets: [
          target("added time to the first delta (node - raw)", fmt(added), "< 1 ms", added < 1),
          target("  the same, own time only (no network, no server)", fmt(addedOwn), "< 1 ms", addedOwn < 1),
        ],
        data: { samples },
      };
    } finally {
      await emulator.control("faults/clear");
      await nodeRed.stop();
      await client.close();
      await dispatcher.close();
    }
  },
};
