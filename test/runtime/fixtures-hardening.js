"use strict";
/**
 * Shared by faults.test.js, soak.test.js and security.test.js (on top of harness.js):
 *
 *   childEnv({ hostsFile, extra })  env for startNodeRed: preloads fixtures-preload.js (injected DNS, recorded
 *                                   unhandled rejections) and exposes gc
 *   PROBE_SETTINGS                  settings for startNodeRed: a test-only admin route GET /__dbgpt-test/probe
 *                                   answering { handles: {type: count}, heapUsed, gc, unhandled }
 *   probe(nr, { gc, adminRoot })    calls it (gc = rounds of global.gc() before measuring)
 *   quietBaseline(nr)               the active handles at rest (the baseline for settleHandles)
 *   settleHandles(nr, baseline)     waits until no active-resource type is above its baseline count
 *   driverFlow({ targets })         a flow that drives nodes over HTTP and records every output, Catch and status
 *   Driver                          the test side of that flow: ask(), run(), statuses(), waitForStatus(), reset()
 *   functionNode(id, z, name, func, outputs, wires)   a function node (scripts/nodered.js's)
 *
 * (Requests: test/support/http.js; dbgpt node objects: test/support/flow-format.js.)
 */
const assert = require("node:assert/strict");
const path = require("node:path");
const { functionNode } = require("../../scripts/nodered");
const { httpRequest } = require("../support/http");
const { delay } = require("../support/wait");

const PRELOAD = path.join(__dirname, "fixtures-preload.js");
const PROBE_PATH = "/__dbgpt-test/probe";

// ---------------------------------------------------------------------------------------------------
// The Node-RED child

function childEnv({ hostsFile, extra } = {}) {
  const nodeOptions = [process.env.NODE_OPTIONS, `--require ${JSON.stringify(PRELOAD)}`, "--expose-gc"]
    .filter(Boolean)
    .join(" ");
  const env = { NODE_OPTIONS: nodeOptions, ...extra };
  if (hostsFile) env.DBGPT_TEST_HOSTS_FILE = hostsFile;
  return env;
}

/**
 * Test-only admin middleware, written into the child's settings.js by the harness (as source, so it runs in
 * the runtime's own process with its `process` and `global`). It sits before adminAuth.
 */
function dbgptTestProbe(req, res, next) {
  if (req.path !== "/__dbgpt-test/probe") return next();
  const rounds = Math.min(Number(req.query && req.query.gc) || 0, 10);
  const gc = typeof global.gc === "function" ? global.gc : undefined;
  for (let i = 0; gc && i < rounds; i++) gc();
  const handles = {};
  for (const type of process.getActiveResourcesInfo()) handles[type] = (handles[type] || 0) + 1;
  const body = JSON.stringify({
    handles,
    heapUsed: process.memoryUsage().heapUsed,
    gc: Boolean(gc),
    unhandled: global.__dbgptTestUnhandled || null,
  });
  res.writeHead(200, { "content-type": "application/json", connection: "close" });
  res.end(body);
}

const PROBE_SETTINGS = Object.freeze({ httpAdminMiddleware: dbgptTestProbe });

async function probe(nr, { gc = 0, adminRoot = "" } = {}) {
  const res = await httpRequest(`${nr.url}${adminRoot}${PROBE_PATH}?gc=${gc}`);
  assert.equal(res.status, 200, `probe answered HTTP ${res.status}: ${res.text.slice(0, 300)}`);
  assert.ok(Array.isArray(res.json.unhandled), "the preload (fixtures-preload.js) is not loaded in Node-RED");
  return res.json;
}

/** Types whose count is above the baseline's. */
function handlesAbove(handles, baseline) {
  const above = {};
  for (const [type, count] of Object.entries(handles)) {
    if (count > (baseline[type] || 0)) above[type] = `${count} (baseline ${baseline[type] || 0})`;
  }
  return above;
}

/** Polls the probe until no active-resource type is above its baseline count; fails with the difference. */
async function settleHandles(nr, baseline, { ms = 5000, adminRoot = "", what = "" } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    const now = await probe(nr, { adminRoot });
    const above = handlesAbove(now.handles, baseline);
    if (Object.keys(above).length === 0) return now;
    if (Date.now() > deadline) {
      assert.fail(
        `active handles did not return to their baseline within ${ms} ms${what ? ` (${what})` : ""}: ` +
          `${JSON.stringify(above)}; now ${JSON.stringify(now.handles)}, baseline ${JSON.stringify(baseline)}`,
      );
    }
    await delay(50);
  }
}

/**
 * The runtime's active handles at rest, for settleHandles: taken once the harness's own keep-alive
 * connections from start-up are gone (Node's server keep-alive closes them within 5 s).
 */
