// The IWA page's side of tests/iwa/relay_app_iwa.test.mjs: runs the relay app
// (tests/js_servers/relay_app.js) in the installed IWA's page, or in a dedicated module
// worker of the IWA (tests/js_servers/relay_iwa_worker.js, which imports the same app).
// Everything returned is structured-cloneable (the test calls these through iwa.call).
import { startRelay } from './relay_app.js';

let relay;

/** The relay in this page. */
export async function start({ port, cert, key }) {
  relay = await startRelay({ host: '127.0.0.1', port, certificate: { cert, key } });
  return { port: relay.port, certificateHashes: relay.certificateHashes, worker: false };
}

export function stats() {
  return structuredClone(relay.counts);
}

export async function stop() {
  await relay.close();
  return 'closed';
}

let worker;
let policy;
function ask(msg) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`worker did not answer ${JSON.stringify(Object.keys(msg))}`)), 60000);
    worker.onmessage = ({ data }) => { clearTimeout(t); if (data.error) reject(new Error(data.error)); else resolve(data); };
    worker.onerror = (e) => { clearTimeout(t); reject(new Error(`worker: ${e.message}`)); };
    worker.postMessage(msg);
  });
}

/** The same relay in a dedicated module worker of this IWA. */
export async function startWorker({ port, cert, key }) {
  // IWAs enforce Trusted Types for script URLs (CSP require-trusted-types-for 'script').
  const url = '/t/relay_iwa_worker.js';
  policy ??= self.trustedTypes.createPolicy('socket-iwa-relay-worker', { createScriptURL: (u) => (u === url ? u : null) });
  worker = new Worker(policy.createScriptURL(url), { type: 'module' });
  return ask({ start: { port, cert, key } });
}

export function workerStats() {
  return ask({ stats: true });
}

export async function stopWorker() {
  const r = await ask({ stop: true });
  worker.terminate();
  worker = null;
  return r.closed;
}
