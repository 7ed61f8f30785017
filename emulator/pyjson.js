"use strict";
// JSON the way DB-GPT's Python code writes and reads it.
// - pyDumps: json.dumps(value, ensure_ascii=False) with its default ", " and ": " separators. Built
//   from the value itself, never by re-spacing JSON.stringify output (strings may contain ", ").
// - compact: pydantic model_dump_json / FastAPI JSONResponse (no spaces, raw UTF-8) = JSON.stringify.
// - pyLoads: json.loads, reporting errors at the position Python's C scanner reports (code points).

/** Python json.dumps(value, ensure_ascii=False). Object keys keep insertion order; undefined is skipped. */
function pyDumps(value) {
  if (value === null || value === undefined) return "null";
  switch (typeof value) {
    case "string":
      // Python escapes ", \, \n, \r, \t, \b, \f and other C0 controls as \u00xx: the same set as JSON.stringify.
      return JSON.stringify(value);
    case "number":
      if (Number.isNaN(value)) return "NaN";
      if (!Number.isFinite(value)) return value > 0 ? "Infinity" : "-Infinity";
      return String(value);
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      if (Array.isArray(value)) return "[" + value.map(pyDumps).join(", ") + "]";
      const parts = [];
      for (const key of Object.keys(value)) {
        if (value[key] === undefined) continue;
        parts.push(JSON.stringify(key) + ": " + pyDumps(value[key]));
      }
      return "{" + parts.join(", ") + "}";
    }
    default:
      throw new TypeError(`pyDumps: cannot serialize ${typeof value}`);
  }
}

/** Compact JSON (pydantic model_dump_json, FastAPI responses). */
function compact(value) {
  return JSON.stringify(value);
}

class PyJsonDecodeError extends Error {
  constructor(msg, pos) {
    super(`${msg}: char ${pos}`);
    this.msg = msg;
    this.pos = pos;
  }
}

const WS = new Set([" ", "\t", "\n", "\r"]);
const ESCAPES = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/**
 * Python json.loads(text). `text` is already decoded; positions are code-point indexes like Python's.
 * Throws PyJsonDecodeError { msg, pos }. Accepts NaN, Infinity and -Infinity like Python.
 */
function pyLoads(text) {
  const s = Array.from(text);
  const n = s.length;
  const skip = (i) => {
    while (i < n && WS.has(s[i])) i++;
    return i;
  };
  // Returns [value, nextIndex]; a value that cannot start at i throws StopIteration-like {stop: i}.
  const scanOnce = (i) => {
    if (i >= n) throw { stop: i };
    const c = s[i];
    if (c === '"') return scanString(i + 1);
    if (c === "{") return parseObject(i + 1);
    if (c === "[") return parseArray(i + 1);
    if (c === "n" && s.slice(i, i + 4).join("") === "null") return [null, i + 4];
    if (c === "t" && s.slice(i, i + 4).join("") === "true") return [true, i + 4];
    if (c === "f" && s.slice(i, i + 5).join("") === "false") return [false, i + 5];
    if (c === "N" && s.slice(i, i + 3).join("") === "NaN") return [NaN, i + 3];
    if (c === "I" && s.slice(i, i + 8).join("") === "Infinity") return [Infinity, i + 8];
    if (c === "-" && s.slice(i, i + 9).join("") === "-Infinity") return [-Infinity, i + 9];
    return matchNumber(i);
  };
  const isDigit = (c) => c !== undefined && c >= "0" && c <= "9";
  const matchNumber = (start) => {
    let i = start;
    if (s[i] === "-") {
      i++;
      if (i >= n) throw { stop: start };
    }
    if (s[i] >= "1" && s[i] <= "9") {
      i++;
      while (isDigit(s[i])) i++;
    } else if (s[i] === "0") {
      i++;
    } else {
      throw { stop: start };
    }
    if (s[i] === "." && isDigit(s[i + 1])) {
      i += 2;
      while (isDigit(s[i])) i++;
    }
    if (s[i] === "e" || s[i] === "E") {
      const eStart = i;
      i++;
      if (s[i] === "+" || s[i] === "-") i++;
      if (isDigit(s[i])) {
        while (isDigit(s[i])) i++;
      } else {
        i = eStart;
      }
    }
    return [Number(s.slice(start, i).join("")), i];
  };
  const scanString = (end) => {
    const begin = end - 1;
    let out = "";
    let i = end;
    for (;;) {
      let next = i;
      while (next < n && s[next] !== '"' && s[next] !== "\\") {
        if (s[next].codePointAt(0) <= 0x1f) throw new PyJsonDecodeError("Invalid control character at", next);
        next++;
      }
      if (next >= n) throw new PyJsonDecodeError("Unterminated string starting at", begin);
      out += s.slice(i, next).join("");
      if (s[next] === '"') return [out, next + 1];
      next++; // past the backslash
      if (next >= n) throw new PyJsonDecodeError("Unterminated string starting at", begin);
      const esc = s[next];
      if (esc !== "u") {
        if (!(esc in ESCAPES)) throw new PyJsonDecodeError("Invalid \\escape", next - 1);
        out += ESCAPES[esc];
        i = next + 1;
        continue;
      }
      const hex = (at) => {
        const h = s.slice(at, at + 4).join("");
        if (h.length < 4 || !/^[0-9a-fA-F]{4}$/.test(h))
          throw new PyJsonDecodeError("Invalid \\uXXXX escape", at - 1);
        return parseInt(h, 16);
      };
      let code = hex(next + 1);
      i = next + 5;
      if (code >= 0xd800 && code <= 0xdbff && s[i] === "\\" && s[i + 1] === "u") {
        const low = hex(i + 2);
        if (low >= 0xdc00 && low <= 0xdfff) {
          code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          i += 6;
        }
      }
      out += String.fromCodePoint(code);
    }
  };
  const parseObject = (start) => {
    const obj = {};
    let i = skip(start);
    if (i < n && s[i] === "}") return [obj, i + 1];
    for (;;) {
      if (i >= n || s[i] !== '"')
        throw new PyJsonDecodeError("Expecting property name enclosed in double quotes", i);
      const [key, afterKey] = scanString(i + 1);
      i = skip(afterKey);
      if (i >= n || s[i] !== ":") throw new PyJsonDecodeError("Expecting ':' delimiter", i);
      i = skip(i + 1);
      const [value, afterValue] = scanOnce(i);
      obj[key] = value;
      i = skip(afterValue);
      if (i < n && s[i] === "}") return [obj, i + 1];
      if (i >= n || s[i] !== ",") throw new PyJsonDecodeError("Expecting ',' delimiter", i);
      i = skip(i + 1);
    }
  };
  const parseArray = (start) => {
    const arr = [];
    let i = skip(start);
    if (i < n && s[i] === "]") return [arr, i + 1];
    for (;;) {
      const [value, afterValue] = scanOnce(i);
      arr.push(value);
      i = skip(afterValue);
      if (i < n && s[i] === "]") return [arr, i + 1];
      if (i >= n || s[i] !== ",") throw new PyJsonDecodeError("Expecting ',' delimiter", i);
      i = skip(i + 1);
    }
  };

  let value;
  let end;
  try {
    [value, end] = scanOnce(skip(0));
  } catch (err) {
    if (err && typeof err.stop === "number") throw new PyJsonDecodeError("Expecting value", err.stop);
    throw err;
  }
  end = skip(end);
  if (end !== n) throw new PyJsonDecodeError("Extra data", end);
  return value;
}

module.exports = { pyDumps, compact, pyLoads, PyJsonDecodeError };
