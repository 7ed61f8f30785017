/**
 * The one way a request fails: the error's code and details go on msg.dbgpt (so a Catch node sees them),
 * the node shows a red ring, and done(err) hands the error to Node-RED (Catch, or the log).
 */
import { isDbgptError } from "../../client";
import type { DoneFn, InputMessage } from "./red";
import type { StatusIndicator } from "./status";

/** What a failed request puts on msg.dbgpt. */
export interface FailureInfo {
  error: { code: string; statusCode?: number; body?: string; sql?: string };
  partial?: string;
}

export interface FailureContext {
  status: StatusIndicator;
  /** Chat: put the answer text received before the failure on msg.dbgpt.partial ("" when none). */
  withPartial?: boolean;
}

export function failRequest(msg: InputMessage, error: unknown, done: DoneFn, ctx: FailureContext): void {
  const err = asError(error);
  const info: FailureInfo = { error: { code: errorCode(err) } };
  if (isDbgptError(err)) {
    if (err.statusCode !== undefined) info.error.statusCode = err.statusCode;
    if (err.body !== undefined) info.error.body = err.body;
    if (err.sql !== undefined) info.error.sql = err.sql;
  }
  if (ctx.withPartial) info.partial = (isDbgptError(err) ? err.partial : undefined) ?? "";
  msg.dbgpt = info;
  ctx.status.failed(err);
  done(err);
}

function asError(error: unknown): Error {
  if (error instanceof Error) return error;
  return new Error(typeof error === "string" ? error : "unexpected failure");
}

function errorCode(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" ? code : "ERROR";
}
