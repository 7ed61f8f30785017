"use strict";
// Self-tests of the DB-GPT emulator: exact bytes against dbgpt-api.md, over real sockets.
const assert = require("node:assert/strict");
const http = require("node:http");
const { spawn } = require("node:child_process");

const {
  startEmulator,
  answerFor,
  contentFor,
  answerTokens,
  reasoningFor,
  modelErrorText,
  hugeText,
  plainAnswer,
  DEFAULT_APPS,
  APP_CODES,
  KNOWLEDGE_SPACES,
  FLOWS,
  DATABASES,
} = require("../../emulator");
const { pyDumps, pyLoads } = require("../../emulator/pyjson");
const { exchange, ssePayloads } = require("./helpers");

const CHAT = "/api/v2/chat/completions";
const KEY_401 =
  "{\"success\":false,\"err_code\":\"401\",\"err_msg\":\"{'error': {'message': '', 'type': 'invalid_request_error', 'param': None, 'code': 'invalid_api_key'}}\",\"data\":null}";

function failed(code, msg) {
  return JSON.stringify({ success: false, err_code: code, err_msg: msg, data: null });
}

function chat(emu, body, extra = {}) {
  return exchange(emu.url, { method: "POST", path: CHAT, body, ...extra });
}

describe("emulator: Python JSON", function () {
  it("json.dumps spacing is built from values, not by re-spacing (strings keep their own ', ' and ': ')", function () {
    const v = { a: "x, y: z", b: [1, null, true, { "k, ": '中😀\n"' }], c: {}, d: [] };
    assert.equal(
      pyDumps(v),
      '{"a": "x, y: z", "b": [1, null, true, {"k, ": "中😀\\n\\""}], "c": {}, "d": []}',
    );
  });

  it("json.loads reports Python's error positions", function () {
    const pos = (text) => {
      try {
        pyLoads(text);
        return "ok";
      } catch (err) {
        return err.pos;
      }
    };
    assert.equal(pos("{bad"), 1);
    assert.equal(pos('{"model": }'), 10);
    assert.equal(pos("[1,]"), 3);
    assert.equal(pos('{"a":1,}'), 7);
    assert.equal(pos('"abc'), 0);
    assert.equal(pos("1 2"), 2);
    assert.equal(pos("  "), 2);
    assert.equal(pos('{"a" 1}'), 5);
    assert.equal(pos('["中", x]'), 6); // code points, not UTF-16 units or bytes
    assert.equal(pos("[NaN, -Infinity]"), "ok");
  });
});

describe("emulator: render reproduces dbgpt-api.md's verified examples verbatim", function () {
  const render = require("../../emulator/render");
  const { Tokens } = require("../../emulator/script");
  const says = (answer, reasoning = []) => ({ kind: "answer", reasoning, answer: Tokens.of(answer) });

  it("§5.1 chat_normal deltas (chunk sizes of Appendix A: bc, b8, c7, b7, e)", function () {
    const id = "chatcmpl-9d158d40-e9ca-11f1-ae07-02fc00000001";
    const events = [
      ...render.normalIncremental(says(["Hello", "!", " How can I help?"]), { id, model: "gpt-4o" }),
    ];
    const ev = (c) =>
      `data: {"id": "${id}", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "${c}", "reasoning_content": null}}]}\n\n`;
    assert.deepEqual(events, [ev("Hello"), ev("!"), ev(" How can I help?"), ev(""), "data: [DONE]\n\n"]);
    assert.deepEqual(
      events.map((e) => Buffer.byteLength(e)),
      [0xbc, 0xb8, 0xc7, 0xb7, 0xe],
    );
  });

  it("§5.2 incremental:false snapshots", function () {
    const id = "chatcmpl-9d22ab9c-e9ca-11f1-ae07-02fc00000001";
    const events = [
      ...render.normalSnapshots(says(["Hello", "!", " How can I help?"]), { id, model: "gpt-4o" }),
    ];
    const ev = (c) =>
      `data: {"id": "${id}", "model": "gpt-4o", "choices": [{"index": 0, "message": {"role": "assistant", "content": "${c}", "reasoning_content": null}}], "usage": {}}\n\n`;
    assert.deepEqual(events, [
      ev("Hello"),
      ev("Hello!"),
      ev("Hello! How can I help?"),
      ev("Hello! How can I help?"),
    ]);
  });

  it("§5.3 reasoning deltas", function () {
    const events = [
      ...render.normalIncremental(says(["The answer", " is 42."], ["Let me", " think."]), {
        id: "chatcmpl-x",
        model: "gpt-4o",
      }),
    ];
    const deltas = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)).choices[0].delta);
    assert.deepEqual(deltas, [
      { role: "assistant", content: null, reasoning_content: "Let me" },
      { role: "assistant", content: null, reasoning_content: " think." },
      { role: "assistant", content: "The answer", reasoning_content: null },
      { role: "assistant", content: " is 42.", reasoning_content: null },
      { role: "assistant", content: "", reasoning_content: null },
    ]);
  });

  it("§5.4 chat_flow deltas", function () {
    const events = [...render.flowStream(says(["Hi", " there"]), { id: "conv-3", model: "gpt-4o" })];
    assert.equal(
      events.join(""),
      'data: {"id":"conv-3","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}\n\n' +
        'data: {"id":"conv-3","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi","reasoning_content":null}}]}\n\n' +
        'data: {"id":"conv-3","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":" there","reasoning_content":null}}]}\n\n' +
        "data: [DONE]\n\n",
    );
  });

  it("§5.5 chat_app envelope and vis blocks", function () {
    const app = { team_mode: "single_agent", details: [{ agent_name: "Assistant" }] };
    const events = [
      ...render.appStream(says(["Hello", "! How can", " I help?"]), { id: "conv-1", model: "gpt-4o", app }),
    ];
    const bodies = events.map((e) => e.replace(/"created":\d+,/, '"created":1795719185,'));
    const ev = (content) =>
      `data: {"id":"conv-1","created":1795719185,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":${content}}}]}\n\n`;
    assert.equal(bodies[0], ev("null"));
    assert.equal(
      bodies[1],
      ev(
        String.raw`"\n` +
          "```" +
          String.raw`agent-messages\n[{\"sender\": \"Assistant\", \"receiver\": \"?\", \"model\": \"gpt-4o\", \"markdown\": \"Hello\"}]\n` +
          "```" +
          '"',
      ),
    );
    assert.equal(
      bodies[2],
      ev(
        String.raw`"\n` +
          "```" +
          String.raw`agent-messages\n[{\"sender\": \"Assistant\", \"receiver\": \"?\", \"model\": \"gpt-4o\", \"markdown\": \"Hello! How can\"}]\n` +
          "```" +
          '"',
      ),
    );
    assert.equal(
      bodies.at(-2),
      ev(
        '"' +
          "```" +
          String.raw`agent-messages\n[{\"sender\": \"Assistant\", \"receiver\": \"Human\", \"model\": \"gpt-4o\", \"markdown\": \"Hello! How can I help?\", \"resource\": null}]\n` +
          "```" +
          '"',
      ),
    );
    assert.equal(bodies.at(-1), "data: [DONE]\n\n");
  });
});