async function quietBaseline(nr, { adminRoot = "" } = {}) {
  const deadline = Date.now() + 7000;
  let sample = await probe(nr, { adminRoot });
  while ((sample.handles.TCPSocketWrap || 0) > 1 && Date.now() < deadline) {
    await delay(200);
    sample = await probe(nr, { adminRoot });
  }
  return sample.handles;
}

/** No unhandled rejection recorded by the preload, none printed, and the runtime still running. */
async function expectNoUnhandled(nr, { adminRoot = "" } = {}) {
  const { unhandled } = await probe(nr, { adminRoot });
  assert.deepEqual(unhandled, [], `unhandled rejections in Node-RED:\n${unhandled.join("\n")}`);
  assert.doesNotMatch(nr.logs(), /\[dbgpt-test\] unhandled rejection|Uncaught Exception/);
  assert.equal(nr.child.exitCode, null, "Node-RED exited");
}

// ---------------------------------------------------------------------------------------------------
// The driver flow

const STORE = `let store = flow.get("driver");
if (!store) {
  store = { runs: {}, statuses: [] };
  flow.set("driver", store);
}
`;

const ROUTE_FUNC = (targets) => `${STORE}const TARGETS = ${JSON.stringify(targets)};
const out = new Array(TARGETS.length + 1).fill(null);
const index = TARGETS.indexOf(msg.req.params.target);
if (index === -1) {
  msg.statusCode = 404;
  msg.payload = JSON.stringify({ error: "unknown target " + msg.req.params.target });
  out[TARGETS.length] = msg;
  return out;
}
// The request body holds the message properties to set (payload, conv_uid, requestTimeout, ...).
const props = msg.payload !== null && typeof msg.payload === "object" ? msg.payload : {};
delete msg.payload;
Object.assign(msg, props);
store.runs[msg._msgid] = { target: TARGETS[index], stream: [], outcomes: [] };
out[index] = msg;
return out;
`;

const STREAM_FUNC = `${STORE}const run = store.runs[msg._msgid];
if (run) run.stream.push({ payload: msg.payload, dbgpt: msg.dbgpt });
return null;
`;

/** Records a final (complete output) or error (Catch) outcome; the first one answers the HTTP request. */
const OUTCOME_FUNC = (kind) => `${STORE}const run = store.runs[msg._msgid];
if (!run) return null;
const error = msg.error ? { message: msg.error.message, code: msg.error.code, source: msg.error.source } : undefined;
const outcome = {
  kind: ${JSON.stringify(kind)},
  payload: msg.payload,
  conv_uid: msg.conv_uid,
  topic: msg.topic,
  dbgpt: msg.dbgpt,
  error,
  at: Date.now(),
};
run.outcomes.push(outcome);
if (run.outcomes.length > 1) return null;
msg.statusCode = 200;
msg.headers = { "content-type": "application/json" };
msg.payload = JSON.stringify({ msgid: msg._msgid, target: run.target, stream: run.stream, outcome });
return msg;
`;

const STATUS_FUNC = `${STORE}const s = msg.status || {};
store.statuses.push({ id: s.source && s.source.id, fill: s.fill, shape: s.shape, text: s.text, at: Date.now() });
return null;
`;

const TAP_FUNC = `return {
  payload: { payload: msg.payload, conv_uid: msg.conv_uid, dbgpt: msg.dbgpt, error: msg.error, status: msg.status },
};
`;

const QUERY_FUNC = `${STORE}const what = msg.req.params.what;
let answer;
if (what === "run") answer = store.runs[msg.req.query.id] || null;
else if (what === "statuses") answer = store.statuses;
else if (what === "reset") {
  // Statuses are kept: a node's current status is its last one, however long ago it was set.
  store.runs = {};
  answer = { ok: true };
} else {
  msg.statusCode = 404;
  answer = { error: "unknown query " + what };
}
msg.payload = JSON.stringify(answer);
msg.headers = { "content-type": "application/json" };
return msg;
`;

/**
 * A tab that drives nodes over HTTP: POST /drv/<target> with a JSON body of message properties sends that
 * message to the target's node and answers with { msgid, target, stream, outcome } once the node's complete
 * output (or a Catch) has the message. Every stream message, outcome and status is kept (flow context) and
 * can be read back: GET /drv-query/run?id=<msgid>, /drv-query/statuses, /drv-query/reset (forgets the runs).
 * `targets`: [{ name, node }] (node: a dbgpt node object; its z and wires are set here).
 * `extra`: more nodes, added as they are (config nodes, or nodes with their own z).
 * `tap`: also send every output, Catch and status (without req/res) to a debug node (log and sidebar).
 */
