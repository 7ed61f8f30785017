"use strict";
/**
 * Node-RED in a child process, for the tests, `npm start` and the benchmarks: one place that prepares a user
 * dir (settings.js, flows, plain credentials), puts this package into it (packed and installed as a user
 * would, or the working tree linked in) and starts red.js on a loopback port.
 *
 *   writeUserDir(dir, { settings, flows, credentials })   baseSettings({ port, lang })   deepMerge(a, b)
 *   linkPackage(dir, from?)     the working tree (or `from`) as node_modules/<name> (what `npm link` gives)
 *   installedTemplate()         -> Promise<dir>: the packed tarball (`npm pack`, once per process)
 *                                  installed into a user dir template outside the repo
 *   launchNodeRed({ userDir, port, lang, env, echo, nodeArgs, startTimeoutMs, readyPath })
 *                               -> Promise<{ url, port, userDir, child, logs(), waitForLog(re, ms, from),
 *                                            deploy(flows, credentials), subscribeDebug(), inject(id),
 *                                            stop(graceMs), exited }>
 *   nodeRedHome(), nodeRedVersion(), freePort(), makeTempDir(prefix), removeTempDir(dir)
 *
 * NODE_RED_HOME picks the Node-RED to run (its package dir, or an npm prefix holding it). Every child
 * process and temporary directory made here is removed when this process exits.
 */
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const { setTimeout: delay } = require("node:timers/promises");
const { SYSTEM_PATH } = require("./system-path");

const ROOT = path.resolve(__dirname, "..");
const PACK_DIR = path.join(ROOT, ".tmp", "pack");
const PKG = require(path.join(ROOT, "package.json"));
const EXIT_WITH_PARENT = path.join(__dirname, "exit-with-parent.js");

const NODE_RED_START_MS = 60000;
const NPM_MS = 300000;

/** Every child process and temporary directory made here, so none outlives this process. */
const children = new Set();
const tempDirs = new Set();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** Resolves with a port that was free on 127.0.0.1 a moment ago. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function makeTempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

function removeTempDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

// ---------------------------------------------------------------------------------------------------
// Small helpers

/** Runs a command; resolves with its output, rejects with the output in the message. */
function runCommand(
  command,
  args,
  { cwd, timeoutMs = NPM_MS, env = { ...process.env, PATH: SYSTEM_PATH } } = {},
) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      children.delete(child);
      reject(err);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) resolve(output);
      else reject(new Error(`${command} ${args.join(" ")} failed (${signal || `exit ${code}`}):\n${output}`));
    });
  });
}

/** Plain objects are merged key by key; anything else in `extra` replaces. */
function deepMerge(base, extra) {
  const out = { ...base };
  for (const [key, value] of Object.entries(extra || {})) {
    const isPlain = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
    out[key] = isPlain(value) && isPlain(base[key]) ? deepMerge(base[key], value) : value;
  }
  return out;
}

/** JavaScript source for a settings value: JSON plus functions and regular expressions. */
function toSource(value, indent = "") {
  if (typeof value === "function") return value.toString();
  if (value instanceof RegExp) return value.toString();
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    const inner = indent + "  ";
    return `[\n${value.map((v) => inner + toSource(v, inner)).join(",\n")}\n${indent}]`;
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return "{}";
    const inner = indent + "  ";
    const lines = entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${toSource(v, inner)}`);
    return `{\n${lines.join(",\n")}\n${indent}}`;
  }
  return JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------------
// Node-RED itself

/** The version of the Node-RED the tests run, e.g. "4.1.15". */
function nodeRedVersion() {
  return JSON.parse(fs.readFileSync(path.join(nodeRedHome(), "package.json"), "utf8")).version;
}

/** The node-red package directory: NODE_RED_HOME (the package or an npm prefix holding it), else ours. */
function nodeRedHome() {
  const candidates = process.env.NODE_RED_HOME
    ? [process.env.NODE_RED_HOME, path.join(process.env.NODE_RED_HOME, "node_modules", "node-red")]
    : [path.join(ROOT, "node_modules", "node-red")];
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, "red.js"))) return path.resolve(dir);
  }
  throw new Error(`red.js not found in ${candidates.join(" or ")}`);
}

/** A runtime message in Node-RED's own words for `lang` (log lines are translated). */
function runtimeMessage(home, lang, key) {
  let dir = path.join(home, "node_modules", "@node-red", "runtime", "locales");
  if (!fs.existsSync(dir)) {
    // npm hoists @node-red/runtime beside node-red
    dir = path.join(
      path.dirname(require.resolve("@node-red/runtime/package.json", { paths: [home] })),
      "locales",
    );
  }
  const read = (l) => {
    try {
      const catalog = JSON.parse(fs.readFileSync(path.join(dir, l, "runtime.json"), "utf8"));
      return key.split(".").reduce((node, part) => (node ? node[part] : undefined), catalog);
    } catch {
      return undefined;
    }
  };
  return (lang && read(lang)) || read("en-US");
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Settings every test and `npm start` runtime gets: no telemetry, no tours, plain credentials. */
function baseSettings({ port, lang }) {
  const settings = {
    uiHost: "127.0.0.1",
    uiPort: port,
    flowFile: "flows.json",
    credentialSecret: false,
    telemetry: { enabled: false, updateNotification: false },
    editorTheme: { tours: false },
    logging: { console: { level: "info", metrics: false, audit: false } },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
  };
  if (lang) settings.lang = lang;
  return settings;
}

/** Writes settings.js, flows.json and (plain, credentialSecret false) flows_cred.json into userDir. */
function writeUserDir(userDir, { settings, flows = [], credentials }) {
  fs.mkdirSync(userDir, { recursive: true });
  fs.writeFileSync(
    path.join(userDir, "settings.js"),
    `// Generated by scripts/nodered.js\nmodule.exports = ${toSource(settings)};\n`,
  );
  fs.writeFileSync(path.join(userDir, settings.flowFile || "flows.json"), JSON.stringify(flows, null, 2));
  const credFile = path.join(
    userDir,
    (settings.flowFile || "flows.json").replace(/\.json$/, "") + "_cred.json",
  );
  if (credentials && Object.keys(credentials).length > 0) {
    fs.writeFileSync(credFile, JSON.stringify(credentials, null, 2));
  } else {
    fs.rmSync(credFile, { force: true });
  }
}

