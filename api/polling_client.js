// Engine.IO v4 HTTP long-polling, client side: the fallback transport of our
// Socket.IO client when the WebSocket upgrade fails (a server configured with
// transports: ['polling'], a proxy that drops Upgrade requests). It offers the
// surface SocketIOClient uses of a WebSocketConnection (send / close /
// terminate / readyState / binaryType / bufferedAmount; events message, close,
// error, drain), so the Socket.IO layer is the same on both transports.
//
// Each HTTP request is one TCP connection with `Connection: close` (a GET that
// long-polls and at most one POST at a time, as Engine.IO requires): simple, and
// it needs nothing but Direct Sockets. Upgrading a polling session to WebSocket
// is not attempted: polling is only used when WebSocket did not work.

import { Emitter } from './emitter.js';
import { SocketIWAError, closedError } from './errors.js';
import { ByteStream } from './byte_stream.js';
import { parseHead } from './ws_handshake.js';
import { utf8, base64, presentBinary, toUint8, concat } from './bytes.js';

const SEP = '\x1e';
/** Largest HTTP response accepted from the server (bytes). */
export const MAX_POLL_RESPONSE = 16 * 1024 * 1024;

function fromBase64(s) {
  let bin;
  try { bin = atob(s); } catch { throw new SocketIWAError('ERR_SOCKETIO_PARSE', 'invalid base64 in a polling payload'); }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Split an Engine.IO v4 polling payload into packets (strings, binary as Uint8Array). */
export function decodePayload(body) {
  if (body === '') return [];
  return body.split(SEP).map((p) => (p[0] === 'b' ? fromBase64(p.slice(1)) : p));
}

/** Join packets into an Engine.IO v4 polling payload. */
export function encodePayload(packets) {
  return packets.map((p) => (typeof p === 'string' ? p : 'b' + base64(toUint8(p)))).join(SEP);
}

function findHeadEnd(b) {
  for (let i = 3; i < b.byteLength; i++) if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) return i + 1;
  return -1;
}

function dechunk(b) {
  const parts = [];
  let off = 0, total = 0;
  const dec = new TextDecoder();
  for (;;) {
    let eol = -1;
    for (let i = off; i + 1 < b.byteLength; i++) if (b[i] === 13 && b[i + 1] === 10) { eol = i; break; }
    if (eol < 0) throw new SocketIWAError('ERR_HTTP_INVALID_RESPONSE', 'truncated chunked body');
    const size = parseInt(dec.decode(b.subarray(off, eol)).split(';')[0], 16);
    if (!Number.isFinite(size) || size < 0) throw new SocketIWAError('ERR_HTTP_INVALID_RESPONSE', 'invalid chunk size');
    off = eol + 2;
    if (size === 0) break;
    if (off + size > b.byteLength) throw new SocketIWAError('ERR_HTTP_INVALID_RESPONSE', 'truncated chunked body');
    parts.push(b.subarray(off, off + size)); total += size;
    off += size + 2;
  }
  return concat(parts, total);
}

/**
 * One HTTP/1.1 request on its own TCP connection. Resolves {status, headers, body}.
 * `open(host, port)` opens the Direct Sockets connection ({socket, info}).
 */
