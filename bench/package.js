"use strict";
/**
 * Which built tree of the package the benchmarks measure: this working tree, or BENCH_PACKAGE (another
 * checkout, built, e.g. an older commit in a git worktree, or bench/naive) to compare two versions on one
 * machine in one sitting. Node-RED links it in (bench/nodered.js) and the client benchmarks load its client.
 */
const { execFileSync } = require("node:child_process");
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

/** A tree as the benchmarks print it: its directory and commit, when it is a git checkout. */
function treeDescription(dir = PACKAGE_DIR) {
  let commit = "";
  try {
    commit = execFileSync("git", ["-C", dir, "log", "-1", "--format=%h %s"], { encoding: "utf8" }).trim();
  } catch {
    commit = "(not a git checkout)";
  }
  return `${dir} at ${commit.length > 90 ? `${commit.slice(0, 87)}...` : commit}`;
}

module.exports = { PACKAGE_DIR, client, treeDescription };
