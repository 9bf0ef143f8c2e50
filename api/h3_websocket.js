// WebSocket over HTTP/3 (RFC 9220) for createHttp3Server: server.on('websocket', (ws, request) => {}).
// `ws` is the WebSocketConnection createTCPServer({ protocol: 'websocket' }) gives
// (api/websocket.js, unchanged); only the byte stream under it differs: H3WsStream
// below carries the frames as the DATA of the Extended CONNECT request stream,
// through the same queues as fetch's request bodies (credit as read) and
// streamed responses (pulled by Rust within its budgets). docs/JS_SERVERS.md,
// "WebSocket over HTTP/3".

import { SocketIWAError, argError } from './errors.js';
import { WebSocketConnection } from './websocket.js';
import { acceptOffer } from './ws_deflate.js';
import { binaryTypes } from './bytes.js';
import { splitPeer } from './validate.js';

/** Defaults of createHttp3Server's `websocket` options (docs/JS_SERVERS.md). */
export const H3_WS_DEFAULTS = Object.freeze({
  /** Largest message accepted (bytes); a larger one closes with 1009. */
  maxPayload: 16 * 1024 * 1024,
  /** Outgoing bytes queued in JavaScript at which send() returns false and incoming frames stop being read. */
  highWaterMark: 1024 * 1024,
  /** Outgoing bytes queued in JavaScript past which the WebSocket is dropped (ENOBUFS), as createTCPServer. */
  maxBufferedAmount: 64 * 1024 * 1024,
});

/** HTTP/3 error codes (RFC 9114 section 8.1). */
const H3_REQUEST_CANCELLED = 0x10c;

/** Validates createHttp3Server's `websocket` option; returns the options with defaults. */
export function websocketOptions(o) {
  if (o === undefined) return { ...H3_WS_DEFAULTS, perMessageDeflate: true, binaryType: 'arraybuffer' };
  if (o === null || typeof o !== 'object') throw argError(`createHttp3Server: options.websocket must be an object, got ${String(o)}.`, 'ERR_INVALID_ARG_TYPE');
  const out = { ...H3_WS_DEFAULTS, perMessageDeflate: true, binaryType: 'arraybuffer' };
  for (const k of ['maxPayload', 'highWaterMark', 'maxBufferedAmount']) {
    if (o[k] === undefined) continue;
    if (typeof o[k] !== 'number' || !Number.isInteger(o[k]) || o[k] < 1) {
      throw argError(`createHttp3Server: options.websocket.${k} must be a positive integer, got ${String(o[k])}.`, 'ERR_OUT_OF_RANGE');
    }
    out[k] = o[k];
  }
  if (o.perMessageDeflate !== undefined) {
    if (typeof o.perMessageDeflate !== 'boolean') throw argError('createHttp3Server: options.websocket.perMessageDeflate must be a boolean.', 'ERR_INVALID_ARG_TYPE');
    out.perMessageDeflate = o.perMessageDeflate;
  }
  if (o.binaryType !== undefined) {
    if (!binaryTypes().includes(o.binaryType)) throw argError(`createHttp3Server: options.websocket.binaryType must be one of ${binaryTypes().join(', ')}.`, 'ERR_INVALID_ARG_VALUE');
    out.binaryType = o.binaryType;
  }
  return out;
}

/**
 * The byte stream a WebSocketConnection runs on (the interface of api/byte_stream.js:
 * handlers, write, close, destroy, bufferedAmount, highWaterMark), over one request
 * stream's state `st` of api/h3_server.js:
 * - in: st.inQueue (filled by the bridge's `data`) is handed to the parser in
 *   microtasks, never inside a wasm import; each chunk handed over is added to
 *   st.read, which Rust credits to the peer on its next tick. While more than
 *   highWaterMark of our own bytes wait to be sent, nothing more is read, so a
 *   peer that sends but does not read is held by QUIC flow control.
 * - out: write() queues a BODY action that Rust pulls within the stream window
 *   and the connection's buffer budget; close() queues END (FIN); destroy()
 *   queues a RESET (H3_REQUEST_CANCELLED).
 */
export class H3WsStream {
  /**
   * @param {object} st the request stream's state (api/h3_server.js)
   * @param {{ push: (action: object) => void, mark: () => void, actions: { BODY: number, END: number, RESET: number },
   *           highWaterMark: number, maxBufferedAmount: number }} io
   */
  constructor(st, io) {
    this.st = st;
    this.io = io;
    this.handlers = { onData() {}, onEnd() {}, onError() {}, onDrain() {} };
    this.highWaterMark = io.highWaterMark;
    this.maxBufferedAmount = io.maxBufferedAmount;
    this.needDrain = false;
    this.finished = false;
    this.ended = false; // the peer's FIN was handed to onEnd
    this.scheduled = false;
    this.closing = null;
    st.onInput = () => this.#schedule();
    st.onDrained = () => this.#drained();
    st.onGone = () => this.#gone();
  }

