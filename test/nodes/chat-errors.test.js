"use strict";
const assert = require("node:assert/strict");
const { answerTokens, APP_CODES } = require("../../emulator");
const {
  helper,
  NODES,
  chatFlow,
  collect,
  waitFor,
  sleep,
  logText,
  logLines,
  useEmulatorSuite,
  closedUrl,
  loadChat,
} = require("./helpers");

const KEY = "sk-node-test-SECRET-4f9a";
const WRONG_KEY = "sk-node-test-WRONG-77c1";

/** Sends a message that must fail; returns what the Catch node received. */
async function failing(c, msg) {
  const before = c.caught.length;
  c.node.receive(msg);
  await waitFor(() => c.caught.length > before, "the failure", 10000);
  return c.caught[c.caught.length - 1];
}

function assertFailure(caught, code, { message, partial, payload } = {}) {
  assert.equal(caught.error.code, code, caught.error.message);
  assert.equal(caught.dbgpt.error.code, code);
  assert.equal(typeof caught.dbgpt.partial, "string");
  if (partial !== undefined) assert.equal(caught.dbgpt.partial, partial);
  if (message) assert.match(caught.error.message, message);
  if (payload !== undefined) assert.deepEqual(caught.payload, payload);
  assert.equal(caught.error.source.id, "chat");
}

