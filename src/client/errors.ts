/**
 * DbgptError and its codes: the one place where HTTP, socket and stream failures are named.
 * Every failure the client reports is a DbgptError; callers switch on `code`.
 */
import { maxHeaderSize } from "node:http";

export const ERROR_CODES = [
  "DBGPT_CONNECT",
  "DBGPT_TIMEOUT",
  "DBGPT_AUTH",
  "DBGPT_BAD_REQUEST",
  "DBGPT_HTTP",
  "DBGPT_NOT_FOUND",
  "DBGPT_STREAM_ERROR",
  "DBGPT_STREAM_CLOSED",
  "DBGPT_PROTOCOL",
  "DBGPT_INVALID_INPUT",
  /** The caller's AbortSignal fired. Not a user-facing failure: nodes use it for stop and close. */
  "DBGPT_ABORTED",
] as const;

export type DbgptErrorCode = (typeof ERROR_CODES)[number];

/** Response bodies kept on an error are cut to this many characters. */
export const ERROR_BODY_LIMIT = 4096;

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
}

export class DbgptError extends Error {
  readonly code: DbgptErrorCode;
  readonly statusCode?: number;
  readonly body?: string;
  readonly serverMessage?: string;
  partial?: string;

  constructor(code: DbgptErrorCode, message: string, details: DbgptErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "DbgptError";
    this.code = code;
    if (details.statusCode !== undefined) this.statusCode = details.statusCode;
    if (details.body !== undefined) this.body = cutBody(details.body);
    if (details.serverMessage !== undefined) this.serverMessage = details.serverMessage;
    if (details.partial !== undefined) this.partial = details.partial;
  }
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

function describe(err: unknown): string {
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
      `DB-GPT at ${ctx.origin} sent a malformed HTTP response: ${describe(err)}`,
      {
        cause: err,
      },
    );
  }
  if (!ctx.afterHeaders) {
    return new DbgptError("DBGPT_CONNECT", `cannot reach DB-GPT at ${ctx.origin}: ${describe(err)}`, {
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
  let message = `DB-GPT at ${ctx.origin} closed the connection before the answer was complete`;
  if (ctx.chatApp !== undefined) {
    message +=
      ctx.chatApp.events === 0
        ? `; for chat_app this is how DB-GPT says the app id is unknown: app "${ctx.chatApp.appId}" probably does not exist`
        : ` (chat_app "${ctx.chatApp.appId}")`;
  }
  return new DbgptError("DBGPT_STREAM_CLOSED", message, cause === undefined ? {} : { cause });
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
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(trimmed);
  if (title !== null && title[1].trim() !== "") return title[1].trim();
  if (trimmed !== "" && !trimmed.startsWith("<"))
    return trimmed.length > 300 ? `${trimmed.slice(0, 300)}…` : trimmed;
  return undefined;
}

/** A non-2xx answer. */
export function errorFromResponse(
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
  return new DbgptError("DBGPT_HTTP", `DB-GPT answered HTTP ${status}${text}${said}`, details);
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

/** The same error with every occurrence of `secret` masked (errors never carry the API key). */
export function withoutSecret(err: DbgptError, secret: string | undefined): DbgptError {
  if (secret === undefined || secret === "") return err;
  const causeText =
    err.cause instanceof Error ? `${err.cause.message} ${err.cause.stack}` : String(err.cause);
  const texts = [err.message, err.body, err.serverMessage, err.partial, causeText];
  if (!texts.some((text) => text !== undefined && text.includes(secret))) return err;
  const mask = (text: string | undefined) =>
    text === undefined ? undefined : text.split(secret).join("***");
  // A cause that mentions the key is dropped rather than copied.
  const details: DbgptErrorDetails = causeText.includes(secret) ? {} : { cause: err.cause };
  if (err.statusCode !== undefined) details.statusCode = err.statusCode;
  const body = mask(err.body);
  if (body !== undefined) details.body = body;
  const serverMessage = mask(err.serverMessage);
  if (serverMessage !== undefined) details.serverMessage = serverMessage;
  const partial = mask(err.partial);
  if (partial !== undefined) details.partial = partial;
  return new DbgptError(err.code, mask(err.message) as string, details);
}
