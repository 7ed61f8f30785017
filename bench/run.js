"use strict";
// `npm run bench` (after the build): runs every bench/*.bench.js against one emulator process and prints
// each benchmark's lines. A benchmark exports { name, run({ emulatorUrl }) -> string[] }.
const fs = require("node:fs");
const path = require("node:path");
const { startEmulatorProcess } = require("./emulator");

async function main() {
  const only = process.argv[2];
  const files = fs
    .readdirSync(__dirname)
    .filter((file) => file.endsWith(".bench.js") && (only === undefined || file.includes(only)))
    .sort();
  if (files.length === 0) throw new Error(`no benchmark matches ${only}`);
  const emulator = await startEmulatorProcess();
  let failed = false;
  try {
    for (const file of files) {
      const bench = require(path.join(__dirname, file));
      process.stdout.write(`\n${bench.name}\n`);
      try {
        for (const line of await bench.run({ emulatorUrl: emulator.url }))
          process.stdout.write(`  ${line}\n`);
      } catch (err) {
        failed = true;
        process.stdout.write(`  FAILED: ${err.stack || err}\n`);
      }
    }
  } finally {
    await emulator.stop();
  }
  if (failed) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
