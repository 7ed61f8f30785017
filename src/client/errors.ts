/**
 * DbgptError and its codes: the one place where HTTP, socket and stream failures are named.
 * Every failure the client reports is a DbgptError; callers switch on `code`.
 */
import { maxHeaderSize } from "node:http";
import type { SecretMask } from "./masking";

export const ERROR_CODES = [
  "DBGPT_CONNECT",
  "DBGPT_TIMEOUT",
  "DBGPT_AUTH",
  "DBGPT_BAD_REQUEST",
  "DBGPT_HTTP",
  "DBGPT_NOT_FOUND",
  "DBGPT_STREAM_ERROR",
  "DBGPT_STREAM_CLOSED",
  /** DB-GPT ran the SQL it generated and the database refused it (chat_data); `sql` holds the SQL. */
  "DBGPT_QUERY_ERROR",
  "DBGPT_PROTOCOL",
  "DBGPT_INVALID_INPUT",
  /** The caller's AbortSignal fired. Not a user-facing failure: nodes use it for stop and close. */
  "DBGPT_ABORTED",
] as const;

export type DbgptErrorCode = (typeof ERROR_CODES)[number];

/** Response bodies kept on an error are cut to this many characters. */
export const ERROR_BODY_LIMIT = 4096;

/** How much of a body an error keeps uncut for masking (a key's forms are far shorter than the margin). */
const RAW_BODY_LIMIT = ERROR_BODY_LIMIT + 65_536;

export interface DbgptErrorDetails {
  /** HTTP status, when a response arrived. */
  statusCode?: number;
  /** The response body (or the offending event), cut at 4 KB. */
  body?: string;
  /** The server's own message (`err_msg`, a flow error `message`/`text`, `[SERVER_ERROR]` text). */
  serverMessage?: string;
  /** The answer text received before the failure (chat only). */
  partial?: string;
  /** The underlying error (socket, DNS, TLS ...). */
  cause?: unknown;
  /** DBGPT_QUERY_ERROR: the SQL the database refused. */
  sql?: string;
}

export class DbgptError extends Error {
  readonly code: DbgptErrorCode;
  readonly statusCode?: number;
  readonly body?: string;
  readonly serverMessage?: string;
  readonly sql?: string;
  partial?: string;
  /** DBGPT_STREAM_CLOSED before any event of a chat_app request: the app id the server probably does not know. */
  unknownApp?: string;

  constructor(code: DbgptErrorCode, message: string, details: DbgptErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "DbgptError";
    this.code = code;
    if (details.statusCode !== undefined) this.statusCode = details.statusCode;
    if (details.body !== undefined) this.body = cutBody(details.body);
    if (details.serverMessage !== undefined) this.serverMessage = details.serverMessage;
    if (details.partial !== undefined) this.partial = details.partial;
    // Kept uncut, so that withoutSecret masks the key before anything is cut (a key across a cut point).
    // Only what masking can need is kept: the cut length plus room for the longest form of a key.
    const raw = {
      message,
      details:
        details.body === undefined ? details : { ...details, body: details.body.slice(0, RAW_BODY_LIMIT) },
    };
    REBUILD.set(this, (mask) => new DbgptError(code, mask(raw.message), maskDetails(raw.details, mask)));
    if (details.sql !== undefined) this.sql = details.sql;
  }
}

type Mask = (text: string) => string;

/** How to build an error again from its uncut inputs with every text masked first (see withoutSecret). */
const REBUILD = new WeakMap<DbgptError, (mask: Mask) => DbgptError>();

function maskDetails(details: DbgptErrorDetails, mask: Mask): DbgptErrorDetails {
  const out: DbgptErrorDetails = { ...details };
  if (details.body !== undefined) out.body = mask(details.body);
  if (details.serverMessage !== undefined) out.serverMessage = mask(details.serverMessage);
  if (details.partial !== undefined) out.partial = mask(details.partial);
  if (details.sql !== undefined) out.sql = mask(details.sql);
  return out;
}

export function cutBody(body: string): string {
  return body.length > ERROR_BODY_LIMIT ? body.slice(0, ERROR_BODY_LIMIT) : body;
}

