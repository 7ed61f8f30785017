"use strict";
// The admin endpoints sit behind RED.auth.needsPermission('dbgpt-config.write'): checked in a real
// Node-RED process started with adminAuth and this package installed (node-red-node-test-helper's auth
// lets every caller through).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { startEmulator, DEFAULT_APPS } = require("../../emulator");
const { ROOT, launchNodeRed, writeUserDir, baseSettings, deepMerge } = require("../runtime/harness");
const { freePort, httpRequest } = require("../support/http");
const { adminAuthSettings, adminToken, bearer } = require("../support/admin-auth");

const PASSWORD = "admin-auth-test-pw";
const KEY = "sk-admin-auth-DEPLOYED-5e1f";

describe("dbgpt-config admin endpoints with adminAuth (real Node-RED)", function () {
  this.timeout(60000);
  let emu;
  let dir;
  let nr;
  let base;
  let attacker;

  before(async () => {
    emu = await startEmulator();
    attacker = await startEmulator();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "dbgpt-admin-auth-"));
    // The working tree linked in, as `npm link` would (no packing: these are the node tests).
    const scope = path.join(dir, "node_modules", "@dbgpt-nodes");
    fs.mkdirSync(scope, { recursive: true });
    fs.symlinkSync(ROOT, path.join(scope, "node-red-dbgpt"), "dir");
    const port = await freePort();
    const adminAuth = adminAuthSettings(PASSWORD, { admin: "*", reader: "read", flows: ["flows.read"] });
    writeUserDir(dir, {
      settings: deepMerge(baseSettings({ port }), { adminAuth }),
      flows: [{ id: "cfg-auth", type: "dbgpt-config", name: "", baseUrl: emu.url, model: "", timeout: 10 }],
      credentials: { "cfg-auth": { apiKey: KEY } },
    });
    nr = await launchNodeRed({ userDir: dir, port, startTimeoutMs: 40000, readyPath: "/auth/login" });
    base = nr.url;
    // Our nodes must be loaded for the endpoints to exist.
    const nodes = await httpRequest(`${base}/nodes`, { headers: bearer(await login("admin")) });
    if (!nodes.text.includes("dbgpt-config")) throw new Error(`the package was not loaded:\n${nr.logs()}`);
  });

  after(async () => {
    if (nr) await nr.stop(10000);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (emu) await emu.close();
    if (attacker) await attacker.close();
  });

  beforeEach(() => {
    emu.reset();
    attacker.reset();
  });

  function login(username) {
    return adminToken(base, username, PASSWORD);
  }

  /** POST to one of the config node's admin endpoints, with a token when given. */
  function endpoint(name, body, token) {
    return httpRequest(`${base}/dbgpt-config/${name}`, {
      method: "POST",
      body,
      headers: token ? bearer(token) : {},
    });
  }

  it("refuses a caller without a token", async () => {
    for (const name of ["apps", "models", "test", "chat-params"]) {
      const res = await endpoint(name, { baseUrl: emu.url });
      assert.equal(res.status, 401, name);
    }
    assert.equal(emu.requests.length, 0, "nothing reached the server");
  });

  it("refuses a user without the dbgpt-config.write permission: a read-only user gets 401, nothing is sent", async () => {
    for (const user of ["flows", "reader"]) {
      const token = await login(user);
      for (const name of ["apps", "models", "test", "chat-params"]) {
        const res = await endpoint(
          name,
          { id: "cfg-auth", baseUrl: attacker.url, chatMode: "chat_app" },
          token,
        );
        assert.equal(res.status, 401, `${user} ${name}: ${res.text}`);
      }
    }
    assert.equal(attacker.requests.length, 0, "the other server got nothing");
    assert.equal(emu.requests.length, 0);
  });

  it("answers a user with full permission, with the deployed key for the deployed URL only", async () => {
    const token = await login("admin");
    const res = await endpoint("apps", { baseUrl: emu.url }, token);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.apps.length, DEFAULT_APPS.length);
    const test = await endpoint("test", { id: "cfg-auth", baseUrl: emu.url }, token);
    assert.equal(test.json.ok, true, test.text);
    assert.equal(emu.chatRequests().at(-1).headers.authorization, `Bearer ${KEY}`);
    // The same id with another server: that server gets no key.
    for (const name of ["apps", "models", "test", "chat-params"]) {
      const other = await endpoint(
        name,
        { id: "cfg-auth", baseUrl: attacker.url, chatMode: "chat_app" },
        token,
      );
      assert.equal(other.status, 200, `${name}: ${other.text}`);
    }
    assert.ok(attacker.requests.length >= 5);
    for (const request of attacker.requests) assert.equal(request.headers.authorization, undefined);
  });

  it("refuses a form-encoded body from a full user (415), sending nothing", async () => {
    const token = await login("admin");
    const res = await httpRequest(`${base}/dbgpt-config/test`, {
      method: "POST",
      body: `id=cfg-auth&baseUrl=${encodeURIComponent(emu.url)}`,
      headers: { ...bearer(token), "content-type": "application/x-www-form-urlencoded" },
    });
    assert.equal(res.status, 415, res.text);
    assert.equal(emu.requests.length, 0);
  });
});
