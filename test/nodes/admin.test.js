"use strict";
// The editor's admin endpoints, through node-red-node-test-helper's admin app (its auth lets every
// caller through; admin-auth.test.js checks the permission with a real runtime).
const assert = require("node:assert/strict");
const { DEFAULT_APPS, DEFAULT_MODELS } = require("../../emulator");
const { helper, NODES, useEmulatorSuite, chatFlow, waitFor, closedUrl } = require("./helpers");

const KEY = "sk-admin-test-SECRET-91b2";

describe("dbgpt-config admin endpoints", function () {
  let emu;
  useEmulatorSuite((started) => (emu = started));

  const post = (path, body) => helper.request().post(path).send(body).set("Content-Type", "application/json");

  it("POST dbgpt-config/apps lists every app of the dialog's base URL (before any deploy)", async () => {
    await helper.load(NODES, []);
    const res = await post("/dbgpt-config/apps", { baseUrl: emu.url });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { apps: DEFAULT_APPS });
    // The temporary client was closed: no keep-alive socket waits for its 4 s idle timeout.
    await emu.waitForConnections(0, 1500);
  });

  it("POST dbgpt-config/models lists the llm models in the server's order", async () => {
    await helper.load(NODES, []);
    const res = await post("/dbgpt-config/models", { baseUrl: `${emu.url}/` });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      models: DEFAULT_MODELS.filter((m) => m.worker_type === "llm").map((m) => m.model_name),
    });
    assert.ok(!res.body.models.includes("text2vec-large-chinese"));
  });

  it("POST dbgpt-config/test reports ok, a rejected key, and an unreachable server; never the key", async () => {
    await helper.load(NODES, []);
    let res = await post("/dbgpt-config/test", { baseUrl: emu.url });
    assert.equal(res.status, 200);
    assert.equal(res.body.ok, true);
    assert.equal(typeof res.body.message, "string");

    emu.configure({ apiKeys: [KEY] });
    res = await post("/dbgpt-config/test", { baseUrl: emu.url, apiKey: "sk-wrong-key-SECRET" });
    assert.equal(res.status, 200);
    assert.equal(res.body.ok, false);
    assert.equal(res.body.code, "DBGPT_AUTH");
    assert.ok(!res.text.includes("sk-wrong-key-SECRET"));

    res = await post("/dbgpt-config/test", { baseUrl: emu.url, apiKey: KEY });
    assert.equal(res.body.ok, true);
    assert.equal(emu.chatRequests().at(-1).headers.authorization, `Bearer ${KEY}`);
    assert.ok(!res.text.includes(KEY));

    const url = await closedUrl();
    res = await post("/dbgpt-config/test", { baseUrl: url });
    assert.equal(res.status, 200);
    assert.deepEqual([res.body.ok, res.body.code], [false, "DBGPT_CONNECT"]);
  });

  it("uses the deployed key by config id when the dialog has no new one (or shows __PWRD__)", async () => {
    emu.configure({ apiKeys: [KEY] });
    await helper.load(NODES, chatFlow(emu.url, {}), { cfg: { apiKey: KEY } });
    for (const body of [{ id: "cfg" }, { id: "cfg", apiKey: "__PWRD__" }, { id: "cfg", apiKey: "" }]) {
      const res = await post("/dbgpt-config/test", { baseUrl: emu.url, ...body });
      assert.equal(res.body.ok, true, JSON.stringify(res.body));
      assert.ok(!res.text.includes(KEY));
    }
    const res = await post("/dbgpt-config/test", { baseUrl: emu.url, id: "not-deployed" });
    assert.equal(res.body.ok, false);
    assert.equal(res.body.code, "DBGPT_AUTH");
  });

  it("resolves ${ENV_VAR} in the dialog's base URL and key", async () => {
    await helper.load(NODES, []);
    emu.configure({ apiKeys: [KEY] });
    process.env.DBGPT_ADMIN_TEST_URL = emu.url;
    process.env.DBGPT_ADMIN_TEST_KEY = KEY;
    try {
      const res = await post("/dbgpt-config/test", {
        baseUrl: "${DBGPT_ADMIN_TEST_URL}",
        apiKey: "${DBGPT_ADMIN_TEST_KEY}",
      });
      assert.equal(res.body.ok, true, JSON.stringify(res.body));
    } finally {
      delete process.env.DBGPT_ADMIN_TEST_URL;
      delete process.env.DBGPT_ADMIN_TEST_KEY;
    }
  });

  it("answers 400 for bad input and 502 for a failing server, with {code, message}", async () => {
    await helper.load(NODES, []);
    for (const baseUrl of ["not a url", "", "ftp://x", undefined, "${DBGPT_ADMIN_TEST_UNSET}"]) {
      const res = await post("/dbgpt-config/apps", { baseUrl });
      assert.equal(res.status, 400, String(baseUrl));
      assert.equal(res.body.code, "DBGPT_INVALID_INPUT");
      assert.equal(typeof res.body.message, "string");
    }
    let res = await post("/dbgpt-config/apps", { baseUrl: emu.url, tls: "no-such-tls-node" });
    assert.equal(res.status, 400);

    emu.fault({
      match: { path: "/api/v2/serve/apps" },
      status: { status: 500, body: "", contentType: "text/plain" },
    });
    res = await post("/dbgpt-config/apps", { baseUrl: emu.url });
    assert.equal(res.status, 502);
    assert.equal(res.body.code, "DBGPT_HTTP");

    const url = await closedUrl();
    res = await post("/dbgpt-config/models", { baseUrl: url });
    assert.equal(res.status, 502);
    assert.equal(res.body.code, "DBGPT_CONNECT");
    await waitFor(() => emu.openConnections() === 0, "every temporary client closed", 2000);
  });
});
