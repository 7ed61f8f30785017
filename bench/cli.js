"use strict";
// The command line of a bench script (bench/run.js, bench/compare.js).
const util = require("node:util");

/**
 * `argv` read with util.parseArgs (`options`, positionals allowed up to `maxPositionals`); an unknown or
 * malformed option, or too many positionals, throws with `usage` on the line after the reason.
 */
function commandLine(argv, options, maxPositionals, usage) {
  let parsed;
  try {
    parsed = util.parseArgs({ args: argv, options, allowPositionals: true });
  } catch (err) {
    throw new Error(`${err.message}\n${usage}`);
  }
  if (parsed.positionals.length > maxPositionals) throw new Error(`too many arguments\n${usage}`);
  return parsed;
}

module.exports = { commandLine };
