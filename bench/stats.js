"use strict";
// Small helpers shared by the benchmarks.

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Runs each contender `rounds` times after `warmup` unmeasured runs each, alternating them and reversing
 * the order every round (A B C, C B A, ...) so that none always runs first. Returns the samples per name.
 */
async function alternate(contenders, rounds, warmup = 1) {
  const names = Object.keys(contenders);
  const samples = Object.fromEntries(names.map((name) => [name, []]));
  for (let i = 0; i < warmup; i++) for (const name of names) await contenders[name]();
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) samples[name].push(await contenders[name]());
  }
  return samples;
}

function formatRate(perSecond) {
  return `${Math.round(perSecond).toLocaleString("en-US")}/s`;
}

function mib(bytes) {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** A line for the targets summary. */
function target(name, value, wanted, met) {
  return { name, value, target: wanted, met };
}

module.exports = { median, alternate, formatRate, mib, target };
