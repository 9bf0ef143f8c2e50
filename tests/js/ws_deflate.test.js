// permessage-deflate (RFC 7692) between our WebSocket / Socket.IO endpoints
// and the stock npm `ws` / `socket.io` ones, both roles: negotiation,
// compression really on the wire (bytes counted by a loopback TCP proxy),
// context takeover and its "no context takeover" / window-bits variants, the
// inflated-size limit (a decompression bomb closes with 1009), and opting out.
// The browser code path (CompressionStream / DecompressionStream, messages
// flushed with a BFINAL block per RFC 7692 7.2.3.4) runs here too, forced with
// setDeflateBackend('streams') (Node 26 has both streams), with wire captures.
import { waitFor, within } from './helpers.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { io as ioClient } from 'socket.io-client';
import { Server as IOServer } from 'socket.io';
import SocketIWA from '../../api/direct_sockets_api.js';
import crypto from 'node:crypto';
import { parseExtensions, acceptOffer, checkAccepted, formatParams, setDeflateBackend, bfinalPayload, PerMessageDeflate, clientOffer } from '../../api/ws_deflate.js';
import { frameCapture, dataFrames } from './ws_wire.js';

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
  // RFC 7692 7.1.2.2: client_max_window_bits in the answer only if we offered it.
  assert.throws(() => checkAccepted('permessage-deflate; client_max_window_bits=10', 'permessage-deflate; client_no_context_takeover'), { code: 'ERR_WS_HANDSHAKE' });
  assert.deepEqual(checkAccepted('permessage-deflate; client_max_window_bits=10', 'permessage-deflate; client_max_window_bits'), { client_max_window_bits: 10 });
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

// ---- the browser code path (CompressionStream / DecompressionStream), forced under Node ----

/** Use the browser path for the rest of test `t`. */
function browserPath(t) { setDeflateBackend('streams'); t.after(() => setDeflateBackend(null)); }
/** Close `thing` (a server or capture) when test `t` ends, passed or failed, so a failure does not hang the file. */
function closeAfter(t, thing) { t.after(() => { try { const r = thing.close(); if (r && r.catch) r.catch(() => {}); } catch {} }); return thing; }

async function compressionStream(bytes) {
  const cs = new CompressionStream('deflate-raw');
  const w = cs.writable.getWriter(); w.write(bytes); w.close();
  return new Uint8Array(await new Response(cs.readable).arrayBuffer());
}
const hex = (b) => Buffer.from(b).toString('hex');
const NO_CONTEXT = { server_no_context_takeover: true, client_no_context_takeover: true };

/**
 * Check that each message of `sizes[i]` bytes in `frames` has RSV1 on its first frame only and is far smaller on
 * the wire; with `ours`, that messages below our 1 KiB threshold are plain (stock ws peers here compress all).
 * A negative size -n: an n-byte message that must go out plain and whole (incompressible).
 */
function assertCompressedMessages(frames, sizes, what, ours = true) {
  const msgs = [];
  for (const f of dataFrames(frames)) {
    if (f.opcode !== 0) msgs.push({ rsv1: f.rsv1, wire: f.length, frames: 1 });
    else { assert.equal(f.rsv1, false, `${what}: RSV1 on a continuation frame`); msgs.at(-1).wire += f.length; msgs.at(-1).frames++; }
  }
  assert.equal(msgs.length, sizes.length, `${what}: ${msgs.length} messages on the wire, want ${sizes.length}`);
  msgs.forEach((m, i) => {
    if (sizes[i] < 0) { assert.ok(!m.rsv1 && m.wire === -sizes[i], `${what}: message ${i} (${-sizes[i]} B, incompressible) sent plain: ${JSON.stringify(m)}`); return; }
    if (sizes[i] < 1024) { if (ours) assert.equal(m.rsv1, false, `${what}: message ${i} (${sizes[i]} B) below the threshold is sent plain`); return; }
    assert.equal(m.rsv1, true, `${what}: message ${i} (${sizes[i]} B) has RSV1`);
    assert.ok(m.wire * 10 < sizes[i], `${what}: message ${i}: ${m.wire} B on the wire for ${sizes[i]} B`);
  });
  return msgs;
}

