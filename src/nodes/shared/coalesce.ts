/**
 * The stream interval (`coalesceMs`): the deltas of one request are sent as at most one message per
 * interval, their texts joined in order. A delta that comes when the last message is at least an interval
 * old goes out at once; later ones wait for the end of the interval. Any other message (replace,
 * reasoning) first sends the text waiting before it, and so does `flush()` (the final message, a stop, a
 * failure). Folding the messages sent still gives exactly the text received.
 */

/** Sends one stream message of `type` with `text`; may throw (Node-RED's send). */
export type StreamSender = (type: string, text: string) => void;

export class StreamCoalescer {
  private waiting = "";
  private lastSentAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param intervalMs 0 sends every message as it comes.
   * @param sendMessage the node's send of one stream message.
   * @param onTimerFailure called once when a send made from the timer throws (the request fails with it).
   */
  constructor(
    private readonly intervalMs: number,
    private readonly sendMessage: StreamSender,
    private readonly onTimerFailure: (error: unknown) => void,
  ) {}

  push(type: string, text: string): void {
    if (this.intervalMs <= 0) {
      this.sendMessage(type, text);
      return;
    }
    if (type !== "delta") {
      this.flush();
      this.sendMessage(type, text);
      return;
    }
    this.waiting += text;
    if (this.timer !== undefined) return;
    const wait = this.lastSentAt + this.intervalMs - performance.now();
    if (wait <= 0) this.sendWaiting();
    else this.sendLater(wait);
  }

  /** Sends the text waiting now (before a final message, a stop or a failure). */
  flush(): void {
    this.cancelTimer();
    this.sendWaiting();
  }

  /** Drops what is waiting and the timer (the node is closing: nothing more is sent). */
  dispose(): void {
    this.cancelTimer();
    this.waiting = "";
  }

  private sendWaiting(): void {
    if (this.waiting === "") return;
    const text = this.waiting;
    this.waiting = "";
    this.lastSentAt = performance.now();
    this.sendMessage("delta", text);
  }

  /** Sends what waits once `wait` ms have passed. */
  private sendLater(wait: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // Node's timers count from the event loop's cached time, so they may fire a little early.
      const early = this.lastSentAt + this.intervalMs - performance.now();
      if (early > 0) return this.sendLater(Math.ceil(early));
      try {
        this.sendWaiting();
      } catch (error) {
        this.onTimerFailure(error);
      }
    }, wait);
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
