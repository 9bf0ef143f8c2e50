// The key behaviours inside a real installed Isolated Web App in headless
// Chromium (browser Direct Sockets, not the Node implementation), with stock
// npm peers in Node. Fails (never skips) when Chromium or the IWA cannot start.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import dgram from 'node:dgram';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { io as ioClient } from 'socket.io-client';
import { Server as IOServer } from 'socket.io';
import { WebSocket, WebSocketServer } from 'ws';
import net from 'node:net';
import crypto from 'node:crypto';
import { launchIwa } from '../harness/iwa.js';
import { waitFor, within } from './helpers.js';
import { frameCapture, dataFrames } from './ws_wire.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const apiDir = path.resolve(here, '../../api');
let iwa;

before(async () => {
  iwa = await launchIwa({ mounts: { '/api/': apiDir, '/tests/js/': here }, timeoutMs: 45000 });
});
after(async () => { if (iwa) await iwa.close(); });

const call = (fn, ...args) => within(iwa.call('/tests/js/iwa/scenarios.js', fn, ...args), 30000, fn);

test('IWA: real Direct Sockets and permissions policy', async () => {
  const env = await call('environment');
  assert.equal(env.crossOriginIsolated, true);
  assert.deepEqual(env.ctors, ['UDPSocket', 'TCPSocket', 'TCPServerSocket', 'MulticastController']);
  assert.equal(env.permissions.directSockets, true);
  assert.equal(env.permissions.multicast, true);
  assert.equal(env.permissions.policy.directSockets, true, 'document.permissionsPolicy reports direct-sockets');
  assert.equal(env.permissions.policy.multicast, true);
  const report = await call('assertPermissionsReport');
  assert.equal(report.runtime, 'browser');
  assert.equal(report.localNetwork, 'granted');
});

test('IWA: stock socket.io-client (Node) ↔ SocketIWA Socket.IO server (IWA)', async () => {
  const port = await call('startSocketIOServer');
  const opts = { transports: ['websocket'], reconnection: false, forceNew: true };
  const c = ioClient(`http://127.0.0.1:${port}`, opts);
  await within(waitFor(c, 'connect', 10000), 10000, 'connect');
  assert.deepEqual(await c.timeout(5000).emitWithAck('echo', { hello: 'iwa' }, [1, 2]), { hello: 'iwa' });
  const back = await c.timeout(5000).emitWithAck('bin', Buffer.from([1, 2, 3]));
  assert.deepEqual([...back], [3, 2, 1]);
  c.on('question', (x, ack) => ack(x * 7));
  c.emit('ask-me');
  const c2 = ioClient(`http://127.0.0.1:${port}`, opts);
  await waitFor(c2, 'connect');
  await c.timeout(5000).emitWithAck('join', 'r1');
  const heard = waitFor(c, 'room-msg');
  let c2Heard = false; c2.on('room-msg', () => { c2Heard = true; });
  c2.emit('to-room', 'r1', 'for r1');
  assert.deepEqual(await heard, ['for r1']);
  const admin = ioClient(`http://127.0.0.1:${port}/admin`, { ...opts, auth: { k: 'v' } });
  await waitFor(admin, 'connect');
  assert.deepEqual(await admin.timeout(5000).emitWithAck('whoami'), { nsp: '/admin', auth: { k: 'v' } });
  admin.close();
  // default transports: HTTP long-polling served by the IWA, then the WebSocket upgrade
  const d = ioClient(`http://127.0.0.1:${port}`, { reconnection: false, forceNew: true });
  assert.equal(d.io.engine.transport.name, 'polling');
  const upgraded = new Promise((r) => d.io.engine.once('upgrade', (t) => r(t.name)));
  await within(waitFor(d, 'connect', 10000), 10000, 'polling connect');
  assert.deepEqual(await d.timeout(5000).emitWithAck('echo', 'over polling'), 'over polling');
  assert.equal(await within(upgraded, 10000, 'upgrade'), 'websocket');
  assert.deepEqual(await d.timeout(5000).emitWithAck('echo', 'after upgrade'), 'after upgrade');
  d.disconnect();
  c.disconnect(); c2.disconnect();
  await new Promise((r) => setTimeout(r, 200));
  const seen = await call('socketIOServerSeen');
  assert.equal(c2Heard, false);
  assert.equal(seen.connections, 3);
  assert.deepEqual(seen.acksFromClient, [42]);
  assert.deepEqual(seen.binary, [[1, 2, 3]]);
  assert.deepEqual(seen.disconnects, ['client namespace disconnect', 'client namespace disconnect', 'client namespace disconnect']);
  await call('stopSocketIOServer');
});

