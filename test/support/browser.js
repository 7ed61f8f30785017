"use strict";
/* global window, RED -- code passed to page.evaluate() runs in the editor page */
/**
 * Debian's chromium driven by playwright-core, for the editor tests (test/e2e, test/editor):
 *
 *   requireChromium(ctx)              skips the mocha suite of `ctx` without chromium (CI=true: fails)
 *   launchChromium({ locale, ... })   a headless chromium with a fresh profile: { context, page, pageErrors,
 *                                     close() }
 *   screenshot(target, name)          a page or locator as test-artifacts/<name>
 *   screenshotFailure(page, label, title)   best effort, test-artifacts/failed-<label>-<title>.png
 *   itWithoutPageErrors(pageErrors)   it() that also fails on an uncaught page error (for suites that share
 *                                     one page)
 */
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { ROOT, requireBinary } = require("../runtime/harness");

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_APT = "apt-get install -y chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const ARTIFACTS = path.join(ROOT, "test-artifacts");
/** The default timeout of every page action and wait. */
const UI_MS = 15000;

/** From a mocha hook or test (`ctx` is its `this`): skips its suite when chromium is not installed. */
function requireChromium(ctx) {
  requireBinary(CHROMIUM, CHROMIUM_APT, ctx);
}

/**
 * Headless chromium with a fresh temporary profile (removed by close()) and its one page, whose actions
 * time out after UI_MS and whose uncaught errors are pushed to `pageErrors` (a new array unless given).
 */
async function launchChromium({ locale, viewport, profilePrefix = "dbgpt-chromium-", pageErrors = [] }) {
  const { chromium } = require("playwright-core");
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), profilePrefix));
  const removeProfile = () => fs.rmSync(profile, { recursive: true, force: true });
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      locale,
      viewport,
      timeout: 60000,
    });
  } catch (err) {
    removeProfile();
    throw err;
  }
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(UI_MS);
  page.on("pageerror", (err) => {
    pageErrors.push(err.message);
    // The stack goes to the log: a test asserts on the messages, and its failure names only those.
    process.stdout.write(
      `\n  page error (chromium, ${locale || "default locale"}): ${err.stack || err.message}\n`,
    );
  });
  return {
    context,
    page,
    pageErrors,
    async close() {
      await context.close().catch(() => {});
      removeProfile();
    },
  };
}

/**
 * For a suite whose tests share one page: an it() whose test also fails when the page threw an uncaught
 * error since the previous test (the errors in `pageErrors`, which it empties; those of the suite's
 * before() count for its first test). Checked in the test and not in an afterEach hook, because a hook
 * that fails makes mocha skip the rest of the suite.
 */
function itWithoutPageErrors(pageErrors) {
  return (title, fn) =>
    it(title, async function () {
      try {
        await fn.call(this);
      } catch (err) {
        const errors = pageErrors.splice(0);
        if (errors.length > 0 && err instanceof Error) {
          err.message += `\n(and errors in the page: ${JSON.stringify(errors)})`;
        }
        throw err;
      }
      const errors = pageErrors.splice(0);
      assert.deepEqual(errors, [], `no errors in the page: ${JSON.stringify(errors)}`);
    });
}

/** A file name for a test title: "Shows the palette (en)" -> "shows-the-palette-en.png". */
function screenshotName(title) {
  return `${title
    .replace(/[^a-z0-9]+/gi, "-")
    .replace(/^-|-$/g, "")
    .toLowerCase()}.png`;
}

/** Saves a screenshot of a page or a locator as test-artifacts/<name>. */
async function screenshot(target, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await target.screenshot({ path: path.join(ARTIFACTS, name) });
}

/** After a failed test, best effort: test-artifacts/failed-<label>-<test title>.png. */
function screenshotFailure(page, label, title) {
  return screenshot(page, `failed-${label}-${screenshotName(title)}`).catch(() => {});
}

/**
 * A fresh chromium (1400 x 950) on Node-RED's editor at `url`, once the editor has loaded the flows with
 * node `nodeId` in them. `onPage(page)` runs before the page is opened (to watch its requests).
 */
async function openEditor(url, { locale, profilePrefix, pageErrors, nodeId, onPage }) {
  const browser = await launchChromium({
    locale,
    viewport: { width: 1400, height: 950 },
    profilePrefix,
    pageErrors,
  });
  onPage?.(browser.page);
  await browser.page.goto(url, { waitUntil: "domcontentloaded" });
  await browser.page.waitForFunction(
    (id) => window.RED && RED.nodes && RED.nodes.node && RED.nodes.node(id),
    nodeId,
    { timeout: 60000 },
  );
  return browser;
}

/** Drags a palette node onto the workspace at (x, y) and returns the new node's id. */
async function dragFromPalette(page, type, x, y) {
  const before = await page.evaluate(() => {
    const ids = [];
    RED.nodes.eachNode((n) => {
      ids.push(n.id);
    });
    return ids;
  });
  const source = page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
  await source.scrollIntoViewIfNeeded();
  const from = await source.boundingBox();
  const chart = await page.locator("#red-ui-workspace-chart").boundingBox();
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(chart.x + x, chart.y + y, { steps: 15 });
  await page.mouse.up();
  const handle = await page.waitForFunction(
    ([t, ids]) => {
      let found;
      RED.nodes.eachNode((n) => {
        if (n.type === t && !ids.includes(n.id)) found = n.id;
      });
      return found;
    },
    [type, before],
  );
  return handle.jsonValue();
}

module.exports = {
  ARTIFACTS,
  UI_MS,
  requireChromium,
  launchChromium,
  screenshot,
  screenshotFailure,
  itWithoutPageErrors,
  dragFromPalette,
  openEditor,
};
