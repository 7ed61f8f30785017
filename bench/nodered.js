"use strict";
/**
 * A real Node-RED for the benchmarks, started by scripts/nodered.js (as for the tests and `npm start`) with
 * --expose-gc, a temporary user dir with this working tree linked in as
 * node_modules/@dbgpt-nodes/node-red-dbgpt (what `npm pack` + install gives, without the minute it takes),
 * and one fixed flow made of core nodes only, as a user would build it:
 *
 *   http in POST /bench/run -> function "trigger" -+-> dbgpt-chat "chat" (coalesceMs 0) ----------+
 *                                                  +-> dbgpt-chat "chat-coalesced" (coalesceMs 100) +
 *                                                  +-> function "floor" (node.send per message) ----+-> function "counter" -> http response
 *                                                  +-> function "floor-paced" (300 per timer tick) -+
 *                                                  +-> function "floor-streams" (1 per 2 ms timer) -+
 *   catch (scope: both chat nodes) --------------------------------------------------------------+
 *   http in POST /bench/memory -> function "memory" (forced GCs, process.memoryUsage()) -> http response
 *
 * A run is one POST /bench/run with a spec (below). The trigger function stamps the start (Date.now() and
 * performance.now()), keeps the run in global context and sends one message per chat to the target; the
 * counter function (run by Node-RED in a vm context, as users' function nodes are) counts every message,
 * stamps each chat's first delta and final, folds the deltas into an FNV-1a checksum and compares every
 * final, and the folded deltas, with what the emulator sent; after the last final it answers the POST.
 * Two settings.functionGlobalContext helpers make the clock and the heap reachable from the function nodes:
 * benchNow() (performance.now()) and benchMemory(gcRounds) (global.gc() rounds, then process.memoryUsage()
 * and V8's bytecode size);
 * benchUndici(reset) reads undici's diagnostics channels for the first-delta benchmark's own-time figure.
 * Peak RSS, its reset and CPU time are read from outside, through /proc/<pid>.
 *
 * startBenchNodeRed({ emulatorUrl }) -> { pid, url, run(spec), memory(gcRounds), status(), resetPeak(),
 *                                         cpuSeconds(), stop(), logs() }
 * spec: { target: "chat" | "chat-coalesced" | "floor" | "floor-paced" | "floor-streams", questions: string[] (one per chat),
 *         convPrefix, expect: { deltas, length, hashes: per chat }, exact: check delta count, order and
 *         chunks (false for a coalescing node, whose stream messages carry several deltas), heapAtFinal:
 *         heap after forced GCs when the (last) final reaches the counter, before it reads the text,
 *         trace: report when undici created the request and received the first body bytes (for one chat),
 *         timeoutMs }
 */
const { execFileSync } = require("node:child_process");
const { Agent, fetch: undiciFetch } = require("undici");
const fs = require("node:fs");
const path = require("node:path");
const {
  ROOT,
  baseSettings,
  deepMerge,
  freePort,
  functionNode,
  launchNodeRed,
  linkPackage,
  makeTempDir,
  removeTempDir,
  writeUserDir,
} = require("../scripts/nodered");
const { answerFor, benchQuestion } = require("./emulator");
const { PACKAGE_DIR } = require("./package");
const { fnv1a } = require("./fnv");

