/**
 * The input/close handling of a node that answers each message with one request and one message
 * (dbgpt-list-apps, dbgpt-get-app), on the shared request life cycle (./requests): msg.requestTimeout and
 * msg.deadline, one output message or one failure, nothing after close.
 */
import type { CallOptions, DbgptClient } from "../../client";
import { failRequest } from "./failure";
import { callOptionsOf } from "./inputs";
import type { CloseDoneFn, DoneFn, InputMessage, Node, NodeAPI, SendFn } from "./red";
import { findServer } from "./server";
import { newJob, Requests, type Job } from "./requests";

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
  const requests: Requests<Job> = new Requests(RED, node, 0, async (job) => {
    const { msg } = job;
    try {
      const server = findServer(RED, serverId);
      const { payload, dbgpt } = await request(msg, server.client(), callOptionsOf(msg, job.controller));
      if (requests.closed) return;
      job.send({ ...msg, payload, dbgpt });
      job.done();
    } catch (err) {
      // Closing aborts requests on purpose: nothing reaches Catch or the log.
      if (requests.closed) return;
      failRequest(msg, err, job.done, { status: requests.status });
    }
  });

  node.on("input", (msg: InputMessage, send: SendFn, done: DoneFn) => {
    requests.submit(newJob({ msg, send, done }));
  });
  node.on("close", (_removed: boolean, done: CloseDoneFn) => requests.close(done));
}
