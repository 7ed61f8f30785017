"use strict";
// The Node-RED Flow Library scorecard, offline: packs the package exactly as `npm publish` would, unpacks
// it and runs `node-red-dev validate` on the unpacked copy (scripts/offline-catalogue.js answers the one
// request to catalogue.nodered.org, which CI cannot reach; the npm registry look-ups run for real). Then a
// few packing checks node-red-dev does not make: every node's files and every relative require() are in
// the tarball, the examples parse, and no sources or tests are. (The editor definitions and locales are
// the editor tests' job: test/editor.) Prints every check and one verdict line; exits 0 only when every
// check passes.
//
// P08 ("no similarly named package") and N01 ("node types unique") compare against the catalogue; with the
// empty offline catalogue they cannot fail, so they are listed as skipped, not counted as passed.
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

const semver = require("semver");
const devToolDir = path.dirname(require.resolve("node-red-dev/package.json", { paths: [root] }));

const NODE_RED_DEV_CHECKS = {
  P01: "license declared",
  P03: "repository or bugs link",
  P04: "package name (scoped)",
  P05: "node-red keyword",
  P06: "compatible with a current Node-RED",
  P07: "Node.js engines compatible with current Node-RED",
  N02: "an example for every node",
  D01: "6 or fewer dependencies",
  D02: "no known-incompatible package in the dependency tree",
  D03: "dependencies at their latest version",
};
// Checked against catalogue.nodered.org, which the offline catalogue answers empty: they cannot fail here.
const CATALOGUE_CHECKS = {
  P08: "no similarly named package in the catalogue",
  N01: "node types unique in the catalogue",
};
const PALETTE_NODES = Object.keys(pkg["node-red"].nodes).filter((type) => type !== "dbgpt-config");

const results = [];
function check(id, title, ok, detail = "") {
  results.push({ id, title, status: ok ? "pass" : "fail", detail });
}
function note(id, title, detail) {
  results.push({ id, title, status: "note", detail });
}
function skip(id, title, detail) {
  results.push({ id, title, status: "skip", detail });
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
  for (const [id, title] of Object.entries(CATALOGUE_CHECKS)) {
    skip(id, title, "not checked offline (the catalogue is answered empty)");
  }
  // node-red-dev only logs an editor file it cannot parse and then scores the nodes it could read.
  const unparsed = stdout.split("\n").filter((line) => line.startsWith("Unable to parse"));
  check("N00", "node-red-dev parsed every editor file", unparsed.length === 0, unparsed.join("; "));
  const withExamples = new Set((card.N02 && card.N02.nodes) || []);
  const missing = PALETTE_NODES.filter((type) => !withExamples.has(type));
  check("N02+", "node-red-dev saw examples for all palette nodes", missing.length === 0, missing.join(", "));
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
    (f) => /^(src|test|scripts|bench|emulator|\.tmp)\//.test(f) || f.endsWith(".ts") || f.endsWith(".tgz"),
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

  const mark = { pass: "PASS", fail: "FAIL", note: "NOTE", skip: "SKIP" };
  for (const r of results)
    console.log(`  ${mark[r.status]} ${r.id} ${r.title}${r.detail ? `: ${r.detail}` : ""}`);
  const failed = results.filter((r) => r.status === "fail");
  const count = (status) => results.filter((r) => r.status === status).length;
  const summary = `${count("pass")} passed, ${failed.length} failed, ${count("note")} noted, ${count("skip")} skipped`;
  console.log(`scorecard: ${failed.length ? "FAIL" : "PASS"} (${summary})`);
  return failed.length ? 1 : 0;
}

try {
  process.exitCode = main();
} catch (err) {
  console.error(`scorecard: FAIL (${err.message})`);
  process.exitCode = 1;
}
