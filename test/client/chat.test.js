"use strict";
// chat() over real sockets against the emulator: request bodies (§3), every stream shape (§5),
// non-stream answers (§6) and the error catalogue (§7).
const {
  assert,
  MODEL,
  useEmulator,
  collect,
  fold,
  rejectsWith,
  assertConsistent,
  chatRequest,
} = require("./helpers");
const {
  answerFor,
  contentFor,
  answerTokens,
  reasoningFor,
  modelErrorText,
  APP_CODES,
  DEFAULT_APPS,
} = require("../../emulator");

const SINGLE = APP_CODES.singleAgent;
const PLANNER = APP_CODES.autoPlan;

describe("client chat (§3, §5, §6, §7)", () => {
  const ctx = useEmulator();

  /** Runs a chat to its end and checks the folding invariants; returns { events, result }. */
  async function chat(fields, clientOptions, callOptions) {
    const client = ctx.client(clientOptions);
    const outcome = await collect(client.chat(chatRequest(fields), callOptions));
    await client.close(); // no keep-alive socket left for the next test's connection count
    if (outcome.error) throw outcome.error;
    assertConsistent(outcome);
    return outcome;
  }

  /** Runs a chat that must fail with `code`; returns the error (the same on iteration and result). */
  async function chatFails(fields, code, clientOptions) {
    const outcome = await collect(ctx.client(clientOptions).chat(chatRequest(fields)));
    assert.ok(outcome.error, `expected ${code}, got an answer: ${outcome.result && outcome.result.text}`);
    assert.equal(outcome.error.code, code, outcome.error.message);
    assert.equal(outcome.resultError, outcome.error, "iteration and result reject with the same error");
    assert.equal(typeof outcome.error.partial, "string");
    await ctx.emu.waitForConnections(0, 2000);
    return outcome.error;
  }

  describe("request body (§3)", () => {
    it("chat_normal: stream explicit, temperature null, no chat_param, messages a string", async () => {
      await chat({ question: "hi" });
      const [request] = ctx.emu.chatRequests();
      assert.deepEqual(request.body, {
        model: MODEL,
        messages: "hi",
        stream: true,
        chat_mode: "chat_normal",
        temperature: null,
      });
      assert.equal(request.headers["content-type"], "application/json");
      assert.equal(request.headers.authorization, undefined, "no key, no header");
    });

    it("sends every optional field when given, max new tokens as both names", async () => {
      await chat({
        chatMode: "chat_knowledge",
        chatParam: "default_space",
        question: "q",
        convUid: "conv-9",
        stream: false,
        temperature: 0.2,
        maxNewTokens: 64,
        userName: "alice",
        sysCode: "sys",
      });
      assert.deepEqual(ctx.emu.chatRequests()[0].body, {
        model: MODEL,
        messages: "q",
        stream: false,
        chat_mode: "chat_knowledge",
        temperature: 0.2,
        chat_param: "default_space",
        conv_uid: "conv-9",
        max_new_tokens: 64,
        max_tokens: 64,
        user_name: "alice",
        sys_code: "sys",
      });
    });

    it("chat_app always streams on the wire, even when asked not to", async () => {
      const { result } = await chat({
        chatMode: "chat_app",
        chatParam: SINGLE,
        question: "hi",
        stream: false,
      });
      assert.equal(ctx.emu.chatRequests()[0].body.stream, true);
      assert.equal(result.text, answerFor("hi", { chatMode: "chat_app" }));
    });

    it("sends `Authorization: Bearer <key>` only when a key is set", async () => {
      ctx.emu.configure({ apiKeys: ["sk-1"] });
      await chat({ question: "hi" }, { apiKey: "sk-1" });
      assert.equal(ctx.emu.chatRequests()[0].headers.authorization, "Bearer sk-1");
    });

    for (const [what, fields] of [
      ["a chat_app without chat_param", { chatMode: "chat_app", question: "q" }],
      ["a chat_flow with an empty chat_param", { chatMode: "chat_flow", chatParam: "", question: "q" }],
      ["an unknown chat mode", { chatMode: "chat_excel", chatParam: "x", question: "q" }],
      ["an empty question", { question: "" }],
      ["a non-string question", { question: ["hi"] }],
      ["no model", { question: "q", model: "" }],
      ["a temperature that is not a number", { question: "q", temperature: "hot" }],
      ["a fractional max new tokens", { question: "q", maxNewTokens: 1.5 }],
    ]) {
      it(`refuses ${what} with DBGPT_INVALID_INPUT before any request`, async () => {
        const call = ctx.client().chat(chatRequest(fields));
        const outcome = await collect(call);
        assert.equal(outcome.error.code, "DBGPT_INVALID_INPUT");
        await rejectsWith(call.result, "DBGPT_INVALID_INPUT");
        assert.equal(ctx.emu.requests.length, 0);
      });
    }
  });

  describe("chat_normal family streams (§5.1-5.3)", () => {
    it("streams the exact deltas; ids and counts as the server sent them", async () => {
      const { events, result } = await chat({ question: "hello there" });
      assert.deepEqual(
        events.map((e) => e.text),
        answerTokens("hello there"),
      );
      assert.ok(events.every((e) => e.type === "delta"));
      assert.equal(result.text, answerFor("hello there"));
      assert.match(result.id, /^chatcmpl-/);
      assert.equal(result.convUid, undefined, "a chatcmpl id is not a conv_uid");
      assert.equal(
        result.chunks,
        answerTokens("hello there").length + 1,
        "the final empty chunk counts, [DONE] not",
      );
      assert.equal(result.model, MODEL);
      assert.equal(result.stopped, false);
      assert.equal(result.usage, undefined);
      assert.ok(result.firstTokenMs >= 0 && result.firstTokenMs <= result.durationMs);
    });

    it("keeps the conv_uid sent", async () => {
      const { result } = await chat({ question: "hi", convUid: "my-conv" });
      assert.equal(result.convUid, "my-conv");
    });

    for (const mode of [
      ["chat_knowledge", "default_space"],
      ["chat_data", "dbgpt_test"],
      ["chat_with_db_qa", "dbgpt_test"],
      ["chat_dashboard", "dbgpt_test"],
    ]) {
      it(`${mode[0]} streams like chat_normal`, async () => {
        const { result } = await chat({ chatMode: mode[0], chatParam: mode[1], question: "q1" });
        assert.equal(result.text, answerFor("q1"));
      });
    }

    it("reports reasoning_content as reasoning events, before the answer", async () => {
      const { events, result } = await chat({ question: "[think] why?" });
      assert.equal(result.reasoning, reasoningFor("[think] why?"));
      assert.equal(result.text, answerFor("[think] why?"));
      const firstDelta = events.findIndex((e) => e.type === "delta");
      assert.ok(events.slice(0, firstDelta).every((e) => e.type === "reasoning"));
      assert.ok(result.firstTokenMs <= result.durationMs);
    });

    it("handles multi-byte answers", async () => {
      const { result } = await chat({ question: "[unicode]" });
      assert.equal(result.text, answerFor("[unicode]"));
    });

    it("handles a long stream", async () => {
      const { events, result } = await chat({ question: "[long:5000]" });
      assert.equal(events.length, 5000);
      assert.equal(result.text, answerFor("[long:5000]"));
    });

    it("incremental:false snapshots: growth as deltas, and the clean end without [DONE] is normal (§5.2)", async () => {
      const snap = (content, reasoning) =>
        `data: ${JSON.stringify({ id: "chatcmpl-s", model: "gpt-4o", choices: [{ index: 0, message: { role: "assistant", content, reasoning_content: reasoning } }], usage: {} })}\n\n`;
      ctx.emu.fault({
        rawEvents: [
          snap("", "Let"),
          snap("Hello", "Let me"),
          snap("Hello!", "Let me"),
          snap("Hello! How can I help?", "Let me"),
          snap("Hello! How can I help?", "Let me"),
        ],
        end: "close",
      });
      const { events, result } = await chat({ question: "hi" });
      assert.equal(result.text, "Hello! How can I help?");
      assert.equal(result.reasoning, "Let me");
      assert.deepEqual(
        events.filter((e) => e.type === "delta").map((e) => e.text),
        ["Hello", "!", " How can I help?"],
      );
      assert.equal(result.chunks, 5);
      assert.equal(result.model, "gpt-4o");
    });

    it("an unknown model's error text is DBGPT_STREAM_ERROR with the server's text (§5.6)", async () => {
      const err = await chatFails({ question: "hi", model: "no-such-model" }, "DBGPT_STREAM_ERROR");
      assert.equal(err.serverMessage, modelErrorText("no-such-model"));
      assert.ok(err.message.includes(modelErrorText("no-such-model")));
    });

    it("[model-error] and [parse-error] answers are DBGPT_STREAM_ERROR, and no error text is streamed", async () => {
      for (const question of ["[model-error] x", "[parse-error] x"]) {
        const outcome = await collect(ctx.client().chat(chatRequest({ question })));
        assert.equal(outcome.error.code, "DBGPT_STREAM_ERROR");
        assert.equal(outcome.error.serverMessage, answerFor(question, { model: MODEL }));
        assert.deepEqual(outcome.events, []);
      }
    });

    it("[SERVER_ERROR] is DBGPT_STREAM_ERROR with its text (§5.6)", async () => {
      const err = await chatFails({ question: "[server-error] retrieval exploded" }, "DBGPT_STREAM_ERROR");
      assert.equal(err.serverMessage, "retrieval exploded");
      assert.match(err.message, /retrieval exploded/);
      assert.equal(err.partial, "");
    });
  });

  describe("chat_flow (§5.4, §6)", () => {
    it("skips the role-only first chunk and appends the deltas; id is the conv_uid", async () => {
      const { events, result } = await chat({
        chatMode: "chat_flow",
        chatParam: "flow-1",
        question: "flow q",
      });
      assert.deepEqual(
        events.map((e) => e.text),
        answerTokens("flow q"),
      );
      assert.equal(result.chunks, answerTokens("flow q").length + 1);
      assert.equal(result.convUid, result.id);
      assert.match(result.convUid, /^[0-9a-f-]{36}$/);
    });

    it("an unknown flow in a stream is DBGPT_STREAM_ERROR with the flow's text", async () => {
      const err = await chatFails(
        { chatMode: "chat_flow", chatParam: "nope", question: "q" },
        "DBGPT_STREAM_ERROR",
      );
      assert.equal(err.serverMessage, "Flow nope not found");
    });

    it("non-stream success is one answer; non-stream unknown flow is DBGPT_BAD_REQUEST with its message", async () => {
      const { result } = await chat({
        chatMode: "chat_flow",
        chatParam: "flow-1",
        question: "q",
        stream: false,
      });
      assert.equal(result.text, answerFor("q", { chatMode: "chat_flow", stream: false }));
      assert.equal(result.chunks, 1);
      const err = await chatFails(
        { chatMode: "chat_flow", chatParam: "nope", question: "q", stream: false },
        "DBGPT_BAD_REQUEST",
      );
      assert.equal(err.serverMessage, "Flow nope not found");
      assert.match(err.message, /Flow nope not found/);
      assert.equal(err.statusCode, 400);
    });
  });

  describe("chat_app (§5.5, §5.7)", () => {
    it("single agent: deltas computed on the re-rendered answer, content:null skipped, raw and messages kept", async () => {
      const { events, result } = await chat({ chatMode: "chat_app", chatParam: SINGLE, question: "app q" });
      assert.equal(result.text, answerFor("app q", { chatMode: "chat_app" }));
      assert.ok(events.every((e) => e.type === "delta"));
      assert.equal(result.convUid, result.id);
      assert.match(result.raw, /^```agent-messages\n/);
      assert.equal(result.messages.length, 1);
      assert.equal(result.messages[0].receiver, "Human");
      assert.deepEqual(result.plans, []);
      const nullChunks = 3; // the opening context status, the one after speaking ... (counted by the server)
      assert.ok(result.chunks > events.length, `chunks (${result.chunks}) include the content:null ones`);
      assert.ok(nullChunks > 0);
    });

    it("multi-agent: a replace when the second agent starts; messages nested in plans are walked", async () => {
      const { events, result } = await chat({
        chatMode: "chat_app",
        chatParam: PLANNER,
        question: "[multi-agent] report",
      });
      assert.equal(result.text, answerFor("[multi-agent] report", { chatMode: "chat_app" }));
      const replaces = events.filter((e) => e.type === "replace");
      assert.equal(replaces.length, 1);
      assert.equal(events.indexOf(replaces[0]) > 0, true);
      assert.equal(
        fold(events.slice(0, events.indexOf(replaces[0]))).text,
        "Step 1: I collected the facts for this question.",
      );
      assert.equal(result.plans.length, 1);
      assert.deepEqual(
        result.messages.map((m) => m.sender),
        ["DataScientist", "Summarizer"],
      );
    });

    it("final text after the last vis block is the answer", async () => {
      const { result } = await chat({ chatMode: "chat_app", chatParam: SINGLE, question: "[final-text] q" });
      assert.equal(result.text, answerFor("[final-text] q", { chatMode: "chat_app" }));
      assert.ok(result.raw.endsWith(result.text));
    });

    it("vis-thinking blocks become reasoning", async () => {
      const { result } = await chat({ chatMode: "chat_app", chatParam: SINGLE, question: "[think] q" });
      assert.equal(result.reasoning, reasoningFor("[think] q"));
      assert.equal(result.text, answerFor("[think] q", { chatMode: "chat_app" }));
    });

    for (const [what, chatParam, question] of [
      ["an app that says nothing", SINGLE, "[empty]"],
      ["a native app (only [DONE])", APP_CODES.native, "q"],
      ["an AWEL-flow app (only content:null)", APP_CODES.awelLayout, "q"],
    ]) {
      it(`${what} is DBGPT_STREAM_ERROR "produced no answer"`, async () => {
        const err = await chatFails({ chatMode: "chat_app", chatParam, question }, "DBGPT_STREAM_ERROR");
        assert.equal(
          err.message,
          `app ${chatParam} produced no answer; native and AWEL-flow apps cannot be used with chat_app`,
        );
      });
    }

    it("an unknown app id (200 then a dropped connection) is DBGPT_STREAM_CLOSED saying the app is probably unknown", async () => {
      const err = await chatFails(
        { chatMode: "chat_app", chatParam: "no-such-app", question: "q" },
        "DBGPT_STREAM_CLOSED",
      );
      // The part that matters leads (the debug sidebar cuts long messages).
      assert.match(err.message, /^unknown app "no-such-app"\?: /);
      assert.match(err.message, /chat_app id it does not know/);
      assert.equal(err.unknownApp, "no-such-app");
      assert.equal(err.partial, "");
    });

    it("the app list and chat agree: every agent app answers", async () => {
      const agentApps = DEFAULT_APPS.filter(
        (a) => a.team_mode !== "native_app" && a.team_mode !== "awel_layout",
      );
      assert.ok(agentApps.length >= 2);
      const { result } = await chat({
        chatMode: "chat_app",
        chatParam: agentApps[1].app_code,
        question: "q",
      });
      assert.equal(result.text, answerFor("q", { chatMode: "chat_app" }));
    });
  });

  describe("non-stream answers (§6)", () => {
    it("chat_normal: one answer, id = conv_uid, usage kept, one chunk", async () => {
      const { events, result } = await chat({ question: "plain", stream: false, convUid: "c-1" });
      assert.equal(result.text, answerFor("plain", { stream: false }));
      assert.deepEqual(events, [{ type: "delta", text: result.text }]);
      assert.equal(result.id, "c-1");
      assert.equal(result.chunks, 1);
      assert.deepEqual(result.usage, { prompt_tokens: 0, total_tokens: 0, completion_tokens: 0 });
    });

    it("vis-thinking embedded in the content becomes reasoning", async () => {
      const { result } = await chat({ question: "[think] plain", stream: false });
      assert.equal(result.reasoning, reasoningFor("[think] plain"));
      assert.equal(result.text, answerFor("[think] plain", { stream: false }));
    });

    it("chat_knowledge keeps the citations and references the stream does not have", async () => {
      const { result } = await chat({
        chatMode: "chat_knowledge",
        chatParam: "default_space",
        question: "k",
        stream: false,
      });
      assert.equal(result.text, answerFor("k", { chatMode: "chat_knowledge", stream: false }));
      assert.match(result.text, /\[1\]$/);
      assert.doesNotMatch(result.text, /<references/);
      assert.deepEqual(result.references, [
        {
          index: 1,
          name: "emulator-doc.md",
          id: 1,
          content: "Emulated reference",
          score: 0.9,
          meta: "emulator-doc.md",
        },
      ]);
      assert.equal(result.raw, contentFor("k", { chatMode: "chat_knowledge", stream: false }));
    });

    it("a model error (`<span style='color:red'>ERROR!</span>`) is DBGPT_STREAM_ERROR", async () => {
      const err = await chatFails(
        { question: "q", model: "no-such-model", stream: false },
        "DBGPT_STREAM_ERROR",
      );
      assert.ok(err.serverMessage.startsWith("<span style='color:red'>ERROR!</span>"));
    });
  });

  describe("errors before the stream (§2, §7)", () => {
    it("a rejected key is DBGPT_AUTH: says so, carries err_msg, never the key", async () => {
      ctx.emu.configure({ apiKeys: ["sk-right"] });
      const err = await chatFails({ question: "q" }, "DBGPT_AUTH", { apiKey: "sk-secret-wrong" });
      assert.match(err.message, /API key was rejected/);
      assert.match(err.message, /invalid_api_key/);
      assert.equal(err.statusCode, 401);
      for (const text of [err.message, err.body, err.serverMessage, String(err.stack)]) {
        assert.ok(!text.includes("sk-secret-wrong"), text);
      }
    });

    it("a missing key on a server with keys is DBGPT_AUTH", async () => {
      ctx.emu.configure({ apiKeys: ["sk-right"] });
      const err = await chatFails({ question: "q" }, "DBGPT_AUTH");
      assert.match(err.message, /no API key is configured/);
    });

    it("an unknown knowledge space is DBGPT_BAD_REQUEST with err_msg (E0003)", async () => {
      const err = await chatFails(
        { chatMode: "chat_knowledge", chatParam: "missing-space", question: "q" },
        "DBGPT_BAD_REQUEST",
      );
      assert.equal(err.serverMessage, "have not found knowledge space:missing-space");
      assert.match(err.message, /have not found knowledge space:missing-space/);
    });

    it("an unknown database is DBGPT_BAD_REQUEST", async () => {
      await chatFails({ chatMode: "chat_data", chatParam: "nodb", question: "q" }, "DBGPT_BAD_REQUEST");
    });

    it("a server error text is never mistaken for the key it might echo", async () => {
      const body = JSON.stringify({
        success: false,
        err_code: "E0003",
        err_msg: "bad token sk-echoed-key",
        data: null,
      });
      ctx.emu.fault({ status: { status: 400, body, contentType: "application/json" } });
      const err = await chatFails({ question: "q" }, "DBGPT_BAD_REQUEST", { apiKey: "sk-echoed-key" });
      for (const text of [err.message, err.body, err.serverMessage])
        assert.ok(!text.includes("sk-echoed-key"), text);
      assert.match(err.message, /bad token \*\*\*/);
    });
  });
});

describe("consuming a ChatCall: one consumer, no order of use loses events (issue 12)", () => {
  const ctx = useEmulator();
  const turn = () => new Promise((resolve) => setTimeout(resolve, 30));

  it("reading result, then iterating a few ticks later, still delivers every event", async () => {
    const question = "[long:300]";
    const call = ctx.client().chat(chatRequest({ question }));
    const pending = call.result;
    await turn(); // events arrive meanwhile
    const events = [];
    for await (const event of call) events.push(event);
    assert.equal(fold(events).text, answerFor(question));
    assert.equal((await pending).text, answerFor(question));
  });

  it("take() hands over the events already here at once, undefined when none is (next() then waits)", async () => {
    const question = "[long:300]";
    const call = ctx.client().chat(chatRequest({ question }));
    const iterator = call[Symbol.asyncIterator]();
    const events = [(await iterator.next()).value];
    await turn(); // the rest of the answer arrives meanwhile
    let longestRun = 0;
    for (;;) {
      let run = 0;
      for (let event = call.take(); event !== undefined; event = call.take()) {
        events.push(event);
        run++;
      }
      longestRun = Math.max(longestRun, run);
      const step = await iterator.next();
      if (step.done) break;
      events.push(step.value);
    }
    assert.equal(fold(events).text, answerFor(question));
    assert.ok(longestRun > 100, `events taken in a row without a promise: ${longestRun}`);
    assert.equal(call.take(), undefined);
    assert.equal((await call.result).text, answerFor(question));
  });

  it("on('event') gets every event, synchronously and in order, including those before it was attached", async () => {
    const question = "[long:500]";
    const call = ctx.client().chat(chatRequest({ question }));
    await turn();
    const events = [];
    assert.equal(
      call.on("event", (event) => events.push(event)),
      call,
    );
    const result = await call.done();
    assert.equal(result, await call.result);
    assert.equal(fold(events).text, answerFor(question));
    assert.equal(events.length, 500);
  });

  it("a call has one consumer", async () => {
    const call = ctx.client().chat(chatRequest({ question: "q" }));
    call.on("event", () => undefined);
    assert.throws(
      () => call[Symbol.asyncIterator](),
      (err) => err.code === "DBGPT_INVALID_INPUT",
    );
    assert.throws(
      () => call.on("event", () => undefined),
      (err) => err.code === "DBGPT_INVALID_INPUT",
    );
    await call.result;
  });

  it("pause() holds the response (the idle timer too) until resume()", async () => {
    const question = "[long:6000]";
    const call = ctx.client({ idleTimeoutMs: 300 }).chat(chatRequest({ question }));
    let count = 0;
    let afterPause = 0;
    let paused = false;
    call.on("event", () => {
      count++;
      if (paused) afterPause++;
      if (count === 10) {
        paused = true;
        call.pause();
        setTimeout(() => {
          paused = false;
          call.resume();
        }, 600); // longer than the idle timeout
      }
    });
    const result = await call.result;
    assert.equal(result.text, answerFor(question));
    assert.equal(count, 6000);
    assert.equal(afterPause, 0, "no event while paused, not even the rest of a chunk read already");
  });

  it("an iterator's first event: nothing more of the response is parsed until it asks for the next", async () => {
    const { ChatCallImpl } = require("../../nodes/lib/client/chat.js");
    const call = new ChatCallImpl();
    const events = call[Symbol.asyncIterator]();
    const first = events.next();
    assert.equal(call.holding, false);
    call.push({ type: "delta", text: "a" });
    assert.equal(call.holding, true, "the decoder holds the rest");
    assert.equal(call.backlogged, true, "the reader waits");
    assert.deepEqual(await first, { value: { type: "delta", text: "a" }, done: false });
    assert.equal(call.holding, true, "taken, but not asked for more yet");
    const second = events.next();
    assert.equal(call.holding, false, "asked again: parsing goes on");
    call.push({ type: "delta", text: "b" });
    call.push({ type: "delta", text: "c" });
    assert.equal(call.holding, false, "only the first event is held back for");
    assert.deepEqual(await second, { value: { type: "delta", text: "b" }, done: false });
  });

  it("an iterator back only after the body ended still gets its end ([DONE] without its blank line)", async () => {
    const http = require("node:http");
    const { DbgptClient } = require("../../nodes/lib/client");
    const chunk = (content) =>
      `data: ${JSON.stringify({ id: "c1", model: MODEL, choices: [{ index: 0, delta: { content } }] })}\n\n`;
    const server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(chunk("first"));
      // The end comes a moment later, after the iterator took the first event: [DONE] without its blank line.
      setTimeout(() => res.end("data: [DONE]"), 50);
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    const client = new DbgptClient({ baseUrl: `http://127.0.0.1:${server.address().port}` });
    try {
      const call = client.chat(chatRequest({ question: "hi" }));
      const events = call[Symbol.asyncIterator]();
      assert.deepEqual((await events.next()).value, { type: "delta", text: "first" });
      await new Promise((resolve) => setTimeout(resolve, 300)); // the body has ended meanwhile
      const rest = [];
      for (let next = await events.next(); !next.done; next = await events.next()) rest.push(next.value);
      assert.deepEqual(rest, []);
      assert.equal((await call.result).text, "first");
    } finally {
      await client.close();
      server.close();
    }
  });

  it("a listener that throws fails the call with its own error and closes the connection", async () => {
    const call = ctx.client().chat(chatRequest({ question: "[long:2000]" }));
    const boom = new Error("listener failed");
    let seen = 0;
    call.on("event", () => {
      if (++seen === 3) throw boom;
    });
    await assert.rejects(call.result, (err) => err === boom);
    assert.equal(seen, 3, "no event after the throw");
    await ctx.emu.waitForConnections(0, 2000);
  });
});
