// WebTransport sessions of createHttp3Server (`server.on('webtransport', (session) => {})`,
// issue 10): the session object, shaped like the W3C WebTransport object a
// browser client holds, and the bridge the wasm server's imports reach
// (emscripten/src/lib/libjs_wt.js -> Module.jsHandler.wt, src/app/js_wt.rs).
// Streams and datagrams are the generic classes of api/quic_streams.js.
// Wire format, limits and JSPI boundaries: docs/JS_SERVERS.md, "WebTransport sessions".

import { SocketIWAError, argError } from './errors.js';
import { ipFamily, splitPeer } from './validate.js';
import { DatagramDuplex, QuicStream, WebTransportError } from './quic_streams.js';
import { decodeHead } from './h3_head.js';
import { oncePerTask } from './after_task.js';

/** Events (src/app/js_wt.rs EV_*). */
const EV_DATA = 1, EV_FIN = 2, EV_RESET = 3, EV_STOP_SENDING = 4, EV_DATAGRAM = 5, EV_CLOSED = 6,
  EV_OPENED = 7, EV_OPEN_FAILED = 8, EV_PATH = 15;
export const EV_GONE = 9;
/** Control records (src/app/js_wt.rs CT_*). */
const CT_OPEN = 1, CT_DATAGRAM = 2, CT_CREDIT = 3, CT_RESET = 4, CT_STOP = 5, CT_CLOSE = 6;

/** Close code a session gets when its 'webtransport' listener throws (docs/JS_SERVERS.md). */
export const HANDLER_ERROR_CLOSE_CODE = 0x102;

/** WebTransport application error codes <-> HTTP/3 codes on RESET_STREAM/STOP_SENDING (draft-ietf-webtrans-http3 section 4.4). */
const WT_FIRST = 0x52e4a40fa8db, WT_LAST = 0x52e5ac983162;
export function wtToH3(code) { return WT_FIRST + code + Math.floor(code / 0x1e); }
export function h3ToWt(h) {
  if (!(h >= WT_FIRST && h <= WT_LAST)) return null;
  const d = h - WT_FIRST;
  if (d % 0x1f === 0x1e) return null;
  return d - Math.floor(d / 0x1f);
}

const enc = new TextEncoder();
const utf8 = new TextDecoder();

function writeU64(dv, o, n) {
  dv.setUint32(o, n % 0x100000000, true);
  dv.setUint32(o + 4, Math.floor(n / 0x100000000), true);
}

/** A control record: kind, u64 stream, u64 value. */
function streamRecord(kind, id, value) {
  const b = new Uint8Array(17);
  const dv = new DataView(b.buffer);
  b[0] = kind;
  writeU64(dv, 1, id);
  writeU64(dv, 9, value);
  return b;
}

/** A WebTransport session's flavour of SessionState (api/quic_server.js has the raw QUIC one). */
const WT_FLAVOUR = {
  what: 'WebTransport session',
  stream: 'WebTransport stream',
  codes: { reset: 'ERR_WT_STREAM_RESET', stopped: 'ERR_WT_STREAM_STOPPED', closed: 'ERR_WT_SESSION_CLOSED' },
  toWire: wtToH3,
  fromWire: h3ToWt,
  /** The W3C API's range (unsigned long): larger codes of an abort/cancel reason send 0. */
  maxCode: 0xffffffff,
  /** CT_CLOSE: u32 code, reason (at most 1024 bytes, already cut). */
  closeRecord(closeCode, r) {
    const rec = new Uint8Array(5 + r.length);
    rec[0] = CT_CLOSE;
    new DataView(rec.buffer).setUint32(1, closeCode, true);
    rec.set(r, 5);
    return rec;
  },
};

/** The SessionState behind a StreamSession (for the subclasses' own methods; not exported from the API). */
export let stateOf;

/**
 * What a WebTransport session and a raw QUIC connection (either end) share: the
 * W3C WebTransport object's streams, datagrams, ready and closed, over a SessionState.
 * Subclasses add their close() and identity (url, alpn, ...).
 */
export class StreamSession {
  #s;
  /** @internal */
  constructor(state, { remoteAddress, remotePort, ready }) {
    this.#s = state;
    /** @type {string} the peer's address; follows the connection's path (the peer migrated or its NAT rebound) */
    this.remoteAddress = remoteAddress;
    /** @type {number} */
    this.remotePort = remotePort;
    state.onPath = (peer) => { ({ address: this.remoteAddress, port: this.remotePort } = splitPeer(peer)); };
    /** Resolves once the session or connection is established. */
    this.ready = ready;
    /** Resolves { closeCode, reason } when it closes (either side); rejects (code) when its connection is lost. */
    this.closed = state.closed;
    this.datagrams = state.datagrams;
    this.incomingBidirectionalStreams = state.incomingBidi;
    this.incomingUnidirectionalStreams = state.incomingUni;
  }

