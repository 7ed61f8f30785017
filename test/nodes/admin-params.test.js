"use strict";
// POST dbgpt-config/chat-params: the chat node's chat param choices per chat mode (PRODUCT.md "the label
// and picker follow the mode"), through node-red-node-test-helper's admin app.
const assert = require("node:assert/strict");
const { DEFAULT_APPS, APP_CODES } = require("../../emulator");
const { helper, NODES, useEmulatorSuite, chatFlow } = require("./helpers");

const KEY = "sk-params-test-SECRET-5c1e";
const PATH = "/dbgpt-config/chat-params";

describe("dbgpt-config admin endpoint chat-params", function () {
  let emu;
  useEmulatorSuite((started) => (emu = started));

  const post = (body) => helper.request().post(PATH).send(body).set("Content-Type", "application/json");

  it("chat_knowledge: the knowledge spaces, value = name, label = name — desc", async () => {
    await helper.load(NODES, []);
    const res = await post({ baseUrl: emu.url, chatMode: "chat_knowledge" });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      items: [
        { value: "default_space", label: "default_space — The default knowledge space" },
        { value: "product_docs", label: "product_docs" },
      ],
    });
    assert.equal(emu.requests[0].rawPath, "/api/v2/serve/knowledge/spaces?page=1&page_size=1000");
    await emu.waitForConnections(0, 1500);
  });

  it("chat_flow: the chat flows, value = uid, label = label or name", async () => {
    await helper.load(NODES, []);
    const res = await post({ baseUrl: emu.url, chatMode: "chat_flow" });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      items: [
        { value: "flow-1", label: "Flow 1" },
        { value: "agent-flow-2", label: "agent-flow-2" },
      ],
    });
  });

  for (const chatMode of ["chat_data", "chat_with_db_qa", "chat_dashboard"]) {
    it(`${chatMode}: the databases, value = db_name, label = "db_name (db_type)"`, async () => {
      await helper.load(NODES, []);
      const res = await post({ baseUrl: emu.url, chatMode });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, {
        items: [
          { value: "dbgpt_test", label: "dbgpt_test (mysql)" },
          { value: "sales", label: "sales (sqlite)" },
        ],
      });
      assert.equal(emu.requests[0].rawPath, "/api/v2/serve/datasources");
    });
  }

  it("chat_app: the agent apps only (no native or AWEL chat-flow apps), value = app_code, label = app_name", async () => {
    await helper.load(NODES, []);
    const res = await post({ baseUrl: emu.url, chatMode: "chat_app" });
    assert.equal(res.status, 200);
    const expected = DEFAULT_APPS.filter(
      (a) => a.team_mode === "single_agent" || a.team_mode === "auto_plan",
    );
    assert.deepEqual(
      res.body.items,
      expected.map((a) => ({ value: a.app_code, label: a.app_name })),
    );
    const values = res.body.items.map((i) => i.value);
    assert.ok(values.includes(APP_CODES.singleAgent) && values.includes(APP_CODES.autoPlan));
    assert.ok(!values.includes(APP_CODES.awelLayout) && !values.includes(APP_CODES.native));
  });

  it("sends the key to chat flows and datasources; without it the server's 401 is a 502 DBGPT_AUTH", async () => {
    await helper.load(NODES, []);
    emu.configure({ apiKeys: [KEY] });
    for (const chatMode of ["chat_flow", "chat_data"]) {
      let res = await post({ baseUrl: emu.url, chatMode });
      assert.equal(res.status, 502, chatMode);
      assert.equal(res.body.code, "DBGPT_AUTH");
      res = await post({ baseUrl: emu.url, chatMode, apiKey: "sk-wrong-SECRET" });
      assert.equal(res.status, 502);
      assert.equal(res.body.code, "DBGPT_AUTH");
      assert.ok(!res.text.includes("sk-wrong-SECRET"));
      res = await post({ baseUrl: emu.url, chatMode, apiKey: KEY });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.items.length, 2);
      assert.equal(emu.requests.at(-1).headers.authorization, `Bearer ${KEY}`);
      assert.ok(!res.text.includes(KEY));
    }
    // The knowledge spaces route does not check keys.
    const res = await post({ baseUrl: emu.url, chatMode: "chat_knowledge" });
    assert.equal(res.status, 200);
  });

  it("uses the deployed key by config id when the dialog has no new one", async () => {
    emu.configure({ apiKeys: [KEY] });
    await helper.load(NODES, chatFlow(emu.url, {}), { cfg: { apiKey: KEY } });
    const res = await post({ baseUrl: emu.url, id: "cfg", apiKey: "__PWRD__", chatMode: "chat_flow" });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(
      res.body.items.map((i) => i.value),
      ["flow-1", "agent-flow-2"],
    );
    assert.equal(emu.requests.at(-1).headers.authorization, `Bearer ${KEY}`);
  });

  it("chat_normal, an unknown or missing chat mode: 400 DBGPT_INVALID_INPUT, no request to the server", async () => {
    await helper.load(NODES, []);
    for (const chatMode of ["chat_normal", "chat_excel", "", undefined, 7]) {
      const res = await post({ baseUrl: emu.url, chatMode });
      assert.equal(res.status, 400, String(chatMode));
      assert.equal(res.body.code, "DBGPT_INVALID_INPUT");
      assert.equal(typeof res.body.message, "string");
    }
    assert.equal(emu.requests.length, 0);
  });

  it("a failing server is 502 with the error's code and the server's message", async () => {
    await helper.load(NODES, []);
    const body = JSON.stringify({ success: false, err_code: "E000X", err_msg: "space db down", data: null });
    emu.fault({
      match: { path: "/api/v2/serve/knowledge/spaces" },
      status: { status: 200, body, contentType: "application/json" },
    });
    let res = await post({ baseUrl: emu.url, chatMode: "chat_knowledge" });
    assert.equal(res.status, 502);
    assert.equal(res.body.code, "DBGPT_HTTP");
    assert.match(res.body.message, /space db down/);
    res = await post({ baseUrl: "not a url", chatMode: "chat_knowledge" });
    assert.equal(res.status, 400);
    assert.equal(res.body.code, "DBGPT_INVALID_INPUT");
  });
});
