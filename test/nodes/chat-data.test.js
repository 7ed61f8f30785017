"use strict";
// dbgpt-chat, answers as data: msg.dbgpt.charts / references / code / tools / raw on the complete
// output in every mode, streamed (history read) or not; DBGPT_QUERY_ERROR to Catch with the SQL; the
// history failure warning; a stopped request keeps what had arrived; no markup in any stream message.
const assert = require("node:assert/strict");
const { HISTORY_PATH, answerFor, contentFor, artifacts, APP_CODES } = require("../../emulator");
const { helper, useEmulatorSuite, loadChat, waitFor, sleep, logLines, fold } = require("./helpers");
const fx = require("../support/artifact-fixtures");

const QUESTION = "how many orders per city last month?";
const MARKUP = /<chart-view|<references|```vis-|"template_name"|ERROR!<\/span>/;

async function ask(c, msg) {
  const count = c.final.length + c.caught.length + 1;
  c.node.receive(msg);
  await waitFor(() => c.final.length + c.caught.length >= count, "the answer", 10000);
  if (c.caught.length > 0) assert.fail(`unexpected failure: ${c.caught[0].error.message}`);
  return c.final[c.final.length - 1];
}

async function failing(c, msg) {
  c.node.receive(msg);
  await waitFor(() => c.caught.length > 0, "the failure", 10000);
  await sleep(30);
  assert.equal(c.final.length, 0, "a failed request sends nothing on the complete output");
  return c.caught[0];
}

function assertNoMarkup(c, final) {
  for (const m of c.stream) assert.doesNotMatch(m.payload, MARKUP);
  assert.doesNotMatch(final.payload, MARKUP);
}

describe("dbgpt-chat: answers as data", function () {
  let emu;
  useEmulatorSuite((started) => (emu = started));

  describe("the spec's examples, byte for byte, through the node", () => {
    /** The chat node answers `body` (a whole non-stream response) for its next request. */
    async function fixture(chatMode, body, extra = {}) {
      const chatParam =
        chatMode === "chat_knowledge" ? "default_space" : chatMode === "chat_flow" ? "flow-1" : "dbgpt_test";
      const c = await loadChat(emu.url, { chatMode, chatParam, stream: false, ...extra });
      emu.fault({ match: { chatMode }, status: { status: 200, body, contentType: "application/json" } });
      return c;
    }

    it("chat_data chart-view (v2 wire form)", async () => {
      const c = await fixture("chat_data", fx.completionBody(fx.CHART_VIEW_WIRE));
      const final = await ask(c, { payload: "q" });
      assert.equal(final.payload, "Users younger than 18.");
      assert.deepEqual(final.dbgpt.charts, [fx.USERS_CHART]);
      assert.equal(final.dbgpt.raw, JSON.parse(fx.CHART_VIEW_WIRE));
    });

    it("chat_data failed query (v2 form) -> Catch with DBGPT_QUERY_ERROR and the SQL", async () => {
      const c = await fixture("chat_data", fx.completionBody(JSON.stringify(fx.CHART_VIEW_FAILED)));
      const caught = await failing(c, { payload: "q" });
      assert.equal(caught.dbgpt.error.code, "DBGPT_QUERY_ERROR");
      assert.equal(caught.dbgpt.error.sql, "SELECT COUNT(*) FROM orders");
      assert.equal(caught.dbgpt.partial, "Count orders.");
      assert.match(caught.error.message, /no such table: orders/);
      // The status says so in the catalog's words ("query refused"), not a bare "error".
      await waitFor(() => c.statuses.some((s) => s.fill === "red"), "a red ring");
      assert.equal(c.statuses.at(-1).text, "dbgpt.status.error.DBGPT_QUERY_ERROR");
    });

    it("chat_data stored view (&quot; form) read from the history after a stream", async () => {
      const c = await loadChat(emu.url, { chatMode: "chat_data", chatParam: "dbgpt_test" });
      emu.fault({
        match: { path: HISTORY_PATH },
        status: { status: 200, body: fx.historyBody(fx.CHART_VIEW_STORED), contentType: "application/json" },
      });
      const final = await ask(c, { payload: QUESTION });
      assert.deepEqual(final.dbgpt.charts, [fx.USERS_CHART]);
    });

    it("chat_knowledge references (v2 form)", async () => {
      const c = await fixture("chat_knowledge", fx.completionBody(JSON.stringify(fx.REFERENCES_V2)));
      const final = await ask(c, { payload: "q" });
      assert.equal(final.payload, "DB-GPT supports AWEL workflows.[1]");
      assert.deepEqual(final.dbgpt.references, fx.REFERENCES_V2_DATA);
    });

    it("chat_dashboard report JSON", async () => {
      const c = await fixture("chat_dashboard", fx.completionBody(JSON.stringify(fx.REPORT)));
      const final = await ask(c, { payload: "q" });
      assert.equal(final.payload, "Users by city");
      assert.deepEqual(final.dbgpt.charts[0].rows, [
        { city: "Paris", cnt: 3 },
        { city: "Rome", cnt: 2 },
      ]);
      assert.equal(final.dbgpt.charts[0].type, "BarChart");
      assert.equal(final.dbgpt.raw, fx.REPORT);
    });

    it("chat_flow vis-db-chart and vis-code (the docs' verbatim bodies)", async () => {
      const content =
        "```vis-db-chart\n" + fx.VIS_DB_CHART_BODY + "\n```\n```vis-code\n" + fx.VIS_CODE_BODY + "\n```";
      const c = await fixture("chat_flow", fx.completionBody(JSON.stringify(content)));
      const final = await ask(c, { payload: "q" });
      // Artifacts alone, no text around them: the payload names them.
      assert.equal(final.payload, "Chart (response_table); Code (python)");
      assert.deepEqual(final.dbgpt.charts[0].rows, fx.USERS_CHART.rows);
      assert.equal(final.dbgpt.code[0].log, "\n39483\n");
    });
  });

  for (const stream of [false, true]) {
    const how = stream ? "streamed (rows from the history)" : "stream off";
    it(`chat_data ${how}: msg.dbgpt.charts[0] has the columns and rows of the query`, async () => {
      const c = await loadChat(emu.url, { chatMode: "chat_data", chatParam: "dbgpt_test", stream });
      const final = await ask(c, { payload: QUESTION });
      const expected = artifacts.chatData("orders");
      assert.deepEqual(final.dbgpt.charts, expected.charts);
      assert.deepEqual(final.dbgpt.charts[0].columns, [
        "city",
        "orders",
        "revenue",
        "items",
        "last_order",
        "note",
      ]);
      assert.deepEqual(final.dbgpt.references, []);
      assert.deepEqual(final.dbgpt.code, []);
      assert.deepEqual(final.dbgpt.tools, []);
      assert.equal(final.payload, answerFor(QUESTION, { chatMode: "chat_data", stream }));
      assertNoMarkup(c, final);
      if (stream) {
        assert.equal(fold(c.stream), final.payload);
        assert.equal(final.dbgpt.raw, undefined, "the streamed text had no markup taken out");
        const history = emu.requests.filter((r) => r.path === HISTORY_PATH);
        assert.equal(history.length, 1);
        assert.equal(history[0].query.con_uid, final.conv_uid);
      } else {
        assert.equal(final.dbgpt.raw, contentFor(QUESTION, { chatMode: "chat_data", stream: false }));
        assert.equal(emu.requests.filter((r) => r.path === HISTORY_PATH).length, 0);
      }
    });

    it(`chat_data failed query, ${how}: DBGPT_QUERY_ERROR reaches Catch with the SQL`, async () => {
      const c = await loadChat(emu.url, { chatMode: "chat_data", chatParam: "dbgpt_test", stream });
      const caught = await failing(c, { payload: "[sql-error] per region?", topic: "t" });
      assert.equal(caught.error.code, "DBGPT_QUERY_ERROR");
      assert.equal(caught.dbgpt.error.code, "DBGPT_QUERY_ERROR");
      assert.equal(caught.dbgpt.error.sql, artifacts.FAILED_SQL);
      assert.equal(caught.dbgpt.partial, artifacts.FAILED_THOUGHTS);
      assert.ok(caught.error.message.includes(artifacts.FAILED_ERROR), caught.error.message);
      assert.equal(caught.topic, "t");
      for (const m of c.stream) assert.doesNotMatch(m.payload, MARKUP);
    });
  }

  it("streamed chat_data whose history cannot be read: the final message still goes out (empty arrays), one warning per start", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_data", chatParam: "dbgpt_test" });
    emu.fault({ match: { path: HISTORY_PATH }, status: 503, body: "Service Unavailable", times: 0 });
    const first = await ask(c, { payload: QUESTION });
    const second = await ask(c, { payload: QUESTION });
    for (const final of [first, second]) {
      assert.deepEqual(final.dbgpt.charts, []);
      assert.equal(final.payload, answerFor(QUESTION, { chatMode: "chat_data" }));
    }
    const warnings = logLines(helper.log().WARN, "conversation history");
    assert.equal(warnings.length, 1);
    assert.match(String(warnings[0].msg), /503/);
  });

  for (const stream of [false, true]) {
    it(`chat_dashboard ${stream ? "streamed" : "stream off"}: one chart per report chart, rows pivoted`, async () => {
      const c = await loadChat(emu.url, { chatMode: "chat_dashboard", chatParam: "dbgpt_test", stream });
      const final = await ask(c, { payload: "[data] orders dashboard" });
      assert.deepEqual(
        final.dbgpt.charts.map((ch) => [ch.source, ch.title, ch.type]),
        [
          ["dashboard", "Orders by city", "BarChart"],
          ["dashboard", "Orders per day", "LineChart"],
          ["dashboard", "Total", "IndicatorValue"],
        ],
      );
      assert.deepEqual(final.dbgpt.charts[0].rows[0], { city: "Berlin", orders: 3, revenue: 120.5 });
      assertNoMarkup(c, final);
      if (!stream) assert.equal(final.payload, "Orders by city; Orders per day; Total");
    });

    it(`chat_knowledge ${stream ? "streamed" : "stream off"}: msg.dbgpt.references, once each`, async () => {
      const c = await loadChat(emu.url, { chatMode: "chat_knowledge", chatParam: "default_space", stream });
      const final = await ask(c, { payload: "[refs] what is AWEL?" });
      assert.deepEqual(final.dbgpt.references, artifacts.knowledgeReferences());
      assert.equal(final.payload, answerFor("[refs] what is AWEL?", { chatMode: "chat_knowledge", stream }));
      assertNoMarkup(c, final);
    });
  }

  it("chat_flow [vis]: charts from vis-db-chart and vis-dashboard; the failed dashboard item has error", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_flow", chatParam: "flow-1" });
    const final = await ask(c, { payload: "[vis] q" });
    const expected = artifacts.visExpectations().flow;
    assert.deepEqual(final.dbgpt.charts, expected.charts);
    assert.equal(final.dbgpt.charts[2].error, "no such table: refunds");
    assert.equal(final.payload, expected.readable);
    assert.equal(final.dbgpt.raw, artifacts.flowVisText());
    assert.equal(fold(c.stream), final.payload);
    assertNoMarkup(c, final);
  });

  it("chat_app [vis]: charts, code and tools, each once; raw is the last document", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_app", chatParam: APP_CODES.singleAgent });
    const final = await ask(c, { payload: "[vis] q" });
    const expected = artifacts.visExpectations().app;
    assert.deepEqual(final.dbgpt.charts, expected.charts);
    assert.deepEqual(final.dbgpt.code, expected.code);
    assert.deepEqual(final.dbgpt.tools, expected.tools);
    assert.equal(final.payload, expected.readable);
    assert.equal(fold(c.stream), final.payload);
    assert.ok(final.dbgpt.raw.includes("```vis-db-chart"));
    assertNoMarkup(c, final);
    const replaces = c.stream.filter((m) => m.dbgpt.type === "replace");
    assert.ok(replaces.length > 0, "a new agent speaking is a replace");
  });

  it("chat_normal: empty arrays, no raw", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_normal", chatParam: "" });
    const final = await ask(c, { payload: "hi" });
    for (const key of ["charts", "references", "code", "tools"]) assert.deepEqual(final.dbgpt[key], []);
    assert.equal(final.dbgpt.raw, undefined);
    assert.equal(emu.requests.filter((r) => r.path === HISTORY_PATH).length, 0);
  });

  it("stopped while the history is being read: the final message has the streamed text, stopped, empty data", async () => {
    const c = await loadChat(emu.url, { chatMode: "chat_data", chatParam: "dbgpt_test" });
    emu.fault({ match: { path: HISTORY_PATH }, stall: "before-headers" });
    c.node.receive({ payload: QUESTION, conv_uid: "stall-history" });
    await waitFor(() => emu.requests.some((r) => r.path === HISTORY_PATH), "the history read", 10000);
    c.node.receive({ stop: true });
    await waitFor(() => c.final.length === 1, "the stopped final message", 10000);
    const final = c.final[0];
    assert.equal(final.dbgpt.stopped, true);
    assert.equal(final.payload, answerFor(QUESTION, { chatMode: "chat_data" }));
    assert.deepEqual(final.dbgpt.charts, []);
    assert.equal(c.caught.length, 0);
  });

  it("a stopped chat_app request's final message carries the artifacts that had arrived", async () => {
    emu.configure({ delayMs: 15 });
    const c = await loadChat(emu.url, { chatMode: "chat_app", chatParam: APP_CODES.singleAgent });
    c.node.receive({ payload: "[vis] q", conv_uid: "stop-me" });
    // Wait until the first finished message (vis-code) has been rendered: its tool-expert message streams next.
    await waitFor(() => c.stream.some((m) => m.payload.includes("query_orders")), "the second agent", 10000);
    c.node.receive({ stop: true, conv_uid: "stop-me" });
    await waitFor(() => c.final.length === 1, "the stopped final message", 10000);
    const final = c.final[0];
    assert.equal(final.dbgpt.stopped, true);
    assert.equal(final.dbgpt.code.length, 1);
    assert.deepEqual(final.dbgpt.code, artifacts.visExpectations().app.code);
    assert.ok(Array.isArray(final.dbgpt.charts));
    assert.equal(c.caught.length, 0);
  });
});
