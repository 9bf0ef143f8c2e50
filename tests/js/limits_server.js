// A SocketIWA server in its own process, for the adversarial tests
// (robustness.test.js): peers attack it, the test checks the process
// survives and keeps serving. argv[2]: JSON createTCPServer options.
// Prints one JSON line {port} when listening; logs clientError/error codes
// to stderr. Socket.IO: 'echo' acks its arguments, 'rss' acks the RSS.
import { install } from '../../node/direct-sockets.js';
import SocketIWA from '../../api/direct_sockets_api.js';
install(globalThis);

const opts = JSON.parse(process.argv[2] || '{}');
const server = await SocketIWA.createTCPServer('127.0.0.1', opts);
server.on('error', (e) => process.stderr.write(`error ${e.code} ${e.message}\n`));
server.on('clientError', (e) => process.stderr.write(`clientError ${e && e.code}\n`));
server.on('connection', (c) => {
  if (opts.protocol === 'socket.io') {
    c.on('echo', (...args) => { const ack = args.pop(); if (typeof ack === 'function') ack(...args); });
    c.on('rss', (ack) => ack(process.memoryUsage().rss));
  } else if (opts.protocol === 'websocket') {
    c.on('message', (m) => { try { c.send(m); } catch {} });
    c.on('error', () => {});
  }
});
process.stdout.write(JSON.stringify({ port: server.port }) + '\n');
process.on('SIGTERM', () => process.exit(0));
