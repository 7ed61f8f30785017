"use strict";
// FNV-1a over UTF-16 code units, continued piece by piece: a checksum of an answer that needs no copy of it
// (the counting node checks a million-delta answer without building a second one).

const FNV_OFFSET = 0x811c9dc5;

function fnv1a(text, hash = FNV_OFFSET) {
  let h = hash | 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

module.exports = { FNV_OFFSET, fnv1a };
