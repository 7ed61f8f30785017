/**
 * HTTP with undici: one keep-alive dispatcher per client, explicit timeouts, an AbortSignal on every
 * call, redirects never followed. Requests use undici's handler API so every response byte is seen
 * synchronously: a request that fails while its response is still arriving (an in-stream error, the
 * answer judged at [DONE], a JSON body complete by its content-length, a timeout, an abort) is aborted
 * before undici can return its socket to the pool, so that connection is closed. (A failure seen only
 * at the clean end of a response, e.g. a stream ending without [DONE], comes too late for that: undici
 * has completed the request, and the healthy socket idles out after keepAliveTimeoutMs.)
 */
import type { LookupFunction, Socket } from "node:net";
import { Agent, EnvHttpProxyAgent, buildConnector, errors as undiciErrors, type Dispatcher } from "undici";
import type { IncomingHttpHeaders } from "undici/types/header";
import type { CallOptions, TlsOptions } from "./api";
import {
  DbgptError,
  abortedError,
  errorFromResponse,
  errorFromTransport,
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

export interface TransportOptions {
  /** Normalised server root, e.g. `http://host:5670/prefix`. */
  baseUrl: string;
  apiKey: string | undefined;
  idleTimeoutMs: number;
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
  private readonly dispatcher: Dispatcher;
  private readonly baseHeaders: Record<string, string>;
  private readonly active = new Set<Exchange>();
  private closed: Promise<void> | undefined;

  constructor(readonly options: TransportOptions) {
    const url = new URL(options.baseUrl);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, "");
    this.baseHeaders = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
    const connect = {
      ...tlsConnectOptions(options.tls),
      ...(options.lookup ? { lookup: options.lookup } : {}),
      timeout: options.connectTimeoutMs,
    };
    const agentOptions = {
      keepAliveTimeout: options.keepAliveTimeoutMs,
      keepAliveMaxTimeout: options.keepAliveTimeoutMs,
      // undici's own header/body timers tick once a second; each Exchange keeps a finer idle timer.
      headersTimeout: 0,
      bodyTimeout: 0,
    };
    this.dispatcher = options.useEnvProxy
      ? new EnvHttpProxyAgent({ ...agentOptions, connect, requestTls: connect })
      : new Agent({ ...agentOptions, connect: preciseConnector(connect) });
  }

  /** Starts a request; the exchange settles itself (result, failure or stop). */
  send(
    exchange: Exchange,
    method: "GET" | "POST",
    path: string,
    body?: string,
    headers?: Record<string, string>,
  ) {
    if (this.closed !== undefined) {
      exchange.stop(abortedError("the DB-GPT client is closed"));
      return;
    }
    if (!exchange.watchSignal()) return;
    this.active.add(exchange);
    const allHeaders: Record<string, string> = { ...this.baseHeaders, ...headers };
    if (body !== undefined) allHeaders["content-type"] = "application/json";
    try {
      this.dispatcher.dispatch(
        {
          origin: this.origin,
          path: this.basePath + path,
          method,
          headers: allHeaders,
          body: body ?? null,
        },
        exchange,
      );
    } catch (err) {
      exchange.fail(errorFromTransport(err, exchange.context()));
    }
  }

  /** A GET or POST whose whole body is read and interpreted; `interpret` throws a DbgptError to fail. */
  requestText<T>(
    method: "GET" | "POST",
    path: string,
    body: string | undefined,
    options: CallOptions | undefined,
    interpret: (response: TextResponse) => T,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const exchange = new TextExchange(this, options, interpret, resolve, reject);
      this.send(exchange, method, path, body, { accept: "application/json" });
    });
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
  forget(exchange: Exchange): void {
    this.active.delete(exchange);
  }

  /** Stops every call in flight and closes the dispatcher with its sockets. Idempotent. */
  close(): Promise<void> {
    if (this.closed === undefined) {
      for (const exchange of [...this.active]) exchange.stop(abortedError("the DB-GPT client was closed"));
      this.closed = this.dispatcher.destroy().catch(() => undefined);
    }
    return this.closed;
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
 * undici's connector with an exact connect timeout (undici's own one ticks once a second, and the
 * timeout may be a fraction of a second).
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

