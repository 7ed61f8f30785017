"use strict";
// The DB-GPT emulator: one HTTP(S) server reproducing dbgpt-api.md byte for byte, with faults on
// demand. API: README.md beside this file.
const http = require("node:http");
const https = require("node:https");
const zlib = require("node:zlib");
const { randomBytes, randomUUID } = require("node:crypto");

const data = require("./data");
const script = require("./script");
const render = require("./render");
const artifacts = require("./artifacts");
const { bodyErrors, errMsg, readBody, toBool } = require("./validate");
const { normalizeFault, faultMatches } = require("./faults");
const { writeResponse } = require("./writer");

// The paths are written here from dbgpt-api.md, not taken from the client: a spec that shared the client's
// constants could not catch a wrong path in it.
const CHAT_PATH = "/api/v2/chat/completions";
const APPS_PATH = "/api/v2/serve/apps";
const HISTORY_PATH = "/api/v1/chat/dialogue/messages/history";
const CHAT_FLOW_CATEGORIES = ["chat_flow", "chat_agent"];
const CONTROL_PREFIX = "/__emulator/";
const NORMAL_FAMILY = ["chat_normal", "chat_knowledge", "chat_data", "chat_with_db_qa", "chat_dashboard"];
const DB_MODES = ["chat_data", "chat_with_db_qa", "chat_dashboard"];
const MAX_BODY_BYTES = 64 * 1024 * 1024;

const NOT_FOUND_HTML =
  '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>404: This page could not be found</title>' +
  "</head><body><div><h1>404</h1><h2>This page could not be found.</h2></div></body></html>";

// ---- ids ------------------------------------------------------------------------------------------

const UUID_EPOCH_OFFSET = 122192928000000000n; // 100-ns intervals between 1582-10-15 and 1970-01-01
const uuid1Node = randomBytes(6);
uuid1Node[0] |= 0x01; // multicast bit: a random node id, as Python does without a MAC
const uuid1ClockSeq = randomBytes(2).readUInt16BE(0) & 0x3fff;
let uuid1Last = 0n;

/** A uuid1 string like Python's uuid.uuid1() (time based, so ids of one process differ). */
function uuid1() {
  let t = BigInt(Date.now()) * 10000n + UUID_EPOCH_OFFSET;
  if (t <= uuid1Last) t = uuid1Last + 1n;
  uuid1Last = t;
  const hex = t.toString(16).padStart(15, "0");
  const timeLow = hex.slice(-8);
  const timeMid = hex.slice(-12, -8);
  const timeHi = "1" + hex.slice(0, 3);
  const clock = (0x8000 | uuid1ClockSeq).toString(16);
  return `${timeLow}-${timeMid}-${timeHi}-${clock}-${uuid1Node.toString("hex")}`;
}

// ---- request helpers ------------------------------------------------------------------------------

function splitTarget(rawPath) {
  const q = rawPath.indexOf("?");
  const rawPathOnly = q === -1 ? rawPath : rawPath.slice(0, q);
  const rawQuery = q === -1 ? "" : rawPath.slice(q + 1);
  let path;
  try {
    path = decodeURIComponent(rawPathOnly);
  } catch {
    path = rawPathOnly;
  }
  const query = {};
  for (const [k, v] of new URLSearchParams(rawQuery)) query[k] = v; // the last value wins, as in Starlette
  return { path, query };
}

/** The question the server uses: a string, or messages[0].content (dbgpt-api.md §3). */
function singlePrompt(messages) {
  if (typeof messages === "string") return messages;
  if (Array.isArray(messages) && messages.length > 0) {
    const first = messages[0];
    return typeof first === "string" ? first : first && first.content;
  }
  return undefined;
}

function readAll(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error("request body too large"));
        req.destroy();
        return;
      }
      parts.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(parts)));
    req.on("error", reject);
    req.on("aborted", () => reject(new Error("request aborted")));
  });
}

