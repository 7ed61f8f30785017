"use strict";
const assert = require("node:assert/strict");
const { DEFAULT_APPS } = require("../../emulator");
const {
  helper,
  NODES,
  useEmulatorSuite,
  flowWith,
  collect,
  waitFor,
  splitNodes,
  splitter,
} = require("./helpers");

/** A get-app node "get" using "cfg", reading msg.payload, wired to the helper "out". */
function getAppNode(props = {}) {
  return {
    id: "get",
    type: "dbgpt-get-app",
    server: "cfg",
    appId: "payload",
    appIdType: "msg",
    wires: [["out"]],
    ...props,
  };
}

function getFlow(baseUrl, get = {}) {
  return flowWith(baseUrl, [
    getAppNode(get),
    { id: "out", type: "helper" },
    { id: "catcher", type: "catch", scope: ["get"], uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper" },
  ]);
}

const KNOWN = DEFAULT_APPS[0].app_code;

describe("dbgpt-get-app", function () {
  let emu;
  useEmulatorSuite((started) => (emu = started));

  it("reads the app whose id is in msg.payload", async () => {
    await helper.load(NODES, getFlow(emu.url));
    const out = collect("out");
    helper.getNode("get").receive({ payload: KNOWN, topic: "t", _msgid: "m-2" });
    await waitFor(() => out.length === 1, "the app");
    const msg = out[0];
    assert.equal(msg.payload.app_code, KNOWN);
    assert.equal(msg.payload.app_name, DEFAULT_APPS[0].app_name);
    assert.deepEqual(msg.dbgpt, { app_code: KNOWN });
    assert.equal(msg.topic, "t");
    assert.equal(msg._msgid, "m-2");
    assert.equal(emu.requests.at(-1).rawPath, `/api/v2/serve/apps/${KNOWN}`);
  });

  it("takes the id from a str TypedInput", async () => {
    await helper.load(NODES, getFlow(emu.url, { appId: KNOWN, appIdType: "str" }));
    const out = collect("out");
    helper.getNode("get").receive({ payload: "ignored" });
    await waitFor(() => out.length === 1, "the app");
    assert.equal(out[0].payload.app_code, KNOWN);
  });

  it("takes the id from a JSONata TypedInput (answered later), and reports one that fails", async () => {
    await helper.load(NODES, getFlow(emu.url, { appId: "$.app.code", appIdType: "jsonata" }));
    const out = collect("out");
    const caught = collect("caught");
    helper.getNode("get").receive({ payload: "ignored", app: { code: KNOWN } });
    await waitFor(() => out.length === 1, "the app");
    assert.equal(out[0].payload.app_code, KNOWN);
    await helper.unload();
    await helper.load(NODES, getFlow(emu.url, { appId: "$error('no app')", appIdType: "jsonata" }));
    const failed = collect("caught");
    helper.getNode("get").receive({ payload: "x" });
    await waitFor(() => failed.length === 1, "the failure");
    assert.equal(failed[0].error.code, "DBGPT_INVALID_INPUT");
    assert.match(failed[0].error.message, /app id: cannot read jsonata .*no app/);
    assert.equal(caught.length, 0);
  });

  it("accepts the app objects of list-apps after a split", async () => {
    const flow = flowWith(emu.url, [
      { id: "list", type: "dbgpt-list-apps", server: "cfg", agentAppsOnly: false, wires: [["splitter"]] },
      splitter(["get"]),
      getAppNode(),
      { id: "out", type: "helper" },
    ]);
    await helper.load([...NODES, splitNodes], flow);
    const out = collect("out");
    helper.getNode("list").receive({ payload: "" });
    await waitFor(() => out.length === DEFAULT_APPS.length, "every app", 10000);
    const codes = out.map((m) => m.payload.app_code).sort();
    assert.deepEqual(codes, DEFAULT_APPS.map((a) => a.app_code).sort());
    for (const m of out) {
      assert.equal(typeof m.parts, "object", "msg.parts from the split is kept");
      assert.equal(m.dbgpt.app_code, m.payload.app_code);
    }
  });

  it("reports an unknown id (data: null) as DBGPT_NOT_FOUND", async () => {
    await helper.load(NODES, getFlow(emu.url));
    const caught = collect("caught");
    helper.getNode("get").receive({ payload: "no-such-app" });
    await waitFor(() => caught.length === 1, "the error");
    assert.equal(caught[0].error.code, "DBGPT_NOT_FOUND");
    assert.equal(caught[0].dbgpt.error.code, "DBGPT_NOT_FOUND");
    assert.match(caught[0].error.message, /no-such-app/);
  });

  it("keeps a path-unsafe id one percent-encoded path segment", async () => {
    await helper.load(NODES, getFlow(emu.url));
    const caught = collect("caught");
    const ids = ["../x", "a?b=c", "a/b", "a#b", "%2e%2e", "..%2f", " spaced id"];
    for (const id of ids) helper.getNode("get").receive({ payload: id });
    await waitFor(() => caught.length === ids.length, "every answer");
    const paths = emu.requests.map((r) => r.rawPath).sort();
    assert.deepEqual(paths, ids.map((id) => `/api/v2/serve/apps/${encodeURIComponent(id)}`).sort());
    for (const r of emu.requests) assert.deepEqual(r.query, {});
  });

  it("rejects non-strings, empty, . and .. with DBGPT_INVALID_INPUT before any request, then serves the next message", async () => {
    await helper.load(NODES, getFlow(emu.url));
    const caught = collect("caught");
    const out = collect("out");
    const bad = [42, {}, "", ".", "..", null, [KNOWN], { app_code: 7 }];
    for (const payload of bad) helper.getNode("get").receive({ payload });
    await waitFor(() => caught.length === bad.length, "every error");
    for (const err of caught) {
      assert.equal(err.error.code, "DBGPT_INVALID_INPUT", err.error.message);
      assert.equal(err.dbgpt.error.code, "DBGPT_INVALID_INPUT");
    }
    assert.equal(emu.requests.length, 0);
    helper.getNode("get").receive({ payload: KNOWN });
    await waitFor(() => out.length === 1, "the good answer");
    assert.equal(out[0].payload.app_code, KNOWN);
  });
});
