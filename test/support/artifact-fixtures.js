"use strict";
// dbgpt-artifacts.md's own examples, byte for byte, with what a client must make of them: shared by
// the client and node tests (served verbatim by the emulator's status fault).

/** The compact non-stream envelope, with `contentJson` (a JSON string literal) spliced in verbatim. */
function completionBody(contentJson) {
  return (
    '{"id":"conv-f","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":' +
    `{"role":"assistant","content":${contentJson},"reasoning_content":null},"finish_reason":null}],` +
    '"usage":{"prompt_tokens":0,"total_tokens":0,"completion_tokens":0}}'
  );
}

function historyBody(view) {
  return JSON.stringify({
    success: true,
    err_code: null,
    err_msg: null,
    data: [
      { role: "human", context: "q", order: 1, time_stamp: 0, model_name: "m", feedback: null },
      { role: "view", context: view, order: 1, time_stamp: 0, model_name: "m", feedback: null },
    ],
  });
}

// ---- the spec's examples, verbatim (dbgpt-artifacts.md §2.2, §2.3, §2.5, §3) ---------------------------

/** §2.3, "On the wire, inside the compact FastAPI JSON" (copied byte for byte). */
const CHART_VIEW_WIRE =
  '"Users younger than 18.\\n<chart-view content=\\"{\\"type\\": \\"response_table\\", \\"sql\\": \\"SELECT name, age FROM user WHERE age &lt; 18\\", \\"data\\": [{\\"name\\": \\"Tom\\", \\"age\\": 10}, {\\"name\\": \\"Jerry\\", \\"age\\": 16}]}\\" />"';
/** §2.3, the stored view (history and v1). */
const CHART_VIEW_STORED =
  "Users younger than 18.\n" +
  '<chart-view content="{&quot;type&quot;: &quot;response_table&quot;, &quot;sql&quot;: &quot;SELECT name, age FROM user WHERE age &lt; 18&quot;, &quot;data&quot;: [{&quot;name&quot;: &quot;Tom&quot;, &quot;age&quot;: 10}, {&quot;name&quot;: &quot;Jerry&quot;, &quot;age&quot;: 16}]}" />';
const USERS_CHART = {
  source: "chart-view",
  title: "",
  description: "",
  type: "response_table",
  sql: "SELECT name, age FROM user WHERE age < 18",
  columns: ["name", "age"],
  rows: [
    { name: "Tom", age: 10 },
    { name: "Jerry", age: 16 },
  ],
};
/** §2.3, the failure, v2 form (literal backslash-n, then a real line feed). */
const CHART_VIEW_FAILED =
  'Count orders. \\n <span style="color:red">ERROR!</span>(sqlite3.OperationalError) no such table: orders \n' +
  ' <chart-view content="{"sql": "SELECT COUNT(*) FROM orders", "type": "response_table", "data": []}" />';
/** §2.2, v2 stream:false. */
const REFERENCES_V2 =
  "DB-GPT supports AWEL workflows.[1]\n\n" +
  '<references title="References" references="[{"name": "guide.md", "chunks": [{"index": 1, "id": 10, "content": "DB-GPT supports AWEL workflows.", "meta_info": "{\'source\': \'guide.md\'}", "recall_score": 0.82}]}]" />';
/** REFERENCES_V2's cited chunks as the client hands them on (msg.dbgpt.references). */
const REFERENCES_V2_DATA = [
  {
    index: 1,
    name: "guide.md",
    id: 10,
    content: "DB-GPT supports AWEL workflows.",
    score: 0.82,
    meta: "{'source': 'guide.md'}",
  },
];
/** §2.5. */
const REPORT =
  '{"conv_uid": "conv-1", "template_name": "report", "template_introduce": null, "charts": [{"chart_uid": "<uuid1>", "chart_name": "Users by city", "chart_type": "BarChart", "chart_desc": "Users per city", "chart_sql": "SELECT city, COUNT(*) AS cnt FROM user GROUP BY city", "column_name": ["city", "cnt"], "values": [{"name": "Paris", "type": "cnt", "value": "3"}, {"name": "Rome", "type": "cnt", "value": "2"}], "style": null}]}';
/** §3, verbatim from DB-GPT's docs. */
const VIS_DB_CHART_BODY =
  '{"sql": "SELECT name, age FROM user WHERE age < 18", "type": "response_table", "title": "", "describe": "I have selected a response_table to display ...", "data": [{"name": "Tom", "age": 10}, {"name": "Jerry", "age": 16}]}';
const VIS_CODE_BODY =
  '{"exit_success": true, "language": "python", "code": [["python", "# filename: calculate_multiplication.py\\n\\nresult = 321 * 123\\nprint(result)"]], "log": "\\n39483\\n"}';

module.exports = {
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
};
