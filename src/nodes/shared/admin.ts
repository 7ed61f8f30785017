/**
 * The editor's admin endpoints (dialog pickers and "Test connection"). They take the dialog's current values,
 * so they work before the first deploy. Each call uses a temporary client and closes it.
 *
 *   POST dbgpt-config/apps    {baseUrl, id?, apiKey?, tls?} -> 200 {apps: [app, ...], agentApps: ["app_code", ...]}
 *   POST dbgpt-config/models  same                          -> 200 {models: ["name", ...]}  (llm only)
 *   POST dbgpt-config/test    same                          -> 200 {ok, message, code?, result, warnings}
 *   POST dbgpt-config/chat-params  same + chatMode          -> 200 {items: [{value, label}, ...]}
 *        (the chat node's chat param per mode: agent apps, knowledge spaces, chat flows, databases)
 *   failures: 400 (bad input), 415 (not a JSON body) or 502 (server) with {code, message, key?, params?}
 *   (key: a dbgpt-config.test.* sentence for the dialog's language)
 *
 * Who may call them and what they send (they make the runtime send requests, and may send a stored key):
 * - only users with `dbgpt-config.write` (a user who could deploy a flow); JSON bodies only (a form post
 *   from another web page cannot reach them);
 * - the deployed key is sent only when `id` names a deployed dbgpt-config node AND `baseUrl` is that node's
 *   own deployed base URL; otherwise only a key typed into the dialog;
 * - `${ENV_VAR}` in the body is resolved only when it is the deployed node's own value (same id and base
 *   URL): a request body cannot read the runtime's environment;
 * - nothing they answer contains the key, in any form, however the server echoes it.
 *
 * "Test connection" answers `result: {key, params}` and `warnings: [{key, params, message}]` besides the
 * English `message`, so that the dialog words them in the editor's language (dbgpt-config.test.*).
 */
import type { Request, Response } from "express";
import {
  invalidInputError,
  isAgentApp,
  isDbgptError,
  normalizeBaseUrl,
  SecretMask,
  type CallOptions,
  type DbgptClient,
  type DbgptError,
} from "../../client";
import { createClient, envLookupFor, resolveConnection, type ConnectionWarning } from "./connection";
import type { Node, NodeAPI } from "./red";

/** How long the editor waits for a silent server. */
const ADMIN_IDLE_TIMEOUT_MS = 20_000;

/** What the editor shows in a password field that holds a stored, unchanged value. */
const STORED_PASSWORD_PLACEHOLDER = "__PWRD__";

const ENV_REFERENCE = /^\$\{\S+\}$/;

interface AdminBody {
  baseUrl?: unknown;
  id?: unknown;
  apiKey?: unknown;
  tls?: unknown;
  chatMode?: unknown;
}

/** A sentence the dialog words itself: a key of dbgpt-config.test.* and its parameters. */
interface Phrase {
  key: string;
  params: Record<string, string | number>;
}

interface AdminCall {
  client: DbgptClient;
  options: CallOptions;
  body: AdminBody;
  keySent: boolean;
  warnings: ConnectionWarning[];
}

type AdminAction = (call: AdminCall) => Promise<unknown>;

interface PickerItem {
  value: string;
  label: string;
}

/** What a deployed dbgpt-config node was deployed with (its own base URL and stored key, both raw). */
interface DeployedConfig {
  baseUrl: string;
  apiKey: string | undefined;
}

const DEPLOYED = new WeakMap<object, DeployedConfig>();

/** Called by each dbgpt-config node when it starts: the admin endpoints trust only these values. */
export function rememberDeployedConfig(node: Node, baseUrl: unknown, apiKey: unknown): void {
  DEPLOYED.set(node, {
    baseUrl: typeof baseUrl === "string" ? baseUrl : "",
    apiKey: typeof apiKey === "string" && apiKey !== "" ? apiKey : undefined,
  });
}

