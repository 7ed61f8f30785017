"use strict";
const assert = require("node:assert/strict");
const { answerFor } = require("../../emulator");
const {
  helper,
  NODES,
  useEmulatorSuite,
  chatFlow,
  collect,
  waitFor,
  sleep,
  fold,
  logLines,
  loadChat,
} = require("./helpers");

const finalFor = (c, convUid) => c.final.find((m) => m.conv_uid === convUid);
const streamFor = (c, convUid) => c.stream.filter((m) => m.dbgpt.conv_uid === convUid);

describe("dbgpt-chat control: stop, queue, close, concurrency, status", function () {
  let emu;
  useEmulatorSuite((started) => (emu = started));

  const unhandled = [];
  const onUnhandled = (reason) => unhandled.push(reason);
  before(() => process.on("unhandledRejection", onUnhandled));
  after(() => {
    process.off("unhandledRejection", onUnhandled);
    assert.deepEqual(unhandled, [], "no unhandled rejection");
  });

  it("msg.stop mid-stream ends the request with a stopped final holding the partial text", async () => {
    emu.configure({ delayMs: 10 });
    const c = await loadChat(emu.url, { chatMode: "chat_normal" });
    const question = "[long:400] stop me";
    c.node.receive({ payload: question, topic: "q" });
    await waitFor(() => c.stream.length >= 5, "some deltas");
    c.node.receive({ stop: true, topic: "stop" });
    await waitFor(() => c.final.length === 1, "the stopped final");
    const final = c.final[0];
    assert.equal(final.dbgpt.stopped, true);
    assert.equal(final.dbgpt.type, "final");
    assert.equal(final.topic, "q");
    assert.equal(final.payload, fold(c.stream));
    assert.ok(final.payload.length > 0 && final.payload.length < answerFor(question).length);
    assert.ok(answerFor(question).startsWith(final.payload));
    await emu.waitForConnections(0, 3000);
    await sleep(100);
    assert.equal(c.caught.length, 0, "a stop is not an error");
    assert.equal(c.final.length, 1, "the stop message itself gives no output");
    assert.deepEqual(
      c.completed.map((m) => m.topic).sort(),
      ["q", "stop"],
      "done() once per input, the stop included",
    );
    assert.equal(logLines(helper.log().ERROR).length, 0);
  });

  it("msg.stop with msg.conv_uid stops only that conversation", async () => {
    emu.configure({ delayMs: 5 });
    const c = await loadChat(emu.url, { chatMode: "chat_normal" });
    c.node.receive({ payload: "[long:150] A", conv_uid: "conv-A" });
    c.node.receive({ payload: "[long:150] B", conv_uid: "conv-B" });
    await waitFor(
      () => streamFor(c, "conv-A").length >= 3 && streamFor(c, "conv-B").length >= 3,
      "both streaming",
    );
    c.node.receive({ stop: true, conv_uid: "conv-A" });
    await waitFor(() => c.final.length === 2, "both finals", 10000);
    assert.equal(finalFor(c, "conv-A").dbgpt.stopped, true);
    assert.equal(finalFor(c, "conv-B").dbgpt.stopped, undefined);
    assert.equal(finalFor(c, "conv-B").payload, answerFor("[long:150] B"));
    assert.equal(fold(streamFor(c, "conv-A")), finalFor(c, "conv-A").payload);
  });

  it("max concurrent: extra messages wait in order, never interleave, and queuedMs counts the wait", async () => {
    emu.configure({ delayMs: 10 });
    const c = await loadChat(emu.url, { chatMode: "chat_normal", maxConcurrent: 1 });
    const questions = ["[long:30] one", "[long:30] two", "[long:30] three"];
    questions.forEach((q, i) => c.node.receive({ payload: q, conv_uid: `q${i}` }));
    await waitFor(() => c.final.length === 3, "three finals", 10000);
    assert.deepEqual(
      c.final.map((m) => m.payload),
      questions.map((q) => answerFor(q)),
    );
    // One at a time: the stream messages of one request are never interleaved with another's.
    const order = c.stream.map((m) => m.dbgpt.conv_uid).filter((id, i, all) => i === 0 || all[i - 1] !== id);
    assert.deepEqual(order, ["q0", "q1", "q2"]);
    assert.ok(c.final[2].dbgpt.queuedMs >= c.final[0].dbgpt.durationMs, "the third waited for the first");
    assert.ok(c.final[0].dbgpt.queuedMs < 50);
    assert.deepEqual(
      emu.chatRequests().map((r) => r.body.conv_uid),
      ["q0", "q1", "q2"],
    );
    assert.ok(
      c.statuses.some((status) => /queued/.test(status.text || "")),
      "the status shows the queue",
    );
  });

  it("msg.stop empties the queue: queued requests end with payload '' and stopped", async () => {
    emu.fault({ stall: "before-headers" });
    const c = await loadChat(emu.url, { chatMode: "chat_normal", maxConcurrent: 1 });
    c.node.receive({ payload: "first", topic: "t0" });
    await waitFor(() => emu.chatRequests().length === 1, "the first request");
    c.node.receive({ payload: "second", topic: "t1" });
    c.node.receive({ payload: "third", topic: "t2" });
    await sleep(20);
    c.node.receive({ stop: true });
    await waitFor(() => c.final.length === 3, "three stopped finals");
    for (const m of c.final) {
      assert.equal(m.dbgpt.stopped, true);
      assert.equal(m.payload, "");
    }
    const queued = c.final.filter((m) => m.topic !== "t0");
    assert.equal(queued.length, 2);
    for (const m of queued) {
      assert.equal(m.dbgpt.chunks, 0);
      assert.equal(m.dbgpt.firstTokenMs, null);
      assert.equal(m.dbgpt.durationMs, 0);
      assert.equal(typeof m.dbgpt.queuedMs, "number");
      assert.equal(typeof m.conv_uid, "string");
    }
    assert.equal(emu.chatRequests().length, 1, "the queued ones never reached the server");
    await emu.waitForConnections(0, 3000);
    await waitFor(() => c.completed.length === 4, "done() for the three and the stop");
    assert.equal(c.caught.length, 0);
  });

  it("warns once when the queue passes 1,000 messages, and drops none", async () => {
    emu.fault({ stall: "before-headers" });
    const c = await loadChat(emu.url, { chatMode: "chat_normal", maxConcurrent: 1 });
    c.node.receive({ payload: "blocker" });
    await waitFor(() => emu.chatRequests().length === 1, "the first request");
    for (let i = 0; i < 1005; i++) c.node.receive({ payload: `q${i}` });
    await waitFor(
      () => c.statuses.some((status) => /1005 queued/.test(status.text || "")),
      "1005 queued",
      10000,
    );
    const warnings = logLines(helper.log().WARN, "1000");
    assert.equal(warnings.length, 1);
    c.node.receive({ stop: true });
    await waitFor(() => c.final.length === 1006, "every message answered", 10000);
    assert.ok(c.final.every((m) => m.dbgpt.stopped === true));
  });

  it("redeploying mid-stream aborts without Catch or error log and leaves no connection open", async () => {
    emu.configure({ delayMs: 10 });
    const flow = chatFlow(emu.url, { chatMode: "chat_normal" });
    await helper.load(NODES, flow);
    const chat = helper.getNode("chat");
    const stream = collect("stream");
    const final = collect("final");
    const caught = collect("caught");
    chat.receive({ payload: "[long:500] a" });
    chat.receive({ payload: "[long:500] b" });
    await waitFor(() => stream.length >= 10 && emu.openConnections() >= 2, "two streams");
    const started = Date.now();
    const changed = chatFlow(emu.url, { chatMode: "chat_normal", name: "redeployed" });
    await helper.setFlows(changed, "full");
    await emu.waitForConnections(0, 3000);
    assert.ok(Date.now() - started < 5000, "within the close budget");
    await sleep(100);
    assert.equal(caught.length, 0);
    assert.equal(final.length, 0);
    assert.equal(logLines(helper.log().ERROR).length, 0);
  });

  it("20 concurrent chats do not cross-talk", async () => {
    emu.configure({ delayMs: 1 });
    const c = await loadChat(emu.url, { chatMode: "chat_normal" });
    const asks = Array.from({ length: 20 }, (_, i) => ({
      payload: `[long:${20 + i}] question ${i}`,
      conv_uid: `conv-${i}`,
      _msgid: `msg-${i}`,
    }));
    for (const msg of asks) c.node.receive(msg);
    await waitFor(() => c.final.length === 20, "twenty finals", 15000);
    for (const msg of asks) {
      const final = finalFor(c, msg.conv_uid);
      assert.equal(final._msgid, msg._msgid);
      assert.equal(final.payload, answerFor(msg.payload));
      const stream = streamFor(c, msg.conv_uid);
      assert.equal(fold(stream), final.payload);
      assert.ok(stream.every((m) => m._msgid === msg._msgid));
      stream.forEach((m, i) => assert.equal(m.dbgpt.index, i));
    }
    await sleep(50);
    assert.equal(c.completed.length, 20);
    assert.equal(c.caught.length, 0);
  });

  it("status: blue requesting, green N streaming with the queue, cleared when idle, at most 4 updates a second", async () => {
    emu.configure({ delayMs: 10 });
    emu.fault({ firstEventDelayMs: 300 });
    const c = await loadChat(emu.url, { chatMode: "chat_normal", maxConcurrent: 2 });
    // The status shows the state at the end of the turn: the first request alone, then the rest.
    c.node.receive({ payload: "[long:60] s0" });
    await sleep(20);
    for (let i = 1; i < 3; i++) c.node.receive({ payload: `[long:60] s${i}` });
    await waitFor(() => c.final.length === 3, "three finals", 15000);
    await sleep(400);
    const shown = c.statuses;
    assert.ok(
      shown.some((s) => s.fill === "blue" && s.shape === "dot" && s.text === "dbgpt.status.requesting"),
      "requesting",
    );
    assert.ok(
      shown.some((s) => s.fill === "green" && s.shape === "dot" && /^2 streaming, 1 queued$/.test(s.text)),
    );
    assert.ok(shown.some((s) => s.fill === "green" && /^\d streaming$/.test(s.text)));
    assert.deepEqual(shown.at(-1), {}, "cleared when idle");
    const times = c.statusTimes;
    for (let i = 0; i < times.length; i++) {
      const inWindow = times.filter((t) => t >= times[i] && t < times[i] + 1000).length;
      assert.ok(inWindow <= 4, `${inWindow} status updates within one second`);
    }
    assert.ok(c.stream.length > 150 && c.statuses.length < 20, "no status per delta");
  });

  it("many short requests in a row still give at most 4 status updates a second, ending cleared", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal", stream: false });
    for (let i = 0; i < 40; i++) {
      c.node.receive({ payload: `quick ${i}` });
      await sleep(15);
    }
    await waitFor(() => c.final.length === 40, "forty answers", 10000);
    await sleep(400);
    const times = c.statusTimes;
    for (let i = 0; i < times.length; i++) {
      const inWindow = times.filter((t) => t >= times[i] && t < times[i] + 1000).length;
      assert.ok(inWindow <= 4, `${inWindow} status updates within one second`);
    }
    assert.deepEqual(c.statuses.at(-1), {}, "the trailing update shows the idle state");
  });

  it("a red ring stays until the next request starts", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" });
    c.node.receive({ payload: "[server-error] bad" });
    await waitFor(() => c.caught.length === 1, "the failure");
    await sleep(400);
    assert.equal(c.statuses.at(-1).fill, "red");
    assert.equal(c.statuses.at(-1).shape, "ring");
    assert.equal(c.statuses.at(-1).text, "dbgpt.status.error.DBGPT_STREAM_ERROR");
    c.node.receive({ payload: "fine" });
    await waitFor(() => c.final.length === 1, "the answer");
    await sleep(400);
    assert.deepEqual(c.statuses.at(-1), {});
  });

  // (The test helper spies on every send and log call, so this is a correctness test, not a benchmark.)
  it("a 10,000-delta stream folds exactly into one final message", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" });
    const question = "[long:10000] big";
    c.node.receive({ payload: question });
    await waitFor(() => c.final.length === 1, "the final", 30000);
    assert.equal(c.stream.length, 10000);
    assert.equal(c.stream[9999].dbgpt.index, 9999);
    assert.equal(fold(c.stream), c.final[0].payload);
    assert.equal(c.final[0].payload, answerFor(question));
    await sleep(50);
    assert.equal(c.completed.length, 1);
  });
});

describe("status updates (shared/status.ts)", function () {
  const { StatusIndicator } = require("../../nodes/lib/nodes/shared/status.js");

  it("closing with an update pending (immediate or 250 ms timer) clears the status, shows nothing after, and later immediates run", async () => {
    for (const pending of ["timer", "immediate"]) {
      const shown = [];
      let active = 1;
      const status = new StatusIndicator(
        { status: (s) => shown.push(s) },
        (key) => key,
        () => ({
          active,
          streaming: 0,
          queued: 0,
        }),
      );
      status.refresh();
      if (pending === "timer") {
        await new Promise((resolve) => setImmediate(resolve)); // shown now: the next one waits 250 ms
        active = 2;
        status.refresh();
      }
      status.close();
      const ran = await Promise.race([
        new Promise((resolve) => setImmediate(() => resolve("immediate"))),
        new Promise((resolve) => setTimeout(() => resolve("nothing"), 500)),
      ]);
      assert.equal(ran, "immediate", `a later setImmediate still runs (${pending} pending at close)`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(shown.at(-1), {}, "cleared at close, nothing shown after it");
    }
  });
});
