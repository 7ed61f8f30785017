"use strict";
// Shared by the client tests: the compiled client, an emulator per suite, and small assertions.
const assert = require("node:assert/strict");
const { startEmulator } = require("../../emulator");
const client = require("../../nodes/lib/client/index.js");

const MODEL = "chatgpt_proxyllm";

/**
 * Starts one emulator for the enclosing describe(); forgets requests and faults after every test.
 * Returns a getter object: `ctx.emu`, and `ctx.client(options)` makes a client closed after the test.
 */
function useEmulator(options = {}) {
  const ctx = { emu: undefined, clients: [] };
  ctx.client = (clientOptions = {}) => {
    const made = new client.DbgptClient({ baseUrl: ctx.emu.url, ...clientOptions });
    ctx.clients.push(made);
    return made;
  };
  before(async () => {
    ctx.emu = await startEmulator(options);
  });
  afterEach(async () => {
    await Promise.all(ctx.clients.splice(0).map((c) => c.close()));
    ctx.emu.reset();
    ctx.emu.configure({ delayMs: options.delayMs || 0, apiKeys: options.apiKeys || [] });
  });
  after(async () => {
    if (ctx.emu) await ctx.emu.close();
  });
  return ctx;
}

/** Iterates a chat call to its end: { events, result } or { events, error }. */
async function collect(call) {
  const events = [];
  try {
    for await (const event of call) events.push(event);
  } catch (error) {
    return {
      events,
      error,
      resultError: await call.result.then(
        () => undefined,
        (e) => e,
      ),
    };
  }
  return { events, result: await call.result };
}

/** Folds events as a caller does: append delta, set on replace, join reasoning. */
function fold(events) {
  let text = "";
  let reasoning = "";
  for (const event of events) {
    if (event.type === "delta") text += event.text;
    else if (event.type === "replace") text = event.text;
    else if (event.type === "reasoning") reasoning += event.text;
  }
  return { text, reasoning };
}

/** Asserts the promise rejects with a DbgptError of `code`; returns the error. */
async function rejectsWith(promise, code) {
  let error;
  try {
    await promise;
  } catch (err) {
    error = err;
  }
  assert.ok(error, `expected a ${code} rejection, got a result`);
  assert.ok(error instanceof client.DbgptError, `expected a DbgptError, got ${error && error.stack}`);
  assert.equal(error.code, code, `expected ${code}, got ${error.code}: ${error.message}`);
  return error;
}

/** Checks the invariants every finished chat must satisfy, and returns the result. */
function assertConsistent({ events, result }) {
  const folded = fold(events);
  assert.equal(folded.text, result.text, "folding the events gives the answer");
  assert.equal(folded.reasoning, result.reasoning, "joined reasoning events give the reasoning");
  for (const event of events) {
    if (event.type !== "replace") assert.notEqual(event.text, "", `a ${event.type} event is never empty`);
  }
  return result;
}

function chatRequest(fields) {
  return { chatMode: "chat_normal", model: MODEL, stream: true, ...fields };
}

module.exports = {
  assert,
  client,
  MODEL,
  useEmulator,
  collect,
  fold,
  rejectsWith,
  assertConsistent,
  chatRequest,
};
