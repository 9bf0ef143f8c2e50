// Socket.IO compatibility mode against the stock npm socket.io (server) and
// socket.io-client, both directions.
import { waitFor, within, sleep } from './helpers.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import crypto from 'node:crypto';
import { io as ioClient } from 'socket.io-client';
import { Server as IOServer } from 'socket.io';
import SocketIWA from '../../api/direct_sockets_api.js';

const clientOpts = { transports: ['websocket'], reconnection: false, forceNew: true };

async function ourServer(opts = {}) {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io', ...opts });
  const wire = (s) => {
    s.on('echo', (...args) => { const ack = args.pop(); ack(...args); });
    s.on('join', (room, ack) => { s.join(room); ack('joined ' + room); });
    s.on('shout', (room, msg) => server.to(room).emit('shouted', msg));
    s.on('kick', () => s.disconnect());
  };
  server.on('connection', wire);
  server.of('/admin').on('connection', (s) => {
    s.on('whoami', (ack) => ack({ nsp: s.nsp, auth: s.handshake.auth }));
  });
  return server;
}

test('stock socket.io-client ↔ SocketIWA server: JSON/binary events, acks both ways, namespaces', async () => {
  const server = await ourServer();
  const serverSocket = new Promise((r) => server.once('connection', r));
  const c = ioClient(`http://127.0.0.1:${server.port}`, clientOpts);
  await waitFor(c, 'connect');
  const s = await serverSocket;
  assert.equal(c.id, s.id);
  // client -> server with ack (JSON and binary)
  assert.deepEqual(await c.emitWithAck('echo', { a: [1, 'two', null] }), { a: [1, 'two', null] });
  const bin = await c.emitWithAck('echo', { file: Buffer.from([1, 2, 3]), name: 'x' });
  assert.ok(Buffer.isBuffer(bin.file)); assert.deepEqual([...bin.file], [1, 2, 3]); assert.equal(bin.name, 'x');
  // server -> client with ack (our emitWithAck, stock client acks)
  c.on('question', (q, ack) => ack({ answer: q * 2 }));
  assert.deepEqual(await s.emitWithAck('question', 21, { timeoutMs: 2000 }), { answer: 42 });
  c.on('blob', (a, b, ack) => ack(Buffer.concat([a, b])));
  const joined = await s.emitWithAck('blob', new Uint8Array([1]), new Uint8Array([2, 3]));
  assert.deepEqual([...new Uint8Array(joined)], [1, 2, 3]);
  // plain events server -> client
  const got = waitFor(c, 'news');
  s.emit('news', 'hello', 5);
  assert.deepEqual(await got, ['hello', 5]);
  // custom namespace with auth
  const admin = ioClient(`http://127.0.0.1:${server.port}/admin`, { ...clientOpts, auth: { token: 't1' } });
  await waitFor(admin, 'connect');
  assert.deepEqual(await admin.emitWithAck('whoami'), { nsp: '/admin', auth: { token: 't1' } });
  const bad = ioClient(`http://127.0.0.1:${server.port}/nope`, clientOpts);
  const [err] = await waitFor(bad, 'connect_error');
  assert.equal(err.message, 'Invalid namespace');
  bad.close(); admin.close();
  // disconnect reasons: client leaves -> 'client namespace disconnect'
  const reason = new Promise((r) => s.on('disconnect', r));
  c.disconnect();
  assert.equal(await within(reason, 3000, 'server disconnect'), 'client namespace disconnect');
  await server.close();
});

test('rooms: server.to(room).emit reaches members only; socket.broadcast skips the sender', async () => {
  const server = await ourServer();
  const clients = await Promise.all([0, 1, 2].map(async () => {
    const c = ioClient(`http://127.0.0.1:${server.port}`, clientOpts);
    await waitFor(c, 'connect');
    return c;
  }));
  const [a, b, c] = clients;
  await a.emitWithAck('join', 'red');
  await b.emitWithAck('join', 'red');
  const heard = { a: [], b: [], c: [] };
  a.on('shouted', (m) => heard.a.push(m));
  b.on('shouted', (m) => heard.b.push(m));
  c.on('shouted', (m) => heard.c.push(m));
  c.emit('shout', 'red', 'hi red');
  await within((async () => { while (heard.a.length < 1 || heard.b.length < 1) await sleep(10); })(), 3000, 'room broadcast');
  await sleep(50);
  assert.deepEqual(heard, { a: ['hi red'], b: ['hi red'], c: [] });
  const all = clients.map((x) => waitFor(x, 'everyone'));
  server.emit('everyone', 1);
  await Promise.all(all);
  const sockets = [...server.clients];
  const sa = sockets.find((s) => s.id === a.id);
  const others = [b, c].map((x) => waitFor(x, 'not-a'));
  let aHeard = false; a.on('not-a', () => { aHeard = true; });
  sa.broadcast.emit('not-a');
  await Promise.all(others);
  await sleep(30);
  assert.equal(aHeard, false);
  assert.ok(sa.rooms.has('red') && sa.rooms.has(sa.id));
  // server kicks b: client sees 'io server disconnect'
  const kicked = waitFor(b, 'disconnect');
  b.emit('kick');
  assert.deepEqual(await kicked, ['io server disconnect', undefined]);
  clients.forEach((x) => x.close());
  await server.close();
});

