/**
 * One chat call: the request body, the streamed response turned into ChatEvents, and the ChatCall
 * callers iterate (with backpressure) and await.
 */
import type { IncomingHttpHeaders } from "undici/types/header";
import type { CallOptions, ChatCall, ChatEvent, ChatRequest, ChatResult } from "./api";
import { CHAT_MODES } from "./api";
import { ChatAnswer } from "./answer";
import {
  type DbgptError,
  invalidInputError,
  protocolError,
  streamClosedError,
  unsuccessfulResultError,
  type TransportContext,
} from "./errors";
import { Exchange, headerValue, type Transport } from "./http";
import { SseChunkDecoder } from "./stream";
import type { ChatCompletionRequestBody, StreamChunk } from "./wire";

export const CHAT_PATH = "/api/v2/chat/completions";

/** Queued events above which the response is paused until the caller catches up. */
const QUEUE_HIGH = 1024;
const QUEUE_LOW = 256;

function isOptionalString(value: unknown): boolean {
  return value === undefined || typeof value === "string";
}

/** Checks a request before anything is sent; throws DBGPT_INVALID_INPUT. */
export function chatRequestBody(request: ChatRequest): ChatCompletionRequestBody {
  if (request === null || typeof request !== "object")
    throw invalidInputError("the chat request must be an object");
  const { chatMode, chatParam, model, question } = request;
  if (!(CHAT_MODES as readonly unknown[]).includes(chatMode)) {
    throw invalidInputError(`unknown chat mode "${String(chatMode)}" (one of ${CHAT_MODES.join(", ")})`);
  }
  if (typeof question !== "string" || question === "")
    throw invalidInputError("the question must be a non-empty string");
  if (typeof model !== "string" || model === "") throw invalidInputError("a model name is required");
  if (chatMode !== "chat_normal" && (typeof chatParam !== "string" || chatParam === "")) {
    throw invalidInputError(`${chatMode} needs a chat param (app id, knowledge space, flow or database)`);
  }
  if (!isOptionalString(chatParam) || !isOptionalString(request.convUid)) {
    throw invalidInputError("chat param and conversation id must be strings");
  }
  if (!isOptionalString(request.userName) || !isOptionalString(request.sysCode)) {
    throw invalidInputError("user name and sys code must be strings");
  }
  const temperature = request.temperature ?? null;
  if (temperature !== null && (typeof temperature !== "number" || !Number.isFinite(temperature))) {
    throw invalidInputError("the temperature must be a number");
  }
  const maxNewTokens = request.maxNewTokens;
  if (maxNewTokens !== undefined && (!Number.isInteger(maxNewTokens) || maxNewTokens <= 0)) {
    throw invalidInputError("max new tokens must be a positive integer");
  }
  const body: ChatCompletionRequestBody = {
    model,
    messages: question,
    // The server refuses chat_app without streaming; the call still ends with one result.
    stream: chatMode === "chat_app" ? true : request.stream !== false,
    chat_mode: chatMode,
    temperature,
  };
  if (chatParam !== undefined && chatParam !== "") body.chat_param = chatParam;
  if (request.convUid !== undefined && request.convUid !== "") body.conv_uid = request.convUid;
  if (maxNewTokens !== undefined) {
    body.max_new_tokens = maxNewTokens;
    body.max_tokens = maxNewTokens;
  }
  if (request.userName !== undefined && request.userName !== "") body.user_name = request.userName;
  if (request.sysCode !== undefined && request.sysCode !== "") body.sys_code = request.sysCode;
  return body;
}

const enum Outcome {
  Pending,
  Done,
  Failed,
  Stopped,
}

/**
 * The caller's view of a chat. Events are queued for an iterator; once `result` has been asked for
 * while no iterator exists, events are dropped instead (the stream is drained). Breaking out of the
 * iteration also drains: `result` still settles.
 */
