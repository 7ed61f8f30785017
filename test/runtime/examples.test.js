"use strict";
// The shipped example flows, as a user imports them: checked for shape, then each one deployed as
// shipped (only the DB-GPT base URL and the MQTT broker port rewritten) into a real Node-RED (a child
// process with the packed package installed) and driven end to end against the emulator.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const mqtt = require("mqtt");
const { CHAT_PATH, startEmulator, answerFor, DEFAULT_APPS } = require("../../emulator");
const {
  ROOT,
  useNodeRedWithEmulator,
  startMosquitto,
  requireBinary,
  MOSQUITTO_BIN,
  MOSQUITTO_APT,
} = require("./harness");
const { failureAnswer } = require("../support/faults");
const { FLOW_FORMAT } = require("../support/flow-format");
const { httpRequest } = require("../support/http");
const { delay, waitFor } = require("../support/wait");

const EXAMPLES_DIR = path.join(ROOT, "examples");
const PKG_NAME = require(path.join(ROOT, "package.json")).name;

/** The keys every node on a tab has, beside its Flow format keys. */
const NODE_KEYS = ["id", "type", "z", "x", "y", "wires"];

function exampleFiles() {
  return fs
    .readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort();
}

/** The example whose file name matches `re`, parsed fresh. */
function example(re) {
  const file = exampleFiles().find((f) => re.test(f));
  assert.ok(file, `no example matches ${re}`);
  return JSON.parse(fs.readFileSync(path.join(EXAMPLES_DIR, file), "utf8"));
}

/** The only change the runtime tests make to a shipped example: where DB-GPT and the broker are. */
function asShipped(nodes, { baseUrl, brokerPort } = {}) {
  return nodes.map((node) => {
    if (node.type === "dbgpt-config" && baseUrl) return { ...node, baseUrl };
    if (node.type === "mqtt-broker" && brokerPort) return { ...node, port: brokerPort };
    return node;
  });
}

const byType = (nodes, type) => nodes.filter((n) => n.type === type);
const one = (nodes, type) => {
  const found = byType(nodes, type);
  assert.equal(found.length, 1, `expected exactly one ${type} node, found ${found.length}`);
  return found[0];
};

/** POST text to Node-RED; resolves { status, headers, text }. Never waits more than ms. */
async function postText(url, text, ms = 15000) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: text,
    signal: AbortSignal.timeout(ms),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe("examples: shape", function () {
  const files = exampleFiles();

  it("ships the four documented examples", function () {
    for (const re of [/http chat/i, /mqtt/i, /apps/i, /conversation/i]) {
      assert.ok(
        files.some((f) => re.test(f)),
        `no example file matches ${re}`,
      );
    }
  });

  for (const file of files) {
    it(`${file}: a valid flow with a comment, its own tab and the default DB-GPT server without a key`, function () {
      const nodes = JSON.parse(fs.readFileSync(path.join(EXAMPLES_DIR, file), "utf8"));
      assert.ok(Array.isArray(nodes), "a JSON array of nodes");
      const ids = new Set(nodes.map((n) => n.id));
      assert.equal(ids.size, nodes.length, "node ids are unique");
      const tab = one(nodes, "tab");
      for (const node of nodes) {
        assert.equal(typeof node.id, "string");
        assert.equal(typeof node.type, "string");
        if (node.type === "tab" || !("wires" in node)) continue;
        assert.equal(node.z, tab.id, `${node.type} ${node.id} is on the example's tab`);
        for (const port of node.wires)
          for (const target of port) assert.ok(ids.has(target), `wire to ${target}`);
      }
      for (const node of byType(nodes, "catch")) {
        for (const target of node.scope) assert.ok(ids.has(target), `catch scope ${target}`);
      }
      assert.ok(
        byType(nodes, "comment").some((c) => c.name && c.info.length > 100),
        "a comment node explains the example",
      );
      const config = one(nodes, "dbgpt-config");
      assert.equal(config.baseUrl, "http://localhost:5670");
      assert.ok(!("credentials" in config), "no API key in the example");
      assert.equal(config.z, undefined, "the DB-GPT server is a global config node");
      for (const node of nodes) {
        const keys = FLOW_FORMAT[node.type];
        if (!keys) continue;
        const expected = new Set([...keys, ...(node.type === "dbgpt-config" ? ["id", "type"] : NODE_KEYS)]);
        assert.deepEqual(new Set(Object.keys(node)), expected, `${node.type} keys follow the flow format`);
        if (node.server !== undefined) assert.equal(node.server, config.id);
      }
    });
  }

  it("together they use every non-config node type", function () {
    const types = new Set(
      files.flatMap((f) => JSON.parse(fs.readFileSync(path.join(EXAMPLES_DIR, f))).map((n) => n.type)),
    );
    for (const type of ["dbgpt-chat", "dbgpt-list-apps", "dbgpt-get-app"]) assert.ok(types.has(type), type);
  });

  it("the HTTP example answers from the complete output and sends errors to the same response as 502", function () {
    const nodes = example(/http chat/i);
    const httpIn = one(nodes, "http in");
    const question = one(nodes, "function");
    const chat = one(nodes, "dbgpt-chat");
    const response = one(nodes, "http response");
    const catchNode = one(nodes, "catch");
    assert.equal(httpIn.method, "post");
    assert.equal(httpIn.url, "/dbgpt/chat");
    assert.deepEqual(httpIn.wires, [[question.id]]);
    assert.deepEqual(
      question.wires,
      [[chat.id], [response.id]],
      "a bad question goes straight to the response",
    );
    assert.deepEqual(chat.wires, [[], [response.id]]);
    assert.deepEqual(catchNode.scope, [chat.id]);
  });

  it("the MQTT example sets topic and retain on its out nodes (node settings win over msg)", function () {
    const nodes = example(/mqtt/i);
    const broker = one(nodes, "mqtt-broker");
    assert.equal(broker.broker, "localhost");
    assert.equal(Number(broker.port), 1883);
    assert.equal(one(nodes, "mqtt in").topic, "dbgpt/ask");
    const chat = one(nodes, "dbgpt-chat");
    const outs = new Map(byType(nodes, "mqtt out").map((n) => [n.id, n]));
    assert.equal(outs.get(chat.wires[0][0]).topic, "dbgpt/answer/stream");
    assert.equal(outs.get(chat.wires[1][0]).topic, "dbgpt/answer");
    for (const out of outs.values()) {
      // "false" (a string, as the editor stores it) is truthy, so the mqtt out node uses it over msg.retain;
      // "" would let the question's msg.retain through.
      assert.equal(out.retain, "false", `${out.topic}: retain`);
      assert.ok(out.topic, "topic set on the node");
    }
  });
});

