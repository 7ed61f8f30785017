/**
 * HTTP with undici's dispatch(): one keep-alive dispatcher per client, redirects never followed, each
 * response body handed chunk by chunk to its one reader. Not request()'s Readable body: a Readable goes on
 * taking data while its reader is busy, and when the server then resets, it throws away the chunks it
 * holds, so the partial answer would miss events that did arrive; ResponseBody pauses undici at once (the
 * rest waits in the socket) and hands what it kept to the reader before the failure. (A Readable also
 * costs about 1 us more per chunk read in flowing mode, 5 us iterated, and a stream's chunks are mostly one
 * small event each.) Timeouts: undici's connect timeout; the idle timeout is undici's
 * headersTimeout/bodyTimeout when long enough for their 0.5 s timer wheel to be precise, otherwise a timer
 * refreshed per chunk; the deadline is one timer per call. A call that fails or stops after its response
 * started, or whose stream ended without [DONE], retires the dispatcher: new calls get a fresh one and the
 * old one closes its sockets as soon as its calls in flight are over, so that connection never goes back
 * into use (undici pools a socket before the caller has read the end of its body).
 */
import type { LookupFunction, Socket } from "node:net";
import { finished, type Transform } from "node:stream";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import { Agent, EnvHttpProxyAgent, buildConnector, errors as undiciErrors, type Dispatcher } from "undici";
import type { IncomingHttpHeaders } from "undici/types/header";
import type { CallOptions, TlsOptions } from "./api";
import {
  DbgptError,
  abortedError,
  deadlineError,
  errorFromResponse,
  errorFromTransport,
  idleTimeoutError,
  invalidInputError,
  isDbgptError,
  protocolError,
  withoutSecret,
  type TransportContext,
} from "./errors";
import { SecretMask } from "./masking";

/** JSON bodies (app lists, error envelopes) larger than this are DBGPT_PROTOCOL. */
const MAX_JSON_BODY_BYTES = 64 * 1024 * 1024;
/** Node turns longer timer delays into 1 ms; a longer timeout is "practically never" anyway. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** undici's timers above 1 s run on a wheel that fires up to ~1 s late: used only where that is < 5 % (3.3 % at most). */
const UNDICI_TIMER_MIN_MS = 30_000;

/** A body's chunks kept before its reader attaches, at most, before undici is paused (one socket read). */
const EARLY_BYTES = 64 * 1024;

/** How long an idle timeout before the headers waits for an equally long connect timeout to report. */
const CONNECT_GRACE_MS = 20;