test('IWA: SocketIWA Socket.IO client (IWA) ↔ stock socket.io server (Node)', async () => {
  const httpServer = http.createServer();
  const ioS = new IOServer(httpServer);
  await new Promise((r) => httpServer.listen(0, '127.0.0.1', r));
  const auths = [];
  ioS.on('connection', (s) => {
    auths.push(s.handshake.auth);
    s.on('echo', (...args) => { const ack = args.pop(); ack(...args); });
    s.on('make-server-ask', async (ack) => ack(await s.timeout(3000).emitWithAck('question', 6)));
    s.on('join', (room, ack) => { s.join(room); ack(); });
    s.on('to-room', (room, msg) => ioS.to(room).emit('room-msg', msg));
    s.on('never-acked', () => {});
    s.on('kick-me', () => s.disconnect());
  });
  ioS.of('/admin').on('connection', (s) => s.on('whoami', (ack) => ack({ nsp: s.nsp.name, auth: s.handshake.auth })));
  const out = await call('socketIOClient', httpServer.address().port);
  assert.equal(out.connected, true);
  assert.deepEqual(out.echo, { n: 1, s: 'two' });
  assert.deepEqual(out.binaryBack, [1, 2, 3]);
  assert.equal(out.serverAsked, 42);
  assert.equal(out.roomMsg, 'hello green');
  assert.equal(out.timeout, 'ETIMEDOUT');
  assert.deepEqual(out.admin, { nsp: '/admin', auth: { token: 'x' } });
  assert.equal(out.disconnectReason, 'io server disconnect');
  assert.equal(out.afterClose, 'ERR_SOCKET_CLOSED');
  assert.deepEqual(auths[0], { from: 'iwa' });
  ioS.close(); httpServer.close();
});

test('IWA: Socket.IO client falls back to polling (server refuses WebSocket), reconnects after a server restart, buffered emits arrive, auth re-evaluated', async () => {
  const notes = [];
  const start = async (port) => {
    const httpServer = http.createServer();
    const ioS = new IOServer(httpServer, { transports: ['polling'] });
    ioS.on('connection', (s) => {
      s.on('whoami', (ack) => ack({ auth: s.handshake.auth, transport: s.conn.transport.name }));
      s.on('echo', (x, ack) => ack(x));
      s.on('note', (x) => notes.push(x));
    });
    await new Promise((r) => httpServer.listen(port, '127.0.0.1', r));
    return { ioS, httpServer, port: httpServer.address().port };
  };
  let srv = await start(0);
  const first = await call('sioReconnectStart', srv.port);
  assert.equal(first.transportName, 'polling');
  assert.deepEqual(first.who, { auth: { n: 1 }, transport: 'polling' });
  await new Promise((r) => srv.ioS.close(r));
  const down = await call('sioReconnectWhileDown');
  assert.deepEqual(down, { connected: false, readyState: 0, sendBuffer: 2 });
  await new Promise((r) => setTimeout(r, 600)); // a few failed attempts (100..400 ms backoff)
  srv = await start(srv.port);
  const end = await call('sioReconnectFinish');
  assert.equal(end.ack, 'queued ack');
  assert.deepEqual(notes, ['sent while down']);
  assert.equal(end.transportName, 'polling');
  assert.equal(end.who.transport, 'polling');
  assert.ok(end.who.auth.n >= 2 && end.who.auth.n === end.authCalls, `auth re-evaluated per attempt: ${JSON.stringify(end.who.auth)} / ${end.authCalls}`);
  const names = end.events.map((e) => e[0]);
  assert.equal(names[0], 'disconnect');
  assert.ok(names.includes('reconnect_attempt') && names.includes('reconnect_error'), names.join());
  assert.deepEqual(names.slice(-2), ['reconnect', 'connect']);
  assert.ok(!names.includes('close'));
  await new Promise((r) => srv.ioS.close(r));
});

