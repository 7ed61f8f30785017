"use strict";
// The Node-RED Flow Library scorecard, offline: packs the package exactly as `npm publish` would, unpacks
// it, runs `node-red-dev validate` on the unpacked copy (scripts/offline-catalogue.js answers the one
// request to catalogue.nodered.org, which CI cannot reach; the npm registry look-ups run for real), then
// checks what the Flow Library and Node-RED's palette would load from the tarball. Prints every check and
// one verdict line; exits 0 only when every check passes.
//
// One result is a note, not a failure: node-red-dev's D03 ("dependencies at their latest version") when a
// runtime dependency is held below a latest major whose `engines.node` excludes the Node.js this package
// supports (undici 8 and eventsource-parser 4 need Node 22).
//
// Needs the build output (nodes/lib); packs with --ignore-scripts so it never rebuilds behind a test run.
// Usage: node scripts/scorecard.js            (run `npm run build` first)
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const { SYSTEM_PATH } = require("./system-path");

const root = path.resolve(__dirname, "..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const workDir = path.join(root, ".tmp", "scorecard");
const VALIDATE_TIMEOUT_MS = 180_000;
const NPM_TIMEOUT_MS = 120_000;

// node-red-dev's own dependencies (acorn to read the editor files the way it does, semver for ranges).
const devToolDir = path.dirname(require.resolve("node-red-dev/package.json", { paths: [root] }));
const fromDevTool = (name) => require(require.resolve(name, { paths: [devToolDir] }));
const acorn = fromDevTool("acorn");
const walk = fromDevTool("acorn-walk");
const semver = fromDevTool("semver");

const NODE_RED_DEV_CHECKS = {
  P01: "license declared",
  P03: "repository or bugs link",
  P04: "package name (scoped)",
  P05: "node-red keyword",
  P06: "compatible with a current Node-RED",
  P07: "Node.js engines compatible with current Node-RED",
  P08: "no similarly named package in the catalogue",
  N01: "node types unique in the catalogue",
  N02: "an example for every node",
  D01: "6 or fewer dependencies",
  D02: "no known-incompatible package in the dependency tree",
  D03: "dependencies at their latest version",
};
const CATEGORY = "DB-GPT";
const LANGUAGES = ["en-US", "zh-CN"];
// inputs/outputs each palette node must declare (the config node declares neither).
const PORTS = {
  "dbgpt-list-apps": { inputs: 1, outputs: 1 },
  "dbgpt-get-app": { inputs: 1, outputs: 1 },
  "dbgpt-chat": { inputs: 1, outputs: 2 },
};

const results = [];
function check(id, title, ok, detail = "") {
  results.push({ id, title, status: ok ? "pass" : "fail", detail });
}
function note(id, title, detail) {
  results.push({ id, title, status: "note", detail });
}

function exec(command, args, options = {}) {
  const res = spawnSync(command, args, {
    cwd: root,
    env: { ...process.env, PATH: SYSTEM_PATH },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: NPM_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
    ...options,
  });
  if (res.error) throw new Error(`${command} ${args.join(" ")}: ${res.error.message}`);
  return res;
}

function packTarball() {
  fs.rmSync(workDir, { recursive: true, force: true });
  fs.mkdirSync(workDir, { recursive: true });
  const res = exec("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", workDir]);
  if (res.status !== 0) throw new Error(`npm pack failed:\n${res.stderr}`);
  const [info] = JSON.parse(res.stdout);
  const tarball = path.join(workDir, info.filename);
  const untar = exec("tar", ["-xzf", tarball, "-C", workDir]);
  if (untar.status !== 0) throw new Error(`tar -xzf ${tarball} failed:\n${untar.stderr}`);
  return { tarball, dir: path.join(workDir, "package"), files: info.files.map((f) => f.path).sort() };
}

function runNodeRedDev(packageDir) {
  const output = path.join(workDir, "node-red-dev.json");
  const preload = path.join(__dirname, "offline-catalogue.js");
  const res = exec(
    process.execPath,
    [path.join(devToolDir, "bin", "run"), "validate", "--path", packageDir, "--output", output],
    {
      cwd: workDir,
      timeout: VALIDATE_TIMEOUT_MS,
      env: {
        ...process.env,
        PATH: SYSTEM_PATH,
        NODE_OPTIONS: `${process.env.NODE_OPTIONS || ""} --require ${JSON.stringify(preload)}`.trim(),
      },
    },
  );
  for (const text of [res.stdout, res.stderr]) {
    if (text.trim()) process.stdout.write(`${text.trimEnd().replace(/^/gm, "  | ")}\n`);
  }
  if (res.signal)
    throw new Error(`node-red-dev validate was killed (${res.signal}) after ${VALIDATE_TIMEOUT_MS} ms`);
  if (!fs.existsSync(output))
    throw new Error(`node-red-dev validate wrote no scorecard (exit ${res.status})`);
  return { card: JSON.parse(fs.readFileSync(output, "utf8")), stdout: res.stdout };
}

