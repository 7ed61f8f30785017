"use strict";
/**
 * Soak, in a real Node-RED runtime: 1,000 sequential chats through http in -> dbgpt-chat -> http response
 * with a full redeploy every 20 chats (50 redeploys) in one Node-RED process. The heap used after a forced
 * garbage collection may grow by less than 5 MB from chat 100 to chat 1,000 (both measured right after a
 * redeploy), the process's active handles return to their baseline, and after the final full redeploy the
 * emulator has no open connection.
 */
const assert = require("node:assert/strict");

const { startNodeRed } = require("./harness");
const {
  PROBE_SETTINGS,
  childEnv,
  probe,
  quietBaseline,
  settleHandles,
  expectNoUnhandled,
  functionNode,
} = require("./fixtures-hardening");
const { httpRequest } = require("../support/http");
const { configNode, chatNode } = require("../support/flow-format");
const { startEmulator, answerFor } = require("../../emulator");

const CHATS = 1000;
const REDEPLOY_EVERY = 20;
const HEAP_FROM = 100;
const HEAP_GROWTH_LIMIT = 5 * 1024 * 1024;

/** The soak flow; `version` changes node names so that every deploy is a real change. */
function soakFlow(emuUrl, version) {
  const tab = "soak-tab";
  return [
    { id: tab, type: "tab", label: `soak ${version}`, disabled: false, info: "" },
    configNode("soak-cfg", emuUrl, { name: `soak server ${version}`, timeout: 10 }),
    {
      id: "soak-in",
      type: "http in",
      z: tab,
      name: "",
      url: "/soak",
      method: "post",
      upload: false,
      swaggerDoc: "",
      wires: [["soak-chat"]],
    },
    {
      ...chatNode("soak-chat", "soak-cfg", { name: `soak chat ${version}` }),
      z: tab,
      wires: [["soak-deltas"], ["soak-answer"]],
    },
    functionNode("soak-deltas", tab, "stream sink", "return null;", 1, [[]]),
    functionNode(
      "soak-answer",
      tab,
      "answer",
      "msg.payload = { answer: msg.payload, chunks: msg.dbgpt.chunks };\nreturn msg;",
      1,
      [["soak-res"]],
    ),
    {
      id: "soak-catch",
      type: "catch",
      z: tab,
      name: "",
      scope: ["soak-chat"],
      uncaught: false,
      wires: [["soak-failed"]],
    },
    functionNode(
      "soak-failed",
      tab,
      "failed",
      "msg.statusCode = 502;\nmsg.payload = { error: msg.error.message, code: msg.error.code };\nreturn msg;",
      1,
      [["soak-res"]],
    ),
    { id: "soak-res", type: "http response", z: tab, name: "", statusCode: "", headers: {}, wires: [] },
  ];
}

/** Heap used after forced full collections: the lowest of a few samples (the probe itself allocates). */
async function heapAfterGc(nr) {
  let lowest = Infinity;
  for (let i = 0; i < 3; i++) {
    const sample = await probe(nr, { gc: 4 });
    assert.ok(sample.gc, "gc is exposed in the Node-RED process");
    lowest = Math.min(lowest, sample.heapUsed);
  }
  return lowest;
}

function mb(bytes) {
  return `${(bytes / 1024 / 1024).toFixed(2)} MB`;
}

describe("runtime: soak (1,000 chats and 50 redeploys in one Node-RED process)", function () {
  this.timeout(30000);

  let emu;
  let nr;
  let baseline;
  const measured = {};

  before(async function () {
    this.timeout(300000);
    emu = await startEmulator({ delayMs: 0 });
    nr = await startNodeRed({ flows: soakFlow(emu.url, 0), settings: PROBE_SETTINGS, env: childEnv() });
    baseline = await quietBaseline(nr);
  });

  after(async function () {
    this.timeout(30000);
    if (nr) await nr.stop();
    if (emu) await emu.close();
  });

  it(`answers ${CHATS} sequential chats exactly, with a full redeploy every ${REDEPLOY_EVERY}`, async function () {
    this.timeout(240000);
    let redeploys = 0;
    const started = Date.now();
    for (let i = 1; i <= CHATS; i++) {
      const question = `soak question ${i % 50}`;
      const res = await httpRequest(`${nr.url}/soak`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: question,
      });
      if (res.status !== 200 || !res.json || res.json.answer !== answerFor(question)) {
        assert.fail(`chat ${i} (after ${redeploys} redeploys): HTTP ${res.status} ${res.text.slice(0, 300)}`);
      }
      if (i % REDEPLOY_EVERY === 0) {
        redeploys++;
        await nr.deploy(soakFlow(emu.url, redeploys));
        if (i === HEAP_FROM) measured.heapFrom = await heapAfterGc(nr);
        if (i === CHATS) measured.heapTo = await heapAfterGc(nr);
      }
      // Every redeploy closes the config node's client: its keep-alive connection must go with it.
      if (i % REDEPLOY_EVERY === 0) await emu.waitForConnections(0, 3000);
    }
    assert.equal(redeploys, CHATS / REDEPLOY_EVERY);
    assert.equal(emu.chatRequests().length, CHATS);
    measured.done = true;
    measured.seconds = (Date.now() - started) / 1000;
  });

  it(`heap used after a forced GC grows by less than 5 MB from chat ${HEAP_FROM} to chat ${CHATS}`, function () {
    assert.ok(measured.done, "the soak ran to the end");
    const growth = measured.heapTo - measured.heapFrom;
    this.test.title += ` (${mb(growth)}: ${mb(measured.heapFrom)} -> ${mb(measured.heapTo)})`;
    assert.ok(
      growth < HEAP_GROWTH_LIMIT,
      `heap after GC grew by ${mb(growth)} (${mb(measured.heapFrom)} at chat ${HEAP_FROM}, ` +
        `${mb(measured.heapTo)} at chat ${CHATS})`,
    );
  });

  it("after the final full redeploy the emulator has no open connection", async () => {
    assert.ok(measured.done, "the soak ran to the end");
    await emu.waitForConnections(0, 3000);
    assert.equal(emu.openConnections(), 0);
  });

  it("the process's active handles return to their baseline", async () => {
    assert.ok(measured.done, "the soak ran to the end");
    // The harness's deploy requests use keep-alive: their server-side sockets close within 5 s.
    await settleHandles(nr, baseline, { ms: 8000, what: "after the soak" });
  });

  it("no unhandled rejection and no error in the log", async () => {
    await expectNoUnhandled(nr);
    assert.doesNotMatch(nr.logs(), /\[error\]/);
  });
});