const DECODERS: Record<string, () => Transform> = {
  gzip: createGunzip,
  "x-gzip": createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

export interface TransportOptions {
  /** Normalised server root, e.g. `http://host:5670/prefix`. */
  baseUrl: string;
  apiKey: string | undefined;
  idleTimeoutMs: number;
  /** Total time per call, 0 = none. */
  deadlineMs: number;
  connectTimeoutMs: number;
  keepAliveTimeoutMs: number;
  tls?: TlsOptions;
  lookup?: LookupFunction;
  useEnvProxy: boolean;
}

/** A whole (non-streamed) response. */
export interface TextResponse {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  text: string;
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A response: its head, and its body for HttpCall.readBody() or textOf(). */
export interface HttpResponse {
  statusCode: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  body: ResponseBody;
}

/** What a caller adds to its calls: each is optional. */
export interface CallHooks {
  /** Called at once when the call is stopped (the caller's signal, the client closing). */
  stopped?(): void;
  /** Adds to the failure the call ends with (a chat's partial text). */
  decorate?(err: DbgptError): DbgptError;
  /** Adds to the context of error messages (a chat's events). */
  contextOf?(context: TransportContext): TransportContext;
}

const NO_HOOKS: CallHooks = Object.freeze({});

/** Interprets a response; what it throws fails the call. */
export type ResponseReader<T> = (http: HttpCall, response: HttpResponse) => Promise<T>;

/** Takes one chunk of a body; a promise returned means "no more until it settles". May throw. */
type BodyReader = (chunk: Buffer) => Promise<void> | undefined;

/**
 * A response body as undici's handler receives it. Each chunk goes straight to the one reader; chunks
 * that come while it waits are kept, and undici is paused meanwhile (the rest of the response waits in
 * the socket). Chunks that come before the reader (it attaches a turn after the head, which often arrives
 * with the first chunks) are kept without pausing undici, up to EARLY_BYTES: pausing and resuming it for
 * every response cost more CPU than many short chats need. When the body fails, what was kept still goes
 * to the reader before the failure (nothing received is lost); a reader that throws gets nothing more.
 */
export class ResponseBody {
  private kept: Buffer[] = [];
  /** Bytes kept before the reader attached (then no longer counted). */
  private earlyBytes = 0;
  private reader: BodyReader | undefined;
  private waiting = false;
  private delivering = false;
  private end: { error: unknown } | undefined;
  private resolveRead: (() => void) | undefined;
  private rejectRead: ((error: unknown) => void) | undefined;

  constructor(private readonly controller: Dispatcher.DispatchController) {}

  /** The body arrived whole. */
  get complete(): boolean {
    return this.end !== undefined && this.end.error === undefined;
  }

  /** Reads the body to its end: resolves then, rejects with what the reader throws or the body failed with. */
  read(reader: BodyReader): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.reader = reader;
      this.resolveRead = resolve;
      this.rejectRead = reject;
      this.deliver();
    });
  }

  /** @internal From undici. */
  push(chunk: Buffer): void {
    if (this.end !== undefined) return;
    this.kept.push(chunk);
    if (this.reader === undefined) this.earlyBytes += chunk.length;
    this.deliver();
  }

  /** @internal From undici: the end of the body, or its failure. */
  finish(error?: Error): void {
    if (this.end !== undefined) return;
    this.end = { error };
    this.deliver();
  }

  private deliver(): void {
    const reader = this.reader;
    if (reader === undefined || this.waiting || this.delivering) {
      if (this.kept.length !== 0 && (reader !== undefined || this.earlyBytes > EARLY_BYTES)) {
        this.controller.pause();
      }
      return;
    }
    this.delivering = true;
    try {
      while (this.kept.length !== 0) {
        const chunk = this.kept.shift() as Buffer;
        const wait = reader(chunk);
        if (wait !== undefined) {
          this.waiting = true;
          if (this.kept.length !== 0) this.controller.pause();
          wait.then(
            () => {
              this.waiting = false;
              this.deliver();
            },
            (error: unknown) => this.fail(error),
          );
          return;
        }
      }
    } catch (error) {
      return this.fail(error);
    } finally {
      this.delivering = false;
    }
    if (this.controller.paused) this.controller.resume();
    if (this.end !== undefined) this.done(this.end.error);
  }

  /** The reader failed: nothing more is handed on. */
  private fail(error: unknown): void {
    this.kept = [];
    this.reader = undefined;
    this.done(error);
  }

  private done(error: unknown): void {
    const resolve = this.resolveRead;
    const reject = this.rejectRead;
    this.resolveRead = this.rejectRead = undefined;
    if (error === undefined) resolve?.();
    else reject?.(error);
  }
}

/** A request sent on a dispatcher (its handler): its response once the head has come, and how to stop it. */
class Exchange implements Dispatcher.DispatchHandler {
  readonly response: Promise<HttpResponse>;
  private resolveHead!: (response: HttpResponse) => void;
  private rejectHead!: (reason: unknown) => void;
  private controller: Dispatcher.DispatchController | undefined;
  private stopped: Error | undefined;
  private body: ResponseBody | undefined;

  constructor(dispatcher: Dispatcher, request: Dispatcher.DispatchOptions) {
    this.response = new Promise<HttpResponse>((resolve, reject) => {
      this.resolveHead = resolve;
      this.rejectHead = reject;
    });
    dispatcher.dispatch(request, this);
  }

