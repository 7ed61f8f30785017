/**
 * Reading what a node is told: TypedInputs, numbers that may arrive as numeric strings, and the message
 * properties that fill blank node fields (declared as data, see MessageOverrides).
 */
import { invalidInputError, type CallOptions } from "../../client";
import type { InputMessage, Node, NodeAPI } from "./red";

/** Parses one value; throws an Error whose message says what was expected. */
export type Parser<T> = (value: unknown) => T;

export function isBlank(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === "string" && value.trim() === "");
}

/** A checkbox setting: true or "true" is on, false or "false" off, anything else (unset) the fallback. */
export function isOn(value: unknown, fallback: boolean): boolean {
  if (value === true || value === "true") return true;
  if (value === false || value === "false") return false;
  return fallback;
}

export const parseNumber: Parser<number> = (value) => {
  const number = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof number !== "number" || !Number.isFinite(number)) throw new Error("must be a number");
  return number;
};

export const parseNonNegativeNumber: Parser<number> = (value) => {
  const number = parseNumber(value);
  if (number < 0) throw new Error("must be 0 or more");
  return number;
};

export const parsePositiveInteger: Parser<number> = (value) => {
  const number = parseNumber(value);
  if (!Number.isInteger(number) || number < 1) throw new Error("must be a whole number of 1 or more");
  return number;
};

export const parseNonNegativeInteger: Parser<number> = (value) => {
  const number = parseNumber(value);
  if (!Number.isInteger(number) || number < 0) throw new Error("must be a whole number of 0 or more");
  return number;
};

export const parseText: Parser<string> = (value) => {
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  throw new Error("must be a string");
};

/** Parses a node property, or throws DBGPT_INVALID_INPUT naming it. Blank gives `fallback`. */
export function parseProperty<T>(name: string, value: unknown, parse: Parser<T>, fallback: T): T {
  if (isBlank(value)) return fallback;
  try {
    return parse(value);
  } catch (err) {
    throw invalidInputError(`${name} ${(err as Error).message} (got ${describe(value)})`);
  }
}

/**
 * A node field that, when left blank, is taken from a message property (as the core nodes do).
 * `property` is the node's flow key, `msgProperty` the message property that fills it.
 */
export interface MessageOverride<T> {
  property: string;
  msgProperty: string;
  parse: Parser<T>;
}

export type MessageOverrides = Record<string, MessageOverride<unknown>>;

export type OverrideValues<T extends MessageOverrides> = {
  [K in keyof T]: (T[K] extends MessageOverride<infer V> ? V : never) | undefined;
};

/** The node's own values for an override table, parsed once at start (blank fields stay undefined). */
export function parseNodeOverrides<T extends MessageOverrides>(
  table: T,
  config: Record<string, unknown>,
): OverrideValues<T> {
  const values: Record<string, unknown> = {};
  for (const [key, { property, parse }] of Object.entries(table)) {
    values[key] = parseProperty(property, config[property], parse, undefined);
  }
  return values as OverrideValues<T>;
}

/** Fills the node's blank fields from the message. Throws DBGPT_INVALID_INPUT for a bad message value. */
export function applyMessageOverrides<T extends MessageOverrides>(
  table: T,
  nodeValues: OverrideValues<T>,
  msg: InputMessage,
): OverrideValues<T> {
  const values: Record<string, unknown> = {};
  for (const [key, { msgProperty, parse }] of Object.entries(table)) {
    const own = nodeValues[key];
    values[key] =
      own !== undefined ? own : parseProperty(`msg.${msgProperty}`, msg[msgProperty], parse, undefined);
  }
  return values as OverrideValues<T>;
}

/**
 * A request's call options: aborted through `controller`; `msg.requestTimeout` (ms, 0 = none) overrides the
 * server's idle timeout and `msg.deadline` (ms, 0 = none) its deadline, the total time of the request.
 */
export function callOptionsOf(msg: InputMessage, controller: AbortController): CallOptions {
  const options: CallOptions = { signal: controller.signal };
  const idleTimeoutMs = parseProperty(
    "msg.requestTimeout",
    msg.requestTimeout,
    parseNonNegativeNumber,
    undefined,
  );
  if (idleTimeoutMs !== undefined) options.idleTimeoutMs = idleTimeoutMs;
  const deadlineMs = parseProperty("msg.deadline", msg.deadline, parseNonNegativeNumber, undefined);
  if (deadlineMs !== undefined) options.deadlineMs = deadlineMs;
  return options;
}

/**
 * Resolves a TypedInput (str, msg, flow, global, env, ...) for one message. Node-RED answers most types
 * at once, and then so does this: `{ value }`, with no promise or microtask before the request can be
 * sent; only an asynchronous one (JSONata, flow or global in an asynchronous context store) gives a
 * promise. A value that cannot be read throws (or rejects with) DBGPT_INVALID_INPUT.
 */
export function evaluateTypedInput(
  RED: NodeAPI,
  node: Node,
  field: string,
  value: string,
  type: string,
  msg: InputMessage,
): { value: unknown } | Promise<unknown> {
  let outcome: { value: unknown } | { error: unknown } | undefined;
  let later: ((settled: { value: unknown } | { error: unknown }) => void) | undefined;
  const settle = (settled: { value: unknown } | { error: unknown }) => {
    if (outcome !== undefined) return;
    outcome = settled;
    later?.(settled);
  };
  const problem = (err: unknown) =>
    invalidInputError(`${field}: cannot read ${type} "${value}": ${(err as Error)?.message ?? err}`);
  try {
    RED.util.evaluateNodeProperty(value, type, node, msg, (err: Error | null, result: unknown) =>
      settle(err ? { error: err } : { value: result }),
    );
  } catch (err) {
    settle({ error: err });
  }
  if (outcome === undefined) {
    return new Promise((resolve, reject) => {
      later = (settled) => ("error" in settled ? reject(problem(settled.error)) : resolve(settled.value));
    });
  }
  if ("error" in outcome) throw problem(outcome.error);
  return outcome;
}

/** A short, key-free description of a bad value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return value.length > 40 ? `"${value.slice(0, 40)}..."` : `"${value}"`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

/** The text of a message's content: a string, or the text parts of an OpenAI content array. */
function contentText(content: unknown): string | undefined {
  if (typeof content === "string") return content.trim() === "" ? undefined : content;
  if (Array.isArray(content)) {
    const text = content
      .filter((part) => part && part.type === "text" && typeof part.text === "string")
      .map((part) => part.text as string)
      .join("");
    return text.trim() === "" ? undefined : text;
  }
  return undefined;
}

/**
 * The question in a chat input: a non-empty string, the last user message of an OpenAI-style messages
 * array (`fromMessages`: DB-GPT keeps the history itself), or a single message object's content.
 */
export function parseQuestion(value: unknown): { question: string; fromMessages: boolean } {
  if (typeof value === "string") {
    if (value.trim() === "") throw invalidInputError("the question is empty");
    return { question: value, fromMessages: false };
  }
  if (Array.isArray(value)) {
    const lastUser = value.findLast((m) => m && typeof m === "object" && m.role === "user");
    const text = lastUser ? contentText(lastUser.content) : undefined;
    if (text === undefined)
      throw invalidInputError("the messages array has no user message with text content");
    return { question: text, fromMessages: true };
  }
  const text =
    value && typeof value === "object" ? contentText((value as { content?: unknown }).content) : undefined;
  if (text === undefined) {
    throw invalidInputError(
      `the question must be a non-empty string or a messages array, got ${describe(value)}`,
    );
  }
  return { question: text, fromMessages: false };
}
