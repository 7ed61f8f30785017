"use strict";
/**
 * One stream of 1,000,000 distinct 5-byte deltas, issue 13's memory method (bench/nodered.js
 * freshMemoryRun): each run in a freshly started Node-RED (--expose-gc), warmed up with one 2,000-delta
 * chat, forced GCs (heap used = the idle heap), VmHWM reset through /proc/<pid>/clear_refs; then the run;
 * peak = VmHWM after the final. Three fresh runs each, alternated, medians:
 *   node    trigger -> dbgpt-chat -> counting function node
 *   floor   trigger -> a function node sending the same 1,000,000 deltas and the final (the whole text),
 *           300 per timer tick, with node.send -> the same counting function node
 * When the final message reaches the counter, before it reads the text, forced GCs and the heap used:
 * minus the idle heap, the heap retained at the final. V8's bytecode at idle and at the final is printed
 * beside it: forced GCs neither age nor flush bytecode, the run's own mark-compacts do (--bytecode-old-age,
 * 5), so whether Node-RED's stale bytecode (about 0.9 MiB) is still there at the final depends on how many
 * mark-compacts V8 chose to run, which moves the retained heap by as much. So the retained heap without
 * that change in bytecode is printed too (not judged).
 * Targets: (node's peak RSS above idle - the floor's) / answer bytes <= 4; node's retained heap / the
 * floor's <= 1.1.
 */
const { benchQuestion, DELTA_BYTES } = require("./emulator");
const { freshMemoryRun, PACED_PER_TICK } = require("./nodered");
const { mib, formatRate, median, target, figure, scaled, repeats, count } = require("./stats");

const DELTAS = scaled(1_000_000, 1000);
const RUNS = repeats(3, 1);
const QUESTION = benchQuestion(DELTAS);
const ANSWER_BYTES = DELTAS * DELTA_BYTES; // ASCII: one byte per character, in V8 and on the wire

module.exports = {
  name:
    `One stream of ${count(DELTAS)} deltas of ${DELTA_BYTES} bytes against the floor ` +
    `(${PACED_PER_TICK} messages per tick), ${RUNS} fresh Node-RED runs each`,
  async run({ emulatorUrl }) {
    const samples = { node: [], floor: [] };
    const lines = [];
    for (let i = 0; i < RUNS; i++) {
      const order = i % 2 === 0 ? ["node", "floor"] : ["floor", "node"];
      for (const name of order) {
        const sample = await freshMemoryRun(emulatorUrl, {
          target: name === "node" ? "chat" : "floor-paced",
          questions: [QUESTION],
          convPrefix: "m",
          heapAtFinal: true,
          timeoutMs: 600_000,
        });
        if (sample.result.failureCount > 0) throw new Error(`${name}: ${sample.result.failures.join("; ")}`);
        sample.retained = sample.result.heapAtFinal.heapUsed - sample.idle.heapUsed;
        samples[name].push(sample);
        const seconds = sample.result.durationMs / 1000;
        lines.push(
          `${name.padEnd(5)} run ${i + 1}: peak RSS ${mib(sample.peakRss)} = ${mib(sample.peakAboveIdle)} above idle; ` +
            `heap retained at the final ${mib(sample.retained)} (bytecode ${mib(sample.idle.bytecode)} at idle, ` +
            `${mib(sample.result.heapAtFinal.bytecode)} at the final); ${formatRate(DELTAS / seconds)} deltas in ` +
            `${seconds.toFixed(1)} s, Node-RED CPU ${sample.cpuSeconds.toFixed(1)} s`,
        );
      }
    }
    const peak = (name) => median(samples[name].map((s) => s.peakAboveIdle));
    const retained = (name) => median(samples[name].map((s) => s.retained));
    // Not judged: the same without the change in V8's bytecode from idle to the final (see above).
    const retainedData = (name) =>
      median(samples[name].map((s) => s.retained - (s.result.heapAtFinal.bytecode - s.idle.bytecode)));
    const peakRatio = (peak("node") - peak("floor")) / ANSWER_BYTES;
    const heapRatio = retained("node") / retained("floor");
    lines.push(
      `answer: ${mib(ANSWER_BYTES)} (${count(ANSWER_BYTES)} bytes)`,
      `median peak RSS above idle: node ${mib(peak("node"))}, floor ${mib(peak("floor"))}; ` +
        `node - floor = ${mib(peak("node") - peak("floor"))} = ${peakRatio.toFixed(2)} x the answer`,
      `median heap retained at the final: node ${mib(retained("node"))}, floor ${mib(retained("floor"))} = ` +
        `${heapRatio.toFixed(2)} x the floor's`,
      `the same without bytecode (not judged): node ${mib(retainedData("node"))}, floor ` +
        `${mib(retainedData("floor"))} = ${(retainedData("node") / retainedData("floor")).toFixed(2)} x`,
    );
    return {
      lines,
      targets: [
        target(
          `${count(DELTAS)} deltas: peak RSS above idle, minus the floor's, per answer byte`,
          `${peakRatio.toFixed(2)} x`,
          "<= 4 x",
          peakRatio <= 4,
        ),
        target(
          `${count(DELTAS)} deltas: heap retained after GC over the floor`,
          `${heapRatio.toFixed(2)} x`,
          "<= 1.1 x",
          heapRatio <= 1.1,
        ),
      ],
      figures: [
        figure(
          `${count(DELTAS)} deltas: peak RSS above idle, minus the floor's, per answer byte`,
          peakRatio,
          "x",
          "lower",
        ),
        figure(`${count(DELTAS)} deltas: heap retained after GC over the floor`, heapRatio, "x", "lower"),
      ],
      data: { answerBytes: ANSWER_BYTES, samples },
    };
  },
};