test('browser path, RFC 7692 7.2.1 / 7.2.3.4: a BFINAL-flushed message is "stream + 00" (the RFC\'s Hello example), inflated by zlib and DecompressionStream', async (t) => {
  // The RFC's own example: "Hello" in a BFINAL block, empty stored block appended, 00 00 ff ff removed.
  const hello = await compressionStream(new TextEncoder().encode('Hello'));
  assert.equal(hex(bfinalPayload(hello)), 'f348cdc9c9070000');
  // A stream that already ends in 00 00 ff ff loses exactly those bytes (the receiver appends them back).
  assert.equal(hex(bfinalPayload(new Uint8Array([1, 2, 0, 0, 0xff, 0xff]))), '0102');
  browserPath(t);
  assert.equal(clientOffer(), 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  const sender = new PerMessageDeflate({ params: NO_CONTEXT, isServer: false, maxPayload: 1 << 20 });
  assert.equal(sender.canCompress, true);
  assert.equal(await sender.compress(new Uint8Array(crypto.randomBytes(4096))), null, 'incompressible: send it plain');
  const msgs = [big(100000, 'first '), big(30000, 'second '), big(70000, 'third ')].map((m) => new TextEncoder().encode(m));
  const wire = [];
  for (const m of msgs) wire.push(await sender.compress(m));
  for (const w of wire) assert.equal(w.at(-1), 0x00, 'ends with the 00 left of the empty stored block');
  setDeflateBackend(null);
  // node:zlib (our Node endpoints), with and without a negotiated no-context for this direction: the
  // inflater must not be reused after a stream's end (it was, and the second message failed).
  for (const params of [NO_CONTEXT, {}]) {
    const recv = new PerMessageDeflate({ params, isServer: true, maxPayload: 1 << 20 });
    for (let i = 0; i < msgs.length; i++) assert.deepEqual(await recv.decompress(wire[i]), new Uint8Array(msgs[i]), `node:zlib, params ${JSON.stringify(params)}, message ${i}`);
    recv.close();
  }
  const nodeSender = new PerMessageDeflate({ params: NO_CONTEXT, isServer: true, maxPayload: 1 << 20 });
  const syncFlushed = await nodeSender.compress(msgs[0]);
  setDeflateBackend('streams');
  // DecompressionStream: sync-flushed (stock peers), BFINAL + 00 (ours), a bare stream (no step 2), a stream whose 00 00 ff ff was removed.
  const recv = new PerMessageDeflate({ params: NO_CONTEXT, isServer: true, maxPayload: 1 << 20 });
  assert.equal(recv.backend, 'DecompressionStream');
  const bare = await compressionStream(msgs[1]);
  for (const [label, payload, want] of [['sync flush', syncFlushed, msgs[0]], ['BFINAL + 00', wire[2], msgs[2]], ['bare stream', bare, msgs[1]],
    ['stored-block stream minus 00 00 ff ff', new Uint8Array([0x01, 0x03, 0x00, 0xfc, 0xff, 0x61, 0x62, 0x63]), new TextEncoder().encode('abc')]]) {
    assert.deepEqual(await recv.decompress(payload), new Uint8Array(want), label);
  }
  // junk inside the message (not only the 00 the RFC adds) is an invalid message, 1007
  const junky = new Uint8Array(bare.byteLength + 2); junky.set(bare); junky.set([0x61, 0x62], bare.byteLength);
  await assert.rejects(recv.decompress(junky), { code: 'ERR_WS_PROTOCOL', closeCode: 1007 });
  await assert.rejects(recv.decompress(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])), { code: 'ERR_WS_PROTOCOL', closeCode: 1007 });
  // the bound holds on the BFINAL path too (first pass and the checking pass)
  const small = new PerMessageDeflate({ params: NO_CONTEXT, isServer: true, maxPayload: 50000 });
  await assert.rejects(small.decompress(wire[0]), { code: 'ERR_WS_MESSAGE_TOO_BIG', closeCode: 1009 });
  // a window smaller than CompressionStream's 15 bits for our direction: we cannot honour it, so we send plain
  assert.equal(new PerMessageDeflate({ params: { ...NO_CONTEXT, client_max_window_bits: 10 }, isServer: false, maxPayload: 1 }).canCompress, false);
  assert.equal(new PerMessageDeflate({ params: { ...NO_CONTEXT, server_max_window_bits: 10 }, isServer: true, maxPayload: 1 }).canCompress, false);
});