/**
 * "No bytes for `ms`" without a timer reset per chunk (the hot path only sets a flag): a timer ticks
 * every ms/4 and fires after four quiet ticks, i.e. between 1 and 1.25 × ms after the last byte.
 */
class IdleWatch {
  /** Bytes arrived since the last tick. */
  active = true;
  private quietTicks = 0;
  private paused = false;
  private readonly timer: NodeJS.Timeout;

  constructor(ms: number, onIdle: () => void) {
    this.timer = setInterval(
      () => {
        if (this.active || this.paused) {
          this.active = false;
          this.quietTicks = 0;
        } else if (++this.quietTicks >= 4) {
          this.stop();
          onIdle();
        }
      },
      Math.min(ms / 4, MAX_TIMER_MS),
    );
    this.timer.unref();
  }

  /** The caller is not reading: silence is ours, not the server's. */
  pause(paused: boolean): void {
    this.paused = paused;
    this.active = true;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * One request/response as undici sees it. Settles exactly once: succeed (the subclass delivered the
 * result), fail (a DbgptError; the request is aborted so its socket is destroyed) or stop (the
 * caller's signal or the client closing).
 */
export abstract class Exchange implements Dispatcher.DispatchHandler {
  readonly idleTimeoutMs: number;
  protected settled = false;
  protected afterHeaders = false;
  protected status = 0;
  protected statusText = "";
  protected headers: IncomingHttpHeaders = {};
  private controller: Dispatcher.DispatchController | undefined;
  private pendingAbort: Error | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly onSignal = () => this.stop(abortedError());
  private idle: IdleWatch | undefined;
  private body: Buffer[] | undefined;
  private bodyBytes = 0;
  private expectedBytes: number | undefined;

  constructor(
    protected readonly transport: Transport,
    options: CallOptions | undefined,
  ) {
    const idle = options?.idleTimeoutMs;
    this.idleTimeoutMs = idle === undefined ? transport.options.idleTimeoutMs : idle;
    this.signal = options?.signal;
  }

  /** Stream data (when the body is not being collected). */
  protected abstract data(chunk: Buffer): void;
  /** A clean end of a streamed body. */
  protected abstract end(): void;
  /** The response headers arrived; call collectBody() to get the whole body in wholeBody(). */
  protected abstract begin(status: number, headers: IncomingHttpHeaders): void;
  protected abstract wholeBody(text: string): void;
  protected abstract failed(err: DbgptError): void;
  protected abstract stopped(err: DbgptError): void;

  /** Adds the error's chat context (partial text); the base adds nothing. */
  protected decorate(err: DbgptError): DbgptError {
    return err;
  }

  context(): TransportContext {
    return {
      origin: this.transport.options.baseUrl,
      afterHeaders: this.afterHeaders,
      idleTimeoutMs: this.idleTimeoutMs,
      connectTimeoutMs: this.transport.options.connectTimeoutMs,
    };
  }

  /** Listens to the caller's signal; false when it already fired (the exchange is then stopped). */
  watchSignal(): boolean {
    if (!Number.isFinite(this.idleTimeoutMs) || this.idleTimeoutMs < 0) {
      this.fail(invalidInputError("the idle timeout must be a number of milliseconds >= 0"));
      return false;
    }
    if (this.signal === undefined) return true;
    if (this.signal.aborted) {
      this.stop(abortedError());
      return false;
    }
    this.signal.addEventListener("abort", this.onSignal, { once: true });
    return true;
  }

  pause(): void {
    this.idle?.pause(true);
    this.controller?.pause();
  }

  resume(): void {
    this.idle?.pause(false);
    this.controller?.resume();
  }

  fail(err: DbgptError): void {
    if (this.settled) return;
    this.settle();
    this.abortRequest(err);
    this.failed(withoutSecret(this.decorate(err), this.transport.options.apiKey));
  }

  stop(reason: DbgptError): void {
    if (this.settled) return;
    this.settle();
    this.abortRequest(reason);
    this.stopped(reason);
  }

  /** The subclass delivered its result: the response may still finish and keep its socket. */
  protected succeed(): void {
    if (!this.settled) this.settle();
  }

  /** Collect the whole body; wholeBody() gets it as text. */
  protected collectBody(headers: IncomingHttpHeaders): void {
    this.body = [];
    const length = headerValue(headers, "content-length");
    if (length !== undefined && /^\d+$/.test(length)) this.expectedBytes = Number(length);
    if (this.expectedBytes === 0) this.bodyComplete();
  }

  // ---- undici's handler API ----

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.pendingAbort !== undefined) {
      controller.abort(this.pendingAbort);
    } else if (this.idleTimeoutMs > 0 && this.idle === undefined) {
      this.idle = new IdleWatch(this.idleTimeoutMs, () =>
        this.fail(errorFromTransport(new undiciErrors.BodyTimeoutError(), this.context())),
      );
    }
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    status: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    if (this.settled || status < 200) return;
    if (this.idle !== undefined) this.idle.active = true;
    this.afterHeaders = true;
    this.status = status;
    this.statusText = statusMessage ?? "";
    this.headers = headers;
    this.guard(() => this.begin(status, headers));
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    if (this.idle !== undefined) this.idle.active = true;
    const body = this.body;
    if (body === undefined) {
      try {
        this.data(chunk);
      } catch (err) {
        this.fail(asFailure(err));
      }
      return;
    }
    body.push(chunk);
    this.bodyBytes += chunk.length;
    if (this.bodyBytes > MAX_JSON_BODY_BYTES) {
      this.fail(protocolError(`DB-GPT sent a response body larger than ${MAX_JSON_BODY_BYTES} bytes`));
    } else if (this.expectedBytes !== undefined && this.bodyBytes >= this.expectedBytes) {
      // Decide now, before undici completes the response: a failure can still close the socket.
      this.bodyComplete();
    }
  }

  onResponseEnd(): void {
    if (this.settled) return;
    if (this.body !== undefined) this.bodyComplete();
    else this.guard(() => this.end());
    // Whatever the subclass did not settle by now cannot complete any more.
    if (!this.settled) this.fail(protocolError("DB-GPT ended the response without a complete answer"));
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.settled) return;
    this.fail(errorFromTransport(err, this.context()));
  }

