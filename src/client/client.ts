/**
 * DbgptClient: the DB-GPT v2 App/Chat API (dbgpt-api.md) for one server. No Node-RED in here.
 */
import type {
  AppList,
  CallOptions,
  ChatCall,
  ChatMode,
  ChatRequest,
  ChatResult,
  ClientOptions,
  ConnectionCheck,
} from "./api";
import { splitThinking } from "./answer";
import { extractArtifacts, planSql, VIEW_FAILED_TEXT } from "./artifacts";
import { CHAT_PATH, startChat } from "./chat";
import {
  DbgptError,
  invalidInputError,
  isDbgptError,
  protocolError,
  queryError,
  unsuccessfulResultError,
  withoutSecret,
} from "./errors";
import { Transport, type TextResponse } from "./http";
import { DEFAULT_MAX_EVENT_BYTES, parseServerJson } from "./stream";
import type {
  App,
  AppListData,
  Datasource,
  FlowPanel,
  KnowledgeSpace,
  ModelInstance,
  PaginationResult,
} from "./wire";

const APPS_PATH = "/api/v2/serve/apps";
const MODELS_PATH = "/api/v2/serve/model/models";
const KNOWLEDGE_SPACES_PATH = "/api/v2/serve/knowledge/spaces";
const CHAT_FLOWS_PATH = "/api/v2/serve/awel/chat/flows";
const DATASOURCES_PATH = "/api/v2/serve/datasources";
const HISTORY_PATH = "/api/v1/chat/dialogue/messages/history";
/** Modes whose data DB-GPT sends only without streaming, and keeps in the conversation's history. */
export const HISTORY_MODES: readonly ChatMode[] = ["chat_data", "chat_dashboard", "chat_knowledge"];
/** Knowledge spaces and chat flows are paginated (and `page` works there): one big page is enough for a picker. */
const PICKER_PAGE_SIZE = 1000;
/** The server ignores `page`, so the list is asked for in one page (dbgpt-api.md §8). */
const APPS_PAGE_SIZE = 100;
/** The most apps a second page may ask for: a bigger or fractional total_count is not believed. */
const MAX_APPS_TOTAL = 100_000;

const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 4_000;

/**
 * Checks and normalises a server URL: trimmed, http(s) with a host, no trailing "/", a path prefix kept,
 * a pasted "/api" or "/api/v2" suffix stripped (with a warning, and the suffix). Throws DBGPT_INVALID_INPUT.
 */
export function normalizeBaseUrl(input: string): { url: string; warning?: string; apiSuffix?: string } {
  if (typeof input !== "string") throw invalidInputError("the server URL must be a string");
  const trimmed = input.trim();
  if (trimmed === "") throw invalidInputError("the server URL is empty");
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw invalidInputError(`the server URL "${trimmed}" is not a valid URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalidInputError(`the server URL must start with http:// or https:// (got ${url.protocol}//)`);
  }
  if (url.hostname === "") throw invalidInputError("the server URL has no host");
  if (url.username !== "" || url.password !== "") {
    throw invalidInputError("the server URL must not contain a user name or password; use the API key");
  }
  if (url.search !== "" || url.hash !== "") {
    throw invalidInputError("the server URL must not contain a query (?) or fragment (#)");
  }
  let path = url.pathname.replace(/\/+$/, "");
  const apiSuffix = /\/api(?:\/v2)?$/i.exec(path);
  if (apiSuffix === null) return { url: url.origin + path };
  path = path.slice(0, apiSuffix.index);
  return {
    url: url.origin + path,
    warning: `the server URL should not end with "${apiSuffix[0]}" (the client adds it): using ${url.origin + path}`,
    apiSuffix: apiSuffix[0],
  };
}

/**
 * Whether chat_app can talk to an app: not native apps, not AWEL chat-flow apps (their text is lost).
 * The "agent apps" of list-apps' filter and of the chat_app picker.
 */
export function isAgentApp(app: App): boolean {
  if (app.team_mode === "native_app") return false;
  if (app.team_mode === "awel_layout") return flowCategoryOf(app.team_context) !== "chat_flow";
  return true;
}

/** team_context is an object, or (for some stored apps) its JSON string. */
function flowCategoryOf(teamContext: unknown): unknown {
  let context = teamContext;
  if (typeof context === "string") {
    try {
      context = JSON.parse(context);
    } catch {
      return undefined;
    }
  }
  return context && typeof context === "object"
    ? (context as { flow_category?: unknown }).flow_category
    : undefined;
}

/** Header values may hold tab, printable ASCII and Latin-1; anything else cannot be sent. */
const HEADER_UNSAFE = /[^\t\x20-\x7e\x80-\xff]/;

