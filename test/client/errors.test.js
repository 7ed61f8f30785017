"use strict";
// Every error code over real sockets, timeouts, aborts, and no socket left open after a failure.
const net = require("node:net");
const { assert, client, MODEL, useEmulator, collect, rejectsWith, chatRequest } = require("./helpers");
const { answerTokens, APP_CODES, hugeText } = require("../../emulator");

const { DbgptClient } = client;

/** A DNS lookup that knows no host (injected, so the machine's resolver is never asked). */
function unknownHostLookup(hostname, options, callback) {
  const cb = typeof options === "function" ? options : callback;
  const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
    code: "ENOTFOUND",
    errno: -3008,
    syscall: "getaddrinfo",
    hostname,
  });
  process.nextTick(cb, err);
}

/** A lookup that never answers: the connect timeout must still fire. */
function hangingLookup() {}

/** A free loopback port with nothing listening on it. */
async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("client errors, timeouts and aborts", () => {
  const ctx = useEmulator();

  /** The chat must fail with `code`; checks that no socket stays open. Returns the error. */
  async function chatFails(fields, code, clientOptions, callOptions) {
    const outcome = await collect(ctx.client(clientOptions).chat(chatRequest(fields), callOptions));
    assert.ok(
      outcome.error,
      `expected ${code}, got ${outcome.result && JSON.stringify(outcome.result.text)}`,
    );
    assert.equal(outcome.error.code, code, outcome.error.message);
    assert.equal(outcome.resultError, outcome.error);
    await ctx.emu.waitForConnections(0, 2000);
    return outcome;
  }

  describe("DBGPT_CONNECT", () => {
    it("a refused connection", async () => {
      const port = await closedPort();
      const c = new DbgptClient({ baseUrl: `http://127.0.0.1:${port}` });
      try {
        const err = await rejectsWith(c.listApps(), "DBGPT_CONNECT");
        assert.match(err.message, /ECONNREFUSED/);
        assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
        const outcome = await collect(c.chat(chatRequest({ question: "q" })));
        assert.equal(outcome.error.code, "DBGPT_CONNECT");
        assert.equal(outcome.error.partial, "");
      } finally {
        await c.close();
      }
    });

    it("an unresolvable host (injected DNS lookup)", async () => {
      const c = new DbgptClient({ baseUrl: "http://dbgpt.invalid:5670", lookup: unknownHostLookup });
      try {
        const err = await rejectsWith(c.getApp("x"), "DBGPT_CONNECT");
        assert.match(err.message, /ENOTFOUND/);
        assert.match(err.message, /dbgpt\.invalid/);
      } finally {
        await c.close();
      }
    });

    it("a TLS failure (self-signed certificate not trusted)", async () => {
      let tls;
      try {
        tls = require("../../emulator/selfsigned").selfSigned();
      } catch (err) {
        if (err.code === "EMULATOR_NO_OPENSSL") return; // reported by the emulator's own tests
        throw err;
      }
      const { startEmulator } = require("../../emulator");
      const secure = await startEmulator({ tls });
      try {
        const untrusting = new DbgptClient({ baseUrl: secure.url });
        const err = await rejectsWith(untrusting.listModels(), "DBGPT_CONNECT");
        assert.match(err.message, /certificate|CERT/i);
        await untrusting.close();
        const trusting = new DbgptClient({ baseUrl: secure.url, tls: { ca: tls.cert } });
        assert.ok((await trusting.listModels()).length > 0);
        await trusting.close();
        const lax = new DbgptClient({ baseUrl: secure.url, tls: { rejectUnauthorized: false } });
        assert.ok((await lax.listModels()).length > 0);
        await lax.close();
      } finally {
        await secure.close();
      }
    });
  });

  describe("DBGPT_TIMEOUT", () => {
    it("connect timeout (a lookup that never answers), fractions of a second allowed", async () => {
      const c = new DbgptClient({
        baseUrl: "http://hangs.invalid:5670",
        lookup: hangingLookup,
        connectTimeoutMs: 150,
      });
      const started = Date.now();
      try {
        const err = await rejectsWith(c.listApps(), "DBGPT_TIMEOUT");
        assert.match(err.message, /within 0\.15 s/);
        assert.ok(Date.now() - started < 3000);
      } finally {
        await c.close();
      }
    });

    it("the connect timeout follows a shorter idle timeout", async () => {
      const c = new DbgptClient({
        baseUrl: "http://hangs.invalid:5670",
        lookup: hangingLookup,
        idleTimeoutMs: 200,
      });
      try {
        const err = await rejectsWith(c.listApps(), "DBGPT_TIMEOUT");
        assert.match(err.message, /within 0\.2 s/);
      } finally {
        await c.close();
      }
    });

    it("idle timeout before the headers; the socket is closed", async () => {
      ctx.emu.fault({ stall: "before-headers" });
      const { error } = await chatFails({ question: "q" }, "DBGPT_TIMEOUT", { idleTimeoutMs: 250 });
      assert.match(error.message, /no response .* for 0\.25 s \(idle timeout\)/);
    });

    it("idle timeout after the headers", async () => {
      ctx.emu.fault({ stall: "after-headers" });
      const { error } = await chatFails({ question: "q" }, "DBGPT_TIMEOUT", { idleTimeoutMs: 250 });
      assert.match(error.message, /no data .* for 0\.25 s/);
      assert.equal(error.partial, "");
    });

    it("idle timeout mid-stream keeps the partial answer", async () => {
      ctx.emu.fault({ stall: "after-events", events: 3 });
      const { error, events } = await chatFails({ question: "stall me" }, "DBGPT_TIMEOUT", {
        idleTimeoutMs: 250,
      });
      const tokens = answerTokens("stall me");
      assert.equal(error.partial, tokens.slice(0, 3).join(""));
      assert.equal(events.map((e) => e.text).join(""), error.partial);
    });

    it("a per-call idle timeout overrides the client's", async () => {
      ctx.emu.fault({ stall: "after-headers" });
      await chatFails({ question: "q" }, "DBGPT_TIMEOUT", { idleTimeoutMs: 60_000 }, { idleTimeoutMs: 200 });
    });

    it("a slow drip that never goes idle is not a timeout", async () => {
      ctx.emu.fault({ drip: { bytes: 40, intervalMs: 20 } });
      const c = ctx.client({ idleTimeoutMs: 400 });
      const { result } = await collect(c.chat(chatRequest({ question: "drip" })));
      assert.equal(result.text, answerTokens("drip").join(""));
    });

    it("a huge idle or connect timeout (beyond Node's timer range) does not fire at once", async () => {
      ctx.emu.fault({ firstEventDelayMs: 150 });
      const c = ctx.client({ idleTimeoutMs: 1e12, connectTimeoutMs: 1e12 });
      const { result, error } = await collect(c.chat(chatRequest({ question: "patient" })));
      assert.equal(error, undefined);
      assert.equal(result.text, answerTokens("patient").join(""));
    });

    it("idle timeout 0 means none", async () => {
      ctx.emu.fault({ firstEventDelayMs: 300 });
      const { result } = await collect(
        ctx.client({ idleTimeoutMs: 0 }).chat(chatRequest({ question: "late" })),
      );
      assert.equal(result.text, answerTokens("late").join(""));
      assert.ok(result.firstTokenMs >= 250, `firstTokenMs ${result.firstTokenMs}`);
    });
  });

  describe("DBGPT_HTTP", () => {
    it("a redirect is not followed and names the Location", async () => {
      ctx.emu.fault({
        redirect: { status: 307, location: "http://elsewhere.example/api/v2/chat/completions" },
      });
      const { error } = await chatFails({ question: "q" }, "DBGPT_HTTP");
      assert.equal(error.statusCode, 307);
      assert.match(error.message, /redirect to http:\/\/elsewhere\.example\/api\/v2\/chat\/completions/);
      assert.equal(ctx.emu.requests.length, 1);
    });

    it("an HTML 404 page (e.g. a wrong path prefix) names the page", async () => {
      const c = new DbgptClient({ baseUrl: `${ctx.emu.url}/wrong-prefix` });
      try {
        const err = await rejectsWith(c.listModels(), "DBGPT_HTTP");
        assert.equal(err.statusCode, 404);
        assert.match(err.message, /404: This page could not be found/);
        assert.match(err.body, /<html/);
        assert.equal(ctx.emu.requests[0].rawPath, "/wrong-prefix/api/v2/serve/model/models");
      } finally {
        await c.close();
      }
      await ctx.emu.waitForConnections(0, 2000);
    });

    it('a non-DB-GPT server\'s default 404 page says what it says, not its title "Error"', async () => {
      ctx.emu.fault({
        status: {
          status: 404,
          contentType: "text/html; charset=utf-8",
          body:
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n' +
            "<body>\n<pre>Cannot POST /api/v2/chat/completions</pre>\n</body>\n</html>\n",
        },
      });
      const { error } = await chatFails({ question: "q" }, "DBGPT_HTTP");
      assert.equal(error.message, "DB-GPT answered HTTP 404 Not Found: Cannot POST /api/v2/chat/completions");
    });

    it("a page that only repeats the status line adds nothing to the message", async () => {
      ctx.emu.fault({
        status: {
          status: 404,
          contentType: "text/html",
          body: "<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1></center></body></html>",
        },
      });
      const { error } = await chatFails({ question: "q" }, "DBGPT_HTTP");
      assert.equal(error.message, "DB-GPT answered HTTP 404 Not Found");
      ctx.emu.reset();
      ctx.emu.fault({
        status: {
          status: 404,
          contentType: "text/html",
          body: "<html><title>Error</title><body></body></html>",
        },
      });
      const bare = await chatFails({ question: "q" }, "DBGPT_HTTP");
      assert.equal(bare.error.message, "DB-GPT answered HTTP 404 Not Found", 'no empty ": Error" tail');
    });

    it("an empty 500", async () => {
      ctx.emu.fault({ status: { status: 500, body: "" } });
      const { error } = await chatFails({ question: "q" }, "DBGPT_HTTP");
      assert.match(error.message, /HTTP 500.*\(empty body\)/);
    });

    it("a JSON 502 with the server's message", async () => {
      ctx.emu.fault({
        status: { status: 502, body: '{"detail":"upstream down"}', contentType: "application/json" },
      });
      const err = await rejectsWith(ctx.client().listApps(), "DBGPT_HTTP");
      assert.match(err.message, /upstream down/);
      assert.equal(err.serverMessage, "upstream down");
    });

    it("keeps at most 4 KB of the body", async () => {
      ctx.emu.fault({ status: { status: 503, body: "x".repeat(10_000) } });
      const err = await rejectsWith(ctx.client().listApps(), "DBGPT_HTTP");
      assert.equal(err.body.length, 4096);
    });
  });

  describe("DBGPT_STREAM_CLOSED", () => {
    it("the connection ends after some events, without [DONE]: partial kept, socket gone", async () => {
      ctx.emu.fault({ cutAfterEvents: 4 });
      const { error } = await chatFails({ question: "cut me" }, "DBGPT_STREAM_CLOSED");
      assert.equal(error.partial, answerTokens("cut me").slice(0, 4).join(""));
      assert.doesNotMatch(error.message, /app id/);
    });

    it("what arrived while the consumer waited is not lost when the connection then ends", async () => {
      // Events 5 ms apart, the socket destroyed in the middle of one: more events and the cut come while
      // the consumer is still busy with the first.
      ctx.emu.configure({ delayMs: 5 });
      ctx.emu.fault({ cutAfterBytes: 4000 });
      const call = ctx.client().chat(chatRequest({ question: "[long:100] cut while busy" }));
      const texts = [];
      let error;
      try {
        for await (const event of call) {
          texts.push(event.text);
          if (texts.length === 1) await new Promise((resolve) => setTimeout(resolve, 300));
        }
      } catch (err) {
        error = err;
      }
      assert.equal(error?.code, "DBGPT_STREAM_CLOSED", error?.message);
      assert.ok(texts.length >= 10, `${texts.length} events`);
      assert.deepEqual(texts, answerTokens("[long:100] cut while busy").slice(0, texts.length));
      assert.equal(error.partial, texts.join(""));
    });

    it("the connection ends in the middle of an event", async () => {
      ctx.emu.fault({ cutAfterBytes: 300 });
      await chatFails({ question: "cut" }, "DBGPT_STREAM_CLOSED");
    });

    it("a clean end of the body without [DONE] after delta chunks", async () => {
      ctx.emu.fault({
        rawEvents: [
          'data: {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}\n\n',
        ],
        end: "close",
      });
      const { error } = await chatFails({ question: "q" }, "DBGPT_STREAM_CLOSED");
      assert.equal(error.partial, "Hi");
    });

    it("chat_app that was answering, then cut, is not called an unknown app", async () => {
      ctx.emu.fault({ cutAfterEvents: 4 });
      const { error } = await chatFails(
        { chatMode: "chat_app", chatParam: APP_CODES.singleAgent, question: "q" },
        "DBGPT_STREAM_CLOSED",
      );
      assert.doesNotMatch(error.message, /unknown/);
      assert.ok(error.partial.length > 0);
    });
  });

  describe("DBGPT_PROTOCOL", () => {
    for (const [what, events] of [
      ["an event that is not JSON", ["data: {oops\n\n", "data: [DONE]\n\n"]],
      ["an event of an unknown shape", ['data: {"result": 1}\n\n', "data: [DONE]\n\n"]],
    ]) {
      it(what, async () => {
        ctx.emu.fault({ rawEvents: events });
        const { error } = await chatFails({ question: "q" }, "DBGPT_PROTOCOL");
        assert.ok(error.body.length > 0);
      });
    }

    it("a 200 JSON body that is not a chat completion", async () => {
      ctx.emu.fault({ status: { status: 200, body: '{"hello": 1}', contentType: "application/json" } });
      await chatFails({ question: "q", stream: false }, "DBGPT_PROTOCOL");
    });

    it("an event over maxEventBytes", async () => {
      ctx.emu.fault({ hugeEvent: 20_000 });
      const { error } = await chatFails({ question: "q" }, "DBGPT_PROTOCOL", { maxEventBytes: 10_000 });
      assert.match(error.message, /larger than 10000 bytes/);
    });

    it("events up to 16 MiB are normal by default; bigger ones are DBGPT_PROTOCOL", async function () {
      this.timeout(60_000);
      const fits = 16 * 1024 * 1024 - 1024;
      ctx.emu.fault({ hugeEvent: fits });
      const c = ctx.client();
      const { result, error } = await collect(c.chat(chatRequest({ question: "huge" })));
      assert.equal(error, undefined);
      assert.equal(Buffer.byteLength(result.text), fits);
      assert.equal(result.text, hugeText(fits));
      await c.close();
      ctx.emu.fault({ hugeEvent: 16 * 1024 * 1024 + 1 });
      await chatFails({ question: "huge" }, "DBGPT_PROTOCOL");
    });
  });

  describe("abort (stop)", () => {
    it("aborting a chat ends the iteration, resolves stopped with the partial text, closes the socket", async () => {
      ctx.emu.configure({ delayMs: 5 });
      const controller = new AbortController();
      const call = ctx.client().chat(chatRequest({ question: "[long:2000]" }), { signal: controller.signal });
      const events = [];
      for await (const event of call) {
        events.push(event);
        if (events.length === 10) controller.abort();
      }
      const result = await call.result;
      assert.equal(result.stopped, true);
      assert.equal(events.length, 10, "no event after the abort");
      assert.ok(result.text.startsWith(events.map((e) => e.text).join("")));
      assert.ok(result.text.length < 2000 * 3);
      assert.ok(result.durationMs >= 0);
      await ctx.emu.waitForConnections(0, 2000);
    });

    it("a signal aborted before the call sends nothing and resolves stopped with no text", async () => {
      const call = ctx.client().chat(chatRequest({ question: "q" }), { signal: AbortSignal.abort() });
      const { events, result } = await collect(call);
      assert.deepEqual(events, []);
      assert.deepEqual([result.stopped, result.text, result.chunks], [true, "", 0]);
      assert.equal(ctx.emu.requests.length, 0);
    });

    it("a signal aborted right after the call, before the request is written, stops it", async () => {
      ctx.emu.fault({ stall: "before-headers" });
      const controller = new AbortController();
      const call = ctx.client().chat(chatRequest({ question: "q" }), { signal: controller.signal });
      controller.abort();
      const result = await call.result;
      assert.deepEqual([result.stopped, result.text], [true, ""]);
      await ctx.emu.waitForConnections(0, 2000);
    });

    it("aborting while waiting for the headers closes the socket", async () => {
      ctx.emu.fault({ stall: "before-headers" });
      const controller = new AbortController();
      const call = ctx.client().chat(chatRequest({ question: "q" }), { signal: controller.signal });
      setTimeout(() => controller.abort(), 100);
      const result = await call.result;
      assert.equal(result.stopped, true);
      await ctx.emu.waitForConnections(0, 2000);
    });

    it("listApps, getApp, listModels and testConnection reject with DBGPT_ABORTED", async () => {
      const c = ctx.client();
      await rejectsWith(c.listApps({ signal: AbortSignal.abort() }), "DBGPT_ABORTED");
      await rejectsWith(c.getApp("x", { signal: AbortSignal.abort() }), "DBGPT_ABORTED");
      await rejectsWith(c.listModels({ signal: AbortSignal.abort() }), "DBGPT_ABORTED");
      await rejectsWith(c.testConnection({ signal: AbortSignal.abort() }), "DBGPT_ABORTED");
      ctx.emu.fault({ stall: "before-headers" });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      await rejectsWith(c.listApps({ signal: controller.signal }), "DBGPT_ABORTED");
      await ctx.emu.waitForConnections(0, 2000);
    });
  });

  describe("DBGPT_INVALID_INPUT", () => {
    for (const [what, options] of [
      ["a non-http URL", { baseUrl: "ftp://host" }],
      ["a URL without a host", { baseUrl: "http://" }],
      ["not a URL", { baseUrl: "localhost:5670" }],
      ["a key with LF", { baseUrl: "http://127.0.0.1:5670", apiKey: "sk-1\nX-Evil: 1" }],
      ["a key with CR", { baseUrl: "http://127.0.0.1:5670", apiKey: "sk-1\r" }],
      ["a negative timeout", { baseUrl: "http://127.0.0.1:5670", idleTimeoutMs: -1 }],
    ]) {
      it(`the constructor refuses ${what}`, () => {
        assert.throws(
          () => new DbgptClient(options),
          (err) =>
            err.code === "DBGPT_INVALID_INPUT" && !(options.apiKey && err.message.includes(options.apiKey)),
        );
      });
    }
  });

  it("withoutSecret masks the key in every text and drops a cause that mentions it", () => {
    const cause = new Error("header Bearer sk-top-secret refused");
    const err = new client.DbgptError("DBGPT_HTTP", "failed with sk-top-secret", {
      statusCode: 500,
      body: "echo sk-top-secret",
      serverMessage: "sk-top-secret?",
      partial: "x",
      cause,
    });
    const clean = client.withoutSecret(err, new client.SecretMask("sk-top-secret"));
    assert.equal(clean.message, "failed with ***");
    assert.equal(clean.body, "echo ***");
    assert.equal(clean.serverMessage, "***?");
    assert.equal(clean.statusCode, 500);
    assert.equal(clean.cause, undefined);
    assert.ok(!String(clean.stack).includes("sk-top-secret"));
    const untouched = new client.DbgptError("DBGPT_HTTP", "fine", { cause: new Error("fine too") });
    assert.equal(client.withoutSecret(untouched, new client.SecretMask("sk-top-secret")), untouched);
  });

  it("model errors, bad requests and protocol errors leave no socket open", async () => {
    const c = ctx.client();
    await collect(c.chat(chatRequest({ question: "q", model: "nope-model" })));
    await collect(c.chat(chatRequest({ chatMode: "chat_knowledge", chatParam: "missing", question: "q" })));
    await rejectsWith(c.getApp("missing"), "DBGPT_NOT_FOUND");
    await ctx.emu.waitForConnections(0, 2000);
    assert.equal(ctx.emu.chatRequests()[0].body.model, "nope-model");
    assert.notEqual(MODEL, "nope-model");
  });
});
