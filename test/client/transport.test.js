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
