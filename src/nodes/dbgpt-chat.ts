/**
 * dbgpt-chat: asks a DB-GPT chat mode a question. Output 1 streams one message per delta (or replace /
 * reasoning; joined per stream interval), output 2 gets exactly one final message per request. Requests
 * beyond "max concurrent" wait in a queue; msg.stop aborts (all, or one conversation's); closing aborts
 * everything silently.
 */
import { performance } from "node:perf_hooks";
import { isDbgptError, type CallOptions, type DbgptClient, type DbgptError } from "../client";
import {
  DeliveryBudget,
  deliveredSoFar,
  sendFinal,
  sendStream,
  stoppedResult,
  withConversationData,
  type StreamMessages,
} from "./shared/chat-messages";
import {
  chatRequestOf,
  MESSAGES_ARRAY_NOTICE,
  parseChatSettings,
  type ChatDef,
  type ChatSettings,
  type ConversationRequest,
} from "./shared/chat-settings";
import { failRequest } from "./shared/failure";
import { callOptionsOf, isBlank } from "./shared/inputs";
import { warnOnce } from "./shared/notices";
import type { CloseDoneFn, DoneFn, InputMessage, Node, NodeAPI, SendFn } from "./shared/red";
import { newJob, Requests, type Job } from "./shared/requests";
import { findServer } from "./shared/server";

interface ChatJob extends Job {
  client: DbgptClient;
  request: ConversationRequest;
  callOptions: CallOptions;
}

function setUpChatNode(RED: NodeAPI, node: Node, def: ChatDef): void {
  const warn = warnOnce(node);
  let settings: ChatSettings | undefined;
  let settingsProblem: DbgptError | undefined;
  try {
    settings = parseChatSettings(def);
  } catch (err) {
    settingsProblem = err as DbgptError;
  }
  const budget = new DeliveryBudget();
  const requests: Requests<ChatJob> = new Requests(RED, node, settings?.maxConcurrent ?? 0, run);
  const { status } = requests;

  /** Settings, server and request for one message; a problem fails the message before anything is sent. */
  async function accept(msg: InputMessage, send: SendFn, done: DoneFn) {
    const enqueuedAt = performance.now();
    let job: ChatJob;
    try {
      if (!settings) throw settingsProblem;
      const server = findServer(RED, def.server);
      const reading = chatRequestOf(RED, node, def, settings, msg, server.defaultModel);
      const asked = reading instanceof Promise ? await reading : reading;
      if (asked.fromMessages) warn("messages-array", MESSAGES_ARRAY_NOTICE);
      const controller = new AbortController();
      const callOptions = callOptionsOf(msg, controller);
      job = newJob<ChatJob>({
        msg,
        send,
        done,
        controller,
        enqueuedAt,
        client: server.client(),
        request: asked.request,
        callOptions,
      });
    } catch (err) {
      if (!requests.closed) failRequest(msg, err, done, { status, withPartial: true });
      return;
    }
    requests.submit(job);
  }

  /** One started request to its one outcome: the final message, or a failure with the partial text. */
  async function run(job: ChatJob) {
    const { stream, emitReasoning, coalesceMs } = settings as ChatSettings;
    let streamed: StreamMessages | undefined;
    try {
      const call = job.client.chat(job.request, job.callOptions);
      if (stream) {
        const options = { coalesceMs, emitReasoning, budget, abort: () => job.controller.abort() };
        streamed = sendStream(call, job.msg, job.send, job.request, options, () => {
          job.streaming = true;
          status.refresh();
        });
      }
      let answer = await call.result;
      await streamed?.sent; // every delta goes out before the final message
      if (streamed?.failure !== undefined) throw streamed.failure.error;
      if (requests.closed) return streamed?.coalescer.dispose();
      streamed?.coalescer.flush();
      if (stream) {
        answer = await withConversationData(job.client, answer, job.request, job.callOptions, warn);
        await deliveredSoFar(); // the final is delivered in a pass of its own, not in the deltas' last one
      }
      if (!requests.closed) sendFinal(node, job, answer);
    } catch (err) {
      if (requests.closed) return streamed?.coalescer.dispose();
      if (streamed?.failure !== undefined) {
        return failRequest(job.msg, streamed.failure.error, job.done, { status, withPartial: true });
      }
      // What waited for the stream interval goes out before the final message or the failure.
      try {
        await streamed?.sent;
        streamed?.coalescer.flush();
      } catch {
        // The send fails again: the request's own outcome below is what counts.
      }
      if (job.controller.signal.aborted) {
        // Stopped while the failure raced the abort: a stop is never an error.
        sendFinal(node, job, stoppedResult(job, isDbgptError(err) ? (err.partial ?? "") : ""));
      } else {
        failRequest(job.msg, err, job.done, { status, withPartial: true });
      }
    }
  }

  node.on("input", (msg: InputMessage, send: SendFn, done: DoneFn) => {
    if (msg.stop === true) {
      // msg.stop: abort this node's requests (or one conversation's); queued ones end stopped, unasked.
      const convUid = isBlank(msg.conv_uid) ? undefined : String(msg.conv_uid);
      requests.stop(
        (job) => convUid === undefined || job.request.convUid === convUid,
        (job) => sendFinal(node, job, stoppedResult(job, "")),
      );
      done();
      return;
    }
    void accept(msg, send, done);
  });
  node.on("close", (_removed: boolean, done: CloseDoneFn) => requests.close(done));
}

export = function (RED: NodeAPI) {
  function DbgptChatNode(this: Node, def: ChatDef) {
    RED.nodes.createNode(this, def);
    setUpChatNode(RED, this, def);
  }

  RED.nodes.registerType("dbgpt-chat", DbgptChatNode);
};