  get bufferedAmount() { return this.st.outBytes; }

  #schedule() {
    if (this.scheduled || this.finished) return;
    this.scheduled = true;
    queueMicrotask(() => { this.scheduled = false; this.#pump(); });
  }

  /** Hands queued request bytes to the WebSocket parser while our own queue is below the high-water mark. */
  #pump() {
    const st = this.st;
    while (!this.finished && !st.gone && st.inQueue.length && st.outBytes < this.highWaterMark) {
      const b = st.inQueue.shift();
      st.inBytes -= b.length;
      st.read += b.length; // credited to the peer on Rust's next tick
      this.io.mark();
      this.handlers.onData(b);
    }
    if (!this.finished && !st.gone && st.inEnded && !st.inQueue.length && !this.ended) {
      this.ended = true;
      this.handlers.onEnd();
    }
  }

  #drained() {
    if (this.st.inQueue.length || (this.st.inEnded && !this.ended)) this.#schedule();
    if (this.needDrain && this.st.outBytes === 0) {
      this.needDrain = false;
      queueMicrotask(() => this.handlers.onDrain());
    }
    if (this.closing && this.st.outBytes === 0 && !this.st.out.length) this.#closed();
  }

  #gone() {
    if (this.closing) { this.#closed(); return; }
    if (this.finished) return;
    this.finished = true;
    this.handlers.onError(new SocketIWAError('ECONNRESET', 'the WebSocket\'s HTTP/3 stream was reset or its connection closed'));
  }

  #closed() {
    const c = this.closing;
    if (c && c.resolve) { c.resolve(); c.resolve = null; }
  }

  /** @param {Uint8Array} bytes @returns {boolean} false at the high-water mark (wait for drain). */
  write(bytes) {
    if (this.finished || this.st.gone) return false;
    const n = bytes.byteLength;
    if (this.st.outBytes + n > this.maxBufferedAmount) {
      const handlers = this.handlers;
      this.destroy();
      handlers.onError(new SocketIWAError('ENOBUFS', `outgoing queue would exceed the WebSocket limit ${this.maxBufferedAmount} bytes (peer not reading): stream reset`));
      return false;
    }
    this.io.push({ kind: this.io.actions.BODY, bytes, off: 0 });
    if (this.st.outBytes >= this.highWaterMark) { this.needDrain = true; return false; }
    return true;
  }

  /** FIN after the queued bytes; resolves when Rust has taken them all (or the stream is gone). */
  close() {
    if (this.closing) return this.closing.promise;
    this.finished = true;
    let resolve;
    const promise = new Promise((r) => { resolve = r; });
    this.closing = { promise, resolve };
    if (this.st.gone) this.#closed();
    else this.io.push({ kind: this.io.actions.END });
    return promise;
  }

  /** Reset the stream at once (queued bytes are dropped). */
  destroy() {
    if (this.finished && !this.closing) return;
    if (this.closing && !this.st.out.length) { this.#closed(); return; }
    this.finished = true;
    if (this.st.gone) return;
    this.st.out = [];
    this.st.outBytes = 0;
    this.io.push({ kind: this.io.actions.RESET, code: H3_REQUEST_CANCELLED });
    this.#closed();
  }
}

/**
 * Accepts an Extended CONNECT websocket request: negotiates permessage-deflate as
 * createTCPServer does, builds the WebSocketConnection and the request object.
 * Returns { ws, request, fields } (fields: the 200's header fields) for h3_server.js.
 */
export function acceptWebSocket({ st, io, opts, url, headers, peer, local }) {
  const record = {};
  for (const [k, v] of headers) record[k] = v;
  const deflate = opts.perMessageDeflate ? acceptOffer(record['sec-websocket-extensions']) : null;
  const at = splitPeer(peer);
  const addr = { remoteAddress: at.address, remotePort: at.port, localAddress: local.address, localPort: local.port };
  const stream = new H3WsStream(st, { ...io, highWaterMark: opts.highWaterMark, maxBufferedAmount: opts.maxBufferedAmount });
  const ws = new WebSocketConnection(stream, {
    isServer: true, binaryType: opts.binaryType, maxPayload: opts.maxPayload,
    perMessageDeflate: deflate && deflate.params, ...addr,
  });
  // The same shape createTCPServer gives (ws.request: path, query, headers), plus the URL.
  const request = { path: url.pathname, query: Object.fromEntries(url.searchParams), headers: record, url: url.href };
  Object.assign(ws, addr, { request, protocol: 'websocket' });
  // The connection's peer moved (it migrated, or its NAT rebound): h3_server.js's connPath.
  st.onPath = (p) => { ({ address: ws.remoteAddress, port: ws.remotePort } = splitPeer(p)); };
  const fields = [];
  if (deflate) fields.push(['sec-websocket-extensions', deflate.response]);
  return { ws, request, stream, fields };
}
