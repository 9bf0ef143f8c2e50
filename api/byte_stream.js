// A TCP byte stream over a Direct Sockets TCPSocket: a read loop that hands
// chunks to a callback, and ordered writes with a bufferedAmount figure and a
// 'drain' notification (backpressure from the stream writer; nothing dropped).

import { fromDirectSocketsError, SocketIWAError } from './errors.js';
import { TCP_WRITE_GUARD } from './tcp_write_guard.js';

/** Default bytes buffered before send() reports backpressure (returns false). */
export const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;

export class ByteStream {
  /**
   * @param {any} socket a Direct Sockets TCPSocket (opened)
   * @param {any} info its TCPSocketOpenInfo
   * @param {{onData: (b: Uint8Array) => void, onEnd: () => void, onError: (e: Error) => void, onDrain?: () => void, highWaterMark?: number}} handlers
   */
  constructor(socket, info, handlers) {
    this.socket = socket;
    this.info = info;
    this.handlers = handlers;
    this.highWaterMark = handlers.highWaterMark || DEFAULT_HIGH_WATER_MARK;
    this.bufferedAmount = 0;
    this.needDrain = false;
    this.released = false;
    // Chromium drops TCP write chunks when its data pipe is full; the guard copies,
    // coalesces and re-sends them (api/tcp_write_guard.js, docs/BRIDGE.md).
    this.writer = TCP_WRITE_GUARD.wrapWriter(info.writable.getWriter(), socket && socket.constructor);
    this.reader = info.readable.getReader();
    this.writeClosed = false;
    this.finished = false;
    this.paused = false;
    this.batch = null;
    this.batchBytes = 0;
    /** Hard cap on bytes queued for this connection (0: none); past it the connection is dropped with ENOBUFS. */
    this.maxBufferedAmount = handlers.maxBufferedAmount || 0;
    /** Optional budget shared by the connections of one server: {total, max}. */
    this.budget = handlers.budget || null;
    this.#readLoop();
  }

  async #readLoop() {
    try {
      for (;;) {
        const { value, done } = await this.reader.read();
        if (done) break;
        if (value && value.byteLength) this.handlers.onData(value);
      }
      if (!this.finished) this.handlers.onEnd();
    } catch (err) {
      if (!this.finished) this.handlers.onError(fromDirectSocketsError(err, 'read', 'ECONNRESET'));
    }
  }

  /**
   * Queue bytes for writing. Returns false once bufferedAmount reaches the
   * high-water mark; 'drain' (onDrain) follows when the queue has emptied.
   * @param {Uint8Array} bytes
   * @returns {boolean}
   */
  write(bytes) {
    // After end()/close()/destroy() the writer is closing or closed: a write
    // then is dropped (reported as backpressure), never handed to the writer.
    // Node's WritableStream hits an internal assertion (ERR_INTERNAL_ASSERTION,
    // an uncaught throw that ends the process) for writer.write() while the
    // sink's close is in flight; peers can time their bytes to land there.
    if (this.writeClosed || this.finished || this.released) return false; // released: the writer failed
    const n = bytes.byteLength;
    if ((this.maxBufferedAmount && this.bufferedAmount + n > this.maxBufferedAmount) ||
        (this.budget && this.budget.max && this.budget.total + n > this.budget.max)) {
      // A peer that never reads (pongs, replies, broadcasts piling up): drop
      // it rather than let its queue grow without bound.
      const which = this.maxBufferedAmount && this.bufferedAmount + n > this.maxBufferedAmount
        ? `connection limit ${this.maxBufferedAmount}` : `server budget ${this.budget.max}`;
      const handlers = this.handlers;
      this.destroy();
      handlers.onError(new SocketIWAError('ENOBUFS', `outgoing queue would exceed the ${which} bytes (peer not reading): connection dropped`));
      return false;
    }
    this.bufferedAmount += n;
    if (this.budget) this.budget.total += n;
    // Writes made in the same task are coalesced into one stream write: one
    // trip through the Direct Sockets writer (an IPC hop in Chromium) for a
    // burst of small frames.
    if (!this.batch) {
      this.batch = [];
      this.batchBytes = 0;
      queueMicrotask(() => this.#flushBatch());
    }
    this.batch.push(bytes);
    this.batchBytes += n;
    if (this.bufferedAmount >= this.highWaterMark) { this.needDrain = true; return false; }
    return true;
  }

  #flushBatch() {
    if (!this.batch) return; // already flushed by end()
    const parts = this.batch, total = this.batchBytes;
    this.batch = null;
    if (this.finished) return; // destroyed: queued bytes are discarded
    let chunk;
    if (parts.length === 1) chunk = parts[0];
    else {
      chunk = new Uint8Array(total);
      let o = 0;
      for (const p of parts) { chunk.set(p, o); o += p.byteLength; }
    }
    let pending;
    try { pending = this.writer.write(chunk); } catch (err) {
      // Defensive: a synchronous throw from the stream implementation must not
      // escape into the caller's task (it would be uncaught in a microtask).
      this.#failWrite(err);
      return;
    }
    pending.then(() => {
      if (this.released) return; // destroy() already gave the bytes back
      this.bufferedAmount -= total;
      if (this.budget) this.budget.total -= total;
      if (this.needDrain && this.bufferedAmount === 0) {
        this.needDrain = false;
        if (this.handlers.onDrain) this.handlers.onDrain();
      }
    }, (err) => this.#failWrite(err));
  }

  #failWrite(err) {
    // The writer is errored: queued bytes will never complete; give them back
    // to the server budget now (whoever owns the stream may only close() it).
    if (!this.released) {
      if (this.budget) this.budget.total -= this.bufferedAmount;
      this.bufferedAmount = 0;
      this.released = true;
    }
    if (this.finished) return;
    this.handlers.onError(fromDirectSocketsError(err, 'write', 'EPIPE'));
  }

  /** Set by the owner (the server's connection count): called once when the stream is closed or destroyed. */
  onFinished = null;

  #notifyFinished() {
    const fn = this.onFinished;
    this.onFinished = null;
    if (fn) fn();
  }

  /** Half-close: no more writes (TCP FIN after queued data). */
  async end() {
    if (this.writeClosed) return;
    if (this.batch) this.#flushBatch();
    this.writeClosed = true;
    try { await this.writer.close(); } catch {}
  }

  /** Close both directions after queued writes are flushed. */
  async close() {
    if (this.finished) return;
    await this.end();
    this.finished = true;
    this.#notifyFinished();
    try { await this.reader.cancel(); } catch {}
    try { await this.socket.closed; } catch {}
  }

  /** Tear down at once (queued writes may be lost). */
  destroy() {
    if (this.finished && this.writeClosed) return;
    this.finished = true;
    // Bytes still queued never complete: give them back to the server budget.
    if (this.budget && !this.released) this.budget.total -= this.bufferedAmount;
    this.bufferedAmount = 0;
    this.released = true;
    this.#notifyFinished();
    this.batch = null;
    this.writeClosed = true;
    this.writer.abort().catch(() => {});
    this.reader.cancel().catch(() => {});
  }
}
