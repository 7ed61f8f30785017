"use strict";
// `npm start` (after the build): Node-RED on http://127.0.0.1:1880 (PORT) with this package loaded from
// the working tree and the four examples deployed, each on its own tab. DB-GPT is DBGPT_BASE_URL (and
// DBGPT_API_KEY) when set, else the bundled emulator on a free port; the MQTT example gets an in-process
// broker on 1883 (MQTT_PORT) or is left out when that port is taken. Ctrl-C stops everything.
// On every start the example tabs (and their config nodes) are replaced with fresh copies; every other
// tab and node the user deployed is kept. The user dir is .tmp/start-userdir (START_USER_DIR).
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");
const { launchNodeRed, linkPackage, writeUserDir, baseSettings, ROOT, PKG } = require("./nodered");

const USER_DIR = process.env.START_USER_DIR
  ? path.resolve(process.env.START_USER_DIR)
  : path.join(ROOT, ".tmp", "start-userdir");
const EXAMPLES_DIR = path.join(ROOT, "examples");

/** Node-RED Dashboard 2.0 (a devDependency), for the chat page example; undefined when not installed. */
function dashboardDir() {
  try {
    return path.dirname(require.resolve("@flowfuse/node-red-dashboard/package.json", { paths: [ROOT] }));
  } catch {
    return undefined;
  }
}

function say(text) {
  process.stdout.write(`[npm start] ${text}\n`);
}

function parsePort(value, name, fallback) {
  if (value === undefined || value === "") return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`${name} must be a port number, got "${value}"`);
  return port;
}

/** The example flows, in file order, with their config nodes de-duplicated by id. */
function loadExamples() {
  const files = fs
    .readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort();
  return files.map((file) => ({
    file,
    nodes: JSON.parse(fs.readFileSync(path.join(EXAMPLES_DIR, file), "utf8")),
  }));
}

/**
 * The user's own part of the flows deployed last time (flows.json and plain flows_cred.json in
 * userDir): every node except the example tabs, the nodes on them and the examples' config nodes
 * (all `exampleIds`), with the credentials of the nodes kept. Nothing when there is no flows file;
 * an unreadable one is moved aside (and said so).
 */
function userFlows(userDir, exampleIds) {
  const flowFile = path.join(userDir, "flows.json");
  const credFile = path.join(userDir, "flows_cred.json");
  if (!fs.existsSync(flowFile)) return { nodes: [], credentials: {} };
  let nodes;
  try {
    nodes = JSON.parse(fs.readFileSync(flowFile, "utf8"));
    if (!Array.isArray(nodes)) throw new Error("not a JSON array of nodes");
  } catch (err) {
    const aside = `${flowFile}.unreadable-${Date.now()}`;
    fs.renameSync(flowFile, aside);
    say(`cannot read ${flowFile} (${err.message}): moved it to ${path.basename(aside)}`);
    return { nodes: [], credentials: {} };
  }
  let credentials = {};
  try {
    if (fs.existsSync(credFile)) credentials = JSON.parse(fs.readFileSync(credFile, "utf8"));
  } catch {
    credentials = {};
  }
  const kept = nodes.filter(
    (node) => node && !exampleIds.has(node.id) && !(node.z !== undefined && exampleIds.has(node.z)),
  );
  const keptCredentials = {};
  for (const node of kept) {
    if (credentials && typeof credentials === "object" && credentials[node.id]) {
      keptCredentials[node.id] = credentials[node.id];
    }
  }
  return { nodes: kept, credentials: keptCredentials };
}

/** In-process MQTT broker (aedes, ESM-only) on 127.0.0.1:port; resolves null when it cannot listen. */
async function startBroker(port) {
  const { Aedes } = await import("aedes");
  const broker = await Aedes.createBroker();
  const server = net.createServer(broker.handle);
  const listening = await new Promise((resolve) => {
    server.once("error", (err) => resolve(err));
    server.listen(port, "127.0.0.1", () => resolve(true));
  });
  if (listening !== true) {
    await new Promise((resolve) => broker.close(resolve));
    return { error: listening };
  }
  return {
    close: () => new Promise((resolve) => broker.close(() => server.close(() => resolve()))),
  };
}