/** The chat node's settings as example 1 ships them (a user's flow); the bench sets coalesceMs. */
const CHAT_FIELDS = (() => {
  const example = JSON.parse(
    fs.readFileSync(path.join(ROOT, "examples", "01 - HTTP chat endpoint.json"), "utf8"),
  );
  const node = { ...example.find((n) => n.type === "dbgpt-chat") };
  for (const key of ["id", "type", "z", "name", "server", "x", "y", "wires"]) delete node[key];
  return node;
})();
const STOP_GRACE_MS = 15_000;
/** The floor-paced function's messages per timer tick. */
const PACED_PER_TICK = 300;
/** The stream interval of the "chat-coalesced" node (its coalesceMs flow key). */
const COALESCE_MS = 100;
const TARGETS = ["chat", "chat-coalesced", "floor", "floor-paced", "floor-streams"];
/** The floor-streams function's pause between messages: the concurrency benchmark's server pace. */
const STREAM_FLOOR_DELAY_MS = 2;
/** The trigger's outputs: one per target, then the counter. */
const NONE = JSON.stringify(TARGETS.map(() => null));
/** For the POSTs to Node-RED: a run's answer may take longer than fetch's default 300 s header timeout. */
const dispatcher = new Agent({ headersTimeout: 0, bodyTimeout: 0 });

const TRIGGER = `// One POST /bench/run: msg.payload is the run's spec.
const spec = msg.payload;
const out = ${JSON.stringify(TARGETS)}.indexOf(spec.target);
if (out < 0) {
  msg.statusCode = 400;
  msg.payload = { error: "unknown target " + spec.target };
  node.send([...${NONE}, msg]);
  return null;
}
if (spec.trace) global.get("benchUndici")(true);
const startedAt = Date.now();
const startedHr = global.get("benchNow")();
const run = {
  id: startedHr, spec, res: msg.res, convs: {}, remaining: spec.questions.length, failures: [],
  messages: 0, done: false, startedAt, startedHr, heapAtFinal: null,
};
for (let i = 0; i < spec.questions.length; i++) {
  run.convs[spec.convPrefix + i] = {
    index: i, messages: 0, deltas: 0, hash: 0x811c9dc5 | 0, length: 0,
    firstAt: null, firstHr: null, finalAt: null, finalHr: null, ended: false,
  };
}
global.set("benchRun", run);
setTimeout(() => node.send([...${NONE}, { benchTimeout: run.id }]), spec.timeoutMs);
for (let i = 0; i < spec.questions.length; i++) {
  const msgs = [...${NONE}, null];
  msgs[out] = { payload: spec.questions[i], conv_uid: spec.convPrefix + i };
  node.send(msgs);
}
return null;`;

/**
 * The floor: what dbgpt-chat sends for a [bench:N@K] question (N deltas on output 1, then the final with
 * the whole text on output 2), with node.send (which clones each message) and no HTTP and no parsing.
 * With `perTick`, it sends that many messages per timer tick (setTimeout `delayMs`), as a stream
 * delivers them while later ones are still to come; without, all at once.
 */
function floorFunc({ perTick, delayMs = 0 } = {}) {
  const loop = (to) => `for (; i < ${to}; i++) {
  const text = " " + (from + i).toString(36).padStart(4, "0");
  parts[i] = text;
  node.send([{ ...msg, payload: text, dbgpt: { type: "delta", index: i, conv_uid: msg.conv_uid, chat_mode: "chat_normal", model: "chatgpt_proxyllm", id: "floor" } }, null]);
}`;
  const finish = `node.send([null, { ...msg, payload: parts.join(""), dbgpt: { type: "final", conv_uid: msg.conv_uid, chat_mode: "chat_normal", model: "chatgpt_proxyllm", id: "floor", chunks: n + 1 } }]);`;
  const head = `const m = /^\\[bench:(\\d+)(?:@(\\d+))?\\]$/.exec(msg.payload);
const n = Number(m[1]);
const from = Number(m[2] || 0);
const parts = new Array(n);
let i = 0;
`;
  if (perTick === undefined) return `${head}${loop("n")}\n${finish}\nreturn null;`;
  return `${head}const step = () => {
const end = Math.min(i + ${perTick}, n);
${loop("end")}
if (i < n) {
  setTimeout(step, ${delayMs});
  return;
}
${finish}
};
step();
return null;`;
}

