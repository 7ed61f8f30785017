"use strict";
// The deadline (config `deadline`, msg.deadline) and exactly one outcome per request, in real flows.
const assert = require("node:assert/strict");
const {
  helper,
  NODES,
  useEmulatorSuite,
  flowWith,
  chatNode,
  collect,
  loadChat,
  waitFor,
  sleep,
  logLines,
} = require("./helpers");

/** A chat node whose complete output is wired to two nodes (Node-RED clones the message for the second). */
async function loadTwoWireChat(baseUrl, chat = {}, config = {}) {
  const flow = flowWith(
    baseUrl,
    [
      chatNode({ wires: [["stream"], ["final", "final2"]], ...chat }),
      { id: "stream", type: "helper" },
      { id: "final", type: "helper" },
      { id: "final2", type: "helper" },
      { id: "catcher", type: "catch", scope: ["chat"], uncaught: false, wires: [["caught"]] },
      { id: "caught", type: "helper" },
    ],
    config,
  );
  await helper.load(NODES, flow);
  return {
    node: helper.getNode("chat"),
    final: collect("final"),
    final2: collect("final2"),
    caught: collect("caught"),
  };
}

/** An object nested `levels` deep, built without recursion. */
function nested(levels) {
  let value = { end: true };
  for (let i = 0; i < levels; i++) value = { inner: value };
  return value;
}

describe("dbgpt-chat deadline and one outcome per request", function () {
  let emu;
  useEmulatorSuite((started) => (emu = started));

  it("the server's deadline stops a chat that drips steadily: DBGPT_TIMEOUT with the partial text", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" }, { timeout: 10, deadline: 0.5 });
    emu.fault({ drip: { bytes: 20, intervalMs: 30 } });
    const started = Date.now();
    c.node.receive({ payload: "[long:500] drip" });
    await waitFor(() => c.caught.length === 1, "the failure", 5000);
    const elapsed = Date.now() - started;
    const caught = c.caught[0];
    assert.equal(caught.error.code, "DBGPT_TIMEOUT");
    assert.match(caught.error.message, /deadline/);
    assert.equal(caught.dbgpt.error.code, "DBGPT_TIMEOUT");
    assert.ok(caught.dbgpt.partial.length > 0, "the partial text");
    assert.ok(elapsed < 2000, `took ${elapsed} ms`);
    await sleep(50);
    assert.equal(c.final.length, 0);
    await emu.waitForConnections(0, 1000);
  });

  it("msg.deadline (ms) overrides the server's deadline; 0 = none", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" }, { deadline: 0.2 });
    emu.fault({ drip: { bytes: 40, intervalMs: 30 } });
    c.node.receive({ payload: "patient", deadline: 0 });
    await waitFor(() => c.final.length === 1, "the answer", 5000);
    assert.equal(c.caught.length, 0);
    emu.fault({ stall: "after-headers" });
    c.node.receive({ payload: "q", deadline: 150 });
    await waitFor(() => c.caught.length === 1, "the failure", 5000);
    assert.equal(c.caught[0].error.code, "DBGPT_TIMEOUT");
    c.node.receive({ payload: "q", deadline: -5 });
    await waitFor(() => c.caught.length === 2, "the invalid input", 5000);
    assert.equal(c.caught[1].error.code, "DBGPT_INVALID_INPUT");
  });

  it("list-apps and get-app take msg.deadline too", async () => {
    await helper.load(
      NODES,
      flowWith(emu.url, [
        { id: "list", type: "dbgpt-list-apps", server: "cfg", agentAppsOnly: false, wires: [["out"]] },
        {
          id: "get",
          type: "dbgpt-get-app",
          server: "cfg",
          appId: "payload",
          appIdType: "msg",
          wires: [["out"]],
        },
        { id: "out", type: "helper" },
        { id: "catcher", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
        { id: "caught", type: "helper" },
      ]),
    );
    const caught = collect("caught");
    emu.fault({ stall: "after-headers", times: 2 });
    helper.getNode("list").receive({ payload: "x", deadline: 150 });
    helper.getNode("get").receive({ payload: "some-app", deadline: 150 });
    await waitFor(() => caught.length === 2, "two failures", 5000);
    for (const msg of caught) {
      assert.equal(msg.error.code, "DBGPT_TIMEOUT");
      assert.match(msg.error.message, /deadline/);
    }
  });

  it("a usage nested 10,000 levels deep is one DBGPT_PROTOCOL before anything is sent (two wires)", async () => {
    const c = await loadTwoWireChat(emu.url, { chatMode: "chat_normal", stream: false });
    emu.fault({ deepUsage: 10_000 });
    c.node.receive({ payload: "deep" });
    await waitFor(() => c.caught.length === 1, "the failure", 5000);
    await sleep(200);
    assert.equal(c.caught.length, 1, "reported once");
    assert.equal(c.caught[0].error.code, "DBGPT_PROTOCOL");
    assert.match(c.caught[0].error.message, /nested deeper than 64 levels/);
    assert.deepEqual([c.final.length, c.final2.length], [0, 0], "nothing was sent");
  });

  it("a final send that throws after the message went out is logged, never reported to Catch", async () => {
    const c = await loadTwoWireChat(emu.url, { chatMode: "chat_normal", stream: false });
    // Node-RED clones the final message for the second wire: a 10,000-deep property overflows that clone.
    c.node.receive({ payload: "hello", deep: nested(10_000) });
    await waitFor(() => c.final.length === 1, "the final message", 5000);
    await waitFor(() => logLines(helper.log().ERROR, "final message").length === 1, "the log line", 5000);
    await sleep(200);
    assert.equal(c.caught.length, 0, "the request had its outcome: no second one");
    assert.equal(c.final[0].payload.length > 0, true);
  });
});