function parseIntParam(value, name) {
  if (value === undefined) return { value: undefined };
  if (/^\s*[+-]?\d+\s*$/.test(value)) return { value: Number(value) };
  return { error: `query.${name}:Input should be a valid integer, unable to parse string as an integer;` };
}

/** The detail form of an app: llm_strategy_value is the stored JSON array string (dbgpt-api.md §8). */
function appDetailForm(app) {
  if (!Array.isArray(app.details)) return app;
  return {
    ...app,
    details: app.details.map((d) => {
      const v = d.llm_strategy_value;
      if (v === null || v === undefined) return d;
      const list = Array.isArray(v) ? v : String(v).split(",");
      return { ...d, llm_strategy_value: JSON.stringify(list) };
    }),
  };
}

function appListForm(app) {
  if (!Array.isArray(app.details)) return app;
  if (!app.details.some((d) => Array.isArray(d.llm_strategy_value))) return app;
  return {
    ...app,
    details: app.details.map((d) =>
      Array.isArray(d.llm_strategy_value) ? { ...d, llm_strategy_value: d.llm_strategy_value.join(",") } : d,
    ),
  };
}

// ---- the emulator ---------------------------------------------------------------------------------

/**
 * Starts an emulator. Resolves to the handle described in README.md.
 * @param {object} [options]
 */
/** The body-shaping faults (bom, heartbeats, deepUsage, encoding, bigHeader) applied to a response. */
function reshape(response, f) {
  if (!f.bom && !f.heartbeats && !f.encoding && f.bigHeader === undefined && f.deepUsage === undefined) {
    return response;
  }
  const headers = { ...response.headers };
  let chunks = response.chunks;
  const toBuffer = (c) => (Buffer.isBuffer(c) ? c : Buffer.from(c));
  if (f.deepUsage !== undefined && !response.sse) {
    const value = JSON.parse(Buffer.concat([...chunks].map(toBuffer)).toString());
    delete value.usage;
    const text = JSON.stringify(value);
    // Built as text: JSON.stringify itself would overflow the stack on such a value.
    const usage = '{"tokens":'.repeat(f.deepUsage) + "1" + "}".repeat(f.deepUsage);
    chunks = [text.slice(0, -1) + ',"usage":' + usage + "}"];
  }
  if (f.heartbeats) chunks = [...chunks].flatMap((c) => ["data:\n\n", c]);
  if (f.bom) {
    const [first = "", ...rest] = [...chunks];
    chunks = [Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), toBuffer(first)]), ...rest];
  }
  if (f.encoding) {
    const whole = Buffer.concat([...chunks].map(toBuffer));
    const compress = { gzip: zlib.gzipSync, deflate: zlib.deflateSync, br: zlib.brotliCompressSync }[
      f.encoding
    ];
    chunks = [compress ? compress(whole) : whole];
    headers["content-encoding"] = f.encoding;
  }
  if (headers["content-length"] !== undefined) {
    headers["content-length"] = String([...chunks].reduce((n, c) => n + toBuffer(c).length, 0));
  }
  if (f.bigHeader !== undefined) headers["x-emulator-padding"] = "a".repeat(f.bigHeader);
  return { ...response, headers, chunks };
}

