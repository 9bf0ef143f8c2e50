// UDP (dgram-style overloads, rinfo, errors), raw TCP mode and backpressure.
import { waitFor, within, sleep } from './helpers.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import SocketIWA from '../../api/direct_sockets_api.js';

test('UDP bound socket: send(data, port, address) and send(data, offset, length, port, address); message (data, rinfo)', async () => {
  const peer = dgram.createSocket('udp4');
  await new Promise((r) => peer.bind(0, '127.0.0.1', r));
  const got = [];
  peer.on('message', (m, r) => { got.push(m.toString()); peer.send(Buffer.from('re:' + m), r.port, r.address); });
  const udp = await SocketIWA.createUDP({ localAddress: '127.0.0.1' });
  assert.equal(udp.mode, 'bound');
  udp.binaryType = 'uint8array';
  const replies = [];
  udp.on('message', (data, rinfo) => replies.push({ text: new TextDecoder().decode(data), rinfo }));
  await udp.send('hello', peer.address().port, '127.0.0.1');
  await udp.send(new TextEncoder().encode('xxSLICEyy'), 2, 5, peer.address().port, '127.0.0.1');
  await udp.send(['a', new Uint8Array([98]), new Blob(['c'])], peer.address().port, '127.0.0.1');
  await new Promise((resolve, reject) => udp.send('cb', peer.address().port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  await within((async () => { while (replies.length < 4) await sleep(5); })(), 3000, 'udp replies');
  assert.deepEqual(got, ['hello', 'SLICE', 'abc', 'cb']);
  assert.deepEqual(replies.map((r) => r.text), ['re:hello', 're:SLICE', 're:abc', 're:cb']);
  assert.deepEqual(replies[0].rinfo, { address: '127.0.0.1', port: peer.address().port, family: 'IPv4', size: 8 });
  assert.deepEqual(udp.address(), { address: '127.0.0.1', port: udp.localPort, family: 'IPv4' });
  await udp.close();
  await assert.rejects(udp.send('late', peer.address().port, '127.0.0.1'), (e) => e.code === 'ERR_SOCKET_CLOSED');
  peer.close();
});

test('UDP connected socket: send(data) to the peer; port/address rejected', async () => {
  const peer = dgram.createSocket('udp4');
  await new Promise((r) => peer.bind(0, '127.0.0.1', r));
  peer.on('message', (m, r) => peer.send(m, r.port, r.address));
  const udp = await SocketIWA.createUDP({ remoteAddress: '127.0.0.1', remotePort: peer.address().port });
  assert.equal(udp.mode, 'connected');
  const reply = waitFor(udp, 'message');
  await udp.send(new Uint8Array([1, 2]));
  const [data, rinfo] = await reply;
  assert.ok(data instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(data)], [1, 2]);
  assert.equal(rinfo.port, peer.address().port);
  assert.throws(() => udp.send('x', 1234, '127.0.0.1'), (e) => e.code === 'ERR_SOCKET_DGRAM_IS_CONNECTED');
  await udp.close();
  peer.close();
});

test('invalid ports and addresses throw TypeError with a clear message and a code', async () => {
  await assert.rejects(SocketIWA.createTCP('127.0.0.1', 0), (e) => e instanceof TypeError && e.code === 'ERR_SOCKET_BAD_PORT' && /port must be an integer between 1 and 65535, got 0/.test(e.message));
  await assert.rejects(SocketIWA.createTCP('127.0.0.1', 65536), (e) => e instanceof TypeError && /65536/.test(e.message));
  await assert.rejects(SocketIWA.createTCP('bad host!', 80), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ADDRESS');
  await assert.rejects(SocketIWA.createTCPServer('localhost'), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_IP_ADDRESS');
  await assert.rejects(SocketIWA.createTCPServer('127.0.0.1', { port: -1 }), TypeError);
  await assert.rejects(SocketIWA.createUDP({ localAddress: '300.1.1.1' }), (e) => e instanceof TypeError && /300\.1\.1\.1/.test(e.message));
  await assert.rejects(SocketIWA.createUDP({ remoteAddress: '127.0.0.1', remotePort: 'abc' }), TypeError);
  await assert.rejects(SocketIWA.createTCP('127.0.0.1', 80, { protocol: 'smtp' }), TypeError);
  const udp = await SocketIWA.createUDP({ localAddress: '127.0.0.1' });
  assert.throws(() => udp.send('x', 99999, '127.0.0.1'), (e) => e instanceof TypeError && e.code === 'ERR_SOCKET_BAD_PORT');
  assert.throws(() => udp.send('x', 1234, 'no such!'), TypeError);
  assert.throws(() => udp.send(42, 1234, '127.0.0.1'), (e) => e.code === 'ERR_INVALID_ARG_TYPE');
  await assert.rejects(udp.addMembership('10.0.0.1'), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_MULTICAST_ADDRESS');
  await assert.rejects(udp.send(new Uint8Array(4), 2, 5, 1234, '127.0.0.1'), (e) => e.code === 'ERR_OUT_OF_RANGE');
  await udp.close();
});

test('connection refused surfaces code ECONNREFUSED', async () => {
  const probe = net.createServer();
  await new Promise((r) => probe.listen(0, '127.0.0.1', r));
  const port = probe.address().port;
  await new Promise((r) => probe.close(r));
  await assert.rejects(SocketIWA.createTCP('127.0.0.1', port), (e) => e.code === 'ECONNREFUSED' && e.cause && e.cause.name === 'NetworkError');
});

test('multicast helpers: join/leave tracked in joinedGroups, source-specific too', async () => {
  const m = await SocketIWA.createMulticastSocket({ localAddress: '0.0.0.0', multicastTimeToLive: 1, multicastLoopback: true });
  await m.addMembership('239.10.10.10');
  await m.multicast.join('239.10.10.11');
  assert.deepEqual([...m.multicast.joinedGroups].sort(), ['239.10.10.10', '239.10.10.11']);
  await m.dropMembership('239.10.10.10');
  await m.multicast.leave('239.10.10.11');
  assert.deepEqual([...m.multicast.joinedGroups], []);
  await m.addSourceSpecificMembership('127.0.0.1', '232.1.1.1');
  assert.deepEqual([...m.multicast.joinedGroups], ['127.0.0.1@232.1.1.1']);
  await m.dropSourceSpecificMembership('127.0.0.1', '232.1.1.1');
  const port = m.localPort;
  await m.setMulticastTTL(4); // re-opens on the same port
  assert.equal(m.localPort, port);
  await m.setMulticastLoopback(false);
  const { controller, socket } = await SocketIWA.createMulticastController(m);
  assert.equal(socket, m);
  assert.equal(controller, m.multicast);
  await m.close();
  await assert.rejects(m.addMembership('239.1.1.1'), (e) => e.code === 'ERR_SOCKET_CLOSED');
});

test('raw TCP mode: bytes as they arrive, both directions, server side too', async () => {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'raw' });
  const connected = waitFor(server, 'connect');
  server.on('connection', (conn) => conn.on('message', (b) => conn.send(b)));
  const c = await SocketIWA.createTCP('127.0.0.1', server.port, { binaryType: 'uint8array' });
  const chunks = [];
  c.on('message', (b) => chunks.push(b));
  c.send('raw bytes');
  await within((async () => { while (chunks.reduce((n, x) => n + x.length, 0) < 9) await sleep(5); })(), 2000, 'raw echo');
  assert.equal(new TextDecoder().decode(Buffer.concat(chunks)), 'raw bytes');
  const [serverSide] = await connected;
  assert.equal(serverSide.remotePort, c.localPort);
  const disconnected = waitFor(c, 'disconnect');
  await c.close();
  assert.deepEqual(await disconnected, ['transport close']);
  assert.throws(() => c.send('x'), (e) => e.code === 'ERR_SOCKET_CLOSED');
  await server.close();
});

test('backpressure: send() returns false at the high-water mark, drain follows, nothing is lost', async () => {
  // A slow reader: node:net server that pauses, then reads everything.
  let received = 0;
  const sink = net.createServer((s) => { s.pause(); setTimeout(() => { s.resume(); }, 300); s.on('data', (d) => { received += d.length; }); });
  await new Promise((r) => sink.listen(0, '127.0.0.1', r));
  const c = await SocketIWA.createTCP('127.0.0.1', sink.address().port, { highWaterMark: 64 * 1024 });
  const chunk = new Uint8Array(16 * 1024);
  let sent = 0, sawFalse = false, drains = 0;
  c.on('drain', () => { drains++; });
  const total = 8 * 1024 * 1024;
  while (sent < total) {
    const ok = c.send(chunk);
    sent += chunk.length;
    if (!ok) {
      sawFalse = true;
      assert.ok(c.bufferedAmount >= 64 * 1024);
      await within(waitFor(c, 'drain', 10000), 10000, 'drain');
    }
  }
  assert.ok(sawFalse, 'send() reported backpressure');
  assert.ok(drains > 0);
  await c.close();
  await within((async () => { while (received < total) await sleep(10); })(), 10000, 'all bytes at the sink');
  assert.equal(received, total);
  sink.close();
});

test('WebSocket bufferedAmount and drain in Socket.IO mode under load; every ack arrives', async () => {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io' });
  server.on('connection', (s) => s.on('n', (i, ack) => ack(i)));
  const c = await SocketIWA.createTCP('127.0.0.1', server.port, { protocol: 'socket.io' });
  const results = await Promise.all(Array.from({ length: 2000 }, (_, i) => c.emitWithAck('n', i)));
  assert.deepEqual(results, Array.from({ length: 2000 }, (_, i) => i));
  c.disconnect();
  await server.close();
});

test('IPv6: UDP on ::1 (udp6), TCP server and client on ::1', async () => {
  const a = await SocketIWA.createUDP({ type: 'udp6', localAddress: '::1' });
  const b = await SocketIWA.createUDP({ remoteAddress: '::1', remotePort: a.localPort });
  const got = waitFor(a, 'message');
  await b.send('v6');
  const [data, rinfo] = await got;
  assert.equal(new TextDecoder().decode(data), 'v6');
  assert.equal(rinfo.family, 'IPv6');
  assert.equal(rinfo.address, '::1');
  assert.equal(a.address().family, 'IPv6');
  await a.close(); await b.close();
  const server = await SocketIWA.createTCPServer('::1', { protocol: 'websocket' });
  server.on('connection', (c) => c.on('message', (d) => c.send(d)));
  const c = await SocketIWA.createTCP('::1', server.port, { protocol: 'websocket' });
  c.send('over v6');
  assert.deepEqual(await waitFor(c, 'message'), ['over v6', false]);
  c.binaryType = 'blob';
  c.send(new Uint8Array([1, 2]));
  const [blob] = await waitFor(c, 'message');
  assert.ok(blob instanceof Blob);
  assert.deepEqual([...new Uint8Array(await blob.arrayBuffer())], [1, 2]);
  c.close();
  await waitFor(c, 'close');
  await server.close();
});
