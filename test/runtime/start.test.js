"use strict";
// `npm start` (scripts/start.js) as a user runs it: started twice with the same user dir, a tab of the
// user's own deployed in between through the admin API. The second start must bring the examples back
// fresh and keep the user's tab (and its config node and credentials). DBGPT_BASE_URL is unset, so
// the bundled emulator answers.
const assert = require("node:assert/strict");
const { spawn, execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { ROOT } = require("./harness");
const { freePort, httpRequest } = require("../support/http");
const { waitFor } = require("../support/wait");

const START = path.join(ROOT, "scripts", "start.js");
const EXAMPLES_DIR = path.join(ROOT, "examples");

/** Runs scripts/start.js until it has said Node-RED is running and how to stop it; { url, output(), stop() }. */
async function runStart(env) {
  const child = spawn(process.execPath, [START], {
    cwd: ROOT,
    env: { ...process.env, DBGPT_BASE_URL: "", DBGPT_API_KEY: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  let gone = false;
  exited.then(() => (gone = true));
  // The banner's last line: its lines are separate writes, and may reach this process in separate chunks.
  await waitFor(() => /Ctrl-C stops /.test(output) || gone, "npm start", 90000, 100).catch(() => {});
  if (!/Node-RED is running: /.test(output)) {
    child.kill("SIGKILL");
    throw new Error(`npm start did not come up:\n${output}`);
  }
  return {
    url: `http://127.0.0.1:${env.PORT}`,
    output: () => output,
    async stop() {
      if (!gone) child.kill("SIGINT");
      const result = await Promise.race([
        exited,
        new Promise((resolve) => setTimeout(() => resolve("timeout"), 30000)),
      ]);
      if (result === "timeout") {
        child.kill("SIGKILL");
        await exited;
      }
      return result;
    },
  };
}

function exampleNodes() {
  return fs
    .readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith(".json"))
    .flatMap((f) => JSON.parse(fs.readFileSync(path.join(EXAMPLES_DIR, f), "utf8")));
}

describe("npm start (scripts/start.js)", function () {
  this.timeout(240000);
  let userDir;
  let running;

  before(function () {
    this.timeout(60000);
    execFileSync(process.execPath, [path.join(ROOT, "scripts", "build.js")], { cwd: ROOT, stdio: "ignore" });
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), "dbgpt-start-"));
  });

  after(async function () {
    if (running) await running.stop();
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  it("keeps the user's own tabs across restarts and replaces only the example tabs", async function () {
    const env = {
      PORT: String(await freePort()),
      MQTT_PORT: String(await freePort()),
      START_USER_DIR: userDir,
    };

    running = await runStart(env);
    assert.match(running.output(), /Ctrl-C stops Node-RED, the emulator and the broker\./);
    const first = (await httpRequest(`${running.url}/flows`, { headers: { "Node-RED-API-Version": "v2" } }))
      .json;
    // Every example is deployed, but for those the console says it left out (no MQTT 5 broker).
    const exampleTabs = exampleNodes().filter((n) => n.type === "tab");
    const deployedTabs = exampleTabs.filter((tab) => first.flows.some((n) => n.id === tab.id));
    assert.ok(deployedTabs.length >= 4, `the examples are deployed (${deployedTabs.length} tabs)`);
    assert.equal(
      (running.output().match(/left out: /g) || []).length,
      exampleTabs.length - deployedTabs.length,
      "each missing example was named as left out",
    );

    // The user's own tab with its own DB-GPT config (and key), plus a stray node on an example tab.
    const exampleConfig = first.flows.find((n) => n.type === "dbgpt-config");
    const mine = [
      { id: "aaaa000000000001", type: "tab", label: "My flow", disabled: false, info: "" },
      {
        id: "aaaa000000000002",
        type: "dbgpt-config",
        name: "my server",
        baseUrl: exampleConfig.baseUrl,
        timeoutSec: 120,
      },
      {
        id: "aaaa000000000003",
        type: "dbgpt-chat",
        z: "aaaa000000000001",
        name: "my chat",
        server: "aaaa000000000002",
        x: 200,
        y: 100,
        wires: [[], [], []],
      },
      {
        id: "aaaa000000000004",
        type: "inject",
        z: deployedTabs[0].id,
        name: "stray on an example tab",
        x: 100,
        y: 400,
        wires: [],
      },
    ];
    const deployed = await httpRequest(`${running.url}/flows`, {
      method: "POST",
      headers: { "Node-RED-API-Version": "v2", "Node-RED-Deployment-Type": "full" },
      body: {
        rev: first.rev,
        flows: [...first.flows, ...mine],
        credentials: { aaaa000000000002: { apiKey: "my-own-key" } },
      },
    });
    assert.equal(deployed.status, 200, deployed.text);
    const stopped = await running.stop();
    running = undefined;
    assert.notEqual(stopped, "timeout", "npm start stops on Ctrl-C");

    running = await runStart(env);
    assert.match(running.output(), /kept your own flows: 1 tab, 3 nodes in all/);
    const second = (await httpRequest(`${running.url}/flows`, { headers: { "Node-RED-API-Version": "v2" } }))
      .json;
    for (const id of ["aaaa000000000001", "aaaa000000000002", "aaaa000000000003"]) {
      const node = second.flows.find((n) => n.id === id);
      const original = mine.find((n) => n.id === id);
      assert.ok(node, `the user's ${original.type} ${id} survived the restart`);
      assert.equal(node.name ?? node.label, original.name ?? original.label);
    }
    assert.ok(
      !second.flows.some((n) => n.id === "aaaa000000000004"),
      "a node added to an example tab goes with the example tab",
    );
    for (const tab of deployedTabs) {
      assert.equal(second.flows.filter((n) => n.id === tab.id).length, 1, `example tab ${tab.label} once`);
    }
    const exampleIds = new Set(exampleNodes().map((n) => n.id));
    assert.equal(
      second.flows.filter((n) => exampleIds.has(n.id)).length,
      first.flows.filter((n) => exampleIds.has(n.id)).length,
      "the examples come back as on the first start",
    );
    const creds = JSON.parse(fs.readFileSync(path.join(userDir, "flows_cred.json"), "utf8"));
    assert.deepEqual(creds.aaaa000000000002, { apiKey: "my-own-key" }, "the user's config keeps its key");
  });
});
