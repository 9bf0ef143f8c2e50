// A dedicated (module) worker inside the IWA running createHttp3Server with the
// default storage (OPFS). Messages: {start: true} -> {port, hash, worker} or
// {error}; {stop: true} -> {closed: true}.
import SocketIWA from '/api/direct_sockets_api.js';

const hex = (b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
let server;
self.onmessage = async ({ data }) => {
  try {
    if (data.start) {
      server = await SocketIWA.createHttp3Server('127.0.0.1', {
        port: 0,
        fetch: (request) => new Response(`worker says hello ${new URL(request.url).searchParams.get('name')}`),
      });
      self.postMessage({ port: server.port, hash: hex(server.certificateHashes[0].value), worker: typeof WorkerGlobalScope === 'function' });
    } else if (data.stop) {
      await server.close();
      self.postMessage({ closed: true });
    }
  } catch (e) {
    self.postMessage({ error: `${e && e.code}: ${e && e.message}` });
  }
};