  /** Stops the request (undici closes its connection); before the head, `response` rejects with `reason` at once. */
  abort(reason: Error): void {
    this.stopped ??= reason;
    this.controller?.abort(reason); // undici ignores it once the response is complete
    // undici acts on an abort once the request reached a socket: a stop while connecting is now.
    this.rejectHead(reason);
  }

  /** @internal From undici, as are the methods below. */
  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.stopped !== undefined) controller.abort(this.stopped);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusText = "",
  ): void {
    // undici keeps the head's raw buffers on the controller for the whole response; nothing reads them
    // again (`headers` are parsed), and hundreds of streams in flight each hold them (about 1.5 KiB).
    controller.rawHeaders = null;
    this.body = new ResponseBody(controller);
    this.resolveHead({ statusCode, statusText, headers, body: this.body });
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.body?.push(chunk);
  }

  onResponseEnd(): void {
    this.body?.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.body === undefined) this.rejectHead(error);
    else this.body.finish(error);
  }
}

/** The connection to one DB-GPT server, shared by every call of a client. */
export class Transport {
  private readonly origin: string;
  private readonly basePath: string;
  private readonly baseHeaders: Record<string, string>;
  private dispatcher: Dispatcher;
  private readonly retired = new Set<Dispatcher>();
  private readonly active = new Set<HttpCall>();
  private closed: Promise<void> | undefined;
  /** The key in what the server answers (it may echo it): one masker for every call's answer and error. */
  readonly mask: SecretMask | undefined;

  constructor(readonly options: TransportOptions) {
    const url = new URL(options.baseUrl);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, "");
    this.baseHeaders = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
    this.mask = options.apiKey ? new SecretMask(options.apiKey) : undefined;
    this.dispatcher = this.newDispatcher();
  }

  /** Starts a call; `http.outcome` settles with what `read` returns, or the one DbgptError it ended with. */
  call<T>(
    method: "GET" | "POST",
    path: string,
    body: string | undefined,
    headers: Record<string, string>,
    options: CallOptions | undefined,
    read: ResponseReader<T>,
    hooks?: CallHooks,
  ): { http: HttpCall; outcome: Promise<T> } {
    const http = new HttpCall(this, options, hooks);
    if (body !== undefined) headers["content-type"] = "application/json";
    const request = {
      origin: this.origin,
      path: this.basePath + path,
      method,
      headers: { ...this.baseHeaders, ...headers },
      body: body ?? null,
    };
    return { http, outcome: http.run(request, read) };
  }

  /** A GET or POST whose whole body is read and interpreted; `interpret` throws a DbgptError to fail. */
  requestText<T>(
    method: "GET" | "POST",
    path: string,
    body: string | undefined,
    options: CallOptions | undefined,
    interpret: (response: TextResponse) => T,
  ): Promise<T> {
    const accept = { accept: "application/json" };
    return this.call(method, path, body, accept, options, async (http, response) =>
      interpret(await http.textOf(response)),
    ).outcome;
  }

  /** A non-2xx response as a DbgptError. */
  responseError(response: TextResponse): DbgptError {
    const location = headerValue(response.headers, "location");
    return errorFromResponse(response.status, response.text, {
      ...(location === undefined ? {} : { location }),
      statusText: response.statusText,
      apiKeySet: this.options.apiKey !== undefined,
    });
  }

  /** @internal */
  send(http: HttpCall, request: Dispatcher.DispatchOptions): Exchange {
    if (this.closed !== undefined) throw abortedError("the DB-GPT client is closed");
    this.active.add(http);
    return new Exchange(this.dispatcher, request);
  }

  /** @internal */
  forget(http: HttpCall): void {
    this.active.delete(http);
  }

  /**
   * @internal A call ended badly after its response started: undici may already have pooled its
   * socket, so new calls get a fresh dispatcher and the old one closes once its calls are over.
   */
  retire(): void {
    if (this.closed !== undefined) return;
    const old = this.dispatcher;
    this.dispatcher = this.newDispatcher();
    this.retired.add(old);
    void old
      .close()
      .catch(() => undefined)
      .finally(() => this.retired.delete(old));
  }

  /** Stops every call in flight and closes the dispatchers with their sockets. Idempotent. */
  close(): Promise<void> {
    if (this.closed === undefined) {
      for (const http of [...this.active]) http.abort(abortedError("the DB-GPT client was closed"), true);
      const all = [this.dispatcher, ...this.retired];
      this.closed = Promise.all(all.map((d) => d.destroy().catch(() => undefined))).then(() => undefined);
    }
    return this.closed;
  }

  private newDispatcher(): Dispatcher {
    const { tls, lookup, connectTimeoutMs, keepAliveTimeoutMs } = this.options;
    const connect: buildConnector.BuildOptions = { timeout: Math.min(connectTimeoutMs, MAX_TIMER_MS) };
    // Node's TLS option names, but ALPNProtocols.
    const { alpnProtocols: ALPNProtocols, ...tlsOptions } = tls ?? {};
    for (const [name, value] of Object.entries({ ...tlsOptions, ALPNProtocols, lookup }))
      if (value !== undefined) Object.assign(connect, { [name]: value });
    const agent = {
      keepAliveTimeout: keepAliveTimeoutMs,
      keepAliveMaxTimeout: keepAliveTimeoutMs,
      headersTimeout: 0,
      bodyTimeout: 0,
    };
    if (this.options.useEnvProxy) return new EnvHttpProxyAgent({ ...agent, connect, requestTls: connect });
    const precise = connectTimeoutMs > 0 && connectTimeoutMs < UNDICI_TIMER_MIN_MS;
    return new Agent({ ...agent, connect: precise ? preciseConnector(connect) : connect });
  }
}

