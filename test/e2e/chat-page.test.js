"use strict";
/* global window, document -- code passed to page.evaluate() runs in the dashboard page */
// Example 7, the chat page, in a real browser: the packed package and Node-RED Dashboard 2.0 (the
// devDependency, loaded through settings.nodesDir) in a real Node-RED, the example deployed as shipped but
// pointed at the emulator, which answers slowly enough to watch the answers grow. Two browser tabs ask at
// once, each sees only its own answer grow in steps; one stops mid-answer; a conversation continues with the
// same conv_uid; a data question's rows land in the table. Screenshots of each step go to test-artifacts/
// (UPDATE_DOCS_SCREENSHOT=1 also writes docs/chat-page.png). Without chromium the suite is skipped
// (CI=true: fails).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { startEmulator, answerFor, artifacts } = require("../../emulator");
const { ROOT, startNodeRed } = require("../runtime/harness");
const {
  ARTIFACTS,
  requireChromium,
  launchChromium,
  screenshot,
  screenshotFailure,
} = require("../support/browser");

const EXAMPLE = path.join(ROOT, "examples", "07 - Chat page.json");
const DASHBOARD = "@flowfuse/node-red-dashboard";
const PAGE_PATH = "/dashboard/dbgpt";
/** The emulator's pause between stream events: a [long:40] answer takes about 1.6 s. */
const DELAY_MS = 40;
const ANSWER_MS = 30000;

/** Records, in the page, every distinct (text, state) of each turn's answer, every 15 ms. */
function recordSteps(page) {
  return page.evaluate(() => {
    window.dbgptSteps = {};
    window.setInterval(() => {
      for (const turn of document.querySelectorAll(".dbgpt-turn")) {
        const text = turn.querySelector(".dbgpt-markdown").textContent;
        const state = turn.dataset.state;
        const steps = (window.dbgptSteps[turn.dataset.turn] ||= []);
        const last = steps[steps.length - 1];
        if (!last || last.text !== text || last.state !== state) steps.push({ text, state });
      }
    }, 15);
  });
}

const stepsOf = (page, turn) => page.evaluate((n) => window.dbgptSteps[n] || [], String(turn));

/** Types a question into the page's question box and presses Enter. */
async function ask(page, question) {
  const input = page.locator(".dbgpt-question input");
  await input.fill(question);
  await input.press("Enter");
}

const turn = (page, n) => page.locator(`.dbgpt-turn[data-turn="${n}"]`);
const answerText = (page, n) => turn(page, n).locator(".dbgpt-markdown").textContent();

async function waitForState(page, n, state, timeout = ANSWER_MS) {
  await page.waitForSelector(`.dbgpt-turn[data-turn="${n}"][data-state="${state}"]`, { timeout });
}

/** The answer grew in at least three visible steps, each a prefix of the final text, then completed. */
async function assertGrew(page, n, final) {
  const steps = await stepsOf(page, n);
  const streaming = steps.filter((s) => s.state === "streaming" && s.text !== "");
  for (const step of streaming) assert.ok(final.startsWith(step.text), `a prefix: ${step.text}`);
  // Visible steps before the whole text was there (the last stream message may show it all before "done").
  const partial = streaming.filter((s) => s.text.length < final.length);
  assert.ok(
    partial.length >= 3,
    `turn ${n} grew in ${partial.length} visible steps: ${JSON.stringify(steps)}`,
  );
  assert.deepEqual(steps[steps.length - 1], { text: final, state: "done" });
}