function validTimeout(value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw invalidInputError(`${name} must be a number of milliseconds >= 0`);
  }
  return value;
}

function parseJson(text: string): unknown {
  try {
    return parseServerJson(text);
  } catch (err) {
    if (isDbgptError(err)) throw err; // nested too deep
    return undefined; // JSON.parse itself never returns undefined
  }
}

function readJson(response: TextResponse): unknown {
  const value = parseJson(response.text);
  if (value === undefined) {
    throw protocolError(
      `DB-GPT answered HTTP ${response.status} with a body that is not JSON`,
      response.text,
    );
  }
  return value;
}

export class DbgptClient {
  /** The normalised server root requests go to. */
  readonly baseUrl: string;
  private readonly transport: Transport;
  private readonly maxEventBytes: number;

  constructor(options: ClientOptions) {
    if (options === null || typeof options !== "object")
      throw invalidInputError("client options are required");
    this.baseUrl = normalizeBaseUrl(options.baseUrl).url;
    const apiKey = options.apiKey === undefined || options.apiKey === "" ? undefined : options.apiKey;
    if (apiKey !== undefined) {
      if (typeof apiKey !== "string") throw invalidInputError("the API key must be a string");
      if (/[\r\n]/.test(apiKey)) throw invalidInputError("the API key contains a line break (CR or LF)");
      if (HEADER_UNSAFE.test(apiKey)) {
        throw invalidInputError("the API key contains characters that cannot be sent in an HTTP header");
      }
    }
    const idleTimeoutMs = validTimeout(options.idleTimeoutMs, "idleTimeoutMs") ?? DEFAULT_IDLE_TIMEOUT_MS;
    const deadlineMs = validTimeout(options.deadlineMs, "deadlineMs") ?? 0;
    const connectTimeoutMs =
      validTimeout(options.connectTimeoutMs, "connectTimeoutMs") ??
      (idleTimeoutMs > 0 ? Math.min(DEFAULT_CONNECT_TIMEOUT_MS, idleTimeoutMs) : DEFAULT_CONNECT_TIMEOUT_MS);
    const keepAliveTimeoutMs =
      validTimeout(options.keepAliveTimeoutMs, "keepAliveTimeoutMs") ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS;
    const maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
    if (!Number.isInteger(maxEventBytes) || maxEventBytes <= 0) {
      throw invalidInputError("maxEventBytes must be a positive integer");
    }
    this.maxEventBytes = maxEventBytes;
    const env = process.env;
    const useEnvProxy =
      options.useEnvProxy ?? Boolean(env.HTTP_PROXY || env.http_proxy || env.HTTPS_PROXY || env.https_proxy);
    this.transport = new Transport({
      baseUrl: this.baseUrl,
      apiKey,
      idleTimeoutMs,
      deadlineMs,
      connectTimeoutMs,
      keepAliveTimeoutMs,
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      ...(options.lookup === undefined ? {} : { lookup: options.lookup }),
      useEnvProxy,
    });
  }

  /** Every app, de-duplicated by app_code, in the server's order. */
  async listApps(options?: CallOptions): Promise<AppList> {
    const first = await this.getAppPage(APPS_PAGE_SIZE, options);
    let apps = first.app_list;
    // One more request at most: page_size = the total the server reported (a whole number up to 100,000;
    // anything else is used as it came, and callers warn that the list is short). Never a loop.
    const total = first.total_count;
    if (total > apps.length && Number.isInteger(total) && total <= MAX_APPS_TOTAL)
      apps = apps.concat((await this.getAppPage(first.total_count, options)).app_list);
    const seen = new Set<unknown>();
    const unique = apps.filter((app) => {
      const code = app.app_code;
      if (typeof code !== "string") return true;
      if (seen.has(code)) return false;
      seen.add(code);
      return true;
    });
    return { apps: unique, totalCount: first.total_count };
  }

  /** One app. An unknown id is DBGPT_NOT_FOUND; `""`, `.`, `..` and non-strings are DBGPT_INVALID_INPUT. */
  getApp(appId: string, options?: CallOptions): Promise<App> {
    if (typeof appId !== "string" || appId === "" || appId === "." || appId === "..") {
      return Promise.reject(invalidInputError(`invalid app id ${JSON.stringify(appId) ?? String(appId)}`));
    }
    // One path segment, sent as built: "../x" or "a?b" cannot change the path or the query.
    let segment: string;
    try {
      segment = encodeURIComponent(appId);
    } catch {
      return Promise.reject(
        invalidInputError("invalid app id: it is not well-formed text (a lone surrogate)"),
      );
    }
    const path = `${APPS_PATH}/${segment}`;
    return this.transport.requestText("GET", path, undefined, options, (response) => {
      const data = this.resultData(response);
      if (data === null || data === undefined) {
        throw new DbgptError("DBGPT_NOT_FOUND", `DB-GPT has no app "${appId}"`, {
          statusCode: response.status,
          body: response.text,
        });
      }
      if (typeof data !== "object" || Array.isArray(data)) {
        throw protocolError("DB-GPT answered the app request with data that is not an app", response.text);
      }
      return data as App;
    });
  }

