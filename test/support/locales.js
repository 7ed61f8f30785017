"use strict";
/**
 * The package's own message catalogs, as the editor loads them:
 *
 *   nodeCatalog(lang, type)   nodes/locales/<lang>/<type>.json, the whole file
 *   nodeStrings(lang, type)   its strings for the node type (the file's <type> entry)
 */
const fs = require("node:fs");
const path = require("node:path");

const LOCALES_DIR = path.resolve(__dirname, "..", "..", "nodes", "locales");

function nodeCatalog(lang, type) {
  return JSON.parse(fs.readFileSync(path.join(LOCALES_DIR, lang, `${type}.json`), "utf8"));
}

function nodeStrings(lang, type) {
  return nodeCatalog(lang, type)[type];
}

module.exports = { LOCALES_DIR, nodeCatalog, nodeStrings };
