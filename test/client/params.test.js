"use strict";
// listKnowledgeSpaces, listChatFlows, listDatabases over real sockets (dbgpt-api.md §10): the lists the
// chat node's chat param picker offers per mode.
const { assert, useEmulator, rejectsWith } = require("./helpers");
const { KNOWLEDGE_SPACES, FLOWS, DATABASES } = require("../../emulator");

const SPACES = "/api/v2/serve/knowledge/spaces";
const CHAT_FLOWS = "/api/v2/serve/awel/chat/flows";
const DATASOURCES = "/api/v2/serve/datasources";

const CALLS = [
  ["listKnowledgeSpaces", SPACES],
  ["listChatFlows", CHAT_FLOWS],
  ["listDatabases", DATASOURCES],
];

describe("client chat param lists (§10)", () => {
  const ctx = useEmulator();

  it("listKnowledgeSpaces asks one big page and returns the spaces untouched, in the server's order", async () => {
    const spaces = await ctx.client().listKnowledgeSpaces();
    assert.deepEqual(spaces, KNOWLEDGE_SPACES);
    assert.deepEqual(
      ctx.emu.requests.map((r) => r.rawPath),
      [`${SPACES}?page=1&page_size=1000`],
    );
  });

  it("listChatFlows returns the chat-capable flows only (the server filters them)", async () => {
    const flows = await ctx.client().listChatFlows();
    assert.deepEqual(
      flows,
      FLOWS.filter((f) => ["chat_flow", "chat_agent"].includes(f.flow_category)),
    );
    assert.deepEqual(
      flows.map((f) => f.uid),
      ["flow-1", "agent-flow-2"],
    );
    assert.deepEqual(
      ctx.emu.requests.map((r) => r.rawPath),
      [`${CHAT_FLOWS}?page=1&page_size=1000`],
    );
  });

  it("listDatabases returns the datasource list (not paginated)", async () => {
    const dbs = await ctx.client().listDatabases();
    assert.deepEqual(dbs, DATABASES);
    assert.deepEqual(
      ctx.emu.requests.map((r) => r.rawPath),
      [DATASOURCES],
    );
  });

  it("chat flows and datasources send the key; a missing or wrong key is DBGPT_AUTH, never echoed", async () => {
    ctx.emu.configure({ apiKeys: ["sk-right"] });
    assert.equal((await ctx.client({ apiKey: "sk-right" }).listChatFlows()).length, 2);
    assert.equal((await ctx.client({ apiKey: "sk-right" }).listDatabases()).length, 2);
    assert.deepEqual(
      ctx.emu.requests.map((r) => r.headers.authorization),
      ["Bearer sk-right", "Bearer sk-right"],
    );
    for (const method of ["listChatFlows", "listDatabases"]) {
      await rejectsWith(ctx.client()[method](), "DBGPT_AUTH");
      const err = await rejectsWith(ctx.client({ apiKey: "sk-wrong-SECRET" })[method](), "DBGPT_AUTH");
      assert.equal(err.statusCode, 401);
      assert.ok(!err.message.includes("sk-wrong-SECRET"));
    }
    // The knowledge spaces route does not check keys.
    assert.equal((await ctx.client().listKnowledgeSpaces()).length, 2);
  });

  for (const [method, path] of CALLS) {
    describe(method, () => {
      it("a 200 with success: false is DBGPT_HTTP carrying err_msg", async () => {
        const body = JSON.stringify({ success: false, err_code: "E000X", err_msg: "db down", data: null });
        ctx.emu.fault({ match: { path }, status: { status: 200, body, contentType: "application/json" } });
        const err = await rejectsWith(ctx.client()[method](), "DBGPT_HTTP");
        assert.match(err.message, /db down/);
        assert.equal(err.serverMessage, "db down");
      });

      it("a 400 is DBGPT_BAD_REQUEST and a 404 page DBGPT_HTTP", async () => {
        const body = JSON.stringify({ success: false, err_code: "E0003", err_msg: "bad query", data: null });
        ctx.emu.fault({ match: { path }, status: { status: 400, body, contentType: "application/json" } });
        const err = await rejectsWith(ctx.client()[method](), "DBGPT_BAD_REQUEST");
        assert.match(err.message, /bad query/);
        ctx.emu.fault({
          match: { path },
          status: { status: 404, body: "<html></html>", contentType: "text/html" },
        });
        await rejectsWith(ctx.client()[method](), "DBGPT_HTTP");
      });

      it("data of the wrong shape is DBGPT_PROTOCOL", async () => {
        const body = JSON.stringify({ success: true, err_code: null, err_msg: null, data: { app_list: [] } });
        ctx.emu.fault({ match: { path }, status: { status: 200, body, contentType: "application/json" } });
        await rejectsWith(ctx.client()[method](), "DBGPT_PROTOCOL");
      });

      it("an aborted call is DBGPT_ABORTED", async () => {
        await rejectsWith(ctx.client()[method]({ signal: AbortSignal.abort() }), "DBGPT_ABORTED");
        ctx.emu.fault({ match: { path }, stall: "before-headers" });
        const controller = new AbortController();
        const call = ctx.client()[method]({ signal: controller.signal });
        setTimeout(() => controller.abort(), 50);
        await rejectsWith(call, "DBGPT_ABORTED");
      });
    });
  }
});