/**
 * Starts red.js for a prepared userDir and waits until its flows are started and its HTTP server
 * answers GET `readyPath` with a 2xx (/settings needs a token under adminAuth: /auth/login does not).
 * `echo` forwards its output to our stdout (npm start). The returned handle is the one startNodeRed
 * documents, minus the user-dir clean-up.
 */
async function launchNodeRed({
  userDir,
  port,
  lang,
  env = {},
  echo = false,
  nodeArgs = [],
  startTimeoutMs = NODE_RED_START_MS,
  readyPath = "/settings",
}) {
  const home = nodeRedHome();
  const url = `http://127.0.0.1:${port}`;
  const startedRe = new RegExp(escapeRegExp(runtimeMessage(home, lang, "nodes.flows.started-flows")));
  const missingRe = new RegExp(escapeRegExp(runtimeMessage(home, lang, "nodes.flows.missing-types")));
  const portInUseRe = new RegExp(
    `EADDRINUSE|${escapeRegExp(runtimeMessage(home, lang, "server.port-in-use"))}`,
  );
  const child = spawn(
    process.execPath,
    [
      "--require",
      EXIT_WITH_PARENT,
      ...nodeArgs,
      path.join(home, "red.js"),
      "--userDir",
      userDir,
      "--settings",
      path.join(userDir, "settings.js"),
    ],
    { cwd: userDir, env: { ...process.env, NODE_RED_HOME: home, ...env }, stdio: ["pipe", "pipe", "pipe"] },
  );
  children.add(child);

  let output = "";
  const waiters = new Set();
  const onOutput = (chunk) => {
    const text = chunk.toString();
    output += text;
    if (echo) process.stdout.write(text);
    for (const waiter of waiters) waiter.check();
  };
  child.stdout.on("data", onOutput);
  child.stderr.on("data", onOutput);
  let exited = false;
  const exitPromise = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      exited = true;
      children.delete(child);
      for (const waiter of waiters) waiter.check();
      resolve({ code, signal });
    });
  });

  /**
   * Resolves with check()'s first non-undefined result, re-evaluated on every output chunk; check() may
   * throw to reject. Rejects when Node-RED exits first or after ms.
   */
  function waitFor(check, ms, what) {
    return new Promise((resolve, reject) => {
      const waiter = {
        check() {
          let value;
          try {
            value = check();
          } catch (err) {
            finish();
            reject(err);
            return;
          }
          if (value !== undefined) {
            finish();
            resolve(value);
          } else if (exited) {
            finish();
            reject(new Error(`Node-RED exited while waiting to ${what}:\n${output}`));
          }
        },
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`Node-RED did not ${what} within ${ms} ms:\n${output}`));
      }, ms);
      function finish() {
        clearTimeout(timer);
        waiters.delete(waiter);
      }
      waiters.add(waiter);
      waiter.check();
    });
  }

  /** Resolves with the first match of `re` in the output from character offset `from` (default: all). */
  function waitForLog(re, ms = 10000, from = 0) {
    return waitFor(() => re.exec(output.slice(from)) || undefined, ms, `log ${re}`);
  }

  /** Resolves once the flows are started (after `from`); rejects when node types are missing. */
  function waitForFlowsStarted(from) {
    return waitFor(
      () => {
        const text = output.slice(from);
        if (missingRe.test(text)) throw new Error(`Node-RED is missing node types:\n${output}`);
        return startedRe.test(text) ? true : undefined;
      },
      startTimeoutMs,
      "start its flows",
    );
  }

  async function stop(graceMs = 15000) {
    if (!exited) {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exitPromise;
      clearTimeout(killer);
    }
  }

  /** Polls until the HTTP server answers (it can start listening after the flows started). */
  async function waitForHttp(ms) {
    const deadline = Date.now() + ms;
    for (;;) {
      try {
        const res = await fetch(`${url}${readyPath}`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (exited) throw new Error(`Node-RED exited:\n${output}`);
      if (Date.now() > deadline)
        throw new Error(`Node-RED did not answer on ${url} within ${ms} ms:\n${output}`);
      await delay(100);
    }
  }

  try {
    await waitForFlowsStarted(0);
    await waitForHttp(startTimeoutMs);
  } catch (err) {
    await stop(2000);
    err.portInUse = portInUseRe.test(output);
    // Show everything it printed, up to its exit (the missing types are listed after the warning).
    err.message = `${err.message.split("\n")[0]}\n${output}`;
    throw err;
  }

  /** Replaces the whole flow configuration (a full deploy) and waits for the flows to be started. */
  async function deploy(flows, credentials = {}) {
    const nodes = flows.map((node) =>
      credentials[node.id] ? { ...node, credentials: credentials[node.id] } : node,
    );
    const from = output.length;
    const res = await fetch(`${url}/flows`, {
      method: "POST",
      headers: { "content-type": "application/json", "node-red-deployment-type": "full" },
      body: JSON.stringify(nodes),
    });
    const body = await res.text();
    if (!res.ok) throw new Error(`deploy failed: HTTP ${res.status} ${body}`);
    await waitForFlowsStarted(from);
  }

  /** Presses an inject node's button, as the editor does. */
  async function inject(nodeId) {
    const res = await fetch(`${url}/inject/${encodeURIComponent(nodeId)}`, { method: "POST" });
    const body = await res.text();
    if (!res.ok) throw new Error(`inject ${nodeId} failed: HTTP ${res.status} ${body}`);
  }

  /**
   * The debug sidebar's feed (the editor's comms websocket, topic "debug"). `messages` are the
   * published debug objects ({ id, name, msg, format, ... }; `msg` is encoded as the sidebar gets it).
   */
  async function subscribeDebug() {
    const { WebSocket } = require("undici");
    const ws = new WebSocket(`ws://127.0.0.1:${port}/comms`);
    const messages = [];
    const listeners = new Set();
    ws.addEventListener("message", (event) => {
      let frames;
      try {
        frames = JSON.parse(String(event.data));
      } catch {
        return;
      }
      for (const frame of Array.isArray(frames) ? frames : [frames]) {
        if (frame && frame.topic === "debug") {
          messages.push(frame.data);
          for (const listener of listeners) listener();
        }
      }
    });
    await new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve, { once: true });
      ws.addEventListener("error", () => reject(new Error("comms websocket failed")), { once: true });
    });
    ws.send(JSON.stringify({ subscribe: "debug" }));
    // Let the subscription reach the runtime before the caller triggers anything.
    await delay(100);
    return {
      messages,
      /** Resolves when predicate(messages) is true; rejects after ms. */
      waitFor(predicate, ms = 10000) {
        return new Promise((resolve, reject) => {
          const check = () => {
            if (predicate(messages)) {
              done();
              resolve(messages);
            }
          };
          const timer = setTimeout(() => {
            done();
            reject(new Error(`debug messages did not arrive within ${ms} ms (${messages.length} seen)`));
          }, ms);
          const done = () => {
            clearTimeout(timer);
            listeners.delete(check);
          };
          listeners.add(check);
          check();
        });
      },
      close() {
        ws.close();
      },
    };
  }

  return {
    url,
    port,
    userDir,
    child,
    logs: () => output,
    waitForLog,
    deploy,
    inject,
    subscribeDebug,
    stop,
    exited: exitPromise,
  };
}

