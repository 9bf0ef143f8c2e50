// The IWA side of the storage test in tests/iwa/js_h3_server_iwa.test.mjs:
// createHttp3Server with the default storage (the origin private file system),
// in the app page and in a dedicated worker (h3_storage_iwa_worker.js).
import SocketIWA from '/api/direct_sockets_api.js';

const hex = (b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
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
export async function stored() {
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('socket-iwa');
  const out = {};
  for await (const [name, h] of dir.entries()) out[name] = (await h.getFile()).size;
  return out;
}

let worker;
function ask(msg) {
  return new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => (data.error ? reject(new Error(data.error)) : resolve(data));
    worker.onerror = (e) => reject(new Error(`worker: ${e.message}`));
    worker.postMessage(msg);
  });
}

/** A server in a dedicated worker, default storage; { port, hash, worker }. */
export async function startInWorker() {
  // IWAs enforce Trusted Types for script URLs.
  const url = '/t/h3_storage_iwa_worker.js';
  const policy = self.trustedTypes.createPolicy(`socket-iwa-storage-${Math.random()}`, { createScriptURL: (u) => (u === url ? u : null) });
  worker = new Worker(policy.createScriptURL(url), { type: 'module' });
  return ask({ start: true });
}

export async function stopWorker() {
  const r = await ask({ stop: true });
  worker.terminate();
  return r.closed;
}
