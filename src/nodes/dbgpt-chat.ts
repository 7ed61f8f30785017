/**
 * dbgpt-chat: asks a DB-GPT chat mode a question. Output 1 streams one message per delta (or replace /
 * reasoning), output 2 gets exactly one final message per request. Requests beyond "max concurrent" wait in
 * a queue; msg.stop aborts (all, or one conversation's); closing aborts everything silently.
 */
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import {
  CHAT_MODES,
  invalidInputError,
  isDbgptError,
  type CallOptions,
  type ChatMode,
  type ChatRequest,
  type ChatResult,
  type DbgptClient,
  type DbgptError,
} from "../client";
import { InFlight } from "./shared/close";
import { StreamCoalescer } from "./shared/coalesce";
import { failRequest } from "./shared/failure";
import {
  applyMessageOverrides,
  deadlineOf,
  describe,
  evaluateTypedInput,
  isBlank,
  isOn,
  parseNodeOverrides,
  parseNonNegativeInteger,
  parseNumber,
  parsePositiveInteger,
  parseProperty,
  parseText,
  requestTimeoutOf,
  type MessageOverrides,
  type OverrideValues,
} from "./shared/inputs";
import { warnOnce } from "./shared/notices";
import type { CloseDoneFn, DoneFn, InputMessage, Node, NodeAPI, NodeDef, SendFn } from "./shared/red";
import { findServer } from "./shared/server";
import { StatusIndicator } from "./shared/status";
import { createTranslator } from "./shared/texts";

interface ChatDef extends NodeDef {
  server?: string;
  chatMode?: string;
  chatParam?: string;
  chatParamType?: string;
  model?: string;
  modelType?: string;
  input?: string;
  inputType?: string;
  convUid?: string;
  convUidType?: string;
  stream?: boolean | string;
  temperature?: number | string;
  maxNewTokens?: number | string;
  userName?: string;
  sysCode?: string;
  emitReasoning?: boolean | string;
  maxConcurrent?: number | string;
  coalesceMs?: number | string;
}

/** Node fields that, left blank, are taken from the message. */
const MESSAGE_OVERRIDES = {
  temperature: { property: "temperature", msgProperty: "temperature", parse: parseNumber },
  maxNewTokens: { property: "maxNewTokens", msgProperty: "max_new_tokens", parse: parsePositiveInteger },
  userName: { property: "userName", msgProperty: "user_name", parse: parseText },
  sysCode: { property: "sysCode", msgProperty: "sys_code", parse: parseText },
} satisfies MessageOverrides;

/** The TypedInputs, with the value and type used when a flow does not set them. */
const TYPED_INPUTS = {
  chatParam: { label: "chat param", value: "", type: "str" },
  model: { label: "model", value: "", type: "str" },
  input: { label: "input", value: "payload", type: "msg" },
  convUid: { label: "conversation id", value: "conv_uid", type: "msg" },
} as const;

type TypedInputName = keyof typeof TYPED_INPUTS;

const QUEUE_WARNING_LENGTH = 1000;
/**
 * Stream messages a node may send before it lets Node-RED deliver them: Node-RED delivers each message in
 * a later setImmediate, so without a bound every readable socket's deltas (tens of thousands with hundreds
 * of fast streams) would wait in memory at once, long enough to be promoted to V8's old space.
 */
const SEND_BUDGET = 250;

interface ChatSettings {
  chatMode: ChatMode;
  stream: boolean;
  emitReasoning: boolean;
  maxConcurrent: number;
  coalesceMs: number;
  overrides: OverrideValues<typeof MESSAGE_OVERRIDES>;
}

/** One input message on its way: queued, then running, then ended. */
interface ChatJob {
  msg: InputMessage;
  send: SendFn;
  done: DoneFn;
  client: DbgptClient;
  request: ChatRequest & { convUid: string };
  callOptions: CallOptions;
  controller: AbortController;
  enqueuedAt: number;
  startedAt?: number;
  /** Answer data has arrived (for the status). */
  streaming: boolean;
}

