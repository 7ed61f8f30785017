"use strict";
// FastAPI + pydantic v2 request validation of ChatCompletionRequestBody, reduced to what DB-GPT's
// global handler shows: "<loc joined by .>:<msg>;" per error, in field order (dbgpt-api.md §3, §7).
const { pyLoads, PyJsonDecodeError } = require("./pyjson");

const STRING = "Input should be a valid string";
const BOOL_WORDS = new Set(["0", "off", "f", "false", "n", "no", "1", "on", "t", "true", "y", "yes"]);
const MESSAGE_LIST_LABEL =
  "list[union[ChatCompletionDeveloperMessageParam,ChatCompletionSystemMessageParam," +
  "ChatCompletionUserMessageParam,ChatCompletionAssistantMessageParam," +
  "ChatCompletionToolMessageParam,ChatCompletionFunctionMessageParam]]";

function isObject(v) {
  return v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype;
}

function checkStr(v) {
  return typeof v === "string" ? null : STRING;
}

function checkFloat(v) {
  if (typeof v === "number" || typeof v === "boolean") return null;
  if (typeof v === "string") {
    const t = v.trim().toLowerCase();
    if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t) || /^[+-]?(inf|infinity|nan)$/.test(t)) return null;
    return "Input should be a valid number, unable to parse string as a number";
  }
  return "Input should be a valid number";
}

function checkInt(v) {
  if (typeof v === "boolean") return null;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) return "Input should be a finite number";
    return Number.isInteger(v)
      ? null
      : "Input should be a valid integer, got a number with a fractional part";
  }
  if (typeof v === "string") {
    return /^\s*[+-]?\d+\s*$/.test(v)
      ? null
      : "Input should be a valid integer, unable to parse string as an integer";
  }
  return "Input should be a valid integer";
}

function checkBool(v) {
  if (typeof v === "boolean") return null;
  if (typeof v === "number") {
    return v === 0 || v === 1 ? null : "Input should be a valid boolean, unable to interpret input";
  }
  if (typeof v === "string") {
    return BOOL_WORDS.has(v.trim().toLowerCase())
      ? null
      : "Input should be a valid boolean, unable to interpret input";
  }
  return "Input should be a valid boolean";
}

/** Errors of Optional[Union[str, List[str]]] (stop). */
function stopErrors(v) {
  if (typeof v === "string") return [];
  const errs = [["str", STRING]];
  if (!Array.isArray(v)) errs.push(["list[str]", "Input should be a valid list"]);
  else {
    const bad = v.map((x, i) => [i, x]).filter(([, x]) => typeof x !== "string");
    if (bad.length === 0) return [];
    for (const [i] of bad) errs.push([`list[str].${i}`, STRING]);
  }
  return errs;
}

/**
 * Errors of messages: Union[str, List[ChatCompletionMessageParam]]. Approximation: a list item is
 * accepted when it is an object whose `content` is a string or a list; other items give one error per
 * union member (the real text names every OpenAI message TypedDict).
 */
function messagesErrors(v) {
  if (typeof v === "string") return [];
  const errs = [["str", STRING]];
  if (!Array.isArray(v)) {
    errs.push([MESSAGE_LIST_LABEL, "Input should be a valid list"]);
    return errs;
  }
  let bad = false;
  v.forEach((item, i) => {
    if (isObject(item) && (typeof item.content === "string" || Array.isArray(item.content))) return;
    bad = true;
    const members = MESSAGE_LIST_LABEL.slice("list[union[".length, -2).split(",");
    for (const member of members) {
      errs.push([
        `${MESSAGE_LIST_LABEL}.${i}.${member}`,
        isObject(item) ? "Field required" : "Input should be a valid dictionary",
      ]);
    }
  });
  return bad ? errs : [];
}

// ChatCompletionRequestBody fields in pydantic order: APIChatCompletionRequest's, then the subclass's.
const FIELDS = [
  ["model", "str", true],
  ["messages", "messages", true],
  ["temperature", "float"],
  ["top_p", "float"],
  ["top_k", "int"],
  ["n", "int"],
  ["max_tokens", "int"],
  ["stop", "stop"],
  ["stream", "bool"],
  ["user", "str"],
  ["repetition_penalty", "float"],
  ["frequency_penalty", "float"],
  ["presence_penalty", "float"],
  ["max_new_tokens", "int"],
  ["conv_uid", "str"],
  ["span_id", "str"],
  ["chat_mode", "str"],
  ["chat_param", "str"],
  ["user_name", "str"],
  ["sys_code", "str"],
  ["incremental", "bool", false, true],
  ["enable_vis", "bool", false, true],
];
const SCALAR = { str: checkStr, float: checkFloat, int: checkInt, bool: checkBool };

/** Validation errors of a parsed body as [loc, msg] pairs (loc without the leading "body"). */
function bodyErrors(body) {
  if (body === null || body === undefined) return [["", "Field required"]];
  if (!isObject(body))
    return [["", "Input should be a valid dictionary or instance of ChatCompletionRequestBody"]];
  const errs = [];
  for (const [name, type, required, notNull] of FIELDS) {
    if (!(name in body)) {
      if (required) errs.push([name, "Field required"]);
      continue;
    }
    const v = body[name];
    if (v === null && !required && !notNull) continue;
    if (type === "messages") {
      for (const [sub, msg] of messagesErrors(v)) errs.push([`${name}.${sub}`, msg]);
    } else if (type === "stop") {
      for (const [sub, msg] of stopErrors(v)) errs.push([`${name}.${sub}`, msg]);
    } else {
      const msg = SCALAR[type](v);
      if (msg) errs.push([name, msg]);
    }
  }
  return errs;
}

function errMsg(errs) {
  return errs.map(([loc, msg]) => `body${loc === "" ? "" : "." + loc}:${msg};`).join("");
}

/** Coerces a valid value the way pydantic lax mode would (numeric strings, 0/1 booleans). */
function toBool(v, dflt) {
  if (v === undefined) return dflt;
  if (v === null) return null;
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v === 1;
  return ["1", "on", "t", "true", "y", "yes"].includes(String(v).trim().toLowerCase());
}

const JSON_TYPE = /^application\/([^;\s]*\+)?json\s*(;|$)/i;

/**
 * How FastAPI reads a body: returns { kind: "ok", value } | { kind: "json-error", pos } |
 * { kind: "parse-error" } (undecodable bytes). Empty bytes read as "no body" (value undefined).
 */
function readBody(buffer, contentType) {
  if (buffer.length === 0) return { kind: "ok", value: undefined };
  if (contentType && !JSON_TYPE.test(contentType.trim())) return { kind: "ok", value: buffer };
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(buffer);
  } catch {
    return { kind: "parse-error" };
  }
  try {
    return { kind: "ok", value: JSON.parse(text) };
  } catch {
    try {
      return { kind: "ok", value: pyLoads(text) };
    } catch (err) {
      if (err instanceof PyJsonDecodeError) return { kind: "json-error", pos: err.pos };
      throw err;
    }
  }
}

module.exports = { bodyErrors, errMsg, readBody, toBool };