/** An admin failure the dialog can word itself. */
class AdminInputError extends Error {
  readonly code = "DBGPT_INVALID_INPUT";
  constructor(
    readonly key: string,
    readonly params: Record<string, string>,
    message: string,
  ) {
    super(message);
  }
}

const DATABASE_MODES = new Set(["chat_data", "chat_with_db_qa", "chat_dashboard"]);

/** The chat param choices of one chat mode, in the server's order. */
async function chatParamItems(
  client: DbgptClient,
  options: CallOptions,
  chatMode: unknown,
): Promise<PickerItem[]> {
  if (chatMode === "chat_app") {
    const { apps } = await client.listApps(options);
    return apps
      .filter(isAgentApp)
      .map((app) => ({ value: app.app_code, label: app.app_name || app.app_code }));
  }
  if (chatMode === "chat_knowledge") {
    return (await client.listKnowledgeSpaces(options)).map((space) => ({
      value: space.name,
      label: space.desc ? `${space.name} — ${space.desc}` : space.name,
    }));
  }
  if (chatMode === "chat_flow") {
    return (await client.listChatFlows(options)).map((flow) => ({
      value: flow.uid,
      label: flow.label || flow.name || flow.uid,
    }));
  }
  if (typeof chatMode === "string" && DATABASE_MODES.has(chatMode)) {
    return (await client.listDatabases(options)).map((db) => ({
      value: db.db_name,
      label: `${db.db_name} (${db.db_type})`,
    }));
  }
  throw invalidInputError(
    `chat mode ${JSON.stringify(chatMode) ?? String(chatMode)} has no chat param to choose`,
  );
}

/** The error codes the dialog words in their own sentence (reason.<code>); any other is reason.ERROR. */
export const REASON_CODES = [
  "DBGPT_CONNECT",
  "DBGPT_TIMEOUT",
  "DBGPT_AUTH",
  "DBGPT_BAD_REQUEST",
  "DBGPT_HTTP",
  "DBGPT_PROTOCOL",
  "DBGPT_STREAM_CLOSED",
] as const;

/** A failure as the dialog words it: dbgpt-config.test.reason.<code> with its parameters. */
function reasonOf(err: DbgptError | undefined, origin: string): Phrase {
  if (err === undefined) return { key: "reason.ERROR", params: { code: "ERROR" } };
  const params: Record<string, string | number> = { origin, code: err.code };
  if (err.statusCode !== undefined) params.status = err.statusCode;
  if (err.serverMessage !== undefined && err.serverMessage !== "") params.server = err.serverMessage;
  let key = (REASON_CODES as readonly string[]).includes(err.code) ? err.code : "ERROR";
  // `success: false` in a 200 answer: no status to name.
  if (key === "DBGPT_HTTP" && (err.statusCode === undefined || err.statusCode < 300)) key = "failure";
  return { key: `reason.${key}${params.server === undefined ? "" : "-server"}`, params };
}

const ACTIONS: Record<string, AdminAction> = {
  apps: async ({ client, options }) => {
    const { apps } = await client.listApps(options);
    // The one agent-app rule (isAgentApp) for the editor too: it filters the chat_app picker by this list.
    return { apps, agentApps: apps.filter(isAgentApp).map((app) => app.app_code) };
  },
  models: async ({ client, options }) => {
    const instances = await client.listModels(options);
    const names = instances.filter((m) => m.worker_type === "llm").map((m) => m.model_name);
    return { models: [...new Set(names)] };
  },
  test: async ({ client, options, keySent, warnings }) => {
    let check;
    try {
      check = await client.testConnection(options);
    } catch (err) {
      // An unreachable or failing server is a test outcome, not a failure of the endpoint.
      if (!isDbgptError(err) || err.code === "DBGPT_INVALID_INPUT" || err.code === "DBGPT_ABORTED") throw err;
      check = {
        ok: false,
        message: err.message,
        code: err.code,
        outcome: "apps-failed" as const,
        error: err,
      };
    }
    const apps = check.apps ?? 0;
    let result: Phrase;
    if (check.outcome === "ok")
      result = { key: keySent ? "outcome.ok-key" : "outcome.ok-no-key", params: { apps } };
    else if (check.outcome === "key-rejected")
      result = { key: keySent ? "outcome.key-rejected" : "outcome.key-required", params: { apps } };
    else {
      const reason = reasonOf(check.error, client.baseUrl);
      result = {
        key: `outcome.${check.outcome ?? "apps-failed"}`,
        params: { apps, reasonKey: reason.key, ...reason.params },
      };
    }
    const answer: Record<string, unknown> = { ok: check.ok, message: check.message };
    if (check.code !== undefined) answer.code = check.code;
    answer.result = result;
    answer.warnings = warnings;
    return answer;
  },
  "chat-params": async ({ client, options, body }) => ({
    items: await chatParamItems(client, options, body.chatMode),
  }),
};