describe("chat page example (Dashboard 2.0) in chromium", function () {
  this.timeout(240000);

  let emu;
  let nr;
  let browser;
  let tabA;
  let tabB;
  const external = [];

  before(async function () {
    requireChromium(this);
    this.timeout(600000);
    emu = await startEmulator({ delayMs: DELAY_MS, quiet: true });
    const flows = JSON.parse(fs.readFileSync(EXAMPLE, "utf8")).map((node) =>
      node.type === "dbgpt-config" ? { ...node, baseUrl: emu.url } : node,
    );
    const dashboard = path.dirname(require.resolve(`${DASHBOARD}/package.json`, { paths: [ROOT] }));
    nr = await startNodeRed({ flows, settings: { nodesDir: [dashboard] } });
    const sets = await (await fetch(`${nr.url}/nodes`, { headers: { accept: "application/json" } })).json();
    const dashboardSets = sets.filter((set) => set.module === DASHBOARD);
    assert.ok(dashboardSets.length > 0, "the dashboard is loaded");
    assert.deepEqual(
      dashboardSets.filter((set) => set.err).map((set) => `${set.id}: ${set.err}`),
      [],
    );

    browser = await launchChromium({ viewport: { width: 1000, height: 900 } });
    browser.context.on("request", (request) => {
      const url = request.url();
      if (
        !url.startsWith(nr.url) &&
        !url.startsWith(nr.url.replace("http:", "ws:")) &&
        !url.startsWith("data:")
      )
        external.push(url);
    });
    tabA = browser.page;
    tabB = await browser.context.newPage();
    tabB.on("pageerror", (err) => browser.pageErrors.push(err.message));
    for (const page of [tabA, tabB]) {
      await page.goto(`${nr.url}${PAGE_PATH}`);
      await page.waitForSelector(".dbgpt-empty", { timeout: 30000 });
      await recordSteps(page);
    }
  });

  after(async function () {
    this.timeout(60000);
    if (browser) await browser.close();
    if (nr) await nr.stop();
    if (emu) await emu.close();
  });

  afterEach(async function () {
    if (this.currentTest.state === "failed") {
      if (tabA) await screenshotFailure(tabA, "chat-page-a", this.currentTest.title);
      if (tabB) await screenshotFailure(tabB, "chat-page-b", this.currentTest.title);
      if (nr) process.stdout.write(`\n--- Node-RED output ---\n${nr.logs().slice(-4000)}\n---\n`);
    }
  });

  /** What the tabs ask: the emulator's [long:N] / [echo-history] / [data] prefixes choose its answer. */
  const ASK = {
    a: "[long:40] tab A, first question",
    b: "[long:50] tab B, first question",
    stop: "[long:400] tab A, a long answer to stop",
    b2: "[long:45] tab B keeps going",
    history: "[echo-history] tab A: what did I ask?",
    data: "[data] how many orders per city?",
  };

  it("serves the page from Node-RED alone (no CDN), with an empty conversation", async function () {
    await screenshot(tabA, "chat-page-1-empty.png");
    assert.equal(await tabA.locator(".dbgpt-turn").count(), 0);
    assert.deepEqual(external, [], "nothing loaded from elsewhere");
  });

  it("two tabs ask at once: each answer grows in steps, and each tab sees only its own", async function () {
    await Promise.all([ask(tabA, ASK.a), ask(tabB, ASK.b)]);
    await tabA.waitForFunction(() => (window.dbgptSteps["0"] || []).length >= 2);
    await screenshot(tabA, "chat-page-2-streaming-a.png");
    await screenshot(tabB, "chat-page-2-streaming-b.png");
    await Promise.all([waitForState(tabA, 0, "done"), waitForState(tabB, 0, "done")]);
    await assertGrew(tabA, 0, answerFor(ASK.a));
    await assertGrew(tabB, 0, answerFor(ASK.b));
    for (const [page, own, other] of [
      [tabA, ASK.a, ASK.b],
      [tabB, ASK.b, ASK.a],
    ]) {
      assert.equal(await page.locator(".dbgpt-turn").count(), 1);
      const text = await page.locator(".dbgpt-chat").textContent();
      assert.ok(text.includes(own) && !text.includes(other), "only this tab's question");
      assert.equal(await page.locator(".dbgpt-question input").inputValue(), "", "the box is cleared");
    }
    const convs = emu.chatRequests().map((r) => r.body.conv_uid);
    assert.equal(convs.length, 2);
    assert.notEqual(convs[0], convs[1], "each tab its own conversation");
    await screenshot(tabA, "chat-page-3-answered-a.png");
  });

  it("Stop stops only that tab's answer: it stays partial while the other tab's completes", async function () {
    await Promise.all([ask(tabA, ASK.stop), ask(tabB, ASK.b2)]);
    await tabA.waitForFunction(
      () => (window.dbgptSteps["1"] || []).filter((s) => s.text !== "").length >= 2,
      undefined,
      { timeout: ANSWER_MS },
    );
    await tabA.locator(".dbgpt-stop button").click();
    await waitForState(tabA, 1, "stopped");
    const partial = await answerText(tabA, 1);
    const full = answerFor(ASK.stop);
    assert.ok(partial.length > 0 && partial.length < full.length && full.startsWith(partial), partial);
    await waitForState(tabB, 1, "done");
    assert.equal(await answerText(tabB, 1), answerFor(ASK.b2));
    await tabA.waitForTimeout(500);
    assert.equal(await answerText(tabA, 1), partial, "nothing more arrives after Stop");
    assert.equal(await turn(tabA, 1).locator(".dbgpt-note").textContent(), "Stopped");
    // Clicking Stop took the focus from the question box: with "send on blur" off it sent nothing.
    assert.equal(emu.chatRequests().filter((r) => r.question === ASK.stop).length, 1);
    await screenshot(tabA, "chat-page-4-stopped-a.png");
    await screenshot(tabB, "chat-page-4-completed-b.png");
  });

  it("continues the tab's conversation: the same conv_uid, earlier questions and answers above", async function () {
    await ask(tabA, ASK.history);
    await waitForState(tabA, 2, "done");
    const mine = emu.chatRequests().filter((r) => [ASK.a, ASK.stop, ASK.history].includes(r.question));
    assert.equal(mine.length, 3);
    assert.equal(new Set(mine.map((r) => r.body.conv_uid)).size, 1, "one conversation for tab A");
    const theirs = emu.chatRequests().filter((r) => [ASK.b, ASK.b2].includes(r.question));
    assert.equal(new Set(theirs.map((r) => r.body.conv_uid)).size, 1, "one conversation for tab B");
    assert.notEqual(theirs[0].body.conv_uid, mine[0].body.conv_uid);
    assert.equal(await answerText(tabA, 2), answerFor(ASK.history, { history: [ASK.a, ASK.stop] }));
    const questions = await tabA
      .locator(".dbgpt-question .dbgpt-bubble, .dbgpt-turn .dbgpt-bubble")
      .allTextContents();
    assert.deepEqual(questions, [ASK.a, ASK.stop, ASK.history], "earlier turns stay above, in order");
    await screenshot(tabA, "chat-page-5-conversation-a.png");
  });

  it("a data question (chat_data) shows the emulator's rows in the table and a chart, in that tab only", async function () {
    await tabB.getByText("Ask the database").click();
    await ask(tabB, ASK.data);
    await waitForState(tabB, 2, "done");
    const request = emu.chatRequests().find((r) => r.question === ASK.data);
    assert.equal(request.body.chat_mode, "chat_data");
    const table = tabB.locator(".dbgpt-rows table");
    await table.waitFor();
    const rows = await table.locator("tbody tr").allTextContents();
    const expected = artifacts.ORDERS_BY_CITY;
    assert.equal(rows.length, expected.length);
    expected.forEach((row, i) => {
      assert.ok(rows[i].includes(row.city), `row ${i}: ${rows[i]}`);
      if (row.note) assert.ok(rows[i].includes(row.note), `the note as text, no markup: ${rows[i]}`);
    });
    assert.ok(await tabB.locator(".dbgpt-rows ~ * canvas, canvas").first().isVisible(), "a chart is drawn");
    assert.match(await answerText(tabB, 2), /3 rows/);
    assert.equal(
      await tabA.locator(".dbgpt-rows tbody tr td", { hasText: "Berlin" }).count(),
      0,
      "not in tab A",
    );
    await screenshot(tabB, "chat-page-6-data-b.png");
  });

  it("looks right at phone width mid-answer (the README screenshot), with no page errors", async function () {
    await tabB.setViewportSize({ width: 390, height: 844 });
    await tabB.getByText("Ask the database").click();
    await ask(tabB, "[long:60] What does the chat page show on a phone?");
    await tabB.waitForFunction(() => (window.dbgptSteps["3"] || []).filter((s) => s.text !== "").length >= 2);
    await screenshot(tabB, "chat-page-7-phone-b.png");
    await waitForState(tabB, 3, "done");
    const width = await tabB.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `no sideways scrolling on a phone (${width}px)`);

    // The README's picture: a third tab at desktop width, mid-answer, with a data answer above it.
    const tabC = await browser.context.newPage();
    tabC.on("pageerror", (err) => browser.pageErrors.push(err.message));
    await tabC.setViewportSize({ width: 1000, height: 900 });
    await tabC.goto(`${nr.url}${PAGE_PATH}`);
    await tabC.waitForSelector(".dbgpt-empty");
    await recordSteps(tabC);
    await ask(tabC, "What can you tell me about our orders?");
    await waitForState(tabC, 0, "done");
    await tabC.getByText("Ask the database").click();
    await ask(tabC, "[data] how many orders per city last month?");
    await waitForState(tabC, 1, "done");
    await tabC.getByText("Ask the database").click();
    await ask(tabC, "Which city should we focus on next quarter?");
    await tabC.waitForFunction(() =>
      (window.dbgptSteps["2"] || []).some((s) => s.state === "streaming" && s.text.length > 30),
    );
    await tabC.screenshot({ path: path.join(ARTIFACTS, "chat-page-readme.png"), fullPage: true });
    if (process.env.UPDATE_DOCS_SCREENSHOT) {
      fs.copyFileSync(path.join(ARTIFACTS, "chat-page-readme.png"), path.join(ROOT, "docs", "chat-page.png"));
    }
    await waitForState(tabC, 2, "done");
    assert.equal(await tabC.locator(".dbgpt-rows tbody tr").count(), artifacts.ORDERS_BY_CITY.length);
    // The rows of the last data answer stay while the tab asks other questions.
    assert.equal(await tabB.locator(".dbgpt-rows tbody tr").count(), artifacts.ORDERS_BY_CITY.length);
    assert.deepEqual(browser.pageErrors, []);
    assert.deepEqual(external, [], "nothing loaded from elsewhere");
  });
});
