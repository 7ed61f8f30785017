"use strict";
/**
 * One stream of 1,000,000 short ASCII deltas (`[long:1000000]`, "t0 t1 ... t999999") through dbgpt-chat
 * in a fresh Node-RED (node --expose-gc), against Node-RED's floor for the same 1,000,001 messages (the
 * function node of bench/nodered.js, whose final message carries the same text as one flat string).
 * Measured by the counting node when the final message arrives, before it reads the text: the heap used
 * after two forced GCs, minus the heap used after forced GCs just before the run. Target: the node's
 * retained heap at most 2 x the answer's size more than the floor's. Peak RSS (VmHWM, reset before each
 * run) is reported, not judged: on 2 busy cores it swings with V8's heap sizing.
 */
const { answerFor } = require("../emulator");
const { fnv1a } = require("./fnv");
const { startBenchNodeRed } = require("./nodered");
const { mib, formatRate, median, target } = require("./stats");

const DELTAS = Number(process.env.BENCH_MILLION_DELTAS || 1_000_000);
const ROUNDS = Number(process.env.BENCH_MILLION_ROUNDS || 2);
const QUESTION = `[long:${DELTAS}]`;

async function measure(nodeRed, driver, expect) {
  const before = await nodeRed.call("memory", { gc: 3 });
  await nodeRed.call("resetPeak");
  const result = await nodeRed.call(
    "run",
    { driver, count: 1, question: QUESTION, convPrefix: "m", expect, heapAtFinal: true, timeoutMs: 240_000 },
    250_000,
  );
  if (result.failureCount > 0) throw new Error(`${driver}: ${result.failures.join("; ")}`);
  const after = await nodeRed.call("memory");
  return {
    retained: result.heapAtFinal.heapUsed - before.heapUsed,
    peakRss: after.vmHWM,
    peakAboveIdle: after.vmHWM - before.vmRSS,
    rate: DELTAS / (result.durationMs / 1000),
    seconds: result.durationMs / 1000,
  };
}

module.exports = {
  name: `One stream of ${DELTAS.toLocaleString("en-US")} short ASCII deltas: heap retained at the final message (${ROUNDS} alternated rounds)`,
  async run({ emulatorUrl }) {
    const text = answerFor(QUESTION, { chatMode: "chat_normal" });
    const answerBytes = text.length; // ASCII: one byte per character, in V8 and on the wire
    const expect = { deltas: DELTAS, length: text.length, hash: fnv1a(text) };
    const nodeRed = await startBenchNodeRed({ emulatorUrl });
    const samples = { node: [], floor: [] };
    const lines = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? ["node", "floor"] : ["floor", "node"];
        for (const name of order) {
          const driver = name === "node" ? "drv-chat" : "drv-floor-paced";
          const sample = await measure(
            nodeRed,
            driver,
            name === "node" ? { ...expect, chunks: DELTAS + 1 } : expect,
          );
          samples[name].push(sample);
          lines.push(
            `${name.padEnd(5)} round ${round + 1}: retained ${mib(sample.retained)}, peak RSS ${mib(sample.peakRss)} ` +
              `(${mib(sample.peakAboveIdle)} above the idle process), ${formatRate(sample.rate)} deltas in ` +
              `${sample.seconds.toFixed(1)} s`,
          );
        }
      }
    } finally {
      await nodeRed.stop();
    }
    const retained = (name) => median(samples[name].map((s) => s.retained));
    const extra = retained("node") - retained("floor");
    const ratio = extra / answerBytes;
    lines.push(
      `answer: ${mib(answerBytes)} (${answerBytes.toLocaleString("en-US")} bytes)`,
      `median retained at the final message: node ${mib(retained("node"))}, floor ${mib(retained("floor"))}`,
      `node - floor = ${mib(extra)} = ${ratio.toFixed(2)} x the answer`,
      `median peak RSS: node ${mib(median(samples.node.map((s) => s.peakRss)))}, ` +
        `floor ${mib(median(samples.floor.map((s) => s.peakRss)))} (reported, not judged)`,
    );
    return {
      lines,
      targets: [
        target(
          "1M deltas: heap retained at the final message, node - floor",
          `${ratio.toFixed(2)} x the answer (${mib(extra)})`,
          "<= 2 x the answer",
          ratio <= 2,
        ),
      ],
      data: { answerBytes, samples },
    };
  },
};
