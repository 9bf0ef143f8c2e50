// The IWA page's side of tests/iwa/relay_app_iwa.test.mjs: runs the relay app
// (tests/js_servers/relay_app.js) in the installed IWA's page, or in a dedicated module
// worker of the IWA (tests/js_servers/relay_iwa_worker.js, which imports the same app).
// Everything returned is structured-cloneable (the test calls these through iwa.call).
import { moduleWorker } from './app_common.js';
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

/** The same relay in a dedicated module worker of this IWA. */
export async function startWorker({ port, cert, key }) {
  worker = moduleWorker('/t/relay_iwa_worker.js', `socket-iwa-relay-worker-${Math.random()}`);
  return worker.ask({ start: { port, cert, key } });
}

export function workerStats() {
  return worker.ask({ stats: true });
}

export async function stopWorker() {
  const r = await worker.ask({ stop: true });
  worker.terminate();
  worker = null;
  return r.closed;
}