  /** Every deployed model instance (callers keep `worker_type === "llm"` for chat). */
  listModels(options?: CallOptions): Promise<ModelInstance[]> {
    return this.getList<ModelInstance>(MODELS_PATH, "model list", options);
  }

  /** Knowledge spaces, in the server's order (the first 1000). The route does not check keys. */
  listKnowledgeSpaces(options?: CallOptions): Promise<KnowledgeSpace[]> {
    return this.getPageItems<KnowledgeSpace>(KNOWLEDGE_SPACES_PATH, "knowledge space list", options);
  }

  /** Chat-capable flows (chat_flow / chat_agent), in the server's order (the first 1000). Needs the key. */
  listChatFlows(options?: CallOptions): Promise<FlowPanel[]> {
    return this.getPageItems<FlowPanel>(CHAT_FLOWS_PATH, "chat flow list", options);
  }

  /** Every datasource (not paginated by the server). Needs the key. */
  listDatabases(options?: CallOptions): Promise<Datasource[]> {
    return this.getList<Datasource>(DATASOURCES_PATH, "datasource list", options);
  }

  /**
   * Reachability (the apps list) and the key: the apps endpoints never check keys, so an empty chat
   * request is sent too: 401 = key rejected; 400 E0001 (validation) = key accepted or not needed.
   */
  async testConnection(options?: CallOptions): Promise<ConnectionCheck> {
    let apps: number;
    try {
      apps = (await this.getAppPage(1, options)).total_count;
    } catch (err) {
      return this.failedCheck(err, "apps-failed", "cannot list apps");
    }
    let probe: TextResponse;
    try {
      probe = await this.transport.requestText("POST", CHAT_PATH, "{}", options, (response) => response);
    } catch (err) {
      return { ...this.failedCheck(err, "chat-unreachable", "cannot reach the chat endpoint"), apps };
    }
    const keySet = this.transport.options.apiKey !== undefined;
    if (probe.status === 401) {
      return {
        ok: false,
        code: "DBGPT_AUTH",
        outcome: "key-rejected",
        apps,
        message: keySet
          ? `DB-GPT is reachable (${apps} apps) but rejected the API key`
          : `DB-GPT is reachable (${apps} apps) but requires an API key`,
      };
    }
    const errCode = (parseJson(probe.text) as { err_code?: unknown } | undefined)?.err_code;
    if (probe.status === 400 && errCode === "E0001") {
      return {
        ok: true,
        outcome: "ok",
        apps,
        message: keySet
          ? `connected to DB-GPT (${apps} apps); the API key is accepted or not needed`
          : `connected to DB-GPT (${apps} apps); no API key is needed`,
      };
    }
    // Built here, outside the transport's failure path: masked here (the server may echo the header).
    const err = withoutSecret(
      probe.status >= 200 && probe.status < 300
        ? protocolError(`DB-GPT answered an empty chat request with HTTP ${probe.status}`, probe.text)
        : this.transport.responseError(probe),
      this.transport.mask,
    );
    return {
      ok: false,
      code: err.code,
      outcome: "chat-failed",
      error: err,
      apps,
      message: `the chat endpoint failed: ${err.message}`,
    };
  }

  /**
   * Starts a chat. Iterate the call for its events; `result` settles at the end. Invalid requests fail
   * the call (DBGPT_INVALID_INPUT) before anything is sent.
   */
  chat(request: ChatRequest, options?: CallOptions): ChatCall {
    return startChat(this.transport, request, options, this.maxEventBytes, this.transport.mask);
  }

  /**
   * The conversation's last `view` message as stored (ElementTree escaping intact), or undefined when it
   * has none. GET /api/v1/chat/dialogue/messages/history?con_uid=... (dbgpt-artifacts.md §4.2).
   */
  getConversationView(convUid: string, options?: CallOptions): Promise<string | undefined> {
    if (typeof convUid !== "string" || convUid === "") {
      return Promise.reject(invalidInputError("a conversation id is required"));
    }
    const path = `${HISTORY_PATH}?con_uid=${encodeURIComponent(convUid)}`;
    return this.transport.requestText("GET", path, undefined, options, (response) => {
      const data = this.resultData(response);
      if (!Array.isArray(data)) {
        throw protocolError("DB-GPT answered the conversation history with no list", response.text);
      }
      for (let i = data.length - 1; i >= 0; i--) {
        const item = data[i] as { role?: unknown; context?: unknown } | null;
        if (item !== null && typeof item === "object" && item.role === "view") {
          return typeof item.context === "string" ? item.context : undefined;
        }
      }
      return undefined;
    });
  }