async function startEmulator(options = {}) {
  const config = {
    delayMs: 0,
    apiKeys: [],
    apps: data.DEFAULT_APPS,
    models: data.DEFAULT_MODELS,
    knowledgeSpaces: data.KNOWLEDGE_SPACES,
    flows: data.FLOWS,
    databases: data.DATABASES,
  };
  const quiet = options.quiet !== false;
  const requests = [];
  let faults = [];
  let nextFaultId = 1;
  const history = new Map(); // conv_uid -> earlier questions
  const views = new Map(); // conv_uid -> [{ question, view, model }] (the history endpoint)
  const sockets = new Set();
  const timers = new Set();
  const waiters = new Set();
  let closing = null;

  // Known chat params may be configured by name alone.
  const NAMED = {
    knowledgeSpaces: (name) => data.knowledgeSpace(name),
    flows: (uid) => data.flow(uid),
    databases: (name) => data.database(name),
  };

  function configure(patch = {}) {
    for (const key of ["delayMs", "apiKeys", "apps", "models", "knowledgeSpaces", "flows", "databases"]) {
      if (patch[key] === undefined) continue;
      if (key === "delayMs") {
        if (!Number.isFinite(patch.delayMs) || patch.delayMs < 0) throw new Error("delayMs must be >= 0");
      } else if (!Array.isArray(patch[key])) {
        throw new Error(`${key} must be an array`);
      }
      config[key] = NAMED[key]
        ? patch[key].map((x) => (typeof x === "string" ? NAMED[key](x) : x))
        : patch[key];
    }
  }
  configure(options);

  function addFault(spec) {
    const f = normalizeFault(spec, nextFaultId++);
    faults.push(f);
    return f.id;
  }

  function takeFault(info) {
    const f = faults.find((x) => x.remaining > 0 && faultMatches(x, info));
    if (!f) return undefined;
    f.remaining--;
    f.hits++;
    if (f.remaining === 0) faults = faults.filter((x) => x !== f);
    return f;
  }

  function countOpen() {
    let n = 0;
    for (const s of sockets) if (!s.emulatorControl) n++;
    return n;
  }

  function checkWaiters() {
    const open = countOpen();
    for (const w of waiters) if (open <= w.n) w.resolve();
  }

  function waitForConnections(n = 0, timeoutMs = 2000) {
    return new Promise((resolve, reject) => {
      if (countOpen() <= n) return resolve();
      const w = {
        n,
        resolve: () => {
          clearTimeout(w.timer);
          timers.delete(w.timer);
          waiters.delete(w);
          resolve();
        },
      };
      w.timer = setTimeout(() => {
        timers.delete(w.timer);
        waiters.delete(w);
        reject(
          new Error(`emulator: ${countOpen()} connections still open after ${timeoutMs} ms (wanted <= ${n})`),
        );
      }, timeoutMs);
      timers.add(w.timer);
      waiters.add(w);
    });
  }

  // ---- routing ----

  function send(res, response, fault, record) {
    let out = response;
    if (fault && fault.redirect) {
      out = {
        status: fault.redirect.status,
        headers: { location: fault.redirect.location, "content-length": "0" },
        chunks: [],
        end: "end",
        sse: false,
      };
    } else if (fault && fault.status) {
      const body = fault.status.body;
      const headers = { "content-length": String(Buffer.byteLength(body)), ...(fault.status.headers || {}) };
      if (fault.status.contentType) headers["content-type"] = fault.status.contentType;
      out = { status: fault.status.status, headers, chunks: body ? [body] : [], end: "end", sse: false };
    } else if (fault && fault.rawEvents) {
      out = render.sseResponse(fault.rawEvents, fault.rawEnd === "destroy" ? "destroy" : "end");
      if (fault.rawEnd === "close") out.headers.connection = "close"; // Node closes the socket after the end
    }
    if (fault) out = reshape(out, fault);
    if (out.sse && !res.shouldKeepAlive && out.headers.connection === "keep-alive") {
      // The route's "connection: keep-alive" would override the client's "Connection: close" in Node;
      // uvicorn answers such a request with "Connection: close", which Node adds by itself.
      out = { ...out, headers: { ...out.headers } };
      delete out.headers.connection;
    }
    if (record) record.status = out.status;
    writeResponse(res, out, { delayMs: config.delayMs, fault, timers, record }).catch((err) => {
      if (!quiet) console.error("emulator: write failed:", err);
      res.destroy();
    });
  }

  function handleApps(path, query) {
    if (path === APPS_PATH) {
      const page = parseIntParam(query.page, "page");
      const pageSize = parseIntParam(query.page_size, "page_size");
      const error = (page.error || "") + (pageSize.error || "");
      if (error) return render.resultFailed(400, "E0001", error);
      const size = pageSize.value === undefined ? 20 : pageSize.value;
      let apps = config.apps;
      if (query.is_collected !== undefined) apps = apps.filter((a) => a.is_collected === "true");
      if (size <= 0) return render.resultFailed(200, "E000X", "query app error: division by zero");
      return render.resultOk({
        total_count: apps.length,
        total_page: Math.ceil(apps.length / size),
        current_page: 1, // `page` is ignored by the real server (dbgpt-api.md §8)
        app_list: apps.slice(0, size).map(appListForm),
      });
    }
    // Starlette matches {app_id} against the decoded path: a decoded "/" falls through to the 404 page.
    const id = path.slice(APPS_PATH.length + 1);
    if (id === "" || id.includes("/")) return null;
    const found = config.apps.find((a) => a.app_code === id);
    return render.resultOk(found ? appDetailForm(found) : null);
  }

  /** chat_knowledge finds a space by name, or by id as a fallback (dbgpt-api.md §3). */
  function knowledgeSpaceKnown(chatParam) {
    const spaces = config.knowledgeSpaces;
    return spaces.some((s) => s.name === chatParam) || spaces.some((s) => String(s.id) === chatParam);
  }

  /** A PaginationResult page of `items` (§10); page and page_size work on these routes. */
  function paginated(items, query) {
    const page = parseIntParam(query.page, "page");
    const pageSize = parseIntParam(query.page_size, "page_size");
    const error = (page.error || "") + (pageSize.error || "");
    if (error) return render.resultFailed(400, "E0001", error);
    const number = page.value === undefined ? 1 : page.value;
    const size = pageSize.value === undefined ? 20 : pageSize.value;
    if (number < 1 || size < 1) return render.resultFailed(400, "E0003", "page and page_size must be >= 1");
    return render.resultOk({
      items: items.slice((number - 1) * size, number * size),
      total_count: items.length,
      total_pages: Math.ceil(items.length / size),
      page: number,
      page_size: size,
    });
  }

  /** A route that needs the key (§10): DB-GPT's 401 without a valid one. */
  function keyed(req, answer) {
    if (!authorized(req))
      return render.resultFailed(401, "401", render.openaiErrorRepr("", "invalid_api_key"));
    return answer();
  }

  /** The GET routes of §10 besides apps and history: models, and the pickers' lists (a page each). */
  const LIST_ROUTES = {
    "/api/v2/serve/model/models": () => render.resultOk(config.models),
    "/api/v2/serve/knowledge/spaces": (req, query) => paginated(config.knowledgeSpaces, query),
    "/api/v2/serve/awel/chat/flows": (req, query) =>
      keyed(req, () => {
        const flows = config.flows.filter((f) => CHAT_FLOW_CATEGORIES.includes(f.flow_category));
        return paginated(flows, query);
      }),
    "/api/v2/serve/datasources": (req, query) =>
      keyed(req, () => {
        const dbType = query.db_type;
        const databases = config.databases;
        return render.resultOk(dbType ? databases.filter((d) => d.db_type === dbType) : databases);
      }),
  };

  function notFoundPage() {
    return {
      status: 404,
      headers: {
        "content-length": String(Buffer.byteLength(NOT_FOUND_HTML)),
        "content-type": "text/html; charset=utf-8",
      },
      chunks: [NOT_FOUND_HTML],
      end: "end",
      sse: false,
    };
  }

  function authorized(req) {
    const keys = config.apiKeys.map((k) => String(k).trim()).filter((k) => k !== "");
    if (keys.length === 0) return true;
    const header = req.headers.authorization;
    if (!header) return false;
    const space = header.indexOf(" ");
    const scheme = space === -1 ? header : header.slice(0, space);
    const token = space === -1 ? "" : header.slice(space + 1);
    if (!scheme || !token || scheme.toLowerCase() !== "bearer") return false;
    return keys.includes(token);
  }

  /** `view` is computed when the history is asked for (a [long:N] answer is never joined otherwise). */
  function recordView(convUid, question, model, view) {
    const list = views.get(convUid) || [];
    list.push({ question: typeof question === "string" ? question : String(question), view, model });
    views.set(convUid, list);
  }

  /** GET /api/v1/chat/dialogue/messages/history?con_uid=: every round, human then view. No key check. */
  function handleHistory(query) {
    const rounds = views.get(query.con_uid) || [];
    const data = [];
    rounds.forEach((r, i) => {
      const common = { order: i + 1, time_stamp: 0, model_name: r.model, feedback: null };
      data.push({ role: "human", context: r.question, ...common });
      data.push({ role: "view", context: r.view(), ...common });
    });
    return render.resultOk(data);
  }

  /** Artifact forms (README, "Answers as data") for the normal family: the view and what streams. */
  function applyDataForm(s, mode, question, stream, convUid) {
    const form = artifacts.formFor(mode, question);
    if (form === undefined) return;
    let f;
    if (form === "dashboard") f = artifacts.chatDashboard(convUid);
    else if (form === "refs") f = artifacts.chatKnowledge(stream);
    else f = artifacts.chatData(form);
    s.answer = script.Tokens.of(f.tokens);
    s.view = f.view;
    s.nonStreamView = form === "refs" ? artifacts.chatKnowledge(false).view : f.view;
  }

  /** POST /api/v2/chat/completions: the order of checks of dbgpt-api.md §4. */
  function handleChat(req, bodyBuffer, record) {
    const read = readBody(bodyBuffer, req.headers["content-type"]);
    if (read.kind === "parse-error") {
      return { response: render.resultFailed(400, "400", "There was an error parsing the body") };
    }
    if (read.kind === "json-error") {
      return { response: render.resultFailed(400, "E0001", `body.${read.pos}:JSON decode error;`) };
    }
    if (!authorized(req)) {
      const msg = render.openaiErrorRepr("", "invalid_api_key");
      return { response: render.resultFailed(401, "401", msg) };
    }
    const errs = bodyErrors(read.value);
    if (errs.length > 0) return { response: render.resultFailed(400, "E0001", errMsg(errs)) };

    const body = read.value;
    const chatMode = body.chat_mode === undefined ? "chat_normal" : body.chat_mode;
    const chatParam = body.chat_param;
    const model = body.model;
    const stream = toBool(body.stream, false);
    const invalid = (message, code) => ({
      response: render.resultFailed(400, "400", render.openaiErrorRepr(message, code)),
    });
    if (chatMode && chatMode !== "chat_normal" && !chatParam)
      return invalid("chat param is None", "invalid_chat_param");
    const convUid = body.conv_uid || randomUUID();
    const question = singlePrompt(body.messages);
    const emptyMessages = Array.isArray(body.messages) && body.messages.length === 0;
    record.question = question;

    const earlier = history.get(convUid) || [];
    const remember = () => {
      if (typeof question === "string") history.set(convUid, [...earlier, question]);
    };

    if (chatMode === "chat_app") {
      // The server checks `stream is False`: absent (default false) refuses, null streams.
      if (stream === false) {
        return invalid("chat app now not support no stream", "invalid_request_error");
      }
      return {
        question,
        build: (fault) => {
          const app = config.apps.find((a) => a.app_code === chatParam);
          if (!app || emptyMessages) return render.abortedStream();
          remember();
          const s = script.scriptFor(question, {
            history: earlier,
            model,
            hugeEvent: fault && fault.hugeEvent,
          });
          if (artifacts.formFor("chat_app", question) && (app.team_mode || "single_agent") !== "native_app") {
            s.agent = "vis";
            s.renders = artifacts.appVisRenders(model, question);
            const last = s.renders.filter((r) => r !== null).pop();
            recordView(convUid, question, model, () => last);
          } else {
            recordView(convUid, question, model, () => s.answer.join());
          }
          return render.sseResponse(render.appStream(s, { id: convUid, model, app }));
        },
      };
    }
    if (chatMode === "chat_flow") {
      return {
        question,
        build: (fault) => {
          if (emptyMessages) {
            return stream ? render.abortedStream() : render.resultFailed(400, "E0003", "Empty messages");
          }
          remember();
          const s = script.scriptFor(question, {
            history: earlier,
            model,
            hugeEvent: fault && fault.hugeEvent,
          });
          const flowError = config.flows.some((f) => f.uid === chatParam)
            ? null
            : `Flow ${chatParam} not found`;
          if (artifacts.formFor("chat_flow", question) && s.kind === "answer") {
            s.answer = script.Tokens.of(artifacts.pieces(artifacts.flowVisText(), 7));
          }
          if (!flowError) recordView(convUid, question, model, () => s.answer.join());
          if (stream) return render.sseResponse(render.flowStream(s, { id: convUid, model, flowError }));
          const error = flowError || (s.kind === "server-error" ? s.errorText : null);
          if (error) return render.jsonResponse(400, { object: "error", message: error, code: 1 });
          return render.completionResponse({
            id: convUid,
            model,
            content: s.answer.join(),
            reasoning: s.reasoning.join(""),
          });
        },
      };
    }
    if (chatMode === null || NORMAL_FAMILY.includes(chatMode)) {
      const mode = chatMode || "chat_normal";
      if (emptyMessages) return { response: render.resultFailed(400, "E0003", "Empty messages") };
      if (mode === "chat_knowledge" && !knowledgeSpaceKnown(chatParam)) {
        return { response: render.resultFailed(400, "E0003", `have not found knowledge space:${chatParam}`) };
      }
      if (DB_MODES.includes(mode) && !config.databases.some((d) => d.db_name === chatParam)) {
        return { response: render.resultFailed(400, "E0003", "'NoneType' object has no attribute 'get'") };
      }
      return {
        question,
        build: (fault) => {
          remember();
          const knownModel = config.models.some((m) => m.model_name === model && m.worker_type === "llm");
          const s = script.scriptFor(question, {
            history: earlier,
            model,
            knownModel,
            hugeEvent: fault && fault.hugeEvent,
          });
          if (s.kind === "answer" && knownModel && !(fault && fault.hugeEvent)) {
            applyDataForm(s, mode, question, stream, convUid);
          }
          recordView(convUid, question, model, () => render.viewContent(s, mode));
          if (!stream) {
            return render.completionResponse({
              id: convUid,
              model,
              content: render.nonStreamContent(s, mode),
            });
          }
          const incremental = toBool(body.incremental, true);
          const id = "chatcmpl-" + uuid1();
          const chunks = incremental
            ? render.normalIncremental(s, { id, model })
            : render.normalSnapshots(s, { id, model });
          return render.sseResponse(chunks);
        },
      };
    }
    return invalid(
      "chat mode now only support chat_normal, chat_app, chat_flow, chat_knowledge, chat_data, chat_dashboard",
      "invalid_chat_mode",
    );
  }

  // ---- control API ----

  async function handleControl(req, res, path) {
    const reply = (status, value) => {
      const body = JSON.stringify(value);
      res.writeHead(status, {
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body)),
        connection: "close",
      });
      res.end(body);
    };
    let body;
    try {
      const buf = await readAll(req);
      body = buf.length ? JSON.parse(buf.toString("utf8")) : {};
    } catch (err) {
      return reply(400, { error: String(err.message || err) });
    }
    try {
      const route = `${req.method} ${path.slice(CONTROL_PREFIX.length - 1)}`;
      switch (route) {
        case "GET /requests":
          return reply(200, requests);
        case "GET /connections":
          return reply(200, { open: countOpen() });
        case "POST /fault":
          return reply(200, { id: addFault(body) });
        case "POST /faults/clear":
          faults = [];
          return reply(200, { ok: true });
        case "POST /reset":
          handle.reset();
          return reply(200, { ok: true });
        case "POST /config":
          configure(body);
          return reply(200, { ok: true });
        case "GET /config":
          return reply(200, { delayMs: config.delayMs, apiKeys: config.apiKeys, apps: config.apps.length });
        default:
          return reply(404, { error: `unknown control route ${route}` });
      }
    } catch (err) {
      return reply(400, { error: String(err.message || err) });
    }
  }

  // ---- request entry ----

  async function onRequest(req, res) {
    const rawPath = req.url;
    const { path, query } = splitTarget(rawPath);
    // Counted sockets are the TCP ones; with https the request arrives on the TLS socket wrapping one.
    const socket = req.socket && (req.socket._parent || req.socket);
    if (path.startsWith(CONTROL_PREFIX)) {
      if (socket) socket.emulatorControl = true;
      return handleControl(req, res, path);
    }
    if (socket) socket.emulatorControl = false;

    let bodyBuffer;
    try {
      bodyBuffer = await readAll(req);
    } catch {
      return;
    }
    const bodyText = bodyBuffer.toString("utf8");
    let parsedBody;
    if (bodyText !== "") {
      try {
        parsedBody = JSON.parse(bodyText);
      } catch {
        parsedBody = undefined;
      }
    }
    const record = {
      method: req.method,
      rawPath,
      path,
      query,
      headers: { ...req.headers },
      body: parsedBody,
      bodyText,
      at: Date.now(),
    };
    requests.push(record);

    const info = { path, question: undefined, chatMode: undefined };
    let response;
    let build;
    if (path === CHAT_PATH && req.method === "POST") {
      const outcome = handleChat(req, bodyBuffer, record);
      response = outcome.response;
      build = outcome.build;
      if (parsedBody && typeof parsedBody === "object" && !Array.isArray(parsedBody)) {
        info.question = singlePrompt(parsedBody.messages);
        info.chatMode = parsedBody.chat_mode == null ? "chat_normal" : parsedBody.chat_mode;
      }
    } else if (req.method === "GET" && (path === APPS_PATH || path.startsWith(APPS_PATH + "/"))) {
      response = handleApps(path, query) || notFoundPage();
    } else if (req.method === "GET" && path === HISTORY_PATH) {
      response = handleHistory(query);
    } else if (req.method === "GET" && Object.hasOwn(LIST_ROUTES, path)) {
      response = LIST_ROUTES[path](req, query);
    } else if (req.method === "GET" || req.method === "HEAD") {
      response = notFoundPage();
    } else {
      response = render.jsonResponse(405, { detail: "Method Not Allowed" });
    }
    const fault = takeFault(info);
    if (fault) record.fault = fault.id;
    if (build) response = build(fault);
    send(res, response, fault, record);
  }

  const server = options.tls
    ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, onRequest)
    : http.createServer(onRequest);
  server.keepAliveTimeout = 5000; // uvicorn's default
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      checkWaiters();
    });
  });
  server.on("tlsClientError", (_err, tlsSocket) => tlsSocket.destroy()); // e.g. the client rejected the cert
  server.on("clientError", (err, socket) => {
    if (socket.writable)
      socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    else socket.destroy();
  });

  const host = options.host || "127.0.0.1";
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port || 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = server.address().port;
  const scheme = options.tls ? "https" : "http";

  const handle = {
    url: `${scheme}://${host}:${port}`,
    port,
    host,
    requests,
    chatRequests: () => requests.filter((r) => r.method === "POST" && r.path === CHAT_PATH),
    openConnections: countOpen,
    waitForConnections,
    fault: addFault,
    clearFaults() {
      faults = [];
    },
    /** Faults still queued (normalised), for debugging. */
    pendingFaults: () => faults.map((f) => ({ id: f.id, match: f.match, remaining: f.remaining })),
    reset() {
      requests.length = 0;
      faults = [];
      history.clear();
      views.clear();
    },
    configure,
    /** Questions seen per conv_uid (copy). */
    history: (convUid) => (history.get(convUid) || []).slice(),
    close() {
      if (closing) return closing;
      closing = new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        for (const t of timers) clearTimeout(t);
        timers.clear();
        for (const w of waiters) w.resolve();
      });
      return closing;
    },
  };
  return handle;
}

