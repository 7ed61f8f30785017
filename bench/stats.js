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

/**
 * A figure as a number, for comparing two trees (bench/compare.js): `better` is "lower" or "higher".
 * Every judged figure is one, and so are the figures printed beside them that a change could make worse.
 */
function figure(name, value, unit, better) {
  return { name, value, unit, better };
}

/**
 * Sizes for quick smoke runs: BENCH_SCALE (set by `node bench/run.js --quick` to 0.01) multiplies the
 * counts of deltas and chats, never below `min`; BENCH_QUICK makes `repeats` fall back to `quick`.
 * A quick run proves the code works end to end; its figures are not comparable with the targets.
 */
const SCALE = Number(process.env.BENCH_SCALE || 1);
const QUICK = process.env.BENCH_QUICK === "1";

function scaled(n, min = 1) {
  return Math.max(min, Math.round(n * SCALE));
}

function repeats(full, quick = 1) {
  return QUICK ? quick : full;
}

/** A number with thousands separators. */
function count(n) {
  return n.toLocaleString("en-US");
}

module.exports = {
  median,
  alternate,
  formatRate,
  mib,
  target,
  figure,
  scaled,
  repeats,
  count,
  SCALE,
  QUICK,
};
