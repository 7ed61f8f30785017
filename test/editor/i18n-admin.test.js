"use strict";
/* global RED, $ -- code passed to page.evaluate() runs in the editor page */
// "Test connection" in the editor's language: the admin endpoint answers a key and parameters, the dialog
// words them from its locale catalogue (no English sentence in the Chinese editor), and the warning about a
// pasted "/api/v2" shows in the dialog, not only in the terminal. Real Node-RED (packed package), chromium,
// the emulator. Without chromium the suite is skipped (CI=true: fails).
const assert = require("node:assert/strict");
const { startEmulator } = require("../../emulator");
const { startNodeRed } = require("../runtime/harness");
const {
  requireChromium,
  screenshotFailure,
  itWithoutPageErrors,
  openEditor: openEditorIn,
} = require("../support/browser");
const { configNode } = require("../support/flow-format");
const { closedUrl } = require("../nodes/helpers");
const { nodeStrings } = require("../support/locales");
const { REASON_CODES } = require("../../nodes/lib/nodes/shared/admin");

const TAB = "i18n000000000001";
const CFG = "i18ncfg000000001";
const KEY = "k-i18n-admin-1";

describe("editor: Test connection in the editor's language", function () {
  this.timeout(180000);

  let emu;
  let nr;
  let browser;
  let page;
  const pageErrors = [];
  // it() that also fails on an uncaught error in the page (test/support/browser.js), in this suite only.
  const it = itWithoutPageErrors(pageErrors);

  before(async function () {
    requireChromium(this);
    emu = await startEmulator({ quiet: true, apiKeys: [KEY] });
    nr = await startNodeRed({
      flows: [{ id: TAB, type: "tab", label: "i18n", disabled: false, info: "" }, configNode(CFG, emu.url)],
    });
  });

  after(async function () {
    if (browser) await browser.close();
    if (nr) await nr.stop();
    if (emu) await emu.close();
  });

  afterEach(async function () {
    if (this.currentTest.state === "failed" && page)
      await screenshotFailure(page, "i18n-admin", this.currentTest.title);
  });

  async function openEditor(locale) {
    if (browser) await browser.close();
    browser = await openEditorIn(nr.url, {
      locale,
      profilePrefix: "dbgpt-i18n-admin-",
      pageErrors,
      nodeId: CFG,
    });
    page = browser.page;
    await page.evaluate((id) => RED.editor.editConfig("", "dbgpt-config", id), CFG);
    await page.waitForSelector("#node-config-input-baseUrl", { state: "visible" });
  }

  async function testConnection(baseUrl, apiKey) {
    await page.fill("#node-config-input-baseUrl", baseUrl);
    await page.fill("#node-config-input-apiKey", apiKey);
    await page.evaluate(() => $("#node-config-input-test-result").text(""));
    await page.click("#node-config-input-test");
    await page.waitForFunction(() => /[✓✗]/.test($("#node-config-input-test-result").text()));
    return page.textContent("#node-config-input-test-result");
  }

  /** English words of two letters or more, but the names (DB-GPT, HTTP, API) and the URL. */
  function englishWords(text) {
    const rest = text
      .replace(/https?:\/\/\S+/g, "")
      .replace(/\/api\/v2/g, "")
      .replace(/DB-GPT|HTTP|API/g, "");
    return rest.match(/[A-Za-z]{2,}/g) || [];
  }

  it("the Chinese editor shows Chinese results, warnings included, with no English sentence", async function () {
    await openEditor("zh-CN");
    assert.equal(await page.evaluate(() => RED.i18n.lang()), "zh-CN");
    const results = [
      await testConnection(emu.url, KEY),
      await testConnection(emu.url, "wrong-key"),
      await testConnection(`${emu.url}/api/v2`, KEY),
      await testConnection(await closedUrl(), KEY),
    ];
    assert.match(results[0], /^✓ 已连接到 DB-GPT/);
    assert.match(results[1], /^✗ .*API 密钥被拒绝/);
    assert.match(results[2], /^✓ 已连接到 DB-GPT/);
    assert.match(results[2], /⚠ 服务器地址不应以“\/api\/v2”结尾/);
    assert.match(results[3], /^✗ 无法列出应用：无法连接位于 http:\/\/127\.0\.0\.1:\d+ 的 DB-GPT/);
    for (const text of results) {
      assert.deepEqual(englishWords(text), [], `English in the Chinese editor: ${text}`);
      assert.ok(!text.includes(KEY));
    }
  });

  it("the Chinese editor words a picker's server failure in Chinese too", async function () {
    await openEditor("zh-CN");
    await page.fill("#node-config-input-baseUrl", await closedUrl());
    await page.evaluate(() => $("#node-config-input-model-hint").text(""));
    await page.click("#node-config-input-model-pick");
    // Read where it is found, in the wait itself: the hint is rewritten while the list is asked for.
    const found = await page.waitForFunction(() => {
      const hint = $("#node-config-input-model-hint").text();
      return /无法查询服务器/.test(hint) ? hint : false;
    });
    const text = await found.jsonValue();
    assert.match(text, /^无法查询服务器：无法连接位于 http:\/\/127\.0\.0\.1:\d+ 的 DB-GPT$/);
    assert.deepEqual(englishWords(text), [], text);
  });

  it("the English editor shows the /api/v2 warning in the dialog too", async function () {
    await openEditor("en-US");
    const text = await testConnection(`${emu.url}/api/v2/`, KEY);
    assert.match(text, /^✓ Connected to DB-GPT/);
    assert.match(
      text,
      /⚠ The server URL should not end with "\/api\/v2" \(the client adds it\): using http:\/\/127/,
    );
    assert.ok(await page.evaluate(() => $("#node-config-input-test-result").hasClass("dbgpt-warn")));
  });
});

describe("editor: the admin endpoints' sentences exist in both catalogues", function () {
  // The codes with a sentence of their own come from admin.ts itself: a new one without words fails here.
  const CODES = [...REASON_CODES, "ERROR", "failure"];
  // Every key src/nodes/shared/admin.ts answers.
  const KEYS = [
    ...[
      "ok-key",
      "ok-no-key",
      "key-rejected",
      "key-required",
      "apps-failed",
      "chat-unreachable",
      "chat-failed",
    ].map((k) => `outcome.${k}`),
    ...CODES.flatMap((code) => [`reason.${code}`, `reason.${code}-server`]),
    "warnings.api-suffix",
    "warnings.stored-key-other-url",
    "warnings.key-env-unset",
    "errors.env-url-not-deployed",
    "errors.env-key-not-deployed",
    "errors.env-url-invalid",
  ];
  const params = (text) => [...String(text).matchAll(/__(\w+)__/g)].map((m) => m[1]).sort();

  it("en-US and zh-CN word every key, with the same parameters", function () {
    const [en, zh] = ["en-US", "zh-CN"].map((lang) => nodeStrings(lang, "dbgpt-config").test);
    for (const key of KEYS) {
      const pick = (catalog) =>
        key.split(".").reduce((node, part) => (node ? node[part] : undefined), catalog);
      assert.equal(typeof pick(en), "string", `en-US lacks ${key}`);
      assert.equal(typeof pick(zh), "string", `zh-CN lacks ${key}`);
      assert.deepEqual(params(pick(zh)), params(pick(en)), key);
      assert.match(pick(zh), /[\u4e00-\u9fff]/, `zh-CN ${key} is Chinese`);
    }
  });
});