const COUNTER = `// Every message of a run: stream messages, finals, Catch messages, the trigger's timeout.
const run = global.get("benchRun");
if (!run || run.done) return null;
if (msg.benchTimeout !== undefined) {
  if (msg.benchTimeout !== run.id) return null;
  run.failures.push("timed out after " + run.spec.timeoutMs + " ms with " + run.remaining + " answers still open");
  return finish();
}
run.messages++;
const conv = run.convs[msg.conv_uid];
if (conv === undefined || conv.ended) {
  run.failures.push("message for " + (conv ? "an ended" : "an unknown") + " conversation " + msg.conv_uid);
  return null;
}
conv.messages++;
if (msg.error) {
  run.failures.push(msg.conv_uid + ": " + msg.error.message);
  return end(conv);
}
const dbgpt = msg.dbgpt || {};
if (dbgpt.type === "delta") {
  if (conv.firstHr === null) {
    conv.firstAt = Date.now();
    conv.firstHr = global.get("benchNow")();
  }
  if (run.spec.exact && dbgpt.index !== conv.deltas) run.failures.push(msg.conv_uid + ": delta " + dbgpt.index + " out of order");
  conv.deltas++;
  const text = msg.payload;
  let h = conv.hash;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  conv.hash = h;
  conv.length += text.length;
  return null;
}
if (dbgpt.type === "final") {
  conv.finalAt = Date.now();
  conv.finalHr = global.get("benchNow")();
  // Measured before anything here reads the answer (which could flatten it).
  if (run.spec.heapAtFinal) run.heapAtFinal = global.get("benchMemory")(2);
  check(conv, msg);
  return end(conv);
}
run.failures.push(msg.conv_uid + ": unexpected message type " + dbgpt.type);
return null;

function check(conv, msg) {
  const e = run.spec.expect;
  const hash = e.hashes[conv.index];
  const problems = [];
  if (msg.dbgpt.stopped) problems.push("stopped");
  if (run.spec.exact && conv.deltas !== e.deltas) problems.push(conv.deltas + " deltas, expected " + e.deltas);
  if (run.spec.exact && e.chunks !== undefined && msg.dbgpt.chunks !== e.chunks) problems.push("chunks " + msg.dbgpt.chunks + ", expected " + e.chunks);
  if (typeof msg.payload !== "string" || msg.payload.length !== e.length) {
    problems.push("final text of length " + (msg.payload && msg.payload.length) + ", expected " + e.length);
  } else {
    let h = 0x811c9dc5 | 0;
    for (let i = 0; i < msg.payload.length; i++) h = Math.imul(h ^ msg.payload.charCodeAt(i), 0x01000193);
    if (h >>> 0 !== hash) problems.push("final text differs from what the emulator sent");
  }
  if (conv.length !== e.length || conv.hash >>> 0 !== hash) problems.push("the folded stream messages differ from what the emulator sent");
  if (problems.length > 0) run.failures.push(msg.conv_uid + ": " + problems.join("; "));
}

function end(conv) {
  conv.ended = true;
  return --run.remaining === 0 ? finish() : null;
}

function finish() {
  run.done = true;
  const now = global.get("benchNow")();
  const convs = Object.values(run.convs);
  let lastFinalHr = 0;
  let lastFinalAt = 0;
  for (const c of convs) {
    if (c.finalHr !== null && c.finalHr > lastFinalHr) lastFinalHr = c.finalHr;
    if (c.finalAt !== null && c.finalAt > lastFinalAt) lastFinalAt = c.finalAt;
  }
  const result = {
    count: convs.length,
    complete: convs.length - run.remaining,
    failures: run.failures.slice(0, 20),
    failureCount: run.failures.length,
    messages: run.messages,
    durationMs: (lastFinalHr || now) - run.startedHr,
    durationDateMs: (lastFinalAt || Date.now()) - run.startedAt,
    heapAtFinal: run.heapAtFinal,
    trace: run.spec.trace ? relative(global.get("benchUndici")(false)) : undefined,
    perConv: convs.length <= 50 ? convs.map((c) => ({
      messages: c.messages,
      firstMs: c.firstHr === null ? null : c.firstHr - run.startedHr,
      firstDateMs: c.firstAt === null ? null : c.firstAt - run.startedAt,
    })) : undefined,
  };
  return { res: run.res, statusCode: 200, payload: result };
}

function relative(times) {
  const out = {};
  for (const key of Object.keys(times)) out[key] = times[key] === null ? null : times[key] - run.startedHr;
  return out;
}`;

