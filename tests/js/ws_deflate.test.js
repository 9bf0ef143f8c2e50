// permessage-deflate (RFC 7692) between our WebSocket / Socket.IO endpoints
// and the stock npm `ws` / `socket.io` ones, both roles: negotiation,
// compression really on the wire (bytes counted by a loopback TCP proxy),
// context takeover and its "no context takeover" / window-bits variants, the
// inflated-size limit (a decompression bomb closes with 1009), and opting out.
import { waitFor, within } from './helpers.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { io as ioClient } from 'socket.io-client';
import { Server as IOServer } from 'socket.io';
import SocketIWA from '../../api/direct_sockets_api.js';
import { parseExtensions, acceptOffer, checkAccepted, formatParams } from '../../api/ws_deflate.js';

/** A TCP proxy to `port` counting bytes each way. */
async function countingProxy(port) {
  const counts = { up: 0, down: 0 };
  const server = net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    down.on('data', (d) => { counts.up += d.length; up.write(d); });
    up.on('data', (d) => { counts.down += d.length; down.write(d); });
    up.on('end', () => down.end()); down.on('end', () => up.end());
    up.on('error', () => down.destroy()); down.on('error', () => up.destroy());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, counts, close: () => server.close() };
}

const big = (n, seed = 'socket-iwa ') => seed.repeat(Math.ceil(n / seed.length)).slice(0, n);

test('negotiation helpers: offers parsed per RFC 7692, bad or unknown parameters declined, bad answers rejected with codes', () => {
  assert.deepEqual(parseExtensions('permessage-deflate; client_max_window_bits, x-foo; a="b"'),
    [{ name: 'permessage-deflate', params: { client_max_window_bits: true } }, { name: 'x-foo', params: { a: 'b' } }]);
  assert.deepEqual(acceptOffer('permessage-deflate; client_max_window_bits').params, {});
  assert.equal(acceptOffer('permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10').response,
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10');
  // first acceptable offer wins; unknown params / 8-bit server window / bad values are declined
  assert.equal(acceptOffer('permessage-deflate; server_max_window_bits=8, permessage-deflate; server_no_context_takeover').response,
    'permessage-deflate; server_no_context_takeover');
  for (const bad of ['permessage-deflate; foo', 'permessage-deflate; server_max_window_bits=16', 'permessage-deflate; client_max_window_bits=7',
    'permessage-deflate; server_no_context_takeover=1', 'x-other', 'permessage-deflate; a; a', ';;;']) {
    assert.equal(acceptOffer(bad), null, bad);
  }
  assert.equal(checkAccepted(undefined, 'permessage-deflate'), null);
  assert.deepEqual(checkAccepted('permessage-deflate; server_max_window_bits=12', 'permessage-deflate'), { server_max_window_bits: 12 });
  for (const bad of ['permessage-deflate; nope', 'x-foo', 'permessage-deflate; client_max_window_bits=99', 'permessage-deflate, permessage-deflate']) {
    assert.throws(() => checkAccepted(bad, 'permessage-deflate'), { code: 'ERR_WS_HANDSHAKE' }, bad);
  }
  assert.throws(() => checkAccepted('permessage-deflate', null), { code: 'ERR_WS_HANDSHAKE' });
  assert.equal(formatParams({ client_max_window_bits: 9 }), 'permessage-deflate; client_max_window_bits=9');
});

test('stock ws client ↔ our WebSocket server: negotiated, compressed both ways on the wire, context kept across messages', async () => {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'websocket' });
  let serverExt = null;
  server.on('connection', (ws) => { serverExt = ws.extensions; ws.on('message', (d, isBin) => ws.send(isBin ? d : 'echo:' + d)); });
  const proxy = await countingProxy(server.port);
  const c = new WebSocket(`ws://127.0.0.1:${proxy.port}/`);
  await waitFor(c, 'open');
  assert.match(c.extensions, /permessage-deflate/);
  assert.equal(serverExt, 'permessage-deflate');
  const text = big(200000);
  const bin = new Uint8Array(100000).map((_, i) => (i * 7) & 0x0f);
  for (let i = 0; i < 3; i++) {
    c.send(text + i);
    const [m] = await waitFor(c, 'message');
    assert.equal(m.toString(), 'echo:' + text + i);
  }
  c.send(bin);
  const [back] = await waitFor(c, 'message');
  assert.deepEqual(new Uint8Array(back), bin);
  c.send('short'); // below the 1024-byte threshold: sent uncompressed by both sides
  assert.equal((await waitFor(c, 'message'))[0].toString(), 'echo:short');
  // ~3 x 200 kB + 100 kB each way; compressed (and context kept), far less travels.
  assert.ok(proxy.counts.up < 60000, `client->server bytes ${proxy.counts.up}`);
  assert.ok(proxy.counts.down < 60000, `server->client bytes ${proxy.counts.down}`);
  c.close(); await waitFor(c, 'close');
  proxy.close(); await server.close();
});

