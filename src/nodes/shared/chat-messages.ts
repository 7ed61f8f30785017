/**
 * What dbgpt-chat sends: the stream messages (output 1) and their pace (a node-wide send budget), the
 * answer's data read from the history after a stream, and the final message's msg.dbgpt (PRODUCT.md,
 * dbgpt-chat "Output 1", "Output 2").
 */
import { performance } from "node:perf_hooks";
import {
  stoppedChatResult,
  type CallOptions,
  type ChatCall,
  type ChatEvent,
  type ChatRequest,
  type ChatResult,
  type DbgptClient,
} from "../../client";
import type { ConversationRequest } from "./chat-settings";
import { StreamCoalescer } from "./coalesce";
import type { WarnOnce } from "./notices";
import type { InputMessage, Node, SendFn } from "./red";
import type { Job } from "./requests";

/**
 * Stream messages a node may send in one turn before its streams let Node-RED deliver them: Node-RED
 * delivers each message in a later setImmediate, so without a bound every readable socket's deltas (tens
 * of thousands with hundreds of fast streams) would wait in memory at once, long enough to be promoted to
 * V8's old space. The bound is shared by the node's streams: many streams get SEND_BUDGET between them
 * (the rest of their answers wait unread in the sockets); a stream alone, or one of a few, may send up to
 * TURN_ALONE, so that what it has already read (a chunk holds over a thousand small deltas) goes out in one
 * turn instead of waiting through several, which is what gets it promoted.
 *
 * The streams waiting for a turn each send one message when it comes, before they find it spent, so a
 * turn carries at least one message per waiting stream. Under saturation the bound costs CPU: every turn
 * reads each readable socket once, and shorter turns mean more reads of a delta or two. Longer turns (a
 * budget per stream, or sockets left unread while their stream waits) gave 10-16 % of that CPU back for up
 * to twice the peak memory (bench/RESULTS.md, stop 29); memory first.
 */
const SEND_BUDGET = 250;
const TURN_ALONE = 2000;

/** One per node, shared by all its streams: past the budget, a stream waits until Node-RED has delivered. */
export class DeliveryBudget {
  private sentThisTurn = 0;
  private deliveryTurn: Promise<void> | undefined;
  private streams = 0;

  /** A stream starts sending; call the function returned once when it has ended. */
  join(): () => void {
    this.streams++;
    return () => void this.streams--;
  }

  /** Messages the node's streams may send in one turn between them. */
  get perTurn(): number {
    return Math.max(SEND_BUDGET, Math.floor(TURN_ALONE / Math.max(1, this.streams)));
  }

  /**
   * Counts one message sent; returns what the stream that sent it waits for before it sends on, if
   * anything. After a stream's `first` message: its delivery (what else has arrived by then is sent
   * after it, not before). Past the budget: Node-RED's delivery of everything sent so far.
   */
  sent(first: boolean): Promise<void> | undefined {
    if (first) return deliveredSoFar();
    if (++this.sentThisTurn < this.perTurn) return undefined;
    this.deliveryTurn ??= new Promise((resolve) =>
      setImmediate(() => {
        this.sentThisTurn = 0;
        this.deliveryTurn = undefined;
        resolve();
      }),
    );
    return this.deliveryTurn;
  }
}

/**
 * Resolves once Node-RED has delivered every message sent before the call: it queues each delivery in a
 * setImmediate, and one queued after them runs after them. What is sent then goes out in a later pass of
 * Node's immediates: a pass keeps every immediate it ran linked until it ends, so a final message
 * delivered in the pass of a stream's last 2,000 deltas would be handled with them all still in the heap
 * (bench/RESULTS.md, stop 31).
 */