  // ---- internals ----

  private bodyComplete(): void {
    const parts = this.body ?? [];
    this.body = undefined;
    this.guard(() => this.wholeBody(Buffer.concat(parts).toString("utf8")));
  }

  private guard(step: () => void): void {
    try {
      step();
    } catch (err) {
      this.fail(asFailure(err));
    }
  }

  private settle(): void {
    this.settled = true;
    this.idle?.stop();
    this.signal?.removeEventListener("abort", this.onSignal);
    this.transport.forget(this);
  }

  private abortRequest(reason: Error): void {
    if (this.controller !== undefined) this.controller.abort(reason);
    else this.pendingAbort = reason;
  }
}

/** What a response handler threw, as the failure to report. */
function asFailure(err: unknown): DbgptError {
  return isDbgptError(err)
    ? err
    : new DbgptError("DBGPT_PROTOCOL", `could not handle DB-GPT's response: ${String(err)}`, { cause: err });
}

/** A request whose whole body is read, then interpreted. */
class TextExchange<T> extends Exchange {
  constructor(
    transport: Transport,
    options: CallOptions | undefined,
    private readonly interpret: (response: TextResponse) => T,
    private readonly resolve: (value: T) => void,
    private readonly reject: (err: DbgptError) => void,
  ) {
    super(transport, options);
  }

  protected begin(_status: number, headers: IncomingHttpHeaders): void {
    this.collectBody(headers);
  }

  protected data(): void {}

  protected end(): void {}

  protected wholeBody(text: string): void {
    const value = this.interpret({
      status: this.status,
      statusText: this.statusText,
      headers: this.headers,
      text,
    });
    this.succeed();
    this.resolve(value);
  }

  protected failed(err: DbgptError): void {
    this.reject(err);
  }

  protected stopped(err: DbgptError): void {
    this.reject(err);
  }
}
