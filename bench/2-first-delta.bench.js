"use strict";
/**
 * Added time to the first delta, issue 13's method. The emulator sends the first event 50 ms after the
 * headers (firstEventDelayMs). In a real Node-RED (bench/nodered.js) the trigger function (after an
 * `http in`) stamps the start and the counting function node after dbgpt-chat stamps the first delta;
 * against the raw undici reader's request-start-to-first-event time in this process. Alternated, after 2
 * unmeasured rounds, median of 20 each. Target: node - raw <= 0.5 ms.
 *
 * The issue's trigger and counter stamp Date.now(), whose 1 ms steps are as large as the target: the
 * judged figure uses performance.now() in Node-RED (benchNow()), the Date.now() figure is printed beside
 * it. The difference of the medians also carries the jitter of the emulator's 50 ms timer (about
 * ±1 ms on a busy machine), so each path's own time is reported too (not judged), which leaves out the
 * network and the server: from the start to undici creating the request, plus from undici receiving the
 * first body bytes to the first event (the first delta at the counter), read from undici's diagnostics
 * channels in each process. DbgptClient.chat() in this process is printed for reference.
 */
const { Agent } = require("undici");
/** undefined for a package without a client (bench/naive): no client reference line then. */
const clientModule = require("./package").client();
const { benchQuestion } = require("./emulator");
const { startBenchNodeRed, expectationFor } = require("./nodered");
const { rawDeltas, clientDeltas } = require("./readers");
const { median, alternate, target, figure, repeats } = require("./stats");

const ROUNDS = repeats(20, 3);
const WARMUP_ROUNDS = repeats(2, 1);
const FIRST_EVENT_DELAY_MS = 50;
const DELTAS = 10;
/** Numbered apart from the other benchmarks' questions, so that the fault matches only these. */
const QUESTION = benchQuestion(DELTAS, 1_000_000);

const fmt = (ms) => `${ms.toFixed(2)} ms`;
const spread = (values) => `${fmt(Math.min(...values))} .. ${fmt(Math.max(...values))}`;

module.exports = {
  name: `Added time to the first delta (first event ${FIRST_EVENT_DELAY_MS} ms after the headers, median of ${ROUNDS})`,
  async run({ emulatorUrl, emulator }) {
    const expect = expectationFor([QUESTION]);
    const dispatcher = new Agent({ keepAliveTimeout: 4000 });
    const client = clientModule && new clientModule.DbgptClient({ baseUrl: emulatorUrl });
    const nodeRed = await startBenchNodeRed({ emulatorUrl });
    try {
      await emulator.control("fault", {
        match: { question: QUESTION },
        times: 0,
        firstEventDelayMs: FIRST_EVENT_DELAY_MS,
      });
      const samples = await alternate(
        {
          raw: () => rawDeltas(dispatcher, emulatorUrl, QUESTION, DELTAS),
          node: async () => {
            const result = await nodeRed.runChecked({
              target: "chat",
              questions: [QUESTION],
              convPrefix: "fd",
              expect,
              timeoutMs: 10_000,
              trace: true,
            });
            const { requestCreated, firstBodyChunk } = result.trace;
            const conv = result.perConv[0];
            const toRequestMs = requestCreated;
            const fromBytesMs = conv.firstMs - firstBodyChunk;
            return { ...conv, toRequestMs, fromBytesMs, ownMs: toRequestMs + fromBytesMs };
          },
          ...(client && {
            client: async () => (await clientDeltas(client, QUESTION, DELTAS)).firstEventMs,
          }),
        },
        ROUNDS,
        WARMUP_ROUNDS,
      );
      const rawTimes = samples.raw.map((s) => s.firstEventMs);
      const raw = median(rawTimes);
      const rawOwn = median(samples.raw.map((s) => s.ownMs));
      const nodeOwn = median(samples.node.map((s) => s.ownMs));
      const nodeTimes = samples.node.map((s) => s.firstMs);
      const nodeDateTimes = samples.node.map((s) => s.firstDateMs);
      const added = median(nodeTimes) - raw;
      const addedDate = median(nodeDateTimes) - raw;
      return {
        lines: [
          `raw reader, request start to first event:        median ${fmt(raw)} (${spread(rawTimes)})`,
          `dbgpt-chat, trigger stamp to first delta at the counter: median ${fmt(median(nodeTimes))} ` +
            `(${spread(nodeTimes)}); with Date.now() stamps ${fmt(median(nodeDateTimes))}`,
          ...(client
            ? [`client, call to first delta (reference):          median ${fmt(median(samples.client))}`]
            : []),
          `added by the node: ${fmt(added)} (Date.now() stamps: ${fmt(addedDate)})` +
            (client ? `; by the client: ${fmt(median(samples.client) - raw)}` : ""),
          `own time (network and server left out, not judged): raw ${fmt(rawOwn)}, node ${fmt(nodeOwn)}: ` +
            `the node adds ${fmt(nodeOwn - rawOwn)} (node: trigger to request created ` +
            `${fmt(median(samples.node.map((s) => s.toRequestMs)))}, first body bytes to the first delta at ` +
            `the counter ${fmt(median(samples.node.map((s) => s.fromBytesMs)))})`,
        ],
        targets: [
          target(
            "added time to the first delta (node - raw)",
            `${added >= 0 ? "+" : ""}${fmt(added)}`,
            "<= 0.5 ms",
            added <= 0.5,
          ),
        ],
        figures: [
          figure("added time to the first delta (node - raw)", added, "ms", "lower"),
          figure("own time the node adds to the first delta (not judged)", nodeOwn - rawOwn, "ms", "lower"),
        ],
        data: { samples },
      };
    } finally {
      await emulator.control("faults/clear");
      await nodeRed.stop();
      await client?.close();
      await dispatcher.close();
    }
  },
};
