"use strict";
// What the emulated LLM "says": a deterministic script chosen by the question text (README.md,
// "Conversations"). Mode-independent; render.js turns a script into each chat mode's bytes.

const REASONING_TOKENS = ["Let me", " think", " step", " by", " step."];
const UNICODE_TOKENS = [
  "你好",
  "，世界",
  "！",
  " 🌍",
  " Ünïcödé",
  " ✓",
  " 😀👍🏽",
  " 数据库",
  " ελληνικά",
  " 🚀。",
];
const MULTI_AGENT_FIRST = ["Step 1:", " I collected", " the facts", " for this question."];
const FINAL_TEXT_AGENT = ["Terminate:", " the answer", " follows."];

/** A token list that may be lazy (huge [long:N] streams are never built in memory). */
class Tokens {
  constructor(count, at) {
    this.count = count;
    this.at = at;
  }
  static of(list) {
    return new Tokens(list.length, (i) => list[i]);
  }
  *[Symbol.iterator]() {
    for (let i = 0; i < this.count; i++) yield this.at(i);
  }
  join() {
    let out = "";
    for (let i = 0; i < this.count; i++) out += this.at(i);
    return out;
  }
}

/** Splits text into word deltas ("Hello", " world", ...); joining them gives the text back. */
function words(text) {
  return text.match(/\s*\S+|\s+$/g) || [];
}

function plainAnswer(question) {
  return `Hello! You asked: ${question}. This answer comes from the DB-GPT emulator.`;
}

function historyAnswer(history) {
  if (!history || history.length === 0) return "No earlier questions in this conversation.";
  return "Earlier questions in this conversation: " + history.map((q, i) => `${i + 1}. ${q}`).join(" ");
}

function modelErrorText(model) {
  return (
    "**LLMServer Generate Error, Please CheckErrorInfo.**: Cound not found worker instances for model name " +
    `${model} and worker type llm`
  );
}

const PARSE_ERROR_TEXT = "Model server error!code=1, error msg is output parse failed: emulated parse error";

let lastHuge = { bytes: -1, text: "", utf8: Buffer.alloc(0) };

/** The text of a huge single delta of exactly `bytes` UTF-8 bytes (ASCII and multi-byte mixed). */
function hugeText(bytes) {
  if (lastHuge.bytes !== bytes) {
    // Built as bytes (a fill, then one decode): cheap even at 16 MiB, and tests ask for the same size again.
    const unit = Buffer.from("abcdefghij é中😀 ");
    const whole = Math.floor(bytes / unit.length) * unit.length;
    const utf8 = Buffer.alloc(bytes, "x");
    if (whole > 0) utf8.fill(unit, 0, whole);
    lastHuge = { bytes, text: utf8.toString("utf8"), utf8 };
  }
  return lastHuge.text;
}

/** The UTF-8 bytes of the last hugeText (nothing in it needs JSON escaping), or undefined. */
function hugeTextBytes(text) {
  return text === lastHuge.text ? lastHuge.utf8 : undefined;
}

function longToken(i) {
  return i === 0 ? "t0" : ` t${i}`;
}

/**
 * The script for a question:
 * { kind: "answer" | "server-error", reasoning: string[], answer: Tokens, errorText?,
 *   agent?: "multi" | "final-text" | "empty", firstAgent?: string[], agentText?: string[] }
 * options: { history: earlier questions of this conv_uid, model, knownModel: boolean, hugeEvent: bytes }
 */
function scriptFor(question, options = {}) {
  const q = typeof question === "string" ? question : String(question);
  const script = { kind: "answer", reasoning: [], answer: Tokens.of(words(plainAnswer(q))) };
  const rest = (prefix) => q.slice(prefix.length).trim();
  if (q.startsWith("[think]")) {
    script.reasoning = REASONING_TOKENS;
  } else if (q.startsWith("[server-error]")) {
    script.kind = "server-error";
    script.errorText = rest("[server-error]") || "Emulated server error";
    script.answer = Tokens.of([]);
  } else if (q.startsWith("[model-error]")) {
    script.answer = Tokens.of([modelErrorText(options.model || "unknown")]);
  } else if (q.startsWith("[parse-error]")) {
    script.answer = Tokens.of([PARSE_ERROR_TEXT]);
  } else if (q.startsWith("[long:")) {
    const m = /^\[long:(\d+)\]/.exec(q);
    if (m) script.answer = new Tokens(Number(m[1]), longToken);
  } else if (q.startsWith("[unicode]")) {
    script.answer = Tokens.of(UNICODE_TOKENS);
  } else if (q.startsWith("[multi-agent]")) {
    script.agent = "multi";
    script.firstAgent = MULTI_AGENT_FIRST;
  } else if (q.startsWith("[final-text]")) {
    script.agent = "final-text";
    script.agentText = FINAL_TEXT_AGENT;
  } else if (q.startsWith("[empty]")) {
    script.agent = "empty";
    script.answer = Tokens.of([]);
  } else if (q.startsWith("[echo-history]")) {
    script.answer = Tokens.of(words(historyAnswer(options.history)));
  }
  // An unknown model fails in the worker whatever was asked (chat_normal family only; the caller decides).
  if (options.knownModel === false && script.kind === "answer") {
    script.reasoning = [];
    script.answer = Tokens.of([modelErrorText(options.model)]);
  }
  if (options.hugeEvent) script.answer = Tokens.of([hugeText(options.hugeEvent)]);
  return script;
}

/** The deltas a plain stream sends for a question (chat_normal family and chat_flow). */
function answerTokens(question, options = {}) {
  return Array.from(scriptFor(question, options).answer);
}

/** The reasoning text of a question ("" when none). */
function reasoningFor(question) {
  return scriptFor(question).reasoning.join("");
}

module.exports = {
  Tokens,
  scriptFor,
  answerTokens,
  reasoningFor,
  plainAnswer,
  historyAnswer,
  modelErrorText,
  hugeText,
  hugeTextBytes,
  PARSE_ERROR_TEXT,
};