test('SocketIWA client ↔ stock socket.io server: events, acks both ways, binary, namespaces, rooms', async () => {
  const httpServer = http.createServer();
  const ioS = new IOServer(httpServer);
  await new Promise((r) => httpServer.listen(0, '127.0.0.1', r));
  const port = httpServer.address().port;
  ioS.on('connection', (s) => {
    s.on('echo', (...args) => { const ack = args.pop(); ack(...args); });
    s.on('join', (room, ack) => { s.join(room); ack(); });
    s.on('ask-client', async (ack) => ack(await s.timeout(2000).emitWithAck('q', 20)));
    s.on('send-welcome', () => s.emit('welcome', { hello: 'world' }, Buffer.from([9, 8])));
  });
  ioS.of('/chat').use((s, next) => (s.handshake.auth.token === 'ok' ? next() : next(new Error('not authorized'))));
  ioS.of('/chat').on('connection', (s) => s.on('hi', (ack) => ack('chat:' + s.nsp.name)));
  const c = await SocketIWA.createTCP('127.0.0.1', port, { protocol: 'socket.io' });
  assert.equal(c.connected, true);
  assert.ok(c.id);
  const welcome = waitFor(c, 'welcome');
  c.emit('send-welcome');
  const [obj, buf] = await welcome;
  assert.deepEqual(obj, { hello: 'world' });
  assert.deepEqual([...new Uint8Array(buf)], [9, 8]);
  assert.deepEqual(await c.emitWithAck('echo', 'a', 2, { b: true }), ['a', 2, { b: true }]);
  const bin = await c.emitWithAck('echo', { data: new Uint8Array([1, 2, 3, 4]) });
  assert.ok(bin.data instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(bin.data)], [1, 2, 3, 4]);
  c.on('q', (n, ack) => ack(n + 1));
  assert.equal(await c.emitWithAck('ask-client'), 21);
  await c.emitWithAck('join', 'blue');
  const roomMsg = waitFor(c, 'room-news');
  ioS.to('blue').emit('room-news', 'blue only');
  assert.deepEqual(await roomMsg, ['blue only']);
  // custom namespace with middleware: accepted and refused
  const chat = await SocketIWA.createTCP('127.0.0.1', port, { protocol: 'socket.io', namespace: '/chat', auth: { token: 'ok' } });
  assert.equal(await chat.emitWithAck('hi'), 'chat:/chat');
  await assert.rejects(SocketIWA.createTCP('127.0.0.1', port, { protocol: 'socket.io', namespace: '/chat', auth: { token: 'no' } }),
    (e) => e.code === 'ECONNREFUSED' && /not authorized/.test(e.message));
  // server-side disconnect reason seen by our client
  const reason = waitFor(c, 'disconnect');
  for (const s of await ioS.fetchSockets()) if (s.id === c.id) s.disconnect();
  assert.deepEqual(await reason, ['io server disconnect']);
  // our client disconnect: stock server sees 'client namespace disconnect'
  const srvReason = new Promise((r) => ioS.of('/chat').once('connection', () => {}) && ioS.of('/chat').sockets.forEach((s) => s.once('disconnect', r)));
  chat.disconnect();
  assert.equal(await within(srvReason, 3000, 'stock server disconnect'), 'client namespace disconnect');
  ioS.close(); httpServer.close();
});

test('emitWithAck rejects with ETIMEDOUT when no ack comes; emit after disconnect has a code', async () => {
  const server = await ourServer();
  server.on('connection', (s) => s.on('silent', () => {}));
  const c = await SocketIWA.createTCP('127.0.0.1', server.port, { protocol: 'socket.io' });
  const t0 = Date.now();
  await assert.rejects(c.emitWithAck('silent', 1, { timeoutMs: 200 }), (e) => e.code === 'ETIMEDOUT');
  assert.ok(Date.now() - t0 >= 190);
  await assert.rejects(c.timeout(100).emitWithAck('silent'), (e) => e.code === 'ETIMEDOUT');
  assert.throws(() => c.emit('connect'), (e) => e.code === 'ERR_RESERVED_EVENT');
  c.disconnect();
  await waitFor(c, 'close');
  assert.throws(() => c.emit('x'), (e) => e.code === 'ERR_SOCKET_CLOSED');
  await assert.rejects(c.emitWithAck('x'), (e) => e.code === 'ERR_SOCKET_CLOSED');
  await server.close();
});

