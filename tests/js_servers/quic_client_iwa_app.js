// The IWA side of tests/iwa/js_quic_client_iwa.test.mjs: SocketIWA.createQuic inside an
// installed Isolated Web App, on Chromium's own Direct Sockets, as an echo client (ALPN
// 'echo', tests/js_servers/quic_echo_client.js) of servers the test runs on the host
// (aioquic's, our native one). The session a connection ends with is kept here for the
// next one (0-RTT). The same module runs in a dedicated worker (quic_client_iwa_worker.js).
// The API is mounted at /api/, the wasm build at /wasm/, this folder at /t/.
import SocketIWA from '/api/direct_sockets_api.js';
import { echoRun } from './quic_echo_client.js';

const sessions = new Map(); // a name the test gives -> the last conn.session

/** One echo connection; `resume` names a session saved by an earlier call (0-RTT). */
export async function echo(cfg) {
  const r = await echoRun(SocketIWA, { ...cfg, sessionObj: cfg.resume ? sessions.get(cfg.resume) : null, wantSession: !!cfg.save });
  if (cfg.save && r.sessionObj) sessions.set(cfg.save, r.sessionObj);
  delete r.sessionObj;
  r.worker = typeof WorkerGlobalScope === 'function' && self instanceof WorkerGlobalScope;
  return r;
}

/** Errors a page gets (each with its code): no verification given, a wrong pin. */
export async function errors({ port }) {
  const out = {};
  try { await SocketIWA.createQuic('127.0.0.1', port, { alpn: ['echo'] }); out.noVerification = 'resolved'; } catch (e) { out.noVerification = [e.name, e.code]; }
  try {
    await SocketIWA.createQuic('127.0.0.1', port, { alpn: ['echo'], serverCertificateHashes: [{ algorithm: 'sha-256', value: new Uint8Array(32) }] });
    out.wrongPin = 'resolved';
  } catch (e) { out.wrongPin = [e.name, e.code]; }
  return out;
}

let worker = null;
const pending = [];

function ask(msg) {
  return new Promise((resolve, reject) => {
    pending.push({ resolve, reject });
    worker.postMessage(msg);
  });
}

/** The same echo() in a dedicated module worker of the IWA. */
export async function echoInWorker(cfg) {
  if (!worker) {
    // IWAs enforce Trusted Types for script URLs (CSP require-trusted-types-for 'script').
    const url = '/t/quic_client_iwa_worker.js';
    const policy = self.trustedTypes.createPolicy(`socket-iwa-quic-client-${Math.random()}`, { createScriptURL: (u) => (u === url ? u : null) });
    worker = new Worker(policy.createScriptURL(url), { type: 'module' });
    worker.onmessage = ({ data }) => {
      const p = pending.shift();
      if (data.error) p.reject(new Error(data.error)); else p.resolve(data.result);
    };
  }
  return ask(cfg);
}
