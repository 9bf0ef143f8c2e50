// The JavaScript echo handlers of stress-test/bench_js_servers.mjs (js_echo_handlers.js)
// under Node 26. Prints the same "listening" JSON line as socket-iwa-server --json.
//   node stress-test/lib/js_echo_server.mjs
import SocketIWA from '../../api/direct_sockets_api.js';
import { pinOf, startJsEcho } from './js_echo_handlers.js';

const server = await startJsEcho(SocketIWA);
console.log(JSON.stringify({ event: 'listening', addr: `127.0.0.1:${server.port}`, cert_sha256: pinOf(server) }));
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
