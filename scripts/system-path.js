"use strict";
// PATH without node_modules/.bin folders, for spawning the system npm rather than node_modules/.bin/npm
// (npm 10, a dependency of Node-RED, whose `pack` runs the `prepare` script even with --ignore-scripts and
// so rebuilds nodes/lib under running tests): npm scripts and npx put that folder first on PATH.
const path = require("node:path");

const SYSTEM_PATH = (process.env.PATH || "")
  .split(path.delimiter)
  .filter((dir) => !/node_modules[\\/]\.bin[\\/]?$/.test(dir))
  .join(path.delimiter);

module.exports = { SYSTEM_PATH };
