"use strict";
const assert = require("node:assert/strict");
const { startEmulator } = require("../../emulator");
const { selfSigned } = require("../../emulator/selfsigned");
const {
  helper,
  NODES,
  useEmulatorSuite,
  chatFlow,
  flowWith,
  collect,
  waitFor,
  logLines,
  chatNode,
  fromNodeRed,
} = require("./helpers");
const { tlsConfigNode } = require("../support/flow-format");

const tlsNode = fromNodeRed("@node-red/nodes/core/network/05-tls.js");

function twoChats(baseUrl, config) {
  const chat = (id) => chatNode({ id, stream: false, wires: [[], ["final"]] });
  return flowWith(baseUrl, [chat("chat1"), chat("chat2"), { id: "final", type: "helper" }], config);
}

describe("dbgpt-config", function () {
  let emu;
  useEmulatorSuite((started) => (emu = started));

  it("owns one client shared by every node using it, and closes it (and its sockets) on close", async () => {
    await helper.load(NODES, twoChats(emu.url));
    const final = collect("final");
    const cfg = helper.getNode("cfg");
    const client = cfg.client();
    assert.equal(cfg.client(), client, "the same client every time");
    helper.getNode("chat1").receive({ payload: "one" });
    helper.getNode("chat2").receive({ payload: "two" });
    await waitFor(() => final.length === 2, "both answers");
    assert.ok(emu.openConnections() >= 1, "keep-alive sockets stay open while deployed");
    await helper.clearFlows();
    // Well before the 4 s idle close: the config node closed its client.
    await emu.waitForConnections(0, 1500);
    assert.throws(
      () => cfg.client(),
      (err) => err.code === "DBGPT_INVALID_INPUT",
    );
  });

  it("uses its model when the chat node's model is blank, and chatgpt_proxyllm when its own is blank", async () => {
    await helper.load(NODES, twoChats(emu.url, { model: "gpt-4o" }));
    let final = collect("final");
    helper.getNode("chat1").receive({ payload: "q" });
    await waitFor(() => final.length === 1, "the answer");
    assert.equal(emu.chatRequests()[0].body.model, "gpt-4o");
    await helper.unload();
    emu.reset();

    await helper.load(NODES, twoChats(emu.url, { model: "" }));
    final = collect("final");
    helper.getNode("chat1").receive({ payload: "q" });
    await waitFor(() => final.length === 1, "the answer");
    assert.equal(emu.chatRequests()[0].body.model, "chatgpt_proxyllm");
  });

  it("resolves a ${ENV_VAR} base URL and keeps a path prefix", async () => {
    process.env.DBGPT_NODE_TEST_URL = `${emu.url}/prefix/`;
    try {
      await helper.load(NODES, chatFlow("${DBGPT_NODE_TEST_URL}", { chatMode: "chat_normal" }));
      const caught = collect("caught");
      helper.getNode("chat").receive({ payload: "q" });
      await waitFor(() => caught.length === 1, "the answer");
      // The emulator has no /prefix: its HTML 404 proves where the request went.
      assert.equal(emu.requests[0].path, "/prefix/api/v2/chat/completions");
      assert.equal(caught[0].error.code, "DBGPT_HTTP");
    } finally {
      delete process.env.DBGPT_NODE_TEST_URL;
    }
  });

  it("timeout accepts numeric strings; 0 means no idle timeout", async () => {
    emu.fault({ firstEventDelayMs: 1200 });
    await helper.load(NODES, chatFlow(emu.url, { chatMode: "chat_normal" }, { timeout: "0" }));
    let final = collect("final");
    helper.getNode("chat").receive({ payload: "slow" });
    await waitFor(() => final.length === 1, "the slow answer", 5000);
    await helper.unload();

    emu.fault({ firstEventDelayMs: 1200 });
    await helper.load(NODES, chatFlow(emu.url, { chatMode: "chat_normal" }, { timeout: "0.5" }));
    const caught = collect("caught");
    helper.getNode("chat").receive({ payload: "slow" });
    await waitFor(() => caught.length === 1, "the timeout", 5000);
    assert.equal(caught[0].error.code, "DBGPT_TIMEOUT");
  });

  it("a bad timeout is a configuration error, logged once", async () => {
    await helper.load(NODES, chatFlow(emu.url, { chatMode: "chat_normal" }, { timeout: "soon" }));
    const caught = collect("caught");
    for (let i = 0; i < 2; i++) helper.getNode("chat").receive({ payload: "q" });
    await waitFor(() => caught.length === 2, "two failures");
    assert.ok(caught.every((m) => m.error.code === "DBGPT_INVALID_INPUT"));
    assert.equal(logLines(helper.log().ERROR).filter((e) => e.type === "dbgpt-config").length, 1);
  });

  describe("tls", function () {
    let tlsEmu;
    let pair;
    before(async function () {
      try {
        pair = selfSigned();
      } catch (err) {
        if (err.code === "EMULATOR_NO_OPENSSL") this.skip();
        throw err;
      }
      tlsEmu = await startEmulator({ tls: pair });
    });
    after(() => tlsEmu && tlsEmu.close());

    const tlsConfig = (extra) => tlsConfigNode("tls1", extra);

    it("passes the tls-config node's CA to the connection", async () => {
      const flow = chatFlow(tlsEmu.url, { chatMode: "chat_normal", stream: false }, { tls: "tls1" });
      flow.push(tlsConfig());
      await helper.load([tlsNode, ...NODES], flow, { tls1: { cadata: pair.cert } });
      const final = collect("final");
      const caught = collect("caught");
      helper.getNode("chat").receive({ payload: "secure" });
      await waitFor(() => final.length + caught.length === 1, "the answer");
      assert.equal(caught.length, 0, caught[0] && caught[0].error.message);
    });

    it("honours verifyservercert: false", async () => {
      const flow = chatFlow(tlsEmu.url, { chatMode: "chat_normal", stream: false }, { tls: "tls1" });
      flow.push(tlsConfig({ verifyservercert: false }));
      await helper.load([tlsNode, ...NODES], flow);
      const final = collect("final");
      helper.getNode("chat").receive({ payload: "secure" });
      await waitFor(() => final.length === 1, "the answer");
    });

    it("without the CA the self-signed certificate is refused (DBGPT_CONNECT)", async () => {
      await helper.load(NODES, chatFlow(tlsEmu.url, { chatMode: "chat_normal" }));
      const caught = collect("caught");
      helper.getNode("chat").receive({ payload: "secure" });
      await waitFor(() => caught.length === 1, "the failure");
      assert.equal(caught[0].error.code, "DBGPT_CONNECT");
    });

    it("a missing tls-config node is a configuration error, logged once", async () => {
      await helper.load(NODES, chatFlow(tlsEmu.url, { chatMode: "chat_normal" }, { tls: "gone" }));
      const caught = collect("caught");
      for (let i = 0; i < 2; i++) helper.getNode("chat").receive({ payload: "q" });
      await waitFor(() => caught.length === 2, "two failures");
      assert.ok(caught.every((m) => m.error.code === "DBGPT_INVALID_INPUT"));
      assert.equal(logLines(helper.log().ERROR, "gone").length, 1);
    });
  });
});