export function isDbgptError(value: unknown): value is DbgptError {
  return value instanceof DbgptError;
}

// ---------------------------------------------------------------------------------------------------
// The mapper: every failure the client reports is built by one of the functions below.

/** What a transport error happened to, for its message. */
export interface TransportContext {
  /** Server root as configured (never holds the key). */
  origin: string;
  /** The response headers had arrived. */
  afterHeaders: boolean;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  /** chat_app: a stream that closes early usually means an unknown app id. */
  chatApp?: { appId: string; events: number };
}

const TIMEOUT_CODES: Record<string, "connect" | "headers" | "body"> = {
  UND_ERR_CONNECT_TIMEOUT: "connect",
  UND_ERR_HEADERS_TIMEOUT: "headers",
  UND_ERR_BODY_TIMEOUT: "body",
};

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** An error's own text for a message: its code and message (or its first aggregated error's). */
function causeText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = errorCode(err);
  const text = err.message !== "" ? err.message : (err as { errors?: Error[] }).errors?.[0]?.message;
  if (code !== undefined && text !== undefined && !text.includes(code)) return `${code}: ${text}`;
  return text ?? code ?? err.name;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** A socket, DNS, TLS or timeout failure reported by undici or Node. */
export function errorFromTransport(err: unknown, ctx: TransportContext): DbgptError {
  if (isDbgptError(err)) return err;
  const code = errorCode(err);
  const timeout = code === undefined ? undefined : TIMEOUT_CODES[code];
  if (timeout === "connect") {
    return new DbgptError(
      "DBGPT_TIMEOUT",
      `could not connect to DB-GPT at ${ctx.origin} within ${seconds(ctx.connectTimeoutMs)}`,
      { cause: err },
    );
  }
  if (timeout !== undefined) return idleTimeoutError(ctx, err);
  if (code === "UND_ERR_HEADERS_OVERFLOW") {
    return new DbgptError(
      "DBGPT_PROTOCOL",
      `DB-GPT at ${ctx.origin} sent response headers larger than the limit (${HEADER_LIMIT_TEXT})`,
      { cause: err },
    );
  }
  if (code === "UND_ERR_PARSER" || (err instanceof Error && err.name === "HTTPParserError")) {
    return new DbgptError(
      "DBGPT_PROTOCOL",
      `DB-GPT at ${ctx.origin} sent a malformed HTTP response: ${causeText(err)}`,
      {
        cause: err,
      },
    );
  }
  if (!ctx.afterHeaders) {
    return new DbgptError("DBGPT_CONNECT", `cannot reach DB-GPT at ${ctx.origin}: ${causeText(err)}`, {
      cause: err,
    });
  }
  return streamClosedError(ctx, err);
}

/** undici's default limit on response headers: Node's --max-http-header-size. */
const HEADER_LIMIT_TEXT = `${Math.round(maxHeaderSize / 1024)} KiB`;

/** No bytes for the idle timeout, before or after the headers. */
export function idleTimeoutError(ctx: TransportContext, cause?: unknown): DbgptError {
  const when = ctx.afterHeaders ? "no data" : "no response";
  return new DbgptError(
    "DBGPT_TIMEOUT",
    `${when} from DB-GPT at ${ctx.origin} for ${seconds(ctx.idleTimeoutMs)} (idle timeout)`,
    cause === undefined ? {} : { cause },
  );
}

/** The call took longer than its deadline in total, however steadily bytes arrived. */
export function deadlineError(ctx: TransportContext, deadlineMs: number): DbgptError {
  return new DbgptError(
    "DBGPT_TIMEOUT",
    `DB-GPT at ${ctx.origin} did not finish within ${seconds(deadlineMs)} (deadline)`,
  );
}