/** undici's connector with an exact connect timeout (undici's own one runs on its 0.5 s timer wheel). */
function preciseConnector(options: buildConnector.BuildOptions): buildConnector.connector {
  const timeoutMs = options.timeout ?? 0;
  const connect = buildConnector({ ...options, timeout: 0 });
  return (target, callback) => {
    let pending = true;
    let timer: NodeJS.Timeout | undefined;
    const socket = connect(target, (err, connected) => {
      if (!pending) return connected?.destroy(); // timed out already
      pending = false;
      clearTimeout(timer);
      if (err) callback(err, null);
      else callback(null, connected as Socket);
    }) as unknown as Socket | undefined;
    if (pending) {
      timer = setTimeout(() => {
        if (!pending) return;
        pending = false;
        socket?.destroy();
        callback(new undiciErrors.ConnectTimeoutError(`connect timeout after ${timeoutMs} ms`), null);
      }, timeoutMs);
    }
  };
}

function validMs(ms: unknown): ms is number {
  return typeof ms === "number" && Number.isFinite(ms) && ms >= 0;
}

/**
 * One request and its response: its timers, the exchange it stops, and the one error it
 * ends with. Readers take the (decoded) body with readBody() or textOf().
 */
export class HttpCall {
  readonly idleTimeoutMs: number;
  readonly deadlineMs: number;
  afterHeaders = false;
  private sent: Exchange | undefined;
  private reason: DbgptError | undefined;
  private readonly invalid: DbgptError | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private waitingForConsumer = false;
  private ended = false;
  private readonly signal: AbortSignal | undefined;

