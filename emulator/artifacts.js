"use strict";
// Answers as data (dbgpt-artifacts.md): the built-in database, and every artifact form byte for byte:
// chat_data's <chart-view> (ElementTree attribute escaping, then the v2 `&quot;` -> `"` replacement),
// the failed-query form, chat_dashboard's report JSON, chat_knowledge's <references>, chat_flow's
// vis-db-chart / vis-dashboard output and chat_app documents with nested vis blocks.
const { pyDumps } = require("./pyjson");

// ---- the built-in database ----------------------------------------------------------------------------

/** A Python float (json.dumps writes 7.0 for an integral float, as pandas does for an int column with a NULL). */
class PyFloat {
  constructor(value) {
    this.value = value;
  }
}

/** json.dumps(value, ensure_ascii=False), with PyFloat. */
function dumps(value) {
  if (value instanceof PyFloat) {
    const v = value.value;
    return Number.isInteger(v) && Math.abs(v) < 1e16 ? `${v}.0` : String(v);
  }
  if (Array.isArray(value)) return "[" + value.map(dumps).join(", ") + "]";
  if (value !== null && typeof value === "object") {
    const parts = [];
    for (const key of Object.keys(value)) parts.push(JSON.stringify(key) + ": " + dumps(value[key]));
    return "{" + parts.join(", ") + "}";
  }
  return pyDumps(value);
}

/** The same value as a client sees it after JSON.parse (PyFloat -> number). */
function plain(value) {
  if (value instanceof PyFloat) return value.value;
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value)) out[key] = plain(value[key]);
    return out;
  }
  return value;
}

/**
 * Table `orders` aggregated for last month: what chat_data's query returns, as
 * DataFrame.to_json(orient="records", date_format="iso", date_unit="s") leaves it (§1.3): names,
 * numbers, a NULL, datetimes, an int column with a NULL (floats), a value with `"`, `<`, `&`, non-ASCII.
 */
const ORDERS_BY_CITY = [
  {
    city: "Berlin",
    orders: 3,
    revenue: 120.5,
    items: new PyFloat(7),
    last_order: "2026-10-30T18:45:00",
    note: 'Say "hi" <b>&amp;</b> & more',
  },
  {
    city: "São Paulo",
    orders: 2,
    revenue: 99.9,
    items: new PyFloat(4),
    last_order: "2026-10-12T08:00:59",
    note: "Ünïcödé 数据库 😀 it's",
  },
  { city: "東京", orders: 1, revenue: null, items: null, last_order: "2026-10-02T09:00:05", note: null },
];

const DATA_THOUGHTS = "Count last month's orders per city, with revenue & items.";
const DATA_SQL =
  "SELECT city, COUNT(*) AS orders, SUM(amount) AS revenue, SUM(items) AS items, " +
  "MAX(ordered_at) AS last_order, MIN(note) AS note FROM orders " +
  "WHERE ordered_at >= '2026-10-01' AND ordered_at < '2026-11-01' GROUP BY city ORDER BY orders DESC LIMIT 50";

const FAILED_THOUGHTS = "Count orders per region.";
const FAILED_SQL = 'SELECT region, COUNT(*) AS "n" FROM orders WHERE total < 10 GROUP BY region';
const FAILED_ERROR =
  "(sqlite3.OperationalError) no such column: region\n" +
  `[SQL: ${FAILED_SQL}]\n` +
  "(Background on this error at: https://sqlalche.me/e/20/e3q8)";

// ---- ElementTree ---------------------------------------------------------------------------------------

/** CPython ElementTree._escape_attrib. */
function escapeAttrib(text) {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/\r/g, "&#13;")
    .replace(/\n/g, "&#10;")
    .replace(/\t/g, "&#09;");
}

/** The v2 non-stream wrapper (api_v2.py:224): `\ufffd` stripped, `&quot;` back to `"`. */
function v2(content) {
  return content.replace(/\ufffd/g, "").replace(/&quot;/g, '"');
}

function chartView(view) {
  return `<chart-view content="${escapeAttrib(dumps(view))}" />`;
}

function referencesElement(docs) {
  return `<references title="References" references="${escapeAttrib(dumps(docs))}" />`.split("\\n").join("");
}

// ---- chat_data -----------------------------------------------------------------------------------------

function dataPlan(thoughts, sql) {
  return dumps({ thoughts, direct_response: "", sql, display_type: "response_table" });
}

