// Plain WebSocket mode against the stock npm `ws` package, both directions,
// plus malformed frames from a raw TCP peer.
import { waitFor, within } from './helpers.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import { WebSocket, WebSocketServer } from 'ws';
import SocketIWA from '../../api/direct_sockets_api.js';

async function ourServer(opts = {}) {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'websocket', ...opts });
  server.on('connection', (conn) => {
    conn.on('message', (data, isBinary) => {
      if (data === 'close-me') { conn.close(4321, 'asked'); return; }
      conn.send(isBinary ? data : `echo:${data}`);
    });
  });
  return server;
}

test('stock ws client ↔ SocketIWA server: text, binary, fragmented, ping/pong, close code', async () => {
  const server = await ourServer();
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/chat`);
  await waitFor(ws, 'open');
  ws.send('hello');
  const [text] = await waitFor(ws, 'message');
  assert.equal(text.toString(), 'echo:hello');
  ws.send(Buffer.from([0, 1, 2, 255]));
  const [bin, isBin] = await waitFor(ws, 'message');
  assert.equal(isBin, true);
  assert.deepEqual([...bin], [0, 1, 2, 255]);
  // Fragmented text message from ws: three frames.
  ws.send('part1-', { fin: false });
  ws.send('part2-', { fin: false });
  ws.send('part3', { fin: true });
  const [frag] = await waitFor(ws, 'message');
  assert.equal(frag.toString(), 'echo:part1-part2-part3');
  ws.ping(Buffer.from('p'));
  const [pong] = await waitFor(ws, 'pong');
  assert.equal(pong.toString(), 'p');
  ws.send('close-me');
  const [code, reason] = await waitFor(ws, 'close');
  assert.equal(code, 4321);
  assert.equal(reason.toString(), 'asked');
  await server.close();
});

test('SocketIWA server fragments large messages for ws and reports the client close code', async () => {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'websocket', fragmentSize: 1000 });
  const closed = new Promise((resolve) => server.on('connection', (c) => {
    c.send('x'.repeat(5000));
    c.on('close', (code, reason) => resolve([code, reason]));
  }));
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
  const [msg] = await waitFor(ws, 'message');
  assert.equal(msg.toString(), 'x'.repeat(5000));
  ws.close(4000, 'client bye');
  assert.deepEqual(await within(closed, 3000, 'server close event'), [4000, 'client bye']);
  await server.close();
});

test('SocketIWA client ↔ stock ws server: text, binary, fragmentation, ping, close code', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await waitFor(wss, 'listening');
  const serverSide = new Promise((resolve) => wss.on('connection', (w, req) => {
    w.on('message', (d, isBinary) => {
      if (!isBinary && d.toString() === 'frag-please') {
        w.send('AB', { fin: false }); w.send('CD', { fin: false }); w.send('EF', { fin: true });
      } else if (!isBinary && d.toString() === 'ping-please') w.ping(Buffer.from('srv'));
      else w.send(d, { binary: isBinary });
    });
    w.on('close', (code, reason) => resolve({ code, reason: reason.toString(), url: req.url }));
  }));
  const c = await SocketIWA.createTCP('127.0.0.1', wss.address().port, { protocol: 'websocket', path: '/room?x=1', fragmentSize: 4096 });
  assert.equal(c.readyState, SocketIWA.OPEN);
  c.send('hi');
  assert.deepEqual(await waitFor(c, 'message'), ['hi', false]);
  c.binaryType = 'uint8array';
  c.send(new Uint8Array([7, 8, 9]));
  const [b, isBin] = await waitFor(c, 'message');
  assert.ok(b instanceof Uint8Array); assert.equal(isBin, true); assert.deepEqual([...b], [7, 8, 9]);
  c.binaryType = 'arraybuffer';
  const big = new Uint8Array(100000).map((_, i) => i & 0xff);
  c.send(big); // sent as 25 fragments of 4 KiB
  const [bigBack] = await waitFor(c, 'message');
  assert.ok(bigBack instanceof ArrayBuffer);
  assert.deepEqual(new Uint8Array(bigBack), big);
  c.send('frag-please');
  assert.deepEqual(await waitFor(c, 'message'), ['ABCDEF', false]);
  c.send('ping-please');
  const [pingData] = await waitFor(c, 'ping');
  assert.equal(new TextDecoder().decode(pingData), 'srv');
  const disconnected = waitFor(c, 'disconnect');
  c.close(4100, 'done');
  const [code, reason, clean] = await waitFor(c, 'close');
  assert.deepEqual(await disconnected, ['done', 4100]);
  assert.equal(code, 4100); assert.equal(reason, 'done'); assert.equal(clean, true);
  const seen = await serverSide;
  assert.deepEqual(seen, { code: 4100, reason: 'done', url: '/room?x=1' });
  assert.throws(() => c.send('late'), (e) => e.code === 'ERR_SOCKET_CLOSED');
  wss.close();
});

/** Raw TCP client that performs the upgrade by hand, then lets the test write frames. */
async function rawUpgrade(port) {
  const sock = net.connect(port, '127.0.0.1');
  await waitFor(sock, 'connect');
  const key = crypto.randomBytes(16).toString('base64');
  sock.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let buf = Buffer.alloc(0);
  await new Promise((resolve) => sock.on('data', function onData(d) {
    buf = Buffer.concat([buf, d]);
    const i = buf.indexOf('\r\n\r\n');
    if (i >= 0) { sock.off('data', onData); buf = buf.subarray(i + 4); resolve(); }
  }));
  const received = [buf];
  sock.on('data', (d) => received.push(d));
  const ended = new Promise((r) => sock.on('close', r));
  return { sock, ended, bytes: () => Buffer.concat(received) };
}

function maskedFrame(b0, payload) {
  const mask = crypto.randomBytes(4);
  const p = Buffer.from(payload);
  const head = p.length < 126 ? Buffer.from([b0, 0x80 | p.length]) : Buffer.from([b0, 0x80 | 126, p.length >> 8, p.length & 0xff]);
  const body = Buffer.from(p.map((x, i) => x ^ mask[i & 3]));
  return Buffer.concat([head, mask, body]);
}

function closeCodeOf(bytes) {
  // First server frame must be a close frame: 0x88 len code(2)
  assert.equal(bytes[0], 0x88, `expected a close frame, got ${bytes.subarray(0, 4).toString('hex')}`);
  return bytes.readUInt16BE(2);
}

for (const [name, frame, expected] of [
  ['unmasked client frame', Buffer.from([0x81, 0x02, 0x68, 0x69]), 1002],
  ['reserved opcode 0x3', maskedFrame(0x83, 'x'), 1002],
  ['RSV1 without extension', maskedFrame(0xc1, 'x'), 1002],
  ['invalid UTF-8 text', maskedFrame(0x81, [0xc3, 0x28]), 1007],
  ['fragmented ping', maskedFrame(0x09, 'x'), 1002],
  ['continuation without start', maskedFrame(0x80, 'x'), 1002],
  ['close code 1005 on the wire', maskedFrame(0x88, [0x03, 0xed]), 1002],
]) {
  test(`malformed WebSocket frame (${name}) closes with ${expected}; server keeps running`, async () => {
    const server = await ourServer();
    const errors = [];
    server.on('clientError', (e) => errors.push(e));
    const raw = await rawUpgrade(server.port);
    raw.sock.write(frame);
    await within(raw.ended, 3000, 'server closing the TCP connection');
    assert.equal(closeCodeOf(raw.bytes()), expected);
    assert.equal(errors.length, 1);
    assert.equal(errors[0].closeCode, expected);
    assert.match(errors[0].code, /^ERR_WS_/);
    // The server still serves a well-behaved client.
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    await waitFor(ws, 'open');
    ws.send('still there?');
    assert.equal((await waitFor(ws, 'message'))[0].toString(), 'echo:still there?');
    ws.close();
    await server.close();
  });
}

test('message above maxPayload closes with 1009', async () => {
  const server = await ourServer({ maxPayload: 1024 });
  const raw = await rawUpgrade(server.port);
  raw.sock.write(maskedFrame(0x82, Buffer.alloc(2000)));
  await within(raw.ended, 3000, 'close');
  assert.equal(closeCodeOf(raw.bytes()), 1009);
  await server.close();
});

test('a bad upgrade request gets an HTTP error, not a WebSocket', async () => {
  const server = await ourServer();
  const sock = net.connect(server.port, '127.0.0.1');
  await waitFor(sock, 'connect');
  sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  let data = '';
  sock.on('data', (d) => { data += d; });
  await within(new Promise((r) => sock.on('close', r)), 3000, 'close');
  assert.match(data, /^HTTP\/1\.1 426 /);
  await server.close();
});

test('invalid close codes and bad arguments throw TypeError with a code', async () => {
  const server = await ourServer();
  const c = await SocketIWA.createTCP('127.0.0.1', server.port, { protocol: 'websocket' });
  assert.throws(() => c.close(1006), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_CLOSE_CODE');
  assert.throws(() => c.send({}), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_TYPE');
  assert.throws(() => { c.binaryType = 'text'; }, TypeError);
  c.close();
  await waitFor(c, 'close');
  await server.close();
});

test('a 32 MiB message arriving in many TCP chunks is reassembled (linear, bounded time), both directions', async () => {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'websocket' });
  server.on('connection', (c) => c.on('message', (d) => c.send(d)));
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
  await waitFor(ws, 'open');
  const big = Buffer.alloc(32 * 1024 * 1024, 7);
  big[big.length - 1] = 9;
  const t0 = Date.now();
  ws.send(big);
  const [back] = await within(waitFor(ws, 'message', 20000), 20000, 'echo of 32 MiB');
  assert.equal(back.length, big.length);
  assert.equal(back[back.length - 1], 9);
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms (a per-chunk re-copy took ~9 s here)`);
  ws.close();
  await waitFor(ws, 'close');
  await server.close();
});
