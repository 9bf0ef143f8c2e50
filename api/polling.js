// Engine.IO v4 HTTP long-polling transport (server side), so stock
// socket.io-client connects with its default transports (polling first,
// then upgrade to WebSocket). Also the small HTTP/1.1 request reader it needs.

import { Emitter } from './emitter.js';
import { closedError, SocketIWAError } from './errors.js';
import { HeadReader, parseHead } from './ws_handshake.js';
import { utf8, base64, presentBinary, toUint8 } from './bytes.js';

const SEP = '\x1e';

function fromBase64(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Server side of one polling session: queue outgoing packets, answer GETs, decode POSTs. */
export class PollingTransport extends Emitter {
  constructor({ maxPayload = 1000000, maxBufferedAmount = 0 } = {}) {
    super();
    this.maxPayload = maxPayload;
    /** Hard cap on bytes queued for a client that does not poll (0: none). */
    this.maxBufferedAmount = maxBufferedAmount;
    this.queuedBytes = 0;
    this.queue = [];
    this.pending = null; // (body: string) => void for the outstanding GET
    this.readyState = 1;
    this.binaryType = 'arraybuffer';
    this.bufferedAmount = 0;
  }

  /** Queue a packet (string, or binary sent as "b<base64>"). */
  send(packet) {
    if (this.readyState !== 1) throw closedError('polling send');
    const text = typeof packet === 'string' ? packet : 'b' + base64(toUint8(packet));
    if (this.maxBufferedAmount && this.queuedBytes + text.length > this.maxBufferedAmount) {
      // A client that stopped polling: drop the session, not grow the queue.
      this.emitLocal('error', new SocketIWAError('ENOBUFS', `polling queue would exceed ${this.maxBufferedAmount} bytes (client not polling): session dropped`));
      this.#end();
      return false;
    }
    this.queue.push(text);
    this.queuedBytes += text.length;
    this.#flush();
    return true;
  }

  /** Answer the pending GET with a noop (used during the upgrade). */
  sendNoop() { if (this.readyState === 1) { this.queue.push('6'); this.#flush(); } }

  #flush() {
    if (!this.pending || !this.queue.length) return;
    const respond = this.pending;
    this.pending = null;
    this.queuedBytes = 0;
    respond(this.queue.splice(0).join(SEP));
  }

  /** A GET arrived: respond now if packets are queued, else hold it. */
  onPoll(respond) {
    if (this.readyState !== 1) { respond(null); return; }
    if (this.pending) {
      // Overlapping GETs break Engine.IO's contract.
      this.pending('6'); this.pending = null;
      this.emitLocal('error', new SocketIWAError('ERR_SOCKETIO_PARSE', 'overlapping polling requests'));
      this.#end();
      respond(null);
      return;
    }
    this.pending = respond;
    this.#flush();
  }

  /** A POST body arrived: emit each packet as a message. */
  onData(body) {
    for (const part of body.split(SEP)) {
      if (part.startsWith('b')) this.emitLocal('message', presentBinary(fromBase64(part.slice(1)), this.binaryType));
      else this.emitLocal('message', part);
    }
  }

  /** Close: tell the client with a CLOSE packet if a GET is waiting. */
  close() {
    if (this.readyState !== 1) return;
    if (this.pending) { this.queue.push('1'); this.#flush(); }
    this.#end();
  }

  /** Drop the session at once. */
  terminate() { this.#end(); }

  /**
   * Replaced by a WebSocket after an upgrade: answer a waiting GET with a noop
   * and hand back the packets not yet delivered (binary ones as bytes), to be
   * sent on the new transport.
   * @returns {Array<string|Uint8Array>}
   */
  retire() {
    const leftover = this.queue.splice(0).map((p) => (p.startsWith('b') ? fromBase64(p.slice(1)) : p));
    if (this.pending) { const respond = this.pending; this.pending = null; respond('6'); }
    this.readyState = 3;
    return leftover;
  }

  #end() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    if (this.pending) { const p = this.pending; this.pending = null; p(null); }
    this.emitLocal('close', 1000, '', true);
  }
}

/** Default limits of serveHttp (ms), see docs/JS_LIMITS.md. */
export const HTTP_DEFAULTS = Object.freeze({ headersTimeoutMs: 10000, bodyTimeoutMs: 30000, keepAliveTimeoutMs: 5000, maxPipelined: 8 });

/**
 * Serve sequential HTTP/1.1 requests on one ByteStream (keep-alive). The
 * first request's head may already be parsed. `onRequest(req)` returns
 * {status, headers, body} or a Promise of it.
 *
 * Every phase has a time limit: the head of a request (from its first byte),
 * its body (from the end of the head) and the idle time after a response
 * (keep-alive) while no request is in progress. A request being answered (a
 * held long-poll GET) is not timed here: Engine.IO's ping bounds it.
 * `onIdle(idle)` reports when the connection becomes idle / busy (for
 * shedding idle connections first when the server is full).
 */
export function serveHttp(stream, first, onRequest, {
  maxBody = 1000000, headersTimeoutMs = HTTP_DEFAULTS.headersTimeoutMs, bodyTimeoutMs = HTTP_DEFAULTS.bodyTimeoutMs,
  keepAliveTimeoutMs = HTTP_DEFAULTS.keepAliveTimeoutMs, maxPipelined = HTTP_DEFAULTS.maxPipelined, onIdle = () => {},
} = {}) {
  let reader = new HeadReader();
  let current = null; // {req, need, chunks, got}
  let busy = Promise.resolve();
  let pending = 0; // requests received and not yet answered
  let headStarted = false;
  let closed = false;
  let timer = null, phase = null;
  const setPhase = (next) => {
    if (closed || next === phase) return;
    phase = next;
    clearTimeout(timer); timer = null;
    const ms = next === 'idle' ? keepAliveTimeoutMs : next === 'head' ? headersTimeoutMs : next === 'body' ? bodyTimeoutMs : 0;
    if (ms > 0) {
      timer = setTimeout(() => {
        if (next === 'idle') finish(null);
        else finish(`HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      }, ms);
    }
    onIdle(next === 'idle');
  };
  const finish = (lastWords) => {
    if (closed) return;
    if (lastWords) stream.write(utf8(lastWords));
    closed = true;
    clearTimeout(timer); timer = null;
    stream.close().catch(() => {});
  };
  const settle = () => {
    if (closed) return;
    if (current) setPhase('body');
    else if (headStarted) setPhase('head');
    else if (pending) setPhase('busy');
    else setPhase('idle');
  };
  const queueRequest = (req) => {
    pending++;
    busy = busy.then(async () => {
      let res;
      try { res = await onRequest(req); } catch (err) { res = { status: 500, body: String(err && err.message) }; }
      pending--;
      if (closed) return;
      if (!res) { finish(null); return; }
      const body = typeof res.body === 'string' ? utf8(res.body) : res.body || new Uint8Array(0);
      const reason = { 200: 'OK', 204: 'No Content', 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 413: 'Payload Too Large', 500: 'Internal Server Error' }[res.status] || 'OK';
      let head = `HTTP/1.1 ${res.status} ${reason}\r\nContent-Length: ${body.byteLength}\r\nConnection: keep-alive\r\n`;
      for (const [k, v] of Object.entries(res.headers || {})) head += `${k}: ${v}\r\n`;
      stream.write(utf8(head + '\r\n'));
      if (body.byteLength) stream.write(body);
      settle();
    });
  };
  const startRequest = (head, rest) => {
    headStarted = false;
    let parsed;
    try { parsed = parseHead(head); } catch { finish('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'); return; }
    const m = /^(GET|POST|OPTIONS) (\S+) HTTP\/1\.[01]$/.exec(parsed.startLine);
    if (!m) { finish('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'); return; }
    if (parsed.headers['transfer-encoding'] !== undefined) {
      // Engine.IO clients send a Content-Length; chunked bodies are refused.
      finish('HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    if (pending >= maxPipelined) { finish('HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'); return; }
    let url;
    try { url = new URL(m[2], 'http://localhost'); } catch { finish('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'); return; }
    const req = { method: m[1], path: url.pathname, query: Object.fromEntries(url.searchParams), headers: parsed.headers, body: '' };
    const cl = parsed.headers['content-length'];
    const need = cl === undefined ? 0 : /^\d{1,10}$/.test(cl.trim()) ? Number(cl) : NaN;
    if (!Number.isInteger(need) || need > maxBody) {
      finish('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    current = { req, need, chunks: [], got: 0 };
    feedBody(rest);
  };
  const feedBody = (bytes) => {
    if (closed) return;
    if (!current) { if (bytes && bytes.byteLength) onData(bytes); return; }
    if (bytes && bytes.byteLength) {
      const take = Math.min(bytes.byteLength, current.need - current.got);
      current.chunks.push(bytes.subarray(0, take));
      current.got += take;
      bytes = bytes.subarray(take);
    }
    if (current.got === current.need) {
      const all = new Uint8Array(current.got); let o = 0;
      for (const c of current.chunks) { all.set(c, o); o += c.byteLength; }
      current.req.body = new TextDecoder().decode(all);
      const req = current.req;
      current = null;
      queueRequest(req);
      if (bytes && bytes.byteLength) { onData(bytes); return; }
    }
    settle();
  };
  const onData = (chunk) => {
    if (closed) return;
    if (current) { feedBody(chunk); return; }
    let r;
    try { r = reader.push(chunk); } catch { finish('HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'); return; }
    if (!r) { headStarted = true; settle(); return; }
    reader = new HeadReader();
    startRequest(r.head, r.rest);
  };
  stream.handlers.onData = onData;
  stream.handlers.onEnd = () => finish(null);
  stream.handlers.onError = () => { closed = true; clearTimeout(timer); stream.destroy(); };
  startRequest(first.head, first.rest);
}
