"use strict";
// Preload for `node-red-dev validate` (NODE_OPTIONS="--require scripts/offline-catalogue.js").
//
// node-red-dev fetches https://catalogue.nodered.org/catalogue.json with axios for two checks (P08 "no
// similarly named package", N01 "node types are unique"). CI has no route to that host, so this answers
// exactly that request with an empty catalogue ({ modules: [] }) and leaves every other request alone: the
// npm registry look-ups (P06, P07, D02, D03) still go out for real.
//
// It hooks axios as it is loaded (node-red-dev bundles its own copy) and adds a request interceptor that
// swaps in a local adapter for the catalogue URL only. Each answered request is noted on stderr.
const Module = require("node:module");

const CATALOGUE_URL = "https://catalogue.nodered.org/catalogue.json";
const EMPTY_CATALOGUE = {
  name: "Node-RED Community catalogue (offline, empty)",
  updated_at: null,
  modules: [],
};

function isCatalogueRequest(config) {
  try {
    const url = new URL(config.url, config.baseURL || undefined);
    return url.origin + url.pathname === CATALOGUE_URL && (config.method || "get").toLowerCase() === "get";
  } catch {
    return false;
  }
}

function answerFromCatalogue(config) {
  process.stderr.write(`offline-catalogue: answered GET ${CATALOGUE_URL} with an empty catalogue\n`);
  return Promise.resolve({
    data: JSON.parse(JSON.stringify(EMPTY_CATALOGUE)),
    status: 200,
    statusText: "OK",
    headers: { "content-type": "application/json" },
    config,
    request: {},
  });
}

const hooked = new WeakSet();

function hookAxios(axios) {
  if (!axios || typeof axios !== "function" || !axios.interceptors || hooked.has(axios)) return;
  hooked.add(axios);
  axios.interceptors.request.use((config) => {
    if (isCatalogueRequest(config)) config.adapter = answerFromCatalogue;
    return config;
  });
}

const originalLoad = Module._load;
Module._load = function loadWithCatalogueHook(request, ...rest) {
  const exported = originalLoad.call(this, request, ...rest);
  if (request === "axios") hookAxios(exported);
  return exported;
};
