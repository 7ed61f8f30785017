"use strict";
// The editor's admin endpoints, through node-red-node-test-helper's admin app (its auth lets every
// caller through; admin-auth.test.js checks the permission with a real runtime).
const assert = require("node:assert/strict");
const { startEmulator, DEFAULT_APPS, DEFAULT_MODELS, APP_CODES } = require("../../emulator");
const { helper, NODES, useEmulatorSuite, chatFlow, flowWith, waitFor, closedUrl } = require("./helpers");

const KEY = "sk-admin-test-SECRET-91b2";

describe("dbgpt-config admin endpoints", function () {
  let emu;
  useEmulatorSuite((started) => (emu = started));

  const post = (path, body) => helper.request().post(path).send(body).set("Content-Type", "application/json");

  it("POST dbgpt-config/apps lists every app of the dialog's base URL (before any deploy)", async () => {
    await helper.load(NODES, []);
    const res = await post("/dbgpt-config/apps", { baseUrl: emu.url });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.apps, DEFAULT_APPS);
    assert.ok(res.body.agentApps.includes(APP_CODES.singleAgent));
    assert.ok(!res.body.agentApps.includes(APP_CODES.native));
    // The temporary client was closed: no keep-alive socket waits for its 4 s idle timeout.
    await emu.waitForConnections(0, 1500);
  });

  it("POST dbgpt-config/apps names the agent apps by the runtime's rule, a JSON-string team_context too", async () => {
    const awel = DEFAULT_APPS.find((app) => app.app_code === APP_CODES.awelLayout);
    const apps = [
      { ...awel, app_code: "flow-string", team_context: JSON.stringify({ flow_category: "chat_flow" }) },
      { ...awel, app_code: "flow-object", team_context: { flow_category: "chat_flow" } },
      { ...awel, app_code: "agent-string", team_context: JSON.stringify({ flow_category: "common" }) },
      DEFAULT_APPS.find((app) => app.app_code === APP_CODES.singleAgent),
      DEFAULT_APPS.find((app) => app.app_code === APP_CODES.native),
    ];
    emu.configure({ apps });
    await helper.load(NODES, []);
    const res = await post("/dbgpt-config/apps", { baseUrl: emu.url });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.agentApps, ["agent-string", APP_CODES.singleAgent]);
    const params = await post("/dbgpt-config/chat-params", { baseUrl: emu.url, chatMode: "chat_app" });
    assert.deepEqual(
      params.body.items.map((item) => item.value),
      res.body.agentApps,
    );
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

  it("resolves ${ENV_VAR} only for the deployed config's own base URL and key", async () => {
    emu.configure({ apiKeys: [KEY] });
    process.env.DBGPT_ADMIN_TEST_URL = emu.url;
    process.env.DBGPT_ADMIN_TEST_KEY = KEY;
    try {
      await helper.load(NODES, chatFlow("${DBGPT_ADMIN_TEST_URL}", {}), {
        cfg: { apiKey: "${DBGPT_ADMIN_TEST_KEY}" },
      });
      // The deployed node's own values (the dialog unchanged): resolved with the node's environment.
      for (const apiKey of ["__PWRD__", "${DBGPT_ADMIN_TEST_KEY}"]) {
        const res = await post("/dbgpt-config/test", {
          id: "cfg",
          baseUrl: "${DBGPT_ADMIN_TEST_URL}",
          apiKey,
        });
        assert.equal(res.body.ok, true, JSON.stringify(res.body));
        assert.equal(emu.chatRequests().at(-1).headers.authorization, `Bearer ${KEY}`);
        assert.ok(!res.text.includes(KEY));
      }
      emu.reset();
      // Anything else in a request body is not resolved, and no value is echoed.
      const cases = [
        { baseUrl: "${DBGPT_ADMIN_TEST_URL}" },
        { baseUrl: "${DBGPT_ADMIN_TEST_URL}", id: "not-deployed" },
        { baseUrl: "${HOME}", id: "cfg" },
        { baseUrl: emu.url, apiKey: "${DBGPT_ADMIN_TEST_KEY}" },
        { baseUrl: emu.url, id: "cfg", apiKey: "${HOME}" },
        { baseUrl: "${DBGPT_ADMIN_TEST_URL}", id: "cfg", apiKey: "${PATH}" },
      ];
      for (const body of cases) {
        const res = await post("/dbgpt-config/test", body);
        assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
        assert.equal(res.body.code, "DBGPT_INVALID_INPUT");
        for (const value of [emu.url, KEY, process.env.HOME, process.env.PATH]) {
          assert.ok(!res.text.includes(value), `${JSON.stringify(body)} echoed ${value}: ${res.text}`);
        }
      }
      assert.equal(emu.requests.length, 0, "nothing was sent");
    } finally {
      delete process.env.DBGPT_ADMIN_TEST_URL;
      delete process.env.DBGPT_ADMIN_TEST_KEY;
    }
  });

  it("sends the deployed key only to the deployed config's own base URL", async () => {
    const other = await startEmulator();
    try {
      emu.configure({ apiKeys: [KEY] });
      await helper.load(NODES, chatFlow(emu.url, {}), { cfg: { apiKey: KEY } });
      for (const name of ["test", "apps", "models"]) {
        const res = await post(`/dbgpt-config/${name}`, { id: "cfg", baseUrl: other.url });
        assert.equal(res.status, 200, res.text);
      }
      const chatParams = await post("/dbgpt-config/chat-params", {
        id: "cfg",
        baseUrl: other.url,
        chatMode: "chat_app",
      });
      assert.equal(chatParams.status, 200, chatParams.text);
      assert.ok(other.requests.length >= 5, "the other server was asked");
      for (const request of other.requests) {
        assert.equal(request.headers.authorization, undefined, `${request.method} ${request.rawPath}`);
      }
      // The test answer says why no key went along.
      const res = await post("/dbgpt-config/test", { id: "cfg", baseUrl: other.url, apiKey: "__PWRD__" });
      assert.deepEqual(
        res.body.warnings.map((w) => w.key),
        ["warnings.stored-key-other-url"],
      );
      // A trailing "/" is still the same server.
      const same = await post("/dbgpt-config/test", { id: "cfg", baseUrl: `${emu.url}/` });
      assert.equal(same.body.ok, true, same.text);
      assert.equal(emu.chatRequests().at(-1).headers.authorization, `Bearer ${KEY}`);
    } finally {
      await other.close();
    }
  });

  it("ignores the id of another node type that holds an apiKey credential", async () => {
    const OTHER_KEY = "sk-other-package-SECRET-77";
    function otherPackage(RED) {
      function KeyedNode(config) {
        RED.nodes.createNode(this, config);
      }
      RED.nodes.registerType("other-keyed", KeyedNode, { credentials: { apiKey: { type: "password" } } });
    }
    await helper.load([...NODES, otherPackage], flowWith(emu.url, [{ id: "keyed", type: "other-keyed" }]), {
      keyed: { apiKey: OTHER_KEY },
    });
    const res = await post("/dbgpt-config/test", { id: "keyed", baseUrl: emu.url });
    assert.equal(res.status, 200, res.text);
    const auth = emu.requests.map((r) => r.headers.authorization);
    assert.ok(emu.requests.length >= 2);
    assert.deepEqual(
      auth.filter((a) => a !== undefined),
      [],
      "no key was sent",
    );
  });

  it("takes JSON bodies only: a form-encoded body is refused with nothing sent", async () => {
    await helper.load(NODES, chatFlow(emu.url, {}), { cfg: { apiKey: KEY } });
    for (const name of ["test", "apps", "models", "chat-params"]) {
      const res = await helper
        .request()
        .post(`/dbgpt-config/${name}`)
        .type("form")
        .send({ baseUrl: emu.url, id: "cfg" });
      assert.equal(res.status, 415, `${name}: ${res.text}`);
      assert.equal(res.body.code, "DBGPT_INVALID_INPUT");
    }
    assert.equal(emu.requests.length, 0);
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
