"use strict";
// Small helpers shared by the benchmarks.

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Runs each contender `rounds` times after one unmeasured warm-up each, alternating them and reversing
 * the order every round (A B, B A, ...) so neither always runs first. Returns the samples per name.
 */
async function alternate(contenders, rounds) {
  const names = Object.keys(contenders);
  const samples = Object.fromEntries(names.map((name) => [name, []]));
  for (const name of names) await contenders[name]();
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) samples[name].push(await contenders[name]());
  }
  return samples;
}

function formatRate(perSecond) {
  return `${Math.round(perSecond).toLocaleString("en-US")}/s`;
}

module.exports = { median, alternate, formatRate };