  constructor(
    private readonly transport: Transport,
    options: CallOptions | undefined,
    private readonly hooks: CallHooks = NO_HOOKS,
  ) {
    this.signal = options?.signal;
    const idle = options?.idleTimeoutMs ?? transport.options.idleTimeoutMs;
    const deadline = options?.deadlineMs ?? transport.options.deadlineMs;
    this.idleTimeoutMs = validMs(idle) ? idle : 0;
    this.deadlineMs = validMs(deadline) ? deadline : 0;
    const bad = !validMs(idle) ? "idle timeout" : !validMs(deadline) ? "deadline" : undefined;
    if (bad) this.invalid = invalidInputError(`the ${bad} must be a number of milliseconds >= 0`);
  }

  context(): TransportContext {
    const context: TransportContext = {
      origin: this.transport.options.baseUrl,
      afterHeaders: this.afterHeaders,
      idleTimeoutMs: this.idleTimeoutMs,
      connectTimeoutMs: this.transport.options.connectTimeoutMs,
    };
    return this.hooks.contextOf?.(context) ?? context;
  }

  /** @internal The caller's signal aborted (the call listens to it as an EventListenerObject). */
  handleEvent(): void {
    this.abort(abortedError(), true);
  }

  /** Ends the call with `reason` (a stop: DBGPT_ABORTED from the caller's signal or the client closing). */
  abort(reason: DbgptError, stop = false): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.sent?.abort(reason);
    if (stop) this.hooks.stopped?.();
  }

  /**
   * Reads the body (decoded when the server compressed it) to its end: `onChunk` gets each chunk as it
   * comes; when it returns a promise (its consumer is not ready), the next chunk waits for it, and that
   * wait is not the server's silence. Rejects with what `onChunk` throws, or the body's error.
   */
  readBody(response: HttpResponse, onChunk: BodyReader): Promise<void> {
    const read: BodyReader = (chunk) => {
      this.idleTimer?.refresh();
      const wait = onChunk(chunk);
      if (wait === undefined) return undefined;
      this.waitingForConsumer = true;
      return wait.then(() => {
        this.waitingForConsumer = false;
        this.idleTimer?.refresh();
      });
    };
    const encoding = headerValue(response.headers, "content-encoding")?.trim().toLowerCase() ?? "";
    if (encoding === "" || encoding === "identity") return response.body.read(read);
    const makeDecoder = DECODERS[encoding];
    if (makeDecoder === undefined) {
      const message = `DB-GPT sent a body in a content encoding the client cannot decode: ${encoding}`;
      return Promise.reject(protocolError(message));
    }
    return readDecoded(response.body, makeDecoder(), encoding, read);
  }

  /** The whole body as text (at most 64 MiB). */
  async textOf(response: HttpResponse): Promise<TextResponse> {
    const parts: Buffer[] = [];
    let size = 0;
    await this.readBody(response, (chunk) => {
      size += chunk.length;
      if (size > MAX_JSON_BODY_BYTES) {
        throw protocolError(`DB-GPT sent a response body larger than ${MAX_JSON_BODY_BYTES} bytes`);
      }
      parts.push(chunk);
      return undefined;
    });
    const { statusCode: status, statusText = "", headers } = response;
    return { status, statusText, headers, text: Buffer.concat(parts).toString() };
  }

  /** @internal Runs the call to its one outcome. */
  async run<T>(request: Dispatcher.DispatchOptions, read: ResponseReader<T>): Promise<T> {
    let response: HttpResponse | undefined;
    try {
      if (this.invalid !== undefined) throw this.invalid;
      if (this.signal?.aborted) throw abortedError();
      const undiciTimeout = this.idleTimeoutMs >= UNDICI_TIMER_MIN_MS ? Math.ceil(this.idleTimeoutMs) : 0;
      const timeouts = { headersTimeout: undiciTimeout, bodyTimeout: undiciTimeout };
      this.sent = this.transport.send(this, { ...request, ...timeouts });
      // undici writes the request in a setImmediate; this one runs right after it, so the request goes out
      // first. Nothing can answer before then, and a stop in between shows in signal.aborted.
      setImmediate(() => this.watch());
      response = await this.sent.response;
      this.afterHeaders = true;
      this.idleTimer?.refresh();
      const value = await read(this, response);
      if (this.reason !== undefined) throw this.reason;
      this.end(response, true);
      return value;
    } catch (err) {
      const failure = this.reason ?? failureOf(err, this.context());
      this.abort(failure);
      this.end(response, false);
      if (failure.code === "DBGPT_ABORTED") throw failure;
      throw withoutSecret(this.hooks.decorate?.(failure) ?? failure, this.transport.mask);
    }
  }

  /** Starts the timers and listens to the caller's signal, unless the call has ended already. */
  private watch(): void {
    if (this.ended) return;
    if (this.signal?.aborted) return this.handleEvent();
    this.signal?.addEventListener("abort", this, { once: true });
    this.startTimers();
  }

  private startTimers(): void {
    const idle = this.idleTimeoutMs;
    if (idle > 0 && idle < UNDICI_TIMER_MIN_MS) {
      this.idleTimer = setTimeout(() => {
        if (this.waitingForConsumer) return; // refreshed when the wait is over
        const timedOut = () => this.abort(idleTimeoutError(this.context()));
        // Still connecting? An equally long connect timeout is the better explanation: let it win.
        if (this.afterHeaders || this.transport.options.connectTimeoutMs > idle) timedOut();
        else setTimeout(timedOut, CONNECT_GRACE_MS);
      }, idle);
    }
    const deadline = this.deadlineMs;
    if (deadline > 0 && deadline <= MAX_TIMER_MS) {
      this.deadlineTimer = setTimeout(() => this.abort(deadlineError(this.context(), deadline)), deadline);
    }
  }

  private end(response: HttpResponse | undefined, ok: boolean): void {
    this.ended = true;
    clearTimeout(this.idleTimer);
    clearTimeout(this.deadlineTimer);
    this.idleTimer = undefined;
    this.signal?.removeEventListener("abort", this);
    this.transport.forget(this);
    if (response !== undefined && (!ok || !response.body.complete)) {
      this.sent?.abort(new Error("the response was not read to its end")); // a no-op after abort()
      this.transport.retire();
    }
  }
}

