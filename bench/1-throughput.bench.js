"use strict";
/**
 * Throughput on one chat_normal stream of 20,000 distinct 5-byte deltas, no delay. Two figures:
 *
 * client / raw reader (target >= 0.95): in this process, alternated over 21 rounds after 3 warm-ups,
 *   raw     undici request + eventsource-parser + JSON.parse of each event
 *   client  DbgptClient.chat(), iterated
 *
 * dbgpt-chat / Node-RED floor (target >= 0.9), issue 13's method: a real Node-RED (bench/nodered.js),
 * five rounds alternating raw / floor / node after one warm-up round, each timed in Node-RED from the
 * trigger function's stamp (an `http in` -> function node starts the run) to the final message reaching
 * the counting function node:
 *   node    trigger -> dbgpt-chat -> counter, every delta passing through it
 *   floor   trigger -> a function node sending the same 20,000 deltas and the final with node.send -> counter
 *   raw     the raw reader in this process, for reference (node / raw is reported, not judged)
 * Rates are deltas per wall-clock second; Node-RED's CPU seconds per run (/proc/<pid>/stat, 10 ms ticks)
 * are reported too, as other load moves them far less.
 */
const { Agent } = require("undici");
/** undefined for a package without a client (bench/naive): client / raw is then not measured. */
const clientModule = require("./package").client();
const { benchQuestion } = require("./emulator");
const { startBenchNodeRed, expectationFor } = require("./nodered");
const { rawDeltas, clientDeltas } = require("./readers");
const { median, alternate, formatRate, target, figure, scaled, repeats, count } = require("./stats");

const DELTAS = scaled(20_000, 50);
const CLIENT_ROUNDS = repeats(21, 3);
const CLIENT_WARMUP = repeats(3, 1);
const NODE_ROUNDS = repeats(5, 2);
const QUESTION = benchQuestion(DELTAS);

/** Times a local read: deltas per wall-clock second and per CPU-second of this process. */
async function measureLocal(read) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const { deltas } = await read();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { wall: deltas / seconds, cpu: deltas / ((used.user + used.system) / 1e6) };
}

/** One run in Node-RED, timed there from the trigger's stamp to the final at the counter. */
async function measureNodeRed(nodeRed, target, expect) {
  const cpuBefore = nodeRed.cpuSeconds();
  const result = await nodeRed.runChecked({ target, questions: [QUESTION], convPrefix: "tp", expect });
  const cpuSeconds = nodeRed.cpuSeconds() - cpuBefore;
  return { wall: DELTAS / (result.durationMs / 1000), cpu: cpuSeconds > 0 ? DELTAS / cpuSeconds : Infinity };
}

module.exports = {
  name:
    `Throughput: one ${count(DELTAS)}-delta chat_normal stream (client/raw: ${CLIENT_ROUNDS} rounds; ` +
    `node/floor: ${NODE_ROUNDS} rounds alternating raw / floor / node)`,
  async run({ emulatorUrl }) {
    const expect = expectationFor([QUESTION]);
    const dispatcher = new Agent({ keepAliveTimeout: 4000, headersTimeout: 120_000, bodyTimeout: 120_000 });
    const client = clientModule && new clientModule.DbgptClient({ baseUrl: emulatorUrl });
    const raw = () => measureLocal(() => rawDeltas(dispatcher, emulatorUrl, QUESTION, DELTAS));
    let nodeRed;
    try {
      const local =
        client &&
        (await alternate(
          { raw, client: () => measureLocal(() => clientDeltas(client, QUESTION, DELTAS)) },
          CLIENT_ROUNDS,
          CLIENT_WARMUP,
        ));
      nodeRed = await startBenchNodeRed({ emulatorUrl });
      const inNodeRed = await alternate(
        {
          raw,
          floor: () => measureNodeRed(nodeRed, "floor", expect),
          node: () => measureNodeRed(nodeRed, "chat", expect),
        },
        NODE_ROUNDS,
        1,
      );
      const wall = (samples, name) => median(samples[name].map((s) => s.wall));
      const cpu = (samples, name) => median(samples[name].map((s) => s.cpu));
      const clientRatio = local && wall(local, "client") / wall(local, "raw");
      const nodeRatio = wall(inNodeRed, "node") / wall(inNodeRed, "floor");
      const line = (samples, name, where) =>
        `${`${name}:`.padEnd(8)} median ${formatRate(wall(samples, name)).padStart(10)} deltas, ` +
        `${formatRate(cpu(samples, name)).padStart(10)} per CPU-second of ${where}`;
      const lines = [
        ...(local
          ? [
              line(local, "raw", "this process"),
              line(local, "client", "this process"),
              `client/raw = ${clientRatio.toFixed(3)} (per CPU-second ${(cpu(local, "client") / cpu(local, "raw")).toFixed(3)})`,
            ]
          : ["client / raw: not measured (the package has no client)"]),
        `in Node-RED, trigger stamp to the final at the counter function (${NODE_ROUNDS} rounds):`,
        line(inNodeRed, "raw", "this process"),
        line(inNodeRed, "floor", "Node-RED"),
        line(inNodeRed, "node", "Node-RED"),
        `node/floor = ${nodeRatio.toFixed(3)} (per CPU-second ${(cpu(inNodeRed, "node") / cpu(inNodeRed, "floor")).toFixed(3)}); ` +
          `node/raw = ${(wall(inNodeRed, "node") / wall(inNodeRed, "raw")).toFixed(3)}`,
      ];
      return {
        lines,
        targets: [
          ...(local
            ? [
                target(
                  "client / raw reader, deltas per second",
                  clientRatio.toFixed(3),
                  ">= 0.95",
                  clientRatio >= 0.95,
                ),
              ]
            : []),
          target(
            "dbgpt-chat / Node-RED floor, deltas per second",
            nodeRatio.toFixed(3),
            ">= 0.9",
            nodeRatio >= 0.9,
          ),
        ],
        figures: [
          ...(local ? [figure("client / raw reader, deltas per second", clientRatio, "", "higher")] : []),
          figure("dbgpt-chat / Node-RED floor, deltas per second", nodeRatio, "", "higher"),
          figure(
            "dbgpt-chat / Node-RED floor, deltas per Node-RED CPU second",
            cpu(inNodeRed, "node") / cpu(inNodeRed, "floor"),
            "",
            "higher",
          ),
        ],
        data: { local, inNodeRed },
      };
    } finally {
      if (nodeRed) await nodeRed.stop();
      await client?.close();
      await dispatcher.close();
    }
  },
};
