// A dedicated (module) worker inside the IWA running createHttp3Server: Direct
// Sockets and JSPI work there too. Messages: {start: {port, cert, key}} -> {port, hash}
// or {error}; {stop: true} -> {closed: true}.
import SocketIWA from '/api/direct_sockets_api.js';

let server;
self.onmessage = async ({ data }) => {
  try {
    if (data.start) {
      server = await SocketIWA.createHttp3Server('127.0.0.1', {
        port: data.start.port,
        certificate: { cert: data.start.cert, key: data.start.key },
        fetch: (request) => new Response(`worker says hello ${new URL(request.url).searchParams.get('name')}`,
          { headers: { 'access-control-allow-origin': '*', 'timing-allow-origin': '*' } }),
      });
      self.postMessage({ port: server.port, hash: [...server.certificateHashes[0].value], worker: typeof WorkerGlobalScope === 'function' });
    } else if (data.stop) {
      await server.close();
      self.postMessage({ closed: true });
    }
  } catch (e) {
    self.postMessage({ error: `${e && e.code}: ${e && e.message}` });
  }
};
