"use strict";
// Turns a script (script.js) into what the server puts on the wire for each chat mode
// (dbgpt-api.md §5, §6). A response is { status, headers, chunks, end, sse }: `chunks` is a lazy
// iterable of strings, one write each (one SSE event each for streams); `end` is "end" or "destroy".
const { pyDumps, compact } = require("./pyjson");
const { hugeTextBytes } = require("./script");
const artifacts = require("./artifacts");

const DONE = "data: [DONE]\n\n";
const SSE_HEADERS = Object.freeze({
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  connection: "keep-alive",
});

// Strings with nothing JSON must escape (quotes, backslashes, C0 controls, lone surrogates) are
// quoted directly: JSON.stringify of a multi-megabyte delta costs far more than this test.
// eslint-disable-next-line no-control-regex -- C0 controls are exactly what JSON escapes
const NEEDS_ESCAPE = /["\\\x00-\x1f\p{Cs}]/u;

/** JSON string literal, as JSON.stringify (and Python's json.dumps with ensure_ascii=False) write it. */
function quote(text) {
  return text.length > 4096 && !NEEDS_ESCAPE.test(text) ? '"' + text + '"' : JSON.stringify(text);
}

let lastQuoted = { text: null, bytes: null };

/**
 * An event whose delta is huge (hugeEvent) as one Buffer; the quoted delta's bytes are cached, so a
 * test that asks for the same huge answer again costs one memcpy, not a re-encode.
 */
function bigEvent(head, text, tail) {
  if (lastQuoted.text !== text) {
    const raw = hugeTextBytes(text);
    const quoteMark = Buffer.from('"');
    lastQuoted = { text, bytes: raw ? Buffer.concat([quoteMark, raw, quoteMark]) : Buffer.from(quote(text)) };
  }
  return Buffer.concat([Buffer.from(head), lastQuoted.bytes, Buffer.from(tail)]);
}

const BIG = 1 << 20;

function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}

/** A JSON response with a fixed body (FastAPI JSONResponse: compact, no charset). */
function jsonResponse(status, value, text) {
  const body = text === undefined ? compact(value) : text;
  return {
    status,
    headers: { "content-length": String(Buffer.byteLength(body)), "content-type": "application/json" },
    chunks: [body],
    end: "end",
    sse: false,
  };
}

function resultFailed(status, errCode, errMsg) {
  return jsonResponse(status, { success: false, err_code: errCode, err_msg: errMsg, data: null });
}

function resultOk(data) {
  return jsonResponse(200, { success: true, err_code: null, err_msg: null, data });
}

