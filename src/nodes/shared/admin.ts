/**
 * The editor's admin endpoints (dialog pickers and "Test connection"). They take the dialog's current values,
 * so they work before the first deploy; `id` lets them use the deployed key when the dialog has no new one.
 * Each call uses a temporary client and closes it. The key is never echoed.
 *
 *   POST dbgpt-config/apps    {baseUrl, id?, apiKey?, tls?} -> 200 {apps: [app, ...]}
 *   POST dbgpt-config/models  same                          -> 200 {models: ["name", ...]}  (llm only)
 *   POST dbgpt-config/test    same                          -> 200 {ok, message, code?}
 *   POST dbgpt-config/chat-params  same + chatMode          -> 200 {items: [{value, label}, ...]}
 *        (the chat node's chat param per mode: agent apps, knowledge spaces, chat flows, databases)
 *   failures: 400 (bad input) or 502 (server) with {code, message}
 */
import type { Request, Response } from "express";
import {
  invalidInputError,
  isAgentApp,
  isDbgptError,
  type CallOptions,
  type DbgptClient,
} from "../../client";
import { createClient, envLookupFor, resolveConnection } from "./connection";
import type { NodeAPI } from "./red";

/** How long the editor waits for a silent server. */
const ADMIN_IDLE_TIMEOUT_MS = 20_000;

/** What the editor shows in a password field that holds a stored, unchanged value. */
const STORED_PASSWORD_PLACEHOLDER = "__PWRD__";

interface AdminBody {
  baseUrl?: unknown;
  id?: unknown;
  apiKey?: unknown;
  tls?: unknown;
  chatMode?: unknown;
}

type AdminAction = (client: DbgptClient, options: CallOptions, body: AdminBody) => Promise<unknown>;

interface PickerItem {
  value: string;
  label: string;
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

const ACTIONS: Record<string, AdminAction> = {
  apps: async (client, options) => ({ apps: (await client.listApps(options)).apps }),
  models: async (client, options) => {
    const instances = await client.listModels(options);
    const names = instances.filter((m) => m.worker_type === "llm").map((m) => m.model_name);
    return { models: [...new Set(names)] };
  },
  test: async (client, options) => {
    try {
      const check = await client.testConnection(options);
      return check.code === undefined
        ? { ok: check.ok, message: check.message }
        : { ok: check.ok, message: check.message, code: check.code };
    } catch (err) {
      // An unreachable or failing server is a test outcome, not a failure of the endpoint.
      if (isDbgptError(err) && err.code !== "DBGPT_INVALID_INPUT") {
        return { ok: false, message: err.message, code: err.code };
      }
      throw err;
    }
  },
  "chat-params": async (client, options, body) => ({
    items: await chatParamItems(client, options, body.chatMode),
  }),
};

export function registerAdminEndpoints(RED: NodeAPI): void {
  for (const [name, action] of Object.entries(ACTIONS)) {
    RED.httpAdmin.post(
      `/dbgpt-config/${name}`,
      RED.auth.needsPermission("dbgpt-config.read"),
      (req: Request, res: Response) => {
        void answer(RED, action, req, res);
      },
    );
  }
}

async function answer(RED: NodeAPI, action: AdminAction, req: Request, res: Response): Promise<void> {
  const body: AdminBody = req.body && typeof req.body === "object" ? req.body : {};
  const controller = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) controller.abort();
  });
  let client: DbgptClient | undefined;
  try {
    const deployed = typeof body.id === "string" && body.id !== "" ? RED.nodes.getNode(body.id) : null;
    const { options } = resolveConnection(
      { baseUrl: body.baseUrl, apiKey: keyFor(RED, body), timeout: ADMIN_IDLE_TIMEOUT_MS / 1000 },
      envLookupFor(RED, deployed ?? undefined),
    );
    client = createClient(RED, options, body.tls);
    const result = await action(client, { signal: controller.signal }, body);
    res.status(200).json(result);
  } catch (err) {
    const code = isDbgptError(err) ? err.code : "ERROR";
    const message = err instanceof Error ? err.message : String(err);
    if (!res.headersSent) res.status(code === "DBGPT_INVALID_INPUT" ? 400 : 502).json({ code, message });
  } finally {
    await client?.close().catch(() => undefined);
  }
}

/** The key typed in the dialog, else the deployed one (by config id); `${ENV}` is resolved later. */
function keyFor(RED: NodeAPI, body: AdminBody): string | undefined {
  if (typeof body.apiKey === "string" && body.apiKey !== "" && body.apiKey !== STORED_PASSWORD_PLACEHOLDER) {
    return body.apiKey;
  }
  if (typeof body.id !== "string" || body.id === "") return undefined;
  const stored = RED.nodes.getCredentials(body.id) as { apiKey?: unknown } | undefined;
  return typeof stored?.apiKey === "string" && stored.apiKey !== "" ? stored.apiKey : undefined;
}
