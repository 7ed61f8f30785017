"use strict";
/**
 * Faults, in a real Node-RED runtime (the packed package in a child process) against the emulator's
 * misbehaviour modes: cut streams (at every event boundary, mid-event, inside a multi-byte character),
 * stalls, a 1-byte drip, a 5 MB event and one over 16 MiB, invalid JSON and unknown shapes, HTML 404, empty
 * 500, JSON 502, a redirect, connection refused, an unresolvable host (injected DNS), and HTTPS with a
 * self-signed certificate without and with a tls-config that trusts it.
 *
 * Each failure must reach Catch through done(err) with the documented code (msg.dbgpt.error.code and the
 * error's code), keep the partial text (msg.dbgpt.partial, equal to what the stream output sent), produce
 * exactly one outcome, leave a red ring, leave no connection open at the emulator, bring the runtime's
 * active handles back to their baseline, cause no unhandled rejection, and the node must then answer the
 * next message.
 */
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const { startNodeRed, requireBinary, nodeRedVersion } = require("./harness");

// Node-RED copies an Error's `code` onto the msg.error that Catch gets from 4.1 on; 4.0 keeps only the
// message and source there (msg.dbgpt.error.code carries the code on every version).
const CATCH_SEES_CODE = (() => {
  const [major, minor] = nodeRedVersion().split(".").map(Number);
  return major > 4 || (major === 4 && minor >= 1);
})();
const {
  PROBE_SETTINGS,
  childEnv,
  quietBaseline,
  settleHandles,
  expectNoUnhandled,
  driverFlow,
  Driver,
} = require("./fixtures-hardening");
const { freePort, httpRequest } = require("../support/http");
const { configNode, chatNode, tlsConfigNode } = require("../support/flow-format");
const { fold } = require("../support/chat-output");
const { startEmulator, answerFor, answerTokens, hugeText, APP_CODES } = require("../../emulator");
const { selfSigned } = require("../../emulator/selfsigned");

const MODEL = "chatgpt_proxyllm"; // the config's default model: what the chat nodes send
const IDLE_TIMEOUT_S = 0.4;
const MIB = 1024 * 1024;

/** One chat_normal delta event as the server writes it (Python json.dumps spacing). */
function deltaEvent(text) {
  return (
    `data: {"id": "chatcmpl-fault", "model": "${MODEL}", "choices": [{"index": 0, "delta": ` +
    `{"role": "assistant", "content": ${JSON.stringify(text)}, "reasoning_content": null}}]}\n\n`
  );
}

/** The raw body the emulator streams for a chat_normal question (to find event boundaries). */
async function rawStream(emu, question) {
  const res = await httpRequest(`${emu.url}/api/v2/chat/completions`, {
    method: "POST",
    body: { model: MODEL, messages: question, stream: true, chat_mode: "chat_normal" },
  });
  return res.bytes;
}

/** Byte ranges [start, end) of each SSE event in a body. */
function eventRanges(buf) {
  const ranges = [];
  let start = 0;
  for (;;) {
    const end = buf.indexOf("\n\n", start);
    if (end === -1) break;
    ranges.push({ start, end: end + 2 });
    start = end + 2;
  }
  return ranges;
}

