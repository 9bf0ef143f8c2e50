// Generic QUIC stream and datagram objects for JavaScript servers (issue 10):
// WHATWG ReadableStream / WritableStream over one QUIC stream, with backpressure
// both ways, and a bounded datagram duplex. Used by WebTransport sessions
// (api/wt_session.js); written against a small `owner` interface so raw QUIC
// connections (createQuicServer / createQuic, not built yet) can reuse them.
// Design and limits: docs/JS_SERVERS.md, "WebTransport sessions".
//
// The owner implements:
//   owner.credit(id, n)        n bytes of stream `id` were read (or discarded): give credit back
//   owner.ready(id)            stream `id` has output to pull: mark the session, wake the server
//   owner.reset(id, code)      RESET_STREAM with the application code JavaScript gave
//   owner.stopSending(id, code) STOP_SENDING with that code
//   owner.maxCode              the largest application code JavaScript may give (larger: 0)
//   owner.forget(id)           both directions of `id` are done on the JavaScript side
//   owner.wake()               new control output (datagrams) to pull; called per datagram,
//                              the owner wakes the loop at most once per task
//
// Nothing here runs user code synchronously: chunks are handed to readers
// through the streams' own promise machinery.

import { SocketIWAError } from './errors.js';

/** Bytes of a stream's output JavaScript holds before a write waits (the rest waits in the writer's queue). */
export const OUT_HIGH_WATER = 256 * 1024;
/** Incoming datagrams queued for a reader; over it the oldest is dropped (and counted). */
export const INCOMING_DATAGRAMS = 128;
/** Outgoing datagrams queued for the server's loop; over it a write waits. */
export const OUTGOING_DATAGRAMS = 64;

/** Stream record kinds a pull writes (src/app/js_wt.rs ST_*). */
export const ST_DATA = 1, ST_FIN = 2;

/**
 * An error of a WebTransport (or QUIC) session or stream, shaped like the W3C
 * WebTransportError: `source` is 'stream' or 'session'; `streamErrorCode` the
 * application code of a RESET_STREAM / STOP_SENDING (null when none).
 */
export class WebTransportError extends SocketIWAError {
  constructor(code, message, { source = 'stream', streamErrorCode = null, cause } = {}) {
    super(code, message, cause !== undefined ? { cause } : {});
    this.name = 'WebTransportError';
    this.source = source;
    this.streamErrorCode = streamErrorCode;
  }
}

/**
 * The application code a stream abort/cancel reason carries: its streamErrorCode when an
 * integer 0..max, else 0 (max: 2^32-1 for a WebTransport session, 2^53-1 for a QUIC connection).
 */
export function reasonCode(reason, max) {
  const c = reason && typeof reason === 'object' ? reason.streamErrorCode : undefined;
  return Number.isInteger(c) && c >= 0 && c <= max ? c : 0;
}

// The byte queues a QuicStream and an HTTP/3 request stream (api/h3_server.js) share, as plain
// functions on their fields (per-chunk paths: no callbacks, no objects in between):
//   incoming  q.inQueue (Uint8Array[]), q.inBytes, q.inEnded, q.inCtl (the ReadableStream's controller)
//   outgoing  q.out (first: { bytes, off }), q.outBytes, q.drained (resolve of a write waiting at OUT_HIGH_WATER)
// What differs stays with the callers: how read bytes are credited, the pull's resolve, other records.

/**
 * Hands the next queued incoming chunk to the ReadableStream, or closes it when the peer ended
 * and the queue is empty: the chunk's length (the caller credits it and resolves its pull), -1
 * for the close, 0 for nothing to do.
 */
export function feedNext(q) {
  if (q.inQueue.length) {
    const b = q.inQueue.shift();
    q.inBytes -= b.length;
    q.inCtl.enqueue(b);
    return b.length;
  }
  if (!q.inEnded) return 0;
  try { q.inCtl.close(); } catch { /* cancelled */ }
  return -1;
}

/**
 * Writes the queued outgoing bytes, from as many consecutive body chunks as fit, into `view`
 * (wasm memory) as one record `kind` (one byte) of at most `max` body bytes: the record's
 * length, 0 when none fit. Entries without `bytes` (a FIN, an end of response) stop it. A
 * write waiting for the queue to fall under OUT_HIGH_WATER is woken.
 */
export function pullBody(q, view, kind, max) {
  const limit = Math.min(max, view.length - 1);
  let n = 0;
  while (n < limit && q.out.length) {
    const a = q.out[0];
    if (a.bytes === undefined) break;
    const k = Math.min(a.bytes.length - a.off, limit - n);
    view.set(a.off === 0 && k === a.bytes.length ? a.bytes : a.bytes.subarray(a.off, a.off + k), 1 + n);
    a.off += k;
    n += k;
    if (a.off >= a.bytes.length) q.out.shift();
  }
  if (n <= 0) return 0;
  view[0] = kind;
  q.outBytes -= n;
  if (q.drained && q.outBytes < OUT_HIGH_WATER) { const d = q.drained; q.drained = null; queueMicrotask(d); }
  return 1 + n;
}

