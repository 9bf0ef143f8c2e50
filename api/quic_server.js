// SocketIWA.createQuicServer: raw QUIC servers (no HTTP/3) whose logic is
// JavaScript's, for the ALPN protocols the caller names (issue 10). The same wasm
// program as createHttp3Server in another mode (socket-iwa-server --js-quic,
// src/app/js_quic.rs), the same start-up, storage and certificate handling
// (api/h3_server.js), and the same streams and datagrams as WebTransport sessions
// (api/wt_session.js's SessionState over api/quic_streams.js): only the codes
// (QUIC application error codes as they are, no WebTransport mapping), the
// close (CONNECTION_CLOSE) and the error names differ.
// Design: docs/JS_SERVERS.md, "Raw QUIC servers".

import { SocketIWAError, argError } from './errors.js';
import { ipFamily, splitPeer, validatePort } from './validate.js';
import { Http3Server, describe, requireJspi, validateCertificate, validateSendSockets } from './h3_server.js';
import { validateStorage } from './server_storage.js';
import { EV_GONE, SessionState, StreamSession, sessionsBridge, stateOf } from './wt_session.js';

/** EV_ESTABLISHED (src/app/js_wt.rs): the handshake completed (bytes: `decodePair` of the ALPN and the cipher suite; code: a client's 0-RTT fate). */
export const EV_ESTABLISHED = 10;
/** CT_CLOSE_QUIC (src/app/js_wt.rs): u64 application error code, reason. */
const CT_CLOSE_QUIC = 7;
/** Application error code a connection gets when its 'connection' listener throws (docs/JS_SERVERS.md). */
export const QUIC_HANDLER_ERROR_CODE = 0x1;

const utf8 = new TextDecoder();

export const QUIC_FLAVOUR = {
  what: 'QUIC connection',
  stream: 'QUIC stream',
  codes: { reset: 'ERR_QUIC_STREAM_RESET', stopped: 'ERR_QUIC_STREAM_STOPPED', closed: 'ERR_QUIC_CONNECTION_CLOSED' },
  toWire: (c) => c,
  fromWire: (c) => c,
  /**
   * QUIC application codes are 62-bit (RFC 9000 section 16); JavaScript numbers are exact to
   * 2^53-1, so an abort/cancel reason's code may be 0..2^53-1 (else 0). Incoming codes arrive as
   * numbers (f64): exact to 2^53-1, larger ones rounded to the nearest number.
   */
  maxCode: Number.MAX_SAFE_INTEGER,
  closeRecord(closeCode, r) {
    const rec = new Uint8Array(9 + r.length);
    const dv = new DataView(rec.buffer);
    rec[0] = CT_CLOSE_QUIC;
    dv.setUint32(1, closeCode % 0x100000000, true);
    dv.setUint32(5, Math.floor(closeCode / 0x100000000), true);
    rec.set(r, 9);
    return rec;
  },
};

/**
 * One QUIC connection a client made to a createQuicServer: the streams, datagrams,
 * closed and close of a WebTransport session, plus the negotiated `alpn`.
 */
export class QuicConnection extends StreamSession {
  /** @internal made by the server (or createQuic); `ready` resolves once the handshake completed */
  constructor(state, { alpn, remoteAddress, remotePort }) {
    super(state, { remoteAddress, remotePort, ready: state.established });
    /** @type {string} the negotiated ALPN protocol */
    this.alpn = alpn;
    /** @type {string | null} the negotiated TLS cipher suite (IANA name), once the handshake completed */
    this.cipherSuite = null;
  }

  /** Closes the connection: CONNECTION_CLOSE with application error `closeCode` and `reason` (cut to 1024 bytes). */
  close({ closeCode = 0, reason = '' } = {}) {
    if (!Number.isSafeInteger(closeCode) || closeCode < 0) {
      throw argError(`QuicConnection.close: closeCode must be an integer 0..2^53-1, got ${closeCode}.`, 'ERR_INVALID_ARG_VALUE');
    }
    if (typeof reason !== 'string') throw argError('QuicConnection.close: reason must be a string.', 'ERR_INVALID_ARG_TYPE');
    stateOf(this).closeLocal(closeCode, reason);
  }
}

/** Two strings, each after its u16 little-endian length (src/app/js_quic.rs encode_pair). */
export function decodePair(bytes) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const alen = dv.getUint16(0, true);
  const a = utf8.decode(bytes.subarray(2, 2 + alen));
  const blen = dv.getUint16(2 + alen, true);
  return [a, utf8.decode(bytes.subarray(4 + alen, 4 + alen + blen))];
}

/** The head of `sjs_quic_accept` (src/app/js_quic.rs encode_head): the ALPN and the peer. */
function decodeQuicHead(head) {
  const [alpn, peer] = decodePair(head);
  return { alpn, peer };
}

/**
 * A raw QUIC server. Events: 'connection' (QuicConnection), 'error' (err.code),
 * 'close', 'certificate' (the new certificateHashes after a renewal).
 */
export class QuicServer extends Http3Server {
  #alpn;
  /** @type {string[]} the ALPN protocols offered, in preference order */
  alpn;

  /** @internal use SocketIWA.createQuicServer */
  constructor(host, alpn) {
    super(host, null);
    this.#alpn = alpn;
    this.alpn = [...alpn];
  }

