/**
 * One chat call: the request body, the streamed response turned into ChatEvents, and the ChatCall
 * callers consume (a listener or an iterator, with backpressure) and await.
 */
import type { CallOptions, ChatCall, ChatEvent, ChatRequest, ChatResult } from "./api";
import { CHAT_MODES } from "./api";
import { ChatAnswer } from "./answer";
import {
  type DbgptError,
  abortedError,
  invalidInputError,
  isDbgptError,
  protocolError,
  streamClosedError,
  unsuccessfulResultError,
  type TransportContext,
} from "./errors";
import { headerValue, type CallHooks, type HttpCall, type HttpResponse, type Transport } from "./http";
import type { SecretMask, StreamMask } from "./masking";
import { SseChunkDecoder, parseServerJson } from "./stream";
import type { ChatCompletionRequestBody, StreamChunk } from "./wire";

export const CHAT_PATH = "/api/v2/chat/completions";

const ignore = () => undefined;

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
 * The result promise notes that somebody waits for it (then/await): a call that ends while its result is
 * awaited and no consumer is attached keeps no events (the caller asked for the result alone).
 */
class ResultPromise extends Promise<ChatResult> {
  awaited = false;

  static override get [Symbol.species]() {
    return Promise;
  }

  override then<A = ChatResult, B = never>(
    onResolved?: ((value: ChatResult) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    this.awaited = true;
    return super.then(onResolved, onRejected);
  }
}

const enum Consumer {
  /** Nobody yet: events are kept for the first consumer. */
  None,
  Iterator,
  Listener,
  /** The iteration was left early: the rest is drained. */
  Gone,
}

/**
 * The caller's view of a chat. Events are kept from the start for the one consumer, an iterator or an
 * `on("event")` listener, whenever it attaches; reading `result` changes nothing. Only a call that ended
 * while its result was awaited with no consumer attached keeps no events.
 */
export class ChatCallImpl implements ChatCall, AsyncIterator<ChatEvent> {
  readonly result: ResultPromise;
  private resolveResult!: (result: ChatResult) => void;
  private rejectResult!: (err: unknown) => void;
  private queue: ChatEvent[] = [];
  private head = 0;
  private consumer = Consumer.None;
  private listener: ((event: ChatEvent) => void) | undefined;
  private waiting:
    { resolve: (r: IteratorResult<ChatEvent>) => void; reject: (e: unknown) => void } | undefined;
  private pausedByCaller = false;
  /**
   * The iterator has been handed its first event and has not asked for the next: nothing more is parsed
   * until it does (its first event goes on before the rest of what has arrived costs any time).
   */
  private firstOutstanding = false;
  private firstHandedOn = false;
  private wakeReader: (() => void) | undefined;
  private outcome = Outcome.Pending;
  private error: unknown;
  answer: ChatAnswer | undefined;
  http: HttpCall | undefined;
  /** Masks the key in what the server reports (id, model), when a key is set. */
  mask: SecretMask | undefined;
  /** id and model as shown, by what the server sent (read per event, they rarely change). */
  private shown: Map<string, string> | undefined;