  static { stateOf = (o) => o.#s; }

  /** Opens a bidirectional stream: { readable, writable }; waits while the peer's stream limit is reached. */
  createBidirectionalStream() { return this.#s.open(false); }

  /** Opens a unidirectional stream: a WritableStream; waits while the peer's stream limit is reached. */
  createUnidirectionalStream() { return this.#s.open(true); }
}

/**
 * A WebTransport session a client opened on this server (Extended CONNECT,
 * :protocol = webtransport). The surface of the W3C WebTransport object.
 */
export class WebTransportSession extends StreamSession {
  /** @internal made by the server */
  constructor(state, { url, remoteAddress, remotePort }) {
    // The session is established when the listener runs.
    super(state, { remoteAddress, remotePort, ready: Promise.resolve() });
    /** @type {string} 'https://host:port/path?query' */
    this.url = url;
  }

  /** Closes the session: CLOSE_WEBTRANSPORT_SESSION(closeCode, reason), then FIN. */
  close({ closeCode = 0, reason = '' } = {}) {
    if (!Number.isInteger(closeCode) || closeCode < 0 || closeCode > 0xffffffff) {
      throw argError(`WebTransportSession.close: closeCode must be an integer 0..2^32-1, got ${closeCode}.`, 'ERR_INVALID_ARG_VALUE');
    }
    if (typeof reason !== 'string') throw argError('WebTransportSession.close: reason must be a string.', 'ERR_INVALID_ARG_TYPE');
    stateOf(this).closeLocal(closeCode, reason);
  }
}

/**
 * The JavaScript state of one session (the owner its streams act through). Also a raw
 * QUIC connection's (api/quic_server.js), with another `flavour`: codes on the wire,
 * error codes and messages, the close record.
 */
export class SessionState {
  /** `client`: this end opened the connection (createQuic): its own streams have even ids, the peer's odd. */
  constructor(bridge, key, flavour = WT_FLAVOUR, { client = false } = {}) {
    this.bridge = bridge;
    this.key = key;
    this.fl = flavour;
    this.maxCode = flavour.maxCode;
    this.streams = new Map();
    this.readySet = new Set();
    this.credits = new Map();
    this.ctl = [];
    this.opens = new Map();
    this.nextToken = 1;
    this.closeRecord = null;
    this.dirty = false;
    this.done = false;   // closed or gone: no more events matter
    this.ownBit = client ? 0 : 1; // RFC 9000 section 2.1: bit 0 of a stream id is its initiator
    this.peer = client ? { 1: { max: -1, missing: new Set() }, 3: { max: -1, missing: new Set() } }
      : { 0: { max: -1, missing: new Set() }, 2: { max: -1, missing: new Set() } };
    this.datagrams = new DatagramDuplex(this);
    this.closed = new Promise((resolve, reject) => { this.resolveClosed = resolve; this.rejectClosed = reject; });
    this.closed.catch(() => {}); // a lost connection rejects it; the user may not be listening
    this.incomingBidi = new ReadableStream({ start: (c) => { this.biCtl = c; } });
    this.incomingUni = new ReadableStream({ start: (c) => { this.uniCtl = c; } });
  }

  // ---- owner interface of QuicStream / DatagramDuplex ----
  credit(id, n) {
    if (n <= 0 || this.done) return;
    this.credits.set(id, (this.credits.get(id) || 0) + n);
    this.mark();
  }
  ready(id) { this.readySet.add(id); this.mark(); }
  reset(id, code) { this.readySet.delete(id); this.ctl.push(streamRecord(CT_RESET, id, this.fl.toWire(code))); this.mark(); }
  stopSending(id, code) { this.ctl.push(streamRecord(CT_STOP, id, this.fl.toWire(code))); this.mark(); }
  forget(id) { this.streams.delete(id); this.readySet.delete(id); }
  /** New datagrams to pull: the session is dirty now, the loop is woken once per task (bridge.interruptSoon). */
  wake() {
    if (this.done) return;
    this.dirty = true;
    this.bridge.interruptSoon();
  }

  mark() {
    if (this.done) return;
    this.dirty = true;
    this.bridge.interrupt();
  }

  closedError(message) {
    return new WebTransportError(this.fl.codes.closed, message, { source: 'session' });
  }

  open(uni) {
    if (this.done) return Promise.reject(this.closedError(`the ${this.fl.what} is closed`));
    const token = this.nextToken++;
    const rec = new Uint8Array(6);
    rec[0] = CT_OPEN;
    rec[1] = uni ? 1 : 0;
    new DataView(rec.buffer).setUint32(2, token, true);
    this.ctl.push(rec);
    this.mark();
    return new Promise((resolve, reject) => this.opens.set(token, { uni, resolve, reject }));
  }

  closeLocal(closeCode, reason) {
    if (this.done) return;
    let r = enc.encode(reason);
    if (r.length > 1024) r = r.subarray(0, 1024);
    this.closeRecord = this.fl.closeRecord(closeCode, r);
    this.mark();
    this.finish(this.closedError(`the ${this.fl.what} was closed`), true);
    this.resolveClosed({ closeCode, reason: utf8.decode(r) });
  }

  /** Ends everything JavaScript holds: pending reads and writes fail with `error`. */
  finish(error, clean) {
    if (this.done) return;
    // Control records still go out (credit, the close capsule); the rest is dropped.
    for (const st of this.streams.values()) st.fail(error);
    this.streams.clear();
    this.readySet.clear();
    this.datagrams.fail(error);
    for (const o of this.opens.values()) o.reject(error);
    this.opens.clear();
    for (const c of [this.biCtl, this.uniCtl]) {
      try { if (clean) c.close(); else c.error(error); } catch { /* already */ }
    }
    this.done = true;
  }

  /** A peer stream seen for the first time (QUIC opens them in order; `missing` are the skipped ids). */
  peerStream(id) {
    if (id % 2 === this.ownBit) return null; // our own: already forgotten
    const t = this.peer[id % 4];
    if (id > t.max) {
      for (let k = t.max < 0 ? id % 4 : t.max + 4; k < id; k += 4) t.missing.add(k);
      t.max = id;
    } else if (!t.missing.delete(id)) {
      return null; // a stream JavaScript is done with
    }
    const bidi = (id & 2) === 0;
    const st = new QuicStream(this, id, { readable: true, writable: bidi });
    this.streams.set(id, st);
    if (bidi) this.biCtl.enqueue({ readable: st.readable, writable: st.writable });
    else this.uniCtl.enqueue(st.readable);
    return st;
  }

  event(kind, id, bytes, code) {
    switch (kind) {
      case EV_DATA: {
        if (this.done) return;
        const st = this.streams.get(id) || this.peerStream(id);
        if (st) st.onData(bytes);
        else this.credit(id, bytes.length);
        return;
      }
      case EV_FIN: {
        const st = this.streams.get(id) || (this.done ? null : this.peerStream(id));
        if (st) st.onFin();
        return;
      }
      case EV_RESET:
        this.streams.get(id)?.onReset(new WebTransportError(this.fl.codes.reset, `the peer reset ${this.fl.stream} ${id}`,
          { source: 'stream', streamErrorCode: this.fl.fromWire(code) }));
        return;
      case EV_STOP_SENDING:
        this.readySet.delete(id);
        this.streams.get(id)?.onStopSending(new WebTransportError(this.fl.codes.stopped, `the peer stopped ${this.fl.stream} ${id} (STOP_SENDING)`,
          { source: 'stream', streamErrorCode: this.fl.fromWire(code) }));
        return;
      case EV_DATAGRAM:
        if (!this.done) this.datagrams.onDatagram(bytes);
        return;
      case EV_PATH:
        if (!this.done && bytes && this.onPath) this.onPath(utf8.decode(bytes));
        return;
      case EV_CLOSED: {
        const reason = bytes ? utf8.decode(bytes) : '';
        this.finish(this.closedError(`the peer closed the ${this.fl.what} (code ${code}${reason ? `: ${reason}` : ''})`), true);
        this.resolveClosed({ closeCode: code, reason });
        return;
      }
      case EV_OPENED: {
        const o = this.opens.get(code);
        if (!o) return;
        this.opens.delete(code);
        const st = new QuicStream(this, id, { readable: !o.uni, writable: true });
        this.streams.set(id, st);
        o.resolve(o.uni ? st.writable : { readable: st.readable, writable: st.writable });
        return;
      }
      case EV_OPEN_FAILED: {
        const o = this.opens.get(code);
        if (!o) return;
        this.opens.delete(code);
        o.reject(this.closedError(`the ${this.fl.what} closed before the ${this.fl.stream} could open`));
        return;
      }
      case EV_GONE: {
        // Bytes, when present, say why (a Stateless Reset from the peer); else the connection just went (idle timeout).
        const why = bytes && bytes.length ? `: ${utf8.decode(bytes)}` : '';
        const e = new WebTransportError('ECONNRESET', `the ${this.fl.what}'s connection closed${why}`, { source: 'session' });
        this.finish(e, false);
        this.rejectClosed(e);
        return;
      }
      default:
    }
  }

  /** The peer refused 0-RTT: our streams opened in it are gone (createQuic; docs/JS_SERVERS.md "QUIC clients"). */
  earlyDataRejected(error) {
    for (const [id, st] of [...this.streams]) {
      if (id % 2 !== this.ownBit) continue;
      this.streams.delete(id);
      this.readySet.delete(id);
      st.fail(error);
    }
  }

  /** The next control record (stream -1) or stream record for the server loop. */
  pull(id, view, max) {
    if (id < 0) {
      if (max > 0) this.datagrams.maxDatagramSize = max;
      for (const [sid, n] of this.credits) {
        this.credits.delete(sid);
        view.set(streamRecord(CT_CREDIT, sid, n));
        return 17;
      }
      const rec = this.ctl.shift();
      if (rec) { view.set(rec); return rec.length; }
      const d = this.done ? undefined : this.datagrams.take();
      if (d) {
        if (d.length + 1 > view.length) return this.pull(id, view, max); // cannot happen: limited by maxDatagramSize
        view[0] = CT_DATAGRAM;
        view.set(d, 1);
        return 1 + d.length;
      }
      if (this.closeRecord) {
        const r = this.closeRecord;
        this.closeRecord = null;
        view.set(r);
        return r.length;
      }
      return 0;
    }
    const st = this.streams.get(id);
    if (!st) { this.readySet.delete(id); return 0; }
    const n = st.pull(view, max);
    if (!st.hasOutput) this.readySet.delete(id);
    return n;
  }

  held() {
    let n = 0;
    for (const st of this.streams.values()) n += st.held;
    return n;
  }
}

/**
 * The object `Module.jsHandler.wt` of one server: what libjs_wt.js forwards the
 * imports to. `server` is the Http3Server (listeners, 'error', address/port);
 * `interrupt` wakes its loop. Nothing here runs user code synchronously.
 */
export function wtBridge(server, interrupt, interruptSoon) {
  const bridge = sessionsBridge(interrupt, interruptSoon);
  const sessions = bridge.sessions;
  Object.assign(bridge, {
    accept(conn, key, head) {
      if (!server.listenerCount('webtransport')) return false;
      const { peer, fields } = decodeHead(head);
      const pseudo = {};
      for (const [k, v] of fields) if (k.startsWith(':')) pseudo[k] = v;
      const addr = server.address || '127.0.0.1';
      const self = ipFamily(addr) === 6 ? `[${addr}]:${server.port}` : `${addr}:${server.port}`;
      const at = splitPeer(peer);
      const state = new SessionState(bridge, key);
      sessions.set(key, state);
      const session = new WebTransportSession(state, {
        url: `https://${pseudo[':authority'] || self}${pseudo[':path'] || '/'}`,
        remoteAddress: at.address,
        remotePort: at.port,
      });
      queueMicrotask(() => dispatch(server, session, state));
      return true;
    },
  });
  return bridge;
}

/**
 * The imports every session or connection shares, by key (libjs_wt.js); `accept*` are added by
 * the user of it. `interrupt` wakes the loop at once; `interruptSoon` at most once per task
 * (default: `interrupt` after the task).
 */
export function sessionsBridge(interrupt, interruptSoon = oncePerTask(interrupt)) {
  const sessions = new Map();
  const bridge = {
    interrupt,
    interruptSoon,
    sessions,
    event(key, kind, stream, bytes, code) {
      const s = sessions.get(key);
      if (!s) return;
      s.event(kind, stream, bytes, code);
      if (kind === EV_GONE) sessions.delete(key);
    },
    pending(key, clear) {
      const s = sessions.get(key);
      if (!s) return false;
      const d = s.dirty;
      if (clear) s.dirty = false;
      return d;
    },
    ready(key, out) {
      const s = sessions.get(key);
      if (!s) return 0;
      let i = 0;
      for (const id of s.readySet) {
        if (i >= out.length) break;
        out[i++] = id;
      }
      return i;
    },
    pull(key, stream, view, max) {
      const s = sessions.get(key);
      return s ? s.pull(stream, view, max) : 0;
    },
    buffered(key) {
      const s = sessions.get(key);
      return s ? s.held() : 0;
    },
  };
  return bridge;
}

/** Runs every 'webtransport' listener; one that throws (or rejects) closes the session and emits 'error'. */
function dispatch(server, session, state) {
  if (state.done) return;
  const failed = (e) => {
    server.emit('error', new SocketIWAError('ERR_HANDLER_THREW',
      `'webtransport' listener threw for ${session.url}: ${e && e.message}`, { cause: e }));
    try { session.close({ closeCode: HANDLER_ERROR_CLOSE_CODE, reason: 'internal error' }); } catch { /* closed */ }
  };
  for (const fn of server.listeners('webtransport')) {
    try {
      const r = fn.call(server, session);
      if (r && typeof r.then === 'function') r.then(undefined, failed);
    } catch (e) {
      failed(e);
    }
  }
}