test('ping timeout: SocketIWA server drops a client that stops answering pings', async () => {
  const server = await ourServer({ pingInterval: 100, pingTimeout: 100 });
  const reason = new Promise((r) => server.once('connection', (s) => s.on('disconnect', r)));
  // A raw Engine.IO client over ws that never answers pings.
  const { WebSocket } = await import('ws');
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket`);
  const open = await new Promise((r) => ws.once('message', (d) => r(d.toString())));
  assert.match(open, /^0\{"sid":/);
  assert.deepEqual(JSON.parse(open.slice(1)).pingInterval, 100);
  ws.send('40');
  assert.equal(await within(reason, 3000, 'ping timeout'), 'ping timeout');
  ws.terminate();
  await server.close();
});

test('ping timeout: SocketIWA client notices a server that stops pinging', async () => {
  // Minimal fake Engine.IO server (stock ws) announcing a short ping interval and never pinging.
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await waitFor(wss, 'listening');
  wss.on('connection', (w) => {
    w.send('0' + JSON.stringify({ sid: 'abc', upgrades: [], pingInterval: 100, pingTimeout: 100, maxPayload: 1e6 }));
    w.on('message', (d) => { if (d.toString().startsWith('40')) w.send('40{"sid":"s1"}'); });
  });
  const c = await SocketIWA.createTCP('127.0.0.1', wss.address().port, { protocol: 'socket.io' });
  const [reason] = await within(waitFor(c, 'disconnect', 3000), 3000, 'client ping timeout');
  assert.equal(reason, 'ping timeout');
  c.disconnect(); // the client would reconnect (stock default); stop it
  wss.close();
});

test('stock client sees ping/pong keep a connection alive past several intervals', async () => {
  const server = await ourServer({ pingInterval: 50, pingTimeout: 200 });
  const c = ioClient(`http://127.0.0.1:${server.port}`, clientOpts);
  await waitFor(c, 'connect');
  await sleep(400);
  assert.equal(c.connected, true);
  assert.deepEqual(await c.emitWithAck('echo', 'alive'), 'alive');
  c.close();
  await server.close();
});

async function rawEngine(port) {
  const sock = net.connect(port, '127.0.0.1');
  await waitFor(sock, 'connect');
  const key = crypto.randomBytes(16).toString('base64');
  sock.write(`GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  const chunks = [];
  sock.on('data', (d) => chunks.push(d));
  const ended = new Promise((r) => sock.on('close', r));
  const sendText = (s) => {
    const p = Buffer.from(s); const mask = crypto.randomBytes(4);
    sock.write(Buffer.concat([Buffer.from([0x81, 0x80 | p.length]), mask, Buffer.from(p.map((x, i) => x ^ mask[i & 3]))]));
  };
  return { sock, ended, sendText, all: () => Buffer.concat(chunks) };
}

for (const [name, packet] of [
  ['unknown Engine.IO type', '9hello'],
  ['invalid JSON in EVENT', '42["ev",'],
  ['EVENT without a name', '42[]'],
  ['unknown Socket.IO type', '47["x"]'],
]) {
  test(`malformed Socket.IO packet (${name}) closes that connection with 'parse error'; server keeps running`, async () => {
    const server = await ourServer({ closeTimeoutMs: 300 });
    const errors = [];
    server.on('error', (e) => errors.push(e));
    const reason = new Promise((r) => server.once('connection', (s) => s.on('disconnect', r)));
    const raw = await rawEngine(server.port);
    await sleep(50);
    raw.sendText('40');
    await sleep(50);
    raw.sendText(packet);
    assert.equal(await within(reason, 3000, 'disconnect'), 'parse error');
    await within(raw.ended, 3000, 'TCP close');
    const bytes = raw.all();
    const closeAt = bytes.lastIndexOf(Buffer.from([0x88]));
    assert.ok(closeAt > 0, 'a close frame was sent');
    assert.equal(bytes.readUInt16BE(closeAt + 2), 4002);
    assert.equal(errors[0].code, 'ERR_SOCKETIO_PARSE');
    raw.sock.destroy();
    const c = ioClient(`http://127.0.0.1:${server.port}`, clientOpts);
    await waitFor(c, 'connect');
    assert.equal(await c.emitWithAck('echo', 'ok'), 'ok');
    c.close();
    await server.close();
  });
}

