"use strict";
// Fault specs (README.md, "Faults"): normalised once when queued, matched per request.

const KIND_KEYS = [
  "stall",
  "drip",
  "cutAfterBytes",
  "cutAfterEvents",
  "splitAt",
  "splitEvery",
  "hugeEvent",
  "redirect",
  "status",
  "rawEvents",
  "firstEventDelayMs",
  "eventsPerWrite",
  "bom",
  "heartbeats",
  "encoding",
  "bigHeader",
  "deepUsage",
];
const FIELD_KEYS = [
  "match",
  "times",
  "events",
  "bytes",
  "intervalMs",
  "body",
  "contentType",
  "location",
  "end",
  "headers",
];
const STALLS = ["before-headers", "after-headers", "after-events"];

function fail(message) {
  const err = new Error(`emulator fault: ${message}`);
  err.code = "EMULATOR_BAD_FAULT";
  throw err;
}

function nonNegativeInt(value, name) {
  if (!Number.isInteger(value) || value < 0) fail(`${name} must be a non-negative integer`);
  return value;
}

/** Validates a spec and returns its normalised form (accepts the nested and the flat field styles). */
function normalizeFault(spec, id) {
  if (spec === null || typeof spec !== "object" || Array.isArray(spec)) fail("spec must be an object");
  for (const key of Object.keys(spec)) {
    if (!KIND_KEYS.includes(key) && !FIELD_KEYS.includes(key)) fail(`unknown key "${key}"`);
  }
  const f = { id, match: {}, remaining: 1, hits: 0 };
  if (spec.match !== undefined) {
    if (spec.match === null || typeof spec.match !== "object") fail("match must be an object");
    for (const key of Object.keys(spec.match)) {
      if (!["path", "question", "chatMode"].includes(key)) fail(`unknown match key "${key}"`);
      if (typeof spec.match[key] !== "string") fail(`match.${key} must be a string`);
    }
    f.match = { ...spec.match };
  }
  if (spec.times !== undefined) f.remaining = nonNegativeInt(spec.times, "times") || Infinity;

  if (spec.redirect !== undefined) {
    const r = typeof spec.redirect === "string" ? { location: spec.redirect } : spec.redirect || {};
    const status = r.status ?? (typeof spec.status === "number" ? spec.status : 302);
    const location = r.location ?? spec.location;
    if (typeof location !== "string") fail("redirect needs a location");
    f.redirect = { status: nonNegativeInt(status, "redirect.status"), location };
  } else if (spec.status !== undefined) {
    const s = typeof spec.status === "number" ? { status: spec.status } : spec.status || {};
    f.status = {
      status: nonNegativeInt(s.status, "status.status"),
      body: s.body ?? spec.body ?? "",
      contentType: s.contentType ?? spec.contentType,
      headers: s.headers ?? spec.headers,
    };
  }
  if (spec.stall !== undefined) {
    if (!STALLS.includes(spec.stall)) fail(`stall must be one of ${STALLS.join(", ")}`);
    f.stall = spec.stall;
    if (spec.stall === "after-events") f.stallEvents = nonNegativeInt(spec.events ?? 0, "events");
  }
  if (spec.drip !== undefined) {
    const d = typeof spec.drip === "object" && spec.drip !== null ? spec.drip : {};
    const bytes = d.bytes ?? (typeof spec.drip === "number" ? spec.drip : spec.bytes) ?? 1;
    f.drip = {
      bytes: Math.max(1, nonNegativeInt(bytes, "drip.bytes")),
      intervalMs: nonNegativeInt(d.intervalMs ?? spec.intervalMs ?? 1, "drip.intervalMs"),
    };
  }
  if (spec.cutAfterBytes !== undefined) f.cutAfterBytes = nonNegativeInt(spec.cutAfterBytes, "cutAfterBytes");
  if (spec.cutAfterEvents !== undefined)
    f.cutAfterEvents = nonNegativeInt(spec.cutAfterEvents, "cutAfterEvents");
  if (spec.splitAt !== undefined) {
    if (!Array.isArray(spec.splitAt)) fail("splitAt must be an array of byte offsets");
    f.splitAt = spec.splitAt.map((o) => nonNegativeInt(o, "splitAt[]")).sort((a, b) => a - b);
  }
  if (spec.splitEvery !== undefined)
    f.splitEvery = Math.max(1, nonNegativeInt(spec.splitEvery, "splitEvery"));
  if (spec.hugeEvent !== undefined) f.hugeEvent = nonNegativeInt(spec.hugeEvent, "hugeEvent");
  if (spec.rawEvents !== undefined) {
    if (!Array.isArray(spec.rawEvents) || spec.rawEvents.some((e) => typeof e !== "string")) {
      fail("rawEvents must be an array of strings");
    }
    f.rawEvents = spec.rawEvents.slice();
    f.rawEnd = spec.end ?? "close";
    if (!["close", "keep-alive", "destroy"].includes(f.rawEnd))
      fail('end must be "close", "keep-alive" or "destroy"');
  }
  if (spec.firstEventDelayMs !== undefined)
    f.firstEventDelayMs = nonNegativeInt(spec.firstEventDelayMs, "firstEventDelayMs");
  if (spec.eventsPerWrite !== undefined)
    f.eventsPerWrite = Math.max(1, nonNegativeInt(spec.eventsPerWrite, "eventsPerWrite"));
  if (spec.bom !== undefined) f.bom = Boolean(spec.bom);
  if (spec.heartbeats !== undefined) f.heartbeats = Boolean(spec.heartbeats);
  if (spec.encoding !== undefined) {
    if (typeof spec.encoding !== "string" || spec.encoding === "") fail("encoding must be a string");
    f.encoding = spec.encoding;
  }
  if (spec.bigHeader !== undefined) f.bigHeader = nonNegativeInt(spec.bigHeader, "bigHeader");
  if (spec.deepUsage !== undefined) f.deepUsage = nonNegativeInt(spec.deepUsage, "deepUsage");
  if (!KIND_KEYS.some((k) => spec[k] !== undefined)) fail(`needs one of ${KIND_KEYS.join(", ")}`);
  return f;
}

/** Does fault f apply to this request? `info` = { path, question, chatMode } (question only for chat). */
function faultMatches(f, info) {
  const m = f.match;
  if (m.path !== undefined && !info.path.startsWith(m.path)) return false;
  if (m.question !== undefined && info.question !== m.question) return false;
  if (m.chatMode !== undefined && info.chatMode !== m.chatMode) return false;
  return true;
}

module.exports = { normalizeFault, faultMatches };