/**
 * The answer text a client should end up with for `question` (vis-thinking blocks removed).
 * options: { chatMode, stream (default true), history, model, knownModel }.
 */
function answerFor(question, options = {}) {
  const s = script.scriptFor(question, options);
  const mode = options.chatMode || "chat_normal";
  if (s.kind === "server-error") return s.errorText;
  const form =
    s.kind === "answer" && options.knownModel !== false ? artifacts.formFor(mode, question) : undefined;
  const plain = s.answer.join();
  const failed = plain.startsWith("**LLMServer Generate Error") || plain.startsWith("Model server error!");
  if (options.stream === false && mode !== "chat_app") {
    if (mode === "chat_flow") return form ? "Orders per city for small baskets." : plain;
    if (failed) return render.nonStreamContent({ ...s, reasoning: [] }, mode);
    if (form === "dashboard") return artifacts.chatDashboard("").readable;
    if (form === "refs") return artifacts.chatKnowledge(false).readable;
    if (form) return artifacts.chatData(form).readable;
    if (mode === "chat_knowledge") return plain + " [1]";
    return plain;
  }
  if (form === "vis") return artifacts.visExpectations()[mode === "chat_app" ? "app" : "flow"].readable;
  if (form === "dashboard") return artifacts.pieces(artifacts.dumps(artifacts.DASHBOARD_SPECS)).join("");
  if (form === "refs") return artifacts.chatKnowledge(true).tokens.join("");
  if (form) return artifacts.chatData(form).tokens.join("");
  return plain;
}

