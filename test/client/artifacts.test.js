"use strict";
// Answers as data (dbgpt-artifacts.md): every artifact form through the client over real sockets, as
// byte-exact fixtures (the spec's own examples, served verbatim by the emulator) and as the emulator's
// built-in conversations; the history read after a stream; DBGPT_QUERY_ERROR; no markup in any event.
const { assert, useEmulator, collect, rejectsWith, assertConsistent, chatRequest } = require("./helpers");
const { HISTORY_PATH, answerFor, contentFor, artifacts, APP_CODES } = require("../../emulator");

/** Markup a reader must never see in a stream event or in the answer text. */
const MARKUP = /<chart-view|<references|```vis-|"template_name"|ERROR!<\/span>/;

/** A chat_data request on the emulator's database. */
function dataRequest(question, convUid) {
  return chatRequest({ chatMode: "chat_data", chatParam: "dbgpt_test", question, convUid });
}

function assertNoMarkup(events, text) {
  for (const event of events) assert.doesNotMatch(event.text, MARKUP, `markup in a ${event.type} event`);
  assert.doesNotMatch(text, MARKUP);
}

const {
  completionBody,
  historyBody,
  CHART_VIEW_WIRE,
  CHART_VIEW_STORED,
  USERS_CHART,
  CHART_VIEW_FAILED,
  REFERENCES_V2,
  REFERENCES_V2_DATA,
  REPORT,
  VIS_DB_CHART_BODY,
  VIS_CODE_BODY,
} = require("../support/artifact-fixtures");

describe("client: answers as data (dbgpt-artifacts.md)", function () {
  const ctx = useEmulator();

  /** A non-stream chat whose response body is exactly `body`. */
  function fixtureChat(chatMode, body, question = "fixture") {
    ctx.emu.fault({
      match: { chatMode },
      status: { status: 200, body, contentType: "application/json" },
    });
    const chatParam =
      chatMode === "chat_knowledge" ? "default_space" : chatMode === "chat_flow" ? "flow-1" : "dbgpt_test";
    return ctx.client().chat(chatRequest({ chatMode, chatParam, question, stream: false }));
  }

  describe("byte-exact fixtures from the spec", () => {
    it("chat_data chart-view (v2 wire form): the explanation as text, the rows as data, raw as sent", async () => {
      const result = await fixtureChat("chat_data", completionBody(CHART_VIEW_WIRE)).result;
      assert.equal(result.text, "Users younger than 18.");
      assert.deepEqual(result.charts, [USERS_CHART]);
      assert.equal(result.raw, JSON.parse(CHART_VIEW_WIRE));
      assert.deepEqual([result.references, result.code, result.tools], [[], [], []]);
    });

    it("chat_data failed query (v2 form): DBGPT_QUERY_ERROR with the SQL, the database's error, the explanation", async () => {
      const call = fixtureChat("chat_data", completionBody(JSON.stringify(CHART_VIEW_FAILED)));
      const err = await rejectsWith(call.result, "DBGPT_QUERY_ERROR");
      assert.equal(err.sql, "SELECT COUNT(*) FROM orders");
      assert.match(err.message, /\(sqlite3\.OperationalError\) no such table: orders/);
      assert.equal(err.serverMessage, "(sqlite3.OperationalError) no such table: orders");
      assert.equal(err.partial, "Count orders.");
    });

    it("chat_data stored view (history form, &quot;) read after a stream", async () => {
      const client = ctx.client();
      ctx.emu.fault({
        match: { path: HISTORY_PATH },
        status: { status: 200, body: historyBody(CHART_VIEW_STORED), contentType: "application/json" },
      });
      assert.equal(await client.getConversationView("conv-h"), CHART_VIEW_STORED);
      const history = ctx.emu.requests.find((r) => r.path === HISTORY_PATH);
      assert.equal(history.rawPath, `${HISTORY_PATH}?con_uid=conv-h`);
      ctx.emu.fault({
        match: { path: HISTORY_PATH },
        status: { status: 200, body: historyBody(CHART_VIEW_STORED), contentType: "application/json" },
      });
      const { result } = await client.addConversationData(
        { text: "plan", stopped: false, convUid: "conv-h" },
        { chatMode: "chat_data", convUid: "conv-h" },
      );
      assert.deepEqual(result.charts, [USERS_CHART]);
    });

    it("chat_knowledge references (v2 form): the [n] answer as text, the cited chunks as data", async () => {
      const result = await fixtureChat("chat_knowledge", completionBody(JSON.stringify(REFERENCES_V2)))
        .result;
      assert.equal(result.text, "DB-GPT supports AWEL workflows.[1]");
      assert.deepEqual(result.references, REFERENCES_V2_DATA);
      assert.equal(result.raw, REFERENCES_V2);
    });

    it("chat_dashboard report JSON: long-format values pivoted into rows, numbers as numbers, values kept", async () => {
      const content = "``````vis-thinking\nPick a chart.\n``````\n" + REPORT;
      const result = await fixtureChat("chat_dashboard", completionBody(JSON.stringify(content))).result;
      assert.equal(result.reasoning, "Pick a chart.");
      assert.equal(result.text, "Users by city");
      assert.deepEqual(result.charts, [
        {
          source: "dashboard",
          title: "Users by city",
          description: "Users per city",
          type: "BarChart",
          sql: "SELECT city, COUNT(*) AS cnt FROM user GROUP BY city",
          columns: ["city", "cnt"],
          rows: [
            { city: "Paris", cnt: 3 },
            { city: "Rome", cnt: 2 },
          ],
          values: [
            { name: "Paris", type: "cnt", value: "3" },
            { name: "Rome", type: "cnt", value: "2" },
          ],
        },
      ]);
    });

    it("chat_flow vis-db-chart and vis-code blocks (docs' verbatim bodies)", async () => {
      const content =
        "Here you go.\n\n```vis-db-chart\n" +
        VIS_DB_CHART_BODY +
        "\n```\n```vis-code\n" +
        VIS_CODE_BODY +
        "\n```";
      const result = await fixtureChat("chat_flow", completionBody(JSON.stringify(content))).result;
      assert.equal(result.text, "Here you go.");
      assert.deepEqual(result.charts, [
        {
          ...USERS_CHART,
          source: "vis-db-chart",
          description: "I have selected a response_table to display ...",
        },
      ]);
      assert.deepEqual(result.code, [
        {
          language: "python",
          code: "# filename: calculate_multiplication.py\n\nresult = 321 * 123\nprint(result)",
          log: "\n39483\n",
          success: true,
        },
      ]);
      assert.equal(result.raw, content);
    });

    it("a chart-view whose JSON cannot be read: no markup in the text, no chart, raw as sent", async () => {
      const content = 'Broken.\n<chart-view content="{"type": "response_table", "sql": "S", "data": [" />';
      const result = await fixtureChat("chat_data", completionBody(JSON.stringify(content))).result;
      assert.equal(result.text, "Broken.");
      assert.deepEqual(result.charts, []);
      assert.equal(result.raw, content);
    });

    it("a stored dashboard view with a vis-thinking prefix (history after a stream)", async () => {
      const client = ctx.client();
      ctx.emu.fault({
        match: { path: HISTORY_PATH },
        status: {
          status: 200,
          body: historyBody("``````vis-thinking\nPick.\n``````\n" + REPORT),
          contentType: "application/json",
        },
      });
      const { result } = await client.addConversationData(
        { text: "[...]", stopped: false, convUid: "conv-d" },
        { chatMode: "chat_dashboard", convUid: "conv-d" },
      );
      assert.deepEqual(
        result.charts.map((c) => c.rows),
        [
          [
            { city: "Paris", cnt: 3 },
            { city: "Rome", cnt: 2 },
          ],
        ],
      );
    });

    it("chat_data direct_response only: plain text, no charts, no raw", async () => {
      const result = await fixtureChat("chat_data", completionBody(JSON.stringify("Nothing to query.\n")))
        .result;
      assert.equal(result.text, "Nothing to query.\n");
      assert.deepEqual(result.charts, []);
      assert.equal(result.raw, undefined);
    });
  });

  describe("the emulator's conversations", () => {
    const QUESTION = "how many orders per city last month?";

    /** The result of one chat with streaming off. */
    const wholeResult = (client, chatMode, chatParam, question) =>
      client.chat(chatRequest({ chatMode, chatParam, question, stream: false })).result;

    it("chat_data, stream off: the rows of the built-in table exactly (null, floats, datetimes, escaping)", async () => {
      const result = await wholeResult(ctx.client(), "chat_data", "dbgpt_test", QUESTION);
      const expected = artifacts.chatData("orders");
      assert.equal(result.text, expected.readable);
      assert.equal(result.text, answerFor(QUESTION, { chatMode: "chat_data", stream: false }));
      assert.deepEqual(result.charts, expected.charts);
      assert.equal(result.charts[0].rows[0].note, 'Say "hi" <b>&amp;</b> & more');
      assert.equal(result.charts[0].rows[2].revenue, null);
      assert.equal(result.raw, contentFor(QUESTION, { chatMode: "chat_data", stream: false }));
    });

    it("chat_data, streamed: the model's plan as text, then the rows from the conversation's history", async () => {
      const client = ctx.client();
      const request = dataRequest(QUESTION, "c-data");
      const outcome = await collect(client.chat(request));
      const result = assertConsistent(outcome);
      assert.equal(result.text, answerFor(QUESTION, { chatMode: "chat_data" }));
      assert.deepEqual(result.charts, []);
      assertNoMarkup(outcome.events, result.text);
      const filled = await client.addConversationData(result, request);
      assert.equal(filled.historyError, undefined);
      assert.deepEqual(filled.result.charts, artifacts.chatData("orders").charts);
      assert.equal(filled.result.text, result.text);
      const history = ctx.emu.requests.filter((r) => r.path === HISTORY_PATH);
      assert.equal(history.length, 1);
      assert.equal(history[0].query.con_uid, "c-data");
    });

    it("chat_data failed query, streamed: `Generate view content failed` + history -> DBGPT_QUERY_ERROR", async () => {
      const client = ctx.client();
      const request = dataRequest("[sql-error] x", "c-bad");
      const outcome = await collect(client.chat(request));
      const result = assertConsistent(outcome);
      assert.equal(result.viewFailed, true);
      assert.ok(result.text.endsWith("Generate view content failed"));
      const err = await rejectsWith(client.addConversationData(result, request), "DBGPT_QUERY_ERROR");
      assert.equal(err.sql, artifacts.FAILED_SQL);
      assert.equal(err.serverMessage, artifacts.FAILED_ERROR);
      assert.equal(err.partial, artifacts.FAILED_THOUGHTS);
    });

    it("chat_data failed query, stream off: DBGPT_QUERY_ERROR", async () => {
      const call = ctx.client().chat({ ...dataRequest("[sql-error] x"), stream: false });
      const err = await rejectsWith(call.result, "DBGPT_QUERY_ERROR");
      assert.equal(err.sql, artifacts.FAILED_SQL);
      assert.equal(err.serverMessage, artifacts.FAILED_ERROR);
      assert.equal(err.partial, artifacts.FAILED_THOUGHTS);
    });

    it("history unreadable: the result stays (empty data) with the reason; a failed view still fails with the plan's SQL", async () => {
      const client = ctx.client();
      const request = dataRequest(QUESTION, "c-nohist");
      const result = await client.chat(request).result;
      ctx.emu.fault({ match: { path: HISTORY_PATH }, status: 500, body: "Internal Server Error" });
      const filled = await client.addConversationData(result, request);
      assert.deepEqual(filled.result.charts, []);
      assert.equal(filled.historyError.code, "DBGPT_HTTP");
      assert.match(filled.historyError.message, /500/);

      const badRequest = { ...request, question: "[sql-error] y", convUid: "c-nohist-2" };
      const bad = await client.chat(badRequest).result;
      ctx.emu.fault({ match: { path: HISTORY_PATH }, status: 500, body: "Internal Server Error" });
      const err = await rejectsWith(client.addConversationData(bad, badRequest), "DBGPT_QUERY_ERROR");
      assert.equal(err.sql, artifacts.FAILED_SQL);
      assert.match(err.message, /Generate view content failed/);
    });

    it("chat_dashboard, both ways: three charts pivoted (string primary, datetime primary, sums)", async () => {
      const client = ctx.client();
      const whole = await wholeResult(client, "chat_dashboard", "dbgpt_test", "[data] orders");
      assert.equal(whole.text, "Orders by city; Orders per day; Total");
      assert.deepEqual(
        whole.charts.map((c) => c.rows),
        [
          [
            { city: "Berlin", orders: 3, revenue: 120.5 },
            { city: "São Paulo", orders: 2, revenue: 99.9 },
            { city: "東京", orders: 0, revenue: 0 }, // a row with a NULL: every value "0" (data_loader.py)
          ],
          [
            { day: "2026-10-02 00:00:00", orders: 1 },
            { day: "2026-10-12 00:00:00", orders: 2 },
            { day: "2026-10-30 00:00:00", orders: 3 },
          ],
          [{ orders: "orders", orders_amount: 6 }],
        ],
      );
      assert.deepEqual(whole.charts[0].columns, ["city", "orders", "revenue"]);
      const request = chatRequest({
        chatMode: "chat_dashboard",
        chatParam: "dbgpt_test",
        question: "[data] orders",
        convUid: "c-dash",
      });
      const outcome = await collect(client.chat(request));
      assertNoMarkup(outcome.events, outcome.result.text);
      const filled = await client.addConversationData(outcome.result, request);
      assert.deepEqual(
        filled.result.charts.map((c) => ({ ...c })),
        whole.charts,
      );
    });

    it("chat_knowledge [refs], both ways: citations in the text, chunks as data, once (the stored view has them twice)", async () => {
      const client = ctx.client();
      const whole = await wholeResult(client, "chat_knowledge", "default_space", "[refs] q");
      assert.equal(whole.text, artifacts.KNOWLEDGE_ANNOTATED);
      assert.deepEqual(whole.references, artifacts.knowledgeReferences());
      const request = chatRequest({
        chatMode: "chat_knowledge",
        chatParam: "default_space",
        question: "[refs] q",
        convUid: "c-kb",
      });
      const streamed = await client.chat(request).result;
      assert.deepEqual(streamed.references, []);
      const view = await client.getConversationView("c-kb");
      assert.equal(view.split("<references ").length, 3, "the stored view carries the element twice");
      assert.ok(view.includes("&quot;"));
      const filled = await client.addConversationData(streamed, request);
      assert.deepEqual(filled.result.references, artifacts.knowledgeReferences());
    });

    it("chat_flow [vis], both ways: vis-db-chart and vis-dashboard (a failed item has error and no rows)", async () => {
      const client = ctx.client();
      const expected = artifacts.visExpectations().flow;
      const outcome = await collect(
        client.chat(chatRequest({ chatMode: "chat_flow", chatParam: "flow-1", question: "[vis] q" })),
      );
      const result = assertConsistent(outcome);
      assertNoMarkup(outcome.events, result.text);
      assert.equal(result.text, expected.readable);
      assert.deepEqual(result.charts, expected.charts);
      assert.equal(result.raw, artifacts.flowVisText());
      const whole = await wholeResult(client, "chat_flow", "flow-1", "[vis] q");
      assert.equal(whole.text, "Orders per city for small baskets.");
      assert.deepEqual(whole.charts, expected.charts);
    });

    it("chat_app [vis]: nested blocks at depth 2 and 3, each artifact once, no markup in any event", async () => {
      const outcome = await collect(
        ctx
          .client()
          .chat(chatRequest({ chatMode: "chat_app", chatParam: APP_CODES.singleAgent, question: "[vis] q" })),
      );
      const result = assertConsistent(outcome);
      assertNoMarkup(outcome.events, result.text);
      const expected = artifacts.visExpectations().app;
      assert.equal(result.text, expected.readable);
      assert.equal(result.text, answerFor("[vis] q", { chatMode: "chat_app" }));
      assert.deepEqual(result.charts, expected.charts);
      assert.deepEqual(result.code, expected.code);
      assert.deepEqual(result.tools, expected.tools);
      // The server really sends the last artifact twice per chunk.
      assert.equal(result.raw.split("```vis-db-chart").length, 3);
    });

    for (const [chatMode, chatParam, question] of [
      ["chat_normal", undefined, "hi"],
      ["chat_knowledge", "default_space", "[refs] q"],
      ["chat_data", "dbgpt_test", QUESTION],
      ["chat_data", "dbgpt_test", "[sql-error] q"],
      ["chat_with_db_qa", "dbgpt_test", "q"],
      ["chat_dashboard", "dbgpt_test", "[data] q"],
      ["chat_flow", "flow-1", "[vis] q"],
      ["chat_app", APP_CODES.singleAgent, "[vis] q"],
    ]) {
      it(`${chatMode} "${question}", streamed: no markup in any event or in the text`, async () => {
        const outcome = await collect(ctx.client().chat(chatRequest({ chatMode, chatParam, question })));
        assertNoMarkup(outcome.events, outcome.result.text);
        assert.ok(outcome.events.length > 0);
      });
    }
  });
});
