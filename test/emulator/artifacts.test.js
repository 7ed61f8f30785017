"use strict";
// The emulator's artifact forms against dbgpt-artifacts.md's own examples, byte for byte, and its
// conversation history endpoint. Run: npx mocha test/emulator/artifacts.test.js
const assert = require("node:assert/strict");
const { startEmulator, contentFor, artifacts } = require("../../emulator");
const { chartView, referencesElement, dumps, v2, escapeAttrib, PyFloat } = artifacts;

const USERS = {
  type: "response_table",
  sql: "SELECT name, age FROM user WHERE age < 18",
  data: [
    { name: "Tom", age: 10 },
    { name: "Jerry", age: 16 },
  ],
};

describe("emulator: artifact forms (dbgpt-artifacts.md)", function () {
  it("chart-view: the stored form and the v2 form of the spec's example (§2.3)", function () {
    const stored = "Users younger than 18.\n" + chartView(USERS);
    assert.equal(
      stored,
      "Users younger than 18.\n" +
        '<chart-view content="{&quot;type&quot;: &quot;response_table&quot;, &quot;sql&quot;: &quot;SELECT name, age FROM user WHERE age &lt; 18&quot;, &quot;data&quot;: [{&quot;name&quot;: &quot;Tom&quot;, &quot;age&quot;: 10}, {&quot;name&quot;: &quot;Jerry&quot;, &quot;age&quot;: 16}]}" />',
    );
    assert.equal(
      JSON.stringify(v2(stored)),
      '"Users younger than 18.\\n<chart-view content=\\"{\\"type\\": \\"response_table\\", \\"sql\\": \\"SELECT name, age FROM user WHERE age &lt; 18\\", \\"data\\": [{\\"name\\": \\"Tom\\", \\"age\\": 10}, {\\"name\\": \\"Jerry\\", \\"age\\": 16}]}\\" />"',
    );
  });

  it("references: the spec's example, newlines of chunk text removed (§2.2)", function () {
    const element = referencesElement([
      {
        name: "guide.md",
        chunks: [
          {
            index: 1,
            id: 10,
            content: "DB-GPT supports\nAWEL workflows.",
            meta_info: "{'source': 'guide.md'}",
            recall_score: 0.82,
          },
        ],
      },
    ]);
    assert.equal(
      v2(element),
      '<references title="References" references="[{"name": "guide.md", "chunks": [{"index": 1, "id": 10, "content": "DB-GPT supportsAWEL workflows.", "meta_info": "{\'source\': \'guide.md\'}", "recall_score": 0.82}]}]" />',
    );
  });

  it("ElementTree attribute escaping: & < > \" CR LF TAB; ' untouched; &amp; survives v2", function () {
    assert.equal(escapeAttrib("&<>\"\r\n\t'"), "&amp;&lt;&gt;&quot;&#13;&#10;&#09;'");
    assert.equal(v2(escapeAttrib('a "&quot;" b')), 'a "&amp;quot;" b');
  });

  it("json.dumps: spaced separators, raw UTF-8, integral floats as 7.0", function () {
    assert.equal(dumps({ a: [1, new PyFloat(7), null], é: "数据" }), '{"a": [1, 7.0, null], "é": "数据"}');
  });

  it("the built-in orders table reaches the v2 content with &lt; &gt; &amp; escaped and raw quotes", function () {
    const content = contentFor("how many orders per city last month?", { chatMode: "chat_data" });
    assert.ok(
      content.startsWith(
        artifacts.DATA_THOUGHTS + '\n<chart-view content="{"type": "response_table", "sql": ',
      ),
    );
    assert.ok(content.includes("ordered_at &gt;= '2026-10-01' AND ordered_at &lt; '2026-11-01'"));
    assert.ok(content.includes('"note": "Say \\"hi\\" &lt;b&gt;&amp;amp;&lt;/b&gt; &amp; more"'));
    assert.ok(content.includes('"items": 7.0'));
    assert.ok(content.endsWith('"note": null}]}" />'));
    const failed = contentFor("[sql-error] q", { chatMode: "chat_data" });
    assert.ok(
      failed.startsWith('Count orders per region. \\n <span style="color:red">ERROR!</span>(sqlite3'),
    );
    assert.ok(failed.includes('/e3q8) \n <chart-view content="{"sql": '));
  });

  describe("over HTTP", function () {
    let emu;
    before(async () => {
      emu = await startEmulator();
    });
    after(() => emu.close());

    const chat = (body) =>
      fetch(`${emu.url}/api/v2/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "chatgpt_proxyllm", ...body }),
      }).then((r) => r.text());
    const history = (conv) =>
      fetch(`${emu.url}/api/v1/chat/dialogue/messages/history?con_uid=${conv}`).then((r) => r.json());

    it("the history endpoint: human then view per round, the view with &quot; as stored; unknown = []", async function () {
      const question = "how many orders per city last month?";
      const body = await chat({
        messages: question,
        chat_mode: "chat_data",
        chat_param: "dbgpt_test",
        stream: false,
        conv_uid: "h-1",
      });
      const view = contentFor(question, { chatMode: "chat_data", view: true });
      assert.equal(JSON.parse(body).choices[0].message.content, v2(view));
      const result = await history("h-1");
      assert.equal(result.success, true);
      assert.deepEqual(
        result.data.map((m) => [m.role, m.order]),
        [
          ["human", 1],
          ["view", 1],
        ],
      );
      assert.equal(result.data[1].context, view);
      assert.ok(view.includes("&quot;"));
      assert.deepEqual((await history("nobody")).data, []);
    });

    it('a streamed failed query ends with the `Generate view content failed` delta, then "" and [DONE]', async function () {
      const body = await chat({
        messages: "[sql-error] q",
        chat_mode: "chat_data",
        chat_param: "dbgpt_test",
        stream: true,
      });
      const events = body.split("\n\n").filter(Boolean);
      assert.equal(events[events.length - 1], "data: [DONE]");
      const content = (e) => JSON.parse(e.slice(6)).choices[0].delta.content;
      assert.equal(content(events[events.length - 3]), "Generate view content failed");
      assert.equal(content(events[events.length - 2]), "");
      const plan = events.slice(0, -3).map(content).join("");
      assert.deepEqual(JSON.parse(plan), {
        thoughts: artifacts.FAILED_THOUGHTS,
        direct_response: "",
        sql: artifacts.FAILED_SQL,
        display_type: "response_table",
      });
    });

    it("a streamed [refs] conversation stores the references element twice", async function () {
      await chat({
        messages: "[refs] q",
        chat_mode: "chat_knowledge",
        chat_param: "default_space",
        stream: true,
        conv_uid: "h-2",
      });
      const [, view] = (await history("h-2")).data;
      assert.equal(view.context.split('<references title="References" references="').length, 3);
    });
  });
});
