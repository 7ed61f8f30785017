"use strict";
// Example 05 "Scale out", end to end: Debian's mosquitto on a free loopback port, two real Node-RED
// processes running the example unchanged (only the broker address and the DB-GPT URL are rewritten),
// the emulator as DB-GPT, and an MQTT 5 client asking with response topics and correlation data.
// Each instance has its own API key (credentials are per instance, the flow is the same), so the
// emulator's request log says which instance answered which question.

const assert = require("node:assert/strict");
const { randomBytes } = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const mqtt = require("mqtt");
const { startEmulator, answerFor } = require("../../emulator");
const { ROOT, escapeRegExp, startNodeRed, startMosquitto } = require("./harness");
const { delay, waitFor } = require("../support/wait");

const QUESTIONS = 200;
const SHARED_TOPIC = "$share/dbgpt/dbgpt/ask";
const KEY_A = "instance-a-key";
const KEY_B = "instance-b-key";

/** examples/05*.json, whatever its title. */
function exampleFile() {
  const dir = path.join(ROOT, "examples");
  const found = fs.readdirSync(dir).filter((name) => /^05\b.*\.json$/.test(name));
  assert.equal(found.length, 1, `expected one examples/05*.json, found ${JSON.stringify(found)}`);
  return path.join(dir, found[0]);
}

/** The example's nodes with only the broker address and the DB-GPT URL rewritten. */
function exampleFlows(brokerPort, dbgptUrl) {
  const flows = JSON.parse(fs.readFileSync(exampleFile(), "utf8"));
  const brokers = flows.filter((n) => n.type === "mqtt-broker");
  const configs = flows.filter((n) => n.type === "dbgpt-config");
  assert.equal(brokers.length, 1, "one mqtt-broker node");
  assert.equal(configs.length, 1, "one dbgpt-config node");
  // What the example ships with, before the test points it at its own broker and emulator.
  assert.equal(brokers[0].broker, "localhost");
  assert.equal(Number(brokers[0].port), 1883);
  assert.equal(Number(brokers[0].protocolVersion), 5);
  assert.equal(configs[0].baseUrl, "http://localhost:5670");
  const ins = flows.filter((n) => n.type === "mqtt in");
  assert.deepEqual(
    ins.map((n) => n.topic),
    [SHARED_TOPIC],
  );
  const rewritten = flows.map((node) => {
    if (node.type === "mqtt-broker") return { ...node, broker: "127.0.0.1", port: brokerPort };
    if (node.type === "dbgpt-config") return { ...node, baseUrl: dbgptUrl };
    return node;
  });
  return { flows: rewritten, configId: configs[0].id };
}

/** Everything the test client receives, by topic. */
function recorder(client) {
  const byTopic = new Map();
  client.on("message", (topic, payload, packet) => {
    if (!byTopic.has(topic)) byTopic.set(topic, []);
    byTopic.get(topic).push({
      payload: payload.toString("utf8"),
      retain: packet.retain,
      properties: packet.properties || {},
    });
  });
  return {
    on: (topic) => byTopic.get(topic) || [],
    topics: () => [...byTopic.keys()],
  };
}

/** The question with its own response topic and random correlation data. */
function question(text, responseTopic, extra = {}) {
  return {
    text,
    responseTopic,
    correlation: Buffer.from(`${text}#${randomBytes(6).toString("hex")}`),
    ...extra,
  };
}

function publish(client, q) {
  const properties = { correlationData: q.correlation };
  if (q.responseTopic) properties.responseTopic = q.responseTopic;
  if (q.decorated) {
    // MQTT 5 properties of a question that must not reach its answer.
    Object.assign(properties, {
      userProperties: { asker: "scale-out-test" },
      contentType: "text/plain",
      messageExpiryInterval: 300,
      payloadFormatIndicator: true,
    });
  }
  return client.publishAsync("dbgpt/ask", q.text, { qos: 1, retain: Boolean(q.retain), properties });
}

/** Which instance's key each question was asked with (the emulator's view). */
function keysByQuestion(emu) {
  const keys = new Map();
  for (const req of emu.chatRequests()) {
    const text = req.body && req.body.messages;
    const key = String(req.headers.authorization || "").replace(/^Bearer /, "");
    if (!keys.has(text)) keys.set(text, []);
    keys.get(text).push(key);
  }
  return keys;
}

/** A reply: on its topic, not retained, carrying the question's correlation data and nothing else. */
function assertReply(reply, q, where) {
  assert.equal(reply.retain, false, `${where}: retained`);
  assert.deepEqual(Object.keys(reply.properties), ["correlationData"], `${where}: MQTT 5 properties`);
  assert.ok(
    Buffer.from(reply.properties.correlationData).equals(q.correlation),
    `${where}: correlation data`,
  );
}

