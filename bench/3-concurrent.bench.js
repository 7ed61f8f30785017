"use strict";
/**
 * Concurrent chats, issue 13's memory method (bench/nodered.js freshMemoryRun): each run in a freshly
 * started Node-RED (--expose-gc), warmed up with one 2,000-delta chat, forced GCs, VmHWM reset through
 * /proc/<pid>/clear_refs; then all chats triggered at once (one POST to the `http in` trigger, which sends
 * one message per chat to dbgpt-chat); peak = VmHWM after the last final, minus the RSS at the reset.
 * Every chat has its own 200 distinct 5-byte deltas, sent 2 ms apart (emulator delayMs 2, set after the
 * warm-up, whose chat runs at full speed); the counting
 * function node compares every final, and the deltas folded, with what the emulator sent.
 *
 *   500 chats:   three fresh runs, medians. Targets: every answer correct; peak RSS above idle <= 36 MiB.
 *                Reported beside it (not judged): Node-RED's own peak for the same messages at the same
 *                pace from function nodes (target "floor-streams"), three fresh runs.
 *   2,000 chats: one fresh run (BENCH_2000_RUNS for more). Target: every answer correct; the peak RSS per
 *                in-flight chat is reported.
 */
const { freshMemoryRun, distinctQuestions } = require("./nodered");
const { median, mib, formatRate, target, figure, scaled, repeats, count } = require("./stats");

const DELTAS = scaled(200, 10);
const DELAY_MS = 2;
const SIZES = [
  { chats: scaled(500, 5), runs: repeats(3, 1), peakLimit: 36 * 1024 * 1024, floor: true },
  { chats: scaled(2000, 20), runs: Number(process.env.BENCH_2000_RUNS || 1) },
];

/**
 * Node-RED's own peak for the same messages at the same pace (not judged): function nodes, one per chat,
 * each sending its chat's deltas one per 2 ms timer and then its final, into the same counter; no HTTP.
 */
async function floorPeaks(emulatorUrl, questions, runs) {
  const peaks = [];
  for (let i = 0; i < runs; i++) {
    const spec = { target: "floor-streams", questions, convPrefix: "f-", timeoutMs: 600_000 };
    const sample = await freshMemoryRun(emulatorUrl, spec);
    if (sample.result.failureCount > 0) throw new Error(`floor: ${sample.result.failures.join("; ")}`);
    peaks.push(sample.peakAboveIdle);
  }
  return peaks;
}

async function runSize(emulatorUrl, emulator, { chats, runs, peakLimit, floor }) {
  const questions = distinctQuestions(chats, DELTAS);
  const samples = [];
  const lines = [];
  for (let i = 0; i < runs; i++) {
    const sample = await freshMemoryRun(
      emulatorUrl,
      {
        target: "chat",
        questions,
        convPrefix: `c${chats}-`,
        timeoutMs: 600_000,
      },
      { beforeRun: () => emulator.control("config", { delayMs: DELAY_MS }) },
    );
    await emulator.control("config", { delayMs: 0 });
    samples.push(sample);
    const seconds = sample.result.durationMs / 1000;
    const { failureCount, failures } = sample.result;
    if (failureCount > 0)
      lines.push(`run ${i + 1}: ${failureCount} problems: ${failures.slice(0, 5).join("; ")}`);
    lines.push(
      `run ${i + 1}: ${failureCount === 0 ? "all" : "NOT all"} ${count(chats)} answers correct in ${seconds.toFixed(2)} s ` +
        `(${formatRate((chats * DELTAS) / seconds)} deltas); idle RSS ${mib(sample.idle.rss)}, ` +
        `peak ${mib(sample.peakRss)} = ${mib(sample.peakAboveIdle)} above idle ` +
        `(${(sample.peakAboveIdle / chats / 1024).toFixed(1)} KiB per in-flight chat); ` +
        `Node-RED CPU ${sample.cpuSeconds.toFixed(2)} s`,
    );
  }
  const peak = median(samples.map((s) => s.peakAboveIdle));
  lines.push(
    `median of ${runs}: peak RSS ${mib(peak)} above idle = ${(peak / chats / 1024).toFixed(1)} KiB per in-flight chat`,
  );
  if (floor) {
    const peaks = await floorPeaks(emulatorUrl, questions, runs);
    lines.push(
      `Node-RED floor (not judged): ${count(chats)} function nodes sending the same messages one per ` +
        `${DELAY_MS} ms, no HTTP: peak ${peaks.map((p) => mib(p)).join(", ")} above idle, median ${mib(median(peaks))}`,
    );
  }
  const name = `${count(chats)} concurrent chats`;
  const judgedPeak = `${name}: peak RSS above the idle process`;
  const problems = samples.reduce((sum, s) => sum + s.result.failureCount, 0);
  const targets = [
    target(
      `${name}: every answer correct (${runs} runs)`,
      problems === 0 ? "all" : `${problems} problems`,
      "all",
      problems === 0,
    ),
  ];
  if (peakLimit !== undefined) {
    targets.push(target(judgedPeak, `+${mib(peak)}`, `<= ${mib(peakLimit)}`, peak <= peakLimit));
  }
  // The memory figure as it is judged (500 chats) or reported (2,000: per chat in flight), once.
  const figures = [
    peakLimit !== undefined
      ? figure(judgedPeak, peak / 2 ** 20, "MiB", "lower")
      : figure(`${name}: peak RSS above idle per chat in flight`, peak / chats / 1024, "KiB", "lower"),
    figure(`${name}: Node-RED CPU seconds`, median(samples.map((s) => s.cpuSeconds)), "s", "lower"),
  ];
  return { lines, targets, figures, data: { chats, peak, perChat: peak / chats, samples } };
}

module.exports = {
  name:
    `Concurrent chats of ${DELTAS} distinct deltas ${DELAY_MS} ms apart, each run in a fresh Node-RED ` +
    `(${SIZES.map((s) => `${count(s.chats)} chats x ${s.runs}`).join(", ")})`,
  async run({ emulatorUrl, emulator }) {
    try {
      const lines = [];
      const targets = [];
      const figures = [];
      const data = [];
      for (const size of SIZES) {
        lines.push(`${count(size.chats)} chats:`);
        const result = await runSize(emulatorUrl, emulator, size);
        lines.push(...result.lines.map((l) => `  ${l}`));
        targets.push(...result.targets);
        figures.push(...result.figures);
        data.push(result.data);
      }
      return { lines, targets, figures, data };
    } finally {
      await emulator.control("config", { delayMs: 0 });
    }
  },
};
