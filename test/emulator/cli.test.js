"use strict";
// emulator/cli.js's command line (node:util parseArgs): bad input exits 2 with the usage, --help exits 0,
// --name=value and repeated --api-key are accepted.
const assert = require("node:assert/strict");
const { spawn, spawnSync } = require("node:child_process");

const CLI = require.resolve("../../emulator/cli.js");

function runCli(args) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 10_000 });
}

/** Starts the CLI, calls use(url) with the URL it prints, then stops it. */
async function withCli(args, use) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  try {
    const url = await new Promise((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`cli did not print its URL: ${out}`)), 5000);
      child.stdout.on("data", (d) => {
        out += d;
        const m = /DB-GPT emulator listening on (https?:\/\/[^\s]+)\n/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.on("exit", (code) => reject(new Error(`cli exited with ${code}`)));
    });
    await use(url);
  } finally {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
}

describe("emulator cli.js arguments", function () {
  this.timeout(15000);

  for (const [args, message] of [
    [["--port", "x"], /--port needs a non-negative number, got "x"/],
    [["--delay=-1"], /--delay needs a non-negative number, got "-1"/],
    [["--bogus"], /Unknown option '--bogus'/],
    [["--port"], /--port/],
  ]) {
    it(`${args.join(" ")}: exits 2 with the usage`, function () {
      const res = runCli(args);
      assert.equal(res.status, 2, res.stderr);
      assert.match(res.stderr, message);
      assert.match(res.stderr, /^usage: node emulator\/cli\.js/m);
      assert.equal(res.stdout, "");
    });
  }

  it("--help prints the usage and exits 0", function () {
    const res = runCli(["--help"]);
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /^usage: node emulator\/cli\.js/);
  });

  it("--port=N, --delay=N and --verbose are accepted", async function () {
    await withCli(["--port=0", "--delay=5", "--verbose"], (url) => {
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    });
  });

  it("every --api-key given (spaced or with =) is accepted by the chat endpoint, others are not", async function () {
    await withCli(["--api-key", "k1", "--api-key=k2"], async (url) => {
      const chat = (key) =>
        fetch(`${url}/api/v2/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
          body: JSON.stringify({ model: "gpt-4o", messages: "x", stream: false }),
        }).then(async (res) => {
          await res.arrayBuffer();
          return res.status;
        });
      assert.equal(await chat("k1"), 200);
      assert.equal(await chat("k2"), 200);
      assert.equal(await chat("k3"), 401);
    });
  });
});