describe("runtime: faults (real Node-RED against a misbehaving emulator)", function () {
  this.timeout(30000);

  let tmpDir;
  let hostsFile;
  let emu;
  let tlsEmu;
  let lateEmu;
  let refusedPort;
  let nr;
  let driver;
  let baseline;

  const TARGETS = {
    main: "chat-main",
    app: "chat-app",
    refused: "chat-refused",
    invalid: "chat-invalid",
    late: "chat-late",
    tlsNoCa: "chat-tls-noca",
    tlsCa: "chat-tls-ca",
  };

  before(async function () {
    this.timeout(300000);
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), "dbgpt-faults-"));
    hostsFile = path.join(tmpDir, "hosts.json");
    fs.writeFileSync(hostsFile, "{}");
    const caFile = path.join(tmpDir, "ca.pem");
    let pair;
    try {
      pair = selfSigned();
    } catch (err) {
      // Without openssl there is no certificate: the two HTTPS tests skip themselves (see requireOpenssl).
      if (err.code !== "EMULATOR_NO_OPENSSL") throw err;
    }
    fs.writeFileSync(caFile, pair ? pair.cert : "");

    emu = await startEmulator({ delayMs: 0 });
    if (pair) tlsEmu = await startEmulator({ delayMs: 0, tls: pair });
    const tlsUrl = tlsEmu ? tlsEmu.url : "https://127.0.0.1:9";
    refusedPort = await freePort();

    const timeout = { timeout: IDLE_TIMEOUT_S };
    const flows = driverFlow({
      targets: [
        { name: "main", node: chatNode(TARGETS.main, "cfg-main") },
        {
          name: "app",
          node: chatNode(TARGETS.app, "cfg-main", {
            chatMode: "chat_app",
            chatParam: "app",
            chatParamType: "msg",
          }),
        },
        { name: "refused", node: chatNode(TARGETS.refused, "cfg-refused") },
        { name: "invalid", node: chatNode(TARGETS.invalid, "cfg-invalid") },
        { name: "late", node: chatNode(TARGETS.late, "cfg-late") },
        { name: "tlsNoCa", node: chatNode(TARGETS.tlsNoCa, "cfg-tls-noca") },
        { name: "tlsCa", node: chatNode(TARGETS.tlsCa, "cfg-tls-ca") },
      ],
      extra: [
        configNode("cfg-main", emu.url, timeout),
        configNode("cfg-refused", `http://127.0.0.1:${refusedPort}`, timeout),
        configNode("cfg-invalid", `http://dbgpt-server.invalid:${emu.port}`, timeout),
        configNode("cfg-late", `http://dbgpt-late.test:${emu.port}`, timeout),
        configNode("cfg-tls-noca", tlsUrl, timeout),
        configNode("cfg-tls-ca", tlsUrl, { ...timeout, tls: "tls-ca" }),
        tlsConfigNode("tls-ca", { name: "trusts the emulator's self-signed certificate", ca: caFile }),
      ],
    });
    nr = await startNodeRed({ flows, settings: PROBE_SETTINGS, env: childEnv({ hostsFile }) });
    driver = new Driver(nr);
    baseline = await quietBaseline(nr);
  });

  after(async function () {
    this.timeout(30000);
    if (nr) await nr.stop();
    for (const server of [emu, tlsEmu, lateEmu]) if (server) await server.close();
    if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    emu.reset();
    if (tlsEmu) tlsEmu.reset();
    await driver.reset();
  });

  /**
   * Asks `target` and checks everything a failure must do. Returns the outcome.
   * expected: { code, partial?, statusCode?, message? (RegExp), emulator? (whose connections must close),
   *             faultId? (must have been applied) }
   */
  async function expectFailure(target, props, expected) {
    const nodeId = TARGETS[target];
    const { msgid, stream, outcome } = await driver.ask(target, props);
    assert.equal(
      outcome.kind,
      "error",
      `expected ${expected.code}, got a final message: ${JSON.stringify(outcome).slice(0, 400)}`,
    );
    assert.equal(
      outcome.dbgpt.error.code,
      expected.code,
      `msg.dbgpt.error.code (error: ${outcome.error.message})`,
    );
    if (CATCH_SEES_CODE)
      assert.equal(outcome.error.code, expected.code, "the Error's code, as Catch sees it");
    assert.equal(outcome.error.source.id, nodeId, "the error comes from the chat node");
    assert.equal(outcome.payload, props.payload, "Catch gets the input message");
    assert.equal(typeof outcome.dbgpt.partial, "string", "msg.dbgpt.partial is set");
    if (expected.partial !== undefined)
      assert.equal(outcome.dbgpt.partial, expected.partial, "msg.dbgpt.partial");
    assert.equal(fold(stream), outcome.dbgpt.partial, "the stream output sent exactly the partial text");
    if (expected.statusCode !== undefined) assert.equal(outcome.dbgpt.error.statusCode, expected.statusCode);
    if (expected.message) assert.match(outcome.error.message, expected.message);
    if (expected.faultId !== undefined) {
      assert.ok(
        expected.emulator.requests.some((r) => r.fault === expected.faultId),
        "the fault was applied to the node's request",
      );
    }

    await driver.waitForStatus(nodeId, (s) => s.fill === "red" && s.shape === "ring");
    if (expected.emulator) await expected.emulator.waitForConnections(0, 3000);
    await settleHandles(nr, baseline, { what: `after ${expected.code} on ${target}` });
    const run = await driver.run(msgid);
    assert.equal(
      run.outcomes.length,
      1,
      `one outcome per message, got ${JSON.stringify(run.outcomes).slice(0, 400)}`,
    );
    await expectNoUnhandled(nr);
    return outcome;
  }

  /** The node answers the next message in full. */
  async function expectServes(target, question = "next message after the fault", options = {}) {
    const { msgid, stream, outcome } = await driver.ask(target, { payload: question, ...options.props });
    assert.equal(
      outcome.kind,
      "final",
      `the next message failed: ${JSON.stringify(outcome.error || outcome)}`,
    );
    const expected =
      options.answer !== undefined ? options.answer : answerFor(question, options.answerOptions);
    assert.equal(outcome.payload, expected);
    assert.equal(fold(stream), expected);
    assert.equal(outcome.dbgpt.type, "final");
    const run = await driver.run(msgid);
    assert.equal(run.outcomes.length, 1);
    // The red ring gives way: nothing is in flight, so the status is cleared.
    await driver.waitForStatus(TARGETS[target], (s) => !s.fill);
    return outcome;
  }

  function fault(spec, server = emu) {
    return server.fault(spec);
  }

  describe("cut streams", () => {
    const QUESTION = "cut";
    const tokens = answerTokens(QUESTION);
    // Events: one per token, the final "" content event, then [DONE].
    for (let k = 0; k <= tokens.length + 1; k++) {
      it(`cut after ${k} of ${tokens.length + 2} events: DBGPT_STREAM_CLOSED with the partial text`, async () => {
        const faultId = fault({ match: { question: QUESTION }, cutAfterEvents: k });
        await expectFailure(
          "main",
          { payload: QUESTION },
          {
            code: "DBGPT_STREAM_CLOSED",
            partial: tokens.slice(0, k).join(""),
            emulator: emu,
            faultId,
          },
        );
        await expectServes("main");
      });
    }

    it("cut right after [DONE] (no chunked terminator): a complete answer", async () => {
      fault({ match: { question: QUESTION }, cutAfterEvents: tokens.length + 2 });
      await expectServes("main", QUESTION);
      await expectServes("main");
    });

    describe("in the middle of an event", () => {
      const UNICODE = "[unicode]";
      const uniTokens = answerTokens(UNICODE);
      let body;
      let ranges;
      before(async () => {
        body = await rawStream(emu, UNICODE);
        ranges = eventRanges(body);
        assert.equal(ranges.length, uniTokens.length + 2, "one event per token, the final event and [DONE]");
      });

      for (let i = 0; i < uniTokens.length; i++) {
        it(`cut inside a multi-byte character of event ${i} ("${uniTokens[i]}")`, async () => {
          const { start, end } = ranges[i];
          const event = body.subarray(start, end);
          const firstMultiByte = event.findIndex((byte) => byte >= 0x80);
          assert.ok(firstMultiByte > 0, `event ${i} has a multi-byte character`);
          const faultId = fault({ match: { question: UNICODE }, cutAfterBytes: start + firstMultiByte + 1 });
          await expectFailure(
            "main",
            { payload: UNICODE },
            { code: "DBGPT_STREAM_CLOSED", partial: uniTokens.slice(0, i).join(""), emulator: emu, faultId },
          );
          await expectServes("main", UNICODE);
        });
      }

      for (const [label, index, offset] of [
        ["inside the first event's `data: ` field name", 0, 2],
        ["inside the fourth event's `data: ` field name", 3, 3],
        ["between the two newlines ending event 5", 5, -1],
        ["inside the final (empty content) event", uniTokens.length, 40],
        ["inside `data: [DONE]`", uniTokens.length + 1, 9],
      ]) {
        it(`cut ${label}`, async () => {
          const { start, end } = ranges[index];
          const at = offset >= 0 ? start + offset : end + offset;
          const faultId = fault({ match: { question: UNICODE }, cutAfterBytes: at });
          await expectFailure(
            "main",
            { payload: UNICODE },
            {
              code: "DBGPT_STREAM_CLOSED",
              partial: uniTokens.slice(0, Math.min(index, uniTokens.length)).join(""),
              emulator: emu,
              faultId,
            },
          );
          await expectServes("main");
        });
      }
    });

    it("chat_app: a stream cut after some re-renders is DBGPT_STREAM_CLOSED with a prefix of the answer", async () => {
      const question = "cut this app answer";
      const full = answerFor(question, { chatMode: "chat_app" });
      const faultId = fault({ match: { question }, cutAfterEvents: 4 });
      const outcome = await expectFailure(
        "app",
        { payload: question, app: APP_CODES.singleAgent },
        { code: "DBGPT_STREAM_CLOSED", emulator: emu, faultId },
      );
      assert.ok(
        full.startsWith(outcome.dbgpt.partial),
        `"${outcome.dbgpt.partial}" is a prefix of "${full}"`,
      );
      await expectServes("app", "after the app cut", {
        props: { app: APP_CODES.singleAgent },
        answerOptions: { chatMode: "chat_app" },
      });
    });

    it("chat_app: an unknown app id (200 headers, then the socket dropped) says the app is probably unknown", async () => {
      await expectFailure(
        "app",
        { payload: "hello app", app: "no-such-app" },
        { code: "DBGPT_STREAM_CLOSED", partial: "", message: /no-such-app/, emulator: emu },
      );
      await expectServes("app", "after the unknown app", {
        props: { app: APP_CODES.singleAgent },
        answerOptions: { chatMode: "chat_app" },
      });
    });
  });

  describe("stalls and slow servers (idle timeout 0.4 s)", () => {
    const QUESTION = "stall";
    const tokens = answerTokens(QUESTION);

    it("stall before the headers: DBGPT_TIMEOUT", async () => {
      const faultId = fault({ match: { question: QUESTION }, stall: "before-headers" });
      const started = Date.now();
      await expectFailure(
        "main",
        { payload: QUESTION },
        { code: "DBGPT_TIMEOUT", partial: "", emulator: emu, faultId },
      );
      assert.ok(Date.now() - started < 10000);
      await expectServes("main");
    });

    it("stall right after the headers: DBGPT_TIMEOUT", async () => {
      const faultId = fault({ match: { question: QUESTION }, stall: "after-headers" });
      await expectFailure(
        "main",
        { payload: QUESTION },
        { code: "DBGPT_TIMEOUT", partial: "", emulator: emu, faultId },
      );
      await expectServes("main");
    });

    it("stall in the middle of the stream: DBGPT_TIMEOUT with the partial text", async () => {
      const faultId = fault({ match: { question: QUESTION }, stall: "after-events", events: 3 });
      await expectFailure(
        "main",
        { payload: QUESTION },
        { code: "DBGPT_TIMEOUT", partial: tokens.slice(0, 3).join(""), emulator: emu, faultId },
      );
      await expectServes("main");
    });

    it("msg.requestTimeout overrides the idle timeout for one message", async () => {
      const faultId = fault({ match: { question: QUESTION }, stall: "after-events", events: 2 });
      await expectFailure(
        "main",
        { payload: QUESTION, requestTimeout: 100 },
        { code: "DBGPT_TIMEOUT", partial: tokens.slice(0, 2).join(""), emulator: emu, faultId },
      );
      // A server slower than the configured 0.4 s but within this message's 3 s is fine.
      fault({ match: { question: QUESTION }, firstEventDelayMs: 700 });
      await expectServes("main", QUESTION, { props: { requestTimeout: 3000 } });
    });

    it("a one-byte drip (every multi-byte character split) gives the exact answer", async () => {
      const question = "[unicode]";
      const faultId = fault({ match: { question }, drip: { bytes: 1, intervalMs: 1 } });
      await expectServes("main", question);
      assert.ok(emu.requests.some((r) => r.fault === faultId));
      await expectServes("main");
    });
  });

  describe("sizes and shapes", () => {
    // Building and sending megabytes can pause the emulator (in this process) longer than the 0.4 s idle
    // timeout on a busy 2-core machine: these cases are about size, so they get a 10 s one.
    const SLOW = 10000;

    it("a 5 MB event is a normal answer", async function () {
      this.timeout(60000);
      const question = "five megabytes please";
      const faultId = fault({ match: { question }, hugeEvent: 5 * MIB });
      const outcome = await expectServes("main", question, {
        answer: hugeText(5 * MIB),
        props: { requestTimeout: SLOW },
      });
      assert.equal(Buffer.byteLength(outcome.payload), 5 * MIB);
      assert.ok(emu.requests.some((r) => r.fault === faultId));
      await expectServes("main");
    });

    it("an event over 16 MiB is DBGPT_PROTOCOL", async function () {
      this.timeout(60000);
      const question = "seventeen megabytes please";
      const faultId = fault({ match: { question }, hugeEvent: 16 * MIB + 1024 });
      await expectFailure(
        "main",
        { payload: question, requestTimeout: SLOW },
        { code: "DBGPT_PROTOCOL", partial: "", message: /16777216|16 MiB/, emulator: emu, faultId },
      );
      await expectServes("main");
    });

    for (const [label, bad] of [
      [
        "invalid JSON",
        'data: {"id": "chatcmpl-fault", "choices": [{"index": 0, "delta": {"content": "x"}\n\n',
      ],
      ["a JSON object of an unknown shape", 'data: {"unexpected": "shape", "value": 1}\n\n'],
      ["a JSON array", "data: [1, 2, 3]\n\n"],
      ["a JSON string", 'data: "just text"\n\n'],
    ]) {
      it(`${label} in an event is DBGPT_PROTOCOL, keeping the text before it`, async () => {
        const question = `bad event: ${label}`;
        const faultId = fault({
          match: { question },
          rawEvents: [
            deltaEvent("Hello"),
            deltaEvent(" there"),
            bad,
            deltaEvent(" never"),
            "data: [DONE]\n\n",
          ],
        });
        await expectFailure(
          "main",
          { payload: question },
          { code: "DBGPT_PROTOCOL", partial: "Hello there", emulator: emu, faultId },
        );
        await expectServes("main");
      });
    }
  });

  describe("HTTP errors and redirects", () => {
    const CASES = [
      {
        label: "an HTML 404 page",
        status: {
          status: 404,
          contentType: "text/html; charset=utf-8",
          body: "<!DOCTYPE html><html><head><title>404: This page could not be found</title></head><body>404</body></html>",
        },
        message: /404/,
      },
      { label: "500 with an empty body", status: { status: 500, body: "" }, message: /500/ },
      {
        label: "502 with a JSON body",
        status: {
          status: 502,
          contentType: "application/json",
          body: '{"success":false,"err_code":"E0502","err_msg":"upstream model worker unavailable","data":null}',
        },
        message: /upstream model worker unavailable/,
      },
    ];
    for (const { label, status, message } of CASES) {
      it(`${label}: DBGPT_HTTP with the status code`, async () => {
        const question = `http error: ${label}`;
        const faultId = fault({ match: { question }, status });
        const outcome = await expectFailure(
          "main",
          { payload: question },
          { code: "DBGPT_HTTP", statusCode: status.status, partial: "", message, emulator: emu, faultId },
        );
        if (status.body !== "") assert.equal(outcome.dbgpt.error.body, status.body, "msg.dbgpt.error.body");
        await expectServes("main");
      });
    }

    it("a redirect is not followed: DBGPT_HTTP naming the Location", async () => {
      const question = "redirect me";
      const location = "http://127.0.0.1:9/api/v2/chat/completions";
      const faultId = fault({ match: { question }, redirect: { status: 302, location } });
      await expectFailure(
        "main",
        { payload: question },
        {
          code: "DBGPT_HTTP",
          statusCode: 302,
          partial: "",
          message: /127\.0\.0\.1:9\//,
          emulator: emu,
          faultId,
        },
      );
      assert.equal(emu.chatRequests().length, 1, "nothing else was requested");
      await expectServes("main");
    });
  });

  describe("connection failures", () => {
    it("connection refused: DBGPT_CONNECT, then the node answers once the server is up", async () => {
      await expectFailure(
        "refused",
        { payload: "anyone there?" },
        { code: "DBGPT_CONNECT", partial: "", message: /ECONNREFUSED|refused/i },
      );
      lateEmu = await startEmulator({ delayMs: 0, port: refusedPort });
      await expectServes("refused");
      assert.equal(lateEmu.chatRequests().length, 1);
    });

    it("an unresolvable host (injected DNS): DBGPT_CONNECT, and the next message is answered the same way", async () => {
      await expectFailure(
        "invalid",
        { payload: "resolve me" },
        { code: "DBGPT_CONNECT", partial: "", message: /ENOTFOUND|dbgpt-server\.invalid/ },
      );
      await expectFailure(
        "invalid",
        { payload: "resolve me again" },
        { code: "DBGPT_CONNECT", partial: "", message: /ENOTFOUND|dbgpt-server\.invalid/ },
      );
      assert.equal(emu.chatRequests().length, 0);
    });

    it("a host that resolves only later: DBGPT_CONNECT first, then the answer", async () => {
      await expectFailure(
        "late",
        { payload: "not yet" },
        { code: "DBGPT_CONNECT", partial: "", message: /ENOTFOUND/ },
      );
      fs.writeFileSync(hostsFile, JSON.stringify({ "dbgpt-late.test": "127.0.0.1" }));
      await expectServes("late");
      assert.equal(emu.chatRequests().length, 1);
    });

    /** The HTTPS tests need a certificate, made with Debian's openssl. */
    function requireOpenssl(ctx) {
      if (!tlsEmu) requireBinary("/usr/bin/openssl", "apt-get install -y openssl", ctx);
    }

    it("HTTPS with a self-signed certificate and no CA: DBGPT_CONNECT, every time", async function () {
      requireOpenssl(this);
      for (const question of ["trust me", "trust me now"]) {
        await expectFailure(
          "tlsNoCa",
          { payload: question },
          { code: "DBGPT_CONNECT", partial: "", message: /certificate|self[- ]signed/i, emulator: tlsEmu },
        );
      }
      assert.equal(tlsEmu.chatRequests().length, 0, "no request got through the TLS handshake");
    });

    it("HTTPS with a tls-config that trusts the certificate: answered", async function () {
      requireOpenssl(this);
      await expectServes("tlsCa", "over https");
      await expectServes("tlsCa", "over https again");
      assert.equal(tlsEmu.chatRequests().length, 2);
    });
  });

  describe("after all faults", () => {
    it("no unhandled rejection, no error log of a crash, the runtime still up", async () => {
      await expectNoUnhandled(nr);
      assert.doesNotMatch(nr.logs(), /TypeError|ReferenceError|RangeError/);
    });
  });
});