/** A DbgptError as thrown; a socket or undici error mapped; anything else a response we could not handle. */
function failureOf(err: unknown, context: TransportContext): DbgptError {
  if (isDbgptError(err)) return err;
  if (typeof (err as { code?: unknown } | null)?.code === "string") return errorFromTransport(err, context);
  const message = `could not handle DB-GPT's response: ${String(err)}`;
  return new DbgptError("DBGPT_PROTOCOL", message, { cause: err });
}

/**
 * Reads a compressed body through its decoder: the reader's waits pause the decoder, whose full buffer
 * pauses the body. What the body or the reader fails with is reported as it is; the decoder's own
 * failure is DBGPT_PROTOCOL.
 */
function readDecoded(
  body: ResponseBody,
  decoder: Transform,
  encoding: string,
  read: BodyReader,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let failure: { error: unknown } | undefined;
    const fail = (error: unknown) => {
      failure ??= { error };
      decoder.destroy();
    };
    decoder.on("data", (chunk: Buffer) => {
      let wait: Promise<void> | undefined;
      try {
        wait = read(chunk);
      } catch (error) {
        return fail(error);
      }
      if (wait === undefined) return;
      decoder.pause();
      wait.then(() => decoder.resume(), fail);
    });
    const drained = () =>
      new Promise<void>((resume) => {
        const go = () => {
          decoder.off("drain", go).off("close", go);
          resume();
        };
        decoder.on("drain", go).on("close", go);
      });
    body.read((chunk) => (decoder.write(chunk) ? undefined : drained())).then(() => decoder.end(), fail);
    finished(decoder, { writable: false }, (error) => {
      if (failure !== undefined) reject(failure.error);
      else if (error)
        reject(protocolError(`DB-GPT sent a ${encoding} body that cannot be decoded: ${error.message}`));
      else resolve();
    });
  });
}
