"use strict";
// The dispatcher (keep-alive, idle sockets, close, proxy), base URLs, and how a ChatCall is consumed.
const http = require("node:http");
const net = require("node:net");
const { assert, client, useEmulator, collect, fold, rejectsWith, chatRequest } = require("./helpers");
const { answerFor } = require("../../emulator");

const { DbgptClient, normalizeBaseUrl } = client;

/** A forward proxy on loopback that tunnels CONNECT and forwards absolute-form requests; counts its uses. */
async function startProxy() {
  const used = [];
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    used.push(`${req.method} ${req.url}`);
    const target = new URL(req.url);
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: req.method,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  server.on("connect", (req, socket, head) => {
    used.push(`CONNECT ${req.url}`);
    const [host, port] = req.url.split(":");
    const upstream = net.connect(Number(port), host, () => {
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    for (const s of [socket, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => s.destroy());
    }
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    used,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(resolve);
      }),
  };
}

describe("client transport and calls", () => {
  const ctx = useEmulator();

  describe("normalizeBaseUrl", () => {
    for (const [input, url] of [
      ["http://localhost:5670", "http://localhost:5670"],
      ["  http://localhost:5670/  ", "http://localhost:5670"],
      ["https://dbgpt.example.com", "https://dbgpt.example.com"],
      ["https://dbgpt.example.com:443/", "https://dbgpt.example.com"],
      ["http://host/prefix/dbgpt/", "http://host/prefix/dbgpt"],
      ["HTTP://[::1]:5670", "http://[::1]:5670"],
    ]) {
      it(`${JSON.stringify(input)} -> ${url}`, () => {
        assert.deepEqual(normalizeBaseUrl(input), { url });
      });
    }

    for (const [input, url] of [
      ["http://localhost:5670/api", "http://localhost:5670"],
      ["http://localhost:5670/api/v2/", "http://localhost:5670"],
      ["http://host/prefix/api/v2", "http://host/prefix"],
    ]) {
      it(`strips the pasted API suffix of ${JSON.stringify(input)} with a warning`, () => {
        const out = normalizeBaseUrl(input);
        assert.equal(out.url, url);
        assert.match(out.warning, /should not end with "\/api/);
      });
    }

    for (const input of [
      "",
      "   ",
      "localhost:5670",
      "ftp://host",
      "http://",
      "http://user:pw@host",
      "http://host/?a=1",
      "http://host/#x",
      42,
    ]) {
      it(`refuses ${JSON.stringify(input)} with DBGPT_INVALID_INPUT`, () => {
        assert.throws(
          () => normalizeBaseUrl(input),
          (err) => err.code === "DBGPT_INVALID_INPUT",
        );
      });
    }
  });

  it("keeps a path prefix on every request", async () => {
    const c = new DbgptClient({ baseUrl: `${ctx.emu.url}/dbgpt/` });
    try {
      await rejectsWith(c.listApps(), "DBGPT_HTTP");
      assert.equal(ctx.emu.requests[0].rawPath, "/dbgpt/api/v2/serve/apps?page_size=100");
    } finally {
      await c.close();
    }
  });

  it("reuses one keep-alive connection and closes it once idle for keepAliveTimeoutMs", async () => {
    const c = ctx.client({ keepAliveTimeoutMs: 300 });
    // undici hands a connection back one event-loop turn after a response ends: pace calls like flows do.
    const turn = () => new Promise((resolve) => setTimeout(resolve, 20));
    await c.listModels();
    await turn();
    await collect(c.chat(chatRequest({ question: "one" })));
    await turn();
    await c.listApps();
    assert.equal(ctx.emu.openConnections(), 1);
    const started = Date.now();
    await ctx.emu.waitForConnections(0, 3000);
    assert.ok(Date.now() - started < 2000);
  });

  it("close() stops calls in flight (chat: stopped, others: DBGPT_ABORTED), closes sockets, and is idempotent", async () => {
    ctx.emu.fault({ stall: "after-events", events: 2 });
    const c = new DbgptClient({ baseUrl: ctx.emu.url });
    const call = c.chat(chatRequest({ question: "stalled" }));
    ctx.emu.fault({ stall: "before-headers" });
    const apps = c.listApps().catch((err) => err);
    const events = [];
    const iterating = (async () => {
      for await (const event of call) events.push(event);
    })();
    while (events.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    await Promise.all([c.close(), c.close()]);
    const result = await call.result;
    await iterating;
    assert.equal(result.stopped, true);
    assert.equal(result.text, fold(events).text);
    assert.equal((await apps).code, "DBGPT_ABORTED");
    await ctx.emu.waitForConnections(0, 2000);
    await rejectsWith(c.listModels(), "DBGPT_ABORTED");
    const after = await collect(c.chat(chatRequest({ question: "late" })));
    assert.equal(after.result.stopped, true);
  });

  describe("consuming a ChatCall", () => {
    it("awaiting result without iterating drains the stream", async () => {
      const call = ctx.client().chat(chatRequest({ question: "[long:3000]" }));
      const result = await call.result;
      assert.equal(result.text, answerFor("[long:3000]"));
      assert.equal(result.chunks, 3001);
      const after = [];
      for await (const event of call) after.push(event);
      assert.deepEqual(after, [], "drained events are not kept");
    });

    it("asking for result first, then iterating at once, still delivers every event", async () => {
      const call = ctx.client().chat(chatRequest({ question: "both" }));
      const pending = call.result;
      const { events, result } = await collect(call);
      assert.equal(fold(events).text, result.text);
      assert.equal(await pending, result);
    });

    it("a slow reader is paused (backpressure) and still gets every event in order", async () => {
      const call = ctx.client({ idleTimeoutMs: 300 }).chat(chatRequest({ question: "[long:6000]" }));
      const texts = [];
      for await (const event of call) {
        texts.push(event.text);
        if (texts.length === 10) await new Promise((resolve) => setTimeout(resolve, 600)); // longer than the idle timeout
        if (texts.length % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(texts.length, 6000);
      assert.equal(texts.join(""), answerFor("[long:6000]"));
      assert.equal((await call.result).stopped, false);
    });

    it("breaking out of the iteration drains the rest; result still settles", async () => {
      const call = ctx.client().chat(chatRequest({ question: "[long:2000]" }));
      let seen = 0;
      for await (const event of call) {
        assert.equal(event.type, "delta");
        if (++seen === 5) break;
      }
      const result = await call.result;
      assert.equal(result.text, answerFor("[long:2000]"));
    });

    it("a failed call rejects only once on iteration, and a failure is never an unhandled rejection", async () => {
      const unhandled = [];
      const onUnhandled = (reason) => unhandled.push(reason);
      process.on("unhandledRejection", onUnhandled);
      try {
        const call = ctx.client().chat(chatRequest({ question: "[server-error] x" }));
        const iterator = call[Symbol.asyncIterator]();
        await assert.rejects(iterator.next(), (err) => err.code === "DBGPT_STREAM_ERROR");
        assert.deepEqual(await iterator.next(), { value: undefined, done: true });
        ctx.client().chat(chatRequest({ question: "[server-error] nobody listens" }));
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.deepEqual(unhandled, []);
      } finally {
        process.off("unhandledRejection", onUnhandled);
      }
    });

    it("exposes the id and model seen so far while streaming", async () => {
      const call = ctx
        .client()
        .chat(chatRequest({ chatMode: "chat_flow", chatParam: "flow-1", question: "q", convUid: "conv-x" }));
      assert.equal(call.id, undefined);
      for await (const event of call) {
        assert.ok(event);
        assert.equal(call.id, "conv-x");
        assert.equal(call.model, "chatgpt_proxyllm");
      }
    });
  });

  describe("proxies (HTTP_PROXY via undici's EnvHttpProxyAgent)", () => {
    const saved = {};
    const names = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"];
    beforeEach(() => {
      for (const name of names) {
        saved[name] = process.env[name];
        delete process.env[name];
      }
    });
    afterEach(() => {
      for (const name of names) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    });

    it("goes through the proxy when HTTP_PROXY is set", async () => {
      const proxy = await startProxy();
      try {
        process.env.HTTP_PROXY = proxy.url;
        const c = new DbgptClient({ baseUrl: ctx.emu.url });
        const { result } = await collect(c.chat(chatRequest({ question: "via proxy" })));
        assert.equal(result.text, answerFor("via proxy"));
        assert.equal((await c.listModels()).length > 0, true);
        await c.close();
        assert.ok(proxy.used.length > 0, "the proxy saw the requests");
        assert.ok(proxy.used.every((line) => line.includes(`127.0.0.1:${ctx.emu.port}`)));
      } finally {
        await proxy.close();
      }
    });

    it("NO_PROXY and useEnvProxy: false bypass it", async () => {
      const proxy = await startProxy();
      try {
        process.env.HTTP_PROXY = proxy.url;
        const direct = new DbgptClient({ baseUrl: ctx.emu.url, useEnvProxy: false });
        await direct.listModels();
        await direct.close();
        process.env.NO_PROXY = "127.0.0.1";
        const bypassed = new DbgptClient({ baseUrl: ctx.emu.url });
        await bypassed.listModels();
        await bypassed.close();
        assert.deepEqual(proxy.used, []);
      } finally {
        await proxy.close();
      }
    });
  });
});

describe("client transport: deadline, timers, encodings, headers, connection reuse (issue 9)", () => {
  const ctx = useEmulator();
  const { answerTokens } = require("../../emulator");

  it("the deadline stops a server that drips bytes steadily: DBGPT_TIMEOUT, partial text, connection closed", async () => {
    ctx.emu.fault({ drip: { bytes: 20, intervalMs: 30 } });
    const c = ctx.client({ idleTimeoutMs: 400, deadlineMs: 600 });
    const started = Date.now();
    const { events, error } = await collect(c.chat(chatRequest({ question: "[long:400] drip" })));
    const elapsed = Date.now() - started;
    assert.ok(error, "the drip must not run to its end");
    assert.equal(error.code, "DBGPT_TIMEOUT");
    assert.match(error.message, /within 0\.6 s \(deadline\)/);
    assert.ok(elapsed >= 590 && elapsed < 1000, `failed after ${elapsed} ms`);
    assert.ok(events.length > 0, "some text arrived before the deadline");
    assert.equal(error.partial, fold(events).text);
    await ctx.emu.waitForConnections(0, 1000);
  });

  it("a per-call deadlineMs overrides the client's; 0 means none", async () => {
    ctx.emu.fault({ drip: { bytes: 40, intervalMs: 20 } });
    const c = ctx.client({ deadlineMs: 100 });
    const { result } = await collect(c.chat(chatRequest({ question: "slow" }), { deadlineMs: 0 }));
    assert.equal(result.text, answerTokens("slow").join(""));
    ctx.emu.fault({ stall: "after-headers" });
    const other = ctx.client({ idleTimeoutMs: 5000 });
    const { error } = await collect(other.chat(chatRequest({ question: "q" }), { deadlineMs: 300 }));
    assert.equal(error.code, "DBGPT_TIMEOUT");
    assert.match(error.message, /deadline/);
  });

  it("the deadline applies to listApps and getApp too", async () => {
    const c = ctx.client({ deadlineMs: 300 });
    ctx.emu.fault({ stall: "after-headers" });
    const err = await rejectsWith(c.listApps(), "DBGPT_TIMEOUT");
    assert.match(err.message, /deadline/);
    ctx.emu.fault({ stall: "before-headers" });
    await rejectsWith(c.getApp("x"), "DBGPT_TIMEOUT");
    await rejectsWith(c.listApps({ deadlineMs: -1 }), "DBGPT_INVALID_INPUT");
    await ctx.emu.waitForConnections(0, 1000);
  });

  for (const [where, fault] of [
    ["before the headers", { stall: "before-headers" }],
    ["after some events", { stall: "after-events", events: 2 }],
  ]) {
    it(`a 1 s idle timeout fires within 50 ms of a plain 1 s timer from the last byte (${where})`, async () => {
      // Five calls at once; the median is judged, so that one call delayed by a busy machine does not decide.
      // Each is measured against a plain setTimeout(1000) restarted at every event it reads: a stall of this
      // process delays both alike, where undici's 0.5 s timer wheel would fire up to 0.5 s after it.
      ctx.emu.fault({ ...fault, times: 5 });
      const calls = await Promise.all(
        [0, 1, 2, 3, 4].map(async () => {
          const call = ctx.client({ idleTimeoutMs: 1000 }).chat(chatRequest({ question: "stall" }));
          let last;
          let plainFired;
          let plain;
          const restart = () => {
            last = Date.now();
            plainFired = undefined;
            clearTimeout(plain);
            plain = setTimeout(() => (plainFired = Date.now()), 1000);
          };
          restart();
          const iterating = (async () => {
            for await (const event of call) if (event) restart();
          })();
          await iterating.catch(() => undefined);
          const err = await rejectsWith(call.result, "DBGPT_TIMEOUT");
          const firedAt = Date.now();
          clearTimeout(plain);
          assert.match(err.message, /idle timeout/);
          return { wait: firedAt - last, late: plainFired === undefined ? 0 : firedAt - plainFired };
        }),
      );
      const waits = calls.map((c) => c.wait).sort((a, b) => a - b);
      const late = calls.map((c) => c.late).sort((a, b) => a - b);
      assert.ok(waits[0] >= 995, `fired early: ${waits}`);
      assert.ok(late[2] <= 50, `fired ${late} ms after a plain 1 s timer (${waits} ms after the last byte)`);
    });
  }

  for (const encoding of ["gzip", "deflate", "br"]) {
    it(`a ${encoding} body the client did not ask for is decoded (stream and JSON)`, async () => {
      const c = ctx.client();
      ctx.emu.fault({ encoding });
      const { result } = await collect(c.chat(chatRequest({ question: "packed" })));
      assert.equal(result.text, answerTokens("packed").join(""));
      ctx.emu.fault({ encoding });
      assert.ok((await c.listApps()).apps.length > 0);
    });
  }

  it("a long gzip stream read by a slow consumer arrives whole and in order (waits pause the decoder and the body)", async () => {
    ctx.emu.fault({ encoding: "gzip" });
    const call = ctx.client().chat(chatRequest({ question: "[long:60000] packed" }));
    let text = "";
    let count = 0;
    for await (const event of call) {
      text += event.text;
      // A long wait early on: the call's queue fills, then the decoder's buffers, then the body is paused.
      if (++count === 100) await new Promise((resolve) => setTimeout(resolve, 300));
    }
    const result = await call.result;
    const expected = answerTokens("[long:60000] packed").join("");
    assert.equal(count, answerTokens("[long:60000] packed").length);
    assert.equal(text, expected);
    assert.equal(result.text, expected);
  });

  it("a content encoding it cannot decode, or a corrupt gzip body, is DBGPT_PROTOCOL", async () => {
    const c = ctx.client();
    ctx.emu.fault({ encoding: "zstd" });
    const err = await rejectsWith(c.chat(chatRequest({ question: "q" })).result, "DBGPT_PROTOCOL");
    assert.match(err.message, /zstd/);
    ctx.emu.fault({
      status: { status: 200, body: "not gzip at all", contentType: "application/json" },
      headers: { "content-encoding": "gzip" },
    });
    const corrupt = await rejectsWith(c.listApps(), "DBGPT_PROTOCOL");
    assert.match(corrupt.message, /gzip/);
    await ctx.emu.waitForConnections(0, 1000);
  });

  it("response headers over undici's 16 KiB limit are DBGPT_PROTOCOL naming the size, not DBGPT_CONNECT", async () => {
    ctx.emu.fault({ bigHeader: 20_000 });
    const err = await rejectsWith(ctx.client().listApps(), "DBGPT_PROTOCOL");
    assert.match(err.message, /headers larger than .*16 KiB/);
    ctx.emu.fault({ bigHeader: 20_000 });
    const chatErr = await rejectsWith(
      ctx.client().chat(chatRequest({ question: "q" })).result,
      "DBGPT_PROTOCOL",
    );
    assert.match(chatErr.message, /16 KiB/);
  });

  it("a stream that ends cleanly without [DONE] closes its connection at once (keepAliveTimeoutMs is 4 s)", async () => {
    ctx.emu.fault({
      rawEvents: [
        `data: ${JSON.stringify({ id: "c", model: "m", choices: [{ index: 0, delta: { content: "hi" } }] })}\n\n`,
      ],
      end: "keep-alive",
    });
    const c = ctx.client();
    const { error } = await collect(c.chat(chatRequest({ question: "q" })));
    assert.equal(error.code, "DBGPT_STREAM_CLOSED");
    const started = Date.now();
    await ctx.emu.waitForConnections(0, 1000);
    assert.ok(Date.now() - started < 1000);
    // The client still works, on a new connection.
    assert.equal(
      (await collect(c.chat(chatRequest({ question: "after" })))).result.text,
      answerTokens("after").join(""),
    );
  });

  it("a snapshot stream (no [DONE] by design) completes and still closes its connection at once", async () => {
    const snapshot = (content) =>
      `data: ${JSON.stringify({ id: "c", model: "m", choices: [{ index: 0, message: { role: "assistant", content } }], usage: {} })}\n\n`;
    ctx.emu.fault({ rawEvents: [snapshot("Hel"), snapshot("Hello")], end: "keep-alive" });
    const { result } = await collect(ctx.client().chat(chatRequest({ question: "q" })));
    assert.equal(result.text, "Hello");
    await ctx.emu.waitForConnections(0, 1000);
  });

  it("after [DONE] the connection is reused", async () => {
    const c = ctx.client();
    await collect(c.chat(chatRequest({ question: "one" })));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await collect(c.chat(chatRequest({ question: "two" })));
    assert.equal(ctx.emu.openConnections(), 1);
  });
});

describe("client transport: a response body between undici and its reader", () => {
  const { ResponseBody } = require("../../nodes/lib/client/http.js");

  /** undici's dispatch controller, as far as a body uses it: counts pauses and resumes. */
  function fakeController() {
    return {
      paused: false,
      pauses: 0,
      resumes: 0,
      pause() {
        this.paused = true;
        this.pauses++;
      },
      resume() {
        this.paused = false;
        this.resumes++;
      },
    };
  }

  it("chunks that come before the reader are kept without pausing undici up to 64 KiB, then it pauses", async () => {
    const controller = fakeController();
    const body = new ResponseBody(controller);
    // The head often arrives with the first chunks: the reader attaches a turn later.
    body.push(Buffer.from("data: one\n\n"));
    body.push(Buffer.alloc(64 * 1024 - 20, 120));
    assert.equal(controller.pauses, 0, "a little kept before the reader does not stop undici");
    body.push(Buffer.from("data: past the bound\n\n"));
    assert.equal(controller.pauses, 1, "past 64 KiB kept, undici is paused");
    const seen = [];
    const reading = body.read((chunk) => {
      seen.push(chunk.length);
      return undefined;
    });
    assert.deepEqual(seen, [11, 64 * 1024 - 20, 22], "the kept chunks go to the reader at once, in order");
    assert.equal(controller.paused, false, "and undici reads on");
    body.push(Buffer.from("data: after\n\n"));
    body.finish();
    await reading;
    assert.deepEqual(seen, [11, 64 * 1024 - 20, 22, 13]);
  });

  it("a chunk that comes while the reader waits pauses undici at once; the wait's end resumes it", async () => {
    const controller = fakeController();
    const body = new ResponseBody(controller);
    let release;
    const seen = [];
    const reading = body.read((chunk) => {
      seen.push(chunk.toString());
      if (seen.length === 1) return new Promise((resolve) => (release = resolve));
      return undefined;
    });
    body.push(Buffer.from("a"));
    body.push(Buffer.from("b"));
    assert.equal(controller.pauses, 1);
    assert.deepEqual(seen, ["a"]);
    release();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(seen, ["a", "b"]);
    assert.equal(controller.resumes, 1);
    body.finish();
    await reading;
  });
});