export function registerAdminEndpoints(RED: NodeAPI): void {
  for (const [name, action] of Object.entries(ACTIONS)) {
    RED.httpAdmin.post(
      `/dbgpt-config/${name}`,
      RED.auth.needsPermission("dbgpt-config.write"),
      (req: Request, res: Response) => {
        void answer(RED, action, req, res);
      },
    );
  }
}

/** Every string in `value` (keys too) with every form of the key masked. */
function masked(value: unknown, key: string | undefined): unknown {
  return key === undefined ? value : new SecretMask(key).deep(value);
}

async function answer(RED: NodeAPI, action: AdminAction, req: Request, res: Response): Promise<void> {
  if (!req.is("application/json")) {
    res.status(415).json({
      code: "DBGPT_INVALID_INPUT",
      message: "the admin endpoints take JSON bodies only (Content-Type: application/json)",
    });
    return;
  }
  const body: AdminBody =
    req.body && typeof req.body === "object" && !Array.isArray(req.body) ? req.body : {};
  const controller = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) controller.abort();
  });
  let client: DbgptClient | undefined;
  let key: string | undefined;
  try {
    const { options, warnings } = connectionFor(RED, body);
    key = options.apiKey;
    client = createClient(RED, options, tlsIdOf(RED, body.tls));
    const result = await action({
      client,
      options: { signal: controller.signal },
      body,
      keySent: key !== undefined,
      warnings,
    });
    res.status(200).json(masked(result, key));
  } catch (err) {
    if (res.headersSent) return;
    if (err instanceof AdminInputError) {
      res.status(400).json({ code: err.code, message: err.message, key: err.key, params: err.params });
      return;
    }
    const code = isDbgptError(err) ? err.code : "ERROR";
    const message = err instanceof Error ? err.message : String(err);
    if (code === "DBGPT_INVALID_INPUT") {
      res.status(400).json(masked({ code, message }, key));
      return;
    }
    // The server's failure, also as a key and parameters for the dialog's language.
    const reason = reasonOf(isDbgptError(err) ? err : undefined, client?.baseUrl ?? "");
    res.status(502).json(masked({ code, message, key: reason.key, params: reason.params }, key));
  } finally {
    await client?.close().catch(() => undefined);
  }
}

/** A tls-config node's id, or nothing: another node type's id is ignored like a missing one. */
function tlsIdOf(RED: NodeAPI, tls: unknown): unknown {
  if (typeof tls !== "string" || tls === "") return undefined;
  const node = RED.nodes.getNode(tls) as Node | null;
  return node !== null && node.type !== "tls-config" ? undefined : tls;
}

/** A base URL as compared with the deployed one: normalised when it is a URL, trimmed otherwise. */
function comparable(url: string): string {
  const trimmed = url.trim();
  if (ENV_REFERENCE.test(trimmed)) return trimmed;
  try {
    return normalizeBaseUrl(trimmed).url;
  } catch {
    return trimmed;
  }
}

