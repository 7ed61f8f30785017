"use strict";
const assert = require("node:assert/strict");
const { answerFor, reasoningFor, APP_CODES } = require("../../emulator");
const {
  helper,
  NODES,
  useEmulatorSuite,
  flowWith,
  collect,
  waitFor,
  sleep,
  fold,
  logLines,
  splitNodes,
  splitter,
  loadChat,
  chatNode,
} = require("./helpers");

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FINAL_KEYS = [
  "charts",
  "chat_mode",
  "chunks",
  "code",
  "conv_uid",
  "durationMs",
  "firstTokenMs",
  "id",
  "model",
  "queuedMs",
  "reasoning",
  "references",
  "tools",
  "type",
];

/** Chat node properties for TypedInputs: { name: [type, value] } -> { name: value, nameType: type }. */
function typedInputs(inputs) {
  return Object.fromEntries(
    Object.entries(inputs).flatMap(([name, [type, value]]) => [
      [name, value],
      [`${name}Type`, type],
    ]),
  );
}

/** Sends one message and waits for its final message (or failure). */
async function ask(c, msg, count = c.final.length + c.caught.length + 1) {
  c.node.receive(msg);
  await waitFor(() => c.final.length + c.caught.length >= count, "the answer", 10000);
  if (c.caught.length > 0) assert.fail(`unexpected failure: ${c.caught[0].error.message}`);
  return c.final[c.final.length - 1];
}

const MODES = [
  { chatMode: "chat_normal", chatParam: "" },
  { chatMode: "chat_knowledge", chatParam: "default_space" },
  { chatMode: "chat_data", chatParam: "dbgpt_test" },
  { chatMode: "chat_with_db_qa", chatParam: "dbgpt_test" },
  { chatMode: "chat_dashboard", chatParam: "dbgpt_test" },
  { chatMode: "chat_flow", chatParam: "flow-1" },
  { chatMode: "chat_app", chatParam: APP_CODES.singleAgent },
];