function toBytes(chunk, what) {
  if (chunk instanceof Uint8Array) return chunk;
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  const e = new TypeError(`${what}: chunks must be Uint8Array, ArrayBufferView or ArrayBuffer`);
  e.code = 'ERR_INVALID_ARG_TYPE';
  throw e;
}

/**
 * One QUIC stream on the JavaScript side. `readable` exists when the peer sends
 * on it, `writable` when we do. Incoming bytes are credited to the peer only as
 * the reader takes them; outgoing bytes are pulled by the server loop within
 * the stream's window and the connection's budget (writes wait meanwhile).
 */
export class QuicStream {
  /**
   * @param {object} owner see the file header
   * @param {number} id the QUIC stream id
   * @param {{ readable: boolean, writable: boolean }} dirs
   */
  constructor(owner, id, { readable, writable }) {
    this.owner = owner;
    this.id = id;
    // Incoming side.
    this.inQueue = [];
    this.inBytes = 0;
    this.inEnded = !readable;
    this.inDone = !readable;     // nothing more will be read (ended and drained, reset, cancelled)
    this.inCtl = null;
    this.inWaiting = null;       // resolve of a pending pull
    // Outgoing side.
    this.out = [];               // { bytes, off } | { fin: true }
    this.outBytes = 0;
    this.outDone = !writable;    // FIN pulled, reset, stopped
    this.drained = null;         // resolve of a waiting write
    this.finSent = null;         // resolve of close()
    this.outError = null;
    if (readable) {
      this.readable = new ReadableStream({
        start: (ctl) => { this.inCtl = ctl; },
        pull: () => new Promise((resolve) => { this.inWaiting = resolve; this.#feed(); }),
        cancel: (reason) => {
          this.#discard();
          this.inDone = true;
          if (!this.inEnded) this.owner.stopSending(this.id, reasonCode(reason, this.owner.maxCode));
          this.#maybeForget();
        },
      }, { highWaterMark: 0 });
    }
    if (writable) {
      this.writable = new WritableStream({
        start: (ctl) => { this.writableController = ctl; },
        write: (chunk) => {
          if (this.outError) throw this.outError;
          const bytes = toBytes(chunk, 'WebTransport stream write');
          if (!bytes.length) return undefined;
          this.out.push({ bytes, off: 0 });
          this.outBytes += bytes.length;
          this.owner.ready(this.id);
          if (this.outBytes < OUT_HIGH_WATER) return undefined;
          return new Promise((resolve) => { this.drained = resolve; });
        },
        close: () => {
          if (this.outError) throw this.outError;
          this.out.push({ fin: true });
          this.owner.ready(this.id);
          return new Promise((resolve, reject) => { this.finSent = { resolve, reject }; });
        },
        abort: (reason) => {
          if (this.outDone) return;
          this.#dropOutput();
          this.outDone = true;
          this.owner.reset(this.id, reasonCode(reason, this.owner.maxCode));
          this.#maybeForget();
        },
      }, { highWaterMark: 1 });
    }
  }

  /** Bytes of this stream JavaScript holds unread. */
  get held() { return this.inBytes; }

  /** Has output for the server loop to pull. */
  get hasOutput() { return this.out.length > 0; }

  // ---- events from the server loop ----

  onData(bytes) {
    if (this.inDone || this.inEnded) {
      // Nobody will read these (cancelled, or after the end): credit them at once.
      this.owner.credit(this.id, bytes.length);
      return;
    }
    this.inQueue.push(bytes);
    this.inBytes += bytes.length;
    if (this.inWaiting) this.#feed();
  }

  onFin() {
    this.inEnded = true;
    if (this.inWaiting) this.#feed();
  }

  /** The peer reset its sending side: the readable errors with its code. */
  onReset(error) {
    if (this.inDone) return;
    this.#discard();
    this.inDone = true;
    this.inEnded = true;
    try { this.inCtl.error(error); } catch { /* closed */ }
    if (this.inWaiting) { this.inWaiting(); this.inWaiting = null; }
    this.#maybeForget();
  }

  /** The peer asked us to stop sending (the server already answered with RESET_STREAM). */
  onStopSending(error) {
    if (this.outDone) return;
    this.#failOutput(error);
    this.#maybeForget();
  }

  /** The session or connection ended: everything pending fails with `error`. */
  fail(error) {
    if (!this.inDone) {
      this.#discard();
      this.inDone = true;
      this.inEnded = true;
      try { this.inCtl.error(error); } catch { /* closed */ }
      if (this.inWaiting) { this.inWaiting(); this.inWaiting = null; }
    }
    if (!this.outDone) this.#failOutput(error);
  }

  /**
   * Writes the next record for the server loop into `view` (wasm memory), at most
   * `max` body bytes; returns its length, 0 for none.
   */
  pull(view, max) {
    const a = this.out[0];
    if (!a) return 0;
    if (a.fin) {
      this.out.shift();
      this.outDone = true;
      view[0] = ST_FIN;
      if (this.finSent) { const f = this.finSent.resolve; this.finSent = null; queueMicrotask(f); }
      this.#maybeForget();
      return 1;
    }
    return pullBody(this, view, ST_DATA, max);
  }

  // ---- internals ----

  #feed() {
    if (!this.inWaiting || !this.inCtl) return;
    const n = feedNext(this);
    if (n === 0) return;
    const resolve = this.inWaiting;
    this.inWaiting = null;
    // Read: the server credits these bytes to the peer (backpressure).
    if (n > 0) this.owner.credit(this.id, n);
    else this.inDone = true;
    resolve();
    if (n < 0) this.#maybeForget();
  }

  #discard() {
    if (this.inBytes) this.owner.credit(this.id, this.inBytes);
    this.inQueue = [];
    this.inBytes = 0;
  }

