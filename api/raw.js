// Raw TCP mode: bytes as they arrive, no framing.

import { Emitter } from './emitter.js';
import { argError, closedError } from './errors.js';
import { toUint8, isBinary, presentBinary, binaryTypes } from './bytes.js';

/** A raw TCP connection: 'message' carries each chunk of bytes as received. */
export class RawTCPConnection extends Emitter {
  #stream; #readyState = 1; #binaryType = 'arraybuffer'; #closeEmitted = false;

  /**
   * @param {import('./byte_stream.js').ByteStream} stream
   * @param {{binaryType?: string, remoteAddress?: string, remotePort?: number, localAddress?: string, localPort?: number}} opts
   */
  constructor(stream, opts = {}) {
    super();
    this.#stream = stream;
    if (opts.binaryType) this.binaryType = opts.binaryType;
    /** Peer address. */
    this.remoteAddress = opts.remoteAddress;
    /** Peer port. */
    this.remotePort = opts.remotePort;
    /** Local address. */
    this.localAddress = opts.localAddress;
    /** Local port. */
    this.localPort = opts.localPort;
    stream.handlers.onData = (b) => this.emitLocal('message', presentBinary(b, this.#binaryType));
    stream.handlers.onEnd = () => { this.emitLocal('end'); this.#finish(false); };
    stream.handlers.onError = (e) => { this.emitLocal('error', e); this.#finish(true); };
    stream.handlers.onDrain = () => this.emitLocal('drain');
  }

  /** 1 OPEN, 2 CLOSING, 3 CLOSED. */
  get readyState() { return this.#readyState; }
  /** Bytes queued and not yet written to the socket. */
  get bufferedAmount() { return this.#stream.bufferedAmount; }
  /** 'arraybuffer' | 'uint8array' | 'blob'. */
  get binaryType() { return this.#binaryType; }
  /** @param {'arraybuffer'|'uint8array'|'blob'} v */
  set binaryType(v) {
    if (!binaryTypes().includes(v)) throw argError(`binaryType must be one of ${binaryTypes().join(', ')}, got ${JSON.stringify(v)}.`);
    this.#binaryType = v;
  }

  /**
   * Write bytes (strings as UTF-8). Returns false when bufferedAmount reached
   * the high-water mark: wait for 'drain'. Throws ERR_SOCKET_CLOSED after close.
   * @param {string|ArrayBuffer|ArrayBufferView} data
   * @returns {boolean}
   */
  send(data) {
    if (this.#readyState !== 1) throw closedError('TCP send');
    if (typeof data !== 'string' && !(isBinary(data) && !(typeof Blob !== 'undefined' && data instanceof Blob))) {
      throw argError('send: data must be a string, ArrayBuffer or ArrayBufferView.', 'ERR_INVALID_ARG_TYPE');
    }
    return this.#stream.write(toUint8(data).slice());
  }

  /** Alias of send(). */
  write(data) { return this.send(data); }

  /** Flush queued bytes, then close both directions. */
  async close() {
    if (this.#readyState !== 1) return;
    this.#readyState = 2;
    await this.#stream.close();
    this.#finish(false);
  }

  /** Close at once. */
  destroy() { this.#stream.destroy(); this.#finish(false); }

  #finish(hadError) {
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    this.#readyState = 3;
    this.#stream.close().catch(() => {});
    this.emitLocal('close', hadError);
    this.emitLocal('disconnect', hadError ? 'transport error' : 'transport close');
  }
}