/** Word-ish deltas of a text (joining them gives it back). */
function pieces(text, size = 9) {
  const out = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/**
 * chat_data: { tokens (what streams), view (history form), content (v2 non-stream), readable, data }.
 * kind: "orders" (the built-in table), "sql-error", or "simple" (`SELECT 1 AS answer` after `speak`).
 */
function chatData(kind, speak) {
  if (kind === "sql-error") {
    const view =
      `${FAILED_THOUGHTS} \\n <span style="color:red">ERROR!</span>${FAILED_ERROR} \n ` +
      chartView({ sql: FAILED_SQL, type: "response_table", data: [] });
    return {
      tokens: [...pieces(dataPlan(FAILED_THOUGHTS, FAILED_SQL)), "Generate view content failed"],
      view,
      content: v2(view),
      readable: FAILED_THOUGHTS,
      error: { message: FAILED_ERROR, sql: FAILED_SQL, explanation: FAILED_THOUGHTS },
    };
  }
  if (kind === "orders") {
    const view =
      DATA_THOUGHTS + "\n" + chartView({ type: "response_table", sql: DATA_SQL, data: ORDERS_BY_CITY });
    return {
      tokens: pieces(dataPlan(DATA_THOUGHTS, DATA_SQL)),
      view,
      content: v2(view),
      readable: DATA_THOUGHTS,
      charts: [
        {
          source: "chart-view",
          title: "",
          description: "",
          type: "response_table",
          sql: DATA_SQL,
          columns: Object.keys(ORDERS_BY_CITY[0]),
          rows: plain(ORDERS_BY_CITY),
        },
      ],
    };
  }
  const view =
    speak + "\n" + chartView({ type: "response_table", sql: "SELECT 1 AS answer", data: [{ answer: 1 }] });
  return { view, content: v2(view), readable: speak };
}

// ---- chat_dashboard ------------------------------------------------------------------------------------

const DASHBOARD_SPECS = [
  {
    thoughts: "Orders and revenue per city",
    showcase: "BarChart",
    sql: "SELECT city, COUNT(*) AS orders, SUM(amount) AS revenue FROM orders GROUP BY city",
    title: "Orders by city",
  },
  {
    thoughts: "Orders per day",
    showcase: "LineChart",
    sql: "SELECT DATE(ordered_at) AS day, COUNT(*) AS orders FROM orders GROUP BY day",
    title: "Orders per day",
  },
  {
    thoughts: "Total orders",
    showcase: "IndicatorValue",
    sql: "SELECT COUNT(*) AS orders FROM orders",
    title: "Total",
  },
];

/** data_loader.py: long format, column-major, every value a string; a row with a NULL gives "0". */
function reportCharts() {
  const cities = ORDERS_BY_CITY;
  const cityValues = [];
  for (const col of ["orders", "revenue"]) {
    for (const row of cities) {
      const hasNull = row.orders === null || row.revenue === null;
      cityValues.push({ name: row.city, type: col, value: hasNull ? "0" : String(row[col]) });
    }
  }
  const days = [
    ["2026-10-02 00:00:00", 1],
    ["2026-10-12 00:00:00", 2],
    ["2026-10-30 00:00:00", 3],
  ];
  return [
    { column_name: ["city", "orders", "revenue"], values: cityValues },
    {
      column_name: ["day", "orders"],
      values: days.map(([d, n]) => ({ name: d, type: "orders", value: String(n) })),
    },
    { column_name: ["orders"], values: [{ name: "orders", type: "orders_amount", value: "6" }] },
  ].map((c, i) => ({
    chart_uid: `00000000-0000-1000-8000-00000000000${i + 1}`,
    chart_name: DASHBOARD_SPECS[i].title,
    chart_type: DASHBOARD_SPECS[i].showcase,
    chart_desc: DASHBOARD_SPECS[i].thoughts,
    chart_sql: DASHBOARD_SPECS[i].sql,
    column_name: c.column_name,
    values: c.values,
    style: null,
  }));
}

function chatDashboard(convUid) {
  const view = dumps({
    conv_uid: convUid,
    template_name: "report",
    template_introduce: null,
    charts: reportCharts(),
  });
  return {
    tokens: pieces(dumps(DASHBOARD_SPECS)),
    view,
    content: v2(view),
    readable: DASHBOARD_SPECS.map((s) => s.title).join("; "),
  };
}

// ---- chat_knowledge ------------------------------------------------------------------------------------

const KNOWLEDGE_TEXT =
  "DB-GPT answers questions over your own data. AWEL builds agent workflows & data pipelines.";
const KNOWLEDGE_ANNOTATED =
  "DB-GPT answers questions over your own data.[1] AWEL builds agent workflows & data pipelines.[2]";
const KNOWLEDGE_DOCS = [
  {
    name: "guide.md",
    chunks: [
      {
        index: 1,
        id: 10,
        content: "DB-GPT answers questions over your own data.\nIt runs locally.",
        meta_info: "{'source': 'guide.md'}",
        recall_score: 0.82,
      },
    ],
  },
  {
    name: 'awel "intro" <v2> & more.md',
    chunks: [
      {
        index: 2,
        id: 11,
        content: 'AWEL builds agent workflows & data pipelines <fast>, "typed".',
        meta_info: null,
        recall_score: 0.5,
      },
    ],
  },
];

/** The references a client should end up with (newlines removed by the server's replace). */
function knowledgeReferences() {
  const out = [];
  for (const doc of KNOWLEDGE_DOCS) {
    for (const c of doc.chunks) {
      out.push({
        index: c.index,
        name: doc.name,
        id: c.id,
        content: c.content.split("\n").join(""),
        score: c.recall_score,
        meta: c.meta_info,
      });
    }
  }
  return out;
}

/** chat_knowledge `[refs]`; a streamed conversation's stored view gets the element twice (§2.2). */
function chatKnowledge(streamed) {
  const element = referencesElement(KNOWLEDGE_DOCS);
  const once = `${KNOWLEDGE_ANNOTATED}\n\n${element}`;
  return {
    tokens: pieces(KNOWLEDGE_TEXT, 12),
    view: streamed ? `${once}\n\n${element}` : once,
    content: v2(once),
    readable: KNOWLEDGE_ANNOTATED,
  };
}

/** The default chat_knowledge references (any question): one emulator document. */
function defaultReferencesElement() {
  return referencesElement([
    {
      name: "emulator-doc.md",
      chunks: [
        { index: 1, id: 1, content: "Emulated reference", meta_info: "emulator-doc.md", recall_score: 0.9 },
      ],
    },
  ]);
}

// ---- vis blocks (agents, flows) ------------------------------------------------------------------------

function visBlock(tag, value) {
  return "```" + tag + "\n" + dumps(value) + "\n```";
}

const VIS_DB_CHART = {
  sql: "SELECT city, COUNT(*) AS orders FROM orders WHERE total < 100 GROUP BY city",
  type: "response_bar_chart",
  title: "",
  describe: "Orders per city, small baskets (< 100 & not refunded)",
  data: [
    { city: "Berlin", orders: 3 },
    { city: "São Paulo", orders: 2 },
  ],
};

const VIS_DASHBOARD = {
  data: [
    {
      sql: "SELECT city, SUM(amount) AS revenue FROM orders GROUP BY city",
      type: "response_pie_chart",
      title: "Revenue share",
      describe: "Revenue per city",
      data: [
        { city: "Berlin", revenue: 120.5 },
        { city: "東京", revenue: null },
      ],
    },
    { sql: "", type: "response_table", title: "", describe: "", err_msg: "no such table: refunds" },
  ],
  chart_count: 2,
  title: null,
  display_strategy: "default",
  style: "default",
};

const VIS_CODE = {
  exit_success: true,
  language: "python",
  code: [["python", 'rows = [3, 2, 1]\nprint(sum(rows), "orders <total>")']],
  log: "\n6 orders <total>\n",
};

const VIS_PLUGIN = {
  name: "query_orders",
  args: { city: "Berlin", limit: 5 },
  status: "complete",
  logo: null,
  result: '{"orders": 3, "note": "Say \\"hi\\" <b>&</b>"}',
  err_msg: null,
};

const VIS_API_RESPONSE = {
  name: "orders_api",
  args: { path: "/orders?city=Berlin&month=10" },
  status: "complete",
  logo: null,
  result: '{"city": "Berlin", "orders": 3}',
  err_msg: null,
};

const VIS_APP_LINK = {
  app_code: "a1b2c3d4-0000-4000-8000-000000000024",
  app_name: "Report Planner",
  app_desc: "Plans reports over the orders database",
  app_logo: "",
  status: "complete",
};

/** chat_flow `[vis]`: the Datasource Executor Operator's output, then a dashboard. */
function flowVisText() {
  return (
    "Orders per city for small baskets.\n\n" +
    visBlock("vis-db-chart", VIS_DB_CHART) +
    "\n" +
    visBlock("vis-dashboard", VIS_DASHBOARD)
  );
}

/**
 * chat_app `[vis]`: the agent messages in order (sender, raw LLM text while streaming, view once done).
 * The last message's view (the vis-db-chart) is rendered twice in each chunk, as the server does.
 */
const APP_VIS_MESSAGES = [
  { sender: "CodeEngineer", llm: "Computing the total.", view: visBlock("vis-code", VIS_CODE) },
  { sender: "ToolExpert", llm: "Calling query_orders.", view: visBlock("vis-plugin", VIS_PLUGIN) },
  { sender: "Indicator", llm: "Calling orders_api.", view: visBlock("vis-api-response", VIS_API_RESPONSE) },
  { sender: "Reporter", llm: "Building the dashboard.", view: visBlock("vis-dashboard", VIS_DASHBOARD) },
  { sender: "DataScientist", llm: "Charting orders per city.", view: visBlock("vis-db-chart", VIS_DB_CHART) },
];

/** The chat_app `[vis]` re-renders, in order (null = a `content: null` chunk). */
function appVisRenders(model, goal) {
  const messagesBlock = (list) => visBlock("agent-messages", list);
  const renders = [null];
  const linkBlock = visBlock("vis-app-link", VIS_APP_LINK);
  const done = [];
  const document = (temp) => {
    const parts = [linkBlock];
    if (done.length > 0) {
      const group = done.map((m) => ({
        sender: m.sender,
        receiver: "Human",
        model,
        markdown: m.view,
        resource: null,
      }));
      parts.push(
        visBlock("agent-plans", [
          { name: goal, num: 2, status: "complete", agent: done[0].sender, markdown: messagesBlock(group) },
        ]),
      );
      parts.push(messagesBlock([group[group.length - 1]]));
    }
    const text = parts.join("\n");
    return temp ? text + "\n" + messagesBlock([temp]) : text;
  };
  for (const m of APP_VIS_MESSAGES) {
    let text = "";
    for (const t of pieces(m.llm, 8)) {
      text += t;
      renders.push(document({ sender: m.sender, receiver: "?", model, markdown: text }));
    }
    renders.push(null);
    done.push(m);
    renders.push(document());
  }
  return renders;
}

/** What a client should end up with for chat_app / chat_flow `[vis]`. */
function visExpectations() {
  const rows = (d) => plain(d);
  const dbChart = {
    source: "vis-db-chart",
    title: "",
    description: VIS_DB_CHART.describe,
    type: VIS_DB_CHART.type,
    sql: VIS_DB_CHART.sql,
    columns: ["city", "orders"],
    rows: rows(VIS_DB_CHART.data),
  };
  const dash = [
    {
      source: "vis-dashboard",
      title: "Revenue share",
      description: "Revenue per city",
      type: "response_pie_chart",
      sql: VIS_DASHBOARD.data[0].sql,
      columns: ["city", "revenue"],
      rows: rows(VIS_DASHBOARD.data[0].data),
    },
    {
      source: "vis-dashboard",
      title: "",
      description: "",
      type: "response_table",
      sql: "",
      columns: [],
      rows: [],
      error: "no such table: refunds",
    },
  ];
  const code = { language: "python", code: VIS_CODE.code[0][1], log: VIS_CODE.log, success: true };
  const tool = (source, v) => ({
    source,
    name: v.name,
    args: v.args,
    status: v.status,
    result: v.result,
    error: v.err_msg,
  });
  return {
    flow: {
      charts: [dbChart, ...dash],
      code: [],
      tools: [],
      readable: "Orders per city for small baskets.\n\n",
    },
    app: {
      // Document order: the app link, then the plan's messages.
      charts: [...dash, dbChart],
      code: [code],
      tools: [
        {
          source: "vis-app-link",
          name: VIS_APP_LINK.app_name,
          args: { app_code: VIS_APP_LINK.app_code },
          status: "complete",
          result: VIS_APP_LINK.app_desc,
          error: null,
        },
        tool("vis-plugin", VIS_PLUGIN),
        tool("vis-api-response", VIS_API_RESPONSE),
      ],
      readable: "Chart (response_bar_chart)",
    },
  };
}

/** Which artifact form a question asks for in a mode, or undefined (README, "Answers as data"). */
function formFor(mode, question) {
  const q = typeof question === "string" ? question : "";
  if (mode === "chat_data") {
    if (q.startsWith("[sql-error]")) return "sql-error";
    if (q.startsWith("[data]") || /\borders\b/i.test(q)) return "orders";
    return undefined;
  }
  if (mode === "chat_dashboard" && (q.startsWith("[data]") || /\borders\b/i.test(q))) return "dashboard";
  if (mode === "chat_knowledge" && q.startsWith("[refs]")) return "refs";
  if ((mode === "chat_flow" || mode === "chat_app") && q.startsWith("[vis]")) return "vis";
  return undefined;
}

module.exports = {
  PyFloat,
  dumps,
  plain,
  escapeAttrib,
  v2,
  chartView,
  referencesElement,
  defaultReferencesElement,
  chatData,
  chatDashboard,
  chatKnowledge,
  knowledgeReferences,
  flowVisText,
  appVisRenders,
  visExpectations,
  formFor,
  pieces,
  ORDERS_BY_CITY,
  DATA_SQL,
  DATA_THOUGHTS,
  FAILED_SQL,
  FAILED_ERROR,
  FAILED_THOUGHTS,
  DASHBOARD_SPECS,
  KNOWLEDGE_ANNOTATED,
  VIS: { VIS_DB_CHART, VIS_DASHBOARD, VIS_CODE, VIS_PLUGIN, VIS_API_RESPONSE, VIS_APP_LINK },
};
