"use strict";
// dbgpt-chat's stream interval (coalesceMs, PRODUCT.md "Coalescing"): deltas folded into at most one
// stream message per interval, the final payload still exactly the folded stream for any interval and
// any split of the stream, replace and reasoning flushing what waits first, stop and failure too.
const assert = require("node:assert/strict");
const { answerFor, APP_CODES } = require("../../emulator");
const { helper, useEmulatorSuite, loadChat, waitFor, fold } = require("./helpers");

async function ask(c, msg, timeoutMs = 15000) {
  const count = c.final.length + c.caught.length + 1;
  c.node.receive(msg);
  await waitFor(() => c.final.length + c.caught.length >= count, "the answer", timeoutMs);
  if (c.caught.length > 0) assert.fail(`unexpected failure: ${c.caught[0].error.message}`);
  return c.final[c.final.length - 1];
}

/** A small deterministic generator, so that a failing case can be replayed from its seed. */
function random(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("dbgpt-chat: stream interval (coalesceMs)", function () {
  let emu;
  useEmulatorSuite((started) => (emu = started));

  it("0 (the default) sends one stream message per delta", async () => {
    const question = "[long:40] count";
    const c = await loadChat(emu.url, { chatMode: "chat_normal" });
    const final = await ask(c, { payload: question });
    assert.equal(c.stream.length, 40);
    assert.equal(fold(c.stream), final.payload);
  });

  it("folding still gives the final payload exactly, for any interval and any split of the stream", async function () {
    this.timeout(60000);
    const next = random(20261203);
    for (let run = 0; run < 10; run++) {
      const coalesceMs = [1, 3, 10, 25, 60][Math.floor(next() * 5)];
      const splitEvery = 1 + Math.floor(next() * 97);
      const delayMs = Math.floor(next() * 3);
      const deltas = 20 + Math.floor(next() * 120);
      const question = `[long:${deltas}] run ${run}`;
      const what = `run ${run}: coalesceMs ${coalesceMs}, splitEvery ${splitEvery}, delayMs ${delayMs}`;
      emu.configure({ delayMs });
      emu.fault({ splitEvery });
      const c = await loadChat(emu.url, { chatMode: "chat_normal", coalesceMs });
      const final = await ask(c, { payload: question });
      assert.equal(final.payload, answerFor(question), what);
      assert.equal(fold(c.stream), final.payload, what);
      assert.ok(
        c.stream.every((m) => m.dbgpt.type === "delta" && m.payload !== ""),
        `${what}: only non-empty deltas`,
      );
      c.stream.forEach((m, i) => assert.equal(m.dbgpt.index, i, `${what}: indexes count the messages sent`));
      assert.ok(c.stream.length <= deltas, what);
      emu.reset();
      await helper.unload();
    }
  });

  it("sends at most one message per interval: the count is bounded by duration / interval", async function () {
    this.timeout(30000);
    emu.configure({ delayMs: 2 });
    const question = "[long:300] slow";
    const coalesceMs = 50;
    const c = await loadChat(emu.url, { chatMode: "chat_normal", coalesceMs });
    const final = await ask(c, { payload: question });
    assert.equal(fold(c.stream), final.payload);
    const bound = Math.ceil(final.dbgpt.durationMs / coalesceMs) + 1;
    assert.ok(c.stream.length >= 3, `the answer still streams (${c.stream.length} messages)`);
    assert.ok(
      c.stream.length <= bound,
      `${c.stream.length} messages for ${final.dbgpt.durationMs} ms at ${coalesceMs} ms (bound ${bound})`,
    );
    assert.ok(c.stream.length < 300 / 4, "far fewer messages than deltas");
  });

  it("a replace first sends the text waiting before it (chat_app agents)", async () => {
    const c = await loadChat(emu.url, {
      chatMode: "chat_app",
      chatParam: APP_CODES.autoPlan,
      coalesceMs: 5000,
    });
    const final = await ask(c, { payload: "[multi-agent] plan it" });
    const replaceAt = c.stream.findIndex((m) => m.dbgpt.type === "replace");
    assert.ok(replaceAt > 0, "a replace, after some deltas");
    assert.equal(
      c.stream[replaceAt - 1].dbgpt.type,
      "delta",
      "the waiting deltas went out before the replace",
    );
    assert.equal(fold(c.stream), final.payload);
  });

  it("reasoning is sent as it comes, after the text waiting before it; the answer still folds exactly", async () => {
    const question = "[think] why?";
    const c = await loadChat(emu.url, { chatMode: "chat_normal", emitReasoning: true, coalesceMs: 5000 });
    const final = await ask(c, { payload: question });
    const reasoning = c.stream.filter((m) => m.dbgpt.type === "reasoning");
    assert.equal(reasoning.map((m) => m.payload).join(""), final.dbgpt.reasoning);
    assert.ok(reasoning.length > 1, "reasoning messages are not folded");
    const deltas = c.stream.filter((m) => m.dbgpt.type === "delta");
    assert.ok(deltas.length <= 2, `at most the first delta and the rest at the end (${deltas.length})`);
    assert.equal(fold(c.stream), final.payload);
    assert.equal(final.payload, answerFor(question));
  });

  it("a stop sends what was waiting before the final message: the partial payload is the folded stream", async () => {
    emu.configure({ delayMs: 5 });
    const c = await loadChat(emu.url, { chatMode: "chat_normal", coalesceMs: 40 });
    c.node.receive({ payload: "[long:400] stop me" });
    await waitFor(() => c.stream.length >= 2, "some stream messages", 10000);
    c.node.receive({ stop: true });
    await waitFor(() => c.final.length === 1, "the stopped final", 10000);
    const final = c.final[0];
    assert.equal(final.dbgpt.stopped, true);
    assert.ok(final.payload.length > 0);
    assert.equal(fold(c.stream), final.payload);
    assert.equal(c.caught.length, 0);
  });

  it("a failure sends what was waiting before Catch: msg.dbgpt.partial is the folded stream", async () => {
    emu.fault({ cutAfterEvents: 30 });
    const c = await loadChat(emu.url, { chatMode: "chat_normal", coalesceMs: 5000 });
    c.node.receive({ payload: "[long:100] cut" });
    await waitFor(() => c.caught.length === 1, "the failure", 10000);
    const caught = c.caught[0];
    assert.equal(caught.dbgpt.error.code, "DBGPT_STREAM_CLOSED");
    assert.ok(caught.dbgpt.partial.length > 0);
    assert.equal(fold(c.stream), caught.dbgpt.partial);
    assert.equal(c.final.length, 0);
  });

  it("closing the node drops what waits: nothing is sent after close", async () => {
    emu.configure({ delayMs: 5 });
    const c = await loadChat(emu.url, { chatMode: "chat_normal", coalesceMs: 200 });
    c.node.receive({ payload: "[long:400] close me" });
    await waitFor(() => c.stream.length >= 1, "the first stream message", 10000);
    await helper.unload();
    const seen = c.stream.length;
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(c.stream.length, seen);
    assert.equal(c.final.length + c.caught.length, 0);
  });

  for (const bad of ["fast", -1, 2.5]) {
    it(`an invalid interval (${JSON.stringify(bad)}) fails each message with DBGPT_INVALID_INPUT`, async () => {
      const c = await loadChat(emu.url, { chatMode: "chat_normal", coalesceMs: bad });
      c.node.receive({ payload: "hello" });
      await waitFor(() => c.caught.length === 1, "the failure", 5000);
      assert.equal(c.caught[0].dbgpt.error.code, "DBGPT_INVALID_INPUT");
      assert.match(c.caught[0].error.message, /stream interval/);
      assert.equal(emu.requests.length, 0, "nothing was sent");
    });
  }
});
