"use strict";
// A server that echoes the key in a successful answer, over real sockets: the client hands out none of it,
// in streamed events, the chat's result (text, reasoning, id, model), a whole JSON answer, apps and lists.
// A key split across deltas goes out as "***"; at most its first 3 characters leave before the split is
// seen (a delta that merely ends like the key starts is never held back).
const { randomBytes } = require("node:crypto");
const { appPageFault } = require("../support/faults");
const { keyPieces } = require("../support/secrets");
const { assert, useEmulator, collect, fold, chatRequest, MODEL } = require("./helpers");
const { DEFAULT_APPS } = require("../../emulator");

const plainKey = () => `sk-${randomBytes(18).toString("hex")}`;

/** A chat_normal stream chunk as DB-GPT writes it (dbgpt-api.md §5.1). */
function chunk(content, reasoning = null, { id = "chatcmpl-echo", model = MODEL } = {}) {
  const delta = { role: "assistant", content, reasoning_content: reasoning };
  return `data: ${JSON.stringify({ id, model, choices: [{ index: 0, delta }] })}\n\n`;
}

describe("client: a key the server echoes in a successful answer", () => {
  const ctx = useEmulator();

  it("a key split across deltas at any point never goes out; the answer says *** in its place", async () => {
    const key = plainKey();
    const client = ctx.client({ apiKey: key });
    for (let at = 0; at <= key.length; at++) {
      const deltas = ["Your key is ", key.slice(0, at), key.slice(at), ", keep it safe."].filter(
        (d) => d !== "",
      );
      ctx.emu.fault({ rawEvents: [...deltas.map((d) => chunk(d)), "data: [DONE]\n\n"] });
      const { events, result, error } = await collect(
        client.chat(chatRequest({ question: `split at ${at}` })),
      );
      assert.equal(error, undefined, error && error.message);
      const streamed = fold(events).text;
      assert.equal(result.text, "Your key is ***, keep it safe.", `split at ${at}`);
      assert.deepEqual(keyPieces({ events, result }, key, 4), [], `split at ${at}`);
      // The first characters may have gone out before the rest of the key came (never 4 or more).
      const leaked = at > 0 && at < 4 ? key.slice(0, at) : "";
      assert.equal(streamed, `Your key is ${leaked}***, keep it safe.`, `split at ${at}`);
    }
  });

  it("a key dripped one character per delta, in the answer and in the reasoning", async () => {
    const key = plainKey();
    const drip = [...`[${key}]`];
    ctx.emu.fault({
      rawEvents: [...drip.map((c) => chunk(null, c)), ...drip.map((c) => chunk(c)), "data: [DONE]\n\n"],
    });
    const { events, result } = await collect(
      ctx.client({ apiKey: key }).chat(chatRequest({ question: "drip" })),
    );
    assert.deepEqual(keyPieces({ events, result }, key, 4), []);
    assert.equal(result.text, "[***]");
    assert.equal(result.reasoning, "[***]");
    // 1 + 3 characters go out before the fourth shows it is the key; the rest waits and is masked.
    assert.deepEqual(fold(events), { text: `[${key.slice(0, 3)}***]`, reasoning: `[${key.slice(0, 3)}***]` });
  });

  it("a replace (a rewritten snapshot) that ends with the start of the key, continued by the next snapshot", async () => {
    const key = plainKey();
    const snap = (content) =>
      `data: ${JSON.stringify({ id: "chatcmpl-s", model: MODEL, choices: [{ index: 0, message: { role: "assistant", content } }] })}\n\n`;
    for (const cut of [2, 3, 10]) {
      const rewritten = `Bye ${key.slice(0, cut)}`;
      ctx.emu.fault({
        rawEvents: [snap("Hello"), snap(rewritten), snap(`Bye ${key} end`)],
        end: "close",
      });
      const { events, result } = await collect(
        ctx.client({ apiKey: key }).chat(chatRequest({ question: "s" })),
      );
      assert.equal(result.text, "Bye *** end");
      assert.deepEqual(keyPieces({ events, result }, key, 4), [], `cut at ${cut}`);
      assert.equal(events[1].type, "replace");
      assert.match(fold(events).text, /^Bye (s|sk|sk-)?\*{3,6} end$/, `cut at ${cut}`);
    }
  });

  it("deltas that only end like the key starts go out as they came, one event each", async () => {
    const key = "sk-0123456789abcdef";
    const deltas = ["This is", " a task", " for sk", "-0 keys", " and s", "k-01", "x done"];
    ctx.emu.fault({ rawEvents: [...deltas.map((d) => chunk(d)), "data: [DONE]\n\n"] });
    const { events, result } = await collect(
      ctx.client({ apiKey: key }).chat(chatRequest({ question: "q" })),
    );
    // " and s" + "k-01" ends with 5 characters of the key: "k-01" waits until "x" shows it is not the
    // key, then goes with it (the only delta held back: 4 or more characters of the key).
    assert.deepEqual(
      events.map((e) => e.text),
      ["This is", " a task", " for sk", "-0 keys", " and s", "k-01x done"],
    );
    assert.equal(result.text, deltas.join(""));
  });

  it("the key as the chunks' id or model, and in a whole (non-streamed) answer", async () => {
    const key = plainKey();
    const client = ctx.client({ apiKey: key });
    ctx.emu.fault({
      rawEvents: [chunk("Hi", null, { id: key, model: `model-${key}` }), "data: [DONE]\n\n"],
    });
    const call = client.chat(chatRequest({ question: "ids" }));
    const { events, result } = await collect(call);
    assert.deepEqual(events, [{ type: "delta", text: "Hi" }]);
    assert.equal(call.id, "***");
    assert.equal(call.model, "model-***");
    assert.equal(result.id, "***");
    assert.equal(result.model, "model-***");
    assert.deepEqual(keyPieces(result, key, 4), []);

    ctx.emu.fault({
      status: {
        status: 200,
        contentType: "application/json",
        body: JSON.stringify({
          id: "chatcmpl-w",
          model: MODEL,
          choices: [{ index: 0, message: { role: "assistant", content: `whole ${key} answer` } }],
        }),
      },
    });
    const whole = await collect(client.chat(chatRequest({ question: "whole", stream: false })));
    assert.equal(whole.result.text, "whole *** answer");
    assert.deepEqual(keyPieces(whole, key, 4), []);
  });

  it("an answer that repeats the key 20,000 times, in two forms, is masked in one pass per form", async () => {
    // A key with quotes and backslashes has several forms; searching every form again after each hit
    // would take minutes here (the test's timeout stops it).
    const key = `sk-"quoted"\\back\\${randomBytes(8).toString("hex")}`;
    const escaped = JSON.stringify(key).slice(1, -1);
    const content = `${"y".repeat(30)}${escaped} ${key}`.repeat(20_000);
    ctx.emu.fault({
      status: {
        status: 200,
        contentType: "application/json",
        body: JSON.stringify({
          id: "chatcmpl-r",
          model: MODEL,
          choices: [{ index: 0, message: { role: "assistant", content } }],
        }),
      },
    });
    const call = ctx.client({ apiKey: key }).chat(chatRequest({ question: "repeat", stream: false }));
    const { result } = await collect(call);
    assert.equal(result.text, `${"y".repeat(30)}*** ***`.repeat(20_000));
  });

  it("apps and lists: every string, names and keys of objects too", async () => {
    const key = plainKey();
    const client = ctx.client({ apiKey: key });
    const app = { ...DEFAULT_APPS[0], app_name: `name ${key}`, details: { [key]: [`a ${key}`] } };
    ctx.emu.fault(appPageFault([app], 1));
    const { apps } = await client.listApps();
    assert.equal(apps[0].app_name, "name ***");
    assert.deepEqual(keyPieces(apps, key, 4), []);
    ctx.emu.configure({ apps: [app] });
    const one = await client.getApp(app.app_code);
    assert.equal(one.app_name, "name ***");
    assert.equal(one.app_code, app.app_code, "what holds no key is as it came");
    assert.deepEqual(one.details, { "***": ["a ***"] });
    assert.deepEqual(keyPieces(one, key, 4), []);
  });

  it("without a key nothing is masked", async () => {
    const text = "sk-looks-like-a-key-but-none-is-set";
    ctx.emu.fault({ rawEvents: [chunk(text), "data: [DONE]\n\n"] });
    const { result } = await collect(ctx.client().chat(chatRequest({ question: "none" })));
    assert.equal(result.text, text);
  });
});