describe("examples: in a real Node-RED", function () {
  this.timeout(60000);
  const suite = useNodeRedWithEmulator(() => []);

  it("offers the examples of the installed package under Import > Examples", async function () {
    const base = `${suite.nr.url}/library/examples/flows/${PKG_NAME}`;
    const listing = await (await fetch(base)).json();
    const names = listing.map((entry) => entry.fn).sort();
    assert.deepEqual(
      names,
      exampleFiles().map((f) => f.replace(/\.json$/, "")),
    );
    const first = exampleFiles()[0];
    const res = await fetch(`${base}/${encodeURIComponent(first.replace(/\.json$/, ""))}`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), JSON.parse(fs.readFileSync(path.join(EXAMPLES_DIR, first), "utf8")));
  });

  describe("HTTP chat endpoint", function () {
    before(async function () {
      await suite.nr.deploy(asShipped(example(/http chat/i), { baseUrl: suite.emu.url }));
    });

    it("answers a POSTed question with DB-GPT's whole answer", async function () {
      const question = "What is DB-GPT?";
      const res = await postText(`${suite.nr.url}/dbgpt/chat`, question);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.text, answerFor(question));
      assert.match(res.headers.get("content-type"), /^text\/plain/);
      const [request] = suite.emu.chatRequests();
      assert.equal(suite.emu.chatRequests().length, 1);
      assert.equal(request.body.messages, question);
      assert.equal(request.body.chat_mode, "chat_normal");
      assert.equal(request.body.model, "chatgpt_proxyllm");
      assert.equal(request.body.stream, true);
    });

    it("takes the question from a form (curl's default), a q field or a JSON body", async function () {
      const send = (contentType, body) =>
        httpRequest(`${suite.nr.url}/dbgpt/chat`, {
          method: "POST",
          headers: { "content-type": contentType },
          body,
        });
      // curl --data 'Hello' (no -H): application/x-www-form-urlencoded, the question is the only field name.
      const plainForm = await send("application/x-www-form-urlencoded", "Hello");
      assert.equal(plainForm.status, 200, plainForm.text);
      assert.equal(plainForm.text, answerFor("Hello"));
      const q = await send("application/x-www-form-urlencoded", "q=" + encodeURIComponent("What is 1+1?"));
      assert.equal(q.status, 200, q.text);
      assert.equal(q.text, answerFor("What is 1+1?"));
      const json = await send("application/json", JSON.stringify({ question: "From JSON" }));
      assert.equal(json.status, 200, json.text);
      assert.equal(json.text, answerFor("From JSON"));
      const jsonQ = await send("application/json", JSON.stringify({ q: "Short JSON" }));
      assert.equal(jsonQ.status, 200, jsonQ.text);
      assert.deepEqual(
        suite.emu.chatRequests().map((r) => r.body.messages),
        ["Hello", "What is 1+1?", "From JSON", "Short JSON"],
      );
    });

    it("answers 400 with a hint, without calling DB-GPT, when the question is missing", async function () {
      const cases = [
        ["an empty form (curl --data '')", "application/x-www-form-urlencoded", ""],
        ["an empty text body", "text/plain", ""],
        ["a blank text body", "text/plain", "  \n "],
        ["a JSON body without q or question", "application/json", JSON.stringify({ text: "Hello" })],
        ["no body at all", undefined, undefined],
      ];
      for (const [what, contentType, body] of cases) {
        const res = await httpRequest(`${suite.nr.url}/dbgpt/chat`, {
          method: "POST",
          headers: contentType ? { "content-type": contentType } : {},
          body,
        });
        assert.equal(res.status, 400, `${what}: ${res.text}`);
        assert.match(res.text, /question is missing/, what);
        assert.match(res.text, /Content-Type: text\/plain/, `${what}: the hint names text/plain`);
        assert.match(res.text, /q=Hello/, `${what}: the hint names the q field`);
        assert.ok(
          res.text.includes(`${suite.nr.url}/dbgpt/chat`),
          `${what}: the hint has this endpoint's URL`,
        );
      }
      assert.equal(suite.emu.chatRequests().length, 0, "DB-GPT was not asked");
    });

    it("answers 502 with the server's message when DB-GPT fails with HTTP 500", async function () {
      suite.emu.fault({ match: { path: CHAT_PATH }, ...failureAnswer(500, "E0003", "emulated outage") });
      const res = await postText(`${suite.nr.url}/dbgpt/chat`, "Hello");
      assert.equal(res.status, 502);
      assert.match(res.text, /emulated outage/);
    });

    it("answers 502 with the server's own text when DB-GPT reports an error in the stream", async function () {
      const res = await postText(`${suite.nr.url}/dbgpt/chat`, "[server-error] emulated worker failure");
      assert.equal(res.status, 502);
      assert.match(res.text, /emulated worker failure/);
      assert.equal(suite.emu.chatRequests().length, 1);
    });

    it("answers 502 when DB-GPT is unreachable, instead of leaving the caller hanging", async function () {
      const down = await startEmulator({ delayMs: 0 });
      const downUrl = down.url;
      await down.close();
      await suite.nr.deploy(asShipped(example(/http chat/i), { baseUrl: downUrl }));
      try {
        const res = await postText(`${suite.nr.url}/dbgpt/chat`, "Hello");
        assert.equal(res.status, 502);
        assert.ok(res.text.length > 0);
      } finally {
        await suite.nr.deploy(asShipped(example(/http chat/i), { baseUrl: suite.emu.url }));
      }
    });
  });

  describe("Conversation", function () {
    before(async function () {
      await suite.nr.deploy(asShipped(example(/conversation/i), { baseUrl: suite.emu.url }));
    });

    it("continues each session's own conversation", async function () {
      const url = (session) => `${suite.nr.url}/dbgpt/conversation?session=${session}`;
      const a1 = await postText(url("alice"), "My name is Alice");
      assert.equal(a1.status, 200, a1.text);
      assert.equal(a1.text, answerFor("My name is Alice"));
      const b1 = await postText(url("bob"), "My name is Bob");
      assert.equal(b1.status, 200, b1.text);
      const a2 = await postText(url("alice"), "[echo-history] what did I say?");
      assert.equal(a2.status, 200, a2.text);
      const b2 = await postText(url("bob"), "[echo-history] and me?");
      assert.equal(b2.status, 200, b2.text);

      const [ra1, rb1, ra2, rb2] = suite.emu.chatRequests().map((r) => r.body);
      assert.equal(suite.emu.chatRequests().length, 4);
      assert.equal(typeof ra1.conv_uid, "string");
      assert.ok(ra1.conv_uid.length > 0, "a new session starts a conversation with an id");
      assert.equal(ra2.conv_uid, ra1.conv_uid, "alice's second request continues alice's conversation");
      assert.equal(rb2.conv_uid, rb1.conv_uid, "bob's second request continues bob's conversation");
      assert.notEqual(rb1.conv_uid, ra1.conv_uid, "another session does not get alice's conversation");
      assert.equal(a1.headers.get("x-dbgpt-conv-uid"), ra1.conv_uid);
      // The server's own history for the conversation proves it is the same one.
      assert.match(a2.text, /My name is Alice/);
      assert.doesNotMatch(a2.text, /Bob/);
      assert.match(b2.text, /My name is Bob/);
      assert.doesNotMatch(b2.text, /Alice/);
    });

    it("takes the question from a form (curl's default) and answers 400 with a hint without one", async function () {
      const url = `${suite.nr.url}/dbgpt/conversation?session=dave`;
      const form = await httpRequest(url, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "Hello",
      });
      assert.equal(form.status, 200, form.text);
      assert.equal(form.text, answerFor("Hello"));
      const q = await httpRequest(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ q: "Again" }),
      });
      assert.equal(q.status, 200, q.text);
      assert.deepEqual(
        suite.emu.chatRequests().map((r) => r.body.messages),
        ["Hello", "Again"],
      );
      const empty = await httpRequest(url, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "",
      });
      assert.equal(empty.status, 400, empty.text);
      assert.match(empty.text, /question is missing.*Content-Type: text\/plain.*q=Hello/s);
      assert.ok(empty.text.includes(`'${url}'`), "the hint has this endpoint's URL, quoted for the shell");
      assert.equal(suite.emu.chatRequests().length, 2, "DB-GPT was not asked without a question");
    });

    it("asks for a session instead of calling DB-GPT without one", async function () {
      const res = await postText(`${suite.nr.url}/dbgpt/conversation`, "Hello");
      assert.equal(res.status, 400);
      assert.match(res.text, /session/);
      assert.equal(suite.emu.chatRequests().length, 0);
    });

    it("answers 502 with the error message when DB-GPT fails", async function () {
      const res = await postText(`${suite.nr.url}/dbgpt/conversation?session=carol`, "[server-error] now");
      assert.equal(res.status, 502);
      assert.ok(res.text.length > 0);
    });
  });

  describe("Apps", function () {
    before(async function () {
      await suite.nr.deploy(asShipped(example(/apps/i), { baseUrl: suite.emu.url }));
    });

    it("reads every app of the server into the debug sidebar", async function () {
      const nodes = example(/apps/i);
      const inject = one(nodes, "inject");
      const debugNode = one(nodes, "debug");
      const codes = [...new Set(DEFAULT_APPS.map((a) => a.app_code))];
      assert.ok(codes.length > 20, "the emulator serves more apps than one page");
      const sidebar = await suite.nr.subscribeDebug();
      try {
        await suite.nr.inject(inject.id);
        const fromDebugNode = () => sidebar.messages.filter((m) => m.id === debugNode.id);
        await sidebar.waitFor(() => fromDebugNode().length >= codes.length, 20000);
        const apps = fromDebugNode().map((m) => JSON.parse(m.msg));
        assert.deepEqual(apps.map((a) => a.app_code).sort(), [...codes].sort());
        for (const app of apps) assert.equal(typeof app.app_name, "string");
        const detailPaths = suite.emu.requests
          .filter((r) => r.method === "GET" && r.path.startsWith("/api/v2/serve/apps/"))
          .map((r) => r.rawPath);
        assert.equal(detailPaths.length, codes.length, "one get-app request per app");
      } finally {
        sidebar.close();
      }
    });
  });

  describe("MQTT token stream", function () {
    let broker;
    let client;
    const received = [];

    before(async function () {
      requireBinary(MOSQUITTO_BIN, MOSQUITTO_APT, this);
      broker = await startMosquitto();
      client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: `test-${process.pid}` });
      client.on("message", (topic, payload, packet) =>
        received.push({ topic, text: payload.toString(), retain: packet.retain }),
      );
      // rap: see the retain flag as published, so a leaked retain shows on live messages too.
      await client.subscribeAsync({
        "dbgpt/answer/#": { qos: 1, rap: true },
        "dbgpt/ask": { qos: 1, rap: true },
      });
    });

    after(async function () {
      if (client) await client.endAsync();
      if (broker) await broker.stop();
    });

    /** Deploys the example and waits until the broker saw Node-RED subscribe to dbgpt/ask. */
    async function deployMqttExample() {
      const logFrom = broker.logs().length;
      await suite.nr.deploy(asShipped(example(/mqtt/i), { baseUrl: suite.emu.url, brokerPort: broker.port }));
      await waitFor(
        () => /dbgpt\/ask \(QoS/.test(broker.logs().slice(logFrom)),
        () => `Node-RED to subscribe:\n${broker.logs().slice(logFrom)}`,
        15000,
        20,
      );
    }

    /** Resolves with the messages received from index `from` up to and including the first on `topic`. */
    function until(topic, from, ms = 15000) {
      return waitFor(
        () => {
          const index = received.findIndex((m, i) => i >= from && m.topic === topic);
          return index >= 0 && received.slice(from, index + 1);
        },
        () => `a message on ${topic}; received ${JSON.stringify(received.slice(from))}`,
        ms,
        20,
      );
    }

    function checkAnswer(messages, question) {
      const stream = messages.filter((m) => m.topic === "dbgpt/answer/stream");
      const answers = messages.filter((m) => m.topic === "dbgpt/answer");
      assert.ok(stream.length > 1, "the answer is streamed in pieces");
      assert.equal(stream.map((m) => m.text).join(""), answerFor(question));
      assert.equal(answers.length, 1);
      assert.equal(answers[0].text, answerFor(question));
      for (const m of messages) {
        assert.notEqual(m.retain, true, `${m.topic} was published retained`);
        assert.ok(["dbgpt/answer/stream", "dbgpt/answer", "dbgpt/ask"].includes(m.topic), m.topic);
      }
    }

    it("answers a retained question without retaining or misdirecting the answers", async function () {
      // Published before the flow subscribes, the question reaches it as a retained message
      // (msg.retain = true, msg.topic = "dbgpt/ask"): neither may leak into the replies.
      const question = "Retained question";
      await client.publishAsync("dbgpt/ask", question, { qos: 1, retain: true });
      const from = received.length;
      try {
        await deployMqttExample();
        const messages = await until("dbgpt/answer", from);
        checkAnswer(messages, question);
        assert.deepEqual(
          suite.emu.chatRequests().map((r) => r.body.messages),
          [question],
        );
        assert.deepEqual(
          messages.filter((m) => m.topic === "dbgpt/ask").map((m) => m.text),
          [],
          "nothing was published back to the question topic",
        );
        // A new subscriber finds no retained answer.
        const probe = await mqtt.connectAsync(broker.url, {
          protocolVersion: 5,
          clientId: `probe-${process.pid}`,
        });
        try {
          const retained = [];
          probe.on("message", (topic, payload, packet) => packet.retain && retained.push(topic));
          await probe.subscribeAsync("dbgpt/answer/#", { qos: 1 });
          await delay(300);
          assert.deepEqual(retained, []);
        } finally {
          await probe.endAsync();
        }
      } finally {
        // Take the flow away before clearing the retained question: the clearing (empty) message is
        // delivered to live subscribers too.
        await suite.nr.deploy([]);
        await client.publishAsync("dbgpt/ask", "", { qos: 1, retain: true });
      }
    });

    describe("live questions", function () {
      before(async function () {
        await deployMqttExample();
      });

      it("streams the answer token by token to dbgpt/answer/stream, then the whole answer to dbgpt/answer", async function () {
        const question = "Tell me about streaming";
        const from = received.length;
        await client.publishAsync("dbgpt/ask", question, { qos: 1 });
        const messages = await until("dbgpt/answer", from);
        checkAnswer(messages, question);
        assert.deepEqual(
          messages.filter((m) => m.topic === "dbgpt/ask").map((m) => m.text),
          [question],
          "only the question itself is on dbgpt/ask",
        );
        assert.equal(suite.emu.chatRequests().length, 1);
        assert.equal(suite.emu.chatRequests()[0].body.messages, question);
      });

      it("publishes DB-GPT's error to dbgpt/answer/error and no answer", async function () {
        const from = received.length;
        await client.publishAsync("dbgpt/ask", "[server-error] emulated broker-side failure", { qos: 1 });
        const messages = await until("dbgpt/answer/error", from);
        const error = messages[messages.length - 1];
        assert.match(error.text, /emulated broker-side failure/);
        assert.equal(error.retain, false);
        await delay(200);
        assert.equal(
          received.slice(from).filter((m) => m.topic === "dbgpt/answer").length,
          0,
          "no complete message for a failure",
        );
      });
    });
  });
});
