"use strict";
// `npm run bench` (after the build): runs every bench/*.bench.js (or those whose file name contains the
// first argument; several parts separated by commas) against one emulator process, printing the machine,
// each benchmark's lines and a summary of the targets (met / MISSED). `--json <file>` also writes
// everything as JSON. `--quick` is a smoke run: BENCH_SCALE=0.01 (deltas and chats scaled down) and
// BENCH_QUICK=1 (one run or a few rounds each), which proves the code works end to end in a minute or two;
// its figures mean nothing against the targets. A benchmark exports
// { name, run({ emulatorUrl, emulator }) -> { lines, targets: [{ name, value, target, met }], data } }.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { commandLine } = require("./cli");
const { startEmulatorProcess } = require("./emulator");

const USAGE = "usage: node bench/run.js [--quick] [--json file] [benchmarks]";

function parseArgs(argv) {
  const options = { quick: { type: "boolean" }, json: { type: "string" } };
  const { values, positionals } = commandLine(argv, options, 1, USAGE);
  return { only: positionals[0], json: values.json, quick: values.quick === true };
}

function cpuModel() {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync("/proc/cpuinfo", "utf8"));
    if (match) return match[1].trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? "unknown";
}

function loadAverage() {
  return os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(" ");
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.quick) {
    // Read by bench/stats.js, which the benchmarks load below.
    process.env.BENCH_SCALE = process.env.BENCH_SCALE || "0.01";
    process.env.BENCH_QUICK = "1";
  }
  const files = fs
    .readdirSync(__dirname)
    .filter(
      (file) =>
        file.endsWith(".bench.js") &&
        (args.only === undefined || args.only.split(",").some((part) => file.includes(part))),
    )
    .sort();
  if (files.length === 0) throw new Error(`no benchmark matches ${args.only}`);
  const machine = {
    date: new Date().toISOString(),
    node: process.version,
    nodeRed: require("node-red/package.json").version,
    undici: require("undici/package.json").version,
    cpu: cpuModel(),
    cores: os.cpus().length,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    loadBefore: loadAverage(),
    package: require("./package").treeDescription(),
    scale: process.env.BENCH_SCALE || "1",
    quick: process.env.BENCH_QUICK === "1",
  };
  process.stdout.write(
    `${machine.date}  Node.js ${machine.node}  Node-RED ${machine.nodeRed}  undici ${machine.undici}\n` +
      `${machine.cpu} (${machine.cores} cores, ${machine.memory})\n` +
      `package measured: ${machine.package}\n` +
      `load average before: ${machine.loadBefore}\n` +
      (machine.quick || machine.scale !== "1"
        ? `SCALED RUN (BENCH_SCALE=${machine.scale}${machine.quick ? ", quick" : ""}): the figures are not comparable with the targets\n`
        : ""),
  );
  const started = Date.now();
  const emulator = await startEmulatorProcess();
  const report = { machine, benchmarks: [] };
  let failed = false;
  try {
    for (const file of files) {
      const bench = require(path.join(__dirname, file));
      process.stdout.write(`\n${bench.name}\n`);
      const benchStarted = Date.now();
      try {
        const result = await bench.run({ emulatorUrl: emulator.url, emulator });
        for (const line of result.lines) process.stdout.write(`  ${line}\n`);
        const seconds = ((Date.now() - benchStarted) / 1000).toFixed(0);
        process.stdout.write(`  (${seconds} s, load average ${loadAverage()})\n`);
        report.benchmarks.push({
          file,
          name: bench.name,
          seconds: Number(seconds),
          load: loadAverage(),
          ...result,
        });
      } catch (err) {
        failed = true;
        process.stdout.write(`  FAILED: ${err.stack || err}\n`);
        report.benchmarks.push({ file, name: bench.name, error: String(err.stack || err) });
      }
    }
  } finally {
    await emulator.stop();
  }
  machine.loadAfter = loadAverage();
  machine.seconds = Math.round((Date.now() - started) / 1000);
  const targets = report.benchmarks.flatMap((b) => b.targets || []);
  process.stdout.write(
    `\nTargets (load average after: ${machine.loadAfter}; ${machine.seconds} s in all` +
      `${machine.quick || machine.scale !== "1" ? `; SCALED RUN, BENCH_SCALE=${machine.scale}` : ""})\n`,
  );
  for (const t of targets) {
    process.stdout.write(`  ${t.met ? "met   " : "MISSED"}  ${t.name}: ${t.value} (target ${t.target})\n`);
  }
  if (args.json) fs.writeFileSync(args.json, JSON.stringify(report, null, 2));
  if (failed) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
