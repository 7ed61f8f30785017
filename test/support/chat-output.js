"use strict";
// What a dbgpt-chat node's outputs mean together (PRODUCT.md "Two outputs").

/**
 * The answer text a chat's stream-output messages fold to: append a "delta", set on a "replace", skip
 * "reasoning". It equals the complete output's payload (or, after a failure, msg.dbgpt.partial).
 */
function fold(streamMessages) {
  let text = "";
  for (const { payload, dbgpt } of streamMessages) {
    if (dbgpt.type === "delta") text += payload;
    else if (dbgpt.type === "replace") text = payload;
  }
  return text;
}

module.exports = { fold };
