/** Work in flight, and closing a node: abort it, wait for it to settle, but never beyond a budget. */

/** Node-RED gives a closing node 15 s (nodeCloseTimeout); aborted work normally settles at once. */
const CLOSE_WAIT_MS = 5000;

/** The requests a node has in flight, keyed by anything (a controller, a job). */
export class InFlight<K> {
  private readonly work = new Map<K, Promise<void>>();

  /** Counts `key` as in flight until the returned release function is called. */
  add(key: K): () => void {
    let release = () => {};
    this.work.set(key, new Promise<void>((resolve) => (release = resolve)));
    return () => {
      this.work.delete(key);
      release();
    };
  }

  get size(): number {
    return this.work.size;
  }

  keys(): IterableIterator<K> {
    return this.work.keys();
  }

  /** Resolves when everything in flight has been released, or after the close budget. */
  settled(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_WAIT_MS);
    });
    return Promise.race([Promise.all(this.work.values()), budget]).then(() => clearTimeout(timer));
  }
}