function isEnvReference(value: unknown): value is string {
  return typeof value === "string" && ENV_REFERENCE.test(value.trim());
}

/**
 * The client options for a request body, by the rules in this file's header: the deployed key only for
 * the deployed node's own base URL, `${ENV_VAR}` only for the deployed node's own values.
 */
function connectionFor(
  RED: NodeAPI,
  body: AdminBody,
): { options: ReturnType<typeof resolveConnection>["options"]; warnings: ConnectionWarning[] } {
  const baseUrl = typeof body.baseUrl === "string" ? body.baseUrl : "";
  const node =
    typeof body.id === "string" && body.id !== "" ? (RED.nodes.getNode(body.id) as Node | null) : null;
  const deployed = node !== null && node.type === "dbgpt-config" ? DEPLOYED.get(node) : undefined;
  // Node-RED resolves a whole "${VAR}" property when it creates the node, so the deployed base URL may be
  // a reference or its value: the two are compared resolved, with the deployed node's environment.
  const nodeLookup = deployed === undefined ? undefined : envLookupFor(RED, node ?? undefined);
  const resolved = (value: string) =>
    isEnvReference(value) ? nodeLookup?.(value.trim().slice(2, -1)) : value;
  const bodyUrl = baseUrl.trim() === "" ? undefined : resolved(baseUrl);
  const deployedUrl = deployed === undefined ? undefined : resolved(deployed.baseUrl);
  const sameServer =
    bodyUrl !== undefined && deployedUrl !== undefined && comparable(deployedUrl) === comparable(bodyUrl);
  const warnings: ConnectionWarning[] = [];

  if (isEnvReference(baseUrl) && !sameServer) {
    throw new AdminInputError(
      "errors.env-url-not-deployed",
      { value: baseUrl.trim() },
      `the base URL ${baseUrl.trim()} refers to an environment variable: the editor resolves it only for the deployed configuration (deploy first)`,
    );
  }
  const typed =
    typeof body.apiKey === "string" && body.apiKey !== "" && body.apiKey !== STORED_PASSWORD_PLACEHOLDER
      ? body.apiKey
      : undefined;
  let apiKey: string | undefined;
  if (typed !== undefined) {
    // (Node-RED may have resolved the stored one already: compared resolved, like the base URL.)
    const deployedKey = deployed?.apiKey === undefined ? undefined : resolved(deployed.apiKey);
    if (
      isEnvReference(typed) &&
      !(sameServer && deployedKey !== undefined && resolved(typed) === deployedKey)
    ) {
      throw new AdminInputError(
        "errors.env-key-not-deployed",
        {},
        "the API key refers to an environment variable: the editor resolves it only for the deployed configuration (deploy first)",
      );
    }
    apiKey = typed;
  } else if (sameServer) {
    apiKey = deployed?.apiKey;
  } else if (deployed?.apiKey !== undefined) {
    warnings.push({
      key: "warnings.stored-key-other-url",
      params: {},
      message:
        "the deployed API key is sent only to the deployed base URL: no key was sent (type the key, or deploy first)",
    });
  }

  // Only the deployed node's own values may name environment variables (checked above).
  const lookup = sameServer && nodeLookup !== undefined ? nodeLookup : () => undefined;
  let connection;
  try {
    connection = resolveConnection({ baseUrl, apiKey, timeout: ADMIN_IDLE_TIMEOUT_MS / 1000 }, lookup);
  } catch (err) {
    // A URL from an environment variable is not echoed (its value is the runtime's business).
    if (isEnvReference(baseUrl) && isDbgptError(err)) {
      throw new AdminInputError(
        "errors.env-url-invalid",
        { value: baseUrl.trim() },
        `the base URL ${baseUrl.trim()} does not resolve to a valid http(s) URL`,
      );
    }
    throw err;
  }
  warnings.push(...connection.warnings);
  return { options: connection.options, warnings };
}
