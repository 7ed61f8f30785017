"use strict";
/**
 * The benchmarks' one way to the DB-GPT emulator: its location (EMULATOR_DIR, the only place that names
 * it), answerFor, and startEmulatorProcess(), which starts the emulator CLI in its own process (so its work
 * does not share the benchmark's event loop) and resolves to { url, pid, control(path, body), stop() }.
 * The child also exits when this process dies (--stdin-close). control() uses the emulator's HTTP control
 * API (see the emulator's README).
 *
 * Loaded in this process and preloaded (--require) into the emulator's, this module adds one question form
 * to the emulator's script, for streams whose deltas are all distinct and all exactly DELTA_BYTES bytes:
 *
 *   [bench:N]     N deltas " 0000", " 0001", ... (base 36, 4 digits: a space and 4 ASCII characters)
 *   [bench:N@K]   the same from number K on, so that concurrent chats each get their own deltas
 */
const { spawn } = require("node:child_process");
const path = require("node:path");

const EMULATOR_DIR = path.join(__dirname, "..", "emulator");
const CLI = path.join(EMULATOR_DIR, "cli.js");
const emulatorModule = require(EMULATOR_DIR);
const script = require(path.join(EMULATOR_DIR, "script.js"));

const START_TIMEOUT_MS = 10_000;
const DELTA_BYTES = 5;
const MAX_DELTA_NUMBER = 36 ** 4;
const BENCH_QUESTION = /^\[bench:(\d+)(?:@(\d+))?\]$/;

function benchToken(i) {
  return ` ${i.toString(36).padStart(4, "0")}`;
}

/** The question for `deltas` distinct DELTA_BYTES-byte deltas, numbered from `from`. */
function benchQuestion(deltas, from = 0) {
  if (from + deltas > MAX_DELTA_NUMBER) throw new Error(`[bench:] numbers stop at ${MAX_DELTA_NUMBER}`);
  return from === 0 ? `[bench:${deltas}]` : `[bench:${deltas}@${from}]`;
}

if (!script.scriptFor.benchQuestions) {
  const original = script.scriptFor;
  const scriptFor = function scriptFor(question, options = {}) {
    const result = original(question, options);
    const match = typeof question === "string" ? BENCH_QUESTION.exec(question) : null;
    if (match && result.kind === "answer" && !options.hugeEvent && options.knownModel !== false) {
      const from = Number(match[2] || 0);
      result.answer = new script.Tokens(Number(match[1]), (i) => benchToken(from + i));
    }
    return result;
  };
  scriptFor.benchQuestions = true;
  script.scriptFor = scriptFor;
}

/** POST /__emulator/<path> with a JSON body; resolves to the parsed answer, rejects on a non-2xx. */
async function control(url, what, body = {}) {
  const res = await fetch(`${url}/__emulator/${what}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`emulator ${what}: HTTP ${res.status} ${text}`);
  return text === "" ? undefined : JSON.parse(text);
}

function startEmulatorProcess(args = []) {
  const child = spawn(
    process.execPath,
    ["--require", __filename, CLI, "--stdin-close", "--delay", "0", ...args],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`emulator did not start within ${START_TIMEOUT_MS} ms: ${output}`));
    }, START_TIMEOUT_MS);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`emulator exited with code ${code}: ${output}`));
    });
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const match = /listening on (\S+)/.exec(output);
      if (match === null) return;
      clearTimeout(timer);
      child.removeAllListeners("exit");
      child.stdout.removeAllListeners("data");
      child.stdout.resume();
      const exited = new Promise((done) => child.once("exit", done));
      const url = match[1];
      resolve({
        url,
        pid: child.pid,
        control: (what, body) => control(url, what, body),
        stop() {
          child.stdin.end();
          const force = setTimeout(() => child.kill("SIGKILL"), 5000);
          return exited.then(() => clearTimeout(force));
        },
      });
    });
  });
}

module.exports = {
  EMULATOR_DIR,
  DELTA_BYTES,
  answerFor: emulatorModule.answerFor,
  benchQuestion,
  startEmulatorProcess,
};
