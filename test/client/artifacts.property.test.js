"use strict";
// Property (fast-check): any string or row value survives the server's escaping exactly: ElementTree
// attribute escaping, the v2 `&quot;` replacement, JSON in the response, SSE framing cut anywhere,
// chat_app's JSON-in-JSON nesting; and no artifact markup ever reaches a stream event.
const fc = require("fast-check");
const { assert, useEmulator, chatRequest } = require("./helpers");
const { SseChunkDecoder } = require("../../nodes/lib/client/stream.js");
const { ChatAnswer } = require("../../nodes/lib/client/answer.js");
const { HISTORY_PATH, artifacts } = require("../../emulator");

const MARKUP = /<chart-view|<references|```vis-/;

/** A vis-db-chart block with `data` as its rows. */
function visDbChart(data) {
  return (
    "```vis-db-chart\n" + artifacts.dumps({ sql: "S", type: "t", title: "", describe: "", data }) + "\n```"
  );
}

/** Text that stresses the escaping: entities, quotes, the element's end, fences, non-ASCII. */
const tricky = fc.constantFrom(
  '"',
  "<",
  ">",
  "&",
  "&quot;",
  "&amp;",
  "&lt;b&gt;",
  "&#10;",
  '" />',
  "\\n",
  "\\",
  "'",
  "\n",
  "\t",
  "```",
  "```vis-db-chart\n",
  "数据库",
  "😀👍🏽",
  "Ünïcödé",
);
// U+FFFD is stripped from every v2 answer by the server itself (api_v2.py:224), so it cannot survive.
const text = fc
  .array(fc.oneof(fc.string({ unit: "grapheme", maxLength: 6 }), tricky), { maxLength: 6 })
  .map((parts) => parts.join("").replace(/\ufffd/g, ""));
const value = fc.oneof(
  text,
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? 0 : d)),
  fc.constant(null),
  fc.boolean(),
);
const key = text.filter((k) => k !== "__proto__");
const rows = fc
  .uniqueArray(key, { minLength: 1, maxLength: 4 })
  .chain((keys) =>
    fc
      .array(fc.tuple(...keys.map(() => value)), { maxLength: 4 })
      .map((list) => list.map((vals) => Object.fromEntries(keys.map((k, i) => [k, vals[i]])))),
  );