export function deliveredSoFar(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The stream messages of one request: what is waiting for the stream interval, and how sending ended. */
export interface StreamMessages {
  coalescer: StreamCoalescer;
  /** Resolves once every event the call had has been sent, or sending failed (see `failure`); never rejects. */
  sent: Promise<void>;
  /** What a send threw (from the stream or the interval's timer): the request fails with it. */
  failure: { error: unknown } | undefined;
}

/**
 * Sends a call's events as stream messages on output 1 (reasoning only when `emitReasoning`), joined per
 * stream interval; `onFirst` runs after the first. It iterates the call, so a stream that waits for the
 * budget takes no further event (they wait in the call, which stops reading the response when too many
 * do) and creates no message that would wait for delivery. A send that throws calls `abort` and is
 * kept as the `failure` the request fails with.
 */
export function sendStream(
  call: ChatCall,
  msg: InputMessage,
  send: SendFn,
  request: ConversationRequest,
  options: { coalesceMs: number; emitReasoning: boolean; budget: DeliveryBudget; abort: () => void },
  onFirst: () => void,
): StreamMessages {
  const { convUid: conv_uid, chatMode: chat_mode } = request;
  let index = 0;
  let wait: Promise<void> | undefined;
  const sendOne = (type: string, text: string) => {
    const first = index === 0;
    const dbgpt = { type, index: index++, conv_uid, chat_mode, model: call.model, id: call.id };
    send([{ ...msg, payload: text, dbgpt }, null]);
    wait = options.budget.sent(first) ?? wait;
  };
  const failed = (error: unknown) => {
    out.failure ??= { error };
    options.abort();
  };
  const coalescer = new StreamCoalescer(options.coalesceMs, sendOne, failed);
  // The stream counts for the budget from now until its last event is sent.
  const leaveBudget = options.budget.join();
  const sendAll = async () => {
    const events = call[Symbol.asyncIterator]();
    let started = false;
    let event: ChatEvent | undefined;
    try {
      for (;;) {
        if (event === undefined) {
          const step = await events.next();
          if (step.done) break;
          event = step.value;
        }
        try {
          if (event.type !== "reasoning" || options.emitReasoning) coalescer.push(event.type, event.text);
        } catch (error) {
          void events.return?.();
          return failed(error);
        }
        event = undefined;
        if (!started) {
          started = true;
          onFirst();
        }
        if (wait !== undefined) {
          const waiting = wait;
          wait = undefined;
          await waiting;
          // What arrived meanwhile is taken at once: where the budget binds, one wait per message, not two.
          event = call.take();
        }
      }
    } catch {
      // The call's own failure reaches the request through call.result.
    } finally {
      leaveBudget();
    }
  };
  const out: StreamMessages = { coalescer, sent: sendAll(), failure: undefined };
  return out;
}

/**
 * A streamed chat_data / chat_dashboard / chat_knowledge answer with the data DB-GPT kept in the history
 * (charts, references); when that cannot be read, the answer as it is and a warning (once per node).
 * Stopped meanwhile: the answer, stopped.
 */
export async function withConversationData(
  client: DbgptClient,
  answer: ChatResult,
  request: ConversationRequest,
  options: CallOptions,
  warn: WarnOnce,
): Promise<ChatResult> {
  let filled: Awaited<ReturnType<DbgptClient["addConversationData"]>>;
  try {
    filled = await client.addConversationData(answer, request, options);
  } catch (err) {
    // Stopped while the history was being read: the answer had arrived, the data had not.
    if (options.signal?.aborted) return { ...answer, stopped: true };
    throw err;
  }
  if (filled.historyError !== undefined) {
    const why = filled.historyError.message;
    warn(
      "history",
      `could not read the conversation history for the answer's data (charts, references): ${why}`,
    );
  }
  return filled.result;
}

/** A request on its way to its final message. */
export type FinalTarget = Pick<Job, "msg" | "send" | "done" | "enqueuedAt" | "startedAt"> & {
  request: ConversationRequest;
};

/** The complete output: exactly one final message per request on output 2, then done(). */
export function sendFinal(node: Node, job: FinalTarget, result: ChatResult): void {
  const queuedMs = (job.startedAt ?? performance.now()) - job.enqueuedAt;
  const dbgpt = finalDbgpt(job.request, result, queuedMs);
  try {
    job.send([null, { ...job.msg, payload: result.text, conv_uid: job.request.convUid, dbgpt }]);
  } catch (err) {
    // The final message went out (to the first wire at least): the request is answered, not failed.
    node.error(`could not deliver the final message: ${err instanceof Error ? err.message : String(err)}`);
  }
  job.done();
}

/** The result of a request stopped with `text` received (nothing, when it was still queued). */
export function stoppedResult(job: FinalTarget, text: string): ChatResult {
  const durationMs = job.startedAt === undefined ? 0 : performance.now() - job.startedAt;
  return stoppedChatResult(job.request, text, durationMs);
}

/** The final message's msg.dbgpt; the answer's data are always arrays. */
function finalDbgpt(request: ChatRequest, result: ChatResult, queuedMs: number): Record<string, unknown> {
  const dbgpt: Record<string, unknown> = {
    type: "final",
    conv_uid: request.convUid,
    chat_mode: request.chatMode,
    model: result.model,
    id: result.id ?? null,
    chunks: result.chunks,
    reasoning: result.reasoning,
    queuedMs: Math.round(queuedMs),
    firstTokenMs: result.firstTokenMs === undefined ? null : Math.round(result.firstTokenMs),
    durationMs: Math.round(result.durationMs),
  };
  if (request.chatMode === "chat_app") {
    dbgpt.raw = result.raw ?? "";
    dbgpt.messages = result.messages ?? [];
    dbgpt.plans = result.plans ?? [];
  } else if (result.raw !== undefined) {
    dbgpt.raw = result.raw;
  }
  dbgpt.charts = result.charts ?? [];
  dbgpt.references = result.references ?? [];
  dbgpt.code = result.code ?? [];
  dbgpt.tools = result.tools ?? [];
  if (result.usage !== undefined) dbgpt.usage = result.usage;
  if (result.stopped) dbgpt.stopped = true;
  return dbgpt;
}
