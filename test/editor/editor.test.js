"use strict";
// The editor side of the four nodes, checked without a browser: the registerType literals (what the
// flow library scorecard parses), the defaults against PRODUCT.md's "Flow format" table, the validators,
// the dialog fields, the locale catalogs in both languages and the help text.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const ts = require("typescript");
const { FLOW_FORMAT } = require("../support/flow-format");
const { nodeCatalog } = require("../support/locales");
const { nodeRedHome } = require("../runtime/harness");

const root = path.resolve(__dirname, "..", "..");
const nodesDir = path.join(root, "nodes");
const LANGS = ["en-US", "zh-CN"];
const TYPES = ["dbgpt-config", "dbgpt-list-apps", "dbgpt-get-app", "dbgpt-chat"];

const ICONS = {
  "dbgpt-list-apps": "dbgpt-apps.svg",
  "dbgpt-get-app": "dbgpt-app.svg",
  "dbgpt-chat": "dbgpt-chat.svg",
};
const OUTPUTS = { "dbgpt-list-apps": 1, "dbgpt-get-app": 1, "dbgpt-chat": 2 };
// The client's own lists, so a new mode or error code without editor support or help text fails here.
const { CHAT_MODES, ERROR_CODES: CLIENT_ERROR_CODES } = require("../../nodes/lib/client/index.js");
// DBGPT_ABORTED is how the client reports its own stop and close: never a failure users see.
const ERROR_CODES = CLIENT_ERROR_CODES.filter((code) => code !== "DBGPT_ABORTED");
const HELP_SECTIONS = {
  "en-US": {
    flow: ["Inputs", "Outputs", "Details", "References"],
    config: ["Properties", "Details", "References"],
  },
  "zh-CN": { flow: ["输入", "输出", "详细", "参考"], config: ["属性", "详细", "参考"] },
};
const CJK = /[\u4e00-\u9fff]/;

/** Values made in the vm context, as plain objects of this realm (for deepEqual). */
function plain(value) {
  return JSON.parse(JSON.stringify(value));
}

function read(file) {
  return fs.readFileSync(file, "utf8");
}

function scriptBlocks(html, type) {
  const re = new RegExp(`<script[^>]*type="${type}"[^>]*>([\\s\\S]*?)</script>`, "g");
  return [...html.matchAll(re)].map((m) => ({ attrs: m[0].slice(0, m[0].indexOf(">") + 1), body: m[1] }));
}

function nodeHtml(type) {
  return read(path.join(nodesDir, `${type}.html`));
}

// The core nodes of the Node-RED under test (NODE_RED_HOME when set, see test/runtime/harness.js).
function coreCatalog(lang) {
  const coreNodes = path.dirname(require.resolve("@node-red/nodes/package.json", { paths: [nodeRedHome()] }));
  return JSON.parse(read(path.join(coreNodes, "locales", lang, "messages.json")));
}

function lookup(object, key) {
  return key
    .split(".")
    .reduce((node, part) => (node && typeof node === "object" ? node[part] : undefined), object);
}

function leafKeys(object, prefix = "") {
  return Object.entries(object).flatMap(([key, value]) =>
    value && typeof value === "object" ? leafKeys(value, `${prefix}${key}.`) : [`${prefix}${key}`],
  );
}

