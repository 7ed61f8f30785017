"use strict";
/**
 * Real Node-RED for tests: this package packed with `npm pack` and installed into a fresh user dir
 * with `npm install <tgz>` (as a user would; scripts/nodered.js does the packing and the launching),
 * and Debian's mosquitto for the MQTT example.
 *
 *   startNodeRed({ flows, credentials, settings, env, lang, userDir })
 *                                      -> Promise<{ url, port, userDir, logs(), waitForLog(re, ms, from),
 *                                                   deploy(flows, credentials), subscribeDebug(), inject(id),
 *                                                   stop() }>
 *   startMosquitto(ctx?)               -> Promise<{ port, url, logs(), stop() }> (ctx: see requireBinary)
 *   useNodeRedWithEmulator(flowsFor)   -> { emu, nr }: mocha hooks, one Node-RED against one emulator
 *   requireBinary(path, aptLine, ctx)  -> path; when missing: skips the mocha test/suite of `ctx`
 *                                         (`this`) with "<name> not installed: <aptLine>", fails under CI=true
 *
 * Everything scripts/nodered.js exports is exported here too. Set KEEP_NODE_RED_USERDIR=1 to keep the
 * temporary user dirs for a look after the run.
 */
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");
const nodered = require("../../scripts/nodered");
const { delay } = require("../support/wait");
const { startEmulator } = require("../../emulator");

const {
  baseSettings,
  children,
  deepMerge,
  freePort,
  installedTemplate,
  launchNodeRed,
  makeTempDir,
  removeTempDir,
  tempDirs,
  writeUserDir,
} = nodered;

const MOSQUITTO_BIN = "/usr/sbin/mosquitto";
const MOSQUITTO_APT = "apt-get install -y mosquitto";

/**
 * Node-RED in a child process with the packed package installed in a fresh user dir (a temporary
 * directory unless `userDir` is given; removed by stop() when it was created here).
 * `credentials` maps node id -> credentials. `settings` is merged into the base settings (objects key
 * by key). `env` is added to the child's environment. `lang` sets Node-RED's runtime language. The
 * editor's tips are off (hideEditorTips).
 */
async function startNodeRed({ flows = [], credentials, settings, env, lang, userDir } = {}) {
  const template = await installedTemplate();
  const ownDir = !userDir;
  const dir = userDir ? path.resolve(userDir) : makeTempDir("dbgpt-nr-user-");
  fs.mkdirSync(dir, { recursive: true });
  for (const entry of ["package.json", "package-lock.json", "node_modules"]) {
    const from = path.join(template, entry);
    if (fs.existsSync(from)) {
      fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
      fs.cpSync(from, path.join(dir, entry), { recursive: true, verbatimSymlinks: true });
    }
  }
  hideEditorTips(dir);
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    writeUserDir(dir, { settings: deepMerge(baseSettings({ port, lang }), settings), flows, credentials });
    try {
      const nr = await launchNodeRed({ userDir: dir, port, lang, env });
      const stop = nr.stop;
      nr.stop = async (graceMs) => {
        await stop(graceMs);
        if (!ownDir) return;
        if (process.env.KEEP_NODE_RED_USERDIR) tempDirs.delete(dir);
        else removeTempDir(dir);
      };
      return nr;
    } catch (err) {
      lastError = err;
      // Another process took the port between freePort() and Node-RED's listen(): try another.
      if (!err.portInUse) break;
    }
  }
  if (ownDir) removeTempDir(dir);
  throw lastError;
}

/**
 * Turns the editor's "Show tips" setting off for the anonymous user (in .config.users.json, unless the
 * user dir has that file already). Node-RED 5's editor starts its tips timer (1 s) when it loads the user
 * settings, but makes the tips' box only after its keyboard map has loaded: on a slow machine the timer
 * fires first and the page throws "Cannot read properties of undefined (reading 'html')", which the
 * browser tests count as a page error.
 */
function hideEditorTips(userDir) {
  const file = path.join(userDir, ".config.users.json");
  if (fs.existsSync(file)) return;
  fs.writeFileSync(file, JSON.stringify({ _: { editor: { view: { "view-show-tips": false } } } }, null, 4));
}

