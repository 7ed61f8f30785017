"use strict";
/**
 * Throughput on one 20,000-delta chat_normal stream, four contenders alternated in one run:
 *   raw     undici request + eventsource-parser + JSON.parse of each event (this process)
 *   client  DbgptClient.chat(), iterated (this process)
 *   node    dbgpt-chat in a real Node-RED: from the driver's message to the final message reaching the
 *           counting node, every delta passing through it
 *   floor   Node-RED's own floor: a function node sending the same 20,001 messages into the same counting
 *           node with node.send(msg, false) (no HTTP, no parsing, no cloning)
 * plus, for reference, "floor-clone": the same function node with node.send(msg), which clones each message.
 * Targets: client/raw >= 0.9, node/floor >= 0.9. Each rate is reported per wall-clock second and per
 * CPU-second of the process doing the work (this one, or Node-RED's), which other load moves far less.
 */
const { Agent } = require("undici");
const { DbgptClient } = require("../nodes/lib/client/index.js");
const { answerFor } = require("../emulator");
const { fnv1a } = require("./fnv");
const { startBenchNodeRed } = require("./nodered");
const { rawDeltas, clientDeltas } = require("./readers");
const { median, alternate, formatRate, target } = require("./stats");

const DELTAS = Number(process.env.BENCH_DELTAS || 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 21);
const WARMUP = 3;
const QUESTION = `[long:${DELTAS}]`;

/** Times a local read: deltas per wall-clock second and per CPU-second of this process. */
async function measureLocal(read) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const { deltas } = await read();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { wall: deltas / seconds, cpu: deltas / ((used.user + used.system) / 1e6) };
}

/** One run in Node-RED, timed there: from the driver's send to the final message at the counter. */
async function measureNodeRed(nodeRed, driver, expect) {
  const result = await nodeRed.call(
    "run",
    { driver, count: 1, question: QUESTION, convPrefix: "tp", expect, timeoutMs: 120_000 },
    130_000,
  );
  if (result.failureCount > 0) throw new Error(`${driver}: ${result.failures.join("; ")}`);
  return { wall: DELTAS / (result.durationMs / 1000), cpu: DELTAS / (result.cpuMs / 1000) };
}

module.exports = {
  name: `Throughput: one ${DELTAS.toLocaleString("en-US")}-delta chat_normal stream (${ROUNDS} alternated rounds after ${WARMUP} warm-ups)`,
  async run({ emulatorUrl }) {
    const text = answerFor(QUESTION, { chatMode: "chat_normal" });
    const expect = { deltas: DELTAS, length: text.length, hash: fnv1a(text) };
    const dispatcher = new Agent({ keepAliveTimeout: 4000, headersTimeout: 120_000, bodyTimeout: 120_000 });
    const client = new DbgptClient({ baseUrl: emulatorUrl });
    const nodeRed = await startBenchNodeRed({ emulatorUrl });
    try {
      const samples = await alternate(
        {
          raw: () => measureLocal(() => rawDeltas(dispatcher, emulatorUrl, QUESTION, DELTAS)),
          client: () => measureLocal(() => clientDeltas(client, QUESTION, DELTAS)),
          node: () => measureNodeRed(nodeRed, "drv-chat", { ...expect, chunks: DELTAS + 1 }),
          floor: () => measureNodeRed(nodeRed, "drv-floor", expect),
          "floor-clone": () => measureNodeRed(nodeRed, "drv-floor-clone", expect),
        },
        ROUNDS,
        WARMUP,
      );
      const wall = (name) => median(samples[name].map((s) => s.wall));
      const cpu = (name) => median(samples[name].map((s) => s.cpu));
      const lines = Object.keys(samples).map(
        (name) =>
          `${`${name}:`.padEnd(13)} median ${formatRate(wall(name)).padStart(10)} deltas, ` +
          `${formatRate(cpu(name)).padStart(10)} per CPU-second`,
      );
      const clientRatio = wall("client") / wall("raw");
      const nodeRatio = wall("node") / wall("floor");
      // On one thread the node pays for the floor's message passing and the raw reader's parsing: the
      // most it can reach is one over the sum of both costs per delta.
      const bound = 1 / (1 / cpu("floor") + 1 / cpu("raw"));
      lines.push(
        `client/raw  = ${clientRatio.toFixed(3)} (per CPU-second ${(cpu("client") / cpu("raw")).toFixed(3)})`,
        `node/floor  = ${nodeRatio.toFixed(3)} (per CPU-second ${(cpu("node") / cpu("floor")).toFixed(3)})`,
        `node/floor-clone = ${(wall("node") / wall("floor-clone")).toFixed(3)} ` +
          `(per CPU-second ${(cpu("node") / cpu("floor-clone")).toFixed(3)})`,
        `CPU per delta: raw ${(1e6 / cpu("raw")).toFixed(2)} µs, client ${(1e6 / cpu("client")).toFixed(2)} µs, ` +
          `node ${(1e6 / cpu("node")).toFixed(2)} µs, floor ${(1e6 / cpu("floor")).toFixed(2)} µs`,
        `node vs the one-thread bound floor+raw (${formatRate(bound)} per CPU-second): ` +
          `${(cpu("node") / bound).toFixed(3)}`,
      );
      return {
        lines,
        targets: [
          target("throughput client/raw", clientRatio.toFixed(3), ">= 0.9", clientRatio >= 0.9),
          target("throughput node/floor", nodeRatio.toFixed(3), ">= 0.9", nodeRatio >= 0.9),
        ],
        data: Object.fromEntries(
          Object.keys(samples).map((name) => [name, { wall: wall(name), cpu: cpu(name) }]),
        ),
      };
    } finally {
      await nodeRed.stop();
      await client.close();
      await dispatcher.close();
    }
  },
};
