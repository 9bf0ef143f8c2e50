// The IWA side of tests/iwa/js_quic_client_iwa.test.mjs: SocketIWA.createQuic inside an
// installed Isolated Web App, on Chromium's own Direct Sockets, as an echo client (ALPN
// 'echo', tests/js_servers/quic_echo_client.js) of servers the test runs on the host
// (aioquic's, our native one). The session a connection ends with is kept here for the
// next one (0-RTT). The same module runs in a dedicated worker (quic_client_iwa_worker.js).
// The API is mounted at /api/, the wasm build at /wasm/, this folder at /t/.
import SocketIWA from '/api/direct_sockets_api.js';
import { isWorker, moduleWorker } from './app_common.js';
import { echoRun } from './quic_echo_client.js';

const sessions = new Map(); // a name the test gives -> the last conn.session

/** One echo connection; `resume` names a session saved by an earlier call (0-RTT). */
export async function echo(cfg) {
  const r = await echoRun(SocketIWA, { ...cfg, sessionObj: cfg.resume ? sessions.get(cfg.resume) : null, wantSession: !!cfg.save });
  if (cfg.save && r.sessionObj) sessions.set(cfg.save, r.sessionObj);
  delete r.sessionObj;
  r.worker = isWorker();
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

/** The same echo() in a dedicated module worker of the IWA. */
export async function echoInWorker(cfg) {
  worker ??= moduleWorker('/t/quic_client_iwa_worker.js', `socket-iwa-quic-client-${Math.random()}`, { timeoutMs: 150000 });
  return (await worker.ask(cfg)).result;
}
