"use strict";
// Starts the DB-GPT emulator CLI in its own process (so its work does not share the benchmark's event
// loop) and resolves to { url, control(path, body), stop() }. The child also exits when this process dies
// (--stdin-close). control() uses the emulator's HTTP control API (emulator/README.md).
const { spawn } = require("node:child_process");
const path = require("node:path");

const CLI = path.join(__dirname, "..", "emulator", "cli.js");
const START_TIMEOUT_MS = 10_000;

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
  const child = spawn(process.execPath, [CLI, "--stdin-close", "--delay", "0", ...args], {
    stdio: ["pipe", "pipe", "inherit"],
  });
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

module.exports = { startEmulatorProcess };