for (const [label, wsOpts, expect] of [
  ['defaults (context takeover)', {}, /^permessage-deflate(; client_max_window_bits=15)?$/],
  ['server/client_no_context_takeover', { serverNoContextTakeover: true, clientNoContextTakeover: true }, /server_no_context_takeover.*client_no_context_takeover/],
  ['server_max_window_bits=10, client_max_window_bits=11', { serverMaxWindowBits: 10, clientMaxWindowBits: 11 }, /server_max_window_bits=10.*client_max_window_bits=11/],
]) {
  test(`our WebSocket client ↔ stock ws server (${label}): round trips, compressed on the wire`, async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0, ...wsOpts } });
    await waitFor(wss, 'listening');
    let offered = null;
    wss.on('connection', (w, req) => { offered = req.headers['sec-websocket-extensions']; w.on('message', (d, isBin) => w.send(isBin ? d : 'echo:' + d)); });
    const proxy = await countingProxy(wss.address().port);
    const c = await SocketIWA.createTCP('127.0.0.1', proxy.port, { protocol: 'websocket', binaryType: 'uint8array' });
    assert.equal(offered, 'permessage-deflate; client_max_window_bits');
    assert.match(c.extensions, expect);
    const text = big(150000, 'abcdefgh ');
    for (let i = 0; i < 4; i++) {
      const got = waitFor(c, 'message');
      c.send(text + i);
      assert.equal((await got)[0], 'echo:' + text + i);
    }
    const bin = new Uint8Array(70000).map((_, i) => i % 3);
    const got = waitFor(c, 'message');
    c.send(bin, { fragmentSize: 1000 });
    assert.deepEqual([...(await got)[0]], [...bin]);
    assert.ok(proxy.counts.up < 40000 && proxy.counts.down < 40000, `bytes up ${proxy.counts.up} down ${proxy.counts.down}`);
    const closed = waitFor(c, 'close');
    c.close(1000);
    await closed;
    proxy.close(); wss.close();
  });
}

test('decompression bomb: inflated size over maxPayload closes with 1009 (our server and our client)', async () => {
  // 8 MiB of zeros deflates to ~8 KiB; maxPayload is 1 MiB.
  const bomb = Buffer.alloc(8 * 1024 * 1024);
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'websocket', maxPayload: 1024 * 1024 });
  const errors = [];
  let delivered = 0;
  server.on('clientError', (e) => errors.push(e.code));
  server.on('connection', (ws) => ws.on('message', () => { delivered++; }));
  const c = new WebSocket(`ws://127.0.0.1:${server.port}/`, { maxPayload: 0 });
  await waitFor(c, 'open');
  assert.match(c.extensions, /permessage-deflate/); // the bomb travels compressed (~8 KiB), under maxPayload on the wire
  c.send(bomb);
  const [code] = await within(waitFor(c, 'close', 10000), 10000, 'close after bomb');
  assert.equal(code, 1009);
  assert.deepEqual(errors, ['ERR_WS_MESSAGE_TOO_BIG']);
  assert.equal(delivered, 0);
  await server.close();

  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
  await waitFor(wss, 'listening');
  const serverClose = new Promise((r) => wss.on('connection', (w) => { w.send(bomb); w.on('close', (code) => r(code)); }));
  const ours = await SocketIWA.createTCP('127.0.0.1', wss.address().port, { protocol: 'websocket', maxPayload: 1024 * 1024 });
  assert.match(ours.extensions, /permessage-deflate/);
  let got = 0;
  ours.on('message', () => { got++; });
  const [err] = await waitFor(ours, 'error', 10000);
  assert.equal(err.code, 'ERR_WS_MESSAGE_TOO_BIG');
  assert.equal(err.closeCode, 1009);
  assert.equal(await within(serverClose, 10000, 'peer sees 1009'), 1009);
  assert.equal(got, 0);
  wss.close();
});

