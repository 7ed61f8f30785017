"use strict";
/**
 * 500 concurrent streams of 200 deltas each through one dbgpt-chat in a fresh Node-RED process (node
 * --expose-gc), three fresh processes. In each: forced GCs, the idle process's RSS, VmHWM reset; the 500
 * questions sent at once (emulator: no delay, one event per write); every answer checked by the counting
 * node (200 deltas in order, folded text = final text = the expected answer); then the peak RSS (VmHWM)
 * above the idle RSS. Then the heap after forced GCs once every stream has ended and the idle keep-alive
 * sockets have closed, and again after a second identical batch: what one batch leaves behind.
 * Targets: every answer complete and correct; peak RSS < 100 MiB above the idle process (median of the 3
 * processes); no heap retained once the streams have ended (the second batch adds < 1 MiB).
 *
 * Then, in the last process, streams at the real server's pace (the emulator's 20 ms between events): how
 * busy 200 and 500 concurrent answers keep Node-RED (event-loop utilisation, CPU per delta, event-loop lag),
 * for the README's "how many streams one instance carries".
 */
const fs = require("node:fs");
const { answerFor } = require("../emulator");
const { fnv1a } = require("./fnv");
const { startBenchNodeRed } = require("./nodered");
const { median, mib, formatRate, target } = require("./stats");
const { delay } = require("../test/support/wait");

const STREAMS = Number(process.env.BENCH_STREAMS || 500);
const DELTAS = Number(process.env.BENCH_STREAM_DELTAS || 200);
const PROCESSES = Number(process.env.BENCH_PROCESSES || 3);
/** Longer than the client's 4 s keep-alive, so that idle sockets (and their buffers) are gone. */
const IDLE_SOCKETS_CLOSE_MS = 5000;
const RETAINED_LIMIT = 1024 * 1024;
const PEAK_LIMIT = 100 * 1024 * 1024;
const PACED = [
  { streams: 200, deltas: 100, delayMs: 20 },
  { streams: 500, deltas: 100, delayMs: 20 },
];
const CLOCK_TICKS = 100; // USER_HZ on Linux

function expectation(deltas) {
  const text = answerFor(`[long:${deltas}]`, { chatMode: "chat_normal" });
  return { deltas, length: text.length, hash: fnv1a(text), chunks: deltas + 1 };
}

async function batch(nodeRed, { streams, deltas, prefix }) {
  const result = await nodeRed.call(
    "run",
    {
      driver: "drv-chat",
      count: streams,
      question: `[long:${deltas}]`,
      convPrefix: prefix,
      expect: expectation(deltas),
      timeoutMs: 240_000,
    },
    250_000,
  );
  if (result.failureCount > 0) {
    throw new Error(
      `${result.failureCount} problems in ${result.count - result.complete} of ${streams} answers: ` +
        result.failures.join("; "),
    );
  }
  return result;
}

/** Heap used after forced GCs once the keep-alive sockets of the last batch have closed. */
async function settledHeap(nodeRed) {
  await delay(IDLE_SOCKETS_CLOSE_MS);
  return (await nodeRed.call("memory", { gc: 3 })).heapUsed;
}

async function freshProcess(emulatorUrl, index) {
  const nodeRed = await startBenchNodeRed({ emulatorUrl });
  try {
    const idle = await nodeRed.call("memory", { gc: 3 });
    await nodeRed.call("resetPeak");
    const first = await batch(nodeRed, { streams: STREAMS, deltas: DELTAS, prefix: `p${index}a` });
    const peak = (await nodeRed.call("memory")).vmHWM;
    const afterFirst = await settledHeap(nodeRed);
    const second = await batch(nodeRed, { streams: STREAMS, deltas: DELTAS, prefix: `p${index}b` });
    const afterSecond = await settledHeap(nodeRed);
    return {
      nodeRed,
      sample: {
        idleRss: idle.vmRSS,
        idleHeap: idle.heapUsed,
        peakRss: peak,
        peakAboveIdle: peak - idle.vmRSS,
        heapAfterFirst: afterFirst - idle.heapUsed,
        retainedBySecond: afterSecond - afterFirst,
        seconds: first.durationMs / 1000,
        rate: (STREAMS * DELTAS) / (first.durationMs / 1000),
        cpuRate: (STREAMS * DELTAS) / (first.cpuMs / 1000),
        secondRate: (STREAMS * DELTAS) / (second.durationMs / 1000),
      },
    };
  } catch (err) {
    await nodeRed.stop();
    throw err;
  }
}

