// A WebSocket connection (RFC 6455) over a ByteStream: message assembly from
// fragments, ping/pong, the closing handshake with status codes, WebSocket-style
// surface (send / close / readyState / binaryType / bufferedAmount) and events
// open, message, ping, pong, close, error, drain.

import { Emitter } from './emitter.js';
import { SocketIWAError, argError, closedError } from './errors.js';
import { OPCODE, FrameParser, WsProtocolError, encodeFrame, isValidCloseCode } from './ws_frame.js';
import { utf8, decodeUtf8, concat, toUint8, isBinary, presentBinary, binaryTypes } from './bytes.js';
import { PerMessageDeflate, COMPRESS_THRESHOLD, formatParams } from './ws_deflate.js';

export const CONNECTING = 0, OPEN = 1, CLOSING = 2, CLOSED = 3;

/** Default largest message accepted from a peer (bytes). */
export const DEFAULT_MAX_PAYLOAD = 100 * 1024 * 1024;

/**
 * Default time (server side) from the first byte of a message (frame header,
 * or first fragment) to its last byte: a peer that declares a frame and never
 * sends its body is closed with 1008 after this. 0 disables it.
 */
export const DEFAULT_MESSAGE_TIMEOUT_MS = 60000;

export class WebSocketConnection extends Emitter {
  /**
   * @param {import('./byte_stream.js').ByteStream} stream
   * @param {{isServer: boolean, binaryType?: string, maxPayload?: number, fragmentSize?: number, closeTimeoutMs?: number, remoteAddress?: string, remotePort?: number, perMessageDeflate?: object|null}} opts
   *   perMessageDeflate: the negotiated permessage-deflate parameters (api/ws_deflate.js), or null
   */
  constructor(stream, opts) {
    super();
    this.#stream = stream;
    this.#isServer = !!opts.isServer;
    this.#closeTimeoutMs = opts.closeTimeoutMs ?? 5000;
    this.#messageTimeoutMs = opts.messageTimeoutMs ?? (this.#isServer ? DEFAULT_MESSAGE_TIMEOUT_MS : 0);
    this.#fragmentSize = opts.fragmentSize || 0;
    this.binaryType = opts.binaryType || 'arraybuffer';
    /** @type {string|undefined} */
    this.remoteAddress = opts.remoteAddress;
    /** @type {number|undefined} */
    this.remotePort = opts.remotePort;
    this.#maxPayload = opts.maxPayload || DEFAULT_MAX_PAYLOAD;
    if (opts.perMessageDeflate) {
      this.#pmd = new PerMessageDeflate({ params: opts.perMessageDeflate, isServer: this.#isServer, maxPayload: this.#maxPayload });
      this.#extensions = formatParams(opts.perMessageDeflate);
    }
    this.#parser = new FrameParser({
      expectMasked: this.#isServer,
      maxPayload: opts.maxPayload || DEFAULT_MAX_PAYLOAD,
      onFrame: (f) => this.#onFrame(f),
      allowRsv1: !!this.#pmd,
    });
    stream.handlers.onData = (b) => this.#onData(b);
    stream.handlers.onEnd = () => this.#onTransportEnd();
    stream.handlers.onError = (e) => this.#onTransportError(e);
    stream.handlers.onDrain = () => this.emitLocal('drain');
  }

  #stream; #isServer; #closeTimeoutMs; #fragmentSize; #parser; #maxPayload; #messageTimeoutMs; #messageTimer = null;
  #readyState = OPEN;
  #binaryType = 'arraybuffer';
  #fragments = null; #fragOpcode = 0; #fragBytes = 0;
  #closeSent = false; #closeReceived = null; #closeTimer = null; #closedEmitted = false;
  // permessage-deflate: compression and inflation are asynchronous, so
  // messages pass through two ordered queues (send side, receive side) while
  // any of them is in flight; without the extension nothing is queued.
  #pmd = null; #extensions = ''; #fragCompressed = false;
  #tx = Promise.resolve(); #txBusy = 0; #txPending = 0;
  #rx = Promise.resolve(); #rxBusy = 0;

  /** 0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED. */
  get readyState() { return this.#readyState; }
  /** Bytes queued for the socket and not yet written (including messages waiting to be compressed). */
  get bufferedAmount() { return this.#stream.bufferedAmount + this.#txPending; }
  /** Negotiated extensions, as in the handshake ('permessage-deflate; ...' or ''). */
  get extensions() { return this.#extensions; }
  /** How binary messages are delivered: 'arraybuffer', 'uint8array' or 'blob'. */
  get binaryType() { return this.#binaryType; }
  /** @param {'arraybuffer'|'uint8array'|'blob'} v */
  set binaryType(v) {
    if (!binaryTypes().includes(v)) throw argError(`binaryType must be one of ${binaryTypes().join(', ')}, got ${JSON.stringify(v)}.`);
    this.#binaryType = v;
  }

  /** Feed bytes that arrived with the handshake. */
  feed(bytes) { if (bytes && bytes.byteLength) this.#onData(bytes); }

  /**
   * Send a text (string) or binary message. Returns false when bufferedAmount
   * has reached the high-water mark (wait for 'drain'). Throws with code
   * ERR_SOCKET_CLOSED after close.
   * @param {string|ArrayBuffer|ArrayBufferView} data
   * @param {{fragmentSize?: number, binary?: boolean}} [opts]
   * @returns {boolean}
   */
  send(data, opts = {}) {
    if (this.#readyState !== OPEN) throw closedError('WebSocket send');
    let opcode, bytes;
    if (typeof data === 'string') { opcode = opts.binary ? OPCODE.BINARY : OPCODE.TEXT; bytes = utf8(data); }
    else if (isBinary(data) && !(typeof Blob !== 'undefined' && data instanceof Blob)) { opcode = OPCODE.BINARY; bytes = toUint8(data); }
    else throw argError('WebSocket send: data must be a string, ArrayBuffer or ArrayBufferView.', 'ERR_INVALID_ARG_TYPE');
    const frag = opts.fragmentSize || this.#fragmentSize;
    if (this.#pmd && this.#pmd.canCompress && opts.compress !== false && bytes.byteLength >= COMPRESS_THRESHOLD) {
      const copy = bytes.slice(); // the caller may reuse its buffer before compression runs
      // compress() resolves null when the message is better sent plain (browser path: not smaller compressed)
      this.#txEnqueue(copy.byteLength, async () => { const c = await this.#pmd.compress(copy); if (this.#readyState !== CLOSED) this.#writeMessage(opcode, c ?? copy, frag, c !== null); });
      return this.bufferedAmount < this.#stream.highWaterMark;
    }
    if (this.#txBusy) {
      const copy = bytes.slice();
      this.#txEnqueue(copy.byteLength, () => { if (this.#readyState !== CLOSED) this.#writeMessage(opcode, copy, frag, false); });
      return this.bufferedAmount < this.#stream.highWaterMark;
    }
    return this.#writeMessage(opcode, bytes, frag, false);
  }

  #writeMessage(opcode, bytes, frag, compressed) {
    if (frag && bytes.byteLength > frag) {
      let ok = true;
      for (let off = 0; off < bytes.byteLength; off += frag) {
        const last = off + frag >= bytes.byteLength;
        ok = this.#writeFrame(off === 0 ? opcode : OPCODE.CONTINUATION, bytes.subarray(off, off + frag), last, compressed && off === 0);
      }
      return ok;
    }
    return this.#writeFrame(opcode, bytes, true, compressed);
  }

  /** Run `fn` after every queued send (keeps message order while compressing). */
  #txEnqueue(bytes, fn) {
    this.#txBusy++; this.#txPending += bytes;
    this.#tx = this.#tx.then(fn).catch((err) => this.#fail(1011, `compression failed: ${err && err.message}`))
      .finally(() => { this.#txBusy--; this.#txPending -= bytes; });
  }

  /** Run `fn` once queued sends (compression) have been written; at once when none are queued. */
  #afterSends(fn) { return this.#txBusy ? this.#tx.then(fn) : fn(); }

  /** Run `fn` after every message still being inflated (keeps delivery order). */
  #rxEnqueue(fn) {
    this.#rxBusy++;
    this.#rx = this.#rx.then(fn).catch((err) => {
      this.#fail(err && err.closeCode ? err.closeCode : 1011, String(err && err.message), err && err.code);
    }).finally(() => { this.#rxBusy--; });
  }

  #message(opcode, payload, compressed) {
    if (!compressed && this.#rxBusy === 0) { this.#deliver(opcode, payload); return; }
    this.#rxEnqueue(async () => {
      if (this.#readyState === CLOSED) return;
      this.#deliver(opcode, compressed ? await this.#pmd.decompress(payload) : payload);
    });
  }

  /** Send a ping control frame (payload ≤ 125 bytes). */
  ping(data = new Uint8Array(0)) {
    if (this.#readyState !== OPEN) throw closedError('WebSocket ping');
    const b = toUint8(data);
    if (b.byteLength > 125) throw argError('ping payload must be at most 125 bytes');
    this.#writeFrame(OPCODE.PING, b, true);
  }

  /** Send a pong control frame (payload ≤ 125 bytes). */
  pong(data = new Uint8Array(0)) {
    if (this.#readyState !== OPEN) throw closedError('WebSocket pong');
    const b = toUint8(data);
    if (b.byteLength > 125) throw argError('pong payload must be at most 125 bytes');
    this.#writeFrame(OPCODE.PONG, b, true);
  }

  /**
   * Start the closing handshake.
   * @param {number} [code=1000] 1000 or 3000..4999
   * @param {string} [reason=''] at most 123 UTF-8 bytes
   */
  close(code, reason = '') {
    if (code !== undefined && !(code === 1000 || (code >= 3000 && code <= 4999))) {
      throw argError(`close code must be 1000 or in 3000..4999, got ${code}.`, 'ERR_INVALID_CLOSE_CODE');
    }
    if (utf8(reason).byteLength > 123) throw argError('close reason must be at most 123 UTF-8 bytes.', 'ERR_INVALID_CLOSE_REASON');
    this.#startClose(code, reason);
  }

  /** Close at once without the closing handshake (code 1006 locally). */
  terminate() {
    this.#stream.destroy();
    this.#finish(1006, '', false);
  }

  #writeFrame(opcode, payload, fin, rsv1 = false) {
    return this.#stream.write(encodeFrame(opcode, payload, { fin, mask: !this.#isServer, rsv1 }));
  }

  #onData(bytes) {
    try {
      this.#parser.push(bytes);
    } catch (err) {
      if (err instanceof WsProtocolError) this.#fail(err.closeCode, err.message);
      else this.#fail(1011, String(err && err.message));
    }
    this.#watchMessage();
  }

  /** Per-message receive timeout: armed while a frame or fragmented message is incomplete. */
  #watchMessage() {
    const partial = !this.#parser.dead && (this.#parser.have > 0 || this.#fragments !== null);
    if (!partial) { clearTimeout(this.#messageTimer); this.#messageTimer = null; return; }
    if (this.#messageTimer || !this.#messageTimeoutMs || this.#readyState === CLOSED) return;
    this.#messageTimer = setTimeout(() => {
      this.#messageTimer = null;
      this.#fail(1008, `message not completed within ${this.#messageTimeoutMs} ms`, 'ETIMEDOUT');
    }, this.#messageTimeoutMs);
  }

  #onFrame({ fin, opcode, payload, rsv1 }) {
    if (this.#readyState === CLOSED) return;
    switch (opcode) {
      case OPCODE.TEXT: case OPCODE.BINARY:
        if (this.#fragments) throw new WsProtocolError(1002, 'new data frame while a fragmented message is in progress');
        if (fin) { this.#message(opcode, payload, !!rsv1); return; }
        this.#fragments = [payload]; this.#fragOpcode = opcode; this.#fragBytes = payload.byteLength; this.#fragCompressed = !!rsv1;
        return;
      case OPCODE.CONTINUATION: {
        if (!this.#fragments) throw new WsProtocolError(1002, 'continuation frame without a message to continue');
        this.#fragBytes += payload.byteLength;
        if (this.#fragBytes > this.#maxPayload) throw new WsProtocolError(1009, `message exceeds maxPayload ${this.#maxPayload}`);
        this.#fragments.push(payload);
        if (fin) {
          const whole = concat(this.#fragments, this.#fragBytes);
          const op = this.#fragOpcode;
          this.#fragments = null;
          this.#message(op, whole, this.#fragCompressed);
        }
        return;
      }
      case OPCODE.PING:
        this.emitLocal('ping', payload);
        // A peer that pings but never reads would grow our queue without end:
        // while the outgoing queue is past the high-water mark, pings go
        // unanswered (RFC 6455 5.5.3 lets an endpoint answer only the latest).
        if (this.#readyState === OPEN && this.#stream.bufferedAmount < this.#stream.highWaterMark) this.#writeFrame(OPCODE.PONG, payload, true);
        return;
      case OPCODE.PONG:
        this.emitLocal('pong', payload);
        return;
      case OPCODE.CLOSE:
        if (this.#rxBusy) { this.#parser.dead = true; this.#rxEnqueue(() => this.#onCloseFrame(payload)); return; }
        this.#onCloseFrame(payload);
        return;
      default:
        throw new WsProtocolError(1002, `unexpected opcode ${opcode}`);
    }
  }

  #deliver(opcode, payload) {
    if (this.#readyState !== OPEN && this.#readyState !== CLOSING) return;
    if (opcode === OPCODE.TEXT) {
      let text;
      try { text = decodeUtf8(payload); } catch { throw new WsProtocolError(1007, 'text message is not valid UTF-8'); }
      this.emitLocal('message', text, false);
    } else {
      this.emitLocal('message', presentBinary(payload, this.#binaryType), true);
    }
  }

  #onCloseFrame(payload) {
    let code = 1005, reason = '';
    if (payload.byteLength === 1) throw new WsProtocolError(1002, 'close frame with a 1-byte payload');
    if (payload.byteLength >= 2) {
      code = (payload[0] << 8) | payload[1];
      if (!isValidCloseCode(code)) throw new WsProtocolError(1002, `invalid close code ${code}`);
      try { reason = decodeUtf8(payload.subarray(2)); } catch { throw new WsProtocolError(1007, 'close reason is not valid UTF-8'); }
    }
    this.#closeReceived = { code, reason };
    this.#parser.dead = true;
    if (!this.#closeSent) {
      this.#readyState = CLOSING;
      this.#sendClose(code === 1005 ? undefined : code, '');
    }
    // Server closes the TCP connection first (RFC 6455 §7.1.1); the client waits for it.
    if (this.#isServer) this.#afterSends(() => this.#stream.close()).finally(() => this.#finish(code, reason, true));
    else this.#armCloseTimer();
  }

  #sendClose(code, reason) {
    this.#closeSent = true;
    if (this.#txBusy) { this.#txEnqueue(0, () => this.#writeClose(code, reason)); return; }
    this.#writeClose(code, reason);
  }

  #writeClose(code, reason) {
    let payload = new Uint8Array(0);
    if (code !== undefined) {
      const r = utf8(reason);
      payload = new Uint8Array(2 + r.byteLength);
      payload[0] = code >> 8; payload[1] = code & 0xff; payload.set(r, 2);
    }
    this.#writeFrame(OPCODE.CLOSE, payload, true);
  }

  #startClose(code, reason) {
    if (this.#readyState === CLOSING || this.#readyState === CLOSED) return;
    this.#readyState = CLOSING;
    this.#sendClose(code, reason);
    this.#armCloseTimer();
  }

  #armCloseTimer() {
    if (this.#closeTimer) return;
    this.#closeTimer = setTimeout(() => {
      this.#stream.destroy();
      const r = this.#closeReceived;
      this.#finish(r ? r.code : 1006, r ? r.reason : '', !!r);
    }, this.#closeTimeoutMs);
  }

  /** Protocol error from the peer: close with `closeCode`, report, drop the transport. */
  #fail(closeCode, message, code) {
    if (this.#readyState === CLOSED) return;
    this.#parser.dead = true;
    const err = new SocketIWAError(code || (closeCode === 1009 ? 'ERR_WS_MESSAGE_TOO_BIG' : closeCode === 1007 ? 'ERR_WS_INVALID_UTF8' : 'ERR_WS_PROTOCOL'),
      `WebSocket protocol error from peer: ${message}`, { closeCode });
    if (this.#readyState === OPEN) { this.#readyState = CLOSING; this.#sendClose(closeCode, message.slice(0, 120)); }
    this.emitLocal('error', err);
    this.#afterSends(() => this.#stream.close()).finally(() => this.#finish(closeCode, message.slice(0, 120), false));
    setTimeout(() => { this.#stream.destroy(); this.#finish(closeCode, message.slice(0, 120), false); }, this.#closeTimeoutMs).unref?.();
  }

  #onTransportEnd() {
    const r = this.#closeReceived;
    this.#stream.close().catch(() => {});
    this.#finish(r ? r.code : 1006, r ? r.reason : '', !!r);
  }

  #onTransportError(err) {
    if (this.#readyState !== CLOSED && !this.#closeReceived) this.emitLocal('error', err);
    this.#stream.destroy();
    const r = this.#closeReceived;
    this.#finish(r ? r.code : 1006, r ? r.reason : '', !!r);
  }

  #finish(code, reason, wasClean) {
    if (this.#closedEmitted) return;
    this.#closedEmitted = true;
    this.#readyState = CLOSED;
    clearTimeout(this.#closeTimer);
    clearTimeout(this.#messageTimer);
    this.#pmd?.close();
    this.wasClean = wasClean;
    this.emitLocal('close', code, reason, wasClean);
    this.emitLocal('disconnect', reason || (wasClean ? 'transport close' : 'transport error'), code);
  }
}