  constructor() {
    this.result = new ResultPromise((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    // A caller that only iterates or listens still sees the failure there; never an unhandled rejection.
    Promise.prototype.then.call(this.result, undefined, ignore);
  }

  get id(): string | undefined {
    return this.masked(this.answer?.id);
  }

  get model(): string {
    return this.masked(this.answer?.model ?? "");
  }

  private masked<T extends string | undefined>(raw: T): T {
    if (this.mask === undefined || raw === undefined) return raw;
    this.shown ??= new Map();
    let shown = this.shown.get(raw);
    if (shown === undefined) {
      if (this.shown.size >= 8) this.shown.clear(); // a server that sends a new id per chunk
      shown = this.mask.text(raw);
      this.shown.set(raw, shown);
    }
    return shown as T;
  }

  done(): Promise<ChatResult> {
    return this.result;
  }

  on(type: "event", listener: (event: ChatEvent) => void): this {
    if (type !== "event" || typeof listener !== "function") {
      throw invalidInputError('on() takes "event" and a function');
    }
    this.attach(Consumer.Listener);
    this.listener = listener;
    const queued = this.queue;
    const from = this.head;
    this.queue = [];
    this.head = 0;
    for (let i = from; i < queued.length; i++) if (!this.deliver(queued[i])) break;
    return this;
  }

  pause(): void {
    this.pausedByCaller = true;
  }

  resume(): void {
    this.pausedByCaller = false;
    this.wake();
  }

  [Symbol.asyncIterator](): AsyncIterator<ChatEvent> {
    if (this.consumer === Consumer.None || this.consumer === Consumer.Listener)
      this.attach(Consumer.Iterator);
    return this;
  }

  take(): ChatEvent | undefined {
    if (this.firstOutstanding) {
      // The iterator took its first event and is back: the response is parsed on.
      this.firstOutstanding = false;
      this.wake();
    }
    if (this.head === this.queue.length) return undefined;
    const value = this.queue[this.head++];
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    }
    if (this.queue.length - this.head <= QUEUE_LOW) this.wake();
    return value;
  }

  next(): Promise<IteratorResult<ChatEvent>> {
    const value = this.take();
    if (value !== undefined) return Promise.resolve({ value, done: false });
    if (this.outcome === Outcome.Pending && this.consumer !== Consumer.Gone) {
      return new Promise((resolve, reject) => {
        this.waiting = { resolve, reject };
      });
    }
    return this.ended();
  }

  return(): Promise<IteratorResult<ChatEvent>> {
    this.consumer = Consumer.Gone;
    this.firstOutstanding = false;
    this.queue = [];
    this.head = 0;
    this.wake();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** An event from the answer. */
  push(event: ChatEvent): void {
    if (this.outcome !== Outcome.Pending) return;
    switch (this.consumer) {
      case Consumer.Listener:
        this.deliver(event);
        return;
      case Consumer.Gone:
        return;
      default: {
        if (this.consumer === Consumer.Iterator && !this.firstHandedOn) {
          this.firstHandedOn = true;
          this.firstOutstanding = true;
        }
        const waiting = this.waiting;
        if (waiting !== undefined) {
          this.waiting = undefined;
          waiting.resolve({ value: event, done: false });
        } else {
          this.queue.push(event);
        }
      }
    }
  }

  /** The reader should wait (whenReady()) before reading more of the response. */
  get backlogged(): boolean {
    return (
      this.holding || (this.consumer === Consumer.Iterator && this.queue.length - this.head >= QUEUE_HIGH)
    );
  }

  /** No event may be handed on now (pause(), or the iterator's first event not taken): the decoder holds them. */
  get holding(): boolean {
    return this.pausedByCaller || this.firstOutstanding;
  }

  whenReady(): Promise<void> {
    return new Promise((resolve) => {
      this.wakeReader = resolve;
    });
  }

  succeed(result: ChatResult): void {
    if (this.outcome !== Outcome.Pending) return;
    this.outcome = Outcome.Done;
    this.dropUnwanted();
    this.resolveResult(result);
    this.settled();
  }

  fail(err: unknown): void {
    if (this.outcome !== Outcome.Pending) return;
    this.outcome = Outcome.Failed;
    this.error = err;
    this.dropUnwanted();
    this.rejectResult(err);
    this.settled();
  }

  /** The caller's signal (or the client closing) stopped it: no event after this. */
  stop(result: ChatResult): void {
    if (this.outcome !== Outcome.Pending) return;
    this.outcome = Outcome.Stopped;
    this.queue = [];
    this.head = 0;
    this.resolveResult(result);
    this.settled();
  }

  private dropUnwanted(): void {
    if (this.consumer === Consumer.None && this.result.awaited) this.queue = [];
  }

  private attach(consumer: Consumer): void {
    if (this.consumer !== Consumer.None) {
      throw invalidInputError("a chat call has one consumer: iterate it or listen to it, once");
    }
    this.consumer = consumer;
  }

  /** Calls the listener; what it throws fails the call with that error and stops the request. */
  private deliver(event: ChatEvent): boolean {
    try {
      (this.listener as (event: ChatEvent) => void)(event);
      return true;
    } catch (err) {
      if (this.outcome !== Outcome.Pending) throw err; // delivering what was kept after the end: to on()'s caller
      this.fail(err);
      this.http?.abort(abortedError("the chat call's listener threw"));
      return false;
    }
  }

  private wake(): void {
    const wake = this.wakeReader;
    if (wake === undefined) return;
    this.wakeReader = undefined;
    wake();
  }

  private settled(): void {
    this.pausedByCaller = false;
    this.firstOutstanding = false;
    this.wake();
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

/** The answer's events with the key masked: text and reasoning each streamed through a StreamMask. */
class MaskedEvents {
  private readonly text: StreamMask;
  private readonly reasoning: StreamMask;

  constructor(
    mask: SecretMask,
    private readonly emit: (event: ChatEvent) => void,
  ) {
    this.text = mask.stream();
    this.reasoning = mask.stream();
  }

  push(event: ChatEvent): void {
    if (event.type === "replace") {
      this.emit({ type: "replace", text: this.text.restart(event.text) });
      return;
    }
    const text = (event.type === "delta" ? this.text : this.reasoning).push(event.text);
    if (text !== "") this.emit({ type: event.type, text });
  }

  /** The answer is complete: what was held (the start of the key) goes out masked. */
  end(): void {
    const text = this.text.end();
    if (text !== "") this.emit({ type: "delta", text });
    const reasoning = this.reasoning.end();
    if (reasoning !== "") this.emit({ type: "reasoning", text: reasoning });
  }
}

/** Starts one chat: the HTTP call, its SSE or whole JSON answer, into a ChatAnswer and the ChatCall. */
export function startChat(
  transport: Transport,
  request: ChatRequest,
  options: CallOptions | undefined,
  maxEventBytes: number,
  mask: SecretMask | undefined,
): ChatCall {
  const call = new ChatCallImpl();
  let body: string;
  try {
    body = JSON.stringify(chatRequestBody(request));
  } catch (err) {
    call.fail(isDbgptError(err) ? err : invalidInputError(String(err)));
    return call;
  }
  new ChatRun(transport, request, call, mask, maxEventBytes).start(body, options);
  return call;
}

/**
 * One chat from its request to the end of its ChatCall: reads the response into the answer, and is the
 * HTTP call's hooks (a stop ends the call stopped, a failure carries the partial text). One object per
 * chat rather than a closure per step: hundreds of chats may be in flight.
 */
class ChatRun implements CallHooks {
  private readonly startedAt = performance.now();
  private readonly answer: ChatAnswer;
  private readonly masked: MaskedEvents | undefined;
  /** The stream's `data: [DONE]` came. */
  private done = false;

  constructor(
    private readonly transport: Transport,
    private readonly request: ChatRequest,
    private readonly call: ChatCallImpl,
    private readonly mask: SecretMask | undefined,
    private readonly maxEventBytes: number,
  ) {
    const masked = mask === undefined ? undefined : new MaskedEvents(mask, (event) => call.push(event));
    this.masked = masked;
    this.answer = new ChatAnswer(
      request.chatMode,
      request.chatParam,
      request.model,
      masked === undefined ? (event) => call.push(event) : (event) => masked.push(event),
    );
    call.answer = this.answer;
    call.mask = mask;
  }

  start(body: string, options: CallOptions | undefined): void {
    const { request, call } = this;
    const accept =
      request.chatMode === "chat_app" || request.stream !== false ? "text/event-stream" : "application/json";
    const read = (http: HttpCall, response: HttpResponse) => this.read(http, response);
    const { http, outcome } = this.transport.call("POST", CHAT_PATH, body, { accept }, options, read, this);
    call.http = http;
    // The answer completed the call; a failure ends it here.
    outcome.then(undefined, (err: DbgptError) =>
      err.code === "DBGPT_ABORTED" ? call.stop(this.result(true)) : call.fail(err),
    );
  }

  stopped(): void {
    this.call.stop(this.result(true));
  }

  decorate(err: DbgptError): DbgptError {
    if (err.partial === undefined)
      err.partial = this.mask?.text(this.answer.output.text) ?? this.answer.output.text;
    return err;
  }

  contextOf(context: TransportContext): TransportContext {
    if (this.request.chatMode !== "chat_app") return context;
    return { ...context, chatApp: { appId: this.request.chatParam ?? "", events: this.answer.chunks } };
  }

  private result(stopped: boolean): ChatResult {
    const result = chatResult(this.request, this.answer, this.startedAt, stopped);
    return this.mask === undefined ? result : this.mask.deep(result);
  }

  private complete(): void {
    this.answer.finish();
    this.masked?.end();
    this.call.succeed(this.result(false));
  }

  /** Reads the response: an SSE stream (to its end, past [DONE], so the connection can be reused) or JSON. */
  private read(http: HttpCall, response: HttpResponse): Promise<void> {
    const status = response.statusCode;
    const type = headerValue(response.headers, "content-type") ?? "";
    if (status >= 200 && status < 300 && type.includes("text/event-stream"))
      return this.readStream(http, response);
    return this.readWhole(http, response);
  }

  private async readWhole(http: HttpCall, response: HttpResponse): Promise<void> {
    const status = response.statusCode;
    const whole = await http.textOf(response);
    const text = whole.text;
    if (status < 200 || status >= 300) throw this.transport.responseError(whole);
    let value: unknown;
    try {
      value = parseServerJson(text);
    } catch (err) {
      if (isDbgptError(err)) throw err;
      throw protocolError("DB-GPT answered with a body that is neither an event stream nor JSON", text);
    }
    const envelope = value as { success?: unknown; err_msg?: unknown; choices?: unknown } | null;
    if (envelope !== null && typeof envelope === "object" && envelope.success === false) {
      throw unsuccessfulResultError(
        status,
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

  private async readStream(http: HttpCall, response: HttpResponse): Promise<void> {
    const { call } = this;
    const onDone = () => {
      this.done = true;
      this.complete();
    };
    const decoder = new SseChunkDecoder(this.answer, onDone, this.maxEventBytes, () => call.holding);
    // Paused, or a full queue: read on once the consumer is ready (after pause(), the rest of a chunk's
    // events wait in the decoder until then).
    const whenReady = async () => {
      while (call.backlogged) {
        await call.whenReady();
        decoder.release();
      }
    };
    await http.readBody(response, (chunk) => {
      if (this.done) return undefined; // anything after [DONE] is read and dropped
      decoder.push(chunk);
      return call.backlogged ? whenReady() : undefined;
    });
    if (this.done) return;
    decoder.end();
    if (this.done) return; // a last event without its blank line was [DONE]
    this.transport.retire(); // a response without [DONE] closes its connection at once
    // `incremental: false` streams carry no [DONE]: a clean end after snapshots is the normal end.
    if (this.answer.sawSnapshot) this.complete();
    else throw streamClosedError(http.context());
  }
}

/** The result of a chat stopped before its answer came (a stop while queued): `text` is what arrived. */
export function stoppedChatResult(request: ChatRequest, text: string, durationMs: number): ChatResult {
  return {
    text,
    convUid: request.convUid,
    id: undefined,
    model: request.model,
    chunks: 0,
    reasoning: "",
    firstTokenMs: undefined,
    durationMs,
    stopped: true,
  };
}

function chatResult(
  request: ChatRequest,
  answer: ChatAnswer,
  startedAt: number,
  stopped: boolean,
): ChatResult {
  const reportedId = answer.id;
  const result: ChatResult = {
    text: answer.output.text,
    convUid:
      request.convUid !== undefined && request.convUid !== ""
        ? request.convUid
        : reportedId !== undefined && !reportedId.startsWith("chatcmpl-")
          ? reportedId
          : undefined,
    id: reportedId,
    model: answer.model,
    chunks: answer.chunks,
    reasoning: answer.output.reasoning,
    firstTokenMs: answer.output.firstTextAt === undefined ? undefined : answer.output.firstTextAt - startedAt,
    durationMs: performance.now() - startedAt,
    stopped,
  };
  if (request.chatMode === "chat_app") {
    result.raw = answer.raw ?? "";
    result.messages = answer.messages;
    result.plans = answer.plans;
  }
  if (answer.usage !== undefined) result.usage = answer.usage;
  return Object.assign(result, answer.resultData());
}