export async function httpRequest(open, { host, port, method, path, headers = {}, body, timeoutMs = 0, signal }) {
  const { socket, info } = await open(host, port);
  return new Promise((resolve, reject) => {
    const chunks = []; let have = 0; let settled = false; let timer = null;
    const done = (err, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener?.('abort', onAbort);
      stream.destroy();
      if (err) reject(err); else resolve(value);
    };
    const onAbort = () => done(new SocketIWAError('ECONNABORTED', `${method} ${path} aborted`));
    const finish = () => {
      const buf = concat(chunks, have);
      const end = findHeadEnd(buf);
      if (end < 0) { done(new SocketIWAError('ECONNRESET', `${method} ${path}: connection closed before a complete response`)); return; }
      let head, bodyBytes;
      try {
        head = parseHead(new TextDecoder().decode(buf.subarray(0, end - 4)));
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(head.startLine);
        if (!m) throw new SocketIWAError('ERR_HTTP_INVALID_RESPONSE', `invalid status line ${JSON.stringify(head.startLine.slice(0, 80))}`);
        head.status = Number(m[1]);
        bodyBytes = buf.subarray(end);
        if (/\bchunked\b/i.test(head.headers['transfer-encoding'] || '')) bodyBytes = dechunk(bodyBytes);
        else if (head.headers['content-length'] !== undefined) {
          const n = Number(head.headers['content-length']);
          if (!(n >= 0) || bodyBytes.byteLength < n) throw new SocketIWAError('ECONNRESET', `${method} ${path}: body shorter than Content-Length`);
          bodyBytes = bodyBytes.subarray(0, n);
        }
      } catch (err) { done(err); return; }
      done(null, { status: head.status, headers: head.headers, body: bodyBytes });
    };
    const stream = new ByteStream(socket, info, {
      onData: (b) => {
        chunks.push(b); have += b.byteLength;
        if (have > MAX_POLL_RESPONSE) done(new SocketIWAError('ERR_HTTP_RESPONSE_TOO_LARGE', `${method} ${path}: response exceeds ${MAX_POLL_RESPONSE} bytes`));
      },
      onEnd: finish,
      onError: (e) => done(e),
    });
    if (timeoutMs) timer = setTimeout(() => done(new SocketIWAError('ETIMEDOUT', `${method} ${path} timed out after ${timeoutMs} ms`)), timeoutMs);
    signal?.addEventListener?.('abort', onAbort);
    const hostHeader = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
    const bodyBytes = body === undefined ? null : utf8(body);
    let req = `${method} ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nConnection: close\r\nAccept: */*\r\n`;
    if (bodyBytes) req += `Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ${bodyBytes.byteLength}\r\n`;
    for (const [k, v] of Object.entries(headers)) req += `${k}: ${v}\r\n`;
    stream.write(bodyBytes ? concat([utf8(req + '\r\n'), bodyBytes], utf8(req + '\r\n').byteLength + bodyBytes.byteLength) : utf8(req + '\r\n'));
  });
}

/** Client side of one Engine.IO polling session. */
export class PollingClient extends Emitter {
  #open; #host; #port; #base; #query; #headers; #timeoutMs;
  #sid = null; #queue = []; #posting = false; #closeSent = false; #abort = new AbortController(); #pending = [];
  #closedEmitted = false;

  /**
   * @param {{open: Function, host: string, port: number, path: string, query?: object, headers?: object, binaryType?: string, requestTimeoutMs?: number}} opts
   *   `path` is the Engine.IO endpoint ("/socket.io/").
   */
  constructor(opts) {
    super();
    this.#open = opts.open; this.#host = opts.host; this.#port = opts.port;
    this.#base = opts.path; this.#query = opts.query || {}; this.#headers = opts.headers || {};
    this.#timeoutMs = opts.requestTimeoutMs ?? 10000;
    this.binaryType = opts.binaryType || 'arraybuffer';
    /** 0 before the handshake, 1 open, 3 closed. */
    this.readyState = 0;
    /** Bytes queued and not yet POSTed. */
    this.bufferedAmount = 0;
    /** Always 'polling'. */
    this.transportName = 'polling';
  }

