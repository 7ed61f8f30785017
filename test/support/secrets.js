"use strict";
// The tests' one way to look for an API key in what the package produced: every piece of it of a given
// length (a fragment left at a cut point or across stream deltas counts as much as the whole key).

/** Every string in `value`, object keys too (numbers left out: a hex key's digits can occur in them). */
function stringsOf(value) {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(stringsOf);
  if (value !== null && typeof value === "object")
    return Object.entries(value).flatMap(([k, v]) => [k, ...stringsOf(v)]);
  return [];
}

/** Every `size`-character piece of `key` found in `value` (a text, or the strings of a value). */
function keyPieces(value, key, size = 6) {
  const text = stringsOf(value).join("\n");
  const found = [];
  for (let i = 0; i + size <= key.length; i++) {
    const piece = key.slice(i, i + size);
    if (text.includes(piece)) found.push(piece);
  }
  return found;
}

module.exports = { keyPieces };
