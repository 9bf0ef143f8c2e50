// A dedicated (module) worker inside the IWA running createHttp3Server with the
// default storage (OPFS). Messages: {start: true} -> {port, hash, worker} or
// {error}; {stop: true} -> {closed: true}.
import SocketIWA from '/api/direct_sockets_api.js';
import { hex, isWorker, serveWorker } from './app_common.js';

let server;
serveWorker(async (data) => {
  if (data.start) {
    server = await SocketIWA.createHttp3Server('127.0.0.1', {
      port: 0,
      fetch: (request) => new Response(`worker says hello ${new URL(request.url).searchParams.get('name')}`),
    });
    return { port: server.port, hash: hex(server.certificateHashes[0].value), worker: isWorker() };
  }
  if (data.stop) {
    await server.close();
    return { closed: true };
  }
  return undefined;
});
