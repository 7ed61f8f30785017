"use strict";
/**
 * Which built tree of the package the benchmarks measure: this working tree, or BENCH_PACKAGE (another
 * checkout, built, e.g. an older commit in a git worktree, or bench/naive) to compare two versions on one
 * machine in one sitting. Node-RED links it in (bench/nodered.js) and the client benchmarks load its client.
 */
const fs = require("node:fs");
const path = require("node:path");

const PACKAGE_DIR = process.env.BENCH_PACKAGE
  ? path.resolve(process.env.BENCH_PACKAGE)
  : path.join(__dirname, "..");

/**
 * The measured tree's client module (nodes/lib/client), or undefined for a package without one (the
 * naive baseline, bench/naive): the benchmarks then measure only its nodes.
 */
function client() {
  const file = path.join(PACKAGE_DIR, "nodes", "lib", "client", "index.js");
  return fs.existsSync(file) ? require(file) : undefined;
}

module.exports = { PACKAGE_DIR, client };