test('browser path: our WebSocket client → stock ws server, frames carry RSV1 and are far smaller than the messages, both ways', async (t) => {
  browserPath(t);
  for (const wsOpts of [{}, { serverMaxWindowBits: 10 }]) {
    const wss = closeAfter(t, new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0, ...wsOpts } }));
    await waitFor(wss, 'listening');
    let offered = null;
    wss.on('connection', (w, req) => { offered = req.headers['sec-websocket-extensions']; w.on('message', (d, isBin) => w.send(isBin ? d : 'echo:' + d)); });
    const cap = closeAfter(t, await frameCapture(wss.address().port));
    const c = closeAfter(t, await SocketIWA.createTCP('127.0.0.1', cap.port, { protocol: 'websocket', binaryType: 'uint8array' }));
    assert.equal(offered, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
    assert.match(c.extensions, /^permessage-deflate; server_no_context_takeover; client_no_context_takeover/);
    const sizes = [];
    for (let i = 0; i < 3; i++) {
      const text = big(150000 + i, `msg ${i} `);
      const got = waitFor(c, 'message');
      c.send(text); sizes.push(text.length);
      assert.equal((await got)[0], 'echo:' + text);
    }
    const bin = new Uint8Array(70000).map((_, i) => i % 3);
    let got = waitFor(c, 'message');
    c.send(bin, { fragmentSize: 1000 }); sizes.push(bin.byteLength);
    assert.deepEqual([...(await got)[0]], [...bin]);
    got = waitFor(c, 'message');
    c.send('short'); sizes.push(5);
    assert.equal((await got)[0], 'echo:short');
    // incompressible: deflated it would be larger, so it goes out plain (each message is its own stream, nothing to resync)
    const noise = new Uint8Array(crypto.randomBytes(3000));
    got = waitFor(c, 'message');
    c.send(noise); sizes.push(-3000);
    assert.deepEqual((await got)[0], noise);
    assertCompressedMessages(cap.frames.up, sizes, `our client → ws ${JSON.stringify(wsOpts)}`);
    assertCompressedMessages(dataFrames(cap.frames.down).slice(0, -1), sizes.slice(0, -1).map((n, i) => (i === 3 ? n : n + 5)), `ws → our client ${JSON.stringify(wsOpts)}`, false);
    const closed = waitFor(c, 'close');
    c.close(1000);
    await closed;
    cap.close(); wss.close();
  }
});

test('browser path: stock ws client → our WebSocket server, and our client ↔ our server, compressed both ways', async (t) => {
  browserPath(t);
  const server = closeAfter(t, await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'websocket' }));
  server.on('connection', (ws) => ws.on('message', (d, isBin) => ws.send(isBin ? d : 'echo:' + d, { fragmentSize: 20000 })));
  const cap = closeAfter(t, await frameCapture(server.port));
  const c = closeAfter(t, new WebSocket(`ws://127.0.0.1:${cap.port}/`));
  const upgrade = waitFor(c, 'upgrade');
  await waitFor(c, 'open');
  const [res] = await upgrade;
  assert.equal(res.headers['sec-websocket-extensions'], 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  const sizes = [];
  for (let i = 0; i < 3; i++) {
    const text = big(120000, `round ${i} `);
    c.send(text); sizes.push(text.length);
    assert.equal((await waitFor(c, 'message'))[0].toString(), 'echo:' + text);
  }
  const bin = Buffer.alloc(60000, 9);
  c.send(bin); sizes.push(bin.length);
  assert.deepEqual((await waitFor(c, 'message'))[0], bin);
  assertCompressedMessages(cap.frames.up, sizes, 'ws → our server', false);
  assertCompressedMessages(cap.frames.down, sizes.map((n, i) => (i === 3 ? n : n + 5)), 'our server → ws');
  c.close(); await waitFor(c, 'close');
  cap.close();

  // both ends ours, both on the browser path: BFINAL-flushed messages each way
  const cap2 = closeAfter(t, await frameCapture(server.port));
  const ours = closeAfter(t, await SocketIWA.createTCP('127.0.0.1', cap2.port, { protocol: 'websocket', binaryType: 'uint8array' }));
  const sizes2 = [];
  for (let i = 0; i < 3; i++) {
    const text = big(90000, `ours ${i} `);
    const got = waitFor(ours, 'message');
    ours.send(text); sizes2.push(text.length);
    assert.equal((await got)[0], 'echo:' + text);
  }
  assertCompressedMessages(cap2.frames.up, sizes2, 'our client → our server');
  assertCompressedMessages(cap2.frames.down, sizes2.map((n) => n + 5), 'our server → our client');
  ours.close(); await waitFor(ours, 'close');
  cap2.close();

  // a peer asking for a smaller server window than CompressionStream's: we inflate, and send plain
  const cap3 = closeAfter(t, await frameCapture(server.port));
  const w10 = closeAfter(t, new WebSocket(`ws://127.0.0.1:${cap3.port}/`, { perMessageDeflate: { serverMaxWindowBits: 10 } }));
  await waitFor(w10, 'open');
  const text = big(50000);
  w10.send(text);
  assert.equal((await waitFor(w10, 'message'))[0].toString(), 'echo:' + text);
  assert.equal(dataFrames(cap3.frames.up)[0].rsv1, true);
  assert.ok(dataFrames(cap3.frames.down).every((f) => !f.rsv1), 'server → client plain with a 10-bit window');
  w10.close(); await waitFor(w10, 'close');
  cap3.close();
  await server.close();
});

