// SocketIWA.createQuic: a raw QUIC client connection (no HTTP/3) whose streams and
// datagrams are JavaScript's, on the Rust/ngtcp2/wolfSSL stack in wasm
// (socket-iwa-client --js-quic, src/app/js_quic.rs). One wasm instance per
// connection, its main() the connection's event loop; the same records and
// streams as createQuicServer's connections (api/quic_server.js), from the other end.
// Design: docs/JS_SERVERS.md, "QUIC clients".

import { SocketIWAError, argError } from './errors.js';
import { ipFamily, splitPeer, validatePort } from './validate.js';
import { describe, isNode, loadProgram, requireJspi } from './h3_server.js';
import { QUIC_FLAVOUR, QuicConnection, EV_ESTABLISHED, decodePair, validateAlpn } from './quic_server.js';
import { EV_GONE, SessionState, sessionsBridge, stateOf } from './wt_session.js';
import { WebTransportError } from './quic_streams.js';

/** Client events (src/app/js_wt.rs). */
const EV_CLOSED = 6, EV_ZERO_RTT = 11, EV_SESSION = 12, EV_EARLY_REJECTED = 13, EV_MIGRATED = 14;
/** CT_MIGRATE (src/app/js_wt.rs): move to a new local UDP socket. */
const CT_MIGRATE = 8;
/** EV_ESTABLISHED's code: the fate of 0-RTT (src/app/js_quic.rs early_data_code). */
const EARLY = ['none', 'accepted', 'rejected'];
const MEMFS_DIR = '/socket-iwa-client';

const utf8 = new TextDecoder();

/**
 * A QUIC connection this end opened (`createQuic`): a QuicConnection (streams, datagrams,
 * ready, closed, close, alpn), plus the fate of its 0-RTT data and the session to resume with.
 */
export class QuicClientConnection extends QuicConnection {
  #early;
  #session = null;
  /** The migration under way: { promise, resolve, reject }, or null. */
  #migration = null;
  /** @internal made by createQuic */
  constructor(state, { alpn, remoteAddress, remotePort, zeroRtt, ended }) {
    super(state, { alpn, remoteAddress, remotePort });
    this.#early = zeroRtt ? 'pending' : 'none';
    /** As QuicConnection's, settled once the connection's run has ended (a close() is on the wire by then). */
    this.closed = state.closed.then((v) => ended.then(() => v), (e) => ended.then(() => { throw e; }));
    this.closed.catch(() => {});
    const endMigration = () => this._migrated(null);
    state.closed.then(endMigration, endMigration);
  }