  #dropOutput() {
    this.out = [];
    this.outBytes = 0;
    if (this.drained) { const d = this.drained; this.drained = null; queueMicrotask(d); }
  }

  #failOutput(error) {
    this.outError = error;
    this.#dropOutput();
    this.outDone = true;
    if (this.finSent) { this.finSent.reject(error); this.finSent = null; }
    // Errors the writable: pending and later writes reject with `error`.
    try { this.writableController?.error(error); } catch { /* already errored */ }
  }

  #maybeForget() {
    if (this.inDone && this.outDone) this.owner.forget(this.id);
  }
}

/**
 * The datagram duplex of a session: `readable` of Uint8Array (a bounded queue,
 * the oldest dropped when full), `writable` taking Uint8Array (a bounded queue
 * the server loop pulls; a write waits while it is full; a datagram larger than
 * `maxDatagramSize` is dropped, as in the W3C API).
 */
export class DatagramDuplex {
  constructor(owner) {
    this.owner = owner;
    this.inQueue = [];
    this.outQueue = [];
    this.waiting = false;
    this.outWaiters = [];
    this.closed = false;
    /** Largest datagram payload the peer accepts (updated by the server loop). */
    this.maxDatagramSize = 1200;
    /** Incoming datagrams dropped because the reader fell behind (queue over INCOMING_DATAGRAMS). */
    this.droppedIncoming = 0;
    /** Outgoing datagrams dropped because they exceeded maxDatagramSize. */
    this.droppedOutgoing = 0;
    let rctl;
    this.readable = new ReadableStream({
      start: (ctl) => { rctl = ctl; },
      // A read with nothing queued leaves `waiting` set; onDatagram enqueues straight into
      // the read (no promise per datagram: pull is only called again after an enqueue).
      pull: () => { this.waiting = true; this.#feed(); },
      cancel: () => { this.inQueue = []; this.closed = true; },
    }, { highWaterMark: 0 });
    this.rctl = rctl;
    this.writable = new WritableStream({
      start: (ctl) => { this.wctl = ctl; },
      write: (chunk) => {
        if (this.closed) throw this.error;
        const bytes = toBytes(chunk, 'WebTransport datagram write');
        if (bytes.length > this.maxDatagramSize) { this.droppedOutgoing++; return undefined; }
        this.outQueue.push(bytes.slice());
        // The owner wakes the loop once per task, not per datagram: the loop pulls everything a
        // batch of echoes wrote into as few packets as possible (docs/JS_SERVERS.md, "Waking the
        // loop once per task").
        this.owner.wake();
        if (this.outQueue.length < OUTGOING_DATAGRAMS) return undefined;
        return new Promise((resolve) => this.outWaiters.push(resolve));
      },
    }, { highWaterMark: 1 });
  }

  onDatagram(bytes) {
    if (this.closed) return;
    if (this.inQueue.length >= INCOMING_DATAGRAMS) {
      this.inQueue.shift();
      this.droppedIncoming++;
    }
    this.inQueue.push(bytes);
    if (this.waiting) this.#feed();
  }

  /** The next outgoing datagram, or undefined. */
  take() {
    const d = this.outQueue.shift();
    if (d && this.outWaiters.length && this.outQueue.length < OUTGOING_DATAGRAMS) {
      for (const w of this.outWaiters.splice(0)) queueMicrotask(w);
    }
    return d;
  }

  fail(error) {
    if (this.closed) return;
    this.closed = true;
    this.error = error;
    this.inQueue = [];
    this.outQueue = [];
    try { this.rctl.error(error); } catch { /* cancelled */ }
    try { this.wctl.error(error); } catch { /* closed */ }
    this.waiting = false;
    for (const w of this.outWaiters.splice(0)) queueMicrotask(w);
  }

  #feed() {
    if (!this.waiting || !this.inQueue.length) return;
    this.waiting = false;
    this.rctl.enqueue(this.inQueue.shift());
  }
}
