/**
 * The life of a node's requests, for every node: each input message becomes a job that starts at once or,
 * beyond "max concurrent", waits in a queue (never dropped); the status shows what runs, streams and waits;
 * a stop empties matching jobs out of the queue and aborts the running ones; closing the node aborts
 * everything silently and waits (within Node-RED's close budget) for it to settle.
 */
import { performance } from "node:perf_hooks";
import { warnOnce } from "./notices";
import type { CloseDoneFn, DoneFn, InputMessage, Node, NodeAPI, SendFn } from "./red";
import { StatusIndicator } from "./status";
import { createTranslator } from "./texts";

const QUEUE_WARNING_LENGTH = 1000;
/** Node-RED gives a closing node 15 s (nodeCloseTimeout); aborted work normally settles at once. */
const CLOSE_WAIT_MS = 5000;

/** The jobs a node has running, each with its end (a promise that never rejects) once it has started. */
class InFlight<K> {
  private readonly work = new Map<K, Promise<void> | undefined>();

  add(key: K): void {
    this.work.set(key, undefined);
  }

  /** `key` ends when `ended` settles (if it is still in flight then). */
  endsWith(key: K, ended: Promise<void>): void {
    if (this.work.has(key)) this.work.set(key, ended);
  }

  delete(key: K): void {
    this.work.delete(key);
  }

  get size(): number {
    return this.work.size;
  }

  keys(): IterableIterator<K> {
    return this.work.keys();
  }

  /** Resolves when everything in flight has ended, or after the close budget. */
  settled(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_WAIT_MS);
    });
    return Promise.race([Promise.all(this.work.values()), budget]).then(() => clearTimeout(timer));
  }
}

/** One input message on its way: queued, then running, then ended. */
export interface Job {
  msg: InputMessage;
  send: SendFn;
  done: DoneFn;
  controller: AbortController;
  enqueuedAt: number;
  startedAt?: number;
  /** Answer data has arrived (for the status). */
  streaming: boolean;
}

/** A job from its fields; a new controller and "enqueued now" unless given. */
export function newJob<J extends Job>(
  fields: Omit<J, "controller" | "enqueuedAt" | "startedAt" | "streaming"> &
    Partial<Pick<Job, "controller" | "enqueuedAt">>,
): J {
  return {
    ...fields,
    controller: fields.controller ?? new AbortController(),
    enqueuedAt: fields.enqueuedAt ?? performance.now(),
    streaming: false,
  } as J;
}

export class Requests<J extends Job> {
  readonly status: StatusIndicator;
  private readonly running = new InFlight<J>();
  private queue: J[] = [];
  private isClosed = false;
  private readonly warn: ReturnType<typeof warnOnce>;

  /**
   * `run` carries a started job to its end (it never rejects: it reports through the job's done);
   * `maxConcurrent` 0 means no limit.
   */
  constructor(
    RED: NodeAPI,
    node: Node,
    private readonly maxConcurrent: number,
    private readonly run: (job: J) => Promise<void>,
  ) {
    this.warn = warnOnce(node);
    this.status = new StatusIndicator(node, createTranslator(RED), () => {
      let streaming = 0;
      for (const job of this.running.keys()) if (job.streaming) streaming++;
      return { active: this.running.size, streaming, queued: this.queue.length };
    });
  }

  /** The node is closing (or closed): nothing may be sent any more. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Starts the job now, or queues it behind "max concurrent". */
  submit(job: J): void {
    if (this.isClosed) return;
    if (this.hasSlot()) {
      this.start(job);
      return;
    }
    this.queue.push(job);
    if (this.queue.length > QUEUE_WARNING_LENGTH) {
      this.warn("queue", `more than ${QUEUE_WARNING_LENGTH} messages are waiting for a free request slot`);
    }
    this.status.refresh();
  }

  /** Aborts the running jobs that match and takes the queued ones out, handing each to `unqueued`. */
  stop(matches: (job: J) => boolean, unqueued: (job: J) => void): void {
    const removed = this.queue.filter(matches);
    this.queue = this.queue.filter((job) => !matches(job));
    for (const job of removed) unqueued(job);
    for (const job of this.running.keys()) if (matches(job)) job.controller.abort();
    this.status.refresh();
  }

  /** Node-RED's close handler: abort everything, send nothing more, call done once it has settled. */
  close(done: CloseDoneFn): void {
    this.isClosed = true;
    this.queue = [];
    for (const job of this.running.keys()) job.controller.abort();
    this.status.close();
    void this.running.settled().then(done);
  }

  private hasSlot(): boolean {
    return this.maxConcurrent === 0 || this.running.size < this.maxConcurrent;
  }

  private start(job: J): void {
    job.startedAt = performance.now();
    this.running.add(job);
    this.status.requestStarted();
    const running = this.run(job);
    // Queued now: a chat's run() has handed its request to undici, whose write waits for the check phase
    // too, so the request goes out before the status update is made.
    this.status.refresh();
    const ended = () => this.ended(job);
    this.running.endsWith(job, running.then(ended, ended));
  }

  private ended(job: J): void {
    this.running.delete(job);
    while (!this.isClosed && this.queue.length > 0 && this.hasSlot()) this.start(this.queue.shift() as J);
    this.status.refresh();
  }
}
