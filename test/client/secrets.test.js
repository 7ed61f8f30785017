"use strict";
// The key in errors, over real sockets: masked before any text is cut (no fragment survives at a cut
// point), in its JSON-escaped and percent-encoded forms, and in "test connection"'s own messages. Also the
// inputs that used to slip through: a lone surrogate in an app id, a total_count that is not a whole number.
const { randomBytes } = require("node:crypto");
const { appPageFault } = require("../support/faults");
const { keyPieces } = require("../support/secrets");
const { assert, useEmulator, rejectsWith } = require("./helpers");
const { CHAT_PATH, APPS_PATH, DEFAULT_APPS } = require("../../emulator");

const plainKey = () => `sk-${randomBytes(18).toString("hex")}`;

function assertNoKey(err, key, ...forms) {
  const texts = [err.message, err.body, err.serverMessage, err.partial, String(err.stack)];
  for (const text of texts) {
    if (text === undefined) continue;
    assert.deepEqual(keyPieces(text, key), [], `a piece of the key in: ${text.slice(0, 400)}`);
    for (const form of forms) assert.ok(!text.includes(form), `the form ${form} in: ${text.slice(0, 400)}`);
  }
}

describe("client: the key in errors (masked before cutting, every form)", () => {
  const ctx = useEmulator();

  it("a key across the 300-character cut of a text body leaves no fragment in the message", async () => {
    const key = plainKey();
    for (const before of [290, 295, 299]) {
      ctx.emu.fault({
        match: { path: APPS_PATH },
        status: { status: 500, contentType: "text/plain", body: `${"x".repeat(before)}${key} trailing` },
      });
      const err = await rejectsWith(ctx.client({ apiKey: key }).listApps(), "DBGPT_HTTP");
      assert.match(err.message, /x{50}/, "the server's words are kept");
      assertNoKey(err, key);
    }
  });

  it("a key across the 4 KB cut of the body leaves no fragment in err.body", async () => {
    const key = plainKey();
    for (const before of [4080, 4090, 4095]) {
      const body = JSON.stringify({
        success: false,
        err_code: "E1",
        err_msg: "bad",
        pad: "p".repeat(before),
      });
      // The key straddles the 4096th character of the body.
      const text = body.slice(0, before) + key + body.slice(before);
      ctx.emu.fault({
        match: { path: APPS_PATH },
        status: { status: 502, contentType: "text/plain", body: text },
      });
      const err = await rejectsWith(ctx.client({ apiKey: key }).listApps(), "DBGPT_HTTP");
      assert.ok(err.body.length <= 4096);
      assertNoKey(err, key);
    }
  });

  it("a key with a quote and a backslash, echoed JSON-escaped or percent-encoded, is masked", async () => {
    const key = `sk-"quoted"\\back\\${randomBytes(8).toString("hex")}`;
    const escaped = JSON.stringify(key).slice(1, -1);
    const bodies = [
      JSON.stringify({ success: false, err_code: "E1", err_msg: `bad key ${key}`, data: null }),
      JSON.stringify({ detail: { header: `Bearer ${key}` } }),
      `the url was /x?key=${encodeURIComponent(key)}`,
      `the url was /x?key=${encodeURIComponent(key).replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase())}`,
      JSON.stringify({ detail: JSON.stringify({ auth: key }) }),
    ];
    for (const body of bodies) {
      ctx.emu.fault({
        match: { path: APPS_PATH },
        status: { status: 500, contentType: "application/json", body },
      });
      const err = await rejectsWith(ctx.client({ apiKey: key }).listApps(), "DBGPT_HTTP");
      assertNoKey(err, key.slice(-16), key, escaped, encodeURIComponent(key));
      assert.ok(err.body.includes("***"), err.body);
    }
  });

  for (const status of [403, 404, 500]) {
    it(`testConnection masks a key the server echoes in a ${status} body of the chat endpoint`, async () => {
      const key = plainKey();
      ctx.emu.configure({ apiKeys: [key] });
      ctx.emu.fault({
        match: { path: CHAT_PATH },
        status: { status, contentType: "text/plain", body: `Authorization: Bearer ${key}` },
      });
      const check = await ctx.client({ apiKey: key }).testConnection();
      assert.equal(check.ok, false);
      assert.equal(check.code, "DBGPT_HTTP");
      assert.equal(ctx.emu.chatRequests()[0].headers.authorization, `Bearer ${key}`, "the key was sent");
      assert.match(check.message, new RegExp(`HTTP ${status}`));
      assert.deepEqual(keyPieces(check.message, key), [], check.message);
      assertNoKey(check.error, key);
    });
  }

  it("testConnection masks a key echoed by the apps endpoint", async () => {
    const key = plainKey();
    ctx.emu.fault({
      match: { path: APPS_PATH },
      status: { status: 500, contentType: "text/plain", body: `${"y".repeat(290)}${key}` },
    });
    const check = await ctx.client({ apiKey: key }).testConnection();
    assert.equal(check.ok, false);
    assert.deepEqual(keyPieces(check.message, key), [], check.message);
  });
});

describe("client: inputs that used to slip through", () => {
  const ctx = useEmulator();

  it("a get-app id with a lone surrogate is DBGPT_INVALID_INPUT, with nothing sent", async () => {
    for (const id of ["\ud800", "app-\udfff", "x\ud83d"]) {
      await rejectsWith(ctx.client().getApp(id), "DBGPT_INVALID_INPUT");
    }
    assert.equal(ctx.emu.requests.length, 0);
  });

  for (const total of [1e21, 2.5, 100001, -1]) {
    it(`a total_count of ${total} is not sent as a page size: the apps that came are used`, async () => {
      const apps = DEFAULT_APPS.slice(0, 2);
      ctx.emu.fault(appPageFault(apps, total));
      const list = await ctx.client().listApps();
      assert.deepEqual(
        list.apps.map((a) => a.app_code),
        apps.map((a) => a.app_code),
      );
      assert.equal(list.totalCount, total);
      assert.deepEqual(
        ctx.emu.requests.map((r) => r.rawPath),
        [`${APPS_PATH}?page_size=100`],
      );
    });
  }

  it("a whole total_count above the first page still asks once more", async () => {
    const apps = DEFAULT_APPS.slice(0, 2);
    const body = JSON.stringify({
      success: true,
      err_code: null,
      err_msg: null,
      data: { app_list: apps, total_count: 3, total_page: 1, current_page: 1, page_size: 100 },
    });
    ctx.emu.fault({
      match: { path: APPS_PATH },
      status: { status: 200, contentType: "application/json", body },
    });
    await ctx.client().listApps();
    assert.deepEqual(
      ctx.emu.requests.map((r) => r.rawPath),
      [`${APPS_PATH}?page_size=100`, `${APPS_PATH}?page_size=3`],
    );
  });
});
