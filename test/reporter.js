"use strict";
// Mocha's spec reporter plus the one summary line CI reads: "N passed, N failed, N skipped". A test that
// failed and is retried (this.retries) prints its first error, so a flake shows in the log with its cause.
// Right before the summary line, each failure is repeated on one line starting "FAILED: " (its full title
// and the first line of its error), so the end of a long log names what failed; .ci/run lists these lines
// again in its own summary.
const Mocha = require("mocha");

const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING, EVENT_TEST_RETRY } =
  Mocha.Runner.constants;

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const failures = [];
    runner.on(EVENT_TEST_PASS, () => passed++);
    runner.on(EVENT_TEST_FAIL, (test, err) => {
      failed++;
      const message = String((err && err.message) || err).split("\n", 1)[0];
      failures.push(`FAILED: ${test.fullTitle()}: ${message.slice(0, 300)}`);
    });
    runner.on(EVENT_TEST_PENDING, () => skipped++);
    runner.on(EVENT_TEST_RETRY, (test, err) => {
      const cause = (err && (err.stack || err.message)) || String(err);
      process.stdout.write(`\n  retrying "${test.fullTitle()}" after: ${cause}\n`);
    });
    runner.once(EVENT_RUN_END, () => {
      if (failures.length > 0) process.stdout.write(`\n${failures.join("\n")}\n`);
      process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
    });
  }
}

module.exports = SummaryReporter;
