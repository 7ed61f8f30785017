#!/usr/bin/env node
"use strict";
// Runs the DB-GPT emulator as its own process (benchmarks, humans):
//   node emulator/cli.js [--port N] [--host H] [--delay MS] [--api-key K]... [--tls] [--verbose]
// Prints one line "DB-GPT emulator listening on <url>" once listening; stops on SIGINT/SIGTERM or when
// stdin closes with --stdin-close.
const { parseArgs } = require("node:util");
const { startEmulator } = require("./index");

const USAGE =
  "usage: node emulator/cli.js [--port N] [--host H] [--delay MS] [--api-key K]... [--tls] [--stdin-close] [--verbose]";

const OPTIONS = {
  port: { type: "string", default: "0" },
  host: { type: "string", default: "127.0.0.1" },
  delay: { type: "string", default: "0" },
  "api-key": { type: "string", multiple: true, default: [] },
  tls: { type: "boolean", default: false },
  "stdin-close": { type: "boolean", default: false },
  verbose: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
};

function number(flag, v) {
  const n = Number(v);
  if (v === "" || !Number.isFinite(n) || n < 0)
    throw new Error(`--${flag} needs a non-negative number, got "${v}"`);
  return n;
}

function options(argv) {
  const { values } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  return {
    help: values.help,
    port: number("port", values.port),
    host: values.host,
    delayMs: number("delay", values.delay),
    apiKeys: values["api-key"],
    tls: values.tls,
    stdinClose: values["stdin-close"],
    quiet: !values.verbose,
  };
}

async function main() {
  let opts;
  try {
    opts = options(process.argv.slice(2));
  } catch (err) {
    console.error(`${err.message}\n${USAGE}`);
    process.exit(2);
  }
  if (opts.help) {
    console.log(USAGE);
    return;
  }
  const tls = opts.tls ? require("./selfsigned").selfSigned() : undefined;
  const emu = await startEmulator({
    host: opts.host,
    port: opts.port,
    delayMs: opts.delayMs,
    apiKeys: opts.apiKeys,
    tls,
    quiet: opts.quiet,
  });
  console.log(`DB-GPT emulator listening on ${emu.url}`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    emu.close().then(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  if (opts.stdinClose) {
    process.stdin.on("end", stop);
    process.stdin.on("close", stop);
    process.stdin.resume();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
