"use strict";
// listApps, getApp, listModels, testConnection over real sockets (dbgpt-api.md §2, §8, §10).
const { assert, useEmulator, rejectsWith } = require("./helpers");
const { DEFAULT_APPS, DEFAULT_MODELS, APP_CODES } = require("../../emulator");

/** `n` apps in the emulator's list form, newest first. */
function manyApps(n) {
  return Array.from({ length: n }, (_, i) => ({
    ...DEFAULT_APPS[0],
    app_code: `app-${n - i}`,
    app_name: `App ${n - i}`,
  }));
}

function envelope(data) {
  return JSON.stringify({ success: true, err_code: null, err_msg: null, data });
}

describe("client apps and models (§8, §10)", () => {
  const ctx = useEmulator();

  describe("listApps", () => {
    it("asks once with page_size=100 and returns every app in the server's order", async () => {
      const list = await ctx.client().listApps();
      assert.deepEqual(
        list.apps.map((a) => a.app_code),
        DEFAULT_APPS.map((a) => a.app_code),
      );
      assert.equal(list.totalCount, DEFAULT_APPS.length);
      assert.ok(DEFAULT_APPS.length > 20, "the emulator serves more than one default page");
      assert.deepEqual(
        ctx.emu.requests.map((r) => r.rawPath),
        ["/api/v2/serve/apps?page_size=100"],
      );
      assert.deepEqual(list.apps[0], DEFAULT_APPS[0], "app objects come through untouched");
    });

    it("asks once more with page_size=<total_count> when the server has more than came back", async () => {
      ctx.emu.configure({ apps: manyApps(130) });
      try {
        const list = await ctx.client().listApps();
        assert.equal(list.apps.length, 130);
        assert.equal(list.totalCount, 130);
        assert.equal(new Set(list.apps.map((a) => a.app_code)).size, 130, "de-duplicated by app_code");
        assert.deepEqual(list.apps.map((a) => a.app_code).slice(0, 3), ["app-130", "app-129", "app-128"]);
        assert.deepEqual(
          ctx.emu.requests.map((r) => r.rawPath),
          ["/api/v2/serve/apps?page_size=100", "/api/v2/serve/apps?page_size=130"],
        );
      } finally {
        ctx.emu.configure({ apps: DEFAULT_APPS });
      }
    });

    it("never loops: a server that stays short is asked twice, and duplicates are dropped", async () => {
      const [a, b] = DEFAULT_APPS;
      const body = envelope({ total_count: 500, total_page: 5, current_page: 1, app_list: [a, b, a] });
      ctx.emu.fault({
        match: { path: "/api/v2/serve/apps" },
        times: 0,
        status: { status: 200, body, contentType: "application/json" },
      });
      const list = await ctx.client().listApps();
      assert.deepEqual(
        list.apps.map((x) => x.app_code),
        [a.app_code, b.app_code],
      );
      assert.equal(list.totalCount, 500);
      assert.equal(ctx.emu.requests.length, 2);
      assert.equal(ctx.emu.requests[1].rawPath, "/api/v2/serve/apps?page_size=500");
    });

    it("a 200 with success: false is DBGPT_HTTP carrying err_msg", async () => {
      const body = JSON.stringify({
        success: false,
        err_code: "E000X",
        err_msg: "query app error: db down",
        data: null,
      });
      ctx.emu.fault({ status: { status: 200, body, contentType: "application/json" } });
      const err = await rejectsWith(ctx.client().listApps(), "DBGPT_HTTP");
      assert.match(err.message, /query app error: db down/);
      assert.equal(err.serverMessage, "query app error: db down");
      assert.equal(err.statusCode, 200);
      assert.equal(err.body, body);
      await ctx.emu.waitForConnections(0, 2000);
    });

    it("a list without app_list is DBGPT_PROTOCOL", async () => {
      ctx.emu.fault({
        status: { status: 200, body: envelope({ items: [] }), contentType: "application/json" },
      });
      await rejectsWith(ctx.client().listApps(), "DBGPT_PROTOCOL");
    });

    it("sends the key (the apps endpoints ignore it, so a wrong key still lists)", async () => {
      ctx.emu.configure({ apiKeys: ["right"] });
      const list = await ctx.client({ apiKey: "wrong" }).listApps();
      assert.equal(list.apps.length, DEFAULT_APPS.length);
      assert.equal(ctx.emu.requests[0].headers.authorization, "Bearer wrong");
    });
  });

  describe("getApp", () => {
    it("returns the app object of the detail endpoint", async () => {
      const app = await ctx.client().getApp(APP_CODES.singleAgent);
      assert.equal(app.app_code, APP_CODES.singleAgent);
      assert.equal(typeof app.details[0].llm_strategy_value, "string");
      assert.deepEqual(JSON.parse(app.details[0].llm_strategy_value), ["chatgpt_proxyllm", "gpt-4o"]);
      assert.equal(ctx.emu.requests[0].rawPath, `/api/v2/serve/apps/${APP_CODES.singleAgent}`);
    });

    it("an unknown id (200 with data: null) is DBGPT_NOT_FOUND, and its socket is closed", async () => {
      const err = await rejectsWith(ctx.client().getApp("nope"), "DBGPT_NOT_FOUND");
      assert.match(err.message, /"nope"/);
      assert.equal(err.statusCode, 200);
      await ctx.emu.waitForConnections(0, 2000);
    });

    for (const bad of [undefined, null, 42, {}, "", ".", ".."]) {
      it(`refuses ${JSON.stringify(bad) ?? "undefined"} as DBGPT_INVALID_INPUT before any request`, async () => {
        await rejectsWith(ctx.client().getApp(bad), "DBGPT_INVALID_INPUT");
        assert.equal(ctx.emu.requests.length, 0);
      });
    }

    for (const [id, rawSegment] of [
      ["../x", "..%2Fx"],
      ["a?b", "a%3Fb"],
      ["a#b", "a%23b"],
      ["a b/c", "a%20b%2Fc"],
      ["%2e%2e", "%252e%252e"],
      ["应用", "%E5%BA%94%E7%94%A8"],
    ]) {
      it(`sends ${JSON.stringify(id)} as one percent-encoded path segment, not normalised`, async () => {
        await rejectsWith(ctx.client().getApp(id), id.includes("/") ? "DBGPT_HTTP" : "DBGPT_NOT_FOUND");
        assert.equal(ctx.emu.requests.length, 1);
        assert.equal(ctx.emu.requests[0].rawPath, `/api/v2/serve/apps/${rawSegment}`);
        assert.deepEqual(ctx.emu.requests[0].query, {});
      });
    }
  });

  describe("listModels", () => {
    it("returns every model instance, llm and others", async () => {
      const models = await ctx.client().listModels();
      assert.deepEqual(models, DEFAULT_MODELS);
      assert.ok(models.some((m) => m.worker_type !== "llm"));
      assert.equal(ctx.emu.requests[0].rawPath, "/api/v2/serve/model/models");
    });
  });

  describe("testConnection (§2)", () => {
    it("without keys on the server: ok, no key needed", async () => {
      const check = await ctx.client().testConnection();
      assert.equal(check.ok, true);
      assert.equal(check.apps, DEFAULT_APPS.length);
      assert.match(check.message, /no API key is needed/);
      const probe = ctx.emu.chatRequests()[0];
      assert.equal(probe.bodyText, "{}");
    });

    it("with the right key: ok", async () => {
      ctx.emu.configure({ apiKeys: ["k1", "sk-right"] });
      const check = await ctx.client({ apiKey: "sk-right" }).testConnection();
      assert.equal(check.ok, true);
      assert.match(check.message, /accepted/);
      assert.ok(!check.message.includes("sk-right"));
    });

    it("with a wrong key: not ok, DBGPT_AUTH, and the key is never echoed", async () => {
      ctx.emu.configure({ apiKeys: ["sk-right"] });
      const check = await ctx.client({ apiKey: "sk-wrong-secret" }).testConnection();
      assert.equal(check.ok, false);
      assert.equal(check.code, "DBGPT_AUTH");
      assert.match(check.message, /rejected the API key/);
      assert.ok(!check.message.includes("sk-wrong-secret"));
    });

    it("without a key on a server that needs one: not ok, DBGPT_AUTH", async () => {
      ctx.emu.configure({ apiKeys: ["sk-right"] });
      const check = await ctx.client().testConnection();
      assert.deepEqual([check.ok, check.code], [false, "DBGPT_AUTH"]);
      assert.match(check.message, /requires an API key/);
      assert.equal(ctx.emu.chatRequests()[0].headers.authorization, undefined);
    });

    it("an unreachable server: not ok, DBGPT_CONNECT", async () => {
      const { DbgptClient } = require("./helpers").client;
      const closed = new DbgptClient({ baseUrl: "http://127.0.0.1:1" });
      try {
        const check = await closed.testConnection();
        assert.deepEqual([check.ok, check.code], [false, "DBGPT_CONNECT"]);
      } finally {
        await closed.close();
      }
    });
  });
});