/** After the headers, the connection ended before the response was complete ([DONE] for a stream). */
export function streamClosedError(
  ctx: Pick<TransportContext, "origin" | "chatApp">,
  cause?: unknown,
): DbgptError {
  const closed = `DB-GPT at ${ctx.origin} closed the connection before the answer was complete`;
  const details = cause === undefined ? {} : { cause };
  if (ctx.chatApp !== undefined && ctx.chatApp.events === 0) {
    // What matters comes first: the rest is cut in the debug sidebar.
    const error = new DbgptError(
      "DBGPT_STREAM_CLOSED",
      `unknown app "${ctx.chatApp.appId}"?: ${closed} without sending anything, which is how DB-GPT ` +
        "answers a chat_app id it does not know (check the app id)",
      details,
    );
    error.unknownApp = ctx.chatApp.appId;
    return error;
  }
  const message = ctx.chatApp === undefined ? closed : `${closed} (chat_app "${ctx.chatApp.appId}")`;
  return new DbgptError("DBGPT_STREAM_CLOSED", message, details);
}

/** The server's own message in an error body: `err_msg` (Result envelope), `message` (flow error), `detail`, an HTML title. */
export function serverMessageOf(body: string): string | undefined {
  const trimmed = body.trim();
  if (trimmed.startsWith("{")) {
    try {
      const value = JSON.parse(trimmed) as Record<string, unknown>;
      for (const key of ["err_msg", "message", "detail", "text"]) {
        const field = value[key];
        if (typeof field === "string" && field !== "") return field;
        if (field !== undefined && field !== null && typeof field === "object") return JSON.stringify(field);
      }
    } catch {
      // not JSON after all: fall through
    }
    return undefined;
  }
  // An HTML page: its title, unless that is just "Error" (Express's default pages): then what it says.
  const page = ["title", "pre", "h1"].map((tag) => htmlText(trimmed, tag));
  const said = page.find((text) => text !== undefined && !/^error$/i.test(text));
  if (said !== undefined) return said;
  if (trimmed !== "" && !trimmed.startsWith("<"))
    return trimmed.length > 300 ? `${trimmed.slice(0, 300)}…` : trimmed;
  return undefined;
}

/** The text of the first <tag> element of an HTML page, tags inside removed; undefined when none or blank. */
function htmlText(html: string, tag: string): string | undefined {
  const match = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, "i").exec(html);
  const text =
    match === null
      ? ""
      : match[1]
          .replace(/<[^>]*>/g, "")
          .replace(/\s+/g, " ")
          .trim();
  if (text === "") return undefined;
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function responseError(
  status: number,
  body: string,
  info: { location?: string; statusText?: string; apiKeySet: boolean },
): DbgptError {
  const serverMessage = serverMessageOf(body);
  const details: DbgptErrorDetails = { statusCode: status, body };
  if (serverMessage !== undefined) details.serverMessage = serverMessage;
  const said =
    serverMessage === undefined ? (body.trim() === "" ? " (empty body)" : "") : `: ${serverMessage}`;
  if (status === 401) {
    const why = info.apiKeySet
      ? "the API key was rejected"
      : "the API key was rejected (no API key is configured)";
    return new DbgptError("DBGPT_AUTH", `DB-GPT answered HTTP 401: ${why}${said}`, details);
  }
  if (status === 400)
    return new DbgptError("DBGPT_BAD_REQUEST", `DB-GPT answered HTTP 400 (bad request)${said}`, details);
  if (status >= 300 && status < 400) {
    const where = info.location === undefined ? "without a Location" : `to ${info.location}`;
    return new DbgptError(
      "DBGPT_HTTP",
      `DB-GPT answered HTTP ${status}, a redirect ${where}; redirects are not followed, check the server URL`,
      details,
    );
  }
  const text = info.statusText ? ` ${info.statusText}` : "";
  // A page that only repeats the status line ("404 Not Found") adds nothing to it.
  const repeats =
    serverMessage !== undefined && serverMessage.toLowerCase() === `${status}${text}`.toLowerCase();
  return new DbgptError("DBGPT_HTTP", `DB-GPT answered HTTP ${status}${text}${repeats ? "" : said}`, details);
}

/** A non-2xx answer. The server's message is cut at 300 characters: masking rebuilds it from the whole body. */
export function errorFromResponse(
  status: number,
  body: string,
  info: { location?: string; statusText?: string; apiKeySet: boolean },
): DbgptError {
  const err = responseError(status, body, info);
  REBUILD.set(err, (mask) =>
    responseError(status, mask(body), {
      ...info,
      ...(info.location === undefined ? {} : { location: mask(info.location) }),
    }),
  );
  return err;
}

