// A dedicated (module) worker inside the IWA running createHttp3Server: Direct
// Sockets and JSPI work there too. Messages: {start: {port, cert, key}} -> {port, hash}
// or {error}; {stop: true} -> {closed: true}.
import SocketIWA from '/api/direct_sockets_api.js';
import { isWorker, serveWorker } from './app_common.js';

let server;
serveWorker(async (data) => {
  if (data.start) {
    server = await SocketIWA.createHttp3Server('127.0.0.1', {
      port: data.start.port,
      certificate: { cert: data.start.cert, key: data.start.key },
      fetch: (request) => new Response(`worker says hello ${new URL(request.url).searchParams.get('name')}`,
        { headers: { 'access-control-allow-origin': '*', 'timing-allow-origin': '*' } }),
    });
    return { port: server.port, hash: [...server.certificateHashes[0].value], worker: isWorker() };
  }
  if (data.stop) {
    await server.close();
    return { closed: true };
  }
  return undefined;
});
