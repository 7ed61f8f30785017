"use strict";
/**
 * Bounded waiting for the tests:
 *
 *   delay(ms)                                       resolves after ms
 *   waitFor(predicate, what, timeoutMs, everyMs)    polls until predicate() is truthy
 */

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `predicate()` every `everyMs` until it returns something truthy, and resolves with that. After
 * `timeoutMs` rejects with "timed out waiting for <what>"; `what` is a text, or a function giving it then
 * (to describe the state at the time of failure).
 */
async function waitFor(predicate, what = "condition", timeoutMs = 5000, everyMs = 5) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = predicate();
    if (value) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${typeof what === "function" ? what() : what} (${timeoutMs} ms)`,
      );
    }
    await delay(everyMs);
  }
}

module.exports = { delay, waitFor };
