"use strict";
/**
 * The benchmarks' instruments inside Node-RED (loaded through settings.nodesDir by bench/nodered.js; never
 * shipped). The benchmark process drives them over the child's IPC channel:
 *
 *   bench-driver   no input, one output: sends the messages of a run into the flow
 *   bench-counter  one input: the "next node" every measured path ends in. It counts and checks each
 *                  answer (index order, FNV-1a checksum and length of the folded deltas, final text) and
 *                  timestamps the first delta and the final message
 *
 * Commands ({ bench: true, id, cmd, args } -> { bench: true, id, result | error }):
 *   memory { gc }    forced GCs (rounds), then process.memoryUsage() plus VmRSS/VmHWM in bytes
 *   resetPeak        resets VmHWM to the current RSS (/proc/self/clear_refs "5")
 *   run { ... }      see startRun(); resolves once every answer of the run has ended (or failed), with
 *                    timings, the CPU time and event-loop utilisation and delay of the run, and the checks
 */
const diagnostics = require("node:diagnostics_channel");
const fs = require("node:fs");
const { monitorEventLoopDelay } = require("node:perf_hooks");
const { FNV_OFFSET, fnv1a } = require("../fnv");

const LOOP_DELAY_RESOLUTION_MS = 10;
const RECEIVE_HOOK = "onReceive.bench";
/** undici's diagnostics channels timed by a run with `trace` (first occurrence of each). */
const TRACED = {
  requestCreated: "undici:request:create",
  headersReceived: "undici:request:headers",
  firstBodyChunk: "undici:request:bodyChunkReceived",
};

const state = { RED: undefined, drivers: new Map(), run: undefined, listening: false };

function procStatusBytes(field) {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(fs.readFileSync("/proc/self/status", "utf8"));
  return match ? Number(match[1]) * 1024 : undefined;
}

function memory({ gc = 0 } = {}) {
  for (let i = 0; i < gc; i++) global.gc();
  return { ...process.memoryUsage(), vmRSS: procStatusBytes("VmRSS"), vmHWM: procStatusBytes("VmHWM") };
}

function resetPeak() {
  fs.writeFileSync("/proc/self/clear_refs", "5");
  return memory();
}

/**
 * spec: { driver, count, question, convPrefix, expect: { deltas, length, hash, chunks? }, timeoutMs,
 *         watch?        id of the node whose input time is taken (an onReceive hook, only during this run),
 *         trace?        time undici's request creation, headers and first body bytes (diagnostics channels),
 *         heapAtFinal?  measure the heap (after forced GCs) when the final message arrives }
 * Sends `count` messages { payload: question, conv_uid: convPrefix + i } from the driver at once.
 */
function startRun(spec) {
  if (state.run) throw new Error("a run is already in progress");
  const driver = state.drivers.get(spec.driver);
  if (!driver) throw new Error(`no bench-driver ${spec.driver}`);
  return new Promise((resolve) => {
    const convs = new Map();
    for (let i = 0; i < spec.count; i++) {
      convs.set(`${spec.convPrefix}${i}`, {
        deltas: 0,
        hash: FNV_OFFSET,
        length: 0,
        inputAt: undefined,
        firstAt: undefined,
        finalAt: undefined,
        ended: false,
      });
    }
    const run = {
      spec,
      convs,
      remaining: spec.count,
      failures: [],
      heapAtFinal: undefined,
      messages: 0,
      firedAt: 0,
      cpu: undefined,
      timer: undefined,
      resolve,
    };
    state.run = run;
    if (spec.watch) {
      state.RED.hooks.add(RECEIVE_HOOK, (event) => {
        if (event.destination.id !== spec.watch) return;
        const conv = convs.get(event.msg.conv_uid);
        if (conv && conv.inputAt === undefined) conv.inputAt = performance.now();
      });
    }
    if (spec.trace) {
      run.trace = {};
      run.untrace = [];
      for (const [name, channel] of Object.entries(TRACED)) {
        const listener = () => {
          if (run.trace[name] === undefined) run.trace[name] = performance.now();
        };
        diagnostics.subscribe(channel, listener);
        run.untrace.push(() => diagnostics.unsubscribe(channel, listener));
      }
    }
    run.timer = setTimeout(() => {
      run.failures.push(`timed out after ${spec.timeoutMs} ms with ${run.remaining} answers still open`);
      endRun(run);
    }, spec.timeoutMs);
    run.peaks = {};
    const sample = () => {
      const now = process.memoryUsage();
      for (const key of ["rss", "heapUsed", "heapTotal", "external", "arrayBuffers"]) {
        run.peaks[key] = Math.max(run.peaks[key] || 0, now[key]);
      }
    };
    run.sampler = setInterval(sample, 20);
    run.loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
    run.loopDelay.enable();
    run.elu = performance.eventLoopUtilization();
    run.cpu = process.cpuUsage();
    run.firedAt = performance.now();
    for (let i = 0; i < spec.count; i++) {
      driver.send({ payload: spec.question, conv_uid: `${spec.convPrefix}${i}` });
    }
  });
}