async function main() {
  const port = parsePort(process.env.PORT, "PORT", 1880);
  const mqttPort = parsePort(process.env.MQTT_PORT, "MQTT_PORT", 1883);
  const cleanups = [];
  let nodeRed;
  let stopping = false;

  async function shutdown(code) {
    if (stopping) return;
    stopping = true;
    say("stopping ...");
    if (nodeRed) await nodeRed.stop();
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (err) {
        say(`while stopping: ${err.message}`);
      }
    }
    process.exit(code);
  }
  process.on("SIGINT", () => shutdown(0));
  process.on("SIGTERM", () => shutdown(0));

  try {
    for (const type of Object.keys(PKG["node-red"].nodes)) {
      if (!fs.existsSync(path.join(ROOT, "nodes", "lib", "nodes", `${type}.js`))) {
        throw new Error(
          `nodes/lib/nodes/${type}.js is missing: run \`npm start\` (it builds first) or \`npm run build\``,
        );
      }
    }

    // DB-GPT: the user's server, or the emulator.
    let baseUrl = process.env.DBGPT_BASE_URL;
    if (baseUrl) {
      say(`DB-GPT: ${baseUrl}${process.env.DBGPT_API_KEY ? " (with the API key from DBGPT_API_KEY)" : ""}`);
    } else {
      const { startEmulator } = require("../emulator");
      const emulator = await startEmulator({ host: "127.0.0.1", port: 0, delayMs: 20 });
      cleanups.push(() => emulator.close());
      baseUrl = emulator.url;
      say(`DBGPT_BASE_URL is not set: started the bundled DB-GPT emulator at ${baseUrl} (canned answers).`);
      say(
        "Set DBGPT_BASE_URL=http://<your-dbgpt>:5670 (and DBGPT_API_KEY if it needs one) to use a real DB-GPT.",
      );
    }

    // MQTT broker for the MQTT example.
    const broker = await startBroker(mqttPort);
    if (broker.close) {
      cleanups.push(() => broker.close());
      say(`MQTT: started an in-process broker on 127.0.0.1:${mqttPort} for the MQTT example.`);
    } else {
      say(
        `MQTT: cannot listen on port ${mqttPort} (${broker.error.code || broker.error.message}): ` +
          "the MQTT example is left out (set MQTT_PORT to a free port to include it).",
      );
    }

    // Flows: every example on its own tab, pointed at this DB-GPT and broker, then the user's own.
    const examples = loadExamples();
    const exampleIds = new Set(examples.flatMap(({ nodes }) => nodes.map((n) => n.id)));
    const own = userFlows(USER_DIR, exampleIds);
    const flows = [];
    const seen = new Set();
    const credentials = {};
    const dashboard = dashboardDir();
    let chatPage = false;
    for (const { file, nodes } of examples) {
      if (nodes.some((n) => n.type.startsWith("ui-"))) {
        if (!dashboard) {
          say(`left out: ${file} (it needs @flowfuse/node-red-dashboard: npm install)`);
          continue;
        }
        chatPage = true;
      }
      const brokers = nodes.filter((n) => n.type === "mqtt-broker");
      if (brokers.length > 0 && !broker.close) {
        say(`left out: ${file} (no MQTT broker)`);
        continue;
      }
      if (brokers.some((n) => Number(n.protocolVersion) === 5)) {
        say(`left out: ${file} (it needs an MQTT 5 broker; the in-process one speaks MQTT 3.1.1)`);
        continue;
      }
      for (const node of nodes) {
        if (seen.has(node.id)) continue;
        seen.add(node.id);
        if (node.type === "dbgpt-config") {
          node.baseUrl = baseUrl;
          // The key stays in the environment: the config node resolves ${DBGPT_API_KEY} itself.
          if (process.env.DBGPT_API_KEY) credentials[node.id] = { apiKey: "${DBGPT_API_KEY}" };
        }
        if (node.type === "mqtt-broker") node.port = mqttPort;
        flows.push(node);
      }
      say(`example: ${file}`);
    }

    const ownTabs = own.nodes.filter((n) => n.type === "tab").length;
    flows.push(...own.nodes);
    Object.assign(credentials, own.credentials);

    linkPackage(USER_DIR);
    writeUserDir(USER_DIR, {
      // The dashboard loads from our node_modules (nodesDir), like this package from the working tree.
      settings: { ...baseSettings({ port }), ...(chatPage ? { nodesDir: [dashboard] } : {}) },
      flows,
      credentials,
    });
    say(
      `Node-RED user dir: ${path.relative(process.cwd(), USER_DIR) || USER_DIR} ` +
        "(the example tabs are replaced with fresh copies on every start; your other tabs and nodes are kept)",
    );
    if (own.nodes.length > 0) {
      say(
        `kept your own flows: ${ownTabs} tab${ownTabs === 1 ? "" : "s"}, ` +
          `${own.nodes.length} node${own.nodes.length === 1 ? "" : "s"} in all`,
      );
    }

    nodeRed = await launchNodeRed({ userDir: USER_DIR, port, echo: true });
    nodeRed.exited.then(({ code, signal }) => {
      if (!stopping) {
        say(`Node-RED exited (${signal || `code ${code}`})`);
        nodeRed = undefined;
        shutdown(code || 1);
      }
    });

    const url = `http://127.0.0.1:${port}`;
    say("");
    say(`Node-RED is running: ${url}/ (the examples are on the DB-GPT tabs)`);
    say("Try it:");
    if (chatPage) say(`  the chat page: ${url}/dashboard/dbgpt`);
    say(`  curl --data 'Hello' ${url}/dbgpt/chat`);
    say(
      `  curl --data 'Hello' '${url}/dbgpt/conversation?session=me'` +
        "  (again with the same session continues the conversation)",
    );
    if (broker.close) {
      say(
        `  MQTT: publish a question to dbgpt/ask on 127.0.0.1:${mqttPort}; answers on dbgpt/answer/stream and dbgpt/answer`,
      );
    }
    const stops = ["Node-RED"];
    if (!process.env.DBGPT_BASE_URL) stops.push("the emulator");
    if (broker.close) stops.push("the broker");
    say(`Ctrl-C stops ${stops.slice(0, -1).join(", ")}${stops.length > 1 ? " and " : ""}${stops.at(-1)}.`);
  } catch (err) {
    // launchNodeRed's errors end with Node-RED's output, which was already shown.
    say(`failed: ${err.message.split("\n")[0]}`);
    if (err.portInUse) say("Another program uses that port: set PORT to a free one.");
    await shutdown(1);
  }
}

main();
