/**
 * The client's public types: what callers (the Node-RED nodes, tests, benchmarks) pass in and get back.
 * Wire shapes (what the server sends) live in wire.ts.
 */
import type { LookupFunction } from "node:net";
import type { DbgptError } from "./errors";
import type { AnswerData, Chart, CodeRun, Reference, ToolCall } from "./artifacts";
import type { AgentMessage, AgentPlan, App, ModelInstance, Usage } from "./wire";

export const CHAT_MODES = [
  "chat_app",
  "chat_normal",
  "chat_knowledge",
  "chat_flow",
  "chat_data",
  "chat_with_db_qa",
  "chat_dashboard",
] as const;
export type ChatMode = (typeof CHAT_MODES)[number];

/** TLS material for https servers, as Node-RED's tls-config node provides it. */
export interface TlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  passphrase?: string;
  servername?: string;
  rejectUnauthorized?: boolean;
  alpnProtocols?: string[];
}

export interface ClientOptions {
  /** Server root, e.g. `http://localhost:5670` (a path prefix is kept). Normalise it with normalizeBaseUrl first. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>` only when non-empty. CR or LF in it is DBGPT_INVALID_INPUT. */
  apiKey?: string;
  /** No bytes from the server for this long fails the request with DBGPT_TIMEOUT. 0 = none. Default 120000. */
  idleTimeoutMs?: number;
  /** Total time one call may take, however steadily bytes arrive; past it DBGPT_TIMEOUT. 0 = none (default). */
  deadlineMs?: number;
  /** Default: 10000, or idleTimeoutMs when that is shorter (and non-zero). */
  connectTimeoutMs?: number;
  /** Idle keep-alive sockets are closed after this long. Default 4000. */
  keepAliveTimeoutMs?: number;
  tls?: TlsOptions;
  /** DNS lookup used by the connector (tests inject one; default: the system's). */
  lookup?: LookupFunction;
  /** Largest SSE event accepted; bigger is DBGPT_PROTOCOL. Default 16 MiB. */
  maxEventBytes?: number;
  /** Use undici's EnvHttpProxyAgent (HTTP_PROXY/HTTPS_PROXY/NO_PROXY). Default: true when one of them is set. */
  useEnvProxy?: boolean;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Overrides the client's idle timeout for this call (ms, 0 = none). */
  idleTimeoutMs?: number;
  /** Overrides the client's deadline for this call (ms, 0 = none). */
  deadlineMs?: number;
}

export interface ChatRequest {
  chatMode: ChatMode;
  /** App code, knowledge space, flow uid or database name. Required unless chatMode is chat_normal. */
  chatParam?: string;
  model: string;
  /** The question. */
  question: string;
  /** Sent as conv_uid; the caller generates one when the user gave none. */
  convUid?: string;
  /** false = one JSON answer (chat_app always streams on the wire; its events are still produced). */
  stream: boolean;
  /** null (or undefined) is sent as null so the app's own temperature holds. */
  temperature?: number | null;
  /** Sent as both max_new_tokens and max_tokens. */
  maxNewTokens?: number;
  userName?: string;
  sysCode?: string;
}

/**
 * What a chat stream yields, in order.
 * - delta: text appended to the answer (never empty);
 * - replace: the answer was rewritten; `text` is the whole current answer;
 * - reasoning: thinking text appended to the reasoning (never part of the answer).
 * Folding (append delta, set on replace, skip reasoning) gives ChatResult.text exactly.
 */
export type ChatEvent =
  { type: "delta"; text: string } | { type: "replace"; text: string } | { type: "reasoning"; text: string };

export interface ChatResult {
  /** The whole answer text. */
  text: string;
  /** The conv_uid sent (or, when none was sent, the one the server reported). */
  convUid: string | undefined;
  /** The `id` of the server's chunks / response (chat_normal streams: `chatcmpl-...`, others: the conv_uid). */
  id: string | undefined;
  /** The model the server reported, else the one requested. */
  model: string;
  /** Data events received, [DONE] excluded (1 for a non-stream answer). */
  chunks: number;
  /** Joined reasoning text ("" when none). */
  reasoning: string;
  /** ms from the call to the first answer or reasoning text; undefined when none arrived. */
  firstTokenMs: number | undefined;
  /** ms from the call to the end. */
  durationMs: number;
  /** true when the caller's signal stopped it: `text` is the partial answer. */
  stopped: boolean;
  /**
   * chat_app: the last vis markdown as sent. Other modes: the content as sent, only when artifact markup
   * was taken out of `text`.
   */
  raw?: string;
  /** The answer's data (dbgpt-artifacts.md): always arrays, empty when none. */
  charts?: Chart[];
  references?: Reference[];
  code?: CodeRun[];
  tools?: ToolCall[];
  /** A streamed chat_data answer ended with "Generate view content failed" (see DbgptClient.addConversationData). */
  viewFailed?: boolean;
  messages?: AgentMessage[];
  plans?: AgentPlan[];
  /** Non-stream answers only. */
  usage?: Usage;
}

/**
 * One chat call. Its events go to one consumer: an `on("event", listener)` (called synchronously per
 * event, no promise per event; pause()/resume() for backpressure) or an iteration (`for await`).
 * Events are kept from the start until that consumer attaches, in whatever order `result` and the
 * consumer are used; only a call that ended while its `result` was awaited with no consumer attached
 * keeps none (awaiting the result alone says the events are not wanted). Breaking out of an iteration
 * drains the rest. `result` (also `done()`) settles when the answer is complete. On
 * failure both the iteration and `result` reject with the same DbgptError, whose `partial` holds the
 * answer so far; an error the listener throws fails the call with that error and stops the request.
 * When the caller's signal aborts, no event follows and `result` resolves with `stopped: true`.
 */
export interface ChatCall extends AsyncIterable<ChatEvent> {
  readonly result: Promise<ChatResult>;
  done(): Promise<ChatResult>;
  /** Takes every event, starting with those kept so far (delivered at once). One consumer per call. */
  on(type: "event", listener: (event: ChatEvent) => void): this;
  /** The listener wants no more events for now (not even the rest of a chunk read already) until resume(). */
  pause(): void;
  resume(): void;
  /**
   * For an iterating consumer: the next event if it is already here, at once (no promise); undefined when
   * none is, and then `next()` waits for it (or says how the call ended).
   */
  take(): ChatEvent | undefined;
  /** The chunk id / model seen so far (for stream messages). */
  readonly id: string | undefined;
  readonly model: string;
}

export interface AppList {
  /** Every app, de-duplicated by app_code, in the server's order. */
  apps: App[];
  /** The server's total_count. */
  totalCount: number;
}

export interface ConnectionCheck {
  /** true when the server answered and the key (if any) was accepted. */
  ok: boolean;
  /** Human-readable outcome, never containing the key. */
  message: string;
  /** Apps the server reported (when reachable). */
  apps?: number;
  code?: string;
  /** Which outcome, for callers that word it themselves (the editor's languages). */
  outcome?: "ok" | "key-rejected" | "apps-failed" | "chat-unreachable" | "chat-failed";
  /** The failure behind a failed outcome (the key masked). */
  error?: DbgptError;
}

export type { AgentMessage, AgentPlan, App, ModelInstance, Usage };
export type { AnswerData, Chart, CodeRun, Reference, ToolCall };
