/**
 * The one status helper: blue "requesting", green "N streaming" (", M queued"), cleared when idle, red ring
 * with a short text on failure until the next request starts. Updates are throttled to at most one per
 * 250 ms per node; a trailing update always shows the latest state.
 *
 * Texts without a number are sent as keys of the node's own message catalog ("dbgpt.status.requesting",
 * "dbgpt.status.error.DBGPT_CONNECT"): the editor translates a status text that is a catalog key for each
 * viewer (node._(text), in the node set's namespace), so a Chinese editor shows Chinese statuses whatever
 * the runtime's language. The editor passes no parameters, so texts with counts ("3 streaming, 2 queued")
 * are translated here, in the runtime's language; "HTTP 404" needs no translation.
 */
import { performance } from "node:perf_hooks";
import type { DbgptError } from "../../client";
import type { Node, NodeStatus } from "./red";
import { hasStatusText, type Translate } from "./texts";

const MIN_INTERVAL_MS = 250;

/** What the node is doing right now, read whenever the status is (re)computed. */
export interface Activity {
  /** Requests that left the queue and have not ended. */
  active: number;
  /** Of those, how many have received answer data. */
  streaming: number;
  /** Requests waiting for a free slot. */
  queued: number;
}

export class StatusIndicator {
  private errorText: string | undefined;
  private shownKey = "";
  private shownAt = Number.NEGATIVE_INFINITY;
  /** Cancels the pending update (a setImmediate or a setTimeout), when one is pending. */
  private cancelPending: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly node: Node,
    private readonly t: Translate,
    private readonly activity: () => Activity,
  ) {}

  /** A request left the queue: the error ring of the previous failure gives way (at the next refresh()). */
  requestStarted(): void {
    this.errorText = undefined;
  }

  failed(error: DbgptError | Error): void {
    this.errorText = shortErrorText(error);
    this.refresh();
  }

  /**
   * The activity changed: show it in this turn's check phase (after the request or the message that
   * changed it has gone: the status is never on the way to the server or to the next node), or at the
   * end of the current 250 ms window.
   */
  refresh(): void {
    if (this.closed || this.cancelPending) return;
    const wait = this.shownAt + MIN_INTERVAL_MS - performance.now();
    const show = () => {
      this.cancelPending = undefined;
      this.show();
    };
    if (wait <= 0) {
      const immediate = setImmediate(show);
      this.cancelPending = () => clearImmediate(immediate);
    } else {
      const timer = setTimeout(show, Math.ceil(wait));
      this.cancelPending = () => clearTimeout(timer);
    }
  }

  close(): void {
    this.closed = true;
    this.cancelPending?.();
    this.cancelPending = undefined;
    if (this.shownKey !== "{}") this.node.status({});
  }

  private show(): void {
    if (this.closed) return;
    const status = this.compute();
    const key = JSON.stringify(status);
    if (key === this.shownKey) return;
    this.shownKey = key;
    this.shownAt = performance.now();
    this.node.status(status);
  }

  private compute(): NodeStatus {
    if (this.errorText !== undefined) return { fill: "red", shape: "ring", text: this.errorText };
    const { active, streaming, queued } = this.activity();
    if (active === 0 && queued === 0) return {};
    if (streaming === 0 && queued === 0)
      return { fill: "blue", shape: "dot", text: statusKey("status.requesting") };
    let text =
      streaming > 0 ? this.t("status.streaming", { n: active }) : this.t("status.requesting", { n: active });
    if (queued > 0) text += `, ${this.t("status.queued", { n: queued })}`;
    return { fill: streaming > 0 ? "green" : "blue", shape: "dot", text };
  }
}

/** A status text the editor translates for each viewer: the key of `key` in the node's own catalog. */
export function statusKey(key: string): string {
  return `dbgpt.${key}`;
}

function shortErrorText(error: DbgptError | Error): string {
  const code = (error as { code?: unknown }).code;
  const statusCode = (error as { statusCode?: unknown }).statusCode;
  if (typeof code !== "string" || !hasStatusText(`status.error.${code}`))
    return statusKey("status.error.unknown");
  if (code === "DBGPT_STREAM_CLOSED" && typeof (error as DbgptError).unknownApp === "string") {
    return statusKey("status.error.unknownApp");
  }
  if (code === "DBGPT_HTTP" && typeof statusCode === "number") return `HTTP ${statusCode}`;
  return statusKey(`status.error.${code}`);
}
