"use strict";
/**
 * A real Node-RED for the benchmarks: red.js from node_modules in a child process (node --expose-gc), a
 * temporary user dir with this working tree linked in as node_modules/@dbgpt-nodes/node-red-dbgpt (what
 * `npm pack` + install would give, without the minute it takes), the benchmark nodes from bench/nodes
 * (settings.nodesDir) and one fixed flow:
 *
 *   bench-driver "drv-chat"  -> dbgpt-chat "chat" (chat_normal) --stream & complete--> bench-counter "count"
 *   catch (scope: chat)                                          ------------------->  "count"
 *   bench-driver "drv-floor" -> function "floor" (the same messages, no HTTP) ------->  "count"
 *   bench-driver "drv-floor-clone" -> function "floor-clone" (the same, cloned) ---->  "count"
 *   bench-driver "drv-floor-paced" -> function "floor-paced" (the same, paced) ----->  "count"
 *
 * startBenchNodeRed({ emulatorUrl }) -> { pid, call(cmd, args, timeoutMs), stop() }; see
 * bench/nodes/bench-nodes.js for the commands.
 */
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { baseSettings, deepMerge, freePort, nodeRedHome, writeUserDir } = require("../test/runtime/harness");
const { CHAT_FIELDS } = require("../test/support/flow-format");

const ROOT = path.resolve(__dirname, "..");
const PKG = require(path.join(ROOT, "package.json"));
const BENCH_NODES = path.join(__dirname, "nodes");
const EXIT_WITH_PARENT = path.join(ROOT, "test", "runtime", "exit-with-parent.js");
const START_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 15_000;

/**
 * The floor: a function node sending what dbgpt-chat sends for a `[long:N]` question (the same messages:
 * N deltas on output 1, then the final with the whole text on output 2), with no HTTP and no parsing.
 *   "burst"  all messages in one loop with node.send(msg, false): Node-RED's bare message passing
 *   "clone"  the same with node.send(msg), which clones each message first (a function node as usually written)
 *   "paced"  1,000 messages per timer tick, so that, as with a stream, the messages are delivered while later
 *            ones are still to come (node's setImmediate queue keeps a whole batch of delivered messages
 *            alive until the batch ends: a burst of a million would still be in memory at the final message)
 */
function floorFunc(mode) {
  const send = mode === "clone" ? "node.send" : "sendUncloned";
  const loop = (from, to) => `for (; i < ${to}; i++) {
    const text = i === 0 ? "t0" : " t" + i;
    parts[i] = text;
    const dbgpt = { type: "delta", index: i, conv_uid: msg.conv_uid, chat_mode: "chat_normal", model: "chatgpt_proxyllm", id: "floor" };
    ${send}([{ ...msg, payload: text, dbgpt }, null]);
  }`;
  const finish = `const dbgpt = { type: "final", conv_uid: msg.conv_uid, chat_mode: "chat_normal", model: "chatgpt_proxyllm", id: "floor", chunks: n + 1 };
  ${send}([null, { ...msg, payload: parts.join(""), conv_uid: msg.conv_uid, dbgpt }]);`;
  const body =
    mode === "paced"
      ? `const step = () => {
  const end = Math.min(i + 1000, n);
  ${loop("i", "end")}
  if (i < n) {
    setTimeout(step, 0);
    return;
  }
  ${finish}
};
step();`
      : `${loop("i", "n")}
{
  ${finish}
}`;
  return `const sendUncloned = (msgs) => node.send(msgs, false);
const n = Number(/^\\[long:(\\d+)\\]$/.exec(msg.payload)[1]);
const parts = new Array(n);
let i = 0;
${body}
return null;`;
}

function functionNode(id, z, name, func) {
  return {
    id,
    type: "function",
    z,
    name,
    func,
    outputs: 2,
    timeout: 0,
    noerr: 0,
    initialize: "",
    finalize: "",
    libs: [],
    wires: [["count"], ["count"]],
  };
}