/** Symlinks the working tree (or another built tree of the package) into the user dir's node_modules, as `npm link` would. */
function linkPackage(userDir, from = ROOT) {
  const link = path.join(userDir, "node_modules", ...PKG.name.split("/"));
  fs.mkdirSync(path.dirname(link), { recursive: true });
  let current;
  try {
    current = fs.readlinkSync(link);
  } catch {
    current = undefined;
  }
  if (current !== from) {
    fs.rmSync(link, { recursive: true, force: true });
    fs.symlinkSync(from, link, "dir");
  }
  fs.writeFileSync(
    path.join(userDir, "package.json"),
    JSON.stringify(
      {
        name: "node-red-project",
        version: "0.0.1",
        private: true,
        dependencies: { [PKG.name]: `file:${from}` },
      },
      null,
      2,
    ) + "\n",
  );
}

// ---------------------------------------------------------------------------------------------------
// The package, as a user gets it

let packPromise;

/**
 * `npm pack` of the repo, once per process, into .tmp/pack/<pid>-XXXXXX/. It packs the build output that is there
 * (`npm test` builds first); with BUILD_BEFORE_PACK set it runs scripts/build.js first. Lifecycle
 * scripts are skipped: `npm pack` would otherwise run `prepare`, which rebuilds nodes/lib under the
 * feet of anything running from it.
 */