/** The model's explanation: anything readable that is not markup itself. */
const speak = text.filter((s) => s.trim() !== "" && !/[`<]/.test(s) && !s.includes("**LLMServer"));

function completionBody(content) {
  return JSON.stringify({
    id: "c",
    object: "chat.completion",
    created: 1,
    model: "m",
    choices: [
      { index: 0, message: { role: "assistant", content, reasoning_content: null }, finish_reason: null },
    ],
    usage: { prompt_tokens: 0, total_tokens: 0, completion_tokens: 0 },
  });
}

/** Feeds SSE bytes cut at `cuts` (cycled) through the decoder into a ChatAnswer. */
function decode(bytes, cuts, mode) {
  const events = [];
  const answer = new ChatAnswer(mode, "app", "m", (event) => events.push(event));
  const decoder = new SseChunkDecoder(answer, () => answer.finish());
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = cuts.length === 0 ? bytes.length : cuts[i % cuts.length];
    decoder.push(bytes.subarray(at, at + size));
    at += size;
  }
  decoder.end();
  return { events, answer };
}

function sse(contents, compact = false) {
  let body = "";
  for (const content of contents) {
    const chunk = { id: "x", model: "m", choices: [{ index: 0, delta: { role: "assistant", content } }] };
    body += `data: ${compact ? JSON.stringify(chunk) : artifacts.dumps(chunk)}\n\n`;
  }
  return Buffer.from(body + "data: [DONE]\n\n");
}

/** Splits a text into pieces at the given sizes (cycled). */
function cut(textValue, sizes) {
  const out = [];
  const chars = Array.from(textValue);
  for (let at = 0, i = 0; at < chars.length; i++) {
    const n = sizes.length === 0 ? chars.length : sizes[i % sizes.length];
    out.push(chars.slice(at, at + n).join(""));
    at += n;
  }
  return out;
}

const sizes = fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 12 });

describe("client: artifact values survive the server's escaping exactly (fast-check)", function () {
  this.timeout(120000);

  describe("over real sockets", () => {
    const ctx = useEmulator();

    it('chat_data chart-view, v2 non-stream form (ET escaping, then &quot; -> ")', async () => {
      const client = ctx.client();
      await fc.assert(
        fc.asyncProperty(rows, text, speak, async (data, sql, explanation) => {
          const view = explanation + "\n" + artifacts.chartView({ type: "response_table", sql, data });
          ctx.emu.fault({
            match: { chatMode: "chat_data" },
            status: {
              status: 200,
              body: completionBody(artifacts.v2(view)),
              contentType: "application/json",
            },
          });
          const result = await client.chat(
            chatRequest({ chatMode: "chat_data", chatParam: "dbgpt_test", question: "q", stream: false }),
          ).result;
          assert.deepEqual(result.charts[0].rows, data);
          assert.equal(result.charts[0].sql, sql);
          assert.deepEqual(result.charts[0].columns, data.length === 0 ? [] : Object.keys(data[0]));
          // The v2 wrapper's replace hits the (unescaped) explanation too: that is the server's text.
          assert.equal(result.text, artifacts.v2(explanation).trim());
        }),
        { numRuns: 60 },
      );
    });

    it("the stored view (ET escaping intact) read from the history endpoint", async () => {
      const client = ctx.client();
      await fc.assert(
        fc.asyncProperty(rows, text, async (data, sql) => {
          const view = "Here.\n" + artifacts.chartView({ type: "", sql, data });
          const body = JSON.stringify({
            success: true,
            err_code: null,
            err_msg: null,
            data: [{ role: "view", context: view, order: 1, time_stamp: 0, model_name: "m", feedback: null }],
          });
          ctx.emu.fault({
            match: { path: HISTORY_PATH },
            status: { status: 200, body, contentType: "application/json" },
          });
          const { result } = await client.addConversationData(
            { text: "", convUid: "c", stopped: false },
            { chatMode: "chat_data", convUid: "c" },
          );
          assert.deepEqual(result.charts[0].rows, data);
          assert.equal(result.charts[0].sql, sql);
        }),
        { numRuns: 40 },
      );
    });
  });

  describe("in process, every split of the byte stream", () => {
    it("vis-db-chart in streamed text: rows exact, never markup in an event, folding gives the text", () => {
      fc.assert(
        fc.property(rows, speak, sizes, sizes, (data, before, textCuts, byteCuts) => {
          const block = visDbChart(data);
          const content = before + "\n\n" + block;
          const bytes = sse(cut(content, textCuts));
          const whole = decode(bytes, [], "chat_flow");
          const split = decode(bytes, byteCuts, "chat_flow");
          for (const run of [whole, split]) {
            for (const event of run.events) assert.doesNotMatch(event.text, MARKUP);
            assert.deepEqual(run.answer.data.charts[0].rows, data);
            assert.equal(run.answer.output.text, before + "\n\n");
            assert.equal(run.answer.resultData().raw, content);
          }
          assert.deepEqual(split.events, whole.events);
        }),
        { numRuns: 200 },
      );
    });

    it("cumulative snapshots (incremental: false), also rewritten ones: the block once, raw as sent", () => {
      fc.assert(
        fc.property(rows, speak, speak, sizes, (data, before, other, textCuts) => {
          const block = visDbChart(data);
          const content = before + "\n\n" + block;
          const events = [];
          const answer = new ChatAnswer("chat_flow", "f", "m", (event) => events.push(event));
          let snapshot = "";
          for (const piece of cut(content, textCuts)) {
            snapshot += piece;
            answer.onSnapshot({}, snapshot, null);
          }
          // A snapshot that does not extend the previous one: the answer is rewritten.
          const rewritten = other + "\n\n" + block;
          if (!rewritten.startsWith(snapshot)) answer.onSnapshot({}, rewritten, null);
          answer.finish();
          for (const event of events) assert.doesNotMatch(event.text, MARKUP);
          assert.equal(answer.data.charts.length, 1);
          assert.deepEqual(answer.data.charts[0].rows, data);
          assert.equal(answer.resultData().raw, rewritten.startsWith(snapshot) ? content : rewritten);
        }),
        { numRuns: 150 },
      );
    });

    it("chat_app: a vis-db-chart nested three levels deep in JSON strings, rendered twice: once, exact", () => {
      fc.assert(
        fc.property(rows, speak, sizes, (data, llm, byteCuts) => {
          const dumps = artifacts.dumps;
          const view =
            "```vis-db-chart\n" + dumps({ sql: "S", type: "t", title: "T", describe: "", data }) + "\n```";
          const message = {
            sender: "DataScientist",
            receiver: "Human",
            model: "m",
            markdown: view,
            resource: null,
          };
          const messages = (list) => "```agent-messages\n" + dumps(list) + "\n```";
          const done =
            "```agent-plans\n" +
            dumps([
              {
                name: "goal",
                num: 2,
                status: "complete",
                agent: "DataScientist",
                markdown: messages([message]),
              },
            ]) +
            "\n```\n" +
            messages([message]);
          const progress = messages([{ sender: "DataScientist", receiver: "?", model: "m", markdown: llm }]);
          const bytes = sse([null, progress, null, done], true);
          const { events, answer } = decode(bytes, byteCuts, "chat_app");
          for (const event of events) assert.doesNotMatch(event.text, MARKUP);
          assert.equal(answer.data.charts.length, 1);
          assert.deepEqual(answer.data.charts[0].rows, data);
          assert.equal(answer.output.text, "T");
        }),
        { numRuns: 150 },
      );
    });
  });
});
