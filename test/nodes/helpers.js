"use strict";
// Shared set-up for the node tests: the compiled nodes in node-red-node-test-helper, flows wired to
// helper nodes, a real emulator; bounded waits (sleep, waitFor) and fold come from test/support.
const helper = require("node-red-node-test-helper");
const { startEmulator, DEFAULT_APPS } = require("../../emulator");
const { CHAT_FIELDS } = require("../support/flow-format");
const { fold } = require("../support/chat-output");
const { delay: sleep, waitFor } = require("../support/wait");
const { nodeRedHome } = require("../runtime/harness");

// The Node-RED under test: NODE_RED_HOME when set (CI's Node-RED 5 leg), else the lockfile's.
const NODE_RED = nodeRedHome();
/** A module of that Node-RED's install, e.g. "@node-red/nodes/core/sequence/17-split.js". */
const fromNodeRed = (id) => require(require.resolve(id, { paths: [NODE_RED] }));
helper.init(require.resolve(NODE_RED));

const NODES = [
  require("../../nodes/dbgpt-config.js"),
  require("../../nodes/dbgpt-list-apps.js"),
  require("../../nodes/dbgpt-get-app.js"),
  require("../../nodes/dbgpt-chat.js"),
];

const TAB = "tab1";

/**
 * The hooks of a node suite: one emulator for the suite (handed to `use`), a fresh runtime per test, and
 * the emulator put back to its defaults after each test.
 */
function useEmulatorSuite(use) {
  let emu;
  before(async () => {
    emu = await startEmulator();
    use(emu);
  });
  after(() => emu.close());
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    emu.reset();
    emu.configure({ delayMs: 0, apiKeys: [], apps: DEFAULT_APPS });
  });
}

/** A flow tab with a config node pointing at `baseUrl` plus the given nodes (z added). */
function flowWith(baseUrl, nodes, config = {}) {
  return [
    { id: TAB, type: "tab", label: "test" },
    {
      id: "cfg",
      type: "dbgpt-config",
      name: "emulator",
      baseUrl,
      model: "chatgpt_proxyllm",
      timeout: 10,
      ...config,
    },
    // Nodes on a tab need x and y, or Node-RED takes them for config nodes.
    ...nodes.map((n) => ({ z: TAB, x: 100, y: 100, ...n })),
  ];
}

/** A dbgpt-chat node "chat" using "cfg", with every flow key but the name set (CHAT_FIELDS). */
function chatNode(props = {}) {
  return {
    id: "chat",
    type: "dbgpt-chat",
    server: "cfg",
    ...CHAT_FIELDS,
    wires: [[], []],
    ...props,
  };
}

/**
 * A chat node "chat" wired to "stream" and "final" helper nodes, with a Catch (output "caught") and a
 * Complete (output "completed") node scoped to it. (node-red-node-test-helper 0.3.6 registers the core
 * catch node once per catch node in a flow, so a flow may hold only one.)
 */
function chatFlow(baseUrl, chat = {}, config = {}) {
  return flowWith(
    baseUrl,
    [
      chatNode({ wires: [["stream"], ["final"]], ...chat }),
      { id: "stream", type: "helper" },
      { id: "final", type: "helper" },
      { id: "catcher", type: "catch", scope: ["chat"], uncaught: false, wires: [["caught"]] },
      { id: "caught", type: "helper" },
      { id: "completer", type: "complete", scope: ["chat"], uncaught: false, wires: [["completed"]] },
      { id: "completed", type: "helper" },
    ],
    config,
  );
}

/** A core split node (array -> one message per element, with msg.parts); load `splitNodes` with it. */
const splitNodes = fromNodeRed("@node-red/nodes/core/sequence/17-split.js");
function splitter(wires) {
  return {
    id: "splitter",
    type: "split",
    splt: "\\n",
    spltType: "str",
    arraySplt: 1,
    arraySpltType: "len",
    stream: false,
    addname: "",
    wires: [wires],
  };
}

/** Messages arriving at a helper node, in order. */
function collect(id) {
  const messages = [];
  helper.getNode(id).on("input", (msg) => messages.push(msg));
  return messages;
}

/** Statuses a node sets, in order; `times` gets the performance.now() of each. */
function statuses(id, times = []) {
  const seen = [];
  helper.getNode(id).on("call:status", (call) => {
    seen.push(call.args[0]);
    times.push(performance.now());
  });
  return seen;
}

/** Loads chatFlow() and returns the chat node with everything it outputs, reports and shows. */
async function loadChat(baseUrl, chat, config, credentials) {
  await helper.load(NODES, chatFlow(baseUrl, chat, config), credentials);
  const statusTimes = [];
  return {
    node: helper.getNode("chat"),
    stream: collect("stream"),
    final: collect("final"),
    caught: collect("caught"),
    completed: collect("completed"),
    statuses: statuses("chat", statusTimes),
    statusTimes,
  };
}

/** The URL of an emulator that has been closed: nothing listens there (connection refused). */
async function closedUrl() {
  const gone = await startEmulator();
  await gone.close();
  return gone.url;
}

/** Every log line the runtime wrote since the flow was loaded, as text. */
function logText() {
  const spy = helper.log();
  if (!spy) return "";
  return spy.args
    .map((args) => JSON.stringify(args, (_k, v) => (v instanceof Error ? v.message : v)))
    .join("\n");
}

/** Log entries at a level (helper.log().ERROR etc.) whose text contains `fragment`. */
function logLines(level, fragment = "") {
  const spy = helper.log();
  if (!spy) return [];
  return spy.args
    .map((args) => args[0])
    .filter((entry) => entry && entry.level === level && String(entry.msg).includes(fragment));
}

module.exports = {
  helper,
  fromNodeRed,
  NODES,
  TAB,
  useEmulatorSuite,
  splitNodes,
  splitter,
  closedUrl,
  flowWith,
  chatNode,
  chatFlow,
  collect,
  statuses,
  loadChat,
  sleep,
  waitFor,
  logText,
  logLines,
  fold,
};
