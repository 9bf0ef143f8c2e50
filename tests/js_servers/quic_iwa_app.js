// The IWA side of tests/iwa/js_quic_server_iwa.test.mjs: SocketIWA.createQuicServer with a
// custom ALPN and the default storage (OPFS), inside an installed Isolated Web App on
// Chromium's own Direct Sockets, in the app page or in a dedicated module worker
// (quic_iwa_worker.js runs this same module's start/stop/stats). The echo app of
// quic_app.mjs (ALPN 'myproto' there): bidi streams echoed on themselves, each uni
// stream answered on a new server uni stream, datagrams echoed. The API is mounted at
// /api/, the wasm build at /wasm/, this folder at /t/.
import SocketIWA from '/api/direct_sockets_api.js';
import { echoSession, hex, isWorker, moduleWorker, storedFiles } from './app_common.js';

export const ALPN = 'socket-iwa-test';
let server;
let counts;

function echo(conn) {
  echoSession(conn, {
    done: (kind) => { if (kind === 'bidi') counts.echoed++; else counts.uni++; },
    failed: (kind, e) => counts.errors.push(e.code),
    datagram: () => { counts.datagrams++; },
  });
}

/** Starts the server (port 0, default storage); { port, address, alpn, hash, worker }. */
export async function start() {
  counts = { connections: 0, alpns: [], echoed: 0, uni: 0, datagrams: 0, closed: [], errors: [] };
  server = await SocketIWA.createQuicServer('127.0.0.1', { port: 0, alpn: [ALPN] });
  server.on('error', (e) => counts.errors.push(e.code));
  server.on('connection', (conn) => {
    counts.connections++;
    counts.alpns.push(conn.alpn);
    // With the peer's address as it is at the end: it follows a peer that migrated or rebound.
    const at = () => ({ remoteAddress: conn.remoteAddress, remotePort: conn.remotePort });
    conn.closed.then((r) => counts.closed.push({ ...r, ...at() }), (e) => counts.closed.push({ error: e.code, ...at() }));
    echo(conn);
  });
  return { port: server.port, address: server.address, alpn: server.alpn, hash: hex(server.certificateHashes[0].value),
    worker: isWorker() };
}

export function stats() {
  return structuredClone(counts);
}

export async function stop() {
  await server.close();
  return 'closed';
}

/** Names and sizes of the files in OPFS:/socket-iwa/ (the default storage). */
export const stored = storedFiles;

// The page's side of the worker: messages { call: 'start' | 'stats' | 'stop' } ->
// { result } or { error }.
let worker;
const ask = async (call) => (await worker.ask({ call })).result;

/** The same server in a dedicated module worker of this IWA; { port, hash, worker, ... }. */
export async function startInWorker() {
  worker = moduleWorker('/t/quic_iwa_worker.js', `socket-iwa-quic-${Math.random()}`);
  return ask('start');
}

export function workerStats() {
  return ask('stats');
}

export async function stopWorker() {
  const r = await ask('stop');
  worker.terminate();
  return r;
}

// sendSockets (docs/JS_SERVERS.md, "Sending through several sockets"): a second server whose
// UDPSocket constructions are recorded (the bridge looks the class up when it opens one).
let sharing = null;

/** Starts the echo server with `sendSockets: k` (memory-only storage); { port, hash, opened }. */
export async function startSharing(k) {
  const Real = globalThis.UDPSocket;
  const opened = [];
  globalThis.UDPSocket = class extends Real {
    constructor(options) { super(options); opened.push({ ...options }); }
  };
  try {
    counts = { connections: 0, alpns: [], echoed: 0, uni: 0, datagrams: 0, closed: [], errors: [] };
    const s = await SocketIWA.createQuicServer('127.0.0.1', { port: 0, alpn: [ALPN], storage: false, sendSockets: k });
    s.on('error', (e) => counts.errors.push(e.code));
    s.on('connection', (conn) => { counts.connections++; echo(conn); });
    sharing = { server: s, opened };
    return { port: s.port, hash: hex(s.certificateHashes[0].value), opened };
  } finally {
    globalThis.UDPSocket = Real;
  }
}

export async function stopSharing() {
  await sharing.server.close();
  return sharing.opened;
}

/** createQuicServer / createHttp3Server with bad sendSockets values: 'name:code:message names it' each. */
export async function badSendSockets() {
  const out = [];
  for (const v of [0, 9, 2.5, '2']) {
    for (const f of [() => SocketIWA.createQuicServer('127.0.0.1', { alpn: [ALPN], storage: false, sendSockets: v }),
      () => SocketIWA.createHttp3Server('127.0.0.1', { fetch: () => new Response(''), storage: false, sendSockets: v })]) {
      try { await f(); out.push('resolved'); } catch (e) { out.push(`${e.name}:${e.code}:${/sendSockets/.test(e.message)}`); }
    }
  }
  return out;
}