describe("example 05 Scale out: two Node-RED instances share the questions through mosquitto", function () {
  this.timeout(180000);
  let broker;
  let emu;
  let a;
  let b;
  let client;
  let received;
  let published = 0;

  before(async function () {
    broker = await startMosquitto(this);
    emu = await startEmulator({ delayMs: 2, apiKeys: [KEY_A, KEY_B] });
    const { flows, configId } = exampleFlows(broker.port, emu.url);
    [a, b] = await Promise.all(
      [KEY_A, KEY_B].map((apiKey) => startNodeRed({ flows, credentials: { [configId]: { apiKey } } })),
    );
    // Both instances are members of the shared subscription once mosquitto has handled both SUBSCRIBEs
    // (it handles packets one at a time, so anything published after this is shared between them).
    // Counted by client: mosquitto logs the topic twice per SUBSCRIBE ("\t<topic> (QoS 1)", then
    // "<client id> 1 <topic>"), and it hands the retained question to a shared subscription made later,
    // so counting the topic's mentions let a question go out before the second instance was in, and
    // that instance answered it again when it subscribed.
    const subscription = new RegExp(`^\\d+: (\\S+) [0-2] ${escapeRegExp(SHARED_TOPIC)}$`, "gm");
    const subscribed = () => new Set([...broker.logs().matchAll(subscription)].map((m) => m[1])).size;
    await waitFor(
      () => subscribed() >= 2,
      () => `${subscribed()} instance(s) subscribed:\n${broker.logs()}`,
      20000,
      20,
    );

    client = await mqtt.connectAsync(broker.url, {
      protocolVersion: 5,
      clean: true,
      clientId: `scale-out-test-${process.pid}`,
      reconnectPeriod: 0,
    });
    received = recorder(client);
    // Retain As Published, so a reply published with retain set would show it.
    await client.subscribeAsync({
      "replies/#": { qos: 1, rap: true },
      "dbgpt/answer/#": { qos: 1, rap: true },
      "dbgpt/ask": { qos: 1, rap: true },
    });
  });

  after(async function () {
    this.timeout(40000);
    if (client) await client.endAsync(true).catch(() => {});
    await Promise.all([a && a.stop(), b && b.stop()]);
    if (emu) await emu.close();
    if (broker) await broker.stop();
  });

  it(`answers ${QUESTIONS} questions exactly once each, on their response topics, shared by both instances`, async function () {
    const questions = [];
    for (let i = 0; i < QUESTIONS; i++) {
      questions.push(
        question(`scale-out question ${i}`, `replies/p1/${i}`, {
          retain: i % 10 === 3,
          decorated: i % 7 === 2,
        }),
      );
    }
    const noResponseTopic = [0, 1, 2].map((i) =>
      question(`scale-out without response topic ${i}`, undefined),
    );
    const failing = question("[server-error] scale-out failure", "replies/p1/failing");
    const all = [...questions, ...noResponseTopic, failing];
    for (const q of all) await publish(client, q);
    published += all.length;

    const answered = () => questions.filter((q) => received.on(q.responseTopic).length > 0).length;
    await waitFor(
      () =>
        answered() === QUESTIONS &&
        received.on("dbgpt/answer").length === noResponseTopic.length &&
        received.on("replies/p1/failing/error").length === 1,
      () =>
        `${answered()}/${QUESTIONS} answered, ${received.on("dbgpt/answer").length} on dbgpt/answer, ` +
        `${received.on("replies/p1/failing/error").length} error(s)`,
      30000,
      20,
    );
    await delay(500); // a duplicate or a late stream message would arrive by now

    for (const q of questions) {
      const answer = answerFor(q.text);
      const replies = received.on(q.responseTopic);
      assert.equal(replies.length, 1, `${q.text}: ${replies.length} answers`);
      assert.equal(replies[0].payload, answer, `${q.text}: answer`);
      assertReply(replies[0], q, q.responseTopic);
      const stream = received.on(`${q.responseTopic}/stream`);
      assert.ok(stream.length > 1, `${q.text}: ${stream.length} stream messages`);
      for (const delta of stream) assertReply(delta, q, `${q.responseTopic}/stream`);
      assert.equal(
        stream.map((m) => m.payload).join(""),
        answer,
        `${q.text}: the stream folds to the answer`,
      );
      assert.equal(received.on(`${q.responseTopic}/error`).length, 0);
    }

    // Without a response topic: dbgpt/answer, told apart by their correlation data.
    for (const q of noResponseTopic) {
      const mine = (topic) =>
        received
          .on(topic)
          .filter((m) => Buffer.from(m.properties.correlationData || []).equals(q.correlation));
      const replies = mine("dbgpt/answer");
      assert.equal(replies.length, 1, `${q.text}: ${replies.length} answers on dbgpt/answer`);
      assert.equal(replies[0].payload, answerFor(q.text));
      assertReply(replies[0], q, "dbgpt/answer");
      assert.equal(
        mine("dbgpt/answer/stream")
          .map((m) => m.payload)
          .join(""),
        answerFor(q.text),
      );
    }

    // A failure is answered too, on <response topic>/error, with the server's text.
    const [error] = received.on("replies/p1/failing/error");
    assert.match(error.payload, /scale-out failure/);
    assertReply(error, failing, "replies/p1/failing/error");
    assert.equal(received.on("replies/p1/failing").length, 0);

    // Nothing was published back to dbgpt/ask (the client sees its own questions there, and only them),
    // and nothing went anywhere else.
    assert.equal(received.on("dbgpt/ask").length, published);
    const expected = new Set([
      "dbgpt/ask",
      "dbgpt/answer",
      "dbgpt/answer/stream",
      "replies/p1/failing/error",
    ]);
    for (const q of questions) expected.add(q.responseTopic).add(`${q.responseTopic}/stream`);
    assert.deepEqual(
      received.topics().filter((t) => !expected.has(t)),
      [],
    );

    // DB-GPT was asked each question exactly once, and both instances took a share.
    const keys = keysByQuestion(emu);
    const share = { [KEY_A]: 0, [KEY_B]: 0 };
    for (const q of all) {
      assert.equal(
        (keys.get(q.text) || []).length,
        1,
        `${q.text} asked ${(keys.get(q.text) || []).length} times`,
      );
      share[keys.get(q.text)[0]] += 1;
    }
    assert.equal(share[KEY_A] + share[KEY_B], all.length, `unknown keys: ${JSON.stringify(share)}`);
    // mosquitto takes the members of a share group in turn: about half each.
    assert.ok(
      share[KEY_A] >= all.length / 4 && share[KEY_B] >= all.length / 4,
      `shares ${JSON.stringify(share)}`,
    );
  });

  it("keeps answering every question published after one instance is stopped (SIGTERM) mid-run", async function () {
    emu.reset();
    emu.configure({ delayMs: 15 }); // about 0.2 s per answer, so instance A is busy when it stops
    const questions = [];
    const state = { stopping: false, stopped: false };
    let publishing = true;
    const publisher = (async () => {
      for (let i = 0; publishing && i < 2000; i++) {
        const q = question(`scale-out phase 2 question ${i}`, `replies/p2/${i}`);
        q.phase = state.stopped ? "after" : state.stopping ? "during" : "before";
        questions.push(q);
        await publish(client, q);
        published += 1;
        await delay(10);
      }
    })();

    const inFlightOnA = () => {
      const keys = keysByQuestion(emu);
      return questions.filter(
        (q) => (keys.get(q.text) || []).includes(KEY_A) && received.on(q.responseTopic).length === 0,
      ).length;
    };
    await waitFor(
      () => questions.length >= 40 && inFlightOnA() > 0,
      () => `${questions.length} published, ${inFlightOnA()} in flight on instance A`,
      10000,
      20,
    );
    state.stopping = true;
    await a.stop(); // SIGTERM, then waits for the process to exit
    state.stopped = true;
    const firstAfter = questions.length;
    await waitFor(
      () => questions.length >= firstAfter + 60,
      () => `${questions.length - firstAfter} published after the stop`,
      15000,
      20,
    );
    publishing = false;
    await publisher;

    const after = questions.filter((q) => q.phase === "after");
    const answeredAfter = () => after.filter((q) => received.on(q.responseTopic).length > 0).length;
    await waitFor(
      () => answeredAfter() === after.length,
      () => `${answeredAfter()}/${after.length} questions published after the stop answered`,
      20000,
      20,
    );
    await delay(500);

    const keys = keysByQuestion(emu);
    for (const q of after) {
      const replies = received.on(q.responseTopic);
      assert.equal(replies.length, 1, `${q.text}: ${replies.length} answers`);
      assert.equal(replies[0].payload, answerFor(q.text));
      assertReply(replies[0], q, q.responseTopic);
      assert.deepEqual(keys.get(q.text), [KEY_B], `${q.text} asked by`);
    }
    // Before and during the stop: answered at most once, and right when answered; a question that is
    // never answered was one instance A had taken when it stopped (or taken during its shutdown).
    for (const q of questions.filter((x) => x.phase !== "after")) {
      const replies = received.on(q.responseTopic);
      assert.ok(replies.length <= 1, `${q.text}: ${replies.length} answers`);
      if (replies.length === 1) assert.equal(replies[0].payload, answerFor(q.text));
      else
        assert.notDeepEqual(keys.get(q.text), [KEY_B], `${q.text}: instance B asked it but never answered`);
    }
    assert.ok(
      questions.some((q) => q.phase === "before" && (keys.get(q.text) || []).includes(KEY_A)),
      "instance A took a share before it stopped",
    );
    assert.equal(received.on("dbgpt/ask").length, published, "nothing was published back to dbgpt/ask");
  });
});
