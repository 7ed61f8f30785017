"use strict";
// `npm run bench:compare -- <other> [--rounds N] [--quick] [--json file] [benchmarks]`: this tree against
// another one, in one sitting. `<other>` is a built package tree (a directory, e.g. bench/naive) or a git
// revision of this repository, checked out into a worktree under the system's temporary directory that
// borrows this tree's node_modules, and built (kept for the next comparison of that commit; `git worktree
// remove <dir>` removes it). Each round runs bench/run.js (the benchmarks named, or all) once for each tree,
// one after the other, never at the same time, the first of the two alternating from round to round; then
// it prints every figure (bench/stats.js figure()) of both trees, each run's value and the median, which
// median is better, and, where this tree's is worse, whether beyond the spread of the runs (chanceOfWorse).
// `--quick` passes on bench/run.js's smoke run, whose figures mean nothing. Each run's output and JSON go to
// a new directory under the system's temporary directory.
const { execFileSync, spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { commandLine } = require("./cli");
const { treeDescription } = require("./package");
const { median } = require("./stats");

const ROOT = path.join(__dirname, "..");

const USAGE =
  "usage: node bench/compare.js <directory or git revision> [--rounds N] [--quick] [--json file] [benchmarks]";

function parseArgs(argv) {
  const options = { rounds: { type: "string" }, quick: { type: "boolean" }, json: { type: "string" } };
  const { values, positionals } = commandLine(argv, options, 2, USAGE);
  const args = {
    other: positionals[0],
    only: positionals[1],
    rounds: values.rounds === undefined ? 3 : Number(values.rounds),
    json: values.json,
    quick: values.quick === true,
  };
  if (args.other === undefined || !(args.rounds >= 1)) throw new Error(USAGE);
  return args;
}

const git = (...args) => execFileSync("git", ["-C", ROOT, ...args], { encoding: "utf8" }).trim();

/** The other tree's directory: as given, or a built worktree of the revision (made once per commit). */
function otherTree(other) {
  if (fs.existsSync(path.join(other, "package.json"))) return path.resolve(other);
  const commit = git("rev-parse", "--verify", `${other}^{commit}`);
  const dir = path.join(os.tmpdir(), `dbgpt-bench-${commit.slice(0, 12)}`);
  if (!fs.existsSync(path.join(dir, "nodes"))) {
    fs.rmSync(dir, { recursive: true, force: true });
    git("worktree", "prune");
    git("worktree", "add", "--force", "--detach", dir, commit);
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
    execFileSync(process.execPath, ["scripts/build.js"], { cwd: dir, stdio: "inherit" });
  }
  return dir;
}

/** One `bench/run.js` of `tree`, its output in `log`; resolves with its JSON report. */
function benchRun(tree, { only, quick }, log, json) {
  const args = [
    path.join(__dirname, "run.js"),
    ...(only ? [only] : []),
    "--json",
    json,
    ...(quick ? ["--quick"] : []),
  ];
  return new Promise((resolve, reject) => {
    const out = fs.openSync(log, "w");
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, BENCH_PACKAGE: tree },
      stdio: ["ignore", out, out],
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      fs.closeSync(out);
      if (!fs.existsSync(json)) return reject(new Error(`bench/run.js exited with ${code}: see ${log}`));
      resolve(JSON.parse(fs.readFileSync(json, "utf8")));
    });
  });
}

/** Whether `a` is worse than `b` for a figure where `better` ("lower" or "higher") is better. */
function isWorse(a, b, better) {
  return better === "lower" ? a > b : a < b;
}

/**
 * One-sided exact permutation test on the pairwise comparisons (Mann-Whitney's U, ties counting half): the
 * chance that runs of two equal trees, split at random into groups of these sizes, would put "this" at
 * least as far on the worse side as these runs do. Small when every run of this tree is worse than every
 * run of the other (3 runs each: at best 0.05; 5 each: 0.004).
 */
function chanceOfWorse(mine, theirs, better) {
  const worseThan = (a, b) => (a === b ? 0.5 : Number(isWorse(a, b, better)));
  const statistic = (group, rest) => {
    let sum = 0;
    for (const a of group) for (const b of rest) sum += worseThan(a, b);
    return sum;
  };
  const all = [...mine, ...theirs];
  const observed = statistic(mine, theirs);
  let splits = 0;
  let asFar = 0;
  // Every way of choosing which mine.length of all the runs are "this" (a bit mask per way: quick up to 10
  // rounds, 2^20 masks).
  for (let mask = 0; mask < 1 << all.length; mask++) {
    let bits = 0;
    for (let m = mask; m !== 0; m &= m - 1) bits++;
    if (bits !== mine.length) continue;
    const group = all.filter((_, i) => (mask >> i) & 1);
    const rest = all.filter((_, i) => !((mask >> i) & 1));
    splits++;
    if (statistic(group, rest) >= observed - 1e-9) asFar++;
  }
  return asFar / splits;
}