describe("dbgpt-chat failures", function () {
  let emu;
  useEmulatorSuite((started) => (emu = started));

  it("DBGPT_STREAM_ERROR for [SERVER_ERROR], with the server's text and the original message", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" });
    const caught = await failing(c, { payload: "[server-error] knowledge space exploded", topic: "t1" });
    assertFailure(caught, "DBGPT_STREAM_ERROR", {
      message: /knowledge space exploded/,
      partial: "",
      payload: "[server-error] knowledge space exploded",
    });
    assert.equal(caught.topic, "t1");
    await sleep(50);
    assert.equal(c.final.length, 0, "a failed request sends no final message");
    assert.equal(c.completed.length, 0, "done(err) goes to Catch, not Complete");
    await waitFor(() => c.statuses.some((s) => s.fill === "red" && s.shape === "ring"), "a red ring");
  });

  it("DBGPT_STREAM_ERROR for a model error delivered as answer text", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" });
    const caught = await failing(c, { payload: "[model-error] go" });
    assertFailure(caught, "DBGPT_STREAM_ERROR", { message: /LLMServer Generate Error/ });
  });

  it("DBGPT_STREAM_ERROR for a flow error event", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_flow", chatParam: "no-such-flow" });
    const caught = await failing(c, { payload: "hi" });
    assertFailure(caught, "DBGPT_STREAM_ERROR", { message: /no-such-flow/ });
  });

  it("DBGPT_STREAM_ERROR for a chat_app app that produces no answer", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_app", chatParam: APP_CODES.native });
    const caught = await failing(c, { payload: "hi" });
    assertFailure(caught, "DBGPT_STREAM_ERROR", { message: /no answer/ });
  });

  it("DBGPT_STREAM_CLOSED with the partial text when the stream is cut", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" });
    const question = "[long:50] cut me";
    emu.fault({ match: { question }, cutAfterEvents: 5 });
    const caught = await failing(c, { payload: question });
    const tokens = answerTokens(question);
    assertFailure(caught, "DBGPT_STREAM_CLOSED", { partial: tokens.slice(0, 5).join("") });
    assert.equal(c.stream.map((m) => m.payload).join(""), caught.dbgpt.partial);
    assert.doesNotMatch(caught.error.message, /unknown app/);
    await waitFor(() => c.statuses.some((s) => s.fill === "red"), "a red ring");
    assert.equal(c.statuses.at(-1).text, "dbgpt.status.error.DBGPT_STREAM_CLOSED");
    await emu.waitForConnections(0, 3000).catch(() => {
      throw new Error(`open connections: ${emu.openConnections()}`);
    });
  });

  it("DBGPT_STREAM_CLOSED for an unknown chat_app app id (the server drops the connection)", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_app", chatParam: "no-such-app" });
    const caught = await failing(c, { payload: "hi" });
    assertFailure(caught, "DBGPT_STREAM_CLOSED", {
      message: /^(DbgptError: )?unknown app "no-such-app"\?: /,
    });
    await waitFor(() => c.statuses.some((s) => s.fill === "red"), "a red ring");
    assert.equal(c.statuses.at(-1).text, "dbgpt.status.error.unknownApp", "the status says: unknown app?");
  });

  it("DBGPT_BAD_REQUEST for a 400 with the server's err_msg", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_knowledge", chatParam: "missing-space" });
    const caught = await failing(c, { payload: "hi" });
    assertFailure(caught, "DBGPT_BAD_REQUEST", { message: /have not found knowledge space:missing-space/ });
    assert.equal(caught.dbgpt.error.statusCode, 400);
    assert.match(caught.dbgpt.error.body, /E0003/);
  });

  it("DBGPT_HTTP for a 502, with statusCode and body (cut at 4 KB)", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" });
    emu.fault({ status: { status: 502, body: "x".repeat(10000), contentType: "text/plain" } });
    const caught = await failing(c, { payload: "hi" });
    assertFailure(caught, "DBGPT_HTTP");
    assert.equal(caught.dbgpt.error.statusCode, 502);
    assert.ok(caught.dbgpt.error.body.length <= 4096);
  });

  it("DBGPT_PROTOCOL for an event that is not JSON", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" });
    emu.fault({ rawEvents: ["data: {not json\n\n"] });
    const caught = await failing(c, { payload: "hi" });
    assertFailure(caught, "DBGPT_PROTOCOL");
  });

  it("DBGPT_TIMEOUT when the server goes silent for the config's (fractional) timeout", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" }, { timeout: 0.3 });
    emu.fault({ stall: "after-events", events: 2 });
    const started = Date.now();
    const caught = await failing(c, { payload: "hi" });
    assertFailure(caught, "DBGPT_TIMEOUT");
    assert.ok(Date.now() - started < 5000);
    await emu.waitForConnections(0, 3000);
  });

  it("DBGPT_CONNECT when nothing listens", async () => {
    const url = await closedUrl();
    await helper.load(NODES, chatFlow(url, { chatMode: "chat_normal" }));
    const c = { node: helper.getNode("chat"), caught: collect("caught") };
    const caught = await failing(c, { payload: "hi" });
    assertFailure(caught, "DBGPT_CONNECT");
  });

  it("DBGPT_AUTH for a rejected key; the key appears in no log, message, status or error", async () => {
    emu.configure({ apiKeys: [KEY] });
    const c = await loadChat(emu.url, { chatMode: "chat_normal" }, {}, { cfg: { apiKey: WRONG_KEY } });
    const caught = await failing(c, { payload: "hi" });
    assertFailure(caught, "DBGPT_AUTH", { message: /key/i });
    assert.equal(emu.chatRequests()[0].headers.authorization, `Bearer ${WRONG_KEY}`);
    const everything = JSON.stringify([c.stream, c.final, c.caught, c.statuses]) + logText();
    assert.ok(!everything.includes(WRONG_KEY));
  });

  it("sends the key as a bearer header and never shows it, in success and failure", async () => {
    emu.configure({ apiKeys: [KEY] });
    const c = await loadChat(emu.url, { chatMode: "chat_normal" }, {}, { cfg: { apiKey: KEY } });
    c.node.receive({ payload: "hello" });
    await waitFor(() => c.final.length === 1, "the answer");
    await failing(c, { payload: "[server-error] boom" });
    await failing(c, { payload: 42 });
    assert.equal(emu.chatRequests()[0].headers.authorization, `Bearer ${KEY}`);
    await sleep(300);
    const everything = JSON.stringify([c.stream, c.final, c.caught, c.statuses]) + logText();
    assert.ok(!everything.includes(KEY), "the key leaked");
    assert.ok(!everything.includes("SECRET"), "part of the key leaked");
  });

  it("never shows the key even when the server echoes it in an error", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" }, {}, { cfg: { apiKey: KEY } });
    const body = JSON.stringify({
      success: false,
      err_code: "E0003",
      err_msg: `bad header Bearer ${KEY}`,
      data: null,
    });
    emu.fault({ status: { status: 400, body, contentType: "application/json" } });
    const caught = await failing(c, { payload: "hi" });
    assert.equal(caught.error.code, "DBGPT_BAD_REQUEST");
    const everything = JSON.stringify([c.caught, c.statuses]) + logText();
    assert.ok(!everything.includes(KEY), "the echoed key leaked");
  });

  it("resolves ${ENV_VAR} keys; an unset one is warned about by name and no key is sent", async () => {
    process.env.DBGPT_NODE_TEST_KEY = KEY;
    try {
      emu.configure({ apiKeys: [KEY] });
      let c = await loadChat(
        emu.url,
        { chatMode: "chat_normal" },
        {},
        { cfg: { apiKey: "${DBGPT_NODE_TEST_KEY}" } },
      );
      c.node.receive({ payload: "hello" });
      await waitFor(() => c.final.length === 1, "the answer");
      assert.equal(emu.chatRequests()[0].headers.authorization, `Bearer ${KEY}`);
      assert.ok(!logText().includes(KEY));
      await helper.unload();
      emu.reset();

      c = await loadChat(
        emu.url,
        { chatMode: "chat_normal" },
        {},
        { cfg: { apiKey: "${DBGPT_NODE_TEST_UNSET}" } },
      );
      const caught = await failing(c, { payload: "hello" });
      assert.equal(caught.error.code, "DBGPT_AUTH");
      assert.equal(emu.chatRequests()[0].headers.authorization, undefined, "no key is sent");
      const warnings = logLines(helper.log().WARN, "DBGPT_NODE_TEST_UNSET");
      assert.equal(warnings.length, 1);
    } finally {
      delete process.env.DBGPT_NODE_TEST_KEY;
    }
  });

  it("rejects bad inputs with DBGPT_INVALID_INPUT before any request and answers the next good message", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" });
    const bad = [
      42,
      {},
      "",
      "   ",
      null,
      [],
      [{ role: "system", content: "only system" }],
      [{ role: "user" }],
      { text: "x" },
      true,
    ];
    for (const payload of bad) {
      const caught = await failing(c, { payload, topic: "bad" });
      assertFailure(caught, "DBGPT_INVALID_INPUT", { payload, partial: "" });
    }
    for (const msg of [
      { payload: "q", temperature: "hot" },
      { payload: "q", max_new_tokens: 1.5 },
      { payload: "q", requestTimeout: -1 },
      { payload: "q", conv_uid: { a: 1 } },
    ]) {
      assertFailure(await failing(c, msg), "DBGPT_INVALID_INPUT");
    }
    assert.equal(emu.chatRequests().length, 0);
    c.node.receive({ payload: "good question" });
    await waitFor(() => c.final.length === 1, "the good answer");
    assert.equal(c.caught.length, bad.length + 4);
    await sleep(300);
    assert.deepEqual(c.statuses.at(-1), {}, "the status clears after the good answer");
  });

  it("a TypedInput that cannot be read is DBGPT_INVALID_INPUT naming it, at once or later (JSONata)", async () => {
    const cases = [
      [{ input: "a[", inputType: "msg" }, /input: cannot read msg "a\["/],
      [
        { chatParam: "$error('no space')", chatParamType: "jsonata" },
        /chat param: cannot read jsonata .*no space/,
      ],
      [{ convUid: "$$$(", convUidType: "jsonata" }, /conversation id: cannot read jsonata/],
      // A JSONata input still pending when a later one fails at once: that failure, and nothing unhandled.
      [
        { input: "$error('late')", inputType: "jsonata", chatParam: "a[", chatParamType: "msg" },
        /chat param: cannot read msg "a\[/,
      ],
    ];
    const unhandled = [];
    const onUnhandled = (reason) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      for (const [props, message] of cases) {
        const c = await loadChat(emu.url, {
          chatMode: "chat_knowledge",
          chatParam: "default_space",
          ...props,
        });
        assertFailure(await failing(c, { payload: "hi" }), "DBGPT_INVALID_INPUT", { message, partial: "" });
        c.node.receive({ payload: "hi", topic: "again" });
        await waitFor(() => c.caught.length === 2, "the second failure: the node keeps serving");
        await sleep(50);
        await helper.unload();
      }
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    assert.deepEqual(unhandled, []);
    assert.equal(emu.chatRequests().length, 0);
  });

  it("an empty chat param outside chat_normal is DBGPT_INVALID_INPUT before any request", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_app", chatParam: "" });
    const caught = await failing(c, { payload: "hi" });
    assertFailure(caught, "DBGPT_INVALID_INPUT", { message: /chat param/ });
    assert.equal(emu.chatRequests().length, 0);
  });

  it("a chat node setting that cannot work fails every request with DBGPT_INVALID_INPUT naming it", async () => {
    const cases = [
      [{ chatMode: "chat_bogus" }, /chat mode/],
      [{ chatMode: "chat_normal", temperature: "hot" }, /temperature/],
      [{ chatMode: "chat_normal", maxNewTokens: -3 }, /maxNewTokens/],
      [{ chatMode: "chat_normal", maxConcurrent: "many" }, /max concurrent/],
    ];
    for (const [chat, message] of cases) {
      const c = await loadChat(emu.url, chat);
      assertFailure(await failing(c, { payload: "q" }), "DBGPT_INVALID_INPUT", { message, partial: "" });
      await helper.unload();
    }
    assert.equal(emu.chatRequests().length, 0);
  });

  it("a config that cannot work is logged once; every request fails with DBGPT_INVALID_INPUT", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" }, { baseUrl: "ftp://example.invalid" });
    for (let i = 0; i < 3; i++) assertFailure(await failing(c, { payload: `q${i}` }), "DBGPT_INVALID_INPUT");
    const configErrors = logLines(helper.log().ERROR).filter((entry) => entry.type === "dbgpt-config");
    assert.equal(configErrors.length, 1);
    await waitFor(() => c.statuses.some((s) => s.fill === "red"), "a red ring");
  });

  it("a key with a line break is a configuration error, logged once without the key", async () => {
    const badKey = "sk-line\r\nbreak-SECRET";
    const c = await loadChat(emu.url, { chatMode: "chat_normal" }, {}, { cfg: { apiKey: badKey } });
    for (let i = 0; i < 2; i++) assertFailure(await failing(c, { payload: `q${i}` }), "DBGPT_INVALID_INPUT");
    const configErrors = logLines(helper.log().ERROR).filter((entry) => entry.type === "dbgpt-config");
    assert.equal(configErrors.length, 1);
    assert.ok(!logText().includes("break-SECRET"));
    assert.equal(emu.chatRequests().length, 0);
  });

  it("an unset ${ENV_VAR} base URL is a configuration error naming the variable", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" }, { baseUrl: "${DBGPT_NODE_TEST_NO_URL}" });
    assertFailure(await failing(c, { payload: "q" }), "DBGPT_INVALID_INPUT");
    const configErrors = logLines(helper.log().ERROR, "DBGPT_NODE_TEST_NO_URL");
    assert.equal(configErrors.length, 1);
  });

  it("a pasted /api/v2 suffix is stripped with a warning", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" }, { baseUrl: `${emu.url}/api/v2/` });
    c.node.receive({ payload: "hi" });
    await waitFor(() => c.final.length === 1, "the answer");
    assert.equal(emu.chatRequests()[0].path, "/api/v2/chat/completions");
    assert.equal(logLines(helper.log().WARN).filter((e) => e.type === "dbgpt-config").length, 1);
  });

  it("a missing server is DBGPT_INVALID_INPUT with a red ring", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal", server: "" });
    assertFailure(await failing(c, { payload: "q" }), "DBGPT_INVALID_INPUT", { message: /server/ });
    await waitFor(() => c.statuses.some((s) => s.fill === "red"), "a red ring");
  });
});
