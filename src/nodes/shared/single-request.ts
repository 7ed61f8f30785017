/**
 * The input/close handling of a node that answers each message with one request and one message
 * (dbgpt-list-apps, dbgpt-get-app): status, msg.requestTimeout and msg.deadline, failures, and aborting on close.
 */
import type { CallOptions, DbgptClient } from "../../client";
import { InFlight } from "./close";
import { failRequest } from "./failure";
import { deadlineOf, requestTimeoutOf } from "./inputs";
import type { CloseDoneFn, DoneFn, InputMessage, Node, NodeAPI, SendFn } from "./red";
import { findServer } from "./server";
import { StatusIndicator } from "./status";
import { createTranslator } from "./texts";

/** What one request answers: the output's payload and msg.dbgpt. */
export interface SingleAnswer {
  payload: unknown;
  dbgpt: Record<string, unknown>;
}

export type SingleRequest = (
  msg: InputMessage,
  client: DbgptClient,
  options: CallOptions,
) => Promise<SingleAnswer>;

export function handleSingleRequests(
  RED: NodeAPI,
  node: Node,
  serverId: unknown,
  request: SingleRequest,
): void {
  const inFlight = new InFlight<AbortController>();
  let closed = false;
  const status = new StatusIndicator(node, createTranslator(RED), () => ({
    active: inFlight.size,
    streaming: 0,
    queued: 0,
  }));

  async function answer(msg: InputMessage, send: SendFn, done: DoneFn, controller: AbortController) {
    try {
      const server = findServer(RED, serverId);
      const options: CallOptions = { signal: controller.signal };
      const idleTimeoutMs = requestTimeoutOf(msg);
      if (idleTimeoutMs !== undefined) options.idleTimeoutMs = idleTimeoutMs;
      const deadlineMs = deadlineOf(msg);
      if (deadlineMs !== undefined) options.deadlineMs = deadlineMs;
      const { payload, dbgpt } = await request(msg, server.client(), options);
      if (closed) return;
      send({ ...msg, payload, dbgpt });
      done();
    } catch (err) {
      // Closing aborts requests on purpose: nothing reaches Catch or the log.
      if (closed) return;
      failRequest(msg, err, done, { status });
    }
  }

  node.on("input", (msg: InputMessage, send: SendFn, done: DoneFn) => {
    const controller = new AbortController();
    const release = inFlight.add(controller);
    status.requestStarted();
    void answer(msg, send, done, controller).finally(() => {
      release();
      status.refresh();
    });
  });

  node.on("close", (_removed: boolean, done: CloseDoneFn) => {
    closed = true;
    for (const controller of inFlight.keys()) controller.abort();
    status.close();
    void inFlight.settled().then(done);
  });
}
