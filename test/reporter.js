"use strict";
// Mocha's spec reporter plus the one summary line CI reads: "N passed, N failed, N skipped". A test that
// failed and is retried (this.retries) prints its first error, so a flake shows in the log with its cause.
const Mocha = require("mocha");

const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING, EVENT_TEST_RETRY } =
  Mocha.Runner.constants;

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    runner.on(EVENT_TEST_PASS, () => passed++);
    runner.on(EVENT_TEST_FAIL, () => failed++);
    runner.on(EVENT_TEST_PENDING, () => skipped++);
    runner.on(EVENT_TEST_RETRY, (test, err) => {
      const cause = (err && (err.stack || err.message)) || String(err);
      process.stdout.write(`\n  retrying "${test.fullTitle()}" after: ${cause}\n`);
    });
    runner.once(EVENT_RUN_END, () => {
      process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
    });
  }
}

module.exports = SummaryReporter;
