/**
 * HTTP with undici's request(): one keep-alive dispatcher per client, an AbortSignal on every call,
 * redirects never followed. Timeouts: undici's connect timeout; the idle timeout is undici's
 * headersTimeout/bodyTimeout when long enough for their 0.5 s timer wheel to be precise, otherwise a
 * timer refreshed per chunk; the deadline is one timer per call. A call that fails or stops after its
 * response started, or whose stream ended without [DONE], retires the dispatcher: new calls get a fresh
 * one and the old one closes its sockets as soon as its calls in flight are over, so that connection
 * never goes back into use (undici pools a socket before the caller has read the end of its body).
 */
import type { LookupFunction, Socket } from "node:net";
import { pipeline, type Readable, type Transform } from "node:stream";
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

/** JSON bodies (app lists, error envelopes) larger than this are DBGPT_PROTOCOL. */
const MAX_JSON_BODY_BYTES = 64 * 1024 * 1024;
/** Node turns longer timer delays into 1 ms; a longer timeout is "practically never" anyway. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** undici's timers above 1 s run on a wheel that fires up to ~1 s late: used only where that is < 5 %. */
const UNDICI_TIMER_MIN_MS = 20_000;

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

/** The connection to one DB-GPT server, shared by every call of a client. */
export class Transport {
  readonly origin: string;
  readonly basePath: string;
  private dispatcher: Dispatcher;
  private readonly retired = new Set<Dispatcher>();
  private readonly baseHeaders: Record<string, string>;
  private readonly active = new Set<HttpCall>();
  private closed: Promise<void> | undefined;