// D03 is acceptable for a dependency only when its latest major cannot run on our lowest Node.js.
function heldForNode(name) {
  const declared = pkg.dependencies[name];
  const res = exec("npm", ["view", `${name}@latest`, "version", "engines", "--json"]);
  if (res.status !== 0) return { held: false, why: `npm view ${name} failed: ${res.stderr.trim()}` };
  const latest = JSON.parse(res.stdout);
  const latestEngines = latest.engines && latest.engines.node;
  const ourLowestNode = semver.minVersion(pkg.engines.node).version;
  const held = Boolean(latestEngines) && !semver.satisfies(ourLowestNode, latestEngines);
  const why = `${name} ${declared} held below latest ${latest.version} (engines.node ${latestEngines || "unset"}; this package supports Node.js ${pkg.engines.node})`;
  return { held, why };
}

function scoreNodeRedDev({ card, stdout }) {
  for (const [id, title] of Object.entries(NODE_RED_DEV_CHECKS)) {
    const entry = card[id];
    if (!entry) {
      check(id, title, false, "missing from node-red-dev's scorecard (the tool stopped early)");
    } else if (entry.test) {
      check(id, title, true, id === "N02" ? `nodes: ${(entry.nodes || []).join(", ")}` : "");
    } else if (id === "D03") {
      const verdicts = (entry.packages || []).map((name) => ({ name, ...heldForNode(name) }));
      const unjustified = verdicts.filter((v) => !v.held);
      const text = verdicts.map((v) => v.why).join("; ");
      if (verdicts.length > 0 && unjustified.length === 0) note(id, title, text);
      else check(id, title, false, text || "no package named");
    } else {
      check(id, title, false, JSON.stringify(entry));
    }
  }
  // node-red-dev only logs an editor file it cannot parse and then scores the nodes it could read.
  const unparsed = stdout.split("\n").filter((line) => line.startsWith("Unable to parse"));
  check("N00", "node-red-dev parsed every editor file", unparsed.length === 0, unparsed.join("; "));
  const withExamples = new Set((card.N02 && card.N02.nodes) || []);
  const missing = Object.keys(PORTS).filter((type) => !withExamples.has(type));
  check("N02+", "node-red-dev saw examples for all palette nodes", missing.length === 0, missing.join(", "));
}

function literalOf(node) {
  return node && node.type === "Literal" ? node.value : undefined;
}

