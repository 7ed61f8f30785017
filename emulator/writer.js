"use strict";
// Writes one response: headers, then each chunk as its own write (one SSE event = one HTTP chunk),
// with the configured delay between stream events, respecting backpressure, and applying a fault.
// Everything stops as soon as the client goes away (the response's "close").

/**
 * One write = one HTTP chunk. Node.js 24 holds the writes made in one tick and sends them as a single
 * chunk on the next; uncorking after each write sends it at once, as Node.js 20 does (a no-op there).
 */
function writeChunk(res, data, callback) {
  res.write(data, callback);
  res.uncork();
  // What write() returned was measured while the data was held; whether to wait is the socket's call.
  return !(res.socket && res.socket.writableNeedDrain);
}

/** Per-response cancellation: sleeps and drain waits end when the response closes. */
class ResponseContext {
  constructor(res, timers) {
    this.res = res;
    this.closed = false;
    this.timers = timers; // the emulator's set of live timers (close() clears them)
    this.wakers = new Set();
    res.once("close", () => this.cancel());
  }

  cancel() {
    this.closed = true;
    for (const wake of this.wakers) wake();
    this.wakers.clear();
  }

  sleep(ms) {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      const wake = () => {
        clearTimeout(timer);
        this.timers.delete(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.timers.add(timer);
      this.wakers.add(wake);
    });
  }

  /**
   * Sleeps until `ms` after `from` (a performance.now() reading) to within a few microseconds: a timer
   * fires up to about a millisecond off (Node's timers count whole milliseconds of the loop's time), so
   * the last 2 ms are waited out by turns of the event loop (setImmediate), which keep serving I/O.
   * The benchmark of the time to the first delta measures against this delay.
   */
  async sleepUntil(from, ms) {
    const until = from + ms;
    if (ms > 2) await this.sleep(until - performance.now() - 2);
    while (!this.closed && performance.now() < until) await new Promise((resolve) => setImmediate(resolve));
  }

  /**
   * Waits for "drain", then for the event loop's check phase. On loopback a write often completes at
   * once and "drain" comes on process.nextTick, so without the setImmediate the writer would starve
   * everything else in the process (an in-process client included) until the kernel buffers fill.
   */
  drain() {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      let immediate;
      // The socket's "drain" (see writeChunk): the response's own comes only after a write it refused.
      const target = this.res.socket || this.res;
      const wake = () => {
        target.off("drain", onDrain);
        if (immediate) clearImmediate(immediate);
        this.wakers.delete(wake);
        resolve();
      };
      const onDrain = () => {
        immediate = setImmediate(wake);
      };
      target.once("drain", onDrain);
      this.wakers.add(wake);
    });
  }

  /** Resolves when `data` has been handed to the kernel (or the response closed). */
  flushed(data) {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      const wake = () => {
        this.wakers.delete(wake);
        resolve();
      };
      this.wakers.add(wake);
      writeChunk(this.res, data, wake);
    });
  }
}

/** Ends the connection without the chunked terminator once what was written has left. */
function destroyAfterFlush(res, ctx) {
  const socket = res.socket;
  if (!socket || socket.destroyed) return;
  if (!res.headersSent) res.flushHeaders();
  socket.end();
  const done = () => {
    clearTimeout(timer);
    ctx.timers.delete(timer);
    socket.destroy();
  };
  const timer = setTimeout(done, 1000);
  ctx.timers.add(timer);
  socket.once("finish", done);
  socket.once("close", done);
}

/** Two events as one write; events are strings, or Buffers when huge. */
function joinUnits(a, b) {
  if (typeof a === "string" && typeof b === "string") return a + b;
  return Buffer.concat([Buffer.from(a), Buffer.from(b)]);
}

/**
 * Sends `response` ({ status, headers, chunks, end, sse }) on `res`.
 * options: { delayMs, fault (normalised or undefined), timers (Set), record (gets `eventsWritten`) }.
 */