  /**
   * After a streamed chat_data, chat_dashboard or chat_knowledge answer: fills the result's data from the
   * conversation's stored view (DB-GPT streams none of it). A refused query throws DBGPT_QUERY_ERROR.
   * When the history cannot be read, the result comes back as it was, with `historyError` saying why.
   */
  async addConversationData(
    result: ChatResult,
    request: Pick<ChatRequest, "chatMode" | "convUid">,
    options?: CallOptions,
  ): Promise<{ result: ChatResult; historyError?: Error }> {
    const convUid = request.convUid ?? result.convUid;
    if (!HISTORY_MODES.includes(request.chatMode) || convUid === undefined || result.stopped) {
      return { result };
    }
    let view: string | undefined;
    try {
      view = await this.getConversationView(convUid, options);
    } catch (err) {
      if (isDbgptError(err) && err.code === "DBGPT_ABORTED") throw err;
      if (result.viewFailed) throw queryError(VIEW_FAILED_TEXT, planSql(result.text), result.text);
      return { result, historyError: err instanceof Error ? err : new Error(String(err)) };
    }
    const extracted = extractArtifacts(splitThinking(view ?? "").text, request.chatMode);
    const failure = extracted.queryFailure;
    if (failure !== undefined) {
      throw queryError(failure.message, failure.sql || planSql(result.text), failure.explanation);
    }
    if (result.viewFailed) throw queryError(VIEW_FAILED_TEXT, planSql(result.text), result.text);
    return { result: { ...result, ...extracted.data } };
  }

  /** Stops every call in flight and closes the connection pool. Idempotent. */
  close(): Promise<void> {
    return this.transport.close();
  }

  private getAppPage(pageSize: number, options: CallOptions | undefined): Promise<AppListData> {
    return this.transport.requestText(
      "GET",
      `${APPS_PATH}?page_size=${pageSize}`,
      undefined,
      options,
      (response) => {
        const data = this.resultData(response) as AppListData | null;
        if (
          data === null ||
          typeof data !== "object" ||
          !Array.isArray(data.app_list) ||
          typeof data.total_count !== "number"
        ) {
          throw protocolError("DB-GPT answered the app list without app_list and total_count", response.text);
        }
        return data;
      },
    );
  }

  /** A `Result` whose data is a plain list (not paginated by the server). */
  private getList<T>(path: string, what: string, options: CallOptions | undefined): Promise<T[]> {
    return this.transport.requestText("GET", path, undefined, options, (response) => {
      const data = this.resultData(response);
      if (!Array.isArray(data))
        throw protocolError(`DB-GPT answered the ${what} with no list`, response.text);
      return data as T[];
    });
  }

  private getPageItems<T>(path: string, what: string, options: CallOptions | undefined): Promise<T[]> {
    const target = `${path}?page=1&page_size=${PICKER_PAGE_SIZE}`;
    return this.transport.requestText("GET", target, undefined, options, (response) => {
      const data = this.resultData(response) as PaginationResult<T> | null;
      if (data === null || typeof data !== "object" || !Array.isArray(data.items)) {
        throw protocolError(`DB-GPT answered the ${what} without items`, response.text);
      }
      return data.items;
    });
  }

  /** The `data` of a successful Result envelope; any other answer throws the matching DbgptError. */
  private resultData(response: TextResponse): unknown {
    if (response.status < 200 || response.status >= 300) throw this.transport.responseError(response);
    const envelope = readJson(response) as { success?: unknown; err_msg?: unknown; data?: unknown } | null;
    if (envelope === null || typeof envelope !== "object" || typeof envelope.success !== "boolean") {
      throw protocolError("DB-GPT answered with JSON that is not a Result envelope", response.text);
    }
    if (!envelope.success) {
      const errMsg = typeof envelope.err_msg === "string" ? envelope.err_msg : undefined;
      throw unsuccessfulResultError(response.status, response.text, errMsg);
    }
    const mask = this.transport.mask;
    return mask === undefined ? envelope.data : mask.deep(envelope.data);
  }

  private failedCheck(
    err: unknown,
    outcome: "apps-failed" | "chat-unreachable",
    what: string,
  ): ConnectionCheck {
    if (isDbgptError(err) && err.code === "DBGPT_ABORTED") throw err;
    if (!isDbgptError(err)) return { ok: false, outcome, message: `${what}: ${String(err)}` };
    const masked = withoutSecret(err, this.transport.mask);
    return { ok: false, outcome, message: `${what}: ${masked.message}`, code: masked.code, error: masked };
  }
}