test('browser path: decompression bombs close with 1009 (stock ws client and our own client as the bomber)', async (t) => {
  browserPath(t);
  const bomb = Buffer.alloc(8 * 1024 * 1024);
  const server = closeAfter(t, await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'websocket', maxPayload: 1024 * 1024 }));
  const errors = [];
  let delivered = 0;
  server.on('clientError', (e) => errors.push(e.code));
  server.on('connection', (ws) => ws.on('message', () => { delivered++; }));
  const c = closeAfter(t, new WebSocket(`ws://127.0.0.1:${server.port}/`, { maxPayload: 0 }));
  await waitFor(c, 'open');
  c.send(bomb);
  assert.equal((await within(waitFor(c, 'close', 10000), 10000, 'close after bomb'))[0], 1009);
  // ours sends it flushed with BFINAL (~8 KiB on the wire, under maxPayload): the server's second pass is bounded too
  const cap = closeAfter(t, await frameCapture(server.port));
  const ours = closeAfter(t, await SocketIWA.createTCP('127.0.0.1', cap.port, { protocol: 'websocket', maxPayload: 64 * 1024 * 1024 }));
  const closed = waitFor(ours, 'close', 10000);
  ours.send(bomb);
  assert.equal((await within(closed, 10000, 'close after our bomb'))[0], 1009);
  const [f] = dataFrames(cap.frames.up);
  assert.ok(f.rsv1 && f.length < 64 * 1024, `the bomb travelled compressed: ${JSON.stringify(f)}`);
  assert.deepEqual(errors, ['ERR_WS_MESSAGE_TOO_BIG', 'ERR_WS_MESSAGE_TOO_BIG']);
  assert.equal(delivered, 0);
});

test('browser path: Socket.IO, stock socket.io-client ↔ our server and our client ↔ stock socket.io server, compressed frames', async (t) => {
  browserPath(t);
  const payload = { text: big(100000), n: [1, 2, 3] };
  const server = closeAfter(t, await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io' }));
  server.on('connection', (s) => s.on('echo', (x, ack) => ack(x)));
  const cap = closeAfter(t, await frameCapture(server.port));
  const c = ioClient(`http://127.0.0.1:${cap.port}`, { transports: ['websocket'], reconnection: false, forceNew: true });
  t.after(() => c.disconnect());
  await waitFor(c, 'connect');
  for (let i = 0; i < 2; i++) assert.deepEqual(await c.emitWithAck('echo', payload), payload);
  for (const dir of ['up', 'down']) {
    const compressed = dataFrames(cap.frames[dir]).filter((f) => f.rsv1);
    assert.equal(compressed.length, 2, `${dir}: two compressed messages`);
    assert.ok(compressed.every((f) => f.length < 10000), `${dir}: ${compressed.map((f) => f.length)}`);
  }
  c.disconnect(); cap.close(); await server.close();

  const httpServer = http.createServer();
  const io = new IOServer(httpServer, { perMessageDeflate: { threshold: 0 } });
  t.after(() => io.close());
  io.on('connection', (sock) => sock.on('echo', (x, ack) => ack(x)));
  await new Promise((r) => httpServer.listen(0, '127.0.0.1', r));
  const cap2 = closeAfter(t, await frameCapture(httpServer.address().port));
  const ours = await SocketIWA.createTCP('127.0.0.1', cap2.port, { protocol: 'socket.io', reconnection: false });
  t.after(() => ours.disconnect());
  assert.match(ours.transport.extensions, /^permessage-deflate; server_no_context_takeover; client_no_context_takeover/);
  for (let i = 0; i < 2; i++) assert.deepEqual(await ours.emitWithAck('echo', payload), payload);
  const up = dataFrames(cap2.frames.up).filter((f) => f.rsv1);
  assert.equal(up.length, 2, 'our client sent two compressed messages');
  assert.ok(up.every((f) => f.length < 10000), `up: ${up.map((f) => f.length)}`);
  assert.ok(cap2.bytes.up < 20000 && cap2.bytes.down < 20000, `bytes up ${cap2.bytes.up} down ${cap2.bytes.down}`);
  ours.disconnect(); cap2.close();
  await new Promise((r) => io.close(r));
});
