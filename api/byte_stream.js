// A TCP byte stream over a Direct Sockets TCPSocket: a read loop that hands
// chunks to a callback, and ordered writes with a bufferedAmount figure and a
// 'drain' notification (backpressure from the stream writer; nothing dropped).

import { fromDirectSocketsError } from './errors.js';
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
    // Chromium drops TCP write chunks when its data pipe is full; the guard copies,
    // coalesces and re-sends them (api/tcp_write_guard.js, docs/BRIDGE.md).
    this.writer = TCP_WRITE_GUARD.wrapWriter(info.writable.getWriter(), socket && socket.constructor);
    this.reader = info.readable.getReader();
    this.writeClosed = false;
    this.finished = false;
    this.paused = false;
    this.batch = null;
    this.batchBytes = 0;
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
    const n = bytes.byteLength;
    this.bufferedAmount += n;
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
    if (this.writeClosed && this.finished) return;
    let chunk;
    if (parts.length === 1) chunk = parts[0];
    else {
      chunk = new Uint8Array(total);
      let o = 0;
      for (const p of parts) { chunk.set(p, o); o += p.byteLength; }
    }
    this.writer.write(chunk).then(() => {
      this.bufferedAmount -= total;
      if (this.needDrain && this.bufferedAmount === 0) {
        this.needDrain = false;
        if (this.handlers.onDrain) this.handlers.onDrain();
      }
    }, (err) => {
      if (!this.finished) this.handlers.onError(fromDirectSocketsError(err, 'write', 'EPIPE'));
    });
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
    try { await this.reader.cancel(); } catch {}
    try { await this.socket.closed; } catch {}
  }

  /** Tear down at once (queued writes may be lost). */
  destroy() {
    if (this.finished && this.writeClosed) return;
    this.finished = true;
    this.writeClosed = true;
    this.writer.abort().catch(() => {});
    this.reader.cancel().catch(() => {});
  }
}