  constructor(readonly options: TransportOptions) {
    const url = new URL(options.baseUrl);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, "");
    this.baseHeaders = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
    this.dispatcher = this.newDispatcher();
  }

  /** Starts a call: `read` gets the response (a DbgptError it throws fails the call). */
  call<T>(
    method: "GET" | "POST",
    path: string,
    body: string | undefined,
    headers: Record<string, string>,
    options: CallOptions | undefined,
    read: (call: HttpCall, response: Dispatcher.ResponseData) => Promise<T>,
  ): { http: HttpCall; outcome: Promise<T> } {
    const http = new HttpCall(this, options);
    return { http, outcome: http.run(method, path, body, headers, read) };
  }

  /** A GET or POST whose whole body is read and interpreted; `interpret` throws a DbgptError to fail. */
  requestText<T>(
    method: "GET" | "POST",
    path: string,
    body: string | undefined,
    options: CallOptions | undefined,
    interpret: (response: TextResponse) => T,
  ): Promise<T> {
    return this.call(method, path, body, { accept: "application/json" }, options, async (http, response) =>
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

  /** @internal Sends a request on the current dispatcher. */
  send(
    call: HttpCall,
    method: "GET" | "POST",
    path: string,
    body: string | undefined,
    headers: Record<string, string>,
    signal: AbortSignal,
    idleTimeoutMs: number,
  ): Promise<Dispatcher.ResponseData> {
    if (this.closed !== undefined) return Promise.reject(abortedError("the DB-GPT client is closed"));
    this.active.add(call);
    const allHeaders: Record<string, string> = { ...this.baseHeaders, ...headers };
    if (body !== undefined) allHeaders["content-type"] = "application/json";
    const undiciTimeout = idleTimeoutMs >= UNDICI_TIMER_MIN_MS ? Math.ceil(idleTimeoutMs) : 0;
    return this.dispatcher.request({
      origin: this.origin,
      path: this.basePath + path,
      method,
      headers: allHeaders,
      body: body ?? null,
      signal,
      headersTimeout: undiciTimeout,
      bodyTimeout: undiciTimeout,
    });
  }

  /** @internal */
  forget(call: HttpCall): void {
    this.active.delete(call);
  }

  /** @internal The connection of a call that ended badly may already be pooled: retire the pool. */
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

  /** Stops every call in flight and closes the dispatcher with its sockets. Idempotent. */
  close(): Promise<void> {
    if (this.closed === undefined) {
      for (const call of [...this.active]) call.stop(abortedError("the DB-GPT client was closed"));
      const all = [this.dispatcher, ...this.retired];
      this.closed = Promise.all(all.map((d) => d.destroy().catch(() => undefined))).then(() => undefined);
    }
    return this.closed;
  }

  private newDispatcher(): Dispatcher {
    const options = this.options;
    const connect = {
      ...tlsConnectOptions(options.tls),
      ...(options.lookup ? { lookup: options.lookup } : {}),
      timeout: Math.min(options.connectTimeoutMs, MAX_TIMER_MS),
    };
    const agentOptions = {
      keepAliveTimeout: options.keepAliveTimeoutMs,
      keepAliveMaxTimeout: options.keepAliveTimeoutMs,
      headersTimeout: 0,
      bodyTimeout: 0,
    };
    if (options.useEnvProxy) return new EnvHttpProxyAgent({ ...agentOptions, connect, requestTls: connect });
    const precise = connect.timeout > 0 && connect.timeout < UNDICI_TIMER_MIN_MS;
    return new Agent({ ...agentOptions, connect: precise ? preciseConnector(connect) : connect });
  }
}

function tlsConnectOptions(tls: TlsOptions | undefined): Record<string, unknown> {
  if (tls === undefined) return {};
  const out: Record<string, unknown> = {};
  if (tls.ca !== undefined) out.ca = tls.ca;
  if (tls.cert !== undefined) out.cert = tls.cert;
  if (tls.key !== undefined) out.key = tls.key;
  if (tls.passphrase !== undefined) out.passphrase = tls.passphrase;
  if (tls.servername !== undefined) out.servername = tls.servername;
  if (tls.rejectUnauthorized !== undefined) out.rejectUnauthorized = tls.rejectUnauthorized;
  if (tls.alpnProtocols !== undefined) out.ALPNProtocols = tls.alpnProtocols;
  return out;
}

/**
 * undici's connector with an exact connect timeout (undici's own one runs on its 0.5 s timer wheel,
 * and the timeout may be a fraction of a second).
 */
function preciseConnector(options: buildConnector.BuildOptions): buildConnector.connector {
  const timeoutMs = options.timeout ?? 0;
  const connect = buildConnector({ ...options, timeout: 0 });
  return (target, callback) => {
    let pending = true;
    let timer: NodeJS.Timeout | undefined;
    const socket = connect(target, (err, connected) => {
      if (!pending) {
        connected?.destroy();
        return;
      }
      pending = false;
      clearTimeout(timer);
      if (err) callback(err, null);
      else callback(null, connected as Socket);
    }) as unknown as Socket | undefined;
    if (timeoutMs > 0 && pending) {
      timer = setTimeout(
        () => {
          if (!pending) return;
          pending = false;
          socket?.destroy();
          callback(new undiciErrors.ConnectTimeoutError(`connect timeout after ${timeoutMs} ms`), null);
        },
        Math.min(timeoutMs, MAX_TIMER_MS),
      );
    }
  };
}

function validMs(ms: unknown): ms is number {
  return typeof ms === "number" && Number.isFinite(ms) && ms >= 0;
}

/**
 * One request and its response: timers, the abort signal handed to undici, and the one error it
 * ends with. Readers pull the (decoded) body with chunksOf()/textOf().
 */
export class HttpCall {
  readonly idleTimeoutMs: number;
  readonly deadlineMs: number;
  afterHeaders = false;
  /** Adds the chat context (partial text) to a failure. */
  decorate: (err: DbgptError) => DbgptError = (err) => err;
  contextOf: (context: TransportContext) => TransportContext = (context) => context;
  private readonly controller = new AbortController();
  private reason: DbgptError | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly onSignal = () => this.stop(abortedError());
  private bodyFailed = false;

  /** Set when the call is stopped (signal, client closed), synchronously. */
  onStop: (() => void) | undefined;
  private readonly invalid: DbgptError | undefined;

  constructor(
    private readonly transport: Transport,
    options: CallOptions | undefined,
  ) {
    this.signal = options?.signal;
    const idle = options?.idleTimeoutMs ?? transport.options.idleTimeoutMs;
    const deadline = options?.deadlineMs ?? transport.options.deadlineMs;
    this.idleTimeoutMs = validMs(idle) ? idle : 0;
    this.deadlineMs = validMs(deadline) ? deadline : 0;
    if (!validMs(idle))
      this.invalid = invalidInputError("the idle timeout must be a number of milliseconds >= 0");
    else if (!validMs(deadline))
      this.invalid = invalidInputError("the deadline must be a number of milliseconds >= 0");
  }

  context(): TransportContext {
    return this.contextOf({
      origin: this.transport.options.baseUrl,
      afterHeaders: this.afterHeaders,
      idleTimeoutMs: this.idleTimeoutMs,
      connectTimeoutMs: this.transport.options.connectTimeoutMs,
    });
  }

  /** The caller's signal or the client closing: the call ends with DBGPT_ABORTED. */
  stop(reason: DbgptError): void {
    if (this.reason !== undefined) return;
    this.abort(reason);
    this.onStop?.();
  }

  /** Fails the call from outside the read loop (e.g. the consumer threw). */
  abort(reason: DbgptError): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.controller.abort(reason);
  }

  private aborted(): Promise<never> {
    return new Promise((_resolve, reject) => {
      const signal = this.controller.signal;
      if (signal.aborted) reject(signal.reason);
      else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
  }

  /** Bytes arrived: the idle timer starts over. */
  touch(): void {
    this.idleTimer?.refresh();
  }

  /** The reader waits for its consumer: silence meanwhile is not the server's. */
  async whileWaiting(wait: Promise<void>): Promise<void> {
    const timer = this.idleTimer;
    if (timer === undefined) return wait;
    clearTimeout(timer);
    await wait;
    if (this.idleTimer === timer && this.reason === undefined) timer.refresh();
  }

  /** The body, decoded when the server compressed it, one chunk at a time (the idle timer is refreshed). */
  async *chunksOf(response: Dispatcher.ResponseData): AsyncGenerator<Buffer> {
    for await (const chunk of this.decoded(response)) {
      this.touch();
      yield chunk as Buffer;
    }
  }

  /** The whole body as text (at most 64 MiB). */
  async textOf(response: Dispatcher.ResponseData): Promise<TextResponse> {
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of this.chunksOf(response)) {
      size += chunk.length;
      if (size > MAX_JSON_BODY_BYTES) {
        throw protocolError(`DB-GPT sent a response body larger than ${MAX_JSON_BODY_BYTES} bytes`);
      }
      parts.push(chunk);
    }
    return {
      status: response.statusCode,
      statusText: response.statusText ?? "",
      headers: response.headers as IncomingHttpHeaders,
      text: Buffer.concat(parts).toString("utf8"),
    };
  }

  /**
   * @internal Runs the call to one outcome. `read` may return before the body ended (a stream's
   * [DONE]): the rest is then discarded in the background so the connection can be reused.
   */
  async run<T>(
    method: "GET" | "POST",
    path: string,
    body: string | undefined,
    headers: Record<string, string>,
    read: (call: HttpCall, response: Dispatcher.ResponseData) => Promise<T>,
  ): Promise<T> {
    let response: Dispatcher.ResponseData | undefined;
    try {
      if (this.invalid !== undefined) throw this.invalid;
      if (this.signal?.aborted) throw abortedError();
      this.signal?.addEventListener("abort", this.onSignal, { once: true });
      this.startTimers();
      const sent = this.transport.send(
        this,
        method,
        path,
        body,
        headers,
        this.controller.signal,
        this.idleTimeoutMs,
      );
      sent.catch(() => undefined); // lost the race to an abort: undici rejects it once it gets to it
      // undici acts on an abort only once the request reached a socket: a stop while connecting is now.
      response = await Promise.race([sent, this.aborted()]);
      this.afterHeaders = true;
      this.touch();
      const value = await read(this, response);
      if (this.reason !== undefined) throw this.reason;
      this.end(response, true);
      return value;
    } catch (err) {
      const failure = this.reason ?? failureOf(err, this.context());
      this.abort(failure);
      this.end(response, false);
      throw failure.code === "DBGPT_ABORTED"
        ? failure
        : withoutSecret(this.decorate(failure), this.transport.options.apiKey);
    }
  }

  /** The response body ended without [DONE] although it completed: its socket must not be reused. */
  retire(): void {
    this.transport.retire();
  }

  private startTimers(): void {
    const idle = this.idleTimeoutMs;
    if (idle > 0 && idle < UNDICI_TIMER_MIN_MS) {
      this.idleTimer = setTimeout(() => {
        const timedOut = () => this.abort(idleTimeoutError(this.context()));
        // Still connecting? A connect timeout as long as this one is the better explanation: let it win.
        if (this.afterHeaders || this.transport.options.connectTimeoutMs > idle) timedOut();
        else setTimeout(timedOut, CONNECT_GRACE_MS);
      }, idle);
    }
    const deadline = this.deadlineMs;
    if (deadline > 0 && deadline <= MAX_TIMER_MS) {
      this.deadlineTimer = setTimeout(() => this.abort(deadlineError(this.context(), deadline)), deadline);
    }
  }

  private decoded(response: Dispatcher.ResponseData): Readable {
    const body = response.body as unknown as Readable;
    const encoding = headerValue(response.headers as IncomingHttpHeaders, "content-encoding")
      ?.trim()
      .toLowerCase();
    if (encoding === undefined || encoding === "" || encoding === "identity") return body;
    const makeDecoder = DECODERS[encoding];
    if (makeDecoder === undefined) {
      throw protocolError(`DB-GPT sent a body in a content encoding the client cannot decode: ${encoding}`);
    }
    body.once("error", () => (this.bodyFailed = true));
    const decoder = makeDecoder();
    decoder.once("error", (err: Error) => {
      if (!this.bodyFailed && this.reason === undefined) {
        this.abort(protocolError(`DB-GPT sent a ${encoding} body that cannot be decoded: ${err.message}`));
      }
    });
    return pipeline(body, decoder, () => undefined);
  }

  private end(response: Dispatcher.ResponseData | undefined, ok: boolean): void {
    clearTimeout(this.idleTimer);
    clearTimeout(this.deadlineTimer);
    this.idleTimer = undefined;
    this.signal?.removeEventListener("abort", this.onSignal);
    this.transport.forget(this);
    if (response === undefined) return;
    if (!ok || !response.body.readableEnded) {
      response.body.destroy();
      this.transport.retire();
    }
  }
}

/** What ended a call: a DbgptError as thrown, a socket/undici error mapped, anything else a response we could not handle. */
function failureOf(err: unknown, context: TransportContext): DbgptError {
  if (isDbgptError(err)) return err;
  if (typeof (err as { code?: unknown } | null)?.code === "string") return errorFromTransport(err, context);
  return new DbgptError("DBGPT_PROTOCOL", `could not handle DB-GPT's response: ${String(err)}`, {
    cause: err,
  });
}
