/**
 * dbgpt-list-apps: any input lists the server's apps. msg.payload = the app objects in the server's order,
 * msg.dbgpt = { total }. "Agent apps only" drops the apps chat_app cannot talk to.
 */
import { isAgentApp } from "../client";
import { isOn } from "./shared/inputs";
import { warnOnce } from "./shared/notices";
import type { Node, NodeAPI, NodeDef } from "./shared/red";
import { handleSingleRequests } from "./shared/single-request";

interface ListAppsDef extends NodeDef {
  server?: string;
  agentAppsOnly?: boolean | string;
}

function setUpListAppsNode(RED: NodeAPI, node: Node, def: ListAppsDef): void {
  const agentAppsOnly = isOn(def.agentAppsOnly, false);
  const warn = warnOnce(node);

  handleSingleRequests(RED, node, def.server, async (_msg, client, options) => {
    const { apps, totalCount } = await client.listApps(options);
    if (apps.length < totalCount) {
      warn("short-list", `the server reported ${totalCount} apps but returned only ${apps.length}`);
    }
    const payload = agentAppsOnly ? apps.filter(isAgentApp) : apps;
    return { payload, dbgpt: { total: payload.length } };
  });
}

export = function (RED: NodeAPI) {
  function DbgptListAppsNode(this: Node, def: ListAppsDef) {
    RED.nodes.createNode(this, def);
    setUpListAppsNode(RED, this, def);
  }

  RED.nodes.registerType("dbgpt-list-apps", DbgptListAppsNode);
};