describe("emulator: errors before the stream (dbgpt-api.md §2, §7)", function () {
  let emu;
  before(async function () {
    emu = await startEmulator({ apiKeys: ["k1", " k2 "] });
  });
  after(async function () {
    await emu.close();
  });

  it("401 has the exact 160-byte body, no WWW-Authenticate, and comes before validation", async function () {
    for (const auth of [undefined, "Bearer nope", "Basic k1", "Bearer", "Bearer  k1"]) {
      const res = await chat(emu, { messages: "hi" }, { headers: auth ? { Authorization: auth } : {} });
      assert.equal(res.status, 401, String(auth));
      assert.equal(res.headers["content-length"], "160");
      assert.equal(res.headers["content-type"], "application/json");
      assert.equal(res.headers["www-authenticate"], undefined);
      assert.equal(res.body, KEY_401);
    }
  });

  it("accepts a listed key, case-insensitive scheme, trimmed config keys", async function () {
    for (const auth of ["Bearer k1", "bearer k2"]) {
      const res = await chat(emu, { model: "gpt-4o", messages: "hi" }, { headers: { Authorization: auth } });
      assert.equal(res.status, 200, auth);
    }
  });

  it("invalid JSON is 400 E0001 with Python's position even without a key", async function () {
    const res = await chat(emu, "{bad", { headers: { "Content-Type": "application/json" } });
    assert.equal(res.status, 400);
    assert.equal(res.body, failed("E0001", "body.1:JSON decode error;"));
  });

  it("validation messages in field order", async function () {
    const auth = { headers: { Authorization: "Bearer k1" } };
    const cases = [
      [{}, "body.model:Field required;body.messages:Field required;"],
      [{ messages: "x" }, "body.model:Field required;"],
      [
        { model: 1, messages: "x", temperature: "abc", stream: "zz" },
        "body.model:Input should be a valid string;" +
          "body.temperature:Input should be a valid number, unable to parse string as a number;" +
          "body.stream:Input should be a valid boolean, unable to interpret input;",
      ],
      [
        { model: "m", messages: "x", max_new_tokens: 1.5 },
        "body.max_new_tokens:Input should be a valid integer, got a number with a fractional part;",
      ],
      [{ model: "m", messages: "x", incremental: null }, "body.incremental:Input should be a valid boolean;"],
      [[1], "body:Input should be a valid dictionary or instance of ChatCompletionRequestBody;"],
      [null, "body:Field required;"],
    ];
    for (const [body, msg] of cases) {
      const res = await chat(emu, JSON.stringify(body), {
        ...auth,
        headers: { ...auth.headers, "Content-Type": "application/json" },
      });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body, failed("E0001", msg));
      assert.equal(res.headers["content-length"], String(Buffer.byteLength(res.body)));
    }
    const noBody = await exchange(emu.url, { method: "POST", path: CHAT, headers: auth.headers });
    assert.equal(noBody.body, failed("E0001", "body:Field required;"));
    const messages = await chat(emu, { model: "m", messages: 5 }, auth);
    assert.match(
      JSON.parse(messages.body).err_msg,
      /^body\.messages\.str:Input should be a valid string;body\.messages\.list\[/,
    );
  });

  it("mode-level 400s: Empty messages, chat_param, chat mode, chat_app without stream, unknown space/db", async function () {
    const auth = { headers: { Authorization: "Bearer k1" } };
    const repr = (message, code) =>
      `{'error': {'message': '${message}', 'type': 'invalid_request_error', 'param': None, 'code': '${code}'}}`;
    const cases = [
      [{ model: "m", messages: [] }, failed("E0003", "Empty messages")],
      [
        { model: "m", messages: "x", chat_mode: "chat_knowledge" },
        failed("400", repr("chat param is None", "invalid_chat_param")),
      ],
      [
        { model: "m", messages: "x", chat_mode: "zzz" },
        failed("400", repr("chat param is None", "invalid_chat_param")),
      ],
      [
        { model: "m", messages: "x", chat_mode: "zzz", chat_param: "p" },
        failed(
          "400",
          repr(
            "chat mode now only support chat_normal, chat_app, chat_flow, chat_knowledge, chat_data, chat_dashboard",
            "invalid_chat_mode",
          ),
        ),
      ],
      [
        { model: "m", messages: "x", chat_mode: "", chat_param: "p" },
        failed(
          "400",
          repr(
            "chat mode now only support chat_normal, chat_app, chat_flow, chat_knowledge, chat_data, chat_dashboard",
            "invalid_chat_mode",
          ),
        ),
      ],
      [
        { model: "m", messages: "x", chat_mode: "chat_app", chat_param: APP_CODES.singleAgent },
        failed("400", repr("chat app now not support no stream", "invalid_request_error")),
      ],
      [
        {
          model: "m",
          messages: "x",
          chat_mode: "chat_app",
          chat_param: APP_CODES.singleAgent,
          stream: false,
        },
        failed("400", repr("chat app now not support no stream", "invalid_request_error")),
      ],
      [
        { model: "m", messages: "x", chat_mode: "chat_knowledge", chat_param: "missing-space", stream: true },
        failed("E0003", "have not found knowledge space:missing-space"),
      ],
      [
        { model: "m", messages: "x", chat_mode: "chat_data", chat_param: "nodb", stream: true },
        failed("E0003", "'NoneType' object has no attribute 'get'"),
      ],
      [
        { model: "m", messages: "x", chat_mode: "chat_flow", chat_param: "nope" },
        JSON.stringify({ object: "error", message: "Flow nope not found", code: 1 }),
      ],
    ];
    for (const [body, expected] of cases) {
      const res = await chat(emu, body, auth);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body, expected);
      assert.equal(res.headers["content-type"], "application/json");
    }
  });

  it("a non-JSON content-type is validated as bytes; undecodable bytes are a 400 parse error", async function () {
    const auth = { Authorization: "Bearer k1" };
    const text = await chat(emu, "hi", { headers: { ...auth, "Content-Type": "text/plain" } });
    assert.equal(
      text.body,
      failed("E0001", "body:Input should be a valid dictionary or instance of ChatCompletionRequestBody;"),
    );
    const bad = await chat(emu, Buffer.from([0x7b, 0xff, 0x7d]), {
      headers: { ...auth, "Content-Type": "application/json" },
    });
    assert.equal(bad.body, failed("400", "There was an error parsing the body"));
  });
});