const MEMORY = `msg.payload = global.get("benchMemory")(Number(msg.payload && msg.payload.gc) || 0);
return msg;`;

function benchFlows(emulatorUrl) {
  const z = "bench-tab";
  const chat = (id, coalesceMs) => ({
    id,
    type: "dbgpt-chat",
    z,
    name: id,
    server: "cfg",
    ...CHAT_FIELDS,
    coalesceMs, // ignored by a dbgpt-chat that does not know the key yet
    wires: [["counter"], ["counter"]],
  });
  const nodes = [
    {
      id: "cfg",
      type: "dbgpt-config",
      name: "emulator",
      baseUrl: emulatorUrl,
      model: "chatgpt_proxyllm",
      timeout: 300,
      tls: "",
    },
    {
      id: "run-in",
      type: "http in",
      z,
      name: "",
      url: "/bench/run",
      method: "post",
      upload: false,
      swaggerDoc: "",
      wires: [["trigger"]],
    },
    functionNode("trigger", z, "trigger", TRIGGER, TARGETS.length + 1, [
      ...TARGETS.map((target) => [target]),
      ["counter"],
    ]),
    chat("chat", 0),
    chat("chat-coalesced", COALESCE_MS),
    functionNode("floor", z, "Node-RED floor", floorFunc(), 2, [["counter"], ["counter"]]),
    functionNode(
      "floor-paced",
      z,
      `Node-RED floor, ${PACED_PER_TICK} per tick`,
      floorFunc({ perTick: PACED_PER_TICK }),
      2,
      [["counter"], ["counter"]],
    ),
    functionNode(
      "floor-streams",
      z,
      `Node-RED floor, one message per ${STREAM_FLOOR_DELAY_MS} ms`,
      floorFunc({ perTick: 1, delayMs: STREAM_FLOOR_DELAY_MS }),
      2,
      [["counter"], ["counter"]],
    ),
    {
      id: "catch",
      type: "catch",
      z,
      name: "",
      scope: ["chat", "chat-coalesced"],
      uncaught: false,
      wires: [["counter"]],
    },
    functionNode("counter", z, "counter", COUNTER, 1, [["run-out"]]),
    { id: "run-out", type: "http response", z, name: "", statusCode: "", headers: {}, wires: [] },
    {
      id: "memory-in",
      type: "http in",
      z,
      name: "",
      url: "/bench/memory",
      method: "post",
      upload: false,
      swaggerDoc: "",
      wires: [["memory"]],
    },
    functionNode("memory", z, "memory", MEMORY, 1, [["memory-out"]]),
    { id: "memory-out", type: "http response", z, name: "", statusCode: "", headers: {}, wires: [] },
  ];
  // Nodes on a tab need a position (without one Node-RED takes them for config nodes).
  return [
    { id: z, type: "tab", label: "bench", disabled: false, info: "" },
    ...nodes.map((node, i) =>
      node.z ? { ...node, x: 150 + 200 * (i % 5), y: 60 + 60 * Math.floor(i / 5) } : node,
    ),
  ];
}