/** The registerType call of a node's .html as a TypeScript AST: type literal and definition object. */
function registerTypeCall(type) {
  const source = scriptBlocks(nodeHtml(type), "text/javascript")
    .map((b) => b.body)
    .join("\n");
  const file = ts.createSourceFile(`${type}.js`, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  assert.deepEqual(
    file.parseDiagnostics.map((d) => d.messageText),
    [],
    `${type}.html: its script does not parse`,
  );
  const calls = [];
  const visit = (node) => {
    if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(node.expression) &&
      node.expression.name.text === "registerType"
    ) {
      calls.push(node);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  assert.equal(calls.length, 1, `${type}.html has exactly one registerType call`);
  const [typeArg, defArg] = calls[0].arguments;
  assert.ok(ts.isStringLiteral(typeArg), `${type}: the type is a string literal`);
  assert.ok(ts.isObjectLiteralExpression(defArg), `${type}: the definition is an object literal`);
  const props = new Map();
  for (const p of defArg.properties) {
    const name = p.name && (ts.isIdentifier(p.name) ? p.name.text : undefined);
    assert.ok(name, `${type}: every definition key is a plain identifier (the scorecard reads key.name)`);
    props.set(name, p);
  }
  return { type: typeArg.text, props };
}

function literalValue(prop) {
  const init = prop.initializer;
  if (ts.isStringLiteral(init)) return init.text;
  if (ts.isNumericLiteral(init)) return Number(init.text);
  if (init.kind === ts.SyntaxKind.TrueKeyword) return true;
  if (init.kind === ts.SyntaxKind.FalseKeyword) return false;
  return undefined;
}

/**
 * Runs every node's editor script against a stand-in RED, in the editor's order; returns the registered
 * definitions and the helpers dbgpt-config.html shares with the other dialogs.
 */
function loadEditorScripts() {
  const defs = {};
  const editorNodes = {};
  const dom = { query: null };
  const sandbox = {
    window: {},
    RED: {
      nodes: {
        registerType: (type, def) => {
          def._ = (key) => key;
          defs[type] = def;
        },
        getType: (type) => defs[type],
        node: (id) => editorNodes[id] || null,
      },
      validators: {
        typedInput: () =>
          function () {
            return true;
          },
      },
      _: (key) => key,
    },
    $: (...args) => {
      if (!dom.query) throw new Error("the DOM is not touched at registration");
      return dom.query(...args);
    },
    URL,
  };
  sandbox.window.window = sandbox.window;
  const context = vm.createContext(sandbox);
  for (const type of TYPES) {
    for (const block of scriptBlocks(nodeHtml(type), "text/javascript")) {
      // Browser globals set on `window` are globals for the next files, as in the editor.
      vm.runInContext(block.body, context, { filename: `${type}.html` });
      Object.assign(sandbox, sandbox.window);
    }
  }
  return { defs, shared: sandbox.window.DbgptNodesEditor, editorNodes, dom };
}

function usedKeys(html) {
  const keys = new Set();
  for (const m of html.matchAll(/data-i18n="([^"]+)"/g)) {
    for (const part of m[1].split(";")) keys.add(part.replace(/^\[[^\]]+\]/, ""));
  }
  // Keys in scripts: string literals "<type>.<key>" (file names such as "dbgpt-chat.svg" are not keys).
  const literal =
    /["'](dbgpt-(?:config|chat|list-apps|get-app)\.(?!svg["']|html["']|json["'])[A-Za-z0-9_.-]+)["']/g;
  for (const m of html.matchAll(literal)) keys.add(m[1]);
  return [...keys];
}

function interpolations(text) {
  return [...String(text).matchAll(/__(\w+)__/g)].map((m) => m[1]).sort();
}

/** A small well-formedness check: every non-void tag closes, in order. */
function assertBalanced(html, where) {
  const VOID = new Set(["br", "hr", "img", "input", "meta", "link", "col", "wbr"]);
  const stack = [];
  for (const m of html.matchAll(/<(\/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*?(\/?)>/g)) {
    const [, closing, rawName, selfClosing] = m;
    const name = rawName.toLowerCase();
    if (VOID.has(name) || selfClosing) continue;
    if (!closing) {
      stack.push(name);
      continue;
    }
    const open = stack.pop();
    assert.equal(
      open,
      name,
      `${where}: </${name}> closes <${open}> near "${html.slice(m.index - 60, m.index)}"`,
    );
  }
  assert.deepEqual(stack, [], `${where}: unclosed tags`);
}

describe("editor: node definitions", function () {
  for (const type of TYPES) {
    it(`${type}: registerType literal with the scorecard's fields as literals`, function () {
      const { type: registered, props } = registerTypeCall(type);
      assert.equal(registered, type);
      assert.ok(props.has("defaults") && ts.isObjectLiteralExpression(props.get("defaults").initializer));
      if (type === "dbgpt-config") {
        assert.equal(literalValue(props.get("category")), "config");
        const creds = props.get("credentials").initializer;
        assert.ok(ts.isObjectLiteralExpression(creds), "credentials inline");
        return;
      }
      assert.equal(literalValue(props.get("category")), "DB-GPT");
      assert.match(literalValue(props.get("color")), /^#[0-9A-Fa-f]{6}$/);
      assert.equal(literalValue(props.get("icon")), ICONS[type]);
      assert.equal(literalValue(props.get("inputs")), 1);
      assert.equal(literalValue(props.get("outputs")), OUTPUTS[type]);
      for (const field of ["paletteLabel", "label", "labelStyle", "outputLabels"]) {
        assert.ok(props.has(field), `${type} defines ${field}`);
      }
    });
  }

  const { defs, shared, editorNodes, dom } = loadEditorScripts();

  it("the defaults keys are exactly PRODUCT.md's Flow format", function () {
    for (const type of TYPES) {
      assert.deepEqual(Object.keys(defs[type].defaults).sort(), [...FLOW_FORMAT[type]].sort(), type);
    }
    assert.deepEqual(plain(defs["dbgpt-config"].credentials), { apiKey: { type: "password" } });
  });

  it("default values: numbers are numbers, TypedInputs default as PRODUCT.md says", function () {
    const value = (type, key) => defs[type].defaults[key].value;
    assert.equal(value("dbgpt-config", "baseUrl"), "http://localhost:5670");
    assert.equal(value("dbgpt-config", "model"), "chatgpt_proxyllm");
    assert.equal(value("dbgpt-config", "timeout"), 120);
    assert.deepEqual(plain(defs["dbgpt-config"].defaults.tls), {
      type: "tls-config",
      required: false,
      value: "",
    });
    for (const type of ["dbgpt-list-apps", "dbgpt-get-app", "dbgpt-chat"]) {
      assert.equal(defs[type].defaults.server.type, "dbgpt-config");
      assert.equal(defs[type].defaults.server.required, true);
    }
    assert.equal(value("dbgpt-list-apps", "agentAppsOnly"), false);
    assert.deepEqual(
      [value("dbgpt-get-app", "appId"), value("dbgpt-get-app", "appIdType")],
      ["payload", "msg"],
    );
    const chat = (key) => value("dbgpt-chat", key);
    assert.equal(chat("chatMode"), "chat_app");
    assert.deepEqual([chat("chatParam"), chat("chatParamType")], ["", "str"]);
    assert.deepEqual([chat("model"), chat("modelType")], ["", "str"]);
    assert.deepEqual([chat("input"), chat("inputType")], ["payload", "msg"]);
    assert.deepEqual([chat("convUid"), chat("convUidType")], ["conv_uid", "msg"]);
    assert.equal(chat("stream"), true);
    assert.equal(chat("emitReasoning"), false);
    assert.equal(chat("maxConcurrent"), 0);
    assert.equal(chat("coalesceMs"), 0);
    assert.equal(chat("temperature"), "");
    assert.equal(chat("maxNewTokens"), "");
  });

  it("baseUrl accepts http(s) URLs and a whole ${ENV_VAR}, nothing else", function () {
    const validate = defs["dbgpt-config"].defaults.baseUrl.validate;
    for (const good of [
      "http://localhost:5670",
      "https://dbgpt.example.com/prefix/",
      "http://127.0.0.1:5670/api",
      "${DBGPT_BASE_URL}",
      " http://localhost:5670 ",
    ]) {
      assert.equal(validate.call({}, good, {}), true, good);
    }
    for (const bad of ["", "localhost:5670", "ftp://host", "http://", "${A}/api", "not a url", undefined]) {
      assert.equal(typeof validate.call({}, bad, {}), "string", String(bad));
      assert.equal(validate.call({}, bad), false, String(bad));
    }
  });

  it("dbgpt-config deadline: default 0 (none), a number of seconds >= 0 with fractions", function () {
    assert.equal(defs["dbgpt-config"].defaults.deadline.value, 0);
    const deadline = (v) => defs["dbgpt-config"].defaults.deadline.validate.call({}, v, {}) === true;
    assert.ok([0, 0.5, 300, "60", "${DEADLINE}"].every(deadline));
    assert.ok(![-1, "soon", "", NaN].some(deadline));
  });

  it("number validators: timeout >= 0 with fractions, tokens and concurrency whole numbers", function () {
    const check = (type, key, v) => defs[type].defaults[key].validate.call({}, v, {}) === true;
    const timeout = (v) => check("dbgpt-config", "timeout", v);
    assert.ok([0, 0.5, 120, "120", "2.5", "${TIMEOUT}"].every(timeout));
    assert.ok(![-1, "abc", "", "-0.1", NaN, Infinity].some(timeout));
    const chat = (key, v) => check("dbgpt-chat", key, v);
    assert.ok(["", 0, 0.7, "1.2", 2].every((v) => chat("temperature", v)));
    assert.ok(![-0.1, "warm"].some((v) => chat("temperature", v)));
    assert.ok(["", 1, 512, "4096"].every((v) => chat("maxNewTokens", v)));
    assert.ok(![0, 1.5, -3, "many"].some((v) => chat("maxNewTokens", v)));
    assert.ok([0, 1, 20, "3"].every((v) => chat("maxConcurrent", v)));
    assert.ok(!["", -1, 2.5, "x"].some((v) => chat("maxConcurrent", v)));
    assert.ok([0, 100, "250"].every((v) => chat("coalesceMs", v)));
    assert.ok(!["", -1, 2.5, "fast"].some((v) => chat("coalesceMs", v)));
  });

  it("chatMode accepts the seven modes; chatParam is required outside chat_normal", function () {
    const { chatMode, chatParam } = defs["dbgpt-chat"].defaults;
    for (const mode of CHAT_MODES) assert.equal(chatMode.validate(mode), true, mode);
    assert.equal(chatMode.validate("chat_excel"), false);
    const node = (mode) => ({ chatMode: mode, _: (k) => k });
    // Outside a dialog the validator reads the node's own chatMode (jQuery finds no field) ...
    dom.query = () => ({ length: 0 });
    try {
      assert.equal(chatParam.validate.call(node("chat_normal"), "", {}), true);
      assert.equal(typeof chatParam.validate.call(node("chat_app"), "", {}), "string");
      assert.equal(
        chatParam.validate.call(node("chat_app"), "  ", {}),
        "dbgpt-chat.errors.chatParam-required",
      );
      assert.equal(chatParam.validate.call(node("chat_knowledge"), "default_space", {}), true);
      // ... and inside the dialog the mode being chosen.
      dom.query = () => ({ length: 1, val: () => "chat_normal" });
      assert.equal(chatParam.validate.call(node("chat_app"), "", {}), true);
    } finally {
      dom.query = null;
    }
  });

  it("labels and output labels come from the node's own catalog", function () {
    const chat = defs["dbgpt-chat"];
    const node = { _: (key) => `T(${key})`, chatMode: "chat_app", name: "" };
    assert.equal(chat.outputLabels.call(node, 0), "T(dbgpt-chat.outputs.stream)");
    assert.equal(chat.outputLabels.call(node, 1), "T(dbgpt-chat.outputs.complete)");
    assert.equal(chat.label.call(node), "T(dbgpt-chat.defaultName)");
    assert.equal(chat.label.call({ ...node, chatMode: "chat_flow" }), "DB-GPT chat_flow");
    assert.equal(chat.label.call({ ...node, name: "Ask" }), "Ask");
    assert.equal(chat.labelStyle.call({ name: "Ask" }), "node_label_italic");
    assert.equal(defs["dbgpt-config"].label.call({ baseUrl: "http://h:1" }), "http://h:1");
  });

  it("the app picker offers chat_app only the apps it can talk to; the model picker only names", function () {
    const { DEFAULT_APPS } = require("../../emulator");
    // The agent flag is the runtime's answer (the apps endpoint's agentApps), never worked out here.
    const { isAgentApp } = require("../../nodes/lib/client/index.js");
    const agentApps = DEFAULT_APPS.filter(isAgentApp).map((app) => app.app_code);
    const items = shared.appItems({ apps: DEFAULT_APPS, agentApps });
    assert.equal(items.length, DEFAULT_APPS.length);
    for (const [i, app] of DEFAULT_APPS.entries()) {
      assert.equal(items[i].value, app.app_code);
      assert.equal(items[i].label, app.app_name || app.app_code);
      assert.equal(items[i].agent, isAgentApp(app), app.app_code);
    }
    assert.ok(shared.appItems({ apps: DEFAULT_APPS }).every((item) => !item.agent));
    assert.doesNotMatch(nodeHtml("dbgpt-config"), /team_context|flow_category/);
    assert.ok(items.some((item) => item.agent) && items.some((item) => !item.agent));
    assert.deepEqual(
      plain(shared.appItems({ apps: [{ app_name: "no code" }, null, { app_code: "x" }], agentApps: ["x"] })),
      [{ value: "x", label: "x", detail: "x", agent: true }],
    );
    assert.deepEqual(plain(shared.appItems({})), []);
    assert.deepEqual(plain(shared.modelItems({ models: ["a", "", 3, "b"] }).map((item) => item.value)), [
      "a",
      "b",
    ]);
  });

  it("the chat param picker of the other modes shows labels, and the value when the label does not name it", function () {
    const items = shared.chatParamItems({
      items: [
        { value: "flow-1", label: "Flow 1" },
        { value: "dbgpt_test", label: "dbgpt_test (mysql)" },
        { value: "bare" },
        { value: "", label: "empty" },
        { label: "no value" },
        null,
      ],
    });
    assert.deepEqual(plain(items), [
      { value: "flow-1", label: "Flow 1", detail: "flow-1" },
      { value: "dbgpt_test", label: "dbgpt_test (mysql)", detail: "" },
      { value: "bare", label: "bare", detail: "" },
    ]);
    assert.deepEqual(plain(shared.chatParamItems({})), []);
    assert.equal(shared.describeChoice("flow-1", items), "dbgpt-config.picker.selected-app");
    assert.equal(shared.describeChoice("dbgpt_test", items), "dbgpt_test (mysql)");
    assert.equal(shared.describeChoice("bare", items), "dbgpt-config.picker.offered");
    assert.equal(shared.describeChoice("other", items), "");
  });

  it("the admin request body uses the selected server as the editor holds it, never a stored password", function () {
    Object.assign(editorNodes, {
      s1: {
        id: "s1",
        type: "dbgpt-config",
        baseUrl: "http://h:1",
        tls: "t1",
        credentials: { apiKey: "__PWRD__" },
      },
      s2: {
        id: "s2",
        type: "dbgpt-config",
        baseUrl: "${URL}",
        tls: "_ADD_",
        credentials: { apiKey: "typed" },
      },
      s3: { id: "s3", type: "dbgpt-config", baseUrl: "http://h:3", tls: "", credentials: {} },
      x: { id: "x", type: "inject" },
    });
    assert.deepEqual(plain(shared.bodyForServer("s1")), { baseUrl: "http://h:1", id: "s1", tls: "t1" });
    assert.deepEqual(plain(shared.bodyForServer("s2")), { baseUrl: "${URL}", id: "s2", apiKey: "typed" });
    assert.deepEqual(plain(shared.bodyForServer("s3")), { baseUrl: "http://h:3", id: "s3" });
    for (const id of ["x", "_ADD_", "", undefined, "missing"])
      assert.equal(shared.bodyForServer(id), null, String(id));
  });
});

describe("editor: dialog templates", function () {
  for (const type of TYPES) {
    it(`${type}: a field for every defaults key, no help in the node file`, function () {
      const html = nodeHtml(type);
      const templates = scriptBlocks(html, "text/html");
      assert.equal(templates.length, 1);
      assert.match(templates[0].attrs, new RegExp(`data-template-name="${type}"`));
      assert.doesNotMatch(html, /data-help-name/, "help lives in locales/<lang>/");
      const prefix = type === "dbgpt-config" ? "node-config-input" : "node-input";
      for (const key of FLOW_FORMAT[type]) {
        const ids = [`${prefix}-${key}`, `${prefix}-${key}-number`].filter((id) =>
          html.includes(`id="${id}"`),
        );
        assert.equal(ids.length, 1, `${type}: one field for ${key}`);
      }
      assertBalanced(templates[0].body, `${type}.html template`);
    });
  }

  it("checkboxes for the booleans, a select with the seven chat modes", function () {
    const chat = nodeHtml("dbgpt-chat");
    for (const key of ["stream", "emitReasoning"])
      assert.match(chat, new RegExp(`type="checkbox" id="node-input-${key}"`));
    assert.match(nodeHtml("dbgpt-list-apps"), /type="checkbox" id="node-input-agentAppsOnly"/);
    const options = [...chat.matchAll(/<option value="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(options, CHAT_MODES);
    assert.match(nodeHtml("dbgpt-config"), /type="password" id="node-config-input-apiKey"/);
  });

  it("the admin endpoints are called with relative URLs", function () {
    const config = nodeHtml("dbgpt-config");
    assert.match(config, /url: "dbgpt-config\/" \+ endpoint/);
    for (const type of TYPES) assert.doesNotMatch(nodeHtml(type), /["'`]\/dbgpt-config\//);
  });
});

describe("editor: locales", function () {
  for (const type of TYPES) {
    it(`${type}: every key the dialog uses exists in both languages`, function () {
      const html = nodeHtml(type);
      const keys = usedKeys(html);
      assert.ok(keys.length > 0);
      for (const lang of LANGS) {
        const own = nodeCatalog(lang, type);
        const core = coreCatalog(lang);
        for (const key of keys) {
          if (key.startsWith("node-red:")) {
            assert.equal(typeof lookup(core, key.slice("node-red:".length)), "string", `${lang}: ${key}`);
          } else {
            assert.ok(key.startsWith(`${type}.`), `${type}.html uses its own namespace: ${key}`);
            assert.equal(typeof lookup(own, key), "string", `${lang}/${type}.json lacks ${key}`);
          }
        }
      }
    });

    it(`${type}: en-US and zh-CN have the same keys, placeholders, and a real translation`, function () {
      const en = nodeCatalog("en-US", type);
      const zh = nodeCatalog("zh-CN", type);
      assert.deepEqual(leafKeys(zh).sort(), leafKeys(en).sort());
      let translated = 0;
      const keys = leafKeys(en);
      for (const key of keys) {
        assert.deepEqual(interpolations(lookup(zh, key)), interpolations(lookup(en, key)), key);
        if (CJK.test(lookup(zh, key))) translated++;
      }
      assert.ok(
        translated / keys.length > 0.8,
        `${type}: only ${translated} of ${keys.length} strings are Chinese`,
      );
    });
  }

  it("the palette header reads DB-GPT although Node-RED splits categories at '-'", function () {
    // The editor files "DB-GPT" under a root category "DB" and labels it with the key palette.label.DB
    // of the first node set that creates it, so every flow node's catalog carries the label.
    for (const lang of LANGS) {
      for (const type of ["dbgpt-list-apps", "dbgpt-get-app", "dbgpt-chat"]) {
        assert.equal(lookup(nodeCatalog(lang, type), "palette.label.DB"), "DB-GPT", `${lang} ${type}`);
      }
    }
  });

  it("the runtime's status texts are in every flow node's catalog", function () {
    const statusKeys = [
      "requesting",
      "streaming",
      "queued",
      ...ERROR_CODES.map((c) => `error.${c}`),
      "error.DBGPT_ABORTED",
      "error.unknown",
      "error.unknownApp",
    ];
    for (const lang of LANGS) {
      for (const type of ["dbgpt-list-apps", "dbgpt-get-app", "dbgpt-chat"]) {
        const status = lookup(nodeCatalog(lang, type), "dbgpt.status");
        for (const key of statusKeys)
          assert.equal(typeof lookup(status, key), "string", `${lang} ${type} ${key}`);
        assert.deepEqual(interpolations(status.streaming), ["n"]);
        assert.deepEqual(interpolations(status.queued), ["n"]);
      }
    }
  });
});

describe("editor: help", function () {
  function help(lang, type) {
    const file = path.join(nodesDir, "locales", lang, `${type}.html`);
    const blocks = scriptBlocks(read(file), "text/html");
    assert.equal(blocks.length, 1, `${lang}/${type}.html holds one help block`);
    assert.match(blocks[0].attrs, new RegExp(`data-help-name="${type}"`));
    return blocks[0].body;
  }

  function sections(body) {
    return [...body.matchAll(/<h3>([^<]+)<\/h3>/g)].map((m) => m[1]);
  }

  for (const lang of LANGS) {
    for (const type of TYPES) {
      it(`${lang} ${type}: style guide layout`, function () {
        const body = help(lang, type);
        assertBalanced(body, `${lang}/${type}.html`);
        assert.match(body.trim(), /^<p>/, "starts with the summary paragraph");
        const expected = HELP_SECTIONS[lang][type === "dbgpt-config" ? "config" : "flow"];
        assert.deepEqual(sections(body), expected);
        if (lang === "zh-CN")
          assert.ok((body.match(/[\u4e00-\u9fff]/g) || []).length > 200, "written in Chinese");
        if (type !== "dbgpt-config") {
          assert.match(body, /<dl class="message-properties">/);
          assert.match(body, /msg\.dbgpt\.error = \{ code, statusCode\?, body\? \}/);
          assert.match(body, /msg\._msgid/);
          assert.match(body, /msg\.parts/);
        }
      });
    }

    it(`${lang} dbgpt-chat: every msg property, both ports, every mode and error code`, function () {
      const body = help(lang, "dbgpt-chat");
      const inputs = body.slice(body.indexOf("<h3>"), body.indexOf('<ol class="node-ports">'));
      for (const prop of [
        "payload",
        "conv_uid",
        "stop",
        "user_name",
        "sys_code",
        "temperature",
        "max_new_tokens",
        "requestTimeout",
      ]) {
        assert.match(inputs, new RegExp(`<dt( class="optional")?>${prop} <span`), `input ${prop}`);
      }
      const ports = body.slice(body.indexOf('<ol class="node-ports">'), body.indexOf("</ol>"));
      assert.equal(
        (ports.match(/<li>[^<]+<dl class="message-properties">/g) || []).length,
        2,
        "two output ports",
      );
      for (const field of [
        "type",
        "index",
        "chat_mode",
        "model",
        "id",
        "chunks",
        "reasoning",
        "queuedMs",
        "firstTokenMs",
        "durationMs",
        "raw",
        "messages",
        "plans",
        "usage",
        "stopped",
        "charts",
        "references",
        "code",
        "tools",
        '"delta"',
        '"replace"',
        '"reasoning"',
        '"final"',
      ]) {
        assert.ok(ports.includes(field), `output field ${field}`);
      }
      for (const mode of CHAT_MODES)
        assert.match(body, new RegExp(`<tr><td><code>${mode}</code></td>`), mode);
      for (const code of ERROR_CODES.filter((c) => c !== "DBGPT_NOT_FOUND")) {
        assert.match(body, new RegExp(`<tr><td><code>${code}</code></td>`), code);
      }
      for (const fact of [
        "msg.dbgpt.partial",
        "msg.dbgpt.stopped",
        "**LLMServer Generate Error",
        "Model server error!",
      ]) {
        assert.ok(body.includes(fact), fact);
      }
    });

    it(`${lang} list/get: outputs and their error codes`, function () {
      const list = help(lang, "dbgpt-list-apps");
      assert.match(list, /<dt>dbgpt <span/);
      assert.match(list, /\{ total \}/);
      const get = help(lang, "dbgpt-get-app");
      assert.match(get, /<tr><td><code>DBGPT_NOT_FOUND<\/code><\/td>/);
      for (const body of [list, get]) {
        assert.match(body, /<dt>payload <span/);
        assert.match(body, /requestTimeout/);
      }
    });
  }
});

describe("editor: icons", function () {
  for (const icon of Object.values(ICONS)) {
    it(`${icon}: a white glyph on a 40x60 viewBox`, function () {
      const svg = read(path.join(root, "icons", icon));
      assert.match(svg, /^<svg [^>]*viewBox="0 0 40 60"/);
      assert.match(svg, /xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      assert.match(svg, /fill="#fff"/);
      assert.doesNotMatch(svg, /<script|<image|href=/i, "self-contained and inert");
      assertBalanced(svg, icon);
    });
  }
});
