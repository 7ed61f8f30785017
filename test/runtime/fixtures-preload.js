"use strict";
/**
 * Preloaded into the Node-RED child processes of the fault, soak and security tests
 * (NODE_OPTIONS=--require, see fixtures-hardening.js childEnv()). Two test-only changes to the runtime:
 *
 * 1. DNS is injected for made-up names, so no test depends on the machine's resolver: a host name ending
 *    in ".invalid" (RFC 2606, never resolvable) fails at once with ENOTFOUND; one ending in ".test"
 *    (RFC 6761) resolves through the JSON file named by DBGPT_TEST_HOSTS_FILE ({ "name": "127.0.0.1" },
 *    re-read at every lookup so a test can make a name appear), else fails with ENOTFOUND. Every other
 *    name goes to Node's own dns.lookup (which net.connect, and so undici, reads at each connect).
 * 2. Unhandled promise rejections are recorded in globalThis.__dbgptTestUnhandled and printed with the
 *    marker "[dbgpt-test] unhandled rejection" instead of crashing the runtime, so that the test that
 *    caused one can say so (the probe in fixtures-hardening.js reports them).
 */
const dns = require("node:dns");
const fs = require("node:fs");

const systemLookup = dns.lookup;

function notFound(hostname) {
  const err = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
  err.code = "ENOTFOUND";
  err.errno = -3008;
  err.syscall = "getaddrinfo";
  err.hostname = hostname;
  return err;
}

function injectedAddress(hostname) {
  const file = process.env.DBGPT_TEST_HOSTS_FILE;
  if (!file) return undefined;
  try {
    const hosts = JSON.parse(fs.readFileSync(file, "utf8"));
    return typeof hosts[hostname] === "string" ? hosts[hostname] : undefined;
  } catch {
    return undefined;
  }
}

function testLookup(hostname, options, callback) {
  if (typeof options === "function") {
    callback = options;
    options = {};
  }
  const name = typeof hostname === "string" ? hostname.toLowerCase().replace(/\.$/, "") : "";
  if (!name.endsWith(".invalid") && !name.endsWith(".test")) {
    return systemLookup.call(dns, hostname, options, callback);
  }
  const address = name.endsWith(".test") ? injectedAddress(name) : undefined;
  const all = options !== null && typeof options === "object" && options.all === true;
  process.nextTick(() => {
    if (address === undefined) callback(notFound(hostname));
    else if (all) callback(null, [{ address, family: address.includes(":") ? 6 : 4 }]);
    else callback(null, address, address.includes(":") ? 6 : 4);
  });
  return {};
}

dns.lookup = testLookup;

globalThis.__dbgptTestUnhandled = [];
process.on("unhandledRejection", (reason) => {
  const text = reason instanceof Error ? reason.stack || reason.message : String(reason);
  globalThis.__dbgptTestUnhandled.push(text);
  process.stderr.write(`[dbgpt-test] unhandled rejection: ${text}\n`);
});