describe("dbgpt-chat delivery pace: the first delta early, a budget for messages not yet delivered", function () {
  let emu;
  useEmulatorSuite((started) => (emu = started));

  /** Counts the chat node's stream messages as it sends them; `atDelivery` has that count at each arrival. */
  function countSends(c) {
    const counts = { sent: 0, atDelivery: [] };
    const send = c.node.send.bind(c.node);
    c.node.send = (msgs) => {
      if (Array.isArray(msgs) && msgs[0]) counts.sent++;
      return send(msgs);
    };
    helper.getNode("stream").on("input", () => counts.atDelivery.push(counts.sent));
    return counts;
  }

  /** One chat whose `deltas` come in one write; resolves with the node and its send counts once it ended. */
  async function oneWriteAnswer(deltas) {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" });
    const counts = countSends(c);
    emu.fault({ eventsPerWrite: deltas });
    c.node.receive({ payload: `[long:${deltas}] at once` });
    await waitFor(() => c.final.length === 1, "the answer", 10000);
    assert.equal(c.stream.length, deltas);
    return { c, counts };
  }

  it("the first stream message reaches the next node before the rest of the answer is sent (one write)", async () => {
    const { c, counts } = await oneWriteAnswer(50);
    assert.equal(counts.atDelivery[0], 1, "only the first delta had been sent when it arrived");
    assert.equal(c.final[0].payload, c.stream.map((m) => m.payload).join(""));
  });

  it("a stream alone sends what it has read in one turn, up to 2,000 messages", async () => {
    const { counts } = await oneWriteAnswer(3000);
    assert.equal(counts.atDelivery[0], 1, "the first delta goes on alone");
    // A 64 KiB chunk holds about 1,300 of these deltas: the first chunk's go out in one turn.
    assert.ok(
      counts.atDelivery[1] > 1000,
      `then what was read in one turn, not 250: ${counts.atDelivery[1]}`,
    );
  });

  it("the final message is delivered after the stream's last pass of deliveries has ended, not in it", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" });
    emu.fault({ eventsPerWrite: 500 });
    // Each delivery of a stream message queues an immediate: the pass that delivers the stream's last
    // messages runs them after it has ended, before the next pass.
    const passes = { delivered: 0, ended: 0, atFinal: undefined };
    helper.getNode("stream").on("input", () => {
      passes.delivered++;
      setImmediate(() => passes.ended++);
    });
    helper.getNode("final").on("input", () => (passes.atFinal = passes.ended));
    c.node.receive({ payload: "[long:500] at once" });
    await waitFor(() => c.final.length === 1, "the answer", 10000);
    assert.equal(passes.delivered, 500);
    assert.equal(passes.atFinal, 500, "every pass that delivered stream messages had ended");
  });

  it("ten streams share 250 messages per turn between them", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal" });
    const counts = countSends(c);
    emu.fault({ eventsPerWrite: 400 });
    for (let i = 0; i < 10; i++) c.node.receive({ payload: `[long:400] at once ${i}` });
    await waitFor(() => c.final.length === 10, "the answers", 10000);
    assert.equal(c.stream.length, 4000);
    // The first turn that sends more than the streams' first messages (each waits for its own delivery).
    const jumps = counts.atDelivery.map((n, i) => n - (counts.atDelivery[i - 1] ?? 0));
    const firstTurn = jumps.find((jump) => jump > 20);
    assert.ok(
      firstTurn !== undefined && firstTurn <= 260,
      `250 (+10) messages in the first full turn: ${firstTurn}`,
    );
  });

  it("the send budget: past 250 messages in a turn (many streams) a stream waits until Node-RED has delivered", async () => {
    const { DeliveryBudget } = require("../../nodes/lib/nodes/shared/chat-messages.js");
    const budget = new DeliveryBudget();
    const leaves = Array.from({ length: 500 }, () => budget.join());
    assert.equal(budget.perTurn, 250);
    const order = [];
    setImmediate(() => order.push("delivery")); // what Node-RED's send of the first message queued
    const first = budget.sent(true);
    assert.ok(first instanceof Promise, "after the first message: wait for its delivery");
    void first.then(() => order.push("first message's wait over"));
    for (let i = 0; i < 249; i++) assert.equal(budget.sent(false), undefined, "within the budget");
    const spent = budget.sent(false);
    assert.ok(spent instanceof Promise, "the 250th: wait");
    assert.equal(budget.sent(false), spent, "every stream waits for the same turn");
    await spent;
    assert.deepEqual(order, ["delivery", "first message's wait over"]);
    assert.equal(budget.sent(false), undefined, "a new turn, a new budget");
    for (const leave of leaves.slice(4)) leave();
    assert.equal(budget.perTurn, 500, "four streams share 2,000 per turn");
    for (const leave of leaves.slice(1, 4)) leave();
    assert.equal(budget.perTurn, 2000, "a stream alone sends up to 2,000 per turn");
    let sent = 1; // counted above, in this turn
    while (budget.sent(false) === undefined) sent++;
    assert.equal(sent + 1, 2000, "the 2,000th message waits");
  });
});