function driverFlow({ targets, extra = [], tab = "drv-tab", tap = false }) {
  const names = targets.map((t) => t.name);
  const ids = targets.map((t) => t.node.id);
  // tap: every output, Catch and status also goes (trimmed of req/res) to a debug node that prints to the
  // log and to the editor's debug sidebar, so tests can scan those too.
  const also = tap ? ["drv-tap"] : [];
  const nodes = [
    { id: tab, type: "tab", label: "driver", disabled: false, info: "" },
    {
      id: "drv-in",
      type: "http in",
      z: tab,
      name: "",
      url: "/drv/:target",
      method: "post",
      upload: false,
      swaggerDoc: "",
      wires: [["drv-route"]],
    },
    functionNode("drv-route", tab, "route", ROUTE_FUNC(names), names.length + 1, [
      ...ids.map((id) => [id]),
      ["drv-res"],
    ]),
    functionNode("drv-stream", tab, "record stream", STREAM_FUNC, 1, [[]]),
    functionNode("drv-final", tab, "record final", OUTCOME_FUNC("final"), 1, [["drv-res"]]),
    functionNode("drv-error", tab, "record error", OUTCOME_FUNC("error"), 1, [["drv-res"]]),
    functionNode("drv-status-rec", tab, "record status", STATUS_FUNC, 1, [[]]),
    {
      id: "drv-catch",
      type: "catch",
      z: tab,
      name: "",
      scope: ids,
      uncaught: false,
      wires: [["drv-error", ...also]],
    },
    { id: "drv-status", type: "status", z: tab, name: "", scope: ids, wires: [["drv-status-rec", ...also]] },
    { id: "drv-res", type: "http response", z: tab, name: "", statusCode: "", headers: {}, wires: [] },
    {
      id: "drv-q-in",
      type: "http in",
      z: tab,
      name: "",
      url: "/drv-query/:what",
      method: "get",
      upload: false,
      swaggerDoc: "",
      wires: [["drv-q"]],
    },
    functionNode("drv-q", tab, "query", QUERY_FUNC, 1, [["drv-res"]]),
  ];
  if (tap) {
    nodes.push(functionNode("drv-tap", tab, "trim", TAP_FUNC, 1, [["drv-debug"]]), {
      id: "drv-debug",
      type: "debug",
      z: tab,
      name: "tap",
      active: true,
      tosidebar: true,
      console: true,
      tostatus: false,
      complete: "payload",
      targetType: "msg",
      statusVal: "",
      statusType: "auto",
      wires: [],
    });
  }
  for (const { node } of targets) {
    const wires =
      node.type === "dbgpt-chat"
        ? [
            ["drv-stream", ...also],
            ["drv-final", ...also],
          ]
        : [["drv-final", ...also]];
    nodes.push({ ...node, z: tab, wires });
  }
  nodes.push(...extra);
  return nodes;
}

class Driver {
  constructor(nr) {
    this.nr = nr;
  }

  /** Sends one message (its properties) to a target; resolves with { msgid, target, stream, outcome }. */
  async ask(target, props, { timeoutMs = 20000 } = {}) {
    const res = await httpRequest(`${this.nr.url}/drv/${encodeURIComponent(target)}`, {
      method: "POST",
      body: props,
      timeoutMs,
    });
    if (res.status !== 200 || !res.json)
      assert.fail(`driver ${target}: HTTP ${res.status} ${res.text.slice(0, 500)}`);
    return res.json;
  }

  async query(what, search = "") {
    const res = await httpRequest(`${this.nr.url}/drv-query/${what}${search}`);
    if (res.status !== 200) assert.fail(`driver query ${what}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
    return res.json;
  }

  /** Everything recorded for one message: { target, stream, outcomes }. */
  run(msgid) {
    return this.query("run", `?id=${encodeURIComponent(msgid)}`);
  }

  statuses() {
    return this.query("statuses");
  }

  reset() {
    return this.query("reset");
  }

  /**
   * Resolves with a node's current status (its last one) once `predicate(last)` holds. Updates are throttled
   * and an unchanged status is not repeated, so the current one may have been set before the last reset.
   */
  async waitForStatus(nodeId, predicate, ms = 2000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const mine = (await this.statuses()).filter((s) => s.id === nodeId);
      const last = mine[mine.length - 1];
      if (last && predicate(last)) return last;
      if (Date.now() > deadline) {
        assert.fail(
          `status of ${nodeId} did not become as expected within ${ms} ms; saw ${JSON.stringify(mine)}`,
        );
      }
      await delay(50);
    }
  }
}

module.exports = {
  PRELOAD,
  PROBE_SETTINGS,
  childEnv,
  probe,
  quietBaseline,
  settleHandles,
  expectNoUnhandled,
  functionNode,
  driverFlow,
  Driver,
};