function prepareUserDir(emulatorUrl, port) {
  const userDir = makeTempDir("dbgpt-bench-nr-");
  linkPackage(userDir, PACKAGE_DIR);
  const settings = deepMerge(baseSettings({ port }), {
    disableEditor: true,
    functionGlobalContext: {
      // Written into settings.js as source: they run in Node-RED's main context, not the function's vm.
      benchNow: function () {
        return performance.now();
      },
      benchMemory: function (rounds) {
        for (let i = 0; i < rounds; i++) global.gc();
        const { bytecode_and_metadata_size } = require("node:v8").getHeapCodeStatistics();
        return { ...process.memoryUsage(), bytecode: bytecode_and_metadata_size };
      },
      // When undici (any copy in this process) first created a request and first received body bytes
      // since the last reset, from its diagnostics channels (subscribed on the first call only).
      benchUndici: function (reset) {
        let times = global.__benchUndici;
        if (!times) {
          const diagnostics = require("node:diagnostics_channel");
          times = global.__benchUndici = { requestCreated: null, firstBodyChunk: null };
          diagnostics.subscribe("undici:request:create", () => {
            if (times.requestCreated === null) times.requestCreated = performance.now();
          });
          diagnostics.subscribe("undici:request:bodyChunkReceived", () => {
            if (times.firstBodyChunk === null) times.firstBodyChunk = performance.now();
          });
        }
        const now = { requestCreated: times.requestCreated, firstBodyChunk: times.firstBodyChunk };
        if (reset) {
          times.requestCreated = null;
          times.firstBodyChunk = null;
        }
        return now;
      },
    },
  });
  writeUserDir(userDir, { settings, flows: benchFlows(emulatorUrl) });
  return userDir;
}

let clockTicks;
/** USER_HZ, the unit of utime and stime in /proc/<pid>/stat. */
function ticksPerSecond() {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Whether this kernel reports each thread's time on a CPU in ns (schedstat); decided once. */
let hasSchedstat;

/**
 * CPU seconds (user + system, every thread) a process has used so far: the sum of its threads' time on a
 * CPU from /proc/<pid>/task/<tid>/schedstat, in ns (/proc/<pid>/stat's utime + stime, where the kernel has
 * no schedstat, count in 10 ms ticks: a step of several per cent over the throughput benchmark's 0.3 s).
 */
function processCpuSeconds(pid) {
  hasSchedstat ??= fs.existsSync(`/proc/${pid}/task/${pid}/schedstat`);
  if (hasSchedstat) {
    let ns = 0;
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // the thread ended meanwhile (Node's threads live as long as the process)
      }
    }
    return ns / 1e9;
  }
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
}

/** VmRSS and VmHWM of a process in bytes, from /proc/<pid>/status. */
function processMemory(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)[1]) * 1024;
  return { vmRSS: field("VmRSS"), vmHWM: field("VmHWM") };
}

