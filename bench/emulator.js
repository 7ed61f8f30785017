"use strict";
// Starts the DB-GPT emulator CLI in its own process (so its work does not share the benchmark's event
// loop) and resolves to { url, stop }. The child also exits when this process dies (--stdin-close).
const { spawn } = require("node:child_process");
const path = require("node:path");

const CLI = path.join(__dirname, "..", "test", "emulator", "cli.js");
const START_TIMEOUT_MS = 10_000;

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
      resolve({
        url: match[1],
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
