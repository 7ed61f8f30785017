"use strict";
// A self-signed certificate for 127.0.0.1/localhost, made once with the `openssl` CLI and cached in
// os.tmpdir(). selfSigned() returns { key, cert } (PEM strings; cert doubles as the CA to trust), or
// throws an Error with code "EMULATOR_NO_OPENSSL" when openssl is not installed.
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const CACHE_DIR = path.join(os.tmpdir(), "dbgpt-emulator-tls-v1");
// Key and certificate live in one JSON file so that a reader never pairs one run's key with another's cert.
const PAIR_FILE = path.join(CACHE_DIR, "pair.json");

function readCached() {
  try {
    const pair = JSON.parse(fs.readFileSync(PAIR_FILE, "utf8"));
    return typeof pair.key === "string" && typeof pair.cert === "string" ? pair : undefined;
  } catch {
    return undefined;
  }
}

function selfSigned() {
  const cached = readCached();
  if (cached) return cached;
  // Written under a private name, then renamed, so concurrent test processes never read half a file.
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(CACHE_DIR, "gen-"));
  const key = path.join(tmp, "key.pem");
  const cert = path.join(tmp, "cert.pem");
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "3650",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
      ],
      { stdio: "pipe", timeout: 30000 },
    );
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (err.code === "ENOENT") {
      const e = new Error("openssl is not installed (apt-get install openssl)");
      e.code = "EMULATOR_NO_OPENSSL";
      throw e;
    }
    throw err;
  }
  const pair = { key: fs.readFileSync(key, "utf8"), cert: fs.readFileSync(cert, "utf8") };
  fs.writeFileSync(path.join(tmp, "pair.json"), JSON.stringify(pair));
  fs.renameSync(path.join(tmp, "pair.json"), PAIR_FILE);
  fs.rmSync(tmp, { recursive: true, force: true });
  return pair;
}

module.exports = { selfSigned, CACHE_DIR };
