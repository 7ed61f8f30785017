"use strict";
const assert = require("node:assert/strict");
const { DEFAULT_APPS } = require("../../emulator");
const {
  helper,
  NODES,
  useEmulatorSuite,
  flowWith,
  collect,
  statuses,
  waitFor,
  sleep,
  logLines,
  closedUrl,
} = require("./helpers");

function listFlow(baseUrl, list = {}, config = {}) {
  return flowWith(
    baseUrl,
    [
      { id: "list", type: "dbgpt-list-apps", server: "cfg", agentAppsOnly: false, wires: [["out"]], ...list },
      { id: "out", type: "helper" },
      { id: "catcher", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
      { id: "caught", type: "helper" },
    ],
    config,
  );
}

function manyApps(count) {
  return Array.from({ length: count }, (_, i) => ({
    ...DEFAULT_APPS[0],
    app_code: `app-${String(i).padStart(3, "0")}`,
    app_name: `App ${i}`,
  }));
}

describe("dbgpt-list-apps", function () {
  let emu;
  useEmulatorSuite((started) => (emu = started));

  it("answers any message with every app in the server's order, keeping the message's properties", async () => {
    await helper.load(NODES, listFlow(emu.url));
    const out = collect("out");
    helper
      .getNode("list")
      .receive({ payload: "anything", topic: "apps", _msgid: "m-1", extra: { nested: true } });
    await waitFor(() => out.length === 1, "the list");
    const msg = out[0];
    assert.ok(DEFAULT_APPS.length > 20, "the emulator serves more than one server page");
    assert.deepEqual(msg.payload, DEFAULT_APPS);
    assert.deepEqual(msg.dbgpt, { total: DEFAULT_APPS.length });
    assert.equal(msg.topic, "apps");
    assert.equal(msg._msgid, "m-1");
    assert.deepEqual(msg.extra, { nested: true });
    assert.deepEqual(Object.keys(msg).sort(), ["_msgid", "dbgpt", "extra", "payload", "topic"]);
  });

  it("gets every app when the server holds more than one page (the server ignores page)", async () => {
    const apps = manyApps(150);
    emu.configure({ apps });
    await helper.load(NODES, listFlow(emu.url));
    const out = collect("out");
    helper.getNode("list").receive({ payload: "" });
    await waitFor(() => out.length === 1, "the list");
    assert.deepEqual(
      out[0].payload.map((a) => a.app_code),
      apps.map((a) => a.app_code),
    );
    assert.equal(out[0].dbgpt.total, 150);
    const appRequests = emu.requests.filter((r) => r.path === "/api/v2/serve/apps");
    assert.ok(appRequests.length <= 2, "never loops");
  });

  it("warns with both counts when the server still returns fewer apps than it reports", async () => {
    const body = JSON.stringify({
      success: true,
      err_code: null,
      err_msg: null,
      data: { total_count: 30, total_page: 2, current_page: 1, app_list: DEFAULT_APPS.slice(0, 5) },
    });
    emu.fault({
      match: { path: "/api/v2/serve/apps" },
      times: 0,
      status: { status: 200, body, contentType: "application/json" },
    });
    await helper.load(NODES, listFlow(emu.url));
    const out = collect("out");
    helper.getNode("list").receive({ payload: "" });
    await waitFor(() => out.length === 1, "the list");
    assert.equal(out[0].payload.length, 5);
    const warnings = logLines(helper.log().WARN, "30");
    assert.equal(warnings.length, 1);
    assert.match(String(warnings[0].msg), /30.*5|5.*30/);
    assert.ok(emu.requests.filter((r) => r.path === "/api/v2/serve/apps").length <= 2, "never loops");
  });

  it("with agentAppsOnly drops native apps and AWEL chat-flow apps", async () => {
    await helper.load(NODES, listFlow(emu.url, { agentAppsOnly: true }));
    const out = collect("out");
    helper.getNode("list").receive({ payload: "" });
    await waitFor(() => out.length === 1, "the list");
    const codes = out[0].payload.map((a) => a.app_code);
    const expected = DEFAULT_APPS.filter(
      (a) =>
        a.team_mode !== "native_app" &&
        !(a.team_mode === "awel_layout" && a.team_context.flow_category === "chat_flow"),
    );
    assert.ok(expected.length < DEFAULT_APPS.length);
    assert.deepEqual(
      codes,
      expected.map((a) => a.app_code),
    );
    assert.equal(out[0].dbgpt.total, expected.length);
    assert.ok(out[0].payload.every((a) => a.team_mode !== "native_app"));
  });

  it("reports success:false as DBGPT_HTTP with the server's err_msg, to Catch, with a red ring", async () => {
    const body =
      '{"success":false,"err_code":"E000X","err_msg":"query app error: database locked","data":null}';
    emu.fault({
      match: { path: "/api/v2/serve/apps" },
      status: { status: 200, body, contentType: "application/json" },
    });
    await helper.load(NODES, listFlow(emu.url));
    const out = collect("out");
    const caught = collect("caught");
    const seen = statuses("list");
    helper.getNode("list").receive({ payload: "x", topic: "t" });
    await waitFor(() => caught.length === 1, "the error");
    const err = caught[0];
    assert.equal(err.error.code, "DBGPT_HTTP");
    assert.match(err.error.message, /query app error: database locked/);
    assert.equal(err.dbgpt.error.code, "DBGPT_HTTP");
    assert.equal(err.topic, "t");
    assert.equal(err.payload, "x");
    assert.equal(out.length, 0);
    await waitFor(() => seen.some((s) => s.fill === "red" && s.shape === "ring"), "the red ring");

    // The next request clears the ring and is answered.
    helper.getNode("list").receive({ payload: "y" });
    await waitFor(() => out.length === 1, "the next answer");
    await waitFor(
      () => seen.length > 0 && Object.keys(seen[seen.length - 1]).length === 0,
      "a cleared status",
    );
  });

  it("fails with DBGPT_INVALID_INPUT when the server is not set, missing or disabled, and keeps serving", async () => {
    const flow = listFlow(emu.url, { server: "" });
    flow.push(
      { id: "list2", z: "tab1", x: 1, y: 1, type: "dbgpt-list-apps", server: "nope", wires: [["out"]] },
      { id: "cfg2", type: "dbgpt-config", d: true, baseUrl: emu.url },
      { id: "list3", z: "tab1", x: 1, y: 1, type: "dbgpt-list-apps", server: "cfg2", wires: [["out"]] },
    );
    await helper.load(NODES, flow);
    const caught = collect("caught");
    const seen = statuses("list");
    for (const id of ["list", "list2", "list3"]) helper.getNode(id).receive({ payload: id });
    await waitFor(() => caught.length === 3, "three errors");
    for (const err of caught) {
      assert.equal(err.error.code, "DBGPT_INVALID_INPUT");
      assert.equal(err.dbgpt.error.code, "DBGPT_INVALID_INPUT");
    }
    assert.equal(emu.requests.length, 0, "no request was made");
    await sleep(400);
    assert.deepEqual(
      seen.at(-1),
      { fill: "red", shape: "ring", text: "dbgpt.status.error.DBGPT_INVALID_INPUT" },
      "the ring stays, its text a catalog key the editor translates",
    );
  });

  it("reports a refused connection as DBGPT_CONNECT", async () => {
    const url = await closedUrl();
    await helper.load(NODES, listFlow(url));
    const caught = collect("caught");
    helper.getNode("list").receive({ payload: "" });
    await waitFor(() => caught.length === 1, "the error");
    assert.equal(caught[0].error.code, "DBGPT_CONNECT");
  });

  it("honours msg.requestTimeout (ms) as the idle timeout", async () => {
    emu.fault({ match: { path: "/api/v2/serve/apps" }, stall: "before-headers" });
    await helper.load(NODES, listFlow(emu.url));
    const caught = collect("caught");
    const started = Date.now();
    helper.getNode("list").receive({ payload: "", requestTimeout: 200 });
    await waitFor(() => caught.length === 1, "the timeout", 5000);
    assert.equal(caught[0].error.code, "DBGPT_TIMEOUT");
    assert.ok(Date.now() - started < 4000, "the config's 10 s timeout did not apply");
    await emu.waitForConnections(0, 2000);
  });

  it("rejects a bad msg.requestTimeout with DBGPT_INVALID_INPUT", async () => {
    await helper.load(NODES, listFlow(emu.url));
    const caught = collect("caught");
    helper.getNode("list").receive({ payload: "", requestTimeout: "soon" });
    await waitFor(() => caught.length === 1, "the error");
    assert.equal(caught[0].error.code, "DBGPT_INVALID_INPUT");
    assert.match(caught[0].error.message, /requestTimeout/);
  });

  it("aborts a request in flight when redeployed, without Catch, error log or open connection", async () => {
    emu.fault({ match: { path: "/api/v2/serve/apps" }, stall: "before-headers" });
    await helper.load(NODES, listFlow(emu.url));
    const caught = collect("caught");
    helper.getNode("list").receive({ payload: "" });
    await waitFor(() => emu.openConnections() > 0, "the request");
    await helper.setFlows(listFlow(emu.url, { name: "renamed" }), "full");
    await emu.waitForConnections(0, 3000);
    assert.equal(caught.length, 0);
    assert.equal(logLines(helper.log().ERROR).length, 0);
  });
});