export class ChatCallImpl implements ChatCall, AsyncIterator<ChatEvent> {
  private readonly resultPromise: Promise<ChatResult>;
  private resolveResult!: (result: ChatResult) => void;
  private rejectResult!: (err: DbgptError) => void;
  private queue: ChatEvent[] = [];
  private head = 0;
  private waiting:
    { resolve: (r: IteratorResult<ChatEvent>) => void; reject: (e: unknown) => void } | undefined;
  private iterating = false;
  private resultAsked = false;
  private dropEvents = false;
  private paused = false;
  private outcome = Outcome.Pending;
  private error: DbgptError | undefined;
  /** Set by the exchange; undefined when the request was refused before being sent. */
  exchange: ChatExchange | undefined;

  constructor() {
    this.resultPromise = new Promise<ChatResult>((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    // A caller that only iterates still sees the failure there; never an unhandled rejection.
    this.resultPromise.catch(() => undefined);
  }

  get result(): Promise<ChatResult> {
    this.resultAsked = true;
    if (!this.iterating && this.queue.length !== 0) this.drain();
    return this.resultPromise;
  }

  get id(): string | undefined {
    return this.exchange?.answer.id;
  }

  get model(): string {
    return this.exchange?.answer.model ?? "";
  }

  [Symbol.asyncIterator](): AsyncIterator<ChatEvent> {
    this.iterating = true;
    return this;
  }

  next(): Promise<IteratorResult<ChatEvent>> {
    if (this.head < this.queue.length) {
      const value = this.queue[this.head++];
      if (this.head === this.queue.length) {
        this.queue.length = 0;
        this.head = 0;
      }
      if (this.paused && this.queue.length - this.head <= QUEUE_LOW) {
        this.paused = false;
        this.exchange?.resume();
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.outcome === Outcome.Pending) {
      return new Promise((resolve, reject) => {
        this.waiting = { resolve, reject };
      });
    }
    return this.ended();
  }

  return(): Promise<IteratorResult<ChatEvent>> {
    this.drain();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** An event from the answer. */
  push(event: ChatEvent): void {
    if (this.dropEvents) return;
    const waiting = this.waiting;
    if (waiting !== undefined) {
      this.waiting = undefined;
      waiting.resolve({ value: event, done: false });
      return;
    }
    if (this.resultAsked && !this.iterating) {
      this.drain();
      return;
    }
    this.queue.push(event);
    if (!this.paused && this.queue.length - this.head >= QUEUE_HIGH) {
      this.paused = true;
      this.exchange?.pause();
    }
  }

  succeed(result: ChatResult): void {
    this.outcome = Outcome.Done;
    this.resolveResult(result);
    this.wake();
  }

  fail(err: DbgptError): void {
    this.outcome = Outcome.Failed;
    this.error = err;
    this.rejectResult(err);
    this.wake();
  }

  /** The caller's signal (or the client closing) stopped it: iteration ends at once. */
  stop(result: ChatResult): void {
    this.outcome = Outcome.Stopped;
    this.queue.length = 0;
    this.head = 0;
    this.resolveResult(result);
    this.wake();
  }

  private drain(): void {
    this.dropEvents = true;
    this.queue.length = 0;
    this.head = 0;
    if (this.paused) {
      this.paused = false;
      this.exchange?.resume();
    }
  }

  private wake(): void {
    const waiting = this.waiting;
    if (waiting === undefined) return;
    this.waiting = undefined;
    this.ended().then(waiting.resolve, waiting.reject);
  }

  private ended(): Promise<IteratorResult<ChatEvent>> {
    if (this.outcome === Outcome.Failed && this.error !== undefined) {
      const error = this.error;
      this.error = undefined; // thrown once; a later next() just ends
      return Promise.reject(error);
    }
    return Promise.resolve({ value: undefined, done: true });
  }
}

/** The HTTP side of one chat: SSE or a whole JSON answer, into a ChatAnswer. */
export class ChatExchange extends Exchange {
  readonly answer: ChatAnswer;
  private decoder: SseChunkDecoder | undefined;

  constructor(
    transport: Transport,
    options: CallOptions | undefined,
    private readonly call: ChatCallImpl,
    private readonly request: ChatRequest,
    private readonly startedAt: number,
    private readonly maxEventBytes: number,
  ) {
    super(transport, options);
    this.answer = new ChatAnswer(request.chatMode, request.chatParam, request.model, (event) =>
      call.push(event),
    );
    call.exchange = this;
  }

  override context(): TransportContext {
    const context = super.context();
    if (this.request.chatMode === "chat_app") {
      context.chatApp = { appId: this.request.chatParam ?? "", events: this.answer.chunks };
    }
    return context;
  }

  // ---- Exchange ----

  protected begin(status: number, headers: IncomingHttpHeaders): void {
    const type = headerValue(headers, "content-type") ?? "";
    if (status >= 200 && status < 300 && type.includes("text/event-stream")) {
      this.decoder = new SseChunkDecoder(this.answer, () => this.complete(), this.maxEventBytes);
    } else {
      this.collectBody(headers);
    }
  }

  protected data(chunk: Buffer): void {
    (this.decoder as SseChunkDecoder).push(chunk);
  }

  protected end(): void {
    (this.decoder as SseChunkDecoder).end();
    if (this.settled) return; // a last event without its blank line was [DONE]
    // `incremental: false` streams carry no [DONE]: a clean end after snapshots is the normal end.
    if (this.answer.sawSnapshot) this.complete();
    else throw streamClosedError(this.context());
  }

  protected wholeBody(text: string): void {
    if (this.status < 200 || this.status >= 300) {
      throw this.transport.responseError({
        status: this.status,
        statusText: this.statusText,
        headers: this.headers,
        text,
      });
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw protocolError("DB-GPT answered with a body that is neither an event stream nor JSON", text);
    }
    const envelope = value as { success?: unknown; err_msg?: unknown; choices?: unknown } | null;
    if (envelope !== null && typeof envelope === "object" && envelope.success === false) {
      throw unsuccessfulResultError(
        this.status,
        text,
        typeof envelope.err_msg === "string" ? envelope.err_msg : undefined,
      );
    }
    const choice = Array.isArray(envelope?.choices)
      ? (envelope.choices[0] as { message?: unknown })
      : undefined;
    const message = choice?.message as
      { content?: string | null; reasoning_content?: string | null } | undefined;
    if (message === null || typeof message !== "object") {
      throw protocolError("DB-GPT answered with JSON that is not a chat completion", text);
    }
    this.answer.onWhole(value as StreamChunk, message.content, message.reasoning_content);
    this.complete();
  }

  protected override decorate(err: DbgptError): DbgptError {
    if (err.partial === undefined) err.partial = this.answer.output.text;
    return err;
  }

  protected failed(err: DbgptError): void {
    this.call.fail(err);
  }

  protected stopped(): void {
    this.call.stop(this.result(true));
  }

  private complete(): void {
    this.answer.finish();
    this.succeed();
    this.call.succeed(this.result(false));
  }

  private result(stopped: boolean): ChatResult {
    const answer = this.answer;
    const reportedId = answer.id;
    const result: ChatResult = {
      text: answer.output.text,
      convUid:
        this.request.convUid !== undefined && this.request.convUid !== ""
          ? this.request.convUid
          : reportedId !== undefined && !reportedId.startsWith("chatcmpl-")
            ? reportedId
            : undefined,
      id: reportedId,
      model: answer.model,
      chunks: answer.chunks,
      reasoning: answer.output.reasoning,
      firstTokenMs:
        answer.output.firstTextAt === undefined ? undefined : answer.output.firstTextAt - this.startedAt,
      durationMs: performance.now() - this.startedAt,
      stopped,
    };
    if (this.request.chatMode === "chat_app") {
      result.raw = answer.raw ?? "";
      result.messages = answer.messages;
      result.plans = answer.plans;
    }
    if (answer.usage !== undefined) result.usage = answer.usage;
    return Object.assign(result, answer.resultData());
  }
}