/** What the counter compares each chat with: the text the emulator sends for each question. */
function expectationFor(questions) {
  const texts = questions.map((q) => answerFor(q, { chatMode: "chat_normal" }));
  const deltas = Number(/^\[bench:(\d+)/.exec(questions[0])[1]);
  for (const text of texts) {
    if (text.length !== texts[0].length)
      throw new Error("the chats of one run must have answers of one length");
  }
  return { deltas, chunks: deltas + 1, length: texts[0].length, hashes: texts.map((t) => fnv1a(t)) };
}

/** Questions for `chats` chats of `deltas` deltas each, every delta of the run distinct. */
function distinctQuestions(chats, deltas) {
  return Array.from({ length: chats }, (_, i) => benchQuestion(deltas, i * deltas));
}

async function startBenchNodeRed({ emulatorUrl, nodeArgs = [] }) {
  const port = await freePort();
  const userDir = prepareUserDir(emulatorUrl, port);
  let nodeRed;
  try {
    // BENCH_NODE_ARGS: more Node flags for Node-RED (e.g. --cpu-prof) when profiling a benchmark.
    const extra = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
    nodeRed = await launchNodeRed({ userDir, port, nodeArgs: ["--expose-gc", ...nodeArgs, ...extra] });
  } catch (err) {
    removeTempDir(userDir);
    throw err;
  }
  const { url, child } = nodeRed;
  const output = () => nodeRed.logs().slice(-4000);
  const exitedAlready = () => child.exitCode !== null || child.signalCode !== null;

  async function stop() {
    await nodeRed.stop(STOP_GRACE_MS);
    removeTempDir(userDir);
  }

  async function post(route, body, timeoutMs) {
    if (exitedAlready()) throw new Error(`Node-RED has exited:\n${output()}`);
    const res = await undiciFetch(`${url}${route}`, {
      dispatcher,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`Node-RED ${route}: HTTP ${res.status} ${text}\n${output()}`);
    return JSON.parse(text);
  }

  const handle = {
    pid: child.pid,
    url,
    logs: () => nodeRed.logs(),
    stop,
    /** Forced GCs (global.gc() rounds) in Node-RED, then its process.memoryUsage(). */
    memory: (gc = 0) => post("/bench/memory", { gc }, 60_000),
    /** VmRSS and VmHWM now. */
    status: () => processMemory(child.pid),
    /** Resets VmHWM to the current RSS (/proc/<pid>/clear_refs, "5"); returns VmRSS and VmHWM after it. */
    resetPeak() {
      fs.writeFileSync(`/proc/${child.pid}/clear_refs`, "5");
      return processMemory(child.pid);
    },
    cpuSeconds: () => processCpuSeconds(child.pid),
    /** One run (see the spec above); resolves to the counter's result, whatever the failures. */
    run(spec) {
      const full = { exact: true, timeoutMs: 120_000, ...spec };
      if (full.expect === undefined) full.expect = expectationFor(full.questions);
      return post("/bench/run", full, full.timeoutMs + 30_000);
    },
    /** The same, rejecting on any failure. */
    async runChecked(spec) {
      const result = await handle.run(spec);
      if (result.failureCount > 0) {
        throw new Error(
          `${spec.target}: ${result.failureCount} problems in ${result.count} chats (${result.complete} ended): ` +
            result.failures.join("; "),
        );
      }
      return result;
    },
  };

  return handle;
}

/**
 * The memory method of issue 13: a freshly started Node-RED, warmed up with one 2,000-delta chat, forced
 * GCs, VmHWM reset; then `spec`; peak = VmHWM after the last final. `beforeRun` (optional, async) runs
 * after the warm-up, before the GCs (e.g. to slow the emulator down). Resolves to
 * { idle: { rss, heapUsed, bytecode }, peakRss, peakAboveIdle, result, cpuSeconds } whatever the run's
 * failures (result.failureCount); rejects if the warm-up fails.
 */
async function freshMemoryRun(emulatorUrl, spec, { warmupDeltas = 2000, beforeRun } = {}) {
  const nodeRed = await startBenchNodeRed({ emulatorUrl });
  try {
    await nodeRed.runChecked({
      target: "chat",
      questions: [benchQuestion(warmupDeltas)],
      convPrefix: "warm",
    });
    if (beforeRun) await beforeRun();
    const idleHeap = await nodeRed.memory(2);
    const idle = nodeRed.resetPeak();
    const cpuBefore = nodeRed.cpuSeconds();
    const result = await nodeRed.run(spec);
    const cpuSeconds = nodeRed.cpuSeconds() - cpuBefore;
    const peakRss = nodeRed.status().vmHWM;
    return {
      idle: { rss: idle.vmRSS, heapUsed: idleHeap.heapUsed, bytecode: idleHeap.bytecode },
      peakRss,
      peakAboveIdle: peakRss - idle.vmRSS,
      result,
      cpuSeconds,
    };
  } finally {
    await nodeRed.stop();
  }
}

module.exports = {
  startBenchNodeRed,
  freshMemoryRun,
  expectationFor,
  distinctQuestions,
  processCpuSeconds,
  PACED_PER_TICK,
  COALESCE_MS,
};
