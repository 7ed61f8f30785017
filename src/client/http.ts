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
import { finished, pipeline, type Readable, type Transform } from "node:stream";
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
/** undici's timers above 1 s run on a wheel that fires up to ~1 s late: used only where that is < 5 % (3.3 % at most). */
const UNDICI_TIMER_MIN_MS = 30_000;

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

/** Interprets a response; what it throws fails the call. */
export type ResponseReader<T> = (http: HttpCall, response: Dispatcher.ResponseData) => Promise<T>;

/** The connection to one DB-GPT server, shared by every call of a client. */
export class Transport {
  private readonly origin: string;
  private readonly basePath: string;
  private readonly baseHeaders: Record<string, string>;
  private dispatcher: Dispatcher;
  private readonly retired = new Set<Dispatcher>();
  private readonly active = new Set<HttpCall>();
  private closed: Promise<void> | undefined;

  constructor(readonly options: TransportOptions) {
    const url = new URL(options.baseUrl);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, "");
    this.baseHeaders = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
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
  ): { http: HttpCall; outcome: Promise<T> } {
    const http = new HttpCall(this, options);
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
  send(http: HttpCall, request: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    if (this.closed !== undefined) return Promise.reject(abortedError("the DB-GPT client is closed"));
    this.active.add(http);
    return this.dispatcher.request(request);
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
 * One request and its response: its timers, the abort signal handed to undici, and the one error it
 * ends with. Readers take the (decoded) body with readBody() or textOf().
 */
export class HttpCall {
  readonly idleTimeoutMs: number;
  readonly deadlineMs: number;
  afterHeaders = false;
  /** Adds a chat's partial text to its failure. */
  decorate: (err: DbgptError) => DbgptError = (err) => err;
  /** Adds a chat's context to error messages. */
  contextOf: (context: TransportContext) => TransportContext = (context) => context;
  /** Called at once when the call is stopped (the caller's signal, the client closing). */
  onStop: (() => void) | undefined;
  private readonly controller = new AbortController();
  private reason: DbgptError | undefined;
  private readonly invalid: DbgptError | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private waitingForConsumer = false;
  private readonly signal: AbortSignal | undefined;
  private readonly onSignal = () => this.abort(abortedError(), true);

  constructor(
    private readonly transport: Transport,
    options: CallOptions | undefined,
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
    return this.contextOf({
      origin: this.transport.options.baseUrl,
      afterHeaders: this.afterHeaders,
      idleTimeoutMs: this.idleTimeoutMs,
      connectTimeoutMs: this.transport.options.connectTimeoutMs,
    });
  }

  /** Ends the call with `reason` (a stop: DBGPT_ABORTED from the caller's signal or the client closing). */
  abort(reason: DbgptError, stop = false): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.controller.abort(reason);
    if (stop) this.onStop?.();
  }

  /**
   * Reads the body (decoded when the server compressed it) to its end: `onChunk` gets each chunk as it
   * comes; when it returns a promise (its consumer is not ready), the next chunk waits for it, and that
   * wait is not the server's silence. Buffered chunks go on in one go (no promise per chunk). Rejects with
   * the body's error, or when it closes before its end.
   */
  async readBody(
    response: Dispatcher.ResponseData,
    onChunk: (chunk: Buffer) => Promise<void> | undefined,
  ): Promise<void> {
    const body = this.decoded(response);
    let end: { error: Error | null | undefined } | undefined;
    let wake = () => {};
    const stopWatching = finished(body, { writable: false }, (error) => {
      end = { error };
      wake();
    });
    const onReadable = () => wake();
    body.on("readable", onReadable);
    try {
      for (;;) {
        for (let chunk: Buffer | null; (chunk = body.read() as Buffer | null) !== null;) {
          this.idleTimer?.refresh();
          const wait = onChunk(chunk);
          if (wait === undefined) continue;
          this.waitingForConsumer = true;
          await wait;
          this.waitingForConsumer = false;
          this.idleTimer?.refresh();
        }
        if (end !== undefined) {
          if (end.error) throw end.error;
          return;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      body.off("readable", onReadable);
      stopWatching();
    }
  }

  /** The whole body as text (at most 64 MiB). */
  async textOf(response: Dispatcher.ResponseData): Promise<TextResponse> {
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
    return {
      status,
      statusText,
      headers: headers as IncomingHttpHeaders,
      text: Buffer.concat(parts).toString(),
    };
  }

  /** @internal Runs the call to its one outcome. */
  async run<T>(request: Dispatcher.RequestOptions, read: ResponseReader<T>): Promise<T> {
    let response: Dispatcher.ResponseData | undefined;
    try {
      if (this.invalid !== undefined) throw this.invalid;
      if (this.signal?.aborted) throw abortedError();
      this.signal?.addEventListener("abort", this.onSignal, { once: true });
      this.startTimers();
      const undiciTimeout = this.idleTimeoutMs >= UNDICI_TIMER_MIN_MS ? Math.ceil(this.idleTimeoutMs) : 0;
      const signal = this.controller.signal;
      const sent = this.transport.send(this, {
        ...request,
        signal,
        headersTimeout: undiciTimeout,
        bodyTimeout: undiciTimeout,
      });
      sent.catch(() => undefined); // after losing the race below, undici rejects it with the abort
      // undici acts on an abort once the request reached a socket: a stop while connecting is now.
      const aborted = new Promise<never>((_resolve, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason), { once: true }),
      );
      response = await Promise.race([sent, aborted]);
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
      throw withoutSecret(this.decorate(failure), this.transport.options.apiKey);
    }
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

  private decoded(response: Dispatcher.ResponseData): Readable {
    const body = response.body as unknown as Readable;
    const encoding = headerValue(response.headers as IncomingHttpHeaders, "content-encoding");
    const name = encoding?.trim().toLowerCase() ?? "";
    if (name === "" || name === "identity") return body;
    const makeDecoder = DECODERS[name];
    if (makeDecoder === undefined) {
      throw protocolError(`DB-GPT sent a body in a content encoding the client cannot decode: ${name}`);
    }
    let bodyFailed = false;
    body.once("error", () => (bodyFailed = true));
    const decoder = makeDecoder();
    decoder.once("error", (err: Error) => {
      if (!bodyFailed)
        this.abort(protocolError(`DB-GPT sent a ${name} body that cannot be decoded: ${err.message}`));
    });
    return pipeline(body, decoder, () => undefined);
  }

  private end(response: Dispatcher.ResponseData | undefined, ok: boolean): void {
    clearTimeout(this.idleTimer);
    clearTimeout(this.deadlineTimer);
    this.idleTimer = undefined;
    this.signal?.removeEventListener("abort", this.onSignal);
    this.transport.forget(this);
    if (response !== undefined && (!ok || !response.body.readableEnded)) {
      response.body.destroy();
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