/**
 * The exact `content` of a non-stream answer (normal family), as the v2 wrapper sends it; with
 * `{ history: true }`-style `view: true`, the stored view instead (ElementTree escaping intact).
 * options: { chatMode, convUid (chat_dashboard), view }.
 */
function contentFor(question, options = {}) {
  const mode = options.chatMode || "chat_normal";
  const s = script.scriptFor(question, options);
  const form = s.kind === "answer" ? artifacts.formFor(mode, question) : undefined;
  if (form) {
    let f;
    if (form === "dashboard") f = artifacts.chatDashboard(options.convUid || "");
    else if (form === "refs") f = artifacts.chatKnowledge(options.view === true && options.stream !== false);
    else f = artifacts.chatData(form);
    s.view = f.view;
    s.nonStreamView = form === "refs" ? artifacts.chatKnowledge(false).view : f.view;
  }
  return options.view ? render.viewContent(s, mode) : render.nonStreamContent(s, mode);
}

module.exports = {
  startEmulator,
  CHAT_PATH,
  APPS_PATH,
  HISTORY_PATH,
  answerFor,
  contentFor,
  artifacts,
  answerTokens: script.answerTokens,
  reasoningFor: script.reasoningFor,
  modelErrorText: script.modelErrorText,
  hugeText: script.hugeText,
  plainAnswer: script.plainAnswer,
  historyAnswer: script.historyAnswer,
  uuid1,
  DEFAULT_APPS: data.DEFAULT_APPS,
  DEFAULT_MODELS: data.DEFAULT_MODELS,
  APP_CODES: data.APP_CODES,
  KNOWLEDGE_SPACES: data.KNOWLEDGE_SPACES,
  FLOWS: data.FLOWS,
  DATABASES: data.DATABASES,
};