  #url(extra = {}) {
    const q = new URLSearchParams({ ...this.#query, EIO: '4', transport: 'polling', ...extra });
    if (this.#sid) q.set('sid', this.#sid);
    return `${this.#base}?${q}`;
  }

  #request(method, body, timeoutMs) {
    return httpRequest(this.#open, { host: this.#host, port: this.#port, method, path: this.#url({ t: Date.now().toString(36) }), headers: this.#headers, body, timeoutMs, signal: this.#abort.signal });
  }

  /**
   * The handshake GET; resolves once the server has answered with its OPEN
   * packet. Packets are delivered from start() on.
   */
  async handshake() {
    const res = await this.#request('GET', undefined, this.#timeoutMs);
    const text = new TextDecoder().decode(res.body);
    if (res.status !== 200) throw new SocketIWAError('ERR_SOCKETIO_HANDSHAKE', `polling handshake: HTTP ${res.status} ${text.slice(0, 120)}`);
    const packets = decodePayload(text);
    const open = packets[0];
    let sid;
    try { sid = typeof open === 'string' && open[0] === '0' ? JSON.parse(open.slice(1)).sid : undefined; } catch {}
    if (typeof sid !== 'string') throw new SocketIWAError('ERR_SOCKETIO_PARSE', 'polling handshake: no OPEN packet with a sid');
    this.#sid = sid;
    this.readyState = 1;
    this.#pending = packets;
  }

  /** Deliver the handshake's packets and start long-polling. */
  start() {
    const first = this.#pending; this.#pending = [];
    for (const p of first) this.#deliver(p);
    this.#pollLoop();
  }

  #deliver(p) {
    if (this.readyState !== 1) return;
    if (typeof p === 'string') {
      this.emitLocal('message', p, false);
      if (p === '1') this.#finish('transport close');
    } else this.emitLocal('message', presentBinary(p, this.binaryType), true);
  }

  async #pollLoop() {
    while (this.readyState === 1) {
      let res;
      // No timeout on a long-poll GET: the server answers within its ping
      // interval, and the Socket.IO layer's ping timeout catches a dead server.
      try { res = await this.#request('GET'); } catch (err) { this.#fail(err); return; }
      if (this.readyState !== 1) return;
      if (res.status !== 200) { this.#fail(new SocketIWAError('ECONNRESET', `polling GET: HTTP ${res.status}`)); return; }
      let packets;
      try { packets = decodePayload(new TextDecoder().decode(res.body)); } catch (err) { this.#fail(err); return; }
      for (const p of packets) this.#deliver(p);
    }
  }

  /** Queue a packet (a string Engine.IO packet, or binary). */
  send(packet) {
    if (this.readyState !== 1) throw closedError('polling send');
    const n = typeof packet === 'string' ? packet.length : toUint8(packet).byteLength;
    this.#queue.push(packet);
    this.bufferedAmount += n;
    this.#flush();
    return true;
  }

  async #flush() {
    if (this.#posting || this.readyState === 3) return;
    let batch;
    if (this.#queue.length) batch = this.#queue.splice(0);
    // The CLOSE packet travels alone, after everything queued: a stock server
    // handles CLOSE at once but Socket.IO packets a tick later, so a CLOSE in
    // the same payload as a DISCONNECT would overtake it (as the stock client does).
    else if (this.readyState === 2 && !this.#closeSent) { batch = ['1']; this.#closeSent = true; }
    else return;
    this.#posting = true;
    try {
      const res = await this.#request('POST', encodePayload(batch), this.#timeoutMs);
      if (res.status !== 200) throw new SocketIWAError('ECONNRESET', `polling POST: HTTP ${res.status}`);
    } catch (err) { this.#posting = false; this.#fail(err); return; }
    this.#posting = false;
    this.bufferedAmount = this.#queue.reduce((n, p) => n + (typeof p === 'string' ? p.length : toUint8(p).byteLength), 0);
    if (this.#queue.length || (this.readyState === 2 && !this.#closeSent)) this.#flush();
    else if (this.readyState === 2) this.#finish('transport close'); // the CLOSE packet went out
    else this.emitLocal('drain');
  }

  #fail(err) {
    if (this.readyState === 3) return;
    this.emitLocal('error', err instanceof SocketIWAError ? err : new SocketIWAError('ECONNRESET', String(err && err.message)));
    this.#finish('transport error');
  }

  #finish(reason) {
    if (this.#closedEmitted) return;
    this.#closedEmitted = true;
    this.readyState = 3;
    this.#abort.abort();
    this.emitLocal('close', 1000, reason, reason === 'transport close');
  }

  /** Tell the server we leave (Engine.IO CLOSE, after any queued packets and the POST in flight), then stop. */
  close() {
    if (this.readyState !== 1) { if (this.readyState !== 2) this.#finish('transport close'); return; }
    this.readyState = 2;
    this.#flush();
  }

  /** Stop at once without telling the server. */
  terminate() { this.#finish('transport error'); }
}