test('server.close() disconnects clients with "server shutting down" / transport close', async () => {
  const server = await ourServer();
  const reason = new Promise((r) => server.once('connection', (s) => s.on('disconnect', r)));
  const c = ioClient(`http://127.0.0.1:${server.port}`, clientOpts);
  await waitFor(c, 'connect');
  const clientReason = waitFor(c, 'disconnect');
  await server.close();
  assert.equal(await reason, 'server shutting down');
  assert.equal((await clientReason)[0], 'transport close');
});

test('stock socket.io-client with default transports: HTTP long-polling, then upgrade to WebSocket', async () => {
  const server = await ourServer();
  const c = ioClient(`http://127.0.0.1:${server.port}`, { reconnection: false, forceNew: true });
  assert.equal(c.io.engine.transport.name, 'polling', 'starts on polling');
  const upgraded = new Promise((r) => c.io.engine.once('upgrade', (t) => r(t.name)));
  await waitFor(c, 'connect');
  assert.deepEqual(await c.emitWithAck('echo', { bin: Buffer.from([1, 2]) }), { bin: Buffer.from([1, 2]) });
  assert.equal(await within(upgraded, 5000, 'upgrade'), 'websocket');
  assert.equal(c.io.engine.transport.name, 'websocket');
  assert.equal(await c.emitWithAck('echo', 'upgraded'), 'upgraded');
  const reason = new Promise((r) => [...server.clients][0].on('disconnect', r));
  c.disconnect();
  assert.equal(await within(reason, 3000, 'disconnect'), 'client namespace disconnect');
  await server.close();
});

test('stock socket.io-client polling only: events, binary, acks both ways, heartbeats', async () => {
  const server = await ourServer({ pingInterval: 200, pingTimeout: 200 });
  const serverSide = new Promise((r) => server.once('connection', r));
  const c = ioClient(`http://127.0.0.1:${server.port}`, { reconnection: false, forceNew: true, transports: ['polling'] });
  await waitFor(c, 'connect');
  const s = await serverSide;
  assert.deepEqual([...(await c.emitWithAck('echo', new Uint8Array([7, 8])))], [7, 8]);
  c.on('q', (x, ack) => ack(x + 1));
  assert.equal(await s.emitWithAck('q', 1, { timeoutMs: 2000 }), 2);
  await sleep(700); // several ping intervals over polling
  assert.equal(c.connected, true);
  assert.equal(await c.emitWithAck('echo', 'still'), 'still');
  c.close();
  await server.close();
});

test('polling: a client that stops polling is dropped with "ping timeout"', async () => {
  const server = await ourServer({ pingInterval: 100, pingTimeout: 100 });
  const reason = new Promise((r) => server.once('connection', (s) => s.on('disconnect', r)));
  const base = `http://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=polling`;
  const open = await (await fetch(base)).text();
  assert.match(open, /^0\{/);
  const { sid, upgrades } = JSON.parse(open.slice(1));
  assert.deepEqual(upgrades, ['websocket']);
  assert.equal(await (await fetch(`${base}&sid=${sid}`, { method: 'POST', body: '40' })).text(), 'ok');
  assert.match(await (await fetch(`${base}&sid=${sid}`)).text(), /^40\{"sid":/);
  // no more polls, no pongs
  assert.equal(await within(reason, 3000, 'ping timeout'), 'ping timeout');
  await server.close();
});

test('polling: unknown session id gets Engine.IO error JSON', async () => {
  const server = await ourServer();
  const res = await fetch(`http://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=polling&sid=nope`);
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), { code: 1, message: 'Session ID unknown' });
  const res3 = await fetch(`http://127.0.0.1:${server.port}/socket.io/?EIO=3&transport=polling`);
  assert.deepEqual(await res3.json(), { code: 5, message: 'Unsupported protocol version' });
  await server.close();
});

test('polling CORS: allowed origins get Access-Control headers and a preflight answer; others do not', async () => {
  const server = await ourServer({ cors: { origin: ['http://app.example'] } });
  const base = `http://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=polling`;
  const ok = await fetch(base, { headers: { Origin: 'http://app.example' } });
  assert.equal(ok.headers.get('access-control-allow-origin'), 'http://app.example');
  assert.match(await ok.text(), /^0\{/);
  const other = await fetch(base, { headers: { Origin: 'http://evil.example' } });
  assert.equal(other.headers.get('access-control-allow-origin'), null);
  await other.text();
  const pre = await fetch(base, { method: 'OPTIONS', headers: { Origin: 'http://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-methods'), 'GET, POST');
  assert.equal(pre.headers.get('access-control-allow-origin'), 'http://app.example');
  await server.close();
});