describe("emulator: streams (dbgpt-api.md §5)", function () {
  let emu;
  before(async function () {
    emu = await startEmulator();
  });
  after(async function () {
    await emu.close();
  });
  afterEach(function () {
    emu.reset();
  });

  it("chat_normal: headers, one chunk per event, json.dumps spacing, final empty chunk, [DONE]", async function () {
    const res = await chat(emu, { model: "gpt-4o", messages: "hi", stream: true }, { keepAlive: true });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-type"], "text/event-stream");
    assert.equal(res.headers["cache-control"], "no-cache");
    assert.equal(res.headers.connection, "keep-alive");
    assert.equal(res.headers["transfer-encoding"], "chunked");
    assert.equal(res.headers["content-length"], undefined);
    assert.ok(res.complete);
    const tokens = answerTokens("hi");
    assert.equal(res.chunks.length, tokens.length + 2);
    const id = JSON.parse(ssePayloads(res.chunks[0])[0]).id;
    assert.match(id, /^chatcmpl-[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const event = (content) =>
      `data: {"id": "${id}", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ${JSON.stringify(content)}, "reasoning_content": null}}]}\n\n`;
    assert.deepEqual(res.chunks, [...tokens.map(event), event(""), "data: [DONE]\n\n"]);
    assert.equal(tokens.join(""), answerFor("hi"));
    assert.equal(answerFor("hi"), plainAnswer("hi"));
  });

  it("a Connection: close request gets Connection: close and the socket is closed", async function () {
    const res = await chat(emu, { model: "gpt-4o", messages: "hi", stream: true });
    assert.equal(res.headers.connection, "close");
    assert.ok(res.complete && res.closed);
  });

  it("incremental:false: cumulative message snapshots with usage {} and no [DONE]", async function () {
    const res = await chat(emu, { model: "gpt-4o", messages: "hi", stream: true, incremental: false });
    const payloads = ssePayloads(res.body);
    const tokens = answerTokens("hi");
    assert.equal(payloads.length, tokens.length + 1);
    assert.ok(!payloads.includes("[DONE]"));
    const id = JSON.parse(payloads[0]).id;
    let text = "";
    payloads.forEach((p, i) => {
      if (i < tokens.length) text += tokens[i];
      assert.equal(
        p,
        `{"id": "${id}", "model": "gpt-4o", "choices": [{"index": 0, "message": {"role": "assistant", "content": ${JSON.stringify(text)}, "reasoning_content": null}}], "usage": {}}`,
      );
    });
    assert.ok(res.complete);
  });

  it("[think]: reasoning deltas with content null, then content deltas", async function () {
    const res = await chat(emu, { model: "gpt-4o", messages: "[think] why?", stream: true });
    const chunks = ssePayloads(res.body)
      .slice(0, -1)
      .map((p) => JSON.parse(p).choices[0].delta);
    const reasoning = chunks.filter((d) => d.content === null).map((d) => d.reasoning_content);
    assert.equal(reasoning.join(""), reasoningFor("[think] why?"));
    const content = chunks.filter((d) => d.content !== null).map((d) => d.content);
    assert.equal(content.join(""), answerFor("[think] why?"));
    assert.ok(chunks.filter((d) => d.content !== null).every((d) => d.reasoning_content === null));
  });

  it("[unicode] sends raw UTF-8 (no \\u escapes)", async function () {
    const res = await chat(emu, { model: "gpt-4o", messages: "[unicode]", stream: true });
    assert.ok(res.body.includes('"content": "你好"'));
    assert.ok(!/\\u[0-9a-f]{4}/.test(res.body));
    const text = ssePayloads(res.body)
      .slice(0, -1)
      .map((p) => JSON.parse(p).choices[0].delta.content)
      .join("");
    assert.equal(text, answerFor("[unicode]"));
  });

  it("errors: [SERVER_ERROR], unknown model and [parse-error] as content", async function () {
    const se = await chat(emu, {
      model: "gpt-4o",
      messages: "[server-error] have not found knowledge space:nope",
      stream: true,
    });
    assert.deepEqual(se.chunks, [
      "data: [SERVER_ERROR]have not found knowledge space:nope\n\n",
      "data: [DONE]\n\n",
    ]);
    const seSnap = await chat(emu, {
      model: "gpt-4o",
      messages: "[server-error]",
      stream: true,
      incremental: false,
    });
    assert.equal(seSnap.body, "data: [SERVER_ERROR]Emulated server error\n\n");
    const model = await chat(emu, { model: "no-such-model", messages: "hi", stream: true });
    const deltas = ssePayloads(model.body)
      .slice(0, -1)
      .map((p) => JSON.parse(p).choices[0].delta.content);
    assert.deepEqual(deltas, [modelErrorText("no-such-model"), ""]);
    assert.equal(
      modelErrorText("x"),
      "**LLMServer Generate Error, Please CheckErrorInfo.**: Cound not found worker instances for model name x and worker type llm",
    );
    const nonStream = await chat(emu, { model: "no-such-model", messages: "hi", stream: false });
    assert.equal(
      JSON.parse(nonStream.body).choices[0].message.content,
      "<span style='color:red'>ERROR!</span> " + modelErrorText("no-such-model"),
    );
    const parse = await chat(emu, { model: "gpt-4o", messages: "[parse-error]", stream: true });
    assert.match(
      JSON.parse(ssePayloads(parse.body)[0]).choices[0].delta.content,
      /^Model server error!code=1, error msg is /,
    );
  });

  it("non-stream: the full compact object, id = conv_uid, thinking embedded, knowledge references", async function () {
    const res = await chat(emu, { model: "gpt-4o", messages: "hi", conv_uid: "conv-2" });
    const body = JSON.parse(res.body);
    assert.equal(
      res.body,
      `{"id":"conv-2","object":"chat.completion","created":${body.created},"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":${JSON.stringify(answerFor("hi"))},"reasoning_content":null},"finish_reason":null}],"usage":{"prompt_tokens":0,"total_tokens":0,"completion_tokens":0}}`,
    );
    assert.equal(res.headers["content-length"], String(Buffer.byteLength(res.body)));
    const think = JSON.parse(
      (await chat(emu, { model: "gpt-4o", messages: "[think] q", stream: false })).body,
    );
    assert.equal(
      think.choices[0].message.content,
      "``````vis-thinking\n" + reasoningFor("[think] q") + "\n``````\n" + answerFor("[think] q"),
    );
    assert.match(think.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const kb = JSON.parse(
      (
        await chat(emu, {
          model: "gpt-4o",
          messages: "q",
          chat_mode: "chat_knowledge",
          chat_param: "default_space",
        })
      ).body,
    );
    assert.equal(
      kb.choices[0].message.content,
      contentFor("q", { chatMode: "chat_knowledge", stream: false }),
    );
    assert.match(
      kb.choices[0].message.content,
      /\[1\]\n\n<references title="References" references="\[\{"name": /,
    );
  });

  it("chat_flow stream: role-only first chunk, compact deltas, id = conv_uid", async function () {
    const res = await chat(emu, {
      model: "gpt-4o",
      messages: "hi",
      stream: true,
      chat_mode: "chat_flow",
      chat_param: "flow-1",
      conv_uid: "conv-3",
    });
    const head = '{"id":"conv-3","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant"';
    assert.deepEqual(res.chunks, [
      `data: ${head}},"finish_reason":null}]}\n\n`,
      ...answerTokens("hi").map(
        (t) => `data: ${head},"content":${JSON.stringify(t)},"reasoning_content":null}}]}\n\n`,
      ),
      "data: [DONE]\n\n",
    ]);
  });

  it("chat_flow unknown flow: the exact bytes of dbgpt-api.md §5.4", async function () {
    const res = await chat(emu, {
      model: "gpt-4o",
      messages: "hi",
      stream: true,
      chat_mode: "chat_flow",
      chat_param: "nope",
      conv_uid: "conv-4",
    });
    assert.equal(
      res.body,
      'data: {"id":"conv-4","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}\n\n' +
        'data: {"error_code": 1, "text": "Flow nope not found", "incremental": true, "model_context": null, "finish_reason": null, "usage": null, "metrics": null}\n\n' +
        "data: [DONE]\n\n",
    );
    assert.deepEqual(
      res.chunkBuffers.map((c) => c.length),
      [0x72, 0x9b, 0xe],
    );
  });

  it("chat_app: null status chunk, cumulative in-progress renders, final render, [DONE]", async function () {
    const q = "hello app";
    const res = await chat(emu, {
      model: "gpt-4o",
      messages: q,
      stream: true,
      chat_mode: "chat_app",
      chat_param: APP_CODES.singleAgent,
      conv_uid: "conv-1",
    });
    const payloads = ssePayloads(res.body);
    assert.equal(payloads.at(-1), "[DONE]");
    const events = payloads.slice(0, -1);
    for (const e of events)
      assert.match(
        e,
        /^\{"id":"conv-1","created":\d+,"model":"gpt-4o","choices":\[\{"index":0,"delta":\{"role":"assistant","content":/,
      );
    const contents = events.map((e) => JSON.parse(e).choices[0].delta.content);
    assert.equal(contents[0], null);
    const tokens = answerTokens(q);
    let text = "";
    tokens.forEach((t, i) => {
      text += t;
      assert.equal(
        contents[i + 1],
        '\n```agent-messages\n[{"sender": "Assistant", "receiver": "?", "model": "gpt-4o", "markdown": ' +
          JSON.stringify(text) +
          "}]\n```",
      );
    });
    assert.equal(contents[tokens.length + 1], null);
    assert.equal(
      contents.at(-1),
      '```agent-messages\n[{"sender": "Assistant", "receiver": "Human", "model": "gpt-4o", "markdown": ' +
        JSON.stringify(answerFor(q)) +
        ', "resource": null}]\n```',
    );
  });

  it("chat_app [multi-agent] nests the first agent in agent-plans; [final-text] appends plain text", async function () {
    const multi = await chat(emu, {
      model: "gpt-4o",
      messages: "[multi-agent] q",
      stream: true,
      chat_mode: "chat_app",
      chat_param: APP_CODES.autoPlan,
    });
    const last = JSON.parse(ssePayloads(multi.body).at(-2)).choices[0].delta.content;
    assert.ok(
      last.startsWith(
        '```agent-plans\n[{"name": "Step 1", "num": 1, "status": "complete", "agent": "DataScientist", "markdown": "```agent-messages\\n[{\\"sender\\": \\"DataScientist\\"',
      ),
    );
    assert.ok(
      last.endsWith(
        '\n```agent-messages\n[{"sender": "Summarizer", "receiver": "Human", "model": "gpt-4o", "markdown": ' +
          JSON.stringify(answerFor("[multi-agent] q")) +
          ', "resource": null}]\n```',
      ),
    );
    const final = await chat(emu, {
      model: "gpt-4o",
      messages: "[final-text] q",
      stream: true,
      chat_mode: "chat_app",
      chat_param: APP_CODES.singleAgent,
    });
    const finalContent = JSON.parse(ssePayloads(final.body).at(-2)).choices[0].delta.content;
    assert.ok(finalContent.endsWith("\n```\n" + answerFor("[final-text] q")));
  });

  it("chat_app: native app = only [DONE]; awel_layout and [empty] = only content:null chunks", async function () {
    const native = await chat(emu, {
      model: "gpt-4o",
      messages: "q",
      stream: true,
      chat_mode: "chat_app",
      chat_param: "chat_normal",
    });
    assert.equal(native.body, "data: [DONE]\n\n");
    for (const [param, q] of [
      [APP_CODES.awelLayout, "q"],
      [APP_CODES.singleAgent, "[empty]"],
    ]) {
      const res = await chat(emu, {
        model: "gpt-4o",
        messages: q,
        stream: true,
        chat_mode: "chat_app",
        chat_param: param,
      });
      const payloads = ssePayloads(res.body);
      assert.equal(payloads.pop(), "[DONE]");
      assert.ok(
        payloads.length > 0 && payloads.every((p) => JSON.parse(p).choices[0].delta.content === null),
      );
    }
  });

  it("chat_app unknown app id: 200 SSE headers, then the socket closes with zero body bytes", async function () {
    const res = await chat(
      emu,
      { model: "gpt-4o", messages: "q", stream: true, chat_mode: "chat_app", chat_param: "nope" },
      { keepAlive: true },
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-type"], "text/event-stream");
    assert.equal(res.bodyBytes.length, 0);
    assert.equal(res.complete, false);
    assert.equal(res.closed, true);
    await emu.waitForConnections(0, 2000);
  });

  it("a node:http client sees the dropped chat_app stream as aborted", async function () {
    const outcome = await new Promise((resolve) => {
      const req = http.request(
        emu.url + CHAT,
        { method: "POST", headers: { "content-type": "application/json" } },
        (res) => {
          res.on("data", () => {});
          res.on("error", (err) =>
            resolve({ status: res.statusCode, error: err.code, complete: res.complete }),
          );
          res.on("end", () => resolve({ status: res.statusCode, error: null, complete: res.complete }));
        },
      );
      req.end(
        JSON.stringify({
          model: "m",
          messages: "q",
          stream: true,
          chat_mode: "chat_app",
          chat_param: "nope",
        }),
      );
    });
    assert.deepEqual(outcome, { status: 200, error: "ECONNRESET", complete: false });
  });

  it("[echo-history] lists the earlier questions of the same conv_uid only", async function () {
    const ask = (messages, conv) => chat(emu, { model: "gpt-4o", messages, conv_uid: conv, stream: false });
    await ask("first", "h-1");
    await ask(
      [
        { role: "user", content: "second" },
        { role: "user", content: "ignored" },
      ],
      "h-1",
    );
    await ask("other", "h-2");
    const res = JSON.parse((await ask("[echo-history]", "h-1")).body);
    assert.equal(
      res.choices[0].message.content,
      "Earlier questions in this conversation: 1. first 2. second",
    );
    assert.equal(
      res.choices[0].message.content,
      answerFor("[echo-history]", { history: ["first", "second"] }),
    );
    assert.deepEqual(emu.history("h-1"), ["first", "second", "[echo-history]"]);
  });

  it("[long:N] and delayMs: lazy deltas, paced events", async function () {
    const res = await chat(emu, { model: "gpt-4o", messages: "[long:5000]", stream: true });
    const deltas = ssePayloads(res.body)
      .slice(0, -2)
      .map((p) => JSON.parse(p).choices[0].delta.content);
    assert.equal(deltas.length, 5000);
    assert.equal(deltas[4999], " t4999");
    emu.configure({ delayMs: 30 });
    try {
      const times = [];
      await chat(
        emu,
        { model: "gpt-4o", messages: "one two three", stream: true },
        { onChunk: () => times.push(Date.now()) },
      );
      assert.ok(
        times.at(-1) - times[0] >= 30 * 4,
        `events were ${times.at(-1) - times[0]} ms apart in total`,
      );
    } finally {
      emu.configure({ delayMs: 0 });
    }
  });

  it("20 concurrent streams keep their own ids and answers", async function () {
    emu.configure({ delayMs: 2 });
    try {
      const runs = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          chat(emu, {
            model: "gpt-4o",
            messages: `question ${i}`,
            stream: true,
            chat_mode: "chat_flow",
            chat_param: "flow-1",
            conv_uid: `c-${i}`,
          }),
        ),
      );
      runs.forEach((res, i) => {
        const events = ssePayloads(res.body)
          .slice(1, -1)
          .map((p) => JSON.parse(p));
        assert.ok(events.every((e) => e.id === `c-${i}`));
        assert.equal(events.map((e) => e.choices[0].delta.content).join(""), answerFor(`question ${i}`));
      });
    } finally {
      emu.configure({ delayMs: 0 });
    }
  });

  it("custom apps: served as given; an array llm_strategy_value is joined / JSON-encoded", async function () {
    const custom = [
      {
        app_code: "x1",
        app_name: "X",
        team_mode: "single_agent",
        details: [{ agent_name: "Bot", llm_strategy_value: ["a", "b"] }],
      },
    ];
    emu.configure({ apps: custom });
    try {
      const list = JSON.parse((await exchange(emu.url, { path: "/api/v2/serve/apps" })).body);
      assert.deepEqual(list.data.app_list, [
        { ...custom[0], details: [{ agent_name: "Bot", llm_strategy_value: "a,b" }] },
      ]);
      const detail = JSON.parse((await exchange(emu.url, { path: "/api/v2/serve/apps/x1" })).body);
      assert.equal(detail.data.details[0].llm_strategy_value, '["a","b"]');
      const res = await chat(emu, {
        model: "gpt-4o",
        messages: "q",
        stream: true,
        chat_mode: "chat_app",
        chat_param: "x1",
      });
      assert.match(ssePayloads(res.body).at(-2), /\\"sender\\": \\"Bot\\"/);
    } finally {
      emu.configure({ apps: DEFAULT_APPS });
    }
  });

  it("records requests: rawPath, path, query, body, question", async function () {
    await chat(emu, {
      model: "gpt-4o",
      messages: [
        { role: "system", content: "sys" },
        { role: "user", content: "u" },
      ],
      stream: false,
    });
    const [r] = emu.chatRequests();
    assert.equal(r.method, "POST");
    assert.equal(r.rawPath, CHAT);
    assert.equal(r.question, "sys");
    assert.equal(r.body.model, "gpt-4o");
    assert.equal(r.status, 200);
    assert.equal(typeof r.bodyText, "string");
    assert.equal(typeof r.at, "number");
  });
});

describe("emulator: apps and models (dbgpt-api.md §8, §10)", function () {
  let emu;
  before(async function () {
    emu = await startEmulator({ apiKeys: ["k"] });
  });
  after(async function () {
    await emu.close();
  });

  it("lists more than 20 apps; page is ignored; page_size works; no key needed", async function () {
    assert.ok(DEFAULT_APPS.length > 20);
    const one = JSON.parse(
      (await exchange(emu.url, { path: "/api/v2/serve/apps?page=1&page_size=10" })).body,
    );
    const two = JSON.parse(
      (await exchange(emu.url, { path: "/api/v2/serve/apps?page=2&page_size=10" })).body,
    );
    assert.deepEqual(two, one);
    assert.equal(one.data.current_page, 1);
    assert.equal(one.data.total_count, DEFAULT_APPS.length);
    assert.equal(one.data.total_page, Math.ceil(DEFAULT_APPS.length / 10));
    assert.equal(one.data.app_list.length, 10);
    const all = JSON.parse((await exchange(emu.url, { path: "/api/v2/serve/apps" })).body);
    assert.equal(all.data.app_list.length, 20);
    assert.deepEqual(
      all.data.app_list.map((a) => a.app_code),
      DEFAULT_APPS.slice(0, 20).map((a) => a.app_code),
    );
    const everything = JSON.parse(
      (await exchange(emu.url, { path: "/api/v2/serve/apps?page_size=100" })).body,
    );
    const modes = new Set(everything.data.app_list.map((a) => a.team_mode));
    assert.deepEqual([...modes].sort(), ["auto_plan", "awel_layout", "native_app", "single_agent"]);
  });

  it("app objects keep §8's key order; llm_strategy_value is comma-joined in the list, JSON in the detail", async function () {
    const keys = [
      "app_code",
      "app_name",
      "app_describe",
      "team_mode",
      "language",
      "team_context",
      "user_code",
      "sys_code",
      "is_collected",
      "icon",
      "created_at",
      "updated_at",
      "details",
      "published",
      "user_name",
      "user_icon",
      "hot_value",
      "param_need",
      "owner_name",
      "owner_avatar_url",
      "recommend_questions",
      "admins",
      "keep_start_rounds",
      "keep_end_rounds",
    ];
    const list = JSON.parse((await exchange(emu.url, { path: "/api/v2/serve/apps" })).body);
    for (const app of list.data.app_list) assert.deepEqual(Object.keys(app), keys);
    assert.equal(list.data.app_list[0].details[0].llm_strategy_value, "chatgpt_proxyllm,gpt-4o");
    const detail = JSON.parse(
      (await exchange(emu.url, { path: `/api/v2/serve/apps/${APP_CODES.singleAgent}` })).body,
    );
    assert.equal(detail.data.details[0].llm_strategy_value, '["chatgpt_proxyllm","gpt-4o"]');
    assert.equal(detail.data.app_name, "Emulator Assistant");
  });

  it("unknown app: 200 data:null, exactly 59 bytes; the raw path is recorded as sent", async function () {
    emu.reset();
    const res = await exchange(emu.url, { path: "/api/v2/serve/apps/a%3Fb" });
    assert.equal(res.status, 200);
    assert.equal(res.body, '{"success":true,"err_code":null,"err_msg":null,"data":null}');
    assert.equal(res.headers["content-length"], "59");
    assert.equal(emu.requests[0].rawPath, "/api/v2/serve/apps/a%3Fb");
    assert.equal(emu.requests[0].path, "/api/v2/serve/apps/a?b");
    const slash = await exchange(emu.url, { path: "/api/v2/serve/apps/..%2Fx" });
    assert.equal(slash.status, 404);
    assert.match(slash.headers["content-type"], /^text\/html/);
    assert.equal(emu.requests[1].rawPath, "/api/v2/serve/apps/..%2Fx");
  });

  it("bad page is 400 E0001; models list; other paths 404 HTML / 405 JSON", async function () {
    const bad = await exchange(emu.url, { path: "/api/v2/serve/apps?page_size=x" });
    assert.equal(
      bad.body,
      failed(
        "E0001",
        "query.page_size:Input should be a valid integer, unable to parse string as an integer;",
      ),
    );
    const models = JSON.parse((await exchange(emu.url, { path: "/api/v2/serve/model/models" })).body);
    assert.ok(models.success);
    assert.deepEqual(Object.keys(models.data[0]), [
      "model_name",
      "worker_type",
      "host",
      "port",
      "manager_host",
      "manager_port",
      "healthy",
      "check_healthy",
      "last_heartbeat",
      "prompt_template",
    ]);
    assert.deepEqual([...new Set(models.data.map((m) => m.worker_type))].sort(), ["llm", "text2vec"]);
    const get = await exchange(emu.url, { path: CHAT });
    assert.equal(get.status, 404);
    const put = await exchange(emu.url, { method: "PUT", path: "/api/v2/anything", body: {} });
    assert.equal(put.status, 405);
    assert.equal(put.body, '{"detail":"Method Not Allowed"}');
  });
});

describe("emulator: chat param lists (dbgpt-api.md §10)", function () {
  let emu;
  const SPACES = "/api/v2/serve/knowledge/spaces";
  const CHAT_FLOWS = "/api/v2/serve/awel/chat/flows";
  const DATASOURCES = "/api/v2/serve/datasources";
  const withKey = { headers: { Authorization: "Bearer k1" } };
  const get = async (path, extra = {}) => {
    const res = await exchange(emu.url, { path, ...extra });
    return { status: res.status, body: res.body, json: JSON.parse(res.body) };
  };
  before(async function () {
    emu = await startEmulator({ apiKeys: ["k1"] });
  });
  after(async function () {
    await emu.close();
  });

  it("knowledge spaces: a PaginationResult page, no key needed, page and page_size work", async function () {
    const all = await get(`${SPACES}?page=1&page_size=1000`);
    assert.equal(all.status, 200);
    assert.deepEqual(all.json, {
      success: true,
      err_code: null,
      err_msg: null,
      data: { items: KNOWLEDGE_SPACES, total_count: 2, total_pages: 1, page: 1, page_size: 1000 },
    });
    assert.deepEqual(
      all.json.data.items.map((s) => s.name),
      ["default_space", "product_docs"],
    );
    const second = await get(`${SPACES}?page=2&page_size=1`);
    assert.deepEqual(second.json.data, {
      items: [KNOWLEDGE_SPACES[1]],
      total_count: 2,
      total_pages: 2,
      page: 2,
      page_size: 1,
    });
    const bad = await get(`${SPACES}?page=x`);
    assert.equal(bad.status, 400);
    assert.equal(bad.json.err_code, "E0001");
  });

  it("chat flows and datasources need the key: the same 401 bytes as chat", async function () {
    for (const path of [CHAT_FLOWS, DATASOURCES]) {
      for (const auth of [undefined, "Bearer nope"]) {
        const res = await get(path, auth ? { headers: { Authorization: auth } } : {});
        assert.equal(res.status, 401, `${path} ${auth}`);
        assert.equal(res.body, KEY_401);
      }
      assert.equal((await get(path, withKey)).status, 200);
    }
  });

  it("chat flows: only chat_flow/chat_agent flows, paginated; datasources: a plain list, db_type filters", async function () {
    const flows = await get(`${CHAT_FLOWS}?page=1&page_size=1000`, withKey);
    assert.deepEqual(
      flows.json.data.items.map((f) => [f.uid, f.label, f.flow_category]),
      [
        ["flow-1", "Flow 1", "chat_flow"],
        ["agent-flow-2", null, "chat_agent"],
      ],
    );
    assert.equal(flows.json.data.total_count, 2);
    assert.ok(
      FLOWS.some((f) => f.flow_category === "common"),
      "a non-chat flow exists and is left out",
    );
    const dbs = await get(DATASOURCES, withKey);
    assert.deepEqual(dbs.json.data, DATABASES);
    assert.deepEqual(
      dbs.json.data.map((d) => [d.db_name, d.db_type]),
      [
        ["dbgpt_test", "mysql"],
        ["sales", "sqlite"],
      ],
    );
    const sqlite = await get(`${DATASOURCES}?db_type=sqlite`, withKey);
    assert.deepEqual(
      sqlite.json.data.map((d) => d.db_name),
      ["sales"],
    );
  });

  it("configure takes names or objects; chat uses the configured lists", async function () {
    emu.configure({ apiKeys: [], knowledgeSpaces: ["kb_x"], databases: ["db_x"], flows: ["f_x"] });
    try {
      const spaces = await get(SPACES);
      assert.deepEqual(
        spaces.json.data.items.map((s) => [s.name, typeof s.id]),
        [["kb_x", "number"]],
      );
      const flows = await get(CHAT_FLOWS);
      assert.deepEqual(
        flows.json.data.items.map((f) => f.uid),
        ["f_x"],
      );
      const body = { model: "gpt-4o", messages: "hi", chat_mode: "chat_knowledge", chat_param: "kb_x" };
      assert.equal((await chat(emu, body)).status, 200);
      assert.equal((await chat(emu, { ...body, chat_param: "default_space" })).status, 400);
      assert.equal((await chat(emu, { ...body, chat_mode: "chat_data", chat_param: "db_x" })).status, 200);
    } finally {
      emu.configure({
        apiKeys: ["k1"],
        knowledgeSpaces: KNOWLEDGE_SPACES,
        databases: DATABASES,
        flows: FLOWS,
      });
    }
  });
});

describe("emulator: faults", function () {
  let emu;
  const stream = { model: "gpt-4o", messages: "hi", stream: true };
  // chat_flow with a fixed conv_uid: the same bytes every time (chat_normal ids are uuid1s).
  const fixed = {
    ...stream,
    messages: "[unicode]",
    chat_mode: "chat_flow",
    chat_param: "flow-1",
    conv_uid: "c",
  };
  before(async function () {
    emu = await startEmulator();
  });
  after(async function () {
    await emu.close();
  });
  afterEach(async function () {
    emu.reset();
    await emu.waitForConnections(0, 2000);
  });

  it("stall before-headers: no response; the connection goes away when the client gives up", async function () {
    emu.fault({ stall: "before-headers" });
    await assert.rejects(chat(emu, stream, { timeoutMs: 150 }), /timed out/);
    await emu.waitForConnections(0, 2000);
  });

  it("stall after-headers and after-events", async function () {
    emu.fault({ stall: "after-headers" });
    const a = await chat(emu, stream, { timeoutMs: 150 });
    assert.equal(a.status, 200);
    assert.equal(a.bodyBytes.length, 0);
    assert.equal(a.closed, false);
    emu.fault({ stall: "after-events", events: 2 });
    const b = await chat(emu, stream, { timeoutMs: 150 });
    assert.equal(b.chunks.length, 2);
    assert.equal(b.complete, false);
  });

  it("cutAfterBytes and cutAfterEvents: exact bytes, no terminator", async function () {
    const full = (await chat(emu, fixed)).bodyBytes;
    emu.fault({ cutAfterBytes: 150 });
    const cut = await chat(emu, fixed);
    assert.deepEqual(cut.bodyBytes, full.subarray(0, 150));
    assert.equal(cut.complete, false);
    assert.ok(cut.closed);
    emu.fault({ cutAfterEvents: 3 });
    const ev = await chat(emu, stream);
    assert.equal(ev.chunks.length, 3);
    assert.equal(ev.complete, false);
  });

  it("splitAt cuts inside a multi-byte character, one chunk per piece; splitEvery", async function () {
    const full = (await chat(emu, fixed)).bodyBytes;
    const inside = full.indexOf(Buffer.from("你")) + 1;
    emu.fault({ splitAt: [inside, inside + 1] });
    const split = await chat(emu, fixed);
    assert.deepEqual(Buffer.concat(split.chunkBuffers), full);
    assert.deepEqual(
      split.chunkBuffers.map((c) => c.length),
      [inside, 1, full.length - inside - 1],
    );
    emu.fault({ splitEvery: 7 });
    const every = await chat(emu, fixed);
    assert.deepEqual(Buffer.concat(every.chunkBuffers), full);
    assert.ok(every.chunkBuffers.slice(0, -1).every((c) => c.length === 7));
    assert.ok(every.chunkBuffers.at(-1).length <= 7);
    assert.ok(every.complete);
  });

  it("drip writes a few bytes at a time", async function () {
    emu.fault({ drip: { bytes: 50, intervalMs: 1 } });
    const res = await chat(emu, { ...stream, messages: "x" });
    assert.ok(res.chunkBuffers.length > 5);
    assert.ok(res.chunkBuffers.every((c) => c.length <= 50));
    assert.ok(res.complete);
  });

  it("hugeEvent: one delta of exactly N bytes", async function () {
    emu.fault({ hugeEvent: 100000 });
    const res = await chat(emu, stream);
    const payloads = ssePayloads(res.body);
    const delta = JSON.parse(payloads[0]).choices[0].delta.content;
    assert.equal(Buffer.byteLength(delta), 100000);
    assert.equal(delta, hugeText(100000));
    assert.deepEqual(
      payloads.slice(1).map((p) => (p === "[DONE]" ? p : JSON.parse(p).choices[0].delta.content)),
      ["", "[DONE]"],
    );
  });

  it("redirect, status and rawEvents", async function () {
    emu.fault({ redirect: { status: 307, location: "http://127.0.0.1:1/elsewhere" } });
    const r = await chat(emu, stream);
    assert.equal(r.status, 307);
    assert.equal(r.headers.location, "http://127.0.0.1:1/elsewhere");
    emu.fault({ status: { status: 502, body: '{"x":1}', contentType: "application/json" } });
    const s = await exchange(emu.url, { path: "/api/v2/serve/apps" });
    assert.equal(s.status, 502);
    assert.equal(s.body, '{"x":1}');
    emu.fault({ status: 500 });
    const empty = await chat(emu, stream);
    assert.equal(empty.status, 500);
    assert.equal(empty.body, "");
    emu.fault({ rawEvents: ["data: {not json\n\n", "data: [DONE]\n\n"] });
    const raw = await chat(emu, stream, { keepAlive: true });
    assert.deepEqual(raw.chunks, ["data: {not json\n\n", "data: [DONE]\n\n"]);
    assert.ok(raw.complete);
    assert.equal(raw.headers.connection, "close");
    await emu.waitForConnections(0, 2000);
    emu.fault({ rawEvents: ["data: {}\n\n"], end: "keep-alive" });
    const kept = await chat(emu, stream, { keepAlive: true });
    assert.ok(kept.complete);
    assert.equal(kept.headers.connection, "keep-alive");
    emu.fault({ rawEvents: ["data: {}\n\n"], end: "destroy" });
    const destroyed = await chat(emu, stream);
    assert.deepEqual(destroyed.chunks, ["data: {}\n\n"]);
    assert.equal(destroyed.complete, false);
  });

  it("firstEventDelayMs and eventsPerWrite", async function () {
    let headAt = 0;
    let firstAt = 0;
    emu.fault({ firstEventDelayMs: 120 });
    await chat(emu, stream, {
      onHead: () => (headAt = Date.now()),
      onChunk: (p) => {
        if (!firstAt && p.chunks.length > 0) firstAt = Date.now();
      },
    });
    assert.ok(firstAt - headAt >= 100, `first event ${firstAt - headAt} ms after the headers`);
    emu.fault({ eventsPerWrite: 4 });
    const batched = await chat(emu, stream);
    assert.equal(ssePayloads(batched.chunks[0]).length, 4);
  });

  it("match, times and the control API", async function () {
    emu.fault({ match: { question: "target", chatMode: "chat_normal" }, times: 2, status: 503 });
    assert.equal((await chat(emu, stream)).status, 200);
    assert.equal((await chat(emu, { ...stream, messages: "target" })).status, 503);
    assert.equal(
      (
        await chat(emu, {
          ...stream,
          messages: "target",
          chat_mode: "chat_knowledge",
          chat_param: "default_space",
        })
      ).status,
      200,
    );
    assert.equal((await chat(emu, { ...stream, messages: "target" })).status, 503);
    assert.equal((await chat(emu, { ...stream, messages: "target" })).status, 200);
    assert.throws(() => emu.fault({ nonsense: 1 }), /unknown key/);

    const ctl = (method, p, body) => exchange(emu.url, { method, path: `/__emulator/${p}`, body });
    const added = JSON.parse(
      (await ctl("POST", "fault", { match: { path: "/api/v2/serve/apps" }, status: 418 })).body,
    );
    assert.equal(typeof added.id, "number");
    assert.equal((await exchange(emu.url, { path: "/api/v2/serve/apps" })).status, 418);
    assert.equal((await ctl("POST", "fault", { bogus: true })).status, 400);
    assert.deepEqual(JSON.parse((await ctl("GET", "connections")).body), { open: 0 });
    const seen = JSON.parse((await ctl("GET", "requests")).body);
    assert.ok(seen.length >= 6 && seen.every((r) => !r.path.startsWith("/__emulator")));
    await ctl("POST", "config", { delayMs: 0, apiKeys: ["z"] });
    assert.equal((await chat(emu, stream)).status, 401);
    await ctl("POST", "config", { apiKeys: [] });
    await ctl("POST", "reset");
    assert.equal(emu.requests.length, 0);
  });

  it("a client that goes away mid-stream stops the writer and leaves no connection", async function () {
    emu.configure({ delayMs: 5 });
    try {
      await chat(
        emu,
        { ...stream, messages: "[long:100000]" },
        { onChunk: (p, socket) => p.chunks.length >= 3 && socket.destroy() },
      );
      await emu.waitForConnections(0, 2000);
      const rec = emu.chatRequests().at(-1);
      const written = rec.eventsWritten;
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(rec.eventsWritten, written);
      assert.ok(written < 100);
    } finally {
      emu.configure({ delayMs: 0 });
    }
  });

  it("backpressure: a reader that stops reading stops the writer", async function () {
    let paused;
    const done = chat(
      emu,
      { ...stream, messages: "[long:1000000]" },
      {
        timeoutMs: 10000,
        onHead: (p, socket) => {
          socket.pause();
          paused = socket;
        },
      },
    );
    // On a busy machine the head can take a while: time the paused reader from when it paused.
    const since = Date.now();
    while (!paused && Date.now() - since < 5000) await new Promise((r) => setTimeout(r, 10));
    assert.ok(paused, "the response head arrived");
    await new Promise((r) => setTimeout(r, 250));
    const rec = emu.chatRequests().at(-1);
    assert.ok(rec.eventsWritten < 50000, `${rec.eventsWritten} events written to a paused reader`);
    paused.destroy();
    await done;
    await emu.waitForConnections(0, 2000);
  });
});

describe("emulator: lifecycle, TLS and CLI", function () {
  it("close() leaves no handles behind, even with stalled and streaming requests", async function () {
    const before = process.getActiveResourcesInfo().filter((r) => r !== "TTYWrap").length;
    const emu = await startEmulator({ delayMs: 50 });
    emu.fault({ stall: "before-headers" });
    const stalled = chat(emu, { model: "gpt-4o", messages: "hi", stream: true }, { timeoutMs: 3000 });
    const streaming = chat(
      emu,
      { model: "gpt-4o", messages: "[long:1000]", stream: true },
      { timeoutMs: 3000 },
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(emu.openConnections(), 2);
    await emu.close();
    const [a, b] = await Promise.all([stalled, streaming]);
    assert.ok(a.closed && b.closed);
    // Node's HTTP Date-header cache holds an unref'd timer for up to 1 s: wait for it, bounded.
    let after;
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = process.getActiveResourcesInfo().filter((r) => r !== "TTYWrap");
      if (after.length - 1 <= before) break; // the polling timer itself is one Timeout
    }
    assert.equal(after.length - 1, before, JSON.stringify(after));
    assert.ok(!after.some((r) => /TCP|TLS/.test(r)), JSON.stringify(after));
  });

  it("serves https with the self-signed certificate", async function () {
    let pair;
    try {
      pair = require("../../emulator/selfsigned").selfSigned();
    } catch (err) {
      if (err.code === "EMULATOR_NO_OPENSSL") return this.skip();
      throw err;
    }
    const emu = await startEmulator({ tls: pair });
    try {
      assert.match(emu.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const res = await chat(emu, { model: "gpt-4o", messages: "hi", stream: true }, { ca: pair.cert });
      assert.ok(res.complete);
      assert.equal(ssePayloads(res.body).at(-1), "[DONE]");
      const ctl = await exchange(emu.url, {
        path: "/__emulator/connections",
        ca: pair.cert,
        keepAlive: true,
      });
      assert.deepEqual(JSON.parse(ctl.body), { open: 0 });
    } finally {
      await emu.close();
    }
  });

  it("cli.js prints its URL and serves until stopped", async function () {
    const child = spawn(
      process.execPath,
      [require.resolve("../../emulator/cli.js"), "--port", "0", "--delay", "0", "--api-key", "cli-key"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    try {
      const url = await new Promise((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error("cli did not print its URL: " + out)), 5000);
        child.stdout.on("data", (d) => {
          out += d;
          const m = /DB-GPT emulator listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
        child.on("exit", (code) => reject(new Error(`cli exited with ${code}`)));
      });
      const denied = await exchange(url, { method: "POST", path: CHAT, body: { model: "m", messages: "x" } });
      assert.equal(denied.status, 401);
      const ok = await exchange(url, {
        method: "POST",
        path: CHAT,
        body: { model: "gpt-4o", messages: "x", stream: true },
        headers: { Authorization: "Bearer cli-key" },
      });
      assert.ok(ok.complete);
    } finally {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
  });
});
