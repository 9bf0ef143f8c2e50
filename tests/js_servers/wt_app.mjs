// A test app (not the demo) for server.on('webtransport') of SocketIWA.createHttp3Server
// under Node 26: its own session logic by path, events as JSON lines on stdout.
// Driven by tests/interop/test_js_wt_server.py; stdin commands: "stats", "close".
//   node tests/js_servers/wt_app.mjs [host]
import SocketIWA from '../../api/direct_sockets_api.js';
import { eachChunk, echoSession, errInfo as err, hex } from './app_common.js';
import { commands, out } from './node_app.mjs';

const { WebTransportError } = SocketIWA;
const host = process.argv[2] || '127.0.0.1';

const sessions = new Set();
let echoedStreams = 0;

async function readAll(readable) {
  const chunks = [];
  let n = 0;
  for await (const c of readable) { chunks.push(c); n += c.length; }
  return Buffer.concat(chunks, n);
}

/** The echo app: bidi streams on themselves, uni streams on a new server uni stream, datagrams back. */
function echo(session) {
  echoSession(session, {
    done: (kind) => { if (kind === 'bidi') echoedStreams++; },
    failed: (kind, e) => out({ event: 'stream_error', path: kind === 'bidi' ? 'echo' : 'echo-uni', ...err(e) }),
  });
}

const server = await SocketIWA.createHttp3Server(host, {
  port: 0,
  fetch: () => new Response('wt app\n'),
});

server.on('webtransport', async (session) => {
  const url = new URL(session.url);
  sessions.add(session);
  out({ event: 'session', url: session.url, remoteAddress: session.remoteAddress, remotePort: session.remotePort });
  // remoteAddress/remotePort as they are at the end: they follow a peer whose NAT rebound.
  session.closed.then((r) => { sessions.delete(session); out({ event: 'session_closed', path: url.pathname, ...r, remoteAddress: session.remoteAddress, remotePort: session.remotePort }); },
    (e) => { sessions.delete(session); out({ event: 'session_lost', path: url.pathname, ...err(e) }); });
  await session.ready;
  switch (url.pathname) {
    case '/echo':
      return echo(session);
    case '/server-bidi': {
      // The server opens a bidi stream, sends a greeting, FIN, and reports what came back.
      const { readable, writable } = await session.createBidirectionalStream();
      const w = writable.getWriter();
      await w.write(new TextEncoder().encode('hello from the server'));
      await w.close();
      const back = await readAll(readable);
      out({ event: 'server_bidi_reply', text: back.toString() });
      return;
    }
    case '/server-uni': {
      const n = Number(url.searchParams.get('n') || 1000);
      const w = (await session.createUnidirectionalStream()).getWriter();
      for (let off = 0; off < n; off += 16384) {
        const len = Math.min(16384, n - off);
        const b = new Uint8Array(len);
        for (let i = 0; i < len; i++) b[i] = ((off + i) * 31) % 251;
        await w.write(b);
      }
      await w.close();
      out({ event: 'server_uni_done', n });
      return;
    }
    case '/never-read':
      // Accepts streams and never reads them; a datagram (not flow-controlled) asks it to close.
      eachChunk(session.incomingBidirectionalStreams, () => {});
      eachChunk(session.incomingUnidirectionalStreams, () => {});
      for await (const d of session.datagrams.readable) {
        void d;
        session.close({ closeCode: 3, reason: 'giving up' });
        return;
      }
      return;
    case '/errors': {
      // Each incoming bidi stream: the first chunk says what to do.
      eachChunk(session.incomingBidirectionalStreams, async ({ readable, writable }) => {
        const reader = readable.getReader();
        const writer = writable.getWriter();
        const first = await reader.read().catch((e) => ({ error: e }));
        if (first.error) return out({ event: 'read_error', ...err(first.error) });
        const cmd = new TextDecoder().decode(first.value);
        if (cmd.startsWith('abort')) {
          await writer.abort(new WebTransportError('ERR_APP', 'abort on purpose', { streamErrorCode: 42 }));
          await reader.cancel(new WebTransportError('ERR_APP', 'cancel on purpose', { streamErrorCode: 43 }));
          return out({ event: 'aborted' });
        }
        if (cmd.startsWith('wait')) {
          // Reads until the peer resets; writes until it stops us.
          const r = reader.read().then(() => null, (e) => e);
          const w = (async () => { for (;;) await writer.write(new Uint8Array(1024)); })().then(() => null, (e) => e);
          const [re, we] = await Promise.all([r, w]);
          return out({ event: 'stream_errors', read: err(re), write: err(we) });
        }
        if (cmd.startsWith('pending')) {
          // A read pending when the session closes must reject.
          const e = await reader.read().then(() => null, (x) => x);
          return out({ event: 'pending_read', ...err(e) });
        }
      });
      return;
    }
    case '/close':
      // Closes the session on the first datagram, with code and reason.
      for await (const d of session.datagrams.readable) {
        void d;
        session.close({ closeCode: 7, reason: 'bye from the server' });
        return;
      }
      return;
    case '/dgram-hold': {
      // Reads no datagram until a bidi stream asks; then reports what was queued and dropped.
      const { value: { writable } } = await session.incomingBidirectionalStreams.getReader().read();
      const reader = session.datagrams.readable.getReader();
      const got = [];
      for (;;) {
        const r = await Promise.race([reader.read(), new Promise((res) => setTimeout(() => res(null), 300))]);
        if (!r || r.done) break;
        got.push(new TextDecoder().decode(r.value));
      }
      const w = writable.getWriter();
      await w.write(new TextEncoder().encode(JSON.stringify({ got, dropped: session.datagrams.droppedIncoming })));
      await w.close();
      return;
    }
    case '/throw':
      throw new Error('listener failure on purpose');
    default:
      session.close({ closeCode: 404, reason: 'no such app' });
  }
});
server.on('error', (e) => out({ event: 'error', code: e.code, message: e.message }));
out({
  event: 'listening', port: server.port, address: server.address,
  certificateHashes: server.certificateHashes.map((h) => ({ algorithm: h.algorithm, value: hex(h.value) })),
});

commands({
  stats: () => out({ event: 'stats', rss: process.memoryUsage().rss, sessions: sessions.size, echoedStreams }),
}, { server });