  /** @internal */
  _modeArgs() { return ['--js-quic', this.#alpn.join(',')]; }
  /** @internal */
  get _apiName() { return 'createQuicServer'; }
  /** @internal */
  get _kind() { return 'QUIC'; }

  /** @internal the object libjs_wt.js's imports reach (`sjs_quic_accept` and the session imports by key). */
  _sessionsBridge(interrupt, interruptSoon) {
    const bridge = sessionsBridge(interrupt, interruptSoon);
    bridge.accept = () => false; // no HTTP/3 here: never called
    bridge.acceptQuic = (key, head) => {
      const { alpn, peer } = decodeQuicHead(head);
      const at = splitPeer(peer);
      const state = new SessionState(bridge, key, QUIC_FLAVOUR);
      state.established = new Promise((resolve, reject) => { state.resolveReady = resolve; state.rejectReady = reject; });
      state.established.catch(() => {});
      bridge.sessions.set(key, state);
      state.conn = new QuicConnection(state, { alpn, remoteAddress: at.address, remotePort: at.port });
      return true;
    };
    // 'connection' fires when the handshake completed (EV_ESTABLISHED); 0-RTT streams wait in the incoming queues until then.
    const event = bridge.event;
    bridge.event = (key, kind, stream, bytes, code) => {
      const state = bridge.sessions.get(key);
      if (kind === EV_ESTABLISHED) {
        if (state && !state.done) {
          state.conn.cipherSuite = decodePair(bytes)[1] || null;
          state.resolveReady();
          queueMicrotask(() => this.#dispatch(state.conn, state));
        }
        return;
      }
      event(key, kind, stream, bytes, code);
      if (state && (state.done || kind === EV_GONE)) state.rejectReady(state.closedError('the QUIC connection closed before its handshake completed'));
    };
    return bridge;
  }

  /** Runs every 'connection' listener; one that throws (or rejects) closes the connection (code 1) and emits 'error'. */
  #dispatch(conn, state) {
    if (state.done) return;
    const failed = (e) => {
      this.emit('error', new SocketIWAError('ERR_HANDLER_THREW',
        `'connection' listener threw for ${conn.remoteAddress}:${conn.remotePort}: ${e && e.message}`, { cause: e }));
      try { conn.close({ closeCode: QUIC_HANDLER_ERROR_CODE, reason: 'internal error' }); } catch { /* closed */ }
    };
    for (const fn of this.listeners('connection')) {
      try {
        const r = fn.call(this, conn);
        if (r && typeof r.then === 'function') r.then(undefined, failed);
      } catch (e) {
        failed(e);
      }
    }
  }
}

/** ALPN names: 1-255 bytes of UTF-8, no comma (the list travels comma-separated), no duplicates. */
export function validateAlpn(alpn, api = 'createQuicServer') {
  if (!Array.isArray(alpn) || alpn.length === 0) {
    throw argError(`${api}: options.alpn must be a non-empty array of protocol names, got ${describe(alpn)}.`, alpn === undefined || Array.isArray(alpn) ? 'ERR_INVALID_ARG_VALUE' : 'ERR_INVALID_ARG_TYPE');
  }
  const seen = new Set();
  for (const a of alpn) {
    if (typeof a !== 'string') throw argError(`${api}: options.alpn entries must be strings, got ${describe(a)}.`, 'ERR_INVALID_ARG_TYPE');
    const n = new TextEncoder().encode(a).length;
    if (n < 1 || n > 255) throw argError(`${api}: ALPN protocol names are 1-255 bytes, got ${n} bytes (${describe(a)}).`, 'ERR_INVALID_ARG_VALUE');
    if (a.includes(',')) throw argError(`${api}: ALPN protocol names cannot contain ',' here, got ${describe(a)}.`, 'ERR_INVALID_ARG_VALUE');
    if (seen.has(a)) throw argError(`${api}: ALPN ${describe(a)} is listed twice.`, 'ERR_INVALID_ARG_VALUE');
    seen.add(a);
  }
}

/**
 * Starts a raw QUIC server on `host` (an IP literal or 'localhost') for the ALPN
 * protocols in `options.alpn`; `server.on('connection', (conn) => {})` gets each
 * connection (docs/JS_SERVERS.md, "Raw QUIC servers").
 * @param {string} host
 * @param {{ port?: number, alpn: string[], certificate?: { cert: string, key: string },
 *           storage?: false | string, renewBefore?: number, wasmDir?: string | URL }} options
 * @returns {Promise<QuicServer>}
 */
export async function createQuicServer(host, options) {
  if (host === 'localhost') host = '127.0.0.1';
  if (!ipFamily(host)) throw argError(`createQuicServer: host must be an IP address literal or 'localhost', got ${describe(host)}.`, 'ERR_INVALID_IP_ADDRESS');
  if (options === null || typeof options !== 'object') throw argError(`createQuicServer: options must be an object, got ${describe(options)}.`, 'ERR_INVALID_ARG_TYPE');
  const port = validatePort(options.port ?? 0, 'port', { allowZero: true });
  validateAlpn(options.alpn);
  validateCertificate(options.certificate, 'createQuicServer');
  validateStorage(options.storage, 'createQuicServer');
  const sendSockets = validateSendSockets(options.sendSockets, 'createQuicServer');
  requireJspi('createQuicServer');
  const server = new QuicServer(host, options.alpn);
  return server._start({ port, certificate: options.certificate, wasmDir: options.wasmDir, storage: options.storage, renewBefore: options.renewBefore, sendSockets });
}