function parseSettings(def: ChatDef): ChatSettings {
  const chatMode = isBlank(def.chatMode) ? "chat_app" : String(def.chatMode);
  if (!(CHAT_MODES as readonly string[]).includes(chatMode)) {
    throw invalidInputError(
      `chat mode must be one of ${CHAT_MODES.join(", ")} (got ${describe(def.chatMode)})`,
    );
  }
  return {
    chatMode: chatMode as ChatMode,
    stream: isOn(def.stream, true),
    emitReasoning: isOn(def.emitReasoning, false),
    maxConcurrent: parseProperty("max concurrent", def.maxConcurrent, parseNonNegativeInteger, 0),
    coalesceMs: parseProperty("stream interval", def.coalesceMs, parseNonNegativeInteger, 0),
    overrides: parseNodeOverrides(MESSAGE_OVERRIDES, def as unknown as Record<string, unknown>),
  };
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

function round(ms: number): number {
  return Math.round(ms);
}

function setUpChatNode(RED: NodeAPI, node: Node, def: ChatDef): void {
  const warn = warnOnce(node);

  let settings: ChatSettings | undefined;
  let settingsProblem: DbgptError | undefined;
  try {
    settings = parseSettings(def);
  } catch (err) {
    settingsProblem = err as DbgptError;
  }
  const maxConcurrent = settings?.maxConcurrent ?? 0;

  /** Stream messages sent since Node-RED last had a turn to deliver them (see SEND_BUDGET). */
  let sentThisTurn = 0;
  let deliveryTurn: Promise<void> | undefined;
  /** Resolves after Node-RED has delivered what was sent so far: one setImmediate shared by every stream. */
  function afterDelivery(): Promise<void> {
    deliveryTurn ??= new Promise((resolve) =>
      setImmediate(() => {
        sentThisTurn = 0;
        deliveryTurn = undefined;
        resolve();
      }),
    );
    return deliveryTurn;
  }

  const running = new InFlight<ChatJob>();
  let queue: ChatJob[] = [];
  let closed = false;

  const status = new StatusIndicator(node, createTranslator(RED), () => {
    let streaming = 0;
    for (const job of running.keys()) if (job.streaming) streaming++;
    return { active: running.size, streaming, queued: queue.length };
  });

  function typedInput(name: TypedInputName, msg: InputMessage): Promise<unknown> {
    const fallback = TYPED_INPUTS[name];
    const value = (def[name] as string | undefined) ?? fallback.value;
    const type = (def[`${name}Type`] as string | undefined) || fallback.type;
    if (isBlank(value)) return Promise.resolve(undefined);
    return evaluateTypedInput(RED, node, fallback.label, value, type, msg);
  }

  function questionOf(value: unknown): string {
    if (typeof value === "string") {
      if (value.trim() === "") throw invalidInputError("the question is empty");
      return value;
    }
    if (Array.isArray(value)) {
      const lastUser = value.findLast((m) => m && typeof m === "object" && m.role === "user");
      const text = lastUser ? contentText(lastUser.content) : undefined;
      if (text === undefined)
        throw invalidInputError("the messages array has no user message with text content");
      warn(
        "messages-array",
        "the input is an OpenAI-style messages array: only the last user message is sent " +
          "(DB-GPT keeps the conversation history per conv_uid)",
      );
      return text;
    }
    const text =
      value && typeof value === "object" ? contentText((value as { content?: unknown }).content) : undefined;
    if (text === undefined) {
      throw invalidInputError(
        `the question must be a non-empty string or a messages array, got ${describe(value)}`,
      );
    }
    return text;
  }

  /** Everything about one message, checked before any request is made. */
  async function prepare(msg: InputMessage, settings: ChatSettings) {
    const server = findServer(RED, def.server);
    const question = questionOf(await typedInput("input", msg));

    const chatParamValue = await typedInput("chatParam", msg);
    const chatParam = isBlank(chatParamValue)
      ? undefined
      : parseProperty("chat param", chatParamValue, parseText, "");
    if (chatParam === undefined && settings.chatMode !== "chat_normal") {
      throw invalidInputError(
        `the chat param (app, knowledge space, flow or database) is empty; ${settings.chatMode} needs one`,
      );
    }

    const modelValue = await typedInput("model", msg);
    const model = isBlank(modelValue)
      ? server.defaultModel
      : parseProperty("model", modelValue, parseText, "");

    const convUidValue = await typedInput("convUid", msg);
    const convUid = isBlank(convUidValue)
      ? randomUUID()
      : parseProperty("conversation id", convUidValue, parseText, "");

    const { temperature, maxNewTokens, userName, sysCode } = applyMessageOverrides(
      MESSAGE_OVERRIDES,
      settings.overrides,
      msg,
    );
    const request: ChatRequest & { convUid: string } = {
      chatMode: settings.chatMode,
      model,
      question,
      convUid,
      stream: settings.stream,
      temperature: temperature ?? null,
    };
    if (chatParam !== undefined) request.chatParam = chatParam;
    if (maxNewTokens !== undefined) request.maxNewTokens = maxNewTokens;
    if (!isBlank(userName)) request.userName = userName;
    if (!isBlank(sysCode)) request.sysCode = sysCode;

    const idleTimeoutMs = requestTimeoutOf(msg);
    const deadlineMs = deadlineOf(msg);
    return { server, client: server.client(), request, idleTimeoutMs, deadlineMs };
  }

  async function accept(msg: InputMessage, send: SendFn, done: DoneFn) {
    const enqueuedAt = performance.now();
    let job: ChatJob;
    try {
      if (!settings) throw settingsProblem;
      const prepared = await prepare(msg, settings);
      const controller = new AbortController();
      const callOptions: CallOptions = { signal: controller.signal };
      if (prepared.idleTimeoutMs !== undefined) callOptions.idleTimeoutMs = prepared.idleTimeoutMs;
      if (prepared.deadlineMs !== undefined) callOptions.deadlineMs = prepared.deadlineMs;
      job = {
        msg,
        send,
        done,
        client: prepared.client,
        request: prepared.request,
        callOptions,
        controller,
        enqueuedAt,
        streaming: false,
      };
    } catch (err) {
      if (!closed) failRequest(msg, err, done, { status, withPartial: true });
      return;
    }
    if (closed) return;
    if (maxConcurrent === 0 || running.size < maxConcurrent) {
      start(job);
    } else {
      queue.push(job);
      if (queue.length > QUEUE_WARNING_LENGTH) {
        warn("queue", `more than ${QUEUE_WARNING_LENGTH} messages are waiting for a free request slot`);
      }
      status.refresh();
    }
  }

  function start(job: ChatJob) {
    job.startedAt = performance.now();
    const release = running.add(job);
    status.requestStarted();
    void run(job).finally(() => {
      release();
      startQueued();
      status.refresh();
    });
  }

  function startQueued() {
    while (!closed && queue.length > 0 && (maxConcurrent === 0 || running.size < maxConcurrent)) {
      start(queue.shift() as ChatJob);
    }
  }

  async function run(job: ChatJob) {
    const { msg, send, request } = job;
    const { stream, emitReasoning, coalesceMs } = settings as ChatSettings;
    let coalescer: StreamCoalescer | undefined;
    try {
      const call = job.client.chat(request, job.callOptions);
      if (stream) {
        const { convUid: conv_uid, chatMode: chat_mode } = request;
        let index = 0;
        const sendStream = (type: string, text: string) => {
          const dbgpt = { type, index: index++, conv_uid, chat_mode, model: call.model, id: call.id };
          send([{ ...msg, payload: text, dbgpt }, null]);
          if (++sentThisTurn >= SEND_BUDGET) {
            call.pause();
            void afterDelivery().then(() => call.resume());
          }
        };
        // A send the stream interval's timer makes and that throws fails the request, as a direct one does.
        coalescer = new StreamCoalescer(coalesceMs, sendStream, () => job.controller.abort());
        const streamed = coalescer;
        // Called synchronously per event (no promise per event); a send that throws fails the request.
        call.on("event", (event) => {
          if (!job.streaming) {
            job.streaming = true;
            status.refresh();
          }
          if (event.type === "reasoning" && !emitReasoning) return;
          streamed.push(event.type, event.text);
        });
      }
      let answer = await call.result;
      if (closed) coalescer?.dispose();
      else coalescer?.flush();
      if (stream && !closed) answer = await withConversationData(job, answer);
      if (!closed) finish(job, answer);
    } catch (err) {
      if (closed) return coalescer?.dispose();
      const timerFailure = coalescer?.timerFailure;
      if (timerFailure !== undefined) {
        failRequest(msg, timerFailure.error, job.done, { status, withPartial: true });
        return;
      }
      // What waited for the stream interval goes out before the final message or the failure.
      try {
        coalescer?.flush();
      } catch {
        // The send fails again: the request's own outcome below is what counts.
      }
      if (job.controller.signal.aborted) {
        // Stopped while the failure raced the abort: a stop is never an error.
        finish(job, unansweredResult(job, isDbgptError(err) ? (err.partial ?? "") : ""));
      } else {
        failRequest(msg, err, job.done, { status, withPartial: true });
      }
    }
  }

  /** Streamed chat_data / chat_dashboard / chat_knowledge: the data DB-GPT kept in the history. */
  async function withConversationData(job: ChatJob, answer: ChatResult): Promise<ChatResult> {
    let filled: Awaited<ReturnType<DbgptClient["addConversationData"]>>;
    try {
      filled = await job.client.addConversationData(answer, job.request, job.callOptions);
    } catch (err) {
      // Stopped while the history was being read: the answer had arrived, the data had not.
      if (job.controller.signal.aborted) return { ...answer, stopped: true };
      throw err;
    }
    if (filled.historyError !== undefined) {
      warn(
        "history",
        `could not read the conversation history for the answer's data (charts, references): ${filled.historyError.message}`,
      );
    }
    return filled.result;
  }

  function unansweredResult(job: ChatJob, text: string): ChatResult {
    return {
      text,
      convUid: job.request.convUid,
      id: undefined,
      model: job.request.model,
      chunks: 0,
      reasoning: "",
      firstTokenMs: undefined,
      durationMs: job.startedAt === undefined ? 0 : performance.now() - job.startedAt,
      stopped: true,
    };
  }

  /** The complete output: exactly one message per request, then done(). */
  function finish(job: ChatJob, result: ChatResult) {
    const { request } = job;
    const queuedMs = (job.startedAt ?? performance.now()) - job.enqueuedAt;
    const dbgpt: Record<string, unknown> = {
      type: "final",
      conv_uid: request.convUid,
      chat_mode: request.chatMode,
      model: result.model,
      id: result.id ?? null,
      chunks: result.chunks,
      reasoning: result.reasoning,
      queuedMs: round(queuedMs),
      firstTokenMs: result.firstTokenMs === undefined ? null : round(result.firstTokenMs),
      durationMs: round(result.durationMs),
    };
    if (request.chatMode === "chat_app") {
      dbgpt.raw = result.raw ?? "";
      dbgpt.messages = result.messages ?? [];
      dbgpt.plans = result.plans ?? [];
    } else if (result.raw !== undefined) {
      dbgpt.raw = result.raw;
    }
    // Answers as data: always arrays.
    dbgpt.charts = result.charts ?? [];
    dbgpt.references = result.references ?? [];
    dbgpt.code = result.code ?? [];
    dbgpt.tools = result.tools ?? [];
    if (result.usage !== undefined) dbgpt.usage = result.usage;
    if (result.stopped) dbgpt.stopped = true;
    try {
      job.send([null, { ...job.msg, payload: result.text, conv_uid: request.convUid, dbgpt }]);
    } catch (err) {
      // The final message went out (to the first wire at least): the request is answered, not failed.
      node.error(`could not deliver the final message: ${err instanceof Error ? err.message : String(err)}`);
    }
    job.done();
  }

  /** msg.stop: abort this node's requests (or one conversation's) and empty them out of the queue. */
  function stop(convUid: string | undefined) {
    const matches = (job: ChatJob) => convUid === undefined || job.request.convUid === convUid;
    const removed = queue.filter(matches);
    queue = queue.filter((job) => !matches(job));
    for (const job of removed) finish(job, unansweredResult(job, ""));
    for (const job of running.keys()) if (matches(job)) job.controller.abort();
    status.refresh();
  }

  node.on("input", (msg: InputMessage, send: SendFn, done: DoneFn) => {
    if (msg.stop === true) {
      stop(isBlank(msg.conv_uid) ? undefined : String(msg.conv_uid));
      done();
      return;
    }
    void accept(msg, send, done);
  });

  node.on("close", (_removed: boolean, done: CloseDoneFn) => {
    closed = true;
    queue = [];
    for (const job of running.keys()) job.controller.abort();
    status.close();
    void running.settled().then(done);
  });
}

export = function (RED: NodeAPI) {
  function DbgptChatNode(this: Node, def: ChatDef) {
    RED.nodes.createNode(this, def);
    setUpChatNode(RED, this, def);
  }

  RED.nodes.registerType("dbgpt-chat", DbgptChatNode);
};
