"use strict";
/**
 * Loopback HTTP for the tests that talk to a Node-RED runtime (or the emulator) over real sockets:
 *
 *   freePort()                 a port that was free on 127.0.0.1 a moment ago
 *   httpRequest(url, options)  one request on its own connection; { status, headers, bytes, text, json }
 */
const http = require("node:http");
const { freePort } = require("../../scripts/nodered");

/**
 * One request on its own connection (Connection: close, no keep-alive agent). A `body` that is not a string
 * is sent as JSON (with a JSON content-type unless `headers` names one). Resolves with
 * { status, headers, bytes (the body as a Buffer), text, json (undefined when the body is not JSON) };
 * rejects when no complete answer arrives within timeoutMs.
 */
function httpRequest(url, { method = "GET", headers = {}, body, timeoutMs = 20000 } = {}) {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const head = { connection: "close", ...headers };
    if (text !== undefined) {
      head["content-length"] = String(Buffer.byteLength(text));
      if (typeof body !== "string" && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
        head["content-type"] = "application/json";
      }
    }
    const req = http.request(url, { method, agent: false, headers: head }, (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () => {
        clearTimeout(timer);
        const bytes = Buffer.concat(chunks);
        const answer = bytes.toString("utf8");
        let json;
        try {
          json = JSON.parse(answer);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, bytes, text: answer, json });
      });
      res.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const timer = setTimeout(
      () => req.destroy(new Error(`${method} ${url}: no complete answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (text !== undefined) req.write(text);
    req.end();
  });
}

module.exports = { freePort, httpRequest };
