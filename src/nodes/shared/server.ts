/**
 * What a dbgpt-config node offers the nodes that use it, and how they find it by its id.
 */
import { invalidInputError, type DbgptClient } from "../../client";
import type { Node, NodeAPI } from "./red";

export const DEFAULT_MODEL = "chatgpt_proxyllm";

export interface DbgptServer {
  /** The config's model (DEFAULT_MODEL when blank). */
  defaultModel: string;
  /** The one shared client. Throws DBGPT_INVALID_INPUT when the configuration cannot work. */
  client(): DbgptClient;
}

/** The dbgpt-config node with this id; DBGPT_INVALID_INPUT when it is not set, missing or disabled. */
export function findServer(RED: NodeAPI, serverId: unknown): DbgptServer {
  if (typeof serverId !== "string" || serverId === "") {
    throw invalidInputError(
      "no DB-GPT server is configured: select a dbgpt-config node in the node's settings",
    );
  }
  const found = RED.nodes.getNode(serverId) as (Node & Partial<DbgptServer>) | null;
  if (!found || found.type !== "dbgpt-config" || typeof found.client !== "function") {
    throw invalidInputError(`the DB-GPT server configuration ${serverId} is missing or disabled`);
  }
  return found as Node & DbgptServer;
}
