"use strict";
// Example 6, "Ask your database", as a user imports it: deployed as shipped (only the DB-GPT base URL
// rewritten) into a real Node-RED with the packed package installed, and driven over HTTP against the
// emulator: the rows as JSON, 422 for a query the database refused, 400 without a question, 502 otherwise.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { CHAT_PATH, answerFor, artifacts } = require("../../emulator");
const { ROOT, useNodeRedWithEmulator } = require("./harness");
const { failureAnswer } = require("../support/faults");

const FILE = path.join(ROOT, "examples", "06 - Ask your database.json");
const QUESTION = "how many orders per city last month?";

function shipped(baseUrl) {
  const nodes = JSON.parse(fs.readFileSync(FILE, "utf8"));
  return nodes.map((node) => (node.type === "dbgpt-config" ? { ...node, baseUrl } : node));
}

async function get(url, ms = 15000) {
  const res = await fetch(url, { signal: AbortSignal.timeout(ms) });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

describe("example 6, Ask your database: shape", function () {
  it("http in GET /dbgpt/data -> chat_data (database as chat param) -> JSON; a catch scoped to the chat node", function () {
    const nodes = JSON.parse(fs.readFileSync(FILE, "utf8"));
    const one = (type) => {
      const found = nodes.filter((n) => n.type === type);
      assert.equal(found.length, 1, type);
      return found[0];
    };
    const httpIn = one("http in");
    const chat = one("dbgpt-chat");
    assert.equal(httpIn.method, "get");
    assert.equal(httpIn.url, "/dbgpt/data");
    assert.equal(chat.chatMode, "chat_data");
    assert.equal(chat.chatParam, "dbgpt_test");
    assert.equal(chat.chatParamType, "str");
    assert.deepEqual(one("catch").scope, [chat.id]);
    const comment = one("comment");
    assert.match(comment.info, /msg\.dbgpt\.charts\[0\]/);
    assert.match(comment.info, /422/);
  });
});

describe("example 6, Ask your database: in a real Node-RED", function () {
  this.timeout(60000);
  const suite = useNodeRedWithEmulator((url) => shipped(url));

  const url = (q) => `${suite.nr.url}/dbgpt/data` + (q === undefined ? "" : `?q=${encodeURIComponent(q)}`);

  it("answers a question with { answer, sql, columns, rows } from msg.dbgpt.charts[0]", async function () {
    const res = await get(url(QUESTION));
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get("content-type"), /^application\/json/);
    const [chart] = artifacts.chatData("orders").charts;
    assert.deepEqual(res.json, {
      answer: answerFor(QUESTION, { chatMode: "chat_data", stream: false }),
      sql: chart.sql,
      columns: chart.columns,
      rows: chart.rows,
    });
    assert.equal(res.json.rows[1].city, "São Paulo");
    assert.equal(res.json.rows[2].revenue, null);
    const [request] = suite.emu.chatRequests();
    assert.equal(request.body.chat_mode, "chat_data");
    assert.equal(request.body.chat_param, "dbgpt_test");
    assert.equal(request.body.messages, QUESTION);
    assert.equal(request.body.stream, false);
  });

  it("answers 422 with the database's error and the SQL when the database refuses the query", async function () {
    const res = await get(url("[sql-error] orders per region?"));
    assert.equal(res.status, 422, res.text);
    assert.equal(res.json.sql, artifacts.FAILED_SQL);
    assert.ok(res.json.error.includes("no such column: region"), res.json.error);
    assert.equal(res.json.answer, artifacts.FAILED_THOUGHTS);
  });

  it("answers 400 with a hint when q is missing or empty, without asking DB-GPT", async function () {
    for (const q of [undefined, "", "   "]) {
      const res = await get(url(q));
      assert.equal(res.status, 400, res.text);
      assert.match(res.json.error, /\?q=/);
    }
    assert.equal(suite.emu.chatRequests().length, 0);
  });

  it("answers 502 for any other failure (DB-GPT answers HTTP 500)", async function () {
    suite.emu.fault({ match: { path: CHAT_PATH }, ...failureAnswer(500, "E0003", "emulated outage") });
    const res = await get(url(QUESTION));
    assert.equal(res.status, 502, res.text);
    assert.match(res.json.error, /emulated outage/);
    assert.equal(res.json.code, "DBGPT_HTTP");
  });
});
