"use strict";
/**
 * PRODUCT.md "Flow format": the keys users' flows hold, and node objects that set every one of them, for
 * the flows the tests build (node-red-node-test-helper flows, real Node-RED runtimes, the browser tests).
 *
 *   FLOW_FORMAT                        node type -> its `defaults` keys (the table in PRODUCT.md)
 *   CHAT_FIELDS                        every dbgpt-chat key but name and server, as the test flows set them
 *   configNode(id, baseUrl, extra)     a dbgpt-config node with every key set
 *   chatNode(id, server, extra)        a dbgpt-chat node with every key set
 *   tlsConfigNode(id, extra)           a core tls-config node with every key set
 */

function freezeTable(table) {
  for (const keys of Object.values(table)) Object.freeze(keys);
  return Object.freeze(table);
}

/** PRODUCT.md "Flow format": the `defaults` keys of each node type (credentials not included). */
const FLOW_FORMAT = freezeTable({
  "dbgpt-config": ["name", "baseUrl", "model", "timeout", "deadline", "tls"],
  "dbgpt-list-apps": ["name", "server", "agentAppsOnly"],
  "dbgpt-get-app": ["name", "server", "appId", "appIdType"],
  "dbgpt-chat": [
    "name",
    "server",
    "chatMode",
    "chatParam",
    "chatParamType",
    "model",
    "modelType",
    "input",
    "inputType",
    "convUid",
    "convUidType",
    "stream",
    "temperature",
    "maxNewTokens",
    "userName",
    "sysCode",
    "emitReasoning",
    "maxConcurrent",
    "coalesceMs",
  ],
});

/**
 * The dbgpt-chat keys other than name and server, at the editor's defaults except the chat mode:
 * chat_normal, which needs no chat parameter (the editor's default is chat_app).
 */
const CHAT_FIELDS = Object.freeze({
  chatMode: "chat_normal",
  chatParam: "",
  chatParamType: "str",
  model: "",
  modelType: "str",
  input: "payload",
  inputType: "msg",
  convUid: "conv_uid",
  convUidType: "msg",
  stream: true,
  temperature: "",
  maxNewTokens: "",
  userName: "",
  sysCode: "",
  emitReasoning: false,
  maxConcurrent: 0,
  coalesceMs: 0,
});

/** A dbgpt-config node named after its id: the config's default model, a 120 s timeout, no tls-config. */
function configNode(id, baseUrl, extra = {}) {
  return {
    id,
    type: "dbgpt-config",
    name: `server ${id}`,
    baseUrl,
    model: "",
    timeout: 120,
    deadline: 0,
    tls: "",
    ...extra,
  };
}

/** A dbgpt-chat node named after its id, using the config node `server`, with CHAT_FIELDS. */
function chatNode(id, server, extra = {}) {
  return {
    id,
    type: "dbgpt-chat",
    name: `chat ${id}`,
    server,
    ...CHAT_FIELDS,
    ...extra,
  };
}

/** Node-RED's tls-config node with every key at its editor default (verifying the server), then `extra`. */
function tlsConfigNode(id, extra = {}) {
  return {
    id,
    type: "tls-config",
    cert: "",
    key: "",
    ca: "",
    certname: "",
    keyname: "",
    caname: "",
    servername: "",
    verifyservercert: true,
    alpnprotocol: "",
    ...extra,
  };
}

module.exports = { FLOW_FORMAT, CHAT_FIELDS, configNode, chatNode, tlsConfigNode };
