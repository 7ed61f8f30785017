"use strict";
/**
 * A deliberately naive dbgpt-config + dbgpt-chat, the baseline of issue 13's table: what a first version
 * of the same contract looks like (the same flow keys and messages as far as the benchmarks read them).
 * It is naive on purpose, in the three ways the issue names: every stream message is a deep copy of the
 * input message (RED.util.cloneMessage), the answer is built with `text += delta`, and nothing holds the
 * response back while Node-RED has not delivered what was sent (no backpressure). undici's fetch, a
 * TextDecoder and eventsource-parser read the stream. Benchmarks only: `npm run bench:naive` (never packed).
 */
const { createParser } = require("eventsource-parser");
// The package's own undici (not Node's bundled one), so that both sides run the same HTTP code.
const undici = require("undici");

module.exports = function (RED) {
  function ConfigNode(config) {
    RED.nodes.createNode(this, config);
    this.baseUrl = String(config.baseUrl || "").replace(/\/+$/, "");
    this.model = config.model || "";
  }
  RED.nodes.registerType("dbgpt-config", ConfigNode, { credentials: { apiKey: { type: "password" } } });

  function ChatNode(config) {
    RED.nodes.createNode(this, config);
    const server = RED.nodes.getNode(config.server);
    this.on("input", async (msg, send, done) => {
      try {
        const convUid = RED.util.getMessageProperty(msg, config.convUid || "conv_uid");
        const headers = { "content-type": "application/json" };
        const apiKey = server.credentials && server.credentials.apiKey;
        if (apiKey) headers.authorization = `Bearer ${apiKey}`;
        const res = await undici.fetch(`${server.baseUrl}/api/v2/chat/completions`, {
          method: "POST",
          headers,
          body: JSON.stringify({
            model: config.model || server.model,
            messages: RED.util.getMessageProperty(msg, config.input || "payload"),
            chat_mode: config.chatMode || "chat_normal",
            conv_uid: convUid,
            stream: true,
          }),
        });
        if (!res.ok) throw new Error(`DB-GPT answered ${res.status}: ${await res.text()}`);
        let text = "";
        let index = 0;
        let chunks = 0;
        let id;
        let model;
        const parser = createParser({
          onEvent(event) {
            if (event.data === "[DONE]") return;
            const chunk = JSON.parse(event.data);
            chunks++;
            id = chunk.id;
            model = chunk.model;
            const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
            if (!delta || typeof delta.content !== "string" || delta.content === "") return;
            text += delta.content;
            const out = RED.util.cloneMessage(msg);
            out.payload = delta.content;
            out.dbgpt = {
              type: "delta",
              index: index++,
              conv_uid: convUid,
              chat_mode: "chat_normal",
              model,
              id,
            };
            send([out, null]);
          },
        });
        const decoder = new TextDecoder();
        for await (const bytes of res.body) parser.feed(decoder.decode(bytes, { stream: true }));
        parser.feed(decoder.decode());
        const final = RED.util.cloneMessage(msg);
        final.payload = text;
        final.dbgpt = { type: "final", conv_uid: convUid, chat_mode: "chat_normal", model, id, chunks };
        send([null, final]);
        done();
      } catch (err) {
        done(err);
      }
    });
  }
  RED.nodes.registerType("dbgpt-chat", ChatNode);
};