/** Worse beyond the spread of the runs: the test's chance at most this. */
const WORSE_CHANCE = 0.05;

function format(value, unit) {
  const digits = Math.abs(value) >= 100 ? 1 : Math.abs(value) >= 1 ? 2 : 4;
  return `${value.toFixed(digits)}${unit ? ` ${unit}` : ""}`;
}

/** Figure name -> { unit, better, values: { [label]: number[] } }, in the order they first appear. */
function collect(reports) {
  const figures = new Map();
  for (const { label, report } of reports) {
    for (const bench of report.benchmarks) {
      for (const f of bench.figures ?? []) {
        if (!figures.has(f.name)) figures.set(f.name, { unit: f.unit, better: f.better, values: {} });
        const entry = figures.get(f.name);
        (entry.values[label] ??= []).push(f.value);
      }
    }
  }
  return figures;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const trees = { this: ROOT, other: otherTree(args.other) };
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "dbgpt-compare-"));
  process.stdout.write(
    `this: ${treeDescription(trees.this)}\nother: ${treeDescription(trees.other)}\n` +
      `${args.rounds} rounds of ${args.only ?? "every benchmark"}, alternated; runs in ${outDir}\n`,
  );
  const reports = [];
  let failed = false;
  for (let round = 1; round <= args.rounds; round++) {
    const order = round % 2 === 1 ? ["this", "other"] : ["other", "this"];
    for (const label of order) {
      const base = path.join(outDir, `${round}-${label}`);
      const started = Date.now();
      const report = await benchRun(trees[label], args, `${base}.txt`, `${base}.json`);
      const errors = report.benchmarks.filter((b) => b.error).map((b) => b.file);
      const missedChecks = report.benchmarks
        .flatMap((b) => b.targets ?? [])
        .filter((t) => t.target === "all" && !t.met)
        .map((t) => t.name);
      if (errors.length > 0 || missedChecks.length > 0) failed = true;
      process.stdout.write(
        `round ${round}, ${label}: ${Math.round((Date.now() - started) / 1000)} s` +
          `${errors.length > 0 ? `; FAILED: ${errors.join(", ")}` : ""}` +
          `${missedChecks.length > 0 ? `; NOT all correct: ${missedChecks.join("; ")}` : ""}\n`,
      );
      reports.push({ label, report });
    }
  }
  const figures = collect(reports);
  const worse = [];
  const worseBeyondSpread = [];
  process.stdout.write(`\nFigures (each run, median; "this" first):\n`);
  for (const [name, { unit, better, values }] of figures) {
    const mine = values.this ?? [];
    const theirs = values.other ?? [];
    const line = (label, list) =>
      `    ${label.padEnd(5)} ${list.map((v) => format(v, "")).join(", ")}; median ${format(median(list), unit)}`;
    let verdict = "only one tree has it";
    if (mine.length > 0 && theirs.length > 0) {
      const a = median(mine);
      const b = median(theirs);
      const diff = b === 0 ? 0 : ((a - b) / Math.abs(b)) * 100;
      const wins = !isWorse(a, b, better);
      verdict = `${wins ? "this is better or equal" : "this is WORSE"} (${diff >= 0 ? "+" : ""}${diff.toFixed(1)} %)`;
      if (!wins) {
        worse.push(name);
        const chance = chanceOfWorse(mine, theirs, better);
        const beyond = chance <= WORSE_CHANCE;
        if (beyond) worseBeyondSpread.push(name);
        verdict += `, ${beyond ? "BEYOND" : "within"} the runs' spread (chance ${chance.toFixed(3)})`;
      }
    }
    process.stdout.write(`  ${name} (${better} is better): ${verdict}\n`);
    if (mine.length > 0) process.stdout.write(`${line("this", mine)}\n`);
    if (theirs.length > 0) process.stdout.write(`${line("other", theirs)}\n`);
  }
  process.stdout.write(
    `\nthis tree's median is worse on ${worse.length} of ${figures.size} figures` +
      `${worse.length > 0 ? `: ${worse.join("; ")}` : ""}\n` +
      `worse beyond the runs' spread (chance <= ${WORSE_CHANCE} that equal trees' runs would fall so) on ` +
      `${worseBeyondSpread.length}${worseBeyondSpread.length > 0 ? `: ${worseBeyondSpread.join("; ")}` : ""}\n`,
  );
  if (args.json) {
    const summary = Object.fromEntries(figures);
    fs.writeFileSync(
      args.json,
      JSON.stringify({ trees, rounds: args.rounds, figures: summary, worse, worseBeyondSpread }, null, 2),
    );
  }
  if (failed) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err.message);
  process.exitCode = 1;
});
