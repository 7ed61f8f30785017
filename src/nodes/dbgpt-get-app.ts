/**
 * dbgpt-get-app: reads one app. The id comes from a TypedInput (default msg.payload); an app object with a
 * string app_code (as after list-apps and a split) is accepted too. msg.payload = the app object.
 */
import { invalidInputError } from "../client";
import { describe, evaluateTypedInput } from "./shared/inputs";
import type { Node, NodeAPI, NodeDef } from "./shared/red";
import { handleSingleRequests } from "./shared/single-request";

interface GetAppDef extends NodeDef {
  server?: string;
  appId?: string;
  appIdType?: string;
}

function appIdOf(value: unknown): string {
  if (typeof value === "string") return value;
  if (value && typeof value === "object" && typeof (value as { app_code?: unknown }).app_code === "string") {
    return (value as { app_code: string }).app_code;
  }
  throw invalidInputError(
    `the app id must be a string or an app object with an app_code, got ${describe(value)}`,
  );
}

function setUpGetAppNode(RED: NodeAPI, node: Node, def: GetAppDef): void {
  const appIdType = def.appIdType || "msg";
  const appId = def.appId ?? (appIdType === "msg" ? "payload" : "");

  handleSingleRequests(RED, node, def.server, async (msg, client, options) => {
    const read = evaluateTypedInput(RED, node, "app id", appId, appIdType, msg);
    const id = appIdOf(read instanceof Promise ? await read : read.value);
    const app = await client.getApp(id, options);
    return { payload: app, dbgpt: { app_code: id } };
  });
}

export = function (RED: NodeAPI) {
  function DbgptGetAppNode(this: Node, def: GetAppDef) {
    RED.nodes.createNode(this, def);
    setUpGetAppNode(RED, this, def);
  }

  RED.nodes.registerType("dbgpt-get-app", DbgptGetAppNode);
};