async function writeResponse(res, response, { delayMs = 0, fault, timers, record = {} }) {
  const ctx = new ResponseContext(res, timers);
  const f = fault || {};
  if (f.stall === "before-headers") return;
  // The first event is made before the headers go out, so that a huge one (hugeEvent) does not leave
  // a gap of silence between the headers and the body that only the emulator's CPU time explains.
  const iterator = response.chunks[Symbol.iterator]();
  let prefetched = iterator.next();
  const nextEvent = () => {
    if (!prefetched) return iterator.next();
    const step = prefetched;
    prefetched = null;
    return step;
  };
  res.writeHead(response.status, response.headers);
  if (response.sse || f.stall || f.firstEventDelayMs !== undefined) res.flushHeaders();
  const headersAt = performance.now();
  if (f.stall === "after-headers") return;
  if (f.firstEventDelayMs) {
    await ctx.sleepUntil(headersAt, f.firstEventDelayMs);
    if (ctx.closed) return;
  }

  // Byte-level faults see the body as one byte string: pieces are cut at their offsets, across event
  // boundaries (drip/splitAt/splitEvery hold back an incomplete piece until more bytes or the end).
  const pieceMode = Boolean(f.drip || f.splitAt || f.splitEvery);
  const byteLevel = pieceMode || f.cutAfterBytes !== undefined;
  const eventLimit = f.stall === "after-events" ? f.stallEvents : f.cutAfterEvents;
  const perWrite = f.eventsPerWrite || 1;
  const pause = response.sse ? delayMs : 0;
  let events = 0;
  let bodyBytes = 0; // body bytes written
  let pending = Buffer.alloc(0);
  let splitIndex = 0;
  let first = true;
  record.eventsWritten = 0;

  const nextBoundary = (abs) => {
    let at = Infinity;
    if (f.drip) at = Math.min(at, abs + f.drip.bytes);
    if (f.splitEvery) at = Math.min(at, abs + f.splitEvery - (abs % f.splitEvery));
    if (f.splitAt) {
      while (splitIndex < f.splitAt.length && f.splitAt[splitIndex] <= abs) splitIndex++;
      if (splitIndex < f.splitAt.length) at = Math.min(at, f.splitAt[splitIndex]);
    }
    if (f.cutAfterBytes !== undefined) at = Math.min(at, f.cutAfterBytes);
    return at;
  };

  // Writes what is pending (all of it when `final`). Returns false once the connection is cut or gone.
  const emit = async (final) => {
    while (pending.length > 0) {
      if (f.cutAfterBytes !== undefined && bodyBytes >= f.cutAfterBytes) break;
      let length = nextBoundary(bodyBytes) - bodyBytes;
      if (length > pending.length) {
        if (pieceMode && !final) return true;
        length = pending.length;
      }
      if (f.drip && bodyBytes > 0) {
        await ctx.sleep(f.drip.intervalMs);
        if (ctx.closed) return false;
      }
      const piece = pending.subarray(0, length);
      pending = pending.subarray(length);
      await ctx.flushed(piece);
      bodyBytes += length;
      if (ctx.closed) return false;
    }
    if (f.cutAfterBytes !== undefined && bodyBytes >= f.cutAfterBytes) {
      destroyAfterFlush(res, ctx);
      return false;
    }
    return true;
  };

  if (f.cutAfterBytes === 0) return destroyAfterFlush(res, ctx);
  let exhausted = false;
  while (!exhausted) {
    if (eventLimit !== undefined && events >= eventLimit) break;
    let unit = "";
    let taken = 0;
    const want = eventLimit === undefined ? perWrite : Math.min(perWrite, eventLimit - events);
    while (taken < want) {
      const step = nextEvent();
      if (step.done) {
        exhausted = true;
        break;
      }
      unit = taken === 0 ? step.value : joinUnits(unit, step.value);
      taken++;
    }
    if (taken === 0) break;
    if (!first && pause > 0) {
      await ctx.sleep(pause);
      if (ctx.closed) return;
    }
    first = false;
    events += taken;
    record.eventsWritten = events;
    if (byteLevel) {
      const bytes = Buffer.isBuffer(unit) ? unit : Buffer.from(unit);
      pending = pending.length ? Buffer.concat([pending, bytes]) : bytes;
      if (!(await emit(false))) return;
    } else if (!writeChunk(res, unit)) {
      // The hot path awaits only for backpressure (or the delay above): no promise per event.
      await ctx.drain();
      if (ctx.closed) return;
    }
  }
  if (byteLevel && !(await emit(true))) return;
  if (eventLimit !== undefined && events >= eventLimit) {
    if (f.stall === "after-events") return; // hold the connection open, write nothing more
    destroyAfterFlush(res, ctx);
    return;
  }
  if (response.end === "destroy") destroyAfterFlush(res, ctx);
  else res.end();
}

module.exports = { writeResponse };