test('IWA: SocketIWA WebSocket client (IWA) ↔ stock ws server (Node)', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await waitFor(wss, 'listening');
  const closes = [];
  wss.on('connection', (w, req) => {
    w.on('message', (d, isBinary) => {
      const t = d.toString();
      if (!isBinary && t === 'frag-please') { w.send('12', { fin: false }); w.send('34', { fin: true }); }
      else if (!isBinary && t === 'ping-please') w.ping(Buffer.from('hi-iwa'));
      else w.send(d, { binary: isBinary });
    });
    w.on('close', (code, reason) => closes.push([code, reason.toString(), req.url]));
  });
  const out = await call('wsClient', wss.address().port);
  assert.equal(out.text, 'text from iwa');
  assert.deepEqual(out.binary, [[5, 4, 3], true]);
  assert.equal(out.fragmentedLen, 5000);
  assert.equal(out.fromFragments, '1234');
  assert.equal(out.ping, 'hi-iwa');
  assert.deepEqual(out.close, { code: 4200, reason: 'iwa done' });
  await within((async () => { while (!closes.length) await new Promise((r) => setTimeout(r, 20)); })(), 3000, 'ws close');
  assert.deepEqual(closes, [[4200, 'iwa done', '/iwa']]);
  wss.close();
});

test('IWA: permessage-deflate in the browser (CompressionStream / DecompressionStream) against stock ws, both roles, and IWA ↔ IWA; compressed frames on the wire; a decompression bomb closes with 1009', async (ctx) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
  await waitFor(wss, 'listening');
  const caps = [];
  ctx.after(() => { wss.close(); for (const cap of caps) cap.close(); });
  let offered = null; const peerCloses = [];
  wss.on('connection', (w, req) => {
    offered = req.headers['sec-websocket-extensions'];
    w.on('message', (d, isBinary) => {
      const t = d.toString();
      if (t === 'text-please' || t.startsWith('again-')) w.send('deflate '.repeat(25000));
      else if (t === 'bin-please') w.send(Buffer.alloc(100000, 7));
      else if (t === 'bomb-please') w.send(Buffer.alloc(8 * 1024 * 1024));
      else if (isBinary) w.send(d);
      else w.send('echo:' + t);
    });
    w.on('close', (code) => peerCloses.push(code));
  });
  // Capture what crosses the wire: frames and bytes each way.
  const cap = await frameCapture(wss.address().port);
  caps.push(cap);
  const out = await call('wsDeflateClient', cap.port);
  assert.equal(offered, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  assert.equal(out.extensions, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  assert.equal(out.textLen, 200000); assert.equal(out.textOk, true);
  assert.deepEqual(out.again, ['deflate defl', 'deflate defl', 'deflate defl']);
  assert.deepEqual(out.bin, { len: 100000, sum: 700000 % 65521, isBin: true });
  assert.equal(out.echoOk, true);
  assert.deepEqual(out.echoes, [true, true, true]);
  assert.equal(out.binEcho, true);
  assert.deepEqual(out.bombError, ['ERR_WS_MESSAGE_TOO_BIG', 1009]);
  assert.equal(out.bombClose, 1009);
  assert.equal(out.afterBomb, 0);
  assert.ok(cap.bytes.down < 100000, `bytes server->IWA ${cap.bytes.down}`);
  // What the IWA sent: the short requests plain; the 50 kB text, the three 44 kB texts and the 40 kB binary
  // (compressed, then sent in 64-byte fragments, RSV1 on the first only) compressed, each far smaller than its payload.
  const upMsgs = [];
  for (const f of dataFrames(cap.frames.up)) {
    if (f.opcode !== 0) upMsgs.push({ rsv1: f.rsv1, wire: f.length, frames: 1 });
    else { assert.equal(f.rsv1, false, 'RSV1 only on the first frame'); upMsgs.at(-1).wire += f.length; upMsgs.at(-1).frames++; }
  }
  const compressed = upMsgs.filter((m) => m.rsv1);
  assert.equal(upMsgs.filter((m) => !m.rsv1).length, 6, 'text-please, again-0..2, bin-please, bomb-please are plain: ' + JSON.stringify(upMsgs));
  assert.equal(compressed.length, 5, JSON.stringify(upMsgs));
  const sizes = [50000, 4000 * 'from iwa 0 '.length, 4000 * 'from iwa 1 '.length, 4000 * 'from iwa 2 '.length, 40000];
  compressed.forEach((m, i) => assert.ok(m.wire * 10 < sizes[i], `IWA message ${i}: ${m.wire} B on the wire for ${sizes[i]} B`));
  assert.equal(compressed[4].frames > 1, true, 'the binary message went out fragmented');
  await within((async () => { while (!peerCloses.length) await new Promise((r) => setTimeout(r, 20)); })(), 5000, 'peer close');
  assert.equal(peerCloses[0], 1009);

  // Stock ws client (offers deflate, compresses >= 1 KiB) -> IWA server inflates and answers compressed.
  const port = await call('startWsServer');
  const cap2 = await frameCapture(port);
  caps.push(cap2);
  const c = new WebSocket(`ws://127.0.0.1:${cap2.port}/`);
  const upgrade = waitFor(c, 'upgrade');
  await waitFor(c, 'open');
  const [res] = await upgrade;
  assert.equal(res.headers['sec-websocket-extensions'], 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  const texts = [];
  for (let i = 0; i < 3; i++) {
    const text = `round ${i} ` + 'zip '.repeat(30000);
    texts.push(text);
    c.send(text);
    assert.equal((await waitFor(c, 'message'))[0].toString(), 'iwa:' + text);
  }
  c.close(); await waitFor(c, 'close');
  const down = dataFrames(cap2.frames.down);
  assert.equal(down.length, 3);
  down.forEach((f, i) => {
    assert.equal(f.rsv1, true, `IWA server message ${i} has RSV1`);
    assert.ok(f.length * 10 < texts[i].length, `IWA server message ${i}: ${f.length} B for ${texts[i].length + 4} B`);
  });

  // IWA client -> (capture) -> IWA server: both ends on Chromium's streams, BFINAL-flushed each way.
  const cap3 = await frameCapture(port);
  caps.push(cap3);
  const self = await call('wsDeflateSelf', cap3.port);
  assert.equal(self.extensions, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  assert.deepEqual(self.echoes, [true, true, true]);
  assert.equal(self.binEcho, true);
  assert.equal(self.close, 1000);
  for (const dir of ['up', 'down']) {
    const msgs = dataFrames(cap3.frames[dir]);
    assert.equal(msgs.length, 4, `${dir}: ${JSON.stringify(msgs)}`);
    assert.ok(msgs.every((f) => f.rsv1 && f.length < 3000), `${dir}: ${msgs.map((f) => `${f.rsv1}/${f.length}`)}`);
  }
});

test('IWA: Socket.IO over permessage-deflate, both roles: the IWA\'s large emits and acks travel compressed (RSV1, far smaller)', async (ctx) => {
  const caps = [];
  ctx.after(() => { for (const cap of caps) cap.close(); });
  const payloadSize = (i) => `sio deflate ${i} `.repeat(6000).length;
  /** The compressed data frames of one direction: each has RSV1 and is far smaller than the ~90 kB payload. */
  const compressedOf = (list, what) => {
    const big = dataFrames(list).filter((f) => f.rsv1);
    assert.equal(big.length, 2, `${what}: two compressed messages (${JSON.stringify(dataFrames(list).map((f) => [f.rsv1, f.length]))})`);
    big.forEach((f, i) => assert.ok(f.length * 10 < payloadSize(i), `${what}: message ${i} ${f.length} B on the wire`));
  };
  // IWA client -> stock socket.io server (Node)
  const httpServer = http.createServer();
  const io = new IOServer(httpServer, { perMessageDeflate: { threshold: 1024 } }); // only the large acks compressed
  ctx.after(() => io.close());
  io.on('connection', (s) => s.on('echo', (x, ack) => ack(x)));
  await new Promise((r) => httpServer.listen(0, '127.0.0.1', r));
  const cap = await frameCapture(httpServer.address().port);
  caps.push(cap);
  const out = await call('sioDeflateClient', cap.port);
  assert.equal(out.extensions, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  assert.deepEqual(out.echoes, [true, true]);
  compressedOf(cap.frames.up, 'IWA client → socket.io server');
  compressedOf(cap.frames.down, 'socket.io server → IWA client');

  // stock socket.io-client (Node) -> IWA Socket.IO server
  const port = await call('startSocketIOServer');
  ctx.after(() => call('stopSocketIOServer').catch(() => {}));
  const cap2 = await frameCapture(port);
  caps.push(cap2);
  const c = ioClient(`http://127.0.0.1:${cap2.port}`, { transports: ['websocket'], reconnection: false, forceNew: true });
  ctx.after(() => c.disconnect());
  await within(waitFor(c, 'connect', 10000), 10000, 'connect');
  for (let i = 0; i < 2; i++) {
    const payload = { i, text: `sio deflate ${i} `.repeat(6000) };
    assert.deepEqual(await c.timeout(5000).emitWithAck('echo', payload), payload);
  }
  c.disconnect();
  compressedOf(cap2.frames.up, 'socket.io-client → IWA server');
  compressedOf(cap2.frames.down, 'IWA server → socket.io-client');
});

test('IWA: stock ws client (Node) ↔ SocketIWA WebSocket server (IWA), including a malformed frame', async () => {
  const port = await call('startWsServer');
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  await waitFor(ws, 'open');
  ws.send('hello');
  assert.equal((await waitFor(ws, 'message'))[0].toString(), 'iwa:hello');
  ws.send(Buffer.from([1, 2, 3]));
  assert.deepEqual([...(await waitFor(ws, 'message'))[0]], [1, 2, 3]);
  ws.send('a', { fin: false }); ws.send('b', { fin: true });
  assert.equal((await waitFor(ws, 'message'))[0].toString(), 'iwa:ab');
  ws.ping('pp');
  assert.equal((await waitFor(ws, 'pong'))[0].toString(), 'pp');
  ws.close(4300, 'node done');
  await waitFor(ws, 'close');
  // A raw peer sending an unmasked frame gets close 1002; server stays up.
  const net = await import('node:net');
  const crypto = await import('node:crypto');
  const sock = net.connect(port, '127.0.0.1');
  await waitFor(sock, 'connect');
  sock.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  const chunks = [];
  sock.on('data', (d) => { chunks.push(d); if (Buffer.concat(chunks).includes('\r\n\r\n') && !sock.sentBad) { sock.sentBad = true; sock.write(Buffer.from([0x81, 0x01, 0x41])); } });
  await within(new Promise((r) => sock.on('close', r)), 10000, 'server closing the bad connection');
  const all = Buffer.concat(chunks);
  const body = all.subarray(all.indexOf('\r\n\r\n') + 4);
  assert.equal(body[0], 0x88);
  assert.equal(body.readUInt16BE(2), 1002);
  const ws2 = new WebSocket(`ws://127.0.0.1:${port}/`);
  await waitFor(ws2, 'open');
  ws2.send('again');
  assert.equal((await waitFor(ws2, 'message'))[0].toString(), 'iwa:again');
  ws2.close();
  await waitFor(ws2, 'close');
  const seen = await call('wsServerSeen');
  assert.deepEqual(seen.closes[0], [4300, 'node done']);
  assert.deepEqual(seen.errors, [['ERR_WS_PROTOCOL', 1002]]);
});

test('IWA: UDP round trip with a Node peer; bad port TypeError; send after close has a code', async () => {
  const peer = dgram.createSocket('udp4');
  await new Promise((r) => peer.bind(0, '127.0.0.1', r));
  peer.on('message', (m, r) => peer.send(Buffer.from('pong:' + m), r.port, r.address));
  const out = await call('udpRoundTrip', peer.address().port);
  assert.equal(out.text, 'pong:ping over udp');
  assert.equal(out.rinfo.port, peer.address().port);
  assert.equal(out.rinfo.address, '127.0.0.1');
  assert.deepEqual(out.badPort, ['TypeError', 'ERR_SOCKET_BAD_PORT']);
  assert.equal(out.afterClose, 'ERR_SOCKET_CLOSED');
  assert.equal(out.ssm, 'ENOTSUP', 'Chromium ignores sourceAddress, so source-specific joins are refused, not faked');
  peer.close();
});

test('IWA without the local-network permission: sockets fail with EACCES, assertPermissions names the feature', async () => {
  const denied = await launchIwa({ mounts: { '/api/': apiDir, '/tests/js/': here }, timeoutMs: 45000, grantPermissions: [] });
  try {
    const out = await within(denied.call('/tests/js/iwa/scenarios.js', 'withoutLocalNetwork', 9), 30000, 'withoutLocalNetwork');
    for (const k of ['udp', 'tcp']) {
      assert.equal(out[k].code, 'EACCES', JSON.stringify(out[k]));
      assert.match(out[k].message, /local network/i);
      assert.ok(['NotAllowedError', 'InvalidAccessError'].includes(out[k].cause), out[k].cause);
    }
    assert.equal(out.assert.code, 'EACCES');
    assert.equal(out.assert.feature, 'local-network-access');
  } finally { await denied.close(); }
});

test('IWA Socket.IO server: malformed packet closes that connection (parse error, 4002), silent client hits ping timeout, server keeps serving', async () => {
  const port = await call('startStrictServer');
  const url = `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`;
  // 1. malformed Socket.IO packet
  const bad = new WebSocket(url);
  const [open] = await waitFor(bad, 'message');
  assert.match(open.toString(), /^0\{"sid":/);
  bad.send('40');
  await waitFor(bad, 'message'); // CONNECT reply
  bad.send('42["ev",');           // truncated JSON
  const [code] = await within(waitFor(bad, 'close', 10000), 10000, 'close after parse error');
  assert.equal(code, 4002);
  // 2. a client that never answers pings (stock ws speaking raw Engine.IO)
  const silent = new WebSocket(url);
  await waitFor(silent, 'message');
  silent.send('40');
  await within(waitFor(silent, 'close', 10000), 10000, 'ping timeout close');
  // 3. a well-behaved stock client still works
  const good = ioClient(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false, forceNew: true });
  await waitFor(good, 'connect');
  assert.equal(await good.timeout(5000).emitWithAck('echo', 'fine'), 'fine');
  good.disconnect();
  await new Promise((r) => setTimeout(r, 200));
  const seen = await call('strictSeen');
  assert.deepEqual(seen.disconnects, ['parse error', 'ping timeout', 'client namespace disconnect']);
  assert.deepEqual(seen.errors, ['ERR_SOCKETIO_PARSE']);
  await call('stopStrictServer');
});

test('IWA Socket.IO client notices a server that stops pinging (ping timeout)', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await waitFor(wss, 'listening');
  wss.on('connection', (w) => {
    w.send('0' + JSON.stringify({ sid: 'quiet', upgrades: [], pingInterval: 200, pingTimeout: 200, maxPayload: 1e6 }));
    w.on('message', (d) => { if (d.toString().startsWith('40')) w.send('40{"sid":"q1"}'); });
  });
  const out = await call('clientPingTimeout', wss.address().port);
  assert.equal(out.reason, 'ping timeout');
  assert.equal(out.pingInterval, 200);
  assert.ok(out.afterMs >= 350 && out.afterMs < 3000, `after ${out.afterMs} ms`);
  wss.close();
});

test('IWA raw TCP: 64 MiB upload arrives whole (SHA-256), 8 MiB download arrives complete', async () => {
  // Chromium drops TCPSocket write chunks when its 64 KiB data pipe is full;
  // api/tcp_write_guard.js re-sends them (docs/BRIDGE.md, "Chromium TCP write
  // loss"). The scenario reuses one buffer, so a missing copy shows too.
  const net = await import('node:net');
  const crypto = await import('node:crypto');
  const UP = 64 * 1024 * 1024, DOWN = 8 * 1024 * 1024;
  const expected = crypto.createHash('sha256');
  const block = Buffer.from(new Uint8Array(16384).map((_, i) => i & 0xff));
  for (let k = 0; k < UP / block.length; k++) { block.writeUInt32BE(k, 0); expected.update(block); }
  expected.update('\n');
  const hash = crypto.createHash('sha256');
  let got = 0, onUploaded;
  const uploaded = new Promise((r) => { onUploaded = r; });
  const server = net.createServer((s) => {
    s.on('data', (d) => {
      got += d.length;
      if (got <= UP + 1) hash.update(d);
      if (got !== UP + 1) return;
      onUploaded();
      const block = Buffer.alloc(64 * 1024, 1);
      let left = DOWN;
      const pump = () => { while (left > 0) { left -= block.length; if (!s.write(block)) { s.once('drain', pump); return; } } };
      pump();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const conns = new Set();
  server.on('connection', (s) => { conns.add(s); s.on('close', () => conns.delete(s)); });
  let out;
  try {
    out = await call('rawTransfer', server.address().port, UP, DOWN);
  } catch (e) {
    throw new Error(`${e.message}; the server received ${got} of ${UP + 1} bytes`);
  } finally {
    if (got !== UP + 1) { for (const s of conns) s.destroy(); server.close(); }
  }
  await uploaded;
  assert.equal(got, UP + 1);
  assert.equal(hash.digest('hex'), expected.digest('hex'));
  assert.equal(out.sent, UP);
  assert.equal(out.received, DOWN);
  server.close();
});

test('IWA (issue 13, defect 0): junk after a request never stops the IWA Socket.IO server', async () => {
  const port = await call('startSocketIOServer');
  const heads = [
    'GET /x?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\n\r\n',
    'POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n',
    `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  ];
  const junk = 'junk\r\njunk\r\n\r\n\x00\xff\x81\x7f' + 'A'.repeat(300);
  for (const head of heads) {
    for (let i = 0; i < 3; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      await new Promise((r) => { s.once('connect', r); s.once('close', r); });
      s.write(head + junk); s.write(junk);
      await new Promise((r) => { const t = setTimeout(r, 2000); s.once('close', () => { clearTimeout(t); r(); }); });
      s.destroy();
    }
  }
  for (const transports of [['websocket'], ['polling']]) {
    const c = ioClient(`http://127.0.0.1:${port}`, { transports, reconnection: false, forceNew: true });
    await within(waitFor(c, 'connect', 10000), 10000, 'connect after junk');
    assert.deepEqual(await c.timeout(5000).emitWithAck('echo', 'alive'), 'alive');
    c.close();
  }
  await call('stopSocketIOServer');
});

test('IWA (issue 13, defects 1-2): UDP send to an unresolvable name fails that send only (ENOTFOUND); unresolvable TCP host is ENOTFOUND', async () => {
  const peer = dgram.createSocket('udp4');
  await new Promise((r) => peer.bind(0, '127.0.0.1', r));
  peer.on('message', (m, rinfo) => peer.send(m, rinfo.port, rinfo.address));
  const r = await call('unresolvableNames', peer.address().port);
  peer.close();
  assert.equal(r.sendCode, 'ENOTFOUND', r.sendMessage);
  assert.deepEqual(r.errorEvents, ['ENOTFOUND']);
  assert.equal(r.reply, 'still works');
  assert.equal(r.readyState, 1);
  assert.equal(r.closed, 'closed');
  assert.equal(r.tcpCode, 'ENOTFOUND', r.tcpMessage);
});