function packTarball() {
  if (!packPromise) {
    packPromise = (async () => {
      if (process.env.BUILD_BEFORE_PACK)
        await runCommand(process.execPath, [path.join(ROOT, "scripts", "build.js")], { cwd: ROOT });
      for (const [type, file] of Object.entries(PKG["node-red"].nodes)) {
        const compiled = path.join(ROOT, "nodes", "lib", "nodes", `${type}.js`);
        if (!fs.existsSync(path.join(ROOT, file)) || !fs.existsSync(compiled)) {
          throw new Error(
            `${path.relative(ROOT, compiled)} is not built: run npm run build (or set BUILD_BEFORE_PACK=1)`,
          );
        }
      }
      // One folder per process: test processes running side by side must not overwrite each other's tarball.
      fs.mkdirSync(PACK_DIR, { recursive: true });
      const dest = fs.mkdtempSync(path.join(PACK_DIR, `${process.pid}-`));
      tempDirs.add(dest);
      const out = await runCommand(
        "npm",
        ["pack", "--ignore-scripts", "--json", "--loglevel=error", "--pack-destination", dest],
        { cwd: ROOT },
      );
      const [{ filename }] = JSON.parse(out.slice(out.indexOf("[")));
      // npm names scoped tarballs "dbgpt-nodes-node-red-dbgpt-<version>.tgz"
      const tgz = path.join(dest, path.basename(filename.replace(/^@/, "").replace("/", "-")));
      if (!fs.existsSync(tgz)) throw new Error(`npm pack did not write ${tgz}:\n${out}`);
      return tgz;
    })();
  }
  return packPromise;
}

let installPromise;

/**
 * Installs the tarball once per process into a user dir template outside the repo (so nothing can
 * resolve from the repo's own node_modules) and resolves with that template's path.
 */
function installedTemplate() {
  if (!installPromise) {
    installPromise = (async () => {
      const tgz = await packTarball();
      const dir = makeTempDir("dbgpt-nr-modules-");
      fs.writeFileSync(
        path.join(dir, "package.json"),
        JSON.stringify(
          { name: "node-red-project", description: "A Node-RED Project", version: "0.0.1", private: true },
          null,
          2,
        ),
      );
      await runCommand(
        "npm",
        [
          "install",
          "--no-audit",
          "--no-fund",
          "--no-update-notifier",
          "--prefer-offline",
          "--loglevel=error",
          tgz,
        ],
        {
          cwd: dir,
        },
      );
      const installed = path.join(dir, "node_modules", ...PKG.name.split("/"), "package.json");
      if (!fs.existsSync(installed)) throw new Error(`npm install of ${tgz} did not install ${PKG.name}`);
      return dir;
    })();
  }
  return installPromise;
}

/** A function node for a generated flow (Node-RED 4's defaults: no timeout, no libs). */
function functionNode(id, z, name, func, outputs, wires) {
  return {
    id,
    type: "function",
    z,
    name,
    func,
    outputs,
    timeout: 0,
    noerr: 0,
    initialize: "",
    finalize: "",
    libs: [],
    wires,
  };
}

module.exports = {
  ROOT,
  PKG,
  baseSettings,
  children,
  deepMerge,
  escapeRegExp,
  freePort,
  functionNode,
  installedTemplate,
  launchNodeRed,
  linkPackage,
  makeTempDir,
  nodeRedHome,
  nodeRedVersion,
  packTarball,
  removeTempDir,
  runtimeMessage,
  tempDirs,
  writeUserDir,
};
