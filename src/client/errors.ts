/**
 * DbgptError and its codes: the one place where HTTP, socket and stream failures are named.
 * Every failure the client reports is a DbgptError; callers switch on `code`.
 */

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