test('perMessageDeflate: false opts out on either side; a peer that offers nothing gets plain frames', async () => {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'websocket', perMessageDeflate: false });
  server.on('connection', (ws) => ws.on('message', (d) => ws.send(d)));
  const c = new WebSocket(`ws://127.0.0.1:${server.port}/`);
  await waitFor(c, 'open');
  assert.equal(c.extensions, '');
  c.send(big(5000)); assert.equal((await waitFor(c, 'message'))[0].toString(), big(5000));
  c.close(); await waitFor(c, 'close');
  const plain = new WebSocket(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: false });
  await waitFor(plain, 'open'); plain.close(); await waitFor(plain, 'close');
  await server.close();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
  await waitFor(wss, 'listening');
  let offered = 'unset';
  wss.on('connection', (w, req) => { offered = req.headers['sec-websocket-extensions']; w.on('message', (d, isBin) => w.send(d, { binary: isBin })); });
  const ours = await SocketIWA.createTCP('127.0.0.1', wss.address().port, { protocol: 'websocket', perMessageDeflate: false });
  assert.equal(offered, undefined);
  assert.equal(ours.extensions, '');
  const m = waitFor(ours, 'message'); ours.send(big(3000)); assert.ok((await m)[0] === big(3000), 'echo');
  ours.close(); await waitFor(ours, 'close');
  wss.close();
});

test('Socket.IO over permessage-deflate: stock socket.io-client ↔ our server, our client ↔ stock socket.io server', async () => {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io' });
  const serverSocket = new Promise((r) => server.once('connection', r));
  server.on('connection', (s) => s.on('echo', (x, ack) => ack(x)));
  const proxy = await countingProxy(server.port);
  const c = ioClient(`http://127.0.0.1:${proxy.port}`, { transports: ['websocket'], reconnection: false, forceNew: true });
  await waitFor(c, 'connect');
  const s = await serverSocket;
  assert.equal(s.conn.ws.extensions, 'permessage-deflate');
  const payload = { text: big(100000), n: [1, 2, 3] };
  assert.deepEqual(await c.emitWithAck('echo', payload), payload);
  assert.ok(proxy.counts.up < 20000 && proxy.counts.down < 20000, `bytes up ${proxy.counts.up} down ${proxy.counts.down}`);
  c.disconnect(); proxy.close(); await server.close();

  const httpServer = http.createServer();
  const io = new IOServer(httpServer, { perMessageDeflate: { threshold: 0 } });
  io.on('connection', (sock) => sock.on('echo', (x, ack) => ack(x)));
  await new Promise((r) => httpServer.listen(0, '127.0.0.1', r));
  const proxy2 = await countingProxy(httpServer.address().port);
  const ours = await SocketIWA.createTCP('127.0.0.1', proxy2.port, { protocol: 'socket.io', reconnection: false });
  assert.match(ours.transport.extensions, /^permessage-deflate/);
  assert.deepEqual(await ours.emitWithAck('echo', payload), payload);
  const binBack = await ours.emitWithAck('echo', new Uint8Array(50000));
  assert.equal(binBack.byteLength, 50000);
  assert.ok(proxy2.counts.up < 20000 && proxy2.counts.down < 20000, `bytes up ${proxy2.counts.up} down ${proxy2.counts.down}`);
  ours.disconnect(); proxy2.close();
  await new Promise((r) => io.close(r));
});

test('ordering: compressed and plain messages interleaved, then close() at once: the peer gets all, in order, then the close', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
  await waitFor(wss, 'listening');
  const got = [];
  const closed = new Promise((r) => wss.on('connection', (w) => {
    w.on('message', (d) => got.push(d.toString().slice(0, 12) + ':' + d.length));
    w.on('close', (code) => r(code));
    // and the other way: the server's compressed messages reach our client in order
    for (let i = 0; i < 5; i++) w.send(i % 2 ? `small-${i}` : `big-${i}-` + 'y'.repeat(50000));
  }));
  const c = await SocketIWA.createTCP('127.0.0.1', wss.address().port, { protocol: 'websocket' });
  const fromServer = [];
  const five = new Promise((r) => c.on('message', (d) => { fromServer.push(d.slice(0, 6)); if (fromServer.length === 5) r(); }));
  const want = [];
  for (let i = 0; i < 6; i++) {
    const m = i % 2 ? `small-${i}` : `big-${i}-` + 'x'.repeat(40000 + i);
    c.send(m);
    want.push(m.slice(0, 12) + ':' + m.length);
  }
  assert.ok(c.bufferedAmount > 0, 'messages waiting for compression count in bufferedAmount');
  await within(five, 5000, 'server messages');
  assert.deepEqual(fromServer, ['big-0-', 'small-', 'big-2-', 'small-', 'big-4-']);
  c.close(1000, 'bye');
  assert.equal(await within(closed, 5000, 'close'), 1000);
  assert.deepEqual(got, want);
  wss.close();
});