function endRun(run) {
  if (state.run !== run) return;
  state.run = undefined;
  clearTimeout(run.timer);
  if (run.spec.watch) state.RED.hooks.remove(RECEIVE_HOOK);
  for (const untrace of run.untrace || []) untrace();
  clearInterval(run.sampler);
  const cpu = process.cpuUsage(run.cpu);
  const elu = performance.eventLoopUtilization(run.elu);
  run.loopDelay.disable();
  // The histogram holds the time between ticks of a 10 ms timer: the lag is what exceeds 10 ms.
  const delayMs = (value) => Math.max(0, Math.round((value - LOOP_DELAY_RESOLUTION_MS * 1e6) / 1e4) / 100);
  let firstDeltaAt = Infinity;
  let lastFinalAt = 0;
  const perConv = [];
  for (const conv of run.convs.values()) {
    if (conv.firstAt !== undefined) firstDeltaAt = Math.min(firstDeltaAt, conv.firstAt);
    if (conv.finalAt !== undefined) lastFinalAt = Math.max(lastFinalAt, conv.finalAt);
    perConv.push({
      inputMs: conv.inputAt === undefined ? null : conv.inputAt - run.firedAt,
      firstMs: conv.firstAt === undefined ? null : conv.firstAt - run.firedAt,
      firstFromInputMs:
        conv.firstAt === undefined || conv.inputAt === undefined ? null : conv.firstAt - conv.inputAt,
    });
  }
  run.resolve({
    count: run.spec.count,
    complete: run.spec.count - run.remaining,
    failures: run.failures.slice(0, 20),
    failureCount: run.failures.length,
    messages: run.messages,
    firstDeltaMs: Number.isFinite(firstDeltaAt) ? firstDeltaAt - run.firedAt : null,
    durationMs: (lastFinalAt || performance.now()) - run.firedAt,
    cpuMs: (cpu.user + cpu.system) / 1000,
    eventLoopUtilization: elu.utilization,
    eventLoopLagMs: {
      p50: delayMs(run.loopDelay.percentile(50)),
      p99: delayMs(run.loopDelay.percentile(99)),
      max: delayMs(run.loopDelay.max),
    },
    heapAtFinal: run.heapAtFinal,
    peaks: run.peaks,
    perConv: run.spec.count <= 50 ? perConv : undefined,
    trace: run.trace && Object.fromEntries(Object.entries(run.trace).map(([k, at]) => [k, at - run.firedAt])),
  });
}

function endConv(run, conv) {
  if (conv.ended) return;
  conv.ended = true;
  if (--run.remaining === 0) setImmediate(() => endRun(run));
}

/** Every message that reaches the counter: stream deltas, final messages, and Catch messages. */
function count(msg) {
  const run = state.run;
  if (!run) return;
  const now = performance.now();
  run.messages++;
  const conv = run.convs.get(msg.conv_uid);
  if (!conv || conv.ended) {
    run.failures.push(`message for ${conv ? "an ended" : "an unknown"} conversation ${msg.conv_uid}`);
    return;
  }
  if (msg.error) {
    run.failures.push(`${msg.conv_uid}: ${msg.error.message}`);
    endConv(run, conv);
    return;
  }
  const dbgpt = msg.dbgpt || {};
  if (dbgpt.type === "delta") {
    if (conv.firstAt === undefined) conv.firstAt = now;
    if (dbgpt.index !== conv.deltas) run.failures.push(`${msg.conv_uid}: delta ${dbgpt.index} out of order`);
    conv.deltas++;
    conv.hash = fnv1a(msg.payload, conv.hash);
    conv.length += msg.payload.length;
  } else if (dbgpt.type === "final") {
    conv.finalAt = now;
    // Measured before anything here reads the answer (which could flatten it).
    if (run.spec.heapAtFinal) run.heapAtFinal = memory({ gc: 2 });
    checkFinal(run, conv, msg);
    endConv(run, conv);
  } else {
    run.failures.push(`${msg.conv_uid}: unexpected message type ${dbgpt.type}`);
  }
}

function checkFinal(run, conv, msg) {
  const { expect } = run.spec;
  const problems = [];
  if (msg.dbgpt.stopped) problems.push("stopped");
  if (conv.deltas !== expect.deltas) problems.push(`${conv.deltas} deltas, expected ${expect.deltas}`);
  if (typeof msg.payload !== "string" || msg.payload.length !== expect.length) {
    problems.push(`final text of length ${msg.payload && msg.payload.length}, expected ${expect.length}`);
  } else if (fnv1a(msg.payload) !== expect.hash) {
    problems.push("final text differs from the expected answer");
  }
  if (conv.length !== expect.length || conv.hash !== expect.hash) {
    problems.push("the folded deltas differ from the expected answer");
  }
  if (expect.chunks !== undefined && msg.dbgpt.chunks !== expect.chunks) {
    problems.push(`chunks ${msg.dbgpt.chunks}, expected ${expect.chunks}`);
  }
  if (problems.length > 0) run.failures.push(`${msg.conv_uid}: ${problems.join("; ")}`);
}

const COMMANDS = { memory, resetPeak, run: startRun };

function listen() {
  if (state.listening || typeof process.send !== "function") return;
  state.listening = true;
  process.on("message", (message) => {
    if (!message || message.bench !== true) return;
    const reply = (body) => process.send({ bench: true, id: message.id, ...body });
    Promise.resolve()
      .then(() => {
        const command = COMMANDS[message.cmd];
        if (!command) throw new Error(`unknown command ${message.cmd}`);
        return command(message.args || {});
      })
      .then(
        (result) => reply({ result }),
        (err) => reply({ error: String((err && err.stack) || err) }),
      );
  });
  state.RED.events.on("flows:started", () => process.send({ bench: true, event: "flows-started" }));
}

module.exports = function (RED) {
  state.RED = RED;
  listen();

  function BenchDriver(config) {
    RED.nodes.createNode(this, config);
    state.drivers.set(this.id, this);
    this.on("close", () => state.drivers.delete(this.id));
  }

  function BenchCounter(config) {
    RED.nodes.createNode(this, config);
    this.on("input", (msg) => count(msg));
  }

  RED.nodes.registerType("bench-driver", BenchDriver);
  RED.nodes.registerType("bench-counter", BenchCounter);
};