describe("dbgpt-chat output", function () {
  let emu;
  useEmulatorSuite((started) => (emu = started));

  for (const { chatMode, chatParam } of MODES) {
    it(`${chatMode}: streams deltas that fold into the final answer, then one final message`, async () => {
      const c = await loadChat(emu.url, { chatMode, chatParam });
      const question = `What is in ${chatMode}?`;
      const final = await ask(c, { payload: question, topic: "q", _msgid: "msg-1", keep: { a: 1 } });
      await sleep(50);

      // The stream output.
      assert.ok(c.stream.length > 0);
      c.stream.forEach((m, i) => {
        assert.ok(["delta", "replace"].includes(m.dbgpt.type), m.dbgpt.type);
        assert.equal(typeof m.payload, "string");
        assert.notEqual(m.payload, "");
        assert.deepEqual(Object.keys(m.dbgpt).sort(), [
          "chat_mode",
          "conv_uid",
          "id",
          "index",
          "model",
          "type",
        ]);
        assert.equal(m.dbgpt.index, i);
        assert.equal(m.dbgpt.chat_mode, chatMode);
        assert.equal(m.dbgpt.conv_uid, final.conv_uid);
        assert.equal(m.dbgpt.model, "chatgpt_proxyllm");
        assert.equal(m.dbgpt.id, final.dbgpt.id);
        assert.deepEqual(Object.keys(m).sort(), ["_msgid", "dbgpt", "keep", "payload", "topic"]);
        assert.equal(m.topic, "q");
        assert.equal(m._msgid, "msg-1");
        assert.equal(m.conv_uid, undefined, "stream messages add no conv_uid");
      });
      assert.equal(fold(c.stream), final.payload);
      assert.equal(final.payload, answerFor(question, { chatMode }));

      // The complete output.
      assert.equal(c.final.length, 1);
      assert.deepEqual(Object.keys(final).sort(), [
        "_msgid",
        "conv_uid",
        "dbgpt",
        "keep",
        "payload",
        "topic",
      ]);
      assert.match(final.conv_uid, UUID);
      const expectedKeys =
        chatMode === "chat_app" ? [...FINAL_KEYS, "messages", "plans", "raw"].sort() : FINAL_KEYS;
      assert.deepEqual(Object.keys(final.dbgpt).sort(), expectedKeys);
      assert.equal(final.dbgpt.type, "final");
      assert.equal(final.dbgpt.conv_uid, final.conv_uid);
      assert.equal(final.dbgpt.chat_mode, chatMode);
      assert.equal(final.dbgpt.model, "chatgpt_proxyllm");
      assert.equal(final.dbgpt.reasoning, "");
      assert.ok(final.dbgpt.chunks >= c.stream.length);
      for (const key of ["queuedMs", "firstTokenMs", "durationMs"]) {
        assert.equal(typeof final.dbgpt[key], "number", key);
        assert.ok(final.dbgpt[key] >= 0, key);
      }
      assert.ok(final.dbgpt.firstTokenMs <= final.dbgpt.durationMs);
      if (chatMode === "chat_normal") assert.match(final.dbgpt.id, /^chatcmpl-/);
      if (chatMode === "chat_flow" || chatMode === "chat_app") assert.equal(final.dbgpt.id, final.conv_uid);
      if (chatMode === "chat_app") {
        assert.equal(typeof final.dbgpt.raw, "string");
        assert.match(final.dbgpt.raw, /```agent-messages/);
        assert.ok(Array.isArray(final.dbgpt.messages) && final.dbgpt.messages.length > 0);
        assert.ok(Array.isArray(final.dbgpt.plans));
      }

      // One request, as sent.
      const requests = emu.chatRequests();
      assert.equal(requests.length, 1);
      const body = requests[0].body;
      assert.equal(body.chat_mode, chatMode);
      assert.equal(body.messages, question);
      assert.equal(body.stream, true);
      assert.equal(body.conv_uid, final.conv_uid);
      assert.equal(body.temperature, null);
      if (chatParam) assert.equal(body.chat_param, chatParam);

      // done() once: the Complete node fired once, nothing was caught.
      assert.equal(c.completed.length, 1);
      assert.equal(c.caught.length, 0);
    });
  }

  it("chat_app: a new agent speaking gives a replace; folding still gives the final answer", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_app", chatParam: APP_CODES.autoPlan });
    const final = await ask(c, { payload: "[multi-agent] plan it" });
    assert.ok(c.stream.some((m) => m.dbgpt.type === "replace"));
    assert.equal(fold(c.stream), final.payload);
    assert.ok(final.dbgpt.plans.length > 0, "the agent-plans block is parsed");
    assert.ok(final.dbgpt.messages.length > 1, "messages nested in plans are found");
  });

  it("chat_app: plain text after the last vis block is the answer", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_app", chatParam: APP_CODES.singleAgent });
    const final = await ask(c, { payload: "[final-text] finish" });
    assert.equal(fold(c.stream), final.payload);
    assert.equal(final.payload, answerFor("[final-text] finish", { chatMode: "chat_app" }));
  });

  it("reasoning: hidden from the stream by default, emitted as type reasoning when asked", async () => {
    const question = "[think] why?";
    let c = await loadChat(emu.url, { chatMode: "chat_normal" });
    let final = await ask(c, { payload: question });
    assert.ok(c.stream.every((m) => m.dbgpt.type !== "reasoning"));
    assert.equal(final.dbgpt.reasoning, reasoningFor(question));
    assert.equal(final.payload, answerFor(question));
    await helper.unload();

    c = await loadChat(emu.url, { chatMode: "chat_normal", emitReasoning: true });
    final = await ask(c, { payload: question });
    const reasoning = c.stream.filter((m) => m.dbgpt.type === "reasoning");
    assert.ok(reasoning.length > 0);
    assert.equal(reasoning.map((m) => m.payload).join(""), final.dbgpt.reasoning);
    assert.equal(fold(c.stream), final.payload);
    c.stream.forEach((m, i) => assert.equal(m.dbgpt.index, i));
  });

  it("stream off: no stream messages; the final message carries usage", async () => {
    const c = await loadChat(emu.url, {
      chatMode: "chat_knowledge",
      chatParam: "default_space",
      stream: false,
    });
    const final = await ask(c, { payload: "what is known?" });
    await sleep(50);
    assert.equal(c.stream.length, 0);
    assert.equal(final.payload, answerFor("what is known?", { chatMode: "chat_knowledge", stream: false }));
    assert.equal(typeof final.dbgpt.usage, "object");
    assert.equal(emu.chatRequests()[0].body.stream, false);
  });

  it("stream off with chat_app: streams on the wire, sends only the final message", async () => {
    const c = await loadChat(emu.url, {
      chatMode: "chat_app",
      chatParam: APP_CODES.singleAgent,
      stream: false,
    });
    const final = await ask(c, { payload: "hello app" });
    await sleep(50);
    assert.equal(c.stream.length, 0);
    assert.equal(final.payload, answerFor("hello app", { chatMode: "chat_app" }));
    assert.equal(emu.chatRequests()[0].body.stream, true);
    assert.ok(Array.isArray(final.dbgpt.messages));
  });

  it("generates a conv_uid per request, sends it, returns it, and reuses a given one", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" });
    const first = await ask(c, { payload: "one" });
    const second = await ask(c, { payload: "two" });
    assert.match(first.conv_uid, UUID);
    assert.match(second.conv_uid, UUID);
    assert.notEqual(first.conv_uid, second.conv_uid);
    assert.deepEqual(
      emu.chatRequests().map((r) => r.body.conv_uid),
      [first.conv_uid, second.conv_uid],
    );

    // Continue the first conversation: the server sees its history.
    const third = await ask(c, { payload: "[echo-history] recap", conv_uid: first.conv_uid });
    assert.equal(third.conv_uid, first.conv_uid);
    assert.equal(emu.chatRequests()[2].body.conv_uid, first.conv_uid);
    assert.match(third.payload, /one/);
    assert.doesNotMatch(third.payload, /two/);
  });

  it("takes blank fields from msg (numeric strings accepted) and node fields over msg", async () => {
    let c = await loadChat(emu.url, { chatMode: "chat_normal" });
    await ask(c, {
      payload: "q",
      temperature: "0.25",
      max_new_tokens: "64",
      user_name: "alice",
      sys_code: "sys-1",
    });
    let body = emu.chatRequests()[0].body;
    assert.equal(body.temperature, 0.25);
    assert.equal(body.max_new_tokens, 64);
    assert.equal(body.max_tokens, 64);
    assert.equal(body.user_name, "alice");
    assert.equal(body.sys_code, "sys-1");
    await helper.unload();
    emu.reset();

    c = await loadChat(emu.url, {
      chatMode: "chat_normal",
      temperature: 0.5,
      maxNewTokens: "128",
      userName: "bob",
      sysCode: "node-sys",
      model: "gpt-4o",
    });
    const final = await ask(c, {
      payload: "q",
      temperature: 0.9,
      max_new_tokens: 7,
      user_name: "alice",
      sys_code: "x",
    });
    body = emu.chatRequests()[0].body;
    assert.equal(body.temperature, 0.5);
    assert.equal(body.max_new_tokens, 128);
    assert.equal(body.max_tokens, 128);
    assert.equal(body.user_name, "bob");
    assert.equal(body.sys_code, "node-sys");
    assert.equal(body.model, "gpt-4o");
    assert.equal(final.dbgpt.model, "gpt-4o");
  });

  it("reads model, chat param, input and conversation id from TypedInputs", async () => {
    const c = await loadChat(emu.url, {
      chatMode: "chat_knowledge",
      ...typedInputs({
        chatParam: ["msg", "space"],
        model: ["env", "DBGPT_TEST_MODEL"],
        input: ["msg", "question.text"],
        convUid: ["flow", "session"],
      }),
    });
    process.env.DBGPT_TEST_MODEL = "gpt-4o";
    try {
      c.node.context().flow.set("session", "flow-conv-1");
      const final = await ask(c, {
        payload: "ignored",
        question: { text: "from msg" },
        space: "default_space",
      });
      const body = emu.chatRequests()[0].body;
      assert.equal(body.messages, "from msg");
      assert.equal(body.chat_param, "default_space");
      assert.equal(body.model, "gpt-4o");
      assert.equal(body.conv_uid, "flow-conv-1");
      assert.equal(final.conv_uid, "flow-conv-1");
    } finally {
      delete process.env.DBGPT_TEST_MODEL;
    }
  });

  it("reads JSONata TypedInputs, which Node-RED answers later, like the others", async () => {
    const c = await loadChat(emu.url, {
      chatMode: "chat_knowledge",
      ...typedInputs({
        chatParam: ["jsonata", '"default_" & space'],
        model: ["msg", "llm"],
        input: ["jsonata", '"Q: " & payload'],
        convUid: ["jsonata", '$string(n) & "-conv"'],
      }),
    });
    const final = await ask(c, { payload: "hi", space: "space", n: 7, llm: "gpt-4o" });
    const body = emu.chatRequests()[0].body;
    assert.equal(body.model, "gpt-4o");
    assert.equal(body.messages, "Q: hi");
    assert.equal(body.chat_param, "default_space");
    assert.equal(body.conv_uid, "7-conv");
    assert.equal(final.payload, answerFor("Q: hi", { chatMode: "chat_knowledge" }));
    assert.equal(final.conv_uid, "7-conv");
  });

  it("sends the last user message of an OpenAI-style array and warns once", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" });
    const messages = [
      { role: "system", content: "be brief" },
      { role: "user", content: "first question" },
      { role: "assistant", content: "an answer" },
      { role: "user", content: "second question" },
    ];
    const final = await ask(c, { payload: messages });
    await ask(c, { payload: [{ role: "user", content: [{ type: "text", text: "parts" }] }] });
    assert.equal(emu.chatRequests()[0].body.messages, "second question");
    assert.equal(emu.chatRequests()[1].body.messages, "parts");
    assert.equal(final.payload, answerFor("second question"));
    assert.equal(final.payload === undefined, false);
    assert.equal(logLines(helper.log().WARN, "messages array").length, 1);
  });

  it("keeps msg.parts untouched on both outputs, so split -> chat -> join works", async () => {
    const flow = flowWith(emu.url, [
      splitter(["chat"]),
      chatNode({ wires: [["stream"], ["joiner"]] }),
      { id: "stream", type: "helper" },
      {
        id: "joiner",
        type: "join",
        mode: "auto",
        build: "array",
        property: "payload",
        propertyType: "msg",
        key: "topic",
        joiner: "\\n",
        joinerType: "str",
        accumulate: false,
        timeout: "",
        count: "",
        reduceRight: false,
        wires: [["joined"]],
      },
      { id: "joined", type: "helper" },
    ]);
    await helper.load([...NODES, splitNodes], flow);
    const stream = collect("stream");
    const joined = collect("joined");
    helper.getNode("splitter").receive({ payload: ["alpha", "beta", "gamma"] });
    await waitFor(() => joined.length === 1, "the joined answers", 10000);
    assert.deepEqual(
      [...joined[0].payload].sort(),
      ["alpha", "beta", "gamma"].map((q) => answerFor(q)).sort(),
    );
    assert.ok(stream.length > 0);
    for (const m of stream) {
      assert.equal(typeof m.parts, "object");
      assert.equal(m.parts.count, 3);
    }
  });
});
