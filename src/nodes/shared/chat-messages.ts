/**
 * What dbgpt-chat sends: the stream messages (output 1) and their pace (a node-wide send budget), the
 * answer's data read from the history after a stream, and the final message's msg.dbgpt (PRODUCT.md,
 * dbgpt-chat "Output 1", "Output 2").
 */
import type { CallOptions, ChatCall, ChatRequest, ChatResult, DbgptClient } from "../../client";
import type { ConversationRequest } from "./chat-settings";
import { StreamCoalescer } from "./coalesce";
import type { WarnOnce } from "./notices";
import type { InputMessage, SendFn } from "./red";

/**
 * Stream messages a node may send before it lets Node-RED deliver them: Node-RED delivers each message in
 * a later setImmediate, so without a bound every readable socket's deltas (tens of thousands with hundreds
 * of fast streams) would wait in memory at once, long enough to be promoted to V8's old space.
 */
const SEND_BUDGET = 250;

/** Something that can stop reading for a while: a chat call. */
type Pausable = Pick<ChatCall, "pause" | "pauseAfterChunk" | "resume">;

/** One per node, shared by all its streams: past the budget, a stream pauses until Node-RED has delivered. */
export class DeliveryBudget {
  private sentThisTurn = 0;
  private deliveryTurn: Promise<void> | undefined;

  /**
   * Counts one message sent by `source`. Its `first` message reaches the next node before the stream
   * goes on (what else is readable by then would otherwise be parsed and sent first, adding its time to
   * the first delta's). Past the budget, the stream stops reading after its current chunk until Node-RED
   * has delivered: stopping after every message instead would cost more than it saves when hundreds of
   * streams are behind.
   */
  sent(source: Pausable, first: boolean): void {
    if (first) {
      source.pause();
      // Node-RED queued the delivery in a setImmediate just now: one queued after it runs later.
      setImmediate(() => source.resume());
    } else if (++this.sentThisTurn >= SEND_BUDGET) {
      source.pauseAfterChunk();
      void this.afterDelivery().then(() => source.resume());
    }
  }

  /** Resolves after Node-RED has delivered what was sent so far: one setImmediate shared by every stream. */
  private afterDelivery(): Promise<void> {
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
 * Sends a call's events as stream messages on output 1 (reasoning only when `emitReasoning`), joined per
 * stream interval; `onFirst` runs after the first. The events come synchronously (no promise per event);
 * a send that throws fails the request, and so does one from the interval's timer (through `abort`).
 * The caller flushes the returned coalescer before the final message or a failure, or disposes of it.
 */
export function sendStream(
  call: ChatCall,
  msg: InputMessage,
  send: SendFn,
  request: ConversationRequest,
  options: { coalesceMs: number; emitReasoning: boolean; budget: DeliveryBudget; abort: () => void },
  onFirst: () => void,
): StreamCoalescer {
  const { convUid: conv_uid, chatMode: chat_mode } = request;
  let index = 0;
  const sendOne = (type: string, text: string) => {
    const first = index === 0;
    const dbgpt = { type, index: index++, conv_uid, chat_mode, model: call.model, id: call.id };
    send([{ ...msg, payload: text, dbgpt }, null]);
    options.budget.sent(call, first);
  };
  const coalescer = new StreamCoalescer(options.coalesceMs, sendOne, options.abort);
  let started = false;
  call.on("event", (event) => {
    if (event.type !== "reasoning" || options.emitReasoning) coalescer.push(event.type, event.text);
    if (!started) {
      started = true;
      onFirst();
    }
  });
  return coalescer;
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

/** The final message's msg.dbgpt; the answer's data are always arrays. */
export function finalDbgpt(
  request: ChatRequest,
  result: ChatResult,
  queuedMs: number,
): Record<string, unknown> {
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