// registerType("<type>", {...}) literals in a node's .html, read as node-red-dev and the Flow Library do.
function editorDefinitions(htmlFile) {
  const html = fs.readFileSync(htmlFile, "utf8");
  const defs = {};
  const scriptRe = /<script[^>]*type=["']text\/javascript["'][^>]*>([\s\S]*?)<\/script>/gi;
  for (const [, code] of html.matchAll(scriptRe)) {
    walk.simple(acorn.parse(code, { ecmaVersion: "latest" }), {
      CallExpression(call) {
        if (!call.callee.property || call.callee.property.name !== "registerType") return;
        const [typeArg, defArg] = call.arguments;
        if (literalOf(typeArg) === undefined || !defArg || defArg.type !== "ObjectExpression") return;
        const props = {};
        for (const prop of defArg.properties) {
          if (prop.key) props[prop.key.name || prop.key.value] = prop.value;
        }
        defs[literalOf(typeArg)] = props;
      },
    });
  }
  return { html, defs };
}

function scorePackage({ dir, files }) {
  const has = (file) => files.includes(file);
  for (const [type, entry] of Object.entries(pkg["node-red"].nodes)) {
    const htmlPath = entry.replace(/\.js$/, ".html");
    const needed = [entry, htmlPath, `nodes/lib/nodes/${type}.js`].filter((f) => !has(f));
    check(
      `F:${type}`,
      `${type}: entry, compiled node and editor file packed`,
      needed.length === 0,
      needed.join(", "),
    );
    if (!has(htmlPath)) continue;

    let defs;
    try {
      defs = editorDefinitions(path.join(dir, htmlPath)).defs;
    } catch (err) {
      check(`E:${type}`, `${type}: editor definition readable`, false, err.message);
      continue;
    }
    const def = defs[type];
    if (!def) {
      check(
        `E:${type}`,
        `${type}: editor definition readable`,
        false,
        `no registerType("${type}", {...}) literal`,
      );
      continue;
    }
    const problems = [];
    const wantCategory = type === "dbgpt-config" ? "config" : CATEGORY;
    if (literalOf(def.category) !== wantCategory)
      problems.push(`category is not the literal "${wantCategory}"`);
    if (type !== "dbgpt-config") {
      if (typeof literalOf(def.color) !== "string") problems.push("color is not a string literal");
      for (const port of ["inputs", "outputs"]) {
        if (literalOf(def[port]) !== PORTS[type][port])
          problems.push(`${port} is not the literal ${PORTS[type][port]}`);
      }
      if (!def.outputLabels) problems.push("no outputLabels");
      const icon = literalOf(def.icon);
      if (typeof icon !== "string") problems.push("icon is not a string literal");
      else if (!icon.endsWith(".svg") || !has(`nodes/icons/${icon}`))
        problems.push(`icon nodes/icons/${icon} not packed`);
    }
    check(
      `E:${type}`,
      `${type}: editor definition (category, color, icon, ports)`,
      problems.length === 0,
      problems.join("; "),
    );

    const localeProblems = [];
    for (const lang of LANGUAGES) {
      const base = `nodes/locales/${lang}/${path.basename(entry, ".js")}`;
      if (!has(`${base}.json`)) localeProblems.push(`${base}.json missing`);
      else {
        try {
          JSON.parse(fs.readFileSync(path.join(dir, `${base}.json`), "utf8"));
        } catch (err) {
          localeProblems.push(`${base}.json: ${err.message}`);
        }
      }
      if (!has(`${base}.html`)) localeProblems.push(`${base}.html missing`);
      else if (
        !fs.readFileSync(path.join(dir, `${base}.html`), "utf8").includes(`data-help-name="${type}"`)
      ) {
        localeProblems.push(`${base}.html has no data-help-name="${type}"`);
      }
    }
    check(
      `L:${type}`,
      `${type}: labels and help in ${LANGUAGES.join(" and ")}`,
      localeProblems.length === 0,
      localeProblems.join("; "),
    );
  }

  // Every relative require() in the packed JavaScript must land on a packed file.
  const broken = [];
  for (const file of files.filter((f) => f.endsWith(".js"))) {
    const source = fs.readFileSync(path.join(dir, file), "utf8");
    for (const [, spec] of source.matchAll(/require\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g)) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      const candidates = [target, `${target}.js`, `${target}/index.js`];
      if (!candidates.some(has)) broken.push(`${file} -> ${spec}`);
    }
  }
  check(
    "F:requires",
    "every relative require() in the package resolves to a packed file",
    broken.length === 0,
    broken.join(", "),
  );

  const examples = files.filter((f) => f.startsWith("examples/") && f.endsWith(".json"));
  const badExamples = [];
  for (const file of examples) {
    try {
      const flow = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8"));
      if (!Array.isArray(flow)) badExamples.push(`${file}: not an array of nodes`);
    } catch (err) {
      badExamples.push(`${file}: ${err.message}`);
    }
  }
  check(
    "F:examples",
    "examples packed and importable",
    examples.length > 0 && badExamples.length === 0,
    badExamples.join("; ") || (examples.length ? "" : "none packed"),
  );

  const required = ["package.json", "README.md", "LICENSE", "CHANGELOG.md"].filter((f) => !has(f));
  const stray = files.filter(
    (f) => /^(src|test|scripts|bench|\.tmp)\//.test(f) || f.endsWith(".ts") || f.endsWith(".tgz"),
  );
  check(
    "F:contents",
    "README, LICENSE, CHANGELOG packed; no sources, tests or tarballs",
    required.length === 0 && stray.length === 0,
    [...required.map((f) => `${f} missing`), ...stray.map((f) => `${f} packed`)].join(", "),
  );
}

function main() {
  const notBuilt = Object.keys(pkg["node-red"].nodes).filter(
    (type) => !fs.existsSync(path.join(root, "nodes", "lib", "nodes", `${type}.js`)),
  );
  if (notBuilt.length) throw new Error(`not built (${notBuilt.join(", ")}): run \`npm run build\` first`);

  const packed = packTarball();
  console.log(`scorecard: ${path.relative(root, packed.tarball)} (${packed.files.length} files)`);
  console.log("scorecard: node-red-dev validate (catalogue.nodered.org answered offline)");
  scoreNodeRedDev(runNodeRedDev(packed.dir));
  scorePackage(packed);

  const mark = { pass: "PASS", fail: "FAIL", note: "NOTE" };
  for (const r of results)
    console.log(`  ${mark[r.status]} ${r.id} ${r.title}${r.detail ? `: ${r.detail}` : ""}`);
  const failed = results.filter((r) => r.status === "fail");
  const notes = results.filter((r) => r.status === "note");
  const summary = `${results.length - failed.length - notes.length} passed, ${failed.length} failed, ${notes.length} noted`;
  console.log(`scorecard: ${failed.length ? "FAIL" : "PASS"} (${summary})`);
  return failed.length ? 1 : 0;
}

try {
  process.exitCode = main();
} catch (err) {
  console.error(`scorecard: FAIL (${err.message})`);
  process.exitCode = 1;
}