/** str() of the HTTPException detail dicts DB-GPT raises: a Python dict repr. */
function openaiErrorRepr(message, code) {
  const pyStr = (s) => "'" + s.replace(/\\/g, "\\\\").replace(/'/g, "\\'") + "'";
  return (
    `{'error': {'message': ${pyStr(message)}, 'type': 'invalid_request_error', 'param': None, ` +
    `'code': ${pyStr(code)}}}`
  );
}

function sseResponse(chunks, end = "end") {
  return { status: 200, headers: { ...SSE_HEADERS }, chunks, end, sse: true };
}

/** 200 SSE headers, then the socket is destroyed with zero body bytes (dbgpt-api.md §5.7). */
function abortedStream() {
  return sseResponse([], "destroy");
}

function thinkingMarkdown(thinking, text) {
  if (!thinking) return text;
  return "``````vis-thinking\n" + thinking + "\n``````" + (text ? "\n" + text : "");
}

// Streams yield strings, or Buffers for huge events (writer.js accepts both).

// ---- chat_normal family -------------------------------------------------------------------------

/** §5.1/§5.3: delta chunks, json.dumps spacing, final "" chunk, [DONE]. */
function* normalIncremental(script, { id, model }) {
  if (script.kind === "server-error") {
    yield `data: [SERVER_ERROR]${script.errorText}\n\n`;
    yield DONE;
    return;
  }
  const head = `data: {"id": ${JSON.stringify(id)}, "model": ${JSON.stringify(model)}, "choices": [{"index": 0, "delta": {"role": "assistant", "content": `;
  for (const r of script.reasoning) yield `${head}null, "reasoning_content": ${JSON.stringify(r)}}}]}\n\n`;
  const contentTail = `, "reasoning_content": null}}]}\n\n`;
  for (const t of script.answer)
    yield t.length > BIG ? bigEvent(head, t, contentTail) : head + quote(t) + contentTail;
  yield head + '""' + contentTail;
  yield DONE;
}

/** §5.2: cumulative `message` snapshots with "usage": {} and no [DONE]. */
function* normalSnapshots(script, { id, model }) {
  if (script.kind === "server-error") {
    yield `data: [SERVER_ERROR]${script.errorText}\n\n`;
    return;
  }
  const snap = (content, reasoning) =>
    "data: " +
    pyDumps({
      id,
      model,
      choices: [{ index: 0, message: { role: "assistant", content, reasoning_content: reasoning } }],
      usage: {},
    }) +
    "\n\n";
  let thinking = "";
  for (const r of script.reasoning) {
    thinking += r;
    yield snap("", thinking);
  }
  let text = "";
  for (const t of script.answer) {
    text += t;
    yield snap(text, thinking || null);
  }
  yield snap(text, thinking || null);
}

/** §6: the whole non-stream answer object (also chat_flow's success). */
function completionResponse({ id, model, content, reasoning }) {
  return jsonResponse(200, {
    id,
    object: "chat.completion",
    created: nowSeconds(),
    model,
    choices: [
      {
        index: 0,
        message: { role: "assistant", content, reasoning_content: reasoning || null },
        finish_reason: null,
      },
    ],
    usage: { prompt_tokens: 0, total_tokens: 0, completion_tokens: 0 },
  });
}

const ERROR_SPAN = "<span style='color:red'>ERROR!</span> ";

/**
 * The view message of a chat_normal-family answer as stored in the conversation history: ElementTree
 * escaping intact (dbgpt-artifacts.md §1.1). `script.view` (an artifact form) wins.
 */
function viewContent(script, chatMode) {
  if (script.kind === "server-error") return ERROR_SPAN + script.errorText;
  let content;
  if (script.view !== undefined) {
    content = script.view;
  } else {
    const answer = script.answer.join();
    if (answer.startsWith("**LLMServer Generate Error") || answer.startsWith("Model server error!")) {
      return ERROR_SPAN + answer;
    }
    content = answer;
    if (chatMode === "chat_knowledge") {
      content += ` [1]\n\n${artifacts.defaultReferencesElement()}`;
    } else if (chatMode === "chat_data") {
      content = artifacts.chatData("simple", answer).view;
    }
  }
  const thinking = script.reasoning.join("");
  if (thinking) content = "``````vis-thinking\n" + thinking + "\n``````\n" + content;
  return content;
}

/** The `content` of a non-stream chat_normal-family answer (view message, §6): the v2 wrapper's replace. */
function nonStreamContent(script, chatMode) {
  const content = script.nonStreamView !== undefined ? script.nonStreamView : viewContent(script, chatMode);
  return artifacts.v2(content);
}

// ---- chat_flow ----------------------------------------------------------------------------------

function flowErrorEvent(text) {
  const err = {
    error_code: 1,
    text,
    incremental: true,
    model_context: null,
    finish_reason: null,
    usage: null,
    metrics: null,
  };
  return `data: ${pyDumps(err)}\n\n`;
}

/** §5.4: role-only first chunk, compact deltas, in-stream error JSON (spaced), [DONE]. */
function* flowStream(script, { id, model, flowError }) {
  const head = `data: {"id":${JSON.stringify(id)},"model":${JSON.stringify(model)},"choices":[{"index":0,"delta":{"role":"assistant"`;
  yield `${head}},"finish_reason":null}]}\n\n`;
  const error = flowError || (script.kind === "server-error" ? script.errorText : null);
  if (error) {
    yield flowErrorEvent(error);
    yield DONE;
    return;
  }
  for (const r of script.reasoning)
    yield `${head},"content":"","reasoning_content":${JSON.stringify(r)}}}]}\n\n`;
  for (const t of script.answer)
    yield `${head},"content":${JSON.stringify(t)},"reasoning_content":null}}]}\n\n`;
  yield DONE;
}

// ---- chat_app -----------------------------------------------------------------------------------

function messagesBlock(list) {
  return "```agent-messages\n" + pyDumps(list) + "\n```";
}

function plansBlock(list) {
  return "```agent-plans\n" + pyDumps(list) + "\n```";
}

/** Whole-conversation render: stored blocks, then the in-progress message (receiver "?", no resource). */
function render(stored, temp) {
  const done = stored.join("\n");
  return temp ? done + "\n" + messagesBlock([temp]) : done;
}

/**
 * §5.5: cumulative vis re-renders (compact envelope with `created`), `content: null` context-status
 * chunks, [DONE]. `app` decides: native_app -> only [DONE]; awel_layout -> only null chunks.
 */
function* appStream(script, { id, model, app }) {
  const chunk = (content) =>
    "data: " +
    compact({
      id,
      created: nowSeconds(),
      model,
      choices: [{ index: 0, delta: { role: "assistant", content } }],
    }) +
    "\n\n";
  const teamMode = app.team_mode || "single_agent";
  if (teamMode === "native_app") {
    yield DONE;
    return;
  }
  if (teamMode === "awel_layout" || script.kind === "server-error" || script.agent === "empty") {
    yield chunk(null);
    yield chunk(null);
    yield chunk(null);
    yield DONE;
    return;
  }
  if (script.agent === "vis") {
    for (const content of script.renders) yield chunk(content);
    yield DONE;
    return;
  }
  const agents = (app.details || []).map((d) => d.agent_name).filter(Boolean);
  const stored = [];
  yield chunk(null);

  if (script.agent === "multi") {
    const first = agents[0] || "DataScientist";
    const second =
      agents[1] && agents[1] !== first ? agents[1] : first === "Summarizer" ? "Reporter" : "Summarizer";
    let text = "";
    for (const t of script.firstAgent) {
      text += t;
      yield chunk(render(stored, { sender: first, receiver: "?", model, markdown: text }));
    }
    const step = messagesBlock([
      { sender: first, receiver: "Planner", model, markdown: text, resource: null },
    ]);
    stored.push(plansBlock([{ name: "Step 1", num: 1, status: "complete", agent: first, markdown: step }]));
    yield chunk(render(stored));
    yield chunk(null);
    yield* speak(second, script.reasoning, script.answer, null);
    return;
  }

  const agent = agents[0] || "Assistant";
  if (script.agent === "final-text") {
    yield* speak(agent, script.reasoning, script.agentText, script.answer.join());
    return;
  }
  yield* speak(agent, script.reasoning, script.answer, null);

  function* speak(sender, reasoning, tokens, finalText) {
    let thinking = "";
    let text = "";
    for (const r of reasoning) {
      thinking += r;
      yield chunk(render(stored, { sender, receiver: "?", model, markdown: thinkingMarkdown(thinking, "") }));
    }
    for (const t of tokens) {
      text += t;
      yield chunk(
        render(stored, { sender, receiver: "?", model, markdown: thinkingMarkdown(thinking, text) }),
      );
    }
    yield chunk(null);
    const markdown = thinkingMarkdown(thinking, text);
    stored.push(messagesBlock([{ sender, receiver: "Human", model, markdown, resource: null }]));
    yield chunk(finalText === null ? render(stored) : render(stored) + "\n" + finalText);
    yield DONE;
  }
}

module.exports = {
  DONE,
  SSE_HEADERS,
  jsonResponse,
  resultFailed,
  resultOk,
  openaiErrorRepr,
  sseResponse,
  abortedStream,
  normalIncremental,
  normalSnapshots,
  completionResponse,
  nonStreamContent,
  viewContent,
  flowStream,
  appStream,
  messagesBlock,
  plansBlock,
};
