"use strict";
/**
 * Security, in a real Node-RED runtime:
 * - the API key (typed in, or from ${ENV_VAR}) never appears in the log, status, output messages, errors
 *   (even when the server echoes it back), the debug sidebar, the flows export or the admin endpoints'
 *   answers: everything is collected and scanned at the end;
 * - a key containing CR or LF is refused (logged once, DBGPT_INVALID_INPUT, nothing sent);
 * - a redirect, to another origin or not, is never followed, so the Authorization header never leaves
 *   for another origin;
 * - with Node-RED's adminAuth on, the admin endpoints answer 401 without a token;
 * - an app id cannot change the request's path or query.
 */
const assert = require("node:assert/strict");
const { randomBytes } = require("node:crypto");

const { startNodeRed } = require("./harness");
const {
  PROBE_SETTINGS,
  childEnv,
  expectNoUnhandled,
  functionNode,
  driverFlow,
  Driver,
} = require("./fixtures-hardening");
const { httpRequest } = require("../support/http");
const { failureAnswer } = require("../support/faults");
const { configNode, chatNode } = require("../support/flow-format");
const { adminAuthSettings, adminToken, bearer } = require("../support/admin-auth");
const { CHAT_PATH, APPS_PATH, startEmulator, answerFor } = require("../../emulator");

const hex = () => randomBytes(8).toString("hex");
const KEY = `sk-typed-${hex()}`;
const ENV_KEY = `sk-env-${hex()}`;
const WRONG_KEY = `sk-wrong-${hex()}`;
const CR_KEY_HEAD = `sk-cr-${hex()}`;
const LF_KEY_HEAD = `sk-lf-${hex()}`;
const CR_KEY = `${CR_KEY_HEAD}\rX-Injected: yes`;
const LF_KEY = `${LF_KEY_HEAD}\nX-Injected: yes`;
/** What must never show up anywhere Node-RED shows or exports things. */
const SECRETS = [KEY, ENV_KEY, WRONG_KEY, CR_KEY_HEAD, LF_KEY_HEAD];

function secretsIn(text) {
  return SECRETS.filter((secret) => text.includes(secret));
}

function assertNoSecret(what, value) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  const found = secretsIn(text);
  assert.deepEqual(found, [], `${what} contains an API key: ${found.join(", ")}`);
}

/**
 * A chat node outside every Catch scope, so that its errors go to the runtime log: POST /fire with
 * { payload } sends it a message (without req/res) and answers 202 at once.
 */
const LOOSE_NODES = [
  { id: "loose-tab", type: "tab", label: "uncaught", disabled: false, info: "" },
  {
    id: "loose-in",
    type: "http in",
    z: "loose-tab",
    name: "",
    url: "/fire",
    method: "post",
    upload: false,
    swaggerDoc: "",
    wires: [["loose-fire"]],
  },
  functionNode(
    "loose-fire",
    "loose-tab",
    "fire",
    "msg.statusCode = 202;\nreturn [{ payload: msg.payload.payload }, msg];",
    2,
    [["chat-loose"], ["loose-res"]],
  ),
  { ...chatNode("chat-loose", "cfg-key"), z: "loose-tab", wires: [[], []] },
  {
    id: "loose-res",
    type: "http response",
    z: "loose-tab",
    name: "",
    statusCode: "",
    headers: {},
    wires: [],
  },
];

