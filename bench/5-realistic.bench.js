"use strict";
/**
 * A realistic load: 1,000 concurrent chats, each 400 distinct 5-byte deltas 20 ms apart (the real
 * server's pace: emulator delayMs 20), all triggered at once, in a fresh Node-RED each (the memory method
 * of bench/nodered.js freshMemoryRun: warm-up chat at full speed, forced GCs, VmHWM reset); once through
 * dbgpt-chat as is, once through a dbgpt-chat whose flow sets a 100 ms stream interval (coalesceMs: 100;
 * a node that does not know the key yet ignores it and sends every delta). Every final, and the stream
 * messages folded, compared with what the emulator sent (delta count and order only without the interval).
 * Reported per answer: the messages sent to the next node (stream messages + the final) and Node-RED's
 * CPU seconds (/proc/<pid>/stat utime + stime over the run, every thread); peak RSS above idle.
 * Target: every answer correct.
 */
const { freshMemoryRun, distinctQuestions, COALESCE_MS } = require("./nodered");
const { mib, target, figure, scaled, count } = require("./stats");

const CHATS = scaled(1000, 10);
const DELTAS = scaled(400, 20);
const DELAY_MS = 20;
const VARIANTS = [
  { label: "no stream interval", target: "chat", exact: true },
  { label: `stream interval ${COALESCE_MS} ms (coalesceMs)`, target: "chat-coalesced", exact: false },
];

module.exports = {
  name:
    `Realistic load: ${count(CHATS)} chats x ${DELTAS} deltas ${DELAY_MS} ms apart, ` +
    `without and with a ${COALESCE_MS} ms stream interval (a fresh Node-RED each)`,
  async run({ emulatorUrl, emulator }) {
    const questions = distinctQuestions(CHATS, DELTAS);
    const lines = [];
    const targets = [];
    const figures = [];
    const data = [];
    for (const variant of VARIANTS) {
      let sample;
      try {
        sample = await freshMemoryRun(
          emulatorUrl,
          {
            target: variant.target,
            questions,
            convPrefix: "r",
            exact: variant.exact,
            timeoutMs: 600_000,
          },
          { beforeRun: () => emulator.control("config", { delayMs: DELAY_MS }) },
        );
      } finally {
        await emulator.control("config", { delayMs: 0 });
      }
      const { result } = sample;
      const seconds = result.durationMs / 1000;
      const messagesPerAnswer = result.messages / CHATS;
      const cpuSecondsPerAnswer = sample.cpuSeconds / CHATS;
      if (result.failureCount > 0)
        lines.push(
          `${variant.label}: ${result.failureCount} problems: ${result.failures.slice(0, 5).join("; ")}`,
        );
      lines.push(
        `${variant.label}: ${result.failureCount === 0 ? "all" : "NOT all"} answers correct, in ${seconds.toFixed(2)} s ` +
          `(${((DELTAS * DELAY_MS) / 1000).toFixed(1)} s at the server's pace); ` +
          `${messagesPerAnswer.toFixed(1)} messages per answer (${count(result.messages)} in all); ` +
          `Node-RED CPU ${cpuSecondsPerAnswer.toFixed(4)} s per answer (${sample.cpuSeconds.toFixed(2)} s in all, ` +
          `${((sample.cpuSeconds / seconds) * 100).toFixed(0)}% of a core); peak RSS ${mib(sample.peakAboveIdle)} above idle`,
      );
      targets.push(
        target(
          `realistic load, ${variant.label}: every answer correct`,
          result.failureCount === 0 ? "all" : `${result.failureCount} problems`,
          "all",
          result.failureCount === 0,
        ),
      );
      const label = `realistic load, ${variant.label}`;
      figures.push(
        figure(`${label}: messages per answer`, messagesPerAnswer, "", "lower"),
        figure(`${label}: Node-RED CPU seconds per answer`, cpuSecondsPerAnswer, "s", "lower"),
        figure(`${label}: peak RSS above idle`, sample.peakAboveIdle / 2 ** 20, "MiB", "lower"),
      );
      data.push({
        ...variant,
        messagesPerAnswer,
        cpuSecondsPerAnswer,
        peakAboveIdle: sample.peakAboveIdle,
        seconds,
      });
    }
    return { lines, targets, figures, data };
  },
};
