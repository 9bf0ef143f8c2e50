// A test app (not the demo) for SocketIWA.createQuicServer under Node 26: raw QUIC
// with custom ALPNs, events as JSON lines on stdout. Driven by
// tests/interop/test_js_quic_server.py; stdin commands: "close".
//   node tests/js_servers/quic_app.mjs
// ALPN 'myproto': the echo app (bidi streams on themselves, each uni stream on a new
// server uni stream, datagrams back). ALPN 'ctl': each bidi stream's first line is a
// command: reset [A C] (abort with code A / cancel with code C, default 42 / 43; parsed with
// Number(), so 2^53 or 1.5 reach the API as given), read (read until an error), write (write until
// an error), open (the server opens a bidi stream), close (close 7 'bye'), hold (never read).
// ALPN 'boom':
// the 'connection' listener throws.
import SocketIWA from '../../api/direct_sockets_api.js';
import { eachChunk, echoSession, errInfo, hex } from './app_common.js';
import { commands, out } from './node_app.mjs';

const err = (e) => ({ ...errInfo(e), message: e && e.message });
const enc = new TextEncoder();
const dec = new TextDecoder();

// Bad arguments first: each must be a TypeError with a code, before anything starts.
const bad = {};
for (const [name, host, opts] of [
  ['host', 'nohost', { alpn: ['x'] }],
  ['port', '127.0.0.1', { port: 70000, alpn: ['x'] }],
  ['no_alpn', '127.0.0.1', {}],
  ['empty_alpn', '127.0.0.1', { alpn: [] }],
  ['alpn_type', '127.0.0.1', { alpn: 'myproto' }],
  ['alpn_long', '127.0.0.1', { alpn: ['a'.repeat(256)] }],
  ['alpn_comma', '127.0.0.1', { alpn: ['a,b'] }],
  ['alpn_twice', '127.0.0.1', { alpn: ['a', 'a'] }],
  ['certificate', '127.0.0.1', { alpn: ['x'], certificate: { cert: 'x', key: 'y' } }],
]) {
  try { await SocketIWA.createQuicServer(host, opts); bad[name] = 'resolved'; } catch (e) { bad[name] = { type: e.constructor.name, code: e.code, message: e.message }; }
}
out({ event: 'bad_args', bad });

const server = await SocketIWA.createQuicServer('127.0.0.1', { port: 0, alpn: ['myproto', 'ctl', 'boom'], storage: false });
server.on('error', (e) => out({ event: 'server_error', code: e.code, message: e.message }));
let echoed = 0;
let connections = 0;

function echo(conn) {
  echoSession(conn, {
    done: (kind) => { if (kind === 'bidi') echoed++; },
    failed: (kind, e) => out({ event: 'stream_error', app: kind === 'bidi' ? 'echo' : 'echo-uni', ...err(e) }),
  });
}

async function command(conn, { readable, writable }) {
  const reader = readable.getReader();
  const first = await reader.read();
  const [cmd, ...args] = dec.decode(first.value).trim().split(/\s+/);
  out({ event: 'command', cmd });
  const writer = writable.getWriter();
  switch (cmd) {
    case 'reset':
      await writer.write(enc.encode('about to reset'));
      writer.abort({ streamErrorCode: args.length ? Number(args[0]) : 42 }).catch(() => {});
      reader.cancel({ streamErrorCode: args.length ? Number(args[1]) : 43 }).catch(() => {});
      return;
    case 'read':
      try { for (;;) { const r = await reader.read(); if (r.done) break; } out({ event: 'read_done' }); } catch (e) { out({ event: 'read_error', ...err(e) }); }
      return;
    case 'write':
      try { for (let i = 0; i < 10000; i++) await writer.write(new Uint8Array(16384)); out({ event: 'write_done' }); } catch (e) { out({ event: 'write_error', ...err(e) }); }
      return;
    case 'open': {
      const s = await conn.createBidirectionalStream();
      const w = s.writable.getWriter();
      await w.write(enc.encode('hello from the server'));
      await w.close();
      const chunks = [];
      for await (const c of s.readable) chunks.push(dec.decode(c, { stream: true }));
      out({ event: 'opened_answer', text: chunks.join('') });
      return;
    }
    case 'close':
      conn.close({ closeCode: 7, reason: 'bye' });
      return;
    case 'hold':
      return; // never reads: QUIC flow control must hold the peer (credit only as JavaScript reads)
    default:
      await writer.write(enc.encode(`unknown ${cmd}`));
      await writer.close();
  }
}

server.on('connection', (conn) => {
  connections++;
  out({ event: 'connection', alpn: conn.alpn, cipherSuite: conn.cipherSuite, remoteAddress: conn.remoteAddress, remotePort: conn.remotePort });
  // remoteAddress/remotePort as they are at the end: they follow a peer that migrated or rebound.
  conn.closed.then((r) => out({ event: 'conn_closed', alpn: conn.alpn, ...r, remoteAddress: conn.remoteAddress, remotePort: conn.remotePort }),
    (e) => out({ event: 'conn_lost', ...err(e) }));
  if (conn.alpn === 'boom') throw new Error('boom listener');
  if (conn.alpn === 'myproto') echo(conn);
  else eachChunk(conn.incomingBidirectionalStreams, (s) => { command(conn, s).catch((e) => out({ event: 'command_error', ...err(e) })); });
});

out({ event: 'listening', port: server.port, address: server.address, alpn: server.alpn,
  hash: hex(server.certificateHashes[0].value) });

commands({ stats: () => out({ event: 'stats', echoed, connections }) }, { server });
