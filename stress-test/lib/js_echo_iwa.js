// The JavaScript echo handlers of stress-test/bench_js_servers.mjs (js_echo_handlers.js)
// inside an IWA page (bench_js_servers.mjs --where iwa): the API mounted at /api/, this
// folder at /bench/.
import SocketIWA from '/api/direct_sockets_api.js';
import { pinOf, startJsEcho } from './js_echo_handlers.js';

let server = null;

export async function start() {
  server = await startJsEcho(SocketIWA);
  return { port: server.port, pin: pinOf(server) };
}

export async function stop() {
  if (server) await server.close();
  server = null;
}
