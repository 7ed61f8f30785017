/**
 * What dbgpt-chat sends: the stream messages' pace (a node-wide send budget) and the final message's
 * msg.dbgpt (PRODUCT.md, dbgpt-chat "Output 2").
 */
import type { ChatRequest, ChatResult } from "../../client";

/**
 * Stream messages a node may send before it lets Node-RED deliver them: Node-RED delivers each message in
 * a later setImmediate, so without a bound every readable socket's deltas (tens of thousands with hundreds
 * of fast streams) would wait in memory at once, long enough to be promoted to V8's old space.
 */
const SEND_BUDGET = 250;

/** Something that can stop reading for a while: a chat call. */
interface Pausable {
  pause(): void;
  resume(): void;
}

/** One per node, shared by all its streams: past the budget, a stream pauses until Node-RED has delivered. */
export class DeliveryBudget {
  private sentThisTurn = 0;
  private deliveryTurn: Promise<void> | undefined;

  /**
   * Counts one message sent by `source`; pauses it until delivery when the budget is spent, and after its
   * `first` message: that one reaches the next node before the stream reads on (what else is readable by
   * then would otherwise be parsed and sent first, adding its time to the first delta's).
   */
  sent(source: Pausable, first: boolean): void {
    const spent = ++this.sentThisTurn >= SEND_BUDGET;
    if (!spent && !first) return;
    source.pause();
    // Node-RED queued the delivery of `first` in a setImmediate just now: one queued after it runs later.
    const delivered = spent ? this.afterDelivery() : new Promise((resolve) => setImmediate(resolve));
    void delivered.then(() => source.resume());
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
