/**
 * dbgpt-config: one DB-GPT server (base URL, API key, default model, idle timeout, TLS). Owns the one client
 * (and so the one keep-alive dispatcher) shared by every node that uses it: created at first use, closed
 * when the config node closes. Also serves the editor's admin endpoints (apps, models, test connection).
 */
import { invalidInputError, type DbgptClient, type DbgptError } from "../client";
import { registerAdminEndpoints, rememberDeployedConfig } from "./shared/admin";
import { createClient, envLookupFor, resolveConnection, type ResolvedConnection } from "./shared/connection";
import { isBlank } from "./shared/inputs";
import type { CloseDoneFn, Node, NodeAPI, NodeDef } from "./shared/red";
import { DEFAULT_MODEL, type DbgptServer } from "./shared/server";

interface ConfigDef extends NodeDef {
  baseUrl?: string;
  model?: string;
  timeout?: number | string;
  deadline?: number | string;
  tls?: string;
}

interface ConfigCredentials {
  apiKey?: string;
}

type ConfigNode = Node<ConfigCredentials> & DbgptServer;

function setUpConfigNode(RED: NodeAPI, node: ConfigNode, def: ConfigDef): void {
  node.name = def.name;
  rememberDeployedConfig(node, def.baseUrl, node.credentials?.apiKey);
  const defaultModel = isBlank(def.model) ? DEFAULT_MODEL : String(def.model).trim();

  let connection: ResolvedConnection | undefined;
  let problem: DbgptError | undefined;
  let client: DbgptClient | undefined;
  let closed = false;

  /** A configuration that cannot work is logged once; every request using it fails. */
  const reportProblem = (err: unknown): DbgptError => {
    problem = invalidInputError(`DB-GPT server configuration: ${(err as Error).message}`);
    node.error(problem.message);
    return problem;
  };

  try {
    connection = resolveConnection(
      {
        baseUrl: def.baseUrl,
        apiKey: node.credentials?.apiKey,
        timeout: def.timeout,
        deadline: def.deadline,
      },
      envLookupFor(RED, node),
    );
    for (const warning of connection.warnings) node.warn(warning.message);
  } catch (err) {
    reportProblem(err);
  }

  node.defaultModel = defaultModel;
  node.client = () => {
    if (closed) throw invalidInputError("the DB-GPT server configuration has been closed");
    if (!connection || problem) {
      throw invalidInputError(problem?.message ?? "the DB-GPT server configuration is unusable");
    }
    if (!client) {
      try {
        client = createClient(RED, connection.options, def.tls);
      } catch (err) {
        throw invalidInputError(reportProblem(err).message);
      }
    }
    return client;
  };

  node.on("close", (_removed: boolean, done: CloseDoneFn) => {
    closed = true;
    const closing = client;
    client = undefined;
    if (!closing) {
      done();
      return;
    }
    // The client's close() destroys its sockets, so it settles at once.
    closing.close().then(
      () => done(),
      () => done(),
    );
  });
}

export = function (RED: NodeAPI) {
  function DbgptConfigNode(this: ConfigNode, def: ConfigDef) {
    RED.nodes.createNode(this, def);
    setUpConfigNode(RED, this, def);
  }

  RED.nodes.registerType<ConfigNode, ConfigDef, unknown, ConfigCredentials>("dbgpt-config", DbgptConfigNode, {
    credentials: { apiKey: { type: "password" } },
  });
  registerAdminEndpoints(RED);
};