  /**
   * Moves the connection to a new local UDP socket (a new port): the client's deliberate
   * migration of RFC 9000 section 9, with a fresh connection ID; the server validates the new
   * path. The socket is bound on `options.localAddress` (an IP address of this host, of the
   * peer's family: another interface, e.g. leaving Wi-Fi for Ethernet) or else on the current
   * local address. Waits for the handshake to be confirmed if it is not yet. Resolves with the
   * new socket's { localAddress, localPort } once packets leave from it; rejects with
   * ERR_QUIC_MIGRATION_FAILED (the server forbids it with disable_active_migration, no spare
   * connection ID, the bind failed, the address is of the other family) or
   * ERR_QUIC_CONNECTION_CLOSED; a localAddress that is not an IP address throws a TypeError
   * (ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE). A call while one is under way returns the
   * same promise, whatever address it names.
   * @param {{ localAddress?: string }} [options]
   * @returns {Promise<{ localAddress: string, localPort: number }>}
   */
  migrate(options = {}) {
    if (options === null || typeof options !== 'object') throw argError(`QuicClientConnection.migrate: options must be an object, got ${describe(options)}.`, 'ERR_INVALID_ARG_TYPE');
    const local = options.localAddress;
    if (local !== undefined) {
      if (typeof local !== 'string') throw argError(`QuicClientConnection.migrate: options.localAddress must be a string, got ${describe(local)}.`, 'ERR_INVALID_ARG_TYPE');
      if (!ipFamily(local)) throw argError(`QuicClientConnection.migrate: options.localAddress must be an IPv4 or IPv6 address, got ${describe(local)}.`, 'ERR_INVALID_ARG_VALUE');
    }
    if (this.#migration) return this.#migration.promise;
    const st = stateOf(this);
    if (st.done) return Promise.reject(st.closedError('the QUIC connection is closed'));
    const m = {};
    m.promise = new Promise((resolve, reject) => { m.resolve = resolve; m.reject = reject; });
    this.#migration = m;
    // CT_MIGRATE, then the address as text (none: the current one); src/app/js_wt.rs.
    st.ctl.push(local === undefined ? Uint8Array.of(CT_MIGRATE) : Uint8Array.of(CT_MIGRATE, ...new TextEncoder().encode(local)));
    st.mark();
    return m.promise;
  }

  /** @internal the report of EV_MIGRATED (src/io/host.rs MigrationReport), or null: the connection ended. */
  _migrated(report) {
    const m = this.#migration;
    if (!m) return;
    this.#migration = null;
    if (!report) {
      m.reject(stateOf(this).closedError('the QUIC connection closed before it could migrate'));
    } else if (report.migrated && report.to) {
      const at = splitPeer(report.to);
      m.resolve({ localAddress: at.address, localPort: at.port });
    } else {
      m.reject(new SocketIWAError('ERR_QUIC_MIGRATION_FAILED', `QuicClientConnection.migrate: ${report.error || 'the connection did not move'}`));
    }
  }

  /**
   * 'none' (no 0-RTT), 'pending' (0-RTT sent, the handshake not complete yet: `ready` tells),
   * 'accepted' or 'rejected' (streams opened in 0-RTT then fail with ERR_QUIC_EARLY_DATA_REJECTED).
   * @type {'none' | 'pending' | 'accepted' | 'rejected'}
   */
  get earlyData() { return this.#early; }

  /** The newest resumption state the server sent (a session ticket), JSON-serialisable; null until one arrives. */
  get session() { return this.#session; }

  /** @internal */
  _established(alpn, early, cipherSuite) {
    if (alpn) this.alpn = alpn;
    this.cipherSuite = cipherSuite || null;
    this.#early = this.#early === 'pending' ? early : 'none';
  }

  /** @internal */
  _setSession(s) { this.#session = s; }
}

/** Hex of a 32-byte certificate hash ({ algorithm: 'sha-256', value: BufferSource }). */
function hashHex(h, i) {
  const where = `createQuic: options.serverCertificateHashes[${i}]`;
  if (h === null || typeof h !== 'object') throw argError(`${where} must be { algorithm: 'sha-256', value }, got ${describe(h)}.`, 'ERR_INVALID_ARG_TYPE');
  if (h.algorithm !== 'sha-256') throw argError(`${where}.algorithm must be 'sha-256', got ${describe(h.algorithm)}.`, 'ERR_INVALID_ARG_VALUE');
  const v = h.value;
  let bytes;
  if (v instanceof ArrayBuffer) bytes = new Uint8Array(v);
  else if (ArrayBuffer.isView(v)) bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  else throw argError(`${where}.value must be an ArrayBuffer or a view of 32 bytes, got ${describe(v)}.`, 'ERR_INVALID_ARG_TYPE');
  if (bytes.length !== 32) throw argError(`${where}.value must be 32 bytes (SHA-256), got ${bytes.length}.`, 'ERR_INVALID_ARG_VALUE');
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** A session from `conn.session` (or its JSON text): the fields src/tls/session.rs reads. */
function sessionJson(s) {
  let obj = s;
  if (typeof s === 'string') {
    try { obj = JSON.parse(s); } catch (e) { throw argError(`createQuic: options.session is not JSON: ${e.message}`, 'ERR_INVALID_ARG_VALUE'); }
  }
  if (obj === null || typeof obj !== 'object' || typeof obj.tls_session !== 'string' || typeof obj.transport_params !== 'string' || typeof obj.alpn !== 'string') {
    throw argError('createQuic: options.session must be a `conn.session` of an earlier connection (or its JSON).', 'ERR_INVALID_ARG_VALUE');
  }
  return JSON.stringify(obj);
}

/** How the server is authenticated: the verification flags of socket-iwa-client, and files to stage. */
async function verification(options, host) {
  const modes = ['serverCertificateHashes', 'ca', 'rejectUnauthorized'].filter((k) => options[k] !== undefined);
  if (options.rejectUnauthorized !== undefined && typeof options.rejectUnauthorized !== 'boolean') {
    throw argError(`createQuic: options.rejectUnauthorized must be a boolean, got ${describe(options.rejectUnauthorized)}.`, 'ERR_INVALID_ARG_TYPE');
  }
  if (options.rejectUnauthorized === true) modes.pop();
  if (modes.length > 1) throw argError(`createQuic: give one of serverCertificateHashes, ca and rejectUnauthorized: false, not ${modes.join(' and ')}.`, 'ERR_INVALID_ARG_VALUE');
  if (options.serverCertificateHashes !== undefined) {
    const list = options.serverCertificateHashes;
    if (!Array.isArray(list) || list.length === 0) throw argError(`createQuic: options.serverCertificateHashes must be a non-empty array, got ${describe(list)}.`, 'ERR_INVALID_ARG_TYPE');
    return { args: ['--cert-hash', list.map(hashHex).join(',')], files: {} };
  }
  if (options.rejectUnauthorized === false) return { args: ['--insecure'], files: {} };
  let roots = options.ca;
  if (roots !== undefined) {
    if (Array.isArray(roots)) roots = roots.join('\n');
    if (typeof roots !== 'string' || !roots.includes('-----BEGIN CERTIFICATE-----')) {
      throw argError('createQuic: options.ca must be PEM text (or an array of PEM texts) with at least one CERTIFICATE block.', 'ERR_INVALID_ARG_VALUE');
    }
  } else if (isNode) {
    // The system's roots, as Node's own TLS uses them.
    const tls = await import('node:tls');
    roots = tls.rootCertificates.join('\n');
  } else {
    throw argError(`createQuic: a page has no access to the system's root certificates: give options.serverCertificateHashes (as for new WebTransport()) or options.ca to connect to ${host}.`, 'ERR_INVALID_ARG_VALUE');
  }
  return { args: ['--ca', `${MEMFS_DIR}/ca.pem`], files: { 'ca.pem': roots } };
}

/** TLS alerts a failed handshake most often carries (RFC 8446 section 6), for messages. */
const ALERTS = { 40: 'handshake_failure', 42: 'bad_certificate', 46: 'certificate_unknown', 48: 'unknown_ca', 80: 'internal_error', 120: 'no_application_protocol' };

/** Why a connection ended before its handshake completed, from the program's last line. */
function failure(ev, what) {
  if (ev && ev.verify_error) return new SocketIWAError('ERR_TLS_CERT_INVALID', `createQuic: ${what}: ${ev.verify_error}`);
  const c = ev && ev.close;
  if (c) {
    const alert = !c.application && c.code >= 0x100 && c.code <= 0x1ff ? ` = TLS alert ${c.code - 0x100}${ALERTS[c.code - 0x100] ? ` ${ALERTS[c.code - 0x100]}` : ''}` : '';
    const text = `${c.remote ? 'the server closed it' : 'closed here'} with ${c.application ? 'application' : 'transport'} error 0x${Number(c.code).toString(16)}${alert}${c.reason ? ` (${c.reason})` : ''}`;
    return new SocketIWAError('ERR_QUIC_HANDSHAKE_FAILED', `createQuic: ${what}: the handshake failed: ${text}`);
  }
  return new SocketIWAError('ETIMEDOUT', `createQuic: ${what}: no answer (the handshake timed out)`);
}

/**
 * Opens a QUIC connection to `host`:`port` offering `options.alpn`. Resolves once the
 * connection can carry streams: after the handshake, or at once when `options.session`
 * allows 0-RTT (then `conn.earlyData` is 'pending' until `conn.ready`).
 * @param {string} host an IP address literal or 'localhost'
 * @param {number} port
 * @param {{ alpn: string[], serverCertificateHashes?: { algorithm: 'sha-256', value: BufferSource }[],
 *           ca?: string | string[], rejectUnauthorized?: boolean, serverName?: string,
 *           session?: object | string | null, wasmDir?: string | URL }} options
 * @returns {Promise<QuicClientConnection>}
 */
export async function createQuic(host, port, options) {
  const given = host;
  if (host === 'localhost') host = '127.0.0.1';
  if (!ipFamily(host)) throw argError(`createQuic: host must be an IP address literal or 'localhost', got ${describe(given)}.`, 'ERR_INVALID_IP_ADDRESS');
  port = validatePort(port, 'createQuic: port');
  if (options === null || typeof options !== 'object') throw argError(`createQuic: options must be an object, got ${describe(options)}.`, 'ERR_INVALID_ARG_TYPE');
  validateAlpn(options.alpn, 'createQuic');
  const serverName = options.serverName ?? given;
  if (typeof serverName !== 'string' || serverName.length === 0 || serverName.length > 253) {
    throw argError(`createQuic: options.serverName must be a host name of 1-253 characters, got ${describe(serverName)}.`, 'ERR_INVALID_ARG_VALUE');
  }
  const session = options.session == null ? null : sessionJson(options.session);
  const verify = await verification(options, given);
  requireJspi('createQuic');
  const { factory, module } = await loadProgram('client', options.wasmDir, 'createQuic');
  return connect({ factory, module, host, port, alpn: options.alpn, serverName, session, verify });
}

async function connect({ factory, module, host, port, alpn, serverName, session, verify }) {
  let woken = false;
  let mod = null;
  const interrupt = () => {
    woken = true;
    const ds = mod && mod.directSockets;
    if (ds && typeof ds.interrupt === 'function') ds.interrupt();
  };
  const where = `${ipFamily(host) === 6 ? `[${host}]` : host}:${port}`;
  let conn = null;
  let state = null;
  let established = false;
  let settle;
  const usable = new Promise((resolve, reject) => { settle = { resolve, reject }; });
  let last = null;        // the program's final JSON line ({"event":"closed", ...})
  const errLines = [];

  const bridge = sessionsBridge(interrupt);
  bridge.accept = () => false;
  bridge.acceptQuic = (key) => {
    state = new SessionState(bridge, key, QUIC_FLAVOUR, { client: true });
    state.established = new Promise((resolve, reject) => { state.resolveReady = resolve; state.rejectReady = reject; });
    state.established.catch(() => {});
    bridge.sessions.set(key, state);
    return true;
  };
  const event = bridge.event;
  bridge.event = (key, kind, stream, bytes, code) => {
    if (!state || key !== state.key) return;
    switch (kind) {
      case EV_ZERO_RTT:
        conn = conn || newConn(true);
        settle.resolve(conn);
        return;
      case EV_ESTABLISHED:
        established = true;
        conn = conn || newConn(false);
        {
          const [alpn, suite] = decodePair(bytes);
          conn._established(alpn, EARLY[code] || 'none', suite);
        }
        state.resolveReady();
        settle.resolve(conn);
        return;
      case EV_SESSION:
        if (conn && bytes) {
          try { conn._setSession(JSON.parse(utf8.decode(bytes))); } catch { /* never: Rust writes JSON */ }
        }
        return;
      case EV_MIGRATED:
        if (conn && bytes) {
          let report = null;
          try { report = JSON.parse(utf8.decode(bytes)); } catch { /* never: Rust writes JSON */ }
          if (report) conn._migrated(report);
        }
        return;
      case EV_EARLY_REJECTED:
        state.earlyDataRejected(new WebTransportError('ERR_QUIC_EARLY_DATA_REJECTED',
          'the server refused 0-RTT: this stream, opened in it, is gone (open it again)', { source: 'session' }));
        return;
      case EV_CLOSED:
        // Before the handshake completed, the end is a failure (the program's last line says which).
        if (!established) return;
        break;
      default:
    }
    event(key, kind, stream, bytes, code);
  };
  let endedResolve;
  const ended = new Promise((r) => { endedResolve = r; });
  const newConn = (zeroRtt) => new QuicClientConnection(state, { alpn: zeroRtt ? JSON.parse(session).alpn : '', remoteAddress: host, remotePort: port, zeroRtt, ended });

  mod = await factory({
    wasmModule: module,
    noExitRuntime: true,
    thisProgram: 'socket-iwa-client',
    jsHandler: {
      wt: bridge,
      control: (clearWoken) => {
        const bits = woken ? 1 : 0; // no stop bit: conn.close() ends the run
        if (clearWoken) woken = false;
        return bits;
      },
    },
    print: (line) => {
      try { const ev = JSON.parse(line); if (ev && ev.event === 'closed') last = ev; } catch { /* not ours */ }
    },
    printErr: (line) => {
      errLines.push(line);
      if (errLines.length > 20) errLines.shift();
    },
  });
  try { mod.FS.mkdir(MEMFS_DIR); } catch { /* exists */ }
  const args = ['--js-quic', '--json', '--connect', where, '--alpn', alpn.join(','), '--server-name', serverName, ...verify.args];
  for (const [name, text] of Object.entries(verify.files)) mod.FS.writeFile(`${MEMFS_DIR}/${name}`, text);
  if (session) {
    mod.FS.writeFile(`${MEMFS_DIR}/session.json`, session);
    args.push('--session', `${MEMFS_DIR}/session.json`);
  }
  const main = mod.runMain(args).then((status) => ({ status }), (error) => ({ status: 134, error }));
  main.then(async (r) => {
    const ds = mod.directSockets;
    if (ds && typeof ds.whenClosed === 'function') await ds.whenClosed().catch(() => {});
    endedResolve();
    if (established && !r.error) return; // EV_CLOSED / EV_GONE told the connection
    let err;
    if (r.status !== 0 || r.error) {
      const text = errLines.filter((l) => !l.startsWith('{')).join('\n') || (r.error && String(r.error)) || `exit status ${r.status}`;
      err = new SocketIWAError(/cannot bind/i.test(text) ? 'EADDRINUSE' : 'ERR_QUIC_CLIENT', `createQuic: ${text.replace(/^socket-iwa-client: /, '')}`, r.error ? { cause: r.error } : {});
    } else {
      err = failure(last, `connecting to ${where}`);
    }
    settle.reject(err);
    if (state) {
      state.rejectReady(err);
      state.finish(err, false);
      state.rejectClosed(err);
      event(state.key, EV_GONE, -1, null, 0);
    }
  });
  return usable;
}
