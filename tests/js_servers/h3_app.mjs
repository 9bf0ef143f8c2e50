// A test app (not the demo) for SocketIWA.createHttp3Server under Node 26:
// its own routes, errors reported as JSON lines on stdout. Driven by
// tests/interop/test_js_h3_server.py; "close" on stdin closes the server.
//   node tests/js_servers/h3_app.mjs [host]
import SocketIWA from '../../api/direct_sockets_api.js';
import { hex } from './app_common.js';
import { commands, out } from './node_app.mjs';

const host = process.argv[2] || '127.0.0.1';
let release;
const released = new Promise((r) => { release = r; });

const server = await SocketIWA.createHttp3Server(host, {
  port: 0,
  storage: false, // a fresh certificate per run; nothing written to ~/.socket-iwa (storage: test_js_h3_storage.py)
  async fetch(request) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case '/hello':
        return new Response(`hello ${url.searchParams.get('name')}`, { headers: { 'content-type': 'text/plain' } });
      case '/sum': {
        if (request.method !== 'POST') return new Response('POST only\n', { status: 405 });
        let bytes = 0, chunks = 0;
        for await (const chunk of request.body) { bytes += chunk.length; chunks++; }
        out({ event: 'sum', bytes, chunks });
        return Response.json({ bytes, chunks });
      }
      case '/echo-request':
      case '//other.example/echo-request':
        return Response.json({ url: request.url, method: request.method, agent: request.headers.get('x-agent'), remote: request.remoteAddress });
      case '/hold': {
        // Reads nothing until GET /release: the peer must be held by flow control.
        await released;
        const b = new Uint8Array(await request.arrayBuffer());
        return Response.json({ bytes: b.length });
      }
      case '/release':
        release();
        return new Response('released');
      case '/throw':
        throw new Error('handler failure on purpose');
      case '/not-a-response':
        return { status: 200, body: 'a plain object' };
      case '/stream': {
        // N bytes (byte i = i*31 mod 251) in 16 KiB chunks, produced only as the server pulls.
        const n = Number(url.searchParams.get('n'));
        let off = 0;
        return new Response(new ReadableStream({
          pull(ctl) {
            if (off >= n) return ctl.close();
            const len = Math.min(16384, n - off);
            const b = new Uint8Array(len);
            for (let i = 0; i < len; i++) b[i] = ((off + i) * 31) % 251;
            off += len;
            ctl.enqueue(b);
          },
        }, { highWaterMark: 0 }), { headers: { 'content-length': String(n) } });
      }
      default:
        return new Response('not found\n', { status: 404 });
    }
  },
});
server.on('error', (e) => out({ event: 'error', code: e.code, message: e.message }));
out({
  event: 'listening', port: server.port, address: server.address,
  certificateHashes: server.certificateHashes.map((h) => ({ algorithm: h.algorithm, value: hex(h.value), length: h.value.length })),
});
commands({}, { server });