/** A 200 Result envelope with `success: false`. */
export function unsuccessfulResultError(
  status: number,
  body: string,
  errMsg: string | undefined,
): DbgptError {
  const details: DbgptErrorDetails = { statusCode: status, body };
  if (errMsg !== undefined) details.serverMessage = errMsg;
  return new DbgptError("DBGPT_HTTP", `DB-GPT reported a failure: ${errMsg ?? "(no err_msg)"}`, details);
}

/** `data: [SERVER_ERROR]<text>`. */
export function serverStreamError(text: string): DbgptError {
  return new DbgptError("DBGPT_STREAM_ERROR", `DB-GPT server error: ${text}`, { serverMessage: text });
}

/** chat_flow's in-stream `{"error_code": n, "text": ...}`. */
export function flowStreamError(text: string, errorCode: unknown): DbgptError {
  return new DbgptError("DBGPT_STREAM_ERROR", `DB-GPT flow error ${String(errorCode)}: ${text}`, {
    serverMessage: text,
  });
}

/** An error DB-GPT delivered as the answer text (unknown model, failed worker). */
export function answerTextError(text: string): DbgptError {
  return new DbgptError("DBGPT_STREAM_ERROR", `DB-GPT answered with an error: ${text}`, {
    serverMessage: text,
    partial: text,
  });
}

/** A chat_app stream that ended without any answer text. */
export function noAppAnswerError(appId: string, partial: string): DbgptError {
  return new DbgptError(
    "DBGPT_STREAM_ERROR",
    `app ${appId} produced no answer; native and AWEL-flow apps cannot be used with chat_app`,
    { partial },
  );
}

/** chat_data: the database refused the query DB-GPT generated. */
export function queryError(dbError: string, sql: string, explanation: string): DbgptError {
  const on = sql === "" ? "" : ` (SQL: ${sql})`;
  return new DbgptError("DBGPT_QUERY_ERROR", `the database refused the query${on}: ${dbError}`, {
    serverMessage: dbError,
    partial: explanation,
    sql,
  });
}

/** A body or event that is not what the API sends. */
export function protocolError(message: string, body?: string): DbgptError {
  return new DbgptError("DBGPT_PROTOCOL", message, body === undefined ? {} : { body });
}

export function invalidInputError(message: string): DbgptError {
  return new DbgptError("DBGPT_INVALID_INPUT", message);
}

export function abortedError(reason = "the request was aborted"): DbgptError {
  return new DbgptError("DBGPT_ABORTED", reason);
}

/**
 * The same error with every form of the key masked by `secretMask` (errors never carry the API key). The
 * texts are masked before they are cut (the 4 KB body, the server's message in the error text), so no
 * fragment of a key survives at a cut point.
 */
export function withoutSecret(err: DbgptError, secretMask: SecretMask | undefined): DbgptError {
  if (secretMask === undefined) return err;
  const mask: Mask = (text) => secretMask.text(text);
  const has = (text: string | undefined) => text !== undefined && mask(text) !== text;
  const causeText =
    err.cause instanceof Error ? `${err.cause.message} ${err.cause.stack}` : String(err.cause);
  const rebuild = REBUILD.get(err);
  const base = rebuild === undefined ? err : rebuild(mask);
  const changed =
    base.message !== err.message ||
    base.body !== err.body ||
    base.serverMessage !== err.serverMessage ||
    [err.message, err.body, err.serverMessage, err.partial, err.sql, causeText].some(has);
  if (!changed) return err;
  // A cause that mentions the key is dropped rather than copied.
  const details: DbgptErrorDetails = has(causeText) ? {} : { cause: err.cause };
  if (err.statusCode !== undefined) details.statusCode = err.statusCode;
  if (base.body !== undefined) details.body = mask(base.body);
  if (base.serverMessage !== undefined) details.serverMessage = mask(base.serverMessage);
  // `partial` may have been set after the error was made (the chat's text so far).
  if (err.partial !== undefined) details.partial = mask(err.partial);
  if (err.sql !== undefined) details.sql = mask(err.sql);
  const masked = new DbgptError(err.code, mask(base.message), details);
  if (err.unknownApp !== undefined) masked.unknownApp = mask(err.unknownApp);
  return masked;
}
