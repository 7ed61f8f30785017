"use strict";
// The admin endpoints sit behind RED.auth.needsPermission('dbgpt-config.read'): checked in a real
// Node-RED process started with adminAuth and this package installed (node-red-node-test-helper's auth
// lets every caller through).
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const bcrypt = require("bcryptjs");
const { startEmulator, DEFAULT_APPS } = require("../emulator");
const { sleep } = require("./helpers");

const ROOT = path.resolve(__dirname, "../..");
const PASSWORD = "admin-auth-test-pw";

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function http(url, { method = "GET", body, token } = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

describe("dbgpt-config admin endpoints with adminAuth (real Node-RED)", function () {
  this.timeout(60000);
  let emu;
  let dir;
  let child;
  let base;
  let output = "";

  before(async () => {
    emu = await startEmulator();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "dbgpt-admin-auth-"));
    const scope = path.join(dir, "node_modules", "@dbgpt-nodes");
    fs.mkdirSync(scope, { recursive: true });
    fs.symlinkSync(ROOT, path.join(scope, "node-red-dbgpt"), "dir");
    const port = await freePort();
    const hash = bcrypt.hashSync(PASSWORD, 8);
    const settings = {
      uiHost: "127.0.0.1",
      uiPort: port,
      userDir: dir,
      flowFile: "flows.json",
      credentialSecret: false,
      adminAuth: {
        type: "credentials",
        users: [
          { username: "admin", password: hash, permissions: "*" },
          { username: "reader", password: hash, permissions: "read" },
          { username: "flows", password: hash, permissions: ["flows.read"] },
        ],
      },
      logging: { console: { level: "warn" } },
      editorTheme: { tours: false },
      diagnostics: { enabled: false },
      externalModules: { autoInstall: false },
    };
    const settingsFile = path.join(dir, "settings.js");
    fs.writeFileSync(settingsFile, `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
    child = spawn(process.execPath, [require.resolve("node-red/red.js"), "--settings", settingsFile], {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 40000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`Node-RED exited:\n${output}`);
      try {
        const res = await fetch(`${base}/auth/login`);
        if (res.status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`Node-RED did not start:\n${output}`);
      await sleep(200);
    }
    // Our nodes must be loaded for the endpoints to exist.
    const token = await login("admin");
    const nodes = await http(`${base}/nodes`, { token });
    if (!nodes.text.includes("dbgpt-config")) throw new Error(`the package was not loaded:\n${output}`);
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([exited, sleep(10000)]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (emu) await emu.close();
  });

  async function login(username) {
    const res = await http(`${base}/auth/token`, {
      method: "POST",
      body: { client_id: "node-red-admin", grant_type: "password", scope: "", username, password: PASSWORD },
    });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token;
  }

  it("refuses a caller without a token", async () => {
    for (const endpoint of ["apps", "models", "test"]) {
      const res = await http(`${base}/dbgpt-config/${endpoint}`, {
        method: "POST",
        body: { baseUrl: emu.url },
      });
      assert.equal(res.status, 401, endpoint);
    }
    assert.equal(emu.requests.length, 0, "nothing reached the server");
  });

  it("refuses a user without the dbgpt-config.read permission", async () => {
    const token = await login("flows");
    const res = await http(`${base}/dbgpt-config/apps`, {
      method: "POST",
      body: { baseUrl: emu.url },
      token,
    });
    assert.equal(res.status, 401);
  });

  it("answers a user with read or full permission", async () => {
    for (const user of ["reader", "admin"]) {
      const token = await login(user);
      const res = await http(`${base}/dbgpt-config/apps`, {
        method: "POST",
        body: { baseUrl: emu.url },
        token,
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.apps.length, DEFAULT_APPS.length);
      const test = await http(`${base}/dbgpt-config/test`, {
        method: "POST",
        body: { baseUrl: emu.url },
        token,
      });
      assert.equal(test.json.ok, true, test.text);
    }
  });
});
