// A test app (not the demo) for WebSocket over HTTP/3 (RFC 9220) on
// SocketIWA.createHttp3Server under Node 26: server.on('websocket') routes by
// path next to a fetch handler; events as JSON lines on stdout. Driven by
// tests/interop/test_js_h3_websocket.py; "close" on stdin closes the server.
//   node tests/js_servers/h3_ws_app.mjs [--no-websocket] [--max-payload N] [--max-buffered N] [--cert PEM --key PEM]
import SocketIWA from '../../api/direct_sockets_api.js';
import { arg, certificateArg, commands, out } from './node_app.mjs';

const maxPayload = arg('--max-payload') !== undefined ? Number(arg('--max-payload')) : undefined;
const maxBufferedAmount = arg('--max-buffered') !== undefined ? Number(arg('--max-buffered')) : undefined;
const open = new Set();
const certificate = certificateArg();

const server = await SocketIWA.createHttp3Server('127.0.0.1', {
  port: 0,
  certificate,
  websocket: { ...(maxPayload ? { maxPayload } : {}), ...(maxBufferedAmount ? { maxBufferedAmount } : {}) },
  fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/') return new Response('<!doctype html><title>h3 ws app</title><h1>h3 ws app</h1>', { headers: { 'content-type': 'text/html' } });
    if (url.pathname === '/hello') return new Response(`hello ${url.searchParams.get('name')}`);
    if (url.pathname === '/ws-stats') {
      // What the WebSockets hold in JavaScript: their outgoing queues (bufferedAmount).
      const buffered = [...open].map((ws) => ws.bufferedAmount);
      const m = process.memoryUsage();
      return Response.json({ open: open.size, buffered, rss: m.rss, arrayBuffers: m.arrayBuffers });
    }
    return new Response('not found\n', { status: 404 });
  },
});

if (!process.argv.includes('--no-websocket')) {
  server.on('websocket', (ws, request) => {
    open.add(ws);
    ws.on('close', (code, reason, wasClean) => { open.delete(ws); out({ event: 'ws-close', path: request.path, code, reason, wasClean }); });
    ws.on('error', (e) => out({ event: 'ws-error', path: request.path, code: e.code, closeCode: e.closeCode }));
    const echo = (data, isBinary) => ws.send(isBinary ? data : String(data));
    switch (request.path) {
      case '/echo':
        ws.on('message', echo);
        ws.on('ping', (p) => out({ event: 'ws-ping', data: Buffer.from(p).toString() }));
        break;
      case '/reverse':
        ws.on('message', (data, isBinary) => ws.send(isBinary ? data : [...String(data)].reverse().join('')));
        break;
      case '/info':
        ws.send(JSON.stringify({
          path: request.path, query: request.query, url: request.url, protocol: request.headers['sec-websocket-protocol'] ?? null,
          origin: request.headers.origin ?? null, extensions: ws.extensions, remoteAddress: ws.remoteAddress,
          remotePort: ws.remotePort, localPort: ws.localPort, same: ws.request === request,
        }));
        ws.on('message', echo);
        break;
      case '/whoami':
        // Each message answered with the peer's address as the socket sees it now (it follows a moving peer).
        ws.on('message', (data, isBinary) => ws.send(isBinary ? data : JSON.stringify({ remoteAddress: ws.remoteAddress, remotePort: ws.remotePort })));
        break;
      case '/close':
        // The server starts the closing handshake with the code the client asks for.
        ws.on('message', (data) => ws.close(Number(String(data)), 'server says bye'));
        break;
      case '/ping':
        ws.on('message', (data) => ws.ping(String(data)));
        ws.on('pong', (p) => ws.send(`pong:${Buffer.from(p).toString()}`));
        break;
      case '/flood':
        // Ignores send()'s backpressure: 256 KiB messages until the WebSocket is dropped (at most 400).
        ws.on('message', () => {
          let sent = 0;
          try {
            for (; sent < 400; sent++) ws.send(new Uint8Array(256 * 1024));
          } catch (e) {
            out({ event: 'flood-stopped', sent, code: e.code });
          }
        });
        break;
      case '/throw':
        throw new Error('websocket listener failure on purpose');
      case '/throw-async':
        // What an async listener returns: a promise that rejects after the WebSocket was accepted.
        ws.on('message', echo);
        return Promise.resolve().then(() => { throw new Error('async websocket listener failure on purpose'); });
      case '/throw-on-message':
        ws.on('message', (data, isBinary) => {
          if (String(data) === 'boom') throw new Error('message listener failure on purpose');
          echo(data, isBinary);
        });
        break;
      default:
        ws.close(4004, 'no such endpoint');
    }
  });
}
server.on('error', (e) => out({ event: 'error', code: e.code, message: e.message }));
out({ event: 'listening', port: server.port });
commands({}, { server });
