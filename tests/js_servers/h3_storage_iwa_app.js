// The IWA side of the storage test in tests/iwa/js_h3_server_iwa.test.mjs:
// createHttp3Server with the default storage (the origin private file system),
// in the app page and in a dedicated worker (h3_storage_iwa_worker.js).
import SocketIWA from '/api/direct_sockets_api.js';
import { hex, moduleWorker, storedFiles } from './app_common.js';

let server;

export async function start() {
  server = await SocketIWA.createHttp3Server('127.0.0.1', {
    port: 0,
    fetch: (request) => new Response(`hello ${new URL(request.url).searchParams.get('name')}`),
  });
  return { port: server.port, hash: hex(server.certificateHashes[0].value) };
}

export async function stop() {
  await server.close();
  return 'closed';
}

/** Names and sizes of the files in OPFS:/socket-iwa/. */
export const stored = storedFiles;

let worker;

/** A server in a dedicated worker, default storage; { port, hash, worker }. */
export async function startInWorker() {
  worker = moduleWorker('/t/h3_storage_iwa_worker.js', `socket-iwa-storage-${Math.random()}`);
  return worker.ask({ start: true });
}

export async function stopWorker() {
  const r = await worker.ask({ stop: true });
  worker.terminate();
  return r.closed;
}
