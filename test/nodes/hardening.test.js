"use strict";
// Findings of the security review, at the nodes: a lone surrogate in a get-app id, a lying total_count in
// list-apps, a key fragment at the 300-character cut in msg.error and the log, and the admin endpoints'
// answers when the server echoes the key (test connection's chat probe, app names), and the messages of
// every node when a successful answer echoes it.
const assert = require("node:assert/strict");
const { appPageFault } = require("../support/faults");
const { keyPieces } = require("../support/secrets");
const { CHAT_PATH, APPS_PATH, DEFAULT_APPS } = require("../../emulator");
const {
  helper,
  NODES,
  useEmulatorSuite,
  flowWith,
  collect,
  waitFor,
  logText,
  loadChat,
} = require("./helpers");

const KEY = "sk-hardening-0123456789abcdef0123456789";

function flow(baseUrl, node) {
  return flowWith(baseUrl, [
    { ...node, wires: [["out"]] },
    { id: "out", type: "helper" },
    { id: "catcher", type: "catch", scope: [node.id], uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper" },
  ]);
}

const getApp = { id: "get", type: "dbgpt-get-app", server: "cfg", appId: "payload", appIdType: "msg" };
const listApps = { id: "list", type: "dbgpt-list-apps", server: "cfg", agentAppsOnly: false };

describe("security review findings at the nodes", function () {
  let emu;
  useEmulatorSuite((started) => (emu = started));

  it("get-app: an id with a lone surrogate fails with DBGPT_INVALID_INPUT, nothing sent", async () => {
    await helper.load(NODES, flow(emu.url, getApp));
    const caught = collect("caught");
    helper.getNode("get").receive({ payload: "app-\ud800" });
    await waitFor(() => caught.length === 1, "the error");
    assert.equal(caught[0].dbgpt.error.code, "DBGPT_INVALID_INPUT");
    assert.equal(caught[0].error.message.includes("URIError"), false, caught[0].error.message);
    assert.equal(emu.requests.length, 0);
  });

  for (const total of [1e21, 2.5]) {
    it(`list-apps: total_count ${total} is not sent as a page size; the apps that came are used, with a warning`, async () => {
      const apps = DEFAULT_APPS.slice(0, 2);
      emu.fault(appPageFault(apps, total));
      await helper.load(NODES, flow(emu.url, listApps));
      const out = collect("out");
      helper.getNode("list").receive({ payload: "" });
      await waitFor(() => out.length === 1, "the list");
      assert.equal(out[0].payload.length, 2);
      assert.deepEqual(
        emu.requests.map((r) => r.rawPath),
        [`${APPS_PATH}?page_size=100`],
      );
      await waitFor(() => /reported .* apps but returned only 2/.test(logText()), "the warning");
    });
  }

  it("list-apps: a key across the 300-character cut leaves no piece in msg.error, msg.dbgpt or the log", async () => {
    emu.fault({
      match: { path: APPS_PATH },
      status: { status: 500, contentType: "text/plain", body: `${"z".repeat(290)}${KEY} and more` },
    });
    await helper.load(NODES, flow(emu.url, listApps), { cfg: { apiKey: KEY } });
    const caught = collect("caught");
    helper.getNode("list").receive({ payload: "" });
    await waitFor(() => caught.length === 1, "the error");
    assert.equal(caught[0].dbgpt.error.code, "DBGPT_HTTP");
    assert.deepEqual(keyPieces(JSON.stringify(caught[0]), KEY), []);
    assert.deepEqual(keyPieces(logText(), KEY), []);
  });

  it("admin: test connection and the app list never answer the key the server echoes", async () => {
    const post = (path, body) =>
      helper.request().post(path).send(body).set("Content-Type", "application/json");
    emu.configure({ apiKeys: [KEY] });
    await helper.load(NODES, flowWith(emu.url, []), { cfg: { apiKey: KEY } });
    for (const status of [403, 404, 500]) {
      emu.fault({
        match: { path: CHAT_PATH },
        status: { status, contentType: "text/plain", body: `you sent Authorization: Bearer ${KEY}` },
      });
      const res = await post("/dbgpt-config/test", { id: "cfg", baseUrl: emu.url });
      assert.equal(res.body.ok, false, res.text);
      assert.equal(emu.chatRequests().at(-1).headers.authorization, `Bearer ${KEY}`, "the key was sent");
      assert.deepEqual(keyPieces(res.text, KEY), [], res.text);
      assert.match(res.body.message, new RegExp(`HTTP ${status}`));
    }
    const echoed = DEFAULT_APPS.slice(0, 1).map((app) => ({ ...app, app_name: `name ${KEY}` }));
    emu.configure({ apps: echoed });
    const apps = await post("/dbgpt-config/apps", { id: "cfg", baseUrl: emu.url });
    assert.equal(apps.status, 200, apps.text);
    assert.equal(apps.body.apps[0].app_name, "name ***");
    assert.deepEqual(keyPieces(apps.text, KEY), []);
  });

  it("chat: a key the server echoes in a streamed answer is in no message", async () => {
    const delta = (content) =>
      `data: ${JSON.stringify({ id: `chatcmpl-${KEY}`, model: "m", choices: [{ index: 0, delta: { role: "assistant", content } }] })}\n\n`;
    // Split three ways: inside its first characters, in the middle, and whole.
    const split = ["Key: s", KEY.slice(1, 20), KEY.slice(20), " (", KEY, ")"];
    emu.fault({ match: { question: "echo" }, rawEvents: [...split.map(delta), "data: [DONE]\n\n"] });
    const c = await loadChat(
      emu.url,
      { chatMode: "chat_normal", chatParam: "" },
      {},
      { cfg: { apiKey: KEY } },
    );
    c.node.receive({ payload: "echo" });
    await waitFor(() => c.final.length + c.caught.length === 1, "the answer");
    assert.equal(c.caught.length, 0);
    assert.equal(c.final[0].payload, "Key: *** (***)");
    assert.equal(c.final[0].dbgpt.id, "chatcmpl-***");
    assert.ok(c.stream.length > 0);
    assert.deepEqual(keyPieces(JSON.stringify([...c.stream, ...c.final]), KEY), []);
  });

  it("list-apps, get-app: a key the server echoes in an app is in no message", async () => {
    const app = { ...DEFAULT_APPS[0], app_name: `name ${KEY}` };
    emu.configure({ apps: [app] });
    await helper.load(
      NODES,
      flowWith(emu.url, [
        { ...listApps, wires: [["out"]] },
        { ...getApp, wires: [["out"]] },
        { id: "out", type: "helper" },
      ]),
      { cfg: { apiKey: KEY } },
    );
    const out = collect("out");
    helper.getNode("list").receive({ payload: "" });
    helper.getNode("get").receive({ payload: app.app_code });
    await waitFor(() => out.length === 2, "the list and the app");
    assert.deepEqual(keyPieces(JSON.stringify(out), KEY), []);
    assert.ok(JSON.stringify(out).includes("name ***"));
  });
});
