"use strict";
// Raw HTTP/1.1 exchanges for the emulator's self-tests: the exact bytes, chunk by chunk, over a real
// socket (node:net / node:tls), so tests can check framing that higher-level clients hide.
const net = require("node:net");
const tls = require("node:tls");

/**
 * Incremental parser of one HTTP/1.1 response. `feed(buf)` returns true once the response is complete
 * (content-length reached or the chunked terminator seen).
 */
class ResponseParser {
  constructor(onHead) {
    this.onHead = onHead;
    this.buf = Buffer.alloc(0);
    this.head = null; // { status, headers (lowercase map), rawHead }
    this.parts = []; // body pieces (joined on demand: no quadratic copying on big streams)
    this.bodyLength = 0;
    this.chunks = []; // chunked: each chunk's data
    this.complete = false;
  }

  get body() {
    if (this.parts.length > 1) this.parts = [Buffer.concat(this.parts)];
    return this.parts[0] || Buffer.alloc(0);
  }

  addBody(data) {
    this.parts.push(data);
    this.bodyLength += data.length;
  }

  feed(data) {
    this.buf = Buffer.concat([this.buf, data]);
    if (!this.head) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end === -1) return false;
      const rawHead = this.buf.subarray(0, end).toString("latin1");
      const [statusLine, ...lines] = rawHead.split("\r\n");
      const headers = {};
      for (const line of lines) {
        const i = line.indexOf(":");
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      this.head = { status: Number(statusLine.split(" ")[1]), headers, rawHead };
      this.buf = this.buf.subarray(end + 4);
      if (this.onHead) this.onHead(this);
    }
    const h = this.head.headers;
    if (h["transfer-encoding"] === "chunked") {
      for (;;) {
        const lineEnd = this.buf.indexOf("\r\n");
        if (lineEnd === -1) return false;
        const size = parseInt(this.buf.subarray(0, lineEnd).toString("latin1"), 16);
        if (this.buf.length < lineEnd + 2 + size + 2) return false;
        const data = this.buf.subarray(lineEnd + 2, lineEnd + 2 + size);
        this.buf = this.buf.subarray(lineEnd + 2 + size + 2);
        if (size === 0) {
          this.complete = true;
          return true;
        }
        const copy = Buffer.from(data);
        this.chunks.push(copy);
        this.addBody(copy);
      }
    }
    if (this.buf.length) this.addBody(this.buf);
    this.buf = Buffer.alloc(0);
    const length = h["content-length"];
    if (length !== undefined && this.bodyLength >= Number(length)) this.complete = true;
    return this.complete;
  }
}

/**
 * Sends one request and collects the response.
 * opts: { method, path, headers, body (string | object | Buffer), keepAlive, ca (https), timeoutMs,
 *         onHead(parser, socket), onChunk(parser, socket) }
 * Resolves { status, headers, rawHead, body (string), bodyBytes, chunks (strings), complete, closed,
 *            socketError }. `closed` is true when the server closed the connection.
 */
function exchange(baseUrl, opts = {}) {
  const url = new URL(baseUrl);
  const method = opts.method || "GET";
  let body = opts.body;
  const headers = { Host: url.host, ...(opts.headers || {}) };
  if (body !== undefined && !Buffer.isBuffer(body) && typeof body !== "string") {
    body = JSON.stringify(body);
    if (!Object.keys(headers).some((k) => k.toLowerCase() === "content-type")) {
      headers["Content-Type"] = "application/json";
    }
  }
  if (body !== undefined) headers["Content-Length"] = Buffer.byteLength(body);
  if (!opts.keepAlive) headers.Connection = "close";
  let head = `${method} ${opts.path || "/"} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;

  return new Promise((resolve, reject) => {
    const socket =
      url.protocol === "https:"
        ? tls.connect({ host: url.hostname, port: Number(url.port), ca: opts.ca, servername: "localhost" })
        : net.connect(Number(url.port), url.hostname);
    const parser = new ResponseParser((p) => opts.onHead && opts.onHead(p, socket));
    let settled = false;
    let socketError;
    const timer = setTimeout(() => finish(false), opts.timeoutMs || 5000);
    const finish = (closed) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (!parser.head && !closed && !socketError)
        return reject(new Error("exchange: timed out before any response"));
      const result = {
        status: parser.head && parser.head.status,
        headers: parser.head ? parser.head.headers : {},
        rawHead: parser.head && parser.head.rawHead,
        body: parser.body.toString("utf8"),
        bodyBytes: parser.body,
        chunks: parser.chunks.map((c) => c.toString("utf8")),
        chunkBuffers: parser.chunks,
        complete: parser.complete,
        closed,
        socketError,
      };
      resolve(result);
    };
    socket.on(url.protocol === "https:" ? "secureConnect" : "connect", () => {
      socket.write(head + "\r\n");
      if (body !== undefined) socket.write(body);
    });
    socket.on("data", (data) => {
      const complete = parser.feed(data);
      if (opts.onChunk) opts.onChunk(parser, socket);
      if (complete && opts.keepAlive) finish(false);
    });
    socket.on("error", (err) => {
      socketError = err;
    });
    socket.on("close", () => finish(true));
  });
}

/** The `data:` payloads of an SSE body (no [DONE] filtering). */
function ssePayloads(body) {
  return body
    .split("\n\n")
    .filter((e) => e !== "")
    .map((e) => {
      if (!e.startsWith("data: ")) throw new Error(`not a data event: ${JSON.stringify(e)}`);
      return e.slice(6);
    });
}

module.exports = { exchange, ssePayloads, ResponseParser };