describe("runtime: security (real Node-RED)", function () {
  this.timeout(30000);

  let emu;
  let other;
  let nr;
  let driver;
  let debug;
  /** Every answer the tests saw from Node-RED (outputs, errors, admin answers), scanned at the end. */
  const seen = [];

  const NODES = {
    key: "chat-key",
    env: "chat-env",
    wrong: "chat-wrong",
    cr: "chat-cr",
    lf: "chat-lf",
    apps: "list-apps-key",
    app: "get-app-key",
  };

  before(async function () {
    this.timeout(300000);
    emu = await startEmulator({ delayMs: 0, apiKeys: [KEY, ENV_KEY] });
    other = await startEmulator({ delayMs: 0 });
    const flows = driverFlow({
      tap: true,
      targets: [
        { name: "key", node: chatNode(NODES.key, "cfg-key") },
        { name: "env", node: chatNode(NODES.env, "cfg-env") },
        { name: "wrong", node: chatNode(NODES.wrong, "cfg-wrong") },
        { name: "cr", node: chatNode(NODES.cr, "cfg-cr") },
        { name: "lf", node: chatNode(NODES.lf, "cfg-lf") },
        {
          name: "apps",
          node: {
            id: NODES.apps,
            type: "dbgpt-list-apps",
            name: "apps",
            server: "cfg-key",
            agentAppsOnly: false,
          },
        },
        {
          name: "app",
          node: {
            id: NODES.app,
            type: "dbgpt-get-app",
            name: "app",
            server: "cfg-key",
            appId: "payload",
            appIdType: "msg",
          },
        },
      ],
      extra: [
        ...LOOSE_NODES,
        configNode("cfg-key", emu.url),
        configNode("cfg-env", emu.url),
        configNode("cfg-wrong", emu.url),
        configNode("cfg-cr", emu.url),
        configNode("cfg-lf", emu.url),
      ],
    });
    nr = await startNodeRed({
      flows,
      credentials: {
        "cfg-key": { apiKey: KEY },
        "cfg-env": { apiKey: "${DBGPT_SECURITY_TEST_KEY}" },
        "cfg-wrong": { apiKey: WRONG_KEY },
        "cfg-cr": { apiKey: CR_KEY },
        "cfg-lf": { apiKey: LF_KEY },
      },
      settings: PROBE_SETTINGS,
      env: childEnv({ extra: { DBGPT_SECURITY_TEST_KEY: ENV_KEY } }),
    });
    driver = new Driver(nr);
    debug = await nr.subscribeDebug();
  });

  after(async function () {
    this.timeout(30000);
    if (debug) debug.close();
    if (nr) await nr.stop();
    for (const server of [emu, other]) if (server) await server.close();
  });

  beforeEach(() => {
    emu.reset();
    other.reset();
  });

  async function ask(target, props) {
    const result = await driver.ask(target, props);
    seen.push({ what: `${target} ${JSON.stringify(props)}`, result });
    return result;
  }

  async function admin(route, body, headers = {}) {
    const res = await httpRequest(`${nr.url}/dbgpt-config/${route}`, { method: "POST", body, headers });
    seen.push({ what: `admin ${route}`, status: res.status, text: res.text });
    return res;
  }

  describe("the API key", () => {
    it("is sent to the server as the bearer token (typed in, or from ${ENV_VAR})", async () => {
      for (const [target, key] of [
        ["key", KEY],
        ["env", ENV_KEY],
      ]) {
        emu.reset();
        const { outcome } = await ask(target, { payload: `hello from ${target}` });
        assert.equal(outcome.kind, "final", JSON.stringify(outcome.error));
        assert.equal(outcome.payload, answerFor(`hello from ${target}`));
        assert.equal(emu.chatRequests()[0].headers.authorization, `Bearer ${key}`);
      }
      const { outcome } = await ask("wrong", { payload: "hello with a wrong key" });
      assert.equal(outcome.kind, "error");
      assert.equal(outcome.dbgpt.error.code, "DBGPT_AUTH");
    });

    const ECHOES = [
      {
        label: "a 502 whose JSON body echoes the key",
        spec: (key) => failureAnswer(502, "E0502", `worker refused key ${key}`),
        code: "DBGPT_HTTP",
        said: /worker refused key/,
      },
      {
        label: "a 401 whose body echoes the key",
        spec: (key) => failureAnswer(401, "401", `invalid api key: ${key}`),
        code: "DBGPT_AUTH",
        said: /invalid api key/,
      },
      {
        label: "an HTML 404 page that shows the key",
        spec: (key) => ({
          status: {
            status: 404,
            contentType: "text/html",
            body: `<html><head><title>No ${key}</title></head></html>`,
          },
        }),
        code: "DBGPT_HTTP",
        said: /404/,
      },
      {
        label: "a [SERVER_ERROR] event that echoes the key",
        spec: (key) => ({
          rawEvents: [`data: [SERVER_ERROR]bad credentials ${key}\n\n`, "data: [DONE]\n\n"],
        }),
        code: "DBGPT_STREAM_ERROR",
        said: /bad credentials/,
      },
    ];
    for (const { label, spec, code, said } of ECHOES) {
      it(`is masked in errors built from ${label}`, async () => {
        for (const [target, key] of [
          ["key", KEY],
          ["env", ENV_KEY],
        ]) {
          const question = `echo the key: ${label}`;
          emu.fault({ match: { question }, ...spec(key) });
          const { outcome } = await ask(target, { payload: question });
          assert.equal(outcome.kind, "error");
          assert.equal(outcome.dbgpt.error.code, code, outcome.error.message);
          assert.ok(
            emu.requests.some((r) => r.fault !== undefined),
            "the server echoed the key",
          );
          assertNoSecret(`the ${code} error on ${target}`, outcome);
          // Masked, not dropped: the server's own words are still there.
          assert.match(outcome.error.message, said);
        }
      });
    }

    it("is masked in the runtime log when no Catch handles the error", async () => {
      for (const { label, spec, code, said } of ECHOES) {
        const question = `uncaught echo: ${label}`;
        emu.fault({ match: { question }, ...spec(KEY) });
        const from = nr.logs().length;
        const fired = await httpRequest(`${nr.url}/fire`, { method: "POST", body: { payload: question } });
        assert.equal(fired.status, 202, fired.text);
        const [line] = await nr.waitForLog(/\[error\] \[dbgpt-chat:chat chat-loose\][^\n]*/, 5000, from);
        assert.match(line, said, `the log line has the server's words (${code})`);
        assertNoSecret("the error log line", line);
      }
    });

    it("is masked in list-apps and get-app errors that echo it", async () => {
      emu.fault({
        match: { path: APPS_PATH },
        times: 2,
        ...failureAnswer(500, "E000X", `query app error: key ${KEY}`),
      });
      for (const [target, props] of [
        ["apps", { payload: "list" }],
        ["app", { payload: "some-app" }],
      ]) {
        const { outcome } = await ask(target, props);
        assert.equal(outcome.kind, "error");
        assert.equal(outcome.dbgpt.error.code, "DBGPT_HTTP");
        assertNoSecret(`the ${target} error`, outcome);
      }
    });

    it("never appears in the admin endpoints' answers, whatever the server says", async () => {
      const withId = { baseUrl: emu.url, id: "cfg-key" };
      const apps = await admin("apps", withId);
      assert.equal(apps.status, 200, apps.text);
      assert.ok(apps.json.apps.length > 20);
      const models = await admin("models", withId);
      assert.equal(models.status, 200, models.text);
      assert.ok(models.json.models.includes("chatgpt_proxyllm"));
      const test = await admin("test", withId);
      assert.equal(test.status, 200, test.text);
      assert.equal(test.json.ok, true, test.text);
      assert.equal(
        emu.chatRequests().at(-1).headers.authorization,
        `Bearer ${KEY}`,
        "test connection used the deployed key",
      );

      // The server echoes the key the endpoint sent (the deployed one, or one typed in the dialog).
      for (const [body, key] of [
        [withId, KEY],
        [{ baseUrl: emu.url, apiKey: ENV_KEY }, ENV_KEY],
      ]) {
        emu.fault({ match: { path: CHAT_PATH }, ...failureAnswer(401, "401", `rejected ${key}`) });
        const rejected = await admin("test", body);
        assert.equal(rejected.status, 200, rejected.text);
        assert.equal(rejected.json.ok, false);
        emu.fault({
          match: { path: APPS_PATH },
          status: { status: 502, contentType: "text/plain", body: `down ${key}` },
        });
        const failed = await admin("apps", body);
        assert.equal(failed.status, 502, failed.text);
        assert.equal(failed.json.code, "DBGPT_HTTP");
      }
      const credentials = await httpRequest(`${nr.url}/credentials/dbgpt-config/cfg-key`);
      seen.push({ what: "GET /credentials/dbgpt-config/cfg-key", text: credentials.text });
      assert.equal(credentials.status, 200);
      assert.equal(credentials.json.has_apiKey, true);
      for (const entry of seen.filter((e) => e.what.startsWith("admin") || e.what.startsWith("GET /cred"))) {
        assertNoSecret(entry.what, entry.text);
      }
    });

    it("is not in the flows export (GET /flows)", async () => {
      const res = await httpRequest(`${nr.url}/flows`);
      assert.equal(res.status, 200);
      assertNoSecret("GET /flows", res.text);
      const flows = Array.isArray(res.json) ? res.json : res.json.flows;
      const configs = flows.filter((n) => n.type === "dbgpt-config");
      assert.equal(configs.length, 5);
      for (const config of configs) assert.equal(config.credentials, undefined);
      assert.ok(res.text.includes("dbgpt-config"));
    });
  });

  describe("a key containing CR or LF", () => {
    for (const [target, head, config] of [
      ["cr", CR_KEY_HEAD, "cfg-cr"],
      ["lf", LF_KEY_HEAD, "cfg-lf"],
    ]) {
      it(`is refused (${target.toUpperCase()}): logged once, DBGPT_INVALID_INPUT, nothing sent`, async () => {
        for (const question of ["first try", "second try"]) {
          const { outcome } = await ask(target, { payload: question });
          assert.equal(outcome.kind, "error");
          assert.equal(outcome.dbgpt.error.code, "DBGPT_INVALID_INPUT", outcome.error.message);
          assert.equal(outcome.error.source.id, NODES[target]);
        }
        await driver.waitForStatus(NODES[target], (s) => s.fill === "red" && s.shape === "ring");
        assert.equal(emu.requests.length, 0, "nothing reached the server");
        const lines = nr
          .logs()
          .split("\n")
          .filter((line) => line.includes(`[dbgpt-config:server ${config}]`) && /\[error\]/.test(line));
        assert.equal(lines.length, 1, `the config node logs its problem once:\n${lines.join("\n")}`);
        assert.doesNotMatch(nr.logs(), new RegExp(head));
      });
    }

    it("is refused by the admin endpoints too, without echoing it", async () => {
      for (const key of [CR_KEY, LF_KEY]) {
        const res = await admin("test", { baseUrl: emu.url, apiKey: key });
        assert.equal(res.status, 400, res.text);
        assert.equal(res.json.code, "DBGPT_INVALID_INPUT");
      }
      assert.equal(emu.requests.length, 0);
    });
  });

  describe("redirects", () => {
    it("are never followed, so Authorization never reaches another origin", async () => {
      const elsewhere = (p) => `${other.url}${p}`;
      const cases = [
        ...[301, 302, 303, 307, 308].map((status) => [
          "key",
          { payload: `redirect ${status}` },
          status,
          CHAT_PATH,
        ]),
        ["env", { payload: "redirect env" }, 307, CHAT_PATH],
        ["apps", { payload: "list" }, 302, APPS_PATH],
        ["app", { payload: "an-app" }, 301, `${APPS_PATH}/an-app`],
      ];
      for (const [target, props, status, where] of cases) {
        emu.fault({ match: { path: where }, redirect: { status, location: elsewhere(where) } });
        const { outcome } = await ask(target, props);
        assert.equal(outcome.kind, "error", `${target} ${status}`);
        assert.equal(outcome.dbgpt.error.code, "DBGPT_HTTP");
        assert.equal(outcome.dbgpt.error.statusCode, status);
        assert.match(outcome.error.message, new RegExp(other.url.replace(/[.:/]/g, "\\$&")));
      }
      assert.equal(other.requests.length, 0, "the other origin saw no request at all");
      const sentWithKey = emu.chatRequests().filter((r) => r.headers.authorization !== undefined);
      assert.equal(sentWithKey.length, 6, "the key was in play on every chat request");
    });

    it("are not followed within the same origin either", async () => {
      emu.fault({
        match: { path: CHAT_PATH },
        redirect: { status: 307, location: "/api/v2/chat/completions?again=1" },
      });
      const { outcome } = await ask("key", { payload: "same origin redirect" });
      assert.equal(outcome.dbgpt.error.code, "DBGPT_HTTP");
      assert.equal(emu.chatRequests().length, 1);
    });
  });

  describe("an app id", () => {
    const IDS = [
      "../x",
      "../../api/v2/chat/completions",
      "a?b",
      "a?page_size=1",
      "a/b",
      "a#b",
      "%2e%2e",
      "..%2f..%2fadmin",
      "a b&c=d",
      "?",
      "#",
      "./",
      "中文 app",
      "%",
    ];
    for (const id of IDS) {
      it(`${JSON.stringify(id)} stays one percent-encoded path segment`, async () => {
        const { outcome } = await ask("app", { payload: id });
        assert.equal(outcome.kind, "error", "no such app");
        assert.ok(
          ["DBGPT_NOT_FOUND", "DBGPT_HTTP"].includes(outcome.dbgpt.error.code),
          `${outcome.dbgpt.error.code}: ${outcome.error.message}`,
        );
        assert.equal(emu.requests.length, 1, "exactly one request");
        const [request] = emu.requests;
        assert.equal(request.method, "GET");
        const prefix = `${APPS_PATH}/`;
        assert.ok(request.rawPath.startsWith(prefix), request.rawPath);
        const segment = request.rawPath.slice(prefix.length);
        assert.doesNotMatch(segment, /[/?#]/, `one segment, no query: ${request.rawPath}`);
        assert.equal(decodeURIComponent(segment), id);
        assert.deepEqual(request.query, {});
      });
    }

    it("an app object's app_code is encoded the same way", async () => {
      await ask("app", { payload: { app_code: "../x?y=1" } });
      assert.equal(emu.requests.length, 1);
      assert.equal(emu.requests[0].rawPath, `${APPS_PATH}/${encodeURIComponent("../x?y=1")}`);
    });

    for (const id of [".", ".."]) {
      it(`${JSON.stringify(id)} is DBGPT_INVALID_INPUT with no request`, async () => {
        const { outcome } = await ask("app", { payload: id });
        assert.equal(outcome.dbgpt.error.code, "DBGPT_INVALID_INPUT");
        assert.equal(emu.requests.length, 0);
      });
    }
  });

  describe("the whole run", () => {
    it("left no key in the log, statuses, messages, errors or debug sidebar", async () => {
      assert.ok(seen.length > 20, "the other tests ran");
      for (const entry of seen) assertNoSecret(entry.what, entry.result || entry.text);
      assertNoSecret("the Node-RED log", nr.logs());
      assertNoSecret("the recorded statuses", await driver.statuses());
      assert.ok(debug.messages.length > 20, "the debug sidebar got the messages");
      assertNoSecret("the debug sidebar", debug.messages);
      await expectNoUnhandled(nr);
    });
  });
});

describe("runtime: security with adminAuth on", function () {
  this.timeout(30000);

  const ADMIN_ROOT = "/admin";
  const PASSWORD = `pw-${hex()}`;
  let emu;
  let nr;

  before(async function () {
    this.timeout(300000);
    emu = await startEmulator({ delayMs: 0, apiKeys: [KEY] });
    const tab = "auth-tab";
    nr = await startNodeRed({
      flows: [
        { id: tab, type: "tab", label: "adminAuth", disabled: false, info: "" },
        configNode("cfg-auth", emu.url),
        // The harness polls GET /settings until it answers 200. With adminAuth that route needs a token, so the
        // editor moves to /admin and this flow answers /settings on the node side.
        {
          id: "auth-ready",
          type: "http in",
          z: tab,
          name: "",
          url: "/settings",
          method: "get",
          upload: false,
          swaggerDoc: "",
          wires: [["auth-ready-res"]],
        },
        {
          id: "auth-ready-res",
          type: "http response",
          z: tab,
          name: "",
          statusCode: "200",
          headers: {},
          wires: [],
        },
      ],
      credentials: { "cfg-auth": { apiKey: KEY } },
      settings: {
        ...PROBE_SETTINGS,
        httpAdminRoot: ADMIN_ROOT,
        adminAuth: adminAuthSettings(PASSWORD, { admin: "*", viewer: "read" }),
      },
      env: childEnv(),
    });
  });

  after(async function () {
    this.timeout(30000);
    if (nr) await nr.stop();
    if (emu) await emu.close();
  });

  beforeEach(() => emu.reset());

  const body = () => ({ baseUrl: emu.url, id: "cfg-auth" });

  it("adminAuth is on: the flows need a token", async () => {
    const res = await httpRequest(`${nr.url}${ADMIN_ROOT}/flows`);
    assert.equal(res.status, 401);
  });

  for (const route of ["apps", "models", "test"]) {
    it(`POST dbgpt-config/${route} answers 401 without a token, or with a bad one, and sends nothing`, async () => {
      for (const headers of [{}, { authorization: "Bearer not-a-real-token" }]) {
        const res = await httpRequest(`${nr.url}${ADMIN_ROOT}/dbgpt-config/${route}`, {
          method: "POST",
          body: body(),
          headers,
        });
        assert.equal(res.status, 401, `${JSON.stringify(headers)}: ${res.text}`);
        assertNoSecret(`401 of ${route}`, res.text);
      }
      assert.equal(emu.requests.length, 0, "nothing reached the server");
    });
  }

  it("a read-only user's token gets 401 (the endpoints make the runtime send requests), and nothing is sent", async () => {
    const headers = bearer(await adminToken(`${nr.url}${ADMIN_ROOT}`, "viewer", PASSWORD));
    for (const route of ["apps", "models", "test", "chat-params"]) {
      const res = await httpRequest(`${nr.url}${ADMIN_ROOT}/dbgpt-config/${route}`, {
        method: "POST",
        body: { ...body(), chatMode: "chat_app" },
        headers,
      });
      assert.equal(res.status, 401, `${route}: ${res.text}`);
    }
    assert.equal(emu.requests.length, 0, "nothing reached the server");
  });

  it("with an admin token the endpoints answer, without the key", async () => {
    for (const user of ["admin"]) {
      const headers = bearer(await adminToken(`${nr.url}${ADMIN_ROOT}`, user, PASSWORD));
      const call = (route) =>
        httpRequest(`${nr.url}${ADMIN_ROOT}/dbgpt-config/${route}`, {
          method: "POST",
          body: body(),
          headers,
        });
      const apps = await call("apps");
      assert.equal(apps.status, 200, apps.text);
      assert.ok(apps.json.apps.length > 20);
      const models = await call("models");
      assert.equal(models.status, 200, models.text);
      assert.ok(models.json.models.includes("chatgpt_proxyllm"));
      const test = await call("test");
      assert.equal(test.status, 200, test.text);
      assert.equal(test.json.ok, true, test.text);
      for (const res of [apps, models, test]) assertNoSecret(`admin answer for ${user}`, res.text);
    }
    await expectNoUnhandled(nr, { adminRoot: ADMIN_ROOT });
  });
});