/** CPU time (user + system) a process has used so far, from /proc (10 ms ticks). */
function processCpuMs(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * (1000 / CLOCK_TICKS);
}

/** Streams at the server's pace: how busy they keep the runtime. */
async function paced(nodeRed, emulator, { streams, deltas, delayMs }) {
  await emulator.control("config", { delayMs });
  try {
    const before = await nodeRed.call("memory", { gc: 3 });
    await nodeRed.call("resetPeak");
    const emulatorCpu = processCpuMs(emulator.pid);
    const result = await batch(nodeRed, { streams, deltas, prefix: `paced${streams}-` });
    const emulatorShare = (processCpuMs(emulator.pid) - emulatorCpu) / result.durationMs;
    const peakAbove = (await nodeRed.call("memory")).vmHWM - before.vmRSS;
    const ideal = (deltas * delayMs) / 1000;
    const lag = result.eventLoopLagMs;
    return {
      streams,
      utilization: result.eventLoopUtilization,
      cpuShare: result.cpuMs / result.durationMs,
      cpuPerDeltaUs: (result.cpuMs * 1000) / (streams * deltas),
      seconds: result.durationMs / 1000,
      peakAbove,
      line:
        `${streams} streams x ${deltas} deltas ${delayMs} ms apart (${formatRate((streams * 1000) / delayMs)} deltas ` +
        `asked): done in ${(result.durationMs / 1000).toFixed(2)} s (${ideal.toFixed(1)} s at the server's pace); ` +
        `Node-RED: event loop ${(result.eventLoopUtilization * 100).toFixed(0)}% busy, CPU ` +
        `${((result.cpuMs / result.durationMs) * 100).toFixed(0)}% of a core = ` +
        `${((result.cpuMs * 1000) / (streams * deltas)).toFixed(0)} µs per delta, event-loop lag p50 ${lag.p50} ms, ` +
        `p99 ${lag.p99} ms, max ${lag.max} ms, peak RSS ${mib(peakAbove)} above the RSS before; emulator ` +
        `${(emulatorShare * 100).toFixed(0)}% of a core`,
    };
  } finally {
    await emulator.control("config", { delayMs: 0 });
  }
}

module.exports = {
  name: `${STREAMS} concurrent streams of ${DELTAS} deltas in one fresh Node-RED (${PROCESSES} fresh processes)`,
  async run({ emulatorUrl, emulator }) {
    const samples = [];
    const lines = [];
    let last;
    for (let i = 0; i < PROCESSES; i++) {
      const { nodeRed, sample } = await freshProcess(emulatorUrl, i);
      samples.push(sample);
      lines.push(
        `process ${i + 1}: all ${STREAMS} answers complete and correct in ${sample.seconds.toFixed(2)} s ` +
          `(${formatRate(sample.rate)} deltas, ${formatRate(sample.cpuRate)} per CPU-second); idle RSS ` +
          `${mib(sample.idleRss)}, peak ${mib(sample.peakRss)} = ${mib(sample.peakAboveIdle)} above idle; ` +
          `heap after the batch ${mib(sample.heapAfterFirst)} above idle, second batch left ` +
          `${mib(sample.retainedBySecond)} (${formatRate(sample.secondRate)} deltas)`,
      );
      if (i < PROCESSES - 1) await nodeRed.stop();
      else last = nodeRed;
    }
    const pacedRuns = [];
    try {
      for (const pace of PACED) {
        const run = await paced(last, emulator, pace);
        pacedRuns.push(run);
        lines.push(`paced: ${run.line}`);
      }
    } finally {
      await last.stop();
    }
    const peak = median(samples.map((s) => s.peakAboveIdle));
    const retained = median(samples.map((s) => s.retainedBySecond));
    lines.push(
      `median: ${formatRate(median(samples.map((s) => s.rate)))} deltas with ${STREAMS} streams; peak RSS ` +
        `${mib(peak)} above idle (${(peak / STREAMS / 1024).toFixed(0)} KiB per stream); second batch left ${mib(retained)}`,
    );
    return {
      lines,
      targets: [
        target(`${STREAMS} streams: every answer complete and correct`, "yes", "yes", true),
        target(`${STREAMS} streams: peak RSS above idle (median)`, mib(peak), "< 100 MiB", peak < PEAK_LIMIT),
        target(
          `${STREAMS} streams: heap left by a second batch (median)`,
          mib(retained),
          "< 1 MiB",
          retained < RETAINED_LIMIT,
        ),
      ],
      data: { samples, paced: pacedRuns },
    };
  },
};