// ---------------------------------------------------------------------------------------------------
// Debian binaries (mosquitto, chromium)

/**
 * Returns `binary` when it exists. Otherwise, under CI=true, throws; elsewhere skips the current
 * mocha test (or, from a hook, its suite) with "<name> not installed: <aptLine>" in the titles.
 * `ctx` is the mocha context (`this` of the test or hook); it defaults to `this` of the call.
 */
function requireBinary(binary, aptLine, ctx = this) {
  if (fs.existsSync(binary)) return binary;
  const message = `${path.basename(binary)} not installed: ${aptLine}`;
  if (process.env.CI === "true") throw new Error(message);
  // Skipping needs the mocha context: requireBinary(bin, apt, this) or requireBinary.call(this, bin, apt).
  if (!ctx || typeof ctx.skip !== "function")
    throw new Error(`${message} (no mocha context given to skip with)`);
  const runnable = ctx.test || (ctx.runnable && ctx.runnable());
  const annotate = (suite) => {
    for (const test of suite.tests) if (!test.title.includes(message)) test.title += ` (skipped: ${message})`;
    for (const child of suite.suites) annotate(child);
  };
  if (runnable && runnable.type === "hook" && runnable.parent) annotate(runnable.parent);
  else if (runnable && !runnable.title.includes(message)) runnable.title += ` (skipped: ${message})`;
  return ctx.skip();
}

/** Debian's mosquitto on a free loopback port (MQTT 3.1.1 and 5), anonymous access allowed. */
async function startMosquitto(ctx) {
  requireBinary(MOSQUITTO_BIN, MOSQUITTO_APT, ctx);
  const dir = makeTempDir("dbgpt-mosquitto-");
  const port = await freePort();
  const config = path.join(dir, "mosquitto.conf");
  fs.writeFileSync(
    config,
    [
      `listener ${port} 127.0.0.1`,
      "allow_anonymous true",
      "persistence false",
      "log_dest stderr",
      "log_type all",
      "",
    ].join("\n"),
  );
  fs.chmodSync(dir, 0o755);
  const child = spawn(MOSQUITTO_BIN, ["-c", config], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  let exited = false;
  const exitPromise = new Promise((resolve) =>
    child.once("exit", () => {
      exited = true;
      children.delete(child);
      resolve();
    }),
  );
  const stop = async () => {
    if (!exited) {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exitPromise;
      clearTimeout(killer);
    }
    removeTempDir(dir);
  };
  const deadline = Date.now() + 10000;
  for (;;) {
    const up = await new Promise((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (up) break;
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`mosquitto did not start on port ${port}:\n${output}`);
    }
    await delay(50);
  }
  return { port, url: `mqtt://127.0.0.1:${port}`, logs: () => output, stop };
}

/**
 * Mocha hooks for a suite of one Node-RED against one emulator: both started before it (`flowsFor` makes
 * the flows from the emulator's URL) and stopped after it; after each test the emulator is reset, and after
 * a failed one the end of Node-RED's output is printed. The returned object holds `emu` and `nr` once started.
 */
function useNodeRedWithEmulator(flowsFor) {
  const suite = { emu: undefined, nr: undefined };
  before(async function () {
    this.timeout(600000); // the first runtime suite in a run packs and installs the package
    suite.emu = await startEmulator({ delayMs: 0 });
    suite.nr = await startNodeRed({ flows: flowsFor(suite.emu.url) });
  });
  after(async function () {
    this.timeout(30000);
    if (suite.nr) await suite.nr.stop();
    if (suite.emu) await suite.emu.close();
  });
  afterEach(function () {
    if (this.currentTest.state === "failed" && suite.nr) {
      const logs = suite.nr.logs().slice(-6000);
      process.stdout.write(`\n--- Node-RED output (last 6000 characters) ---\n${logs}\n---\n`);
    }
    suite.emu.reset();
  });
  return suite;
}

module.exports = {
  ...nodered,
  MOSQUITTO_BIN,
  MOSQUITTO_APT,
  startNodeRed,
  startMosquitto,
  useNodeRedWithEmulator,
  requireBinary,
};
