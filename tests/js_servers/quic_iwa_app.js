// The IWA side of tests/iwa/js_quic_server_iwa.test.mjs: SocketIWA.createQuicServer with a
// custom ALPN and the default storage (OPFS), inside an installed Isolated Web App on
// Chromium's own Direct Sockets, in the app page or in a dedicated module worker
// (quic_iwa_worker.js runs this same module's start/stop/stats). The echo app of
// quic_app.mjs (ALPN 'myproto' there): bidi streams echoed on themselves, each uni
// stream answered on a new server uni stream, datagrams echoed. The API is mounted at
// /api/, the wasm build at /wasm/, this folder at /t/.
import SocketIWA from '/api/direct_sockets_api.js';

export const ALPN = 'socket-iwa-test';
const hex = (b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
let server;
let counts;

function echo(conn) {
  const each = async (readable, fn) => {
    const reader = readable.getReader();
    for (;;) {
      let r;
      try { r = await reader.read(); } catch { return; }
      if (r.done) return;
      fn(r.value);
    }
  };
  each(conn.incomingBidirectionalStreams, ({ readable, writable }) => {
    readable.pipeTo(writable).then(() => { counts.echoed++; }, (e) => counts.errors.push(e.code));
  });
  each(conn.incomingUnidirectionalStreams, async (readable) => {
    const w = await conn.createUnidirectionalStream();
    readable.pipeTo(w).then(() => { counts.uni++; }, (e) => counts.errors.push(e.code));
  });
  (async () => {
    const w = conn.datagrams.writable.getWriter();
    for await (const d of conn.datagrams.readable) { counts.datagrams++; await w.write(d); }
  })().catch(() => {});
}

/** Starts the server (port 0, default storage); { port, address, alpn, hash, worker }. */
export async function start() {
  counts = { connections: 0, alpns: [], echoed: 0, uni: 0, datagrams: 0, closed: [], errors: [] };
  server = await SocketIWA.createQuicServer('127.0.0.1', { port: 0, alpn: [ALPN] });
  server.on('error', (e) => counts.errors.push(e.code));
  server.on('connection', (conn) => {
    counts.connections++;
    counts.alpns.push(conn.alpn);
    conn.closed.then((r) => counts.closed.push(r), (e) => counts.closed.push({ error: e.code }));
    echo(conn);
  });
  return { port: server.port, address: server.address, alpn: server.alpn, hash: hex(server.certificateHashes[0].value),
    worker: typeof WorkerGlobalScope === 'function' };
}

export function stats() {
  return structuredClone(counts);
}

export async function stop() {
  await server.close();
  return 'closed';
}

/** Names and sizes of the files in OPFS:/socket-iwa/ (the default storage). */
export async function stored() {
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('socket-iwa');
  const out = {};
  for await (const [name, h] of dir.entries()) out[name] = (await h.getFile()).size;
  return out;
}

// The page's side of the worker: messages { call: 'start' | 'stats' | 'stop' } ->
// { result } or { error }.
let worker;
function ask(call) {
  return new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => (data.error ? reject(new Error(data.error)) : resolve(data.result));
    worker.onerror = (e) => reject(new Error(`worker: ${e.message}`));
    worker.postMessage({ call });
  });
}

/** The same server in a dedicated module worker of this IWA; { port, hash, worker, ... }. */
export async function startInWorker() {
  // IWAs enforce Trusted Types for script URLs (CSP require-trusted-types-for 'script').
  const url = '/t/quic_iwa_worker.js';
  const policy = self.trustedTypes.createPolicy(`socket-iwa-quic-${Math.random()}`, { createScriptURL: (u) => (u === url ? u : null) });
  worker = new Worker(policy.createScriptURL(url), { type: 'module' });
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
