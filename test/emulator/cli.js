#!/usr/bin/env node
"use strict";
// Runs the DB-GPT emulator as its own process (benchmarks, humans):
//   node test/emulator/cli.js [--port N] [--host H] [--delay MS] [--api-key K]... [--tls] [--verbose]
// Prints one line "DB-GPT emulator listening on <url>" once listening; stops on SIGINT/SIGTERM or when
// stdin closes with --stdin-close.
const { startEmulator } = require("./index");

const USAGE =
  "usage: node test/emulator/cli.js [--port N] [--host H] [--delay MS] [--api-key K]... [--tls] [--stdin-close] [--verbose]";

function parseArgs(argv) {
  const opts = {
    port: 0,
    host: "127.0.0.1",
    delayMs: 0,
    apiKeys: [],
    tls: false,
    stdinClose: false,
    quiet: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg];
    const value = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
      return argv[++i];
    };
    const number = (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new Error(`${flag} needs a non-negative number, got "${v}"`);
      return n;
    };
    switch (flag) {
      case "--port":
        opts.port = number(value());
        break;
      case "--host":
        opts.host = value();
        break;
      case "--delay":
        opts.delayMs = number(value());
        break;
      case "--api-key":
        opts.apiKeys.push(value());
        break;
      case "--tls":
        opts.tls = true;
        break;
      case "--stdin-close":
        opts.stdinClose = true;
        break;
      case "--verbose":
        opts.quiet = false;
        break;
      case "--help":
      case "-h":
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${arg}`);
    }
  }
  return opts;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`${err.message}\n${USAGE}`);
    process.exit(2);
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

// Only as a program: mocha, given the folder, loads every .js file in it.
if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

module.exports = { parseArgs };