function benchFlows(emulatorUrl) {
  const z = "bench-tab";
  return [
    { id: z, type: "tab", label: "bench", disabled: false, info: "" },
    {
      id: "cfg",
      type: "dbgpt-config",
      name: "emulator",
      baseUrl: emulatorUrl,
      model: "chatgpt_proxyllm",
      timeout: 120,
      tls: "",
    },
    { id: "drv-chat", type: "bench-driver", z, name: "", wires: [["chat"]] },
    {
      id: "chat",
      type: "dbgpt-chat",
      z,
      name: "",
      server: "cfg",
      ...CHAT_FIELDS,
      wires: [["count"], ["count"]],
    },
    { id: "catch", type: "catch", z, name: "", scope: ["chat"], uncaught: false, wires: [["count"]] },
    { id: "drv-floor", type: "bench-driver", z, name: "", wires: [["floor"]] },
    functionNode("floor", z, "Node-RED floor", floorFunc("burst")),
    { id: "drv-floor-clone", type: "bench-driver", z, name: "", wires: [["floor-clone"]] },
    functionNode("floor-clone", z, "function node floor (cloning send)", floorFunc("clone")),
    { id: "drv-floor-paced", type: "bench-driver", z, name: "", wires: [["floor-paced"]] },
    functionNode("floor-paced", z, "Node-RED floor, 1,000 messages per tick", floorFunc("paced")),
    { id: "count", type: "bench-counter", z, name: "", wires: [] },
  ];
}

function prepareUserDir(emulatorUrl, port) {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "dbgpt-bench-nr-"));
  const scope = path.join(userDir, "node_modules", ...PKG.name.split("/").slice(0, -1));
  fs.mkdirSync(scope, { recursive: true });
  fs.symlinkSync(ROOT, path.join(userDir, "node_modules", ...PKG.name.split("/")), "dir");
  fs.writeFileSync(
    path.join(userDir, "package.json"),
    JSON.stringify({ name: "bench-node-red", version: "0.0.1", private: true }, null, 2),
  );
  const settings = deepMerge(baseSettings({ port }), {
    nodesDir: [BENCH_NODES],
    disableEditor: true,
    logging: { console: { level: "warn" } },
  });
  writeUserDir(userDir, { settings, flows: benchFlows(emulatorUrl) });
  return userDir;
}

async function startBenchNodeRed({ emulatorUrl, nodeArgs = [] }) {
  const port = await freePort();
  const userDir = prepareUserDir(emulatorUrl, port);
  const child = spawn(
    process.execPath,
    [
      "--expose-gc",
      ...nodeArgs,
      "--require",
      EXIT_WITH_PARENT,
      path.join(nodeRedHome(), "red.js"),
      "--userDir",
      userDir,
      "--settings",
      path.join(userDir, "settings.js"),
    ],
    { cwd: userDir, stdio: ["pipe", "pipe", "pipe", "ipc"] },
  );
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  let exitedAlready = false;
  exited.then(() => (exitedAlready = true));

  const pending = new Map();
  let nextId = 1;
  let onStarted;
  const started = new Promise((resolve) => (onStarted = resolve));
  child.on("message", (message) => {
    if (!message || message.bench !== true) return;
    if (message.event === "flows-started") onStarted();
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(`Node-RED: ${message.error}`));
    else waiter.resolve(message.result);
  });
  exited.then(({ code, signal }) => {
    for (const waiter of pending.values()) {
      waiter.reject(new Error(`Node-RED exited (${signal || code}):\n${output.slice(-4000)}`));
    }
    pending.clear();
  });

  async function stop() {
    if (!exitedAlready) {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(killer);
    }
    fs.rmSync(userDir, { recursive: true, force: true });
  }

  /** One command to bench/nodes/bench-nodes.js; rejects after timeoutMs. */
  function call(cmd, args = {}, timeoutMs = 60_000) {
    if (exitedAlready) return Promise.reject(new Error(`Node-RED has exited:\n${output.slice(-4000)}`));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`Node-RED did not answer ${cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      child.send({ bench: true, id, cmd, args });
    });
  }

  const exitedEarly = exited.then(({ code, signal }) => {
    throw new Error(`Node-RED exited (${signal || code}) before its flows started`);
  });
  exitedEarly.catch(() => undefined); // only the race below cares
  let timer;
  try {
    await Promise.race([
      started,
      exitedEarly,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Node-RED did not start its flows within ${START_TIMEOUT_MS} ms`)),
          START_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (err) {
    await stop();
    err.message += `\n${output.slice(-4000)}`;
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return { pid: child.pid, call, stop, logs: () => output };
}

module.exports = { startBenchNodeRed };
