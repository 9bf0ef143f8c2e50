// Adversarial tests of issue 13 (defects 0-2 and the limits a public server
// needs), under Node with real peers. Servers under attack run in a child
// process (limits_server.js) so a crash or descriptor exhaustion is observed
// from outside; each test then checks that a legitimate stock client is still
// served. Counts are bounded (the numbers); timeouts in the servers
// under test are lowered to 1 s and the waits allow several seconds on top,
// so a loaded CPU slows the test down but does not fail it.
import { sleep, within } from './helpers.js';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import dgram from 'node:dgram';
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { io as ioClient } from 'socket.io-client';
import { WebSocket } from 'ws';
import SocketIWA from '../../api/direct_sockets_api.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const children = new Set();
after(() => { for (const c of children) c.kill('SIGKILL'); });

/** Start limits_server.js with `opts`; `nofile` lowers its descriptor limit (ulimit -n). */
async function child(opts, { nofile } = {}) {
  const script = path.join(here, 'limits_server.js');
  const json = JSON.stringify(opts);
  const proc = nofile
    ? spawn('bash', ['-c', `ulimit -n ${nofile} && exec "$0" "$1" "$2"`, process.execPath, script, json], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, [script, json], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const port = await within(new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => { out += d; const m = /\{"port":(\d+)\}/.exec(out); if (m) resolve(Number(m[1])); });
    proc.on('exit', (code) => reject(new Error(`server exited (${code}) before listening: ${stderr}`)));
  }), 20000, 'child server start');
  return {
    port, proc,
    get stderr() { return stderr; },
    alive() { return proc.exitCode === null && proc.signalCode === null; },
    stop() { proc.kill('SIGTERM'); children.delete(proc); },
  };
}

/** A stock socket.io-client connects and gets an ack back. */
async function sioEcho(port, transports = ['websocket']) {
  const c = ioClient(`http://127.0.0.1:${port}`, { transports, reconnection: false, forceNew: true, timeout: 15000 });
  try {
    await within(new Promise((resolve, reject) => { c.once('connect', resolve); c.once('connect_error', reject); }), 20000, 'socket.io connect');
    return await c.timeout(15000).emitWithAck('echo', { still: 'serving' });
  } finally { c.close(); }
}

/** Open a raw TCP connection; `closed` resolves when the server ends or resets it. */
function raw(port) {
  const s = net.connect(port, '127.0.0.1');
  s.setNoDelay(true);
  s.on('error', () => {});
  s.received = [];
  s.on('data', (d) => s.received.push(d));
  s.opened = new Promise((r) => { s.once('connect', r); s.once('close', r); });
  s.gone = new Promise((r) => { s.once('close', r); s.once('end', r); });
  return s;
}

function isClosedWithin(s, ms) {
  let t;
  return Promise.race([s.gone.then(() => true), new Promise((r) => { t = setTimeout(() => r(false), ms); })]).finally(() => clearTimeout(t));
}

// ---------------------------------------------------------------------------
// Defect 0: peer input must never end the process
// ---------------------------------------------------------------------------

test('defect 0: junk after a request (unknown path, Socket.IO handshake, chunked POST, WebSocket upgrade) never kills the server', async () => {
  const srv = await child({ protocol: 'socket.io' });
  const attacks = {
    'unknown path': 'GET /x?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\n\r\n',
    'socket.io handshake': 'GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\n\r\n',
    'chunked POST': 'POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n',
    'websocket upgrade': `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  };
  // Malformed header lines in the same packet: the server closes while the
  // response to the first request is still being produced (the crash).
  const junk = 'junk\r\njunk\r\n\r\n\x00\xff\x81\x7f' + 'A'.repeat(300);
  for (const [name, head] of Object.entries(attacks)) {
    for (let i = 0; i < 5; i++) {
      assert.ok(srv.alive(), `server process died during "${name}" + junk: ${srv.stderr.slice(-800)}`);
      const s = raw(srv.port);
      await s.opened;
      s.write(head + junk);
      s.write(junk);
      await isClosedWithin(s, 2000);
      s.destroy();
    }
    await sleep(300);
    assert.ok(srv.alive(), `server process died after "${name}" + junk: ${srv.stderr.slice(-800)}`);
  }
  assert.deepEqual(await sioEcho(srv.port), { still: 'serving' });
  assert.deepEqual(await sioEcho(srv.port, ['polling']), { still: 'serving' });
  assert.doesNotMatch(srv.stderr, /ERR_INTERNAL_ASSERTION|Uncaught|TypeError/);
  srv.stop();
});

// ---------------------------------------------------------------------------
// Defects 1 and 2: name resolution
// ---------------------------------------------------------------------------

test('defect 1: a UDP send to an unresolvable name fails that send (ENOTFOUND, error event if unawaited); the socket keeps working and closes', async () => {
  const peer = dgram.createSocket('udp4');
  await new Promise((r) => peer.bind(0, '127.0.0.1', r));
  const got = [];
  peer.on('message', (m) => got.push(m.toString()));
  const u = await SocketIWA.createUDP({ localAddress: '127.0.0.1' });
  await assert.rejects(u.send('x', 9, 'not-an-ip.invalid'), (e) => e.code === 'ENOTFOUND');
  const errors = [];
  u.on('error', (e) => errors.push(e.code));
  u.send('y', 9, 'also-not.invalid'); // nobody awaits: reported as an 'error' event
  const cbErr = await new Promise((r) => u.send('z', 9, 'third.invalid', r)); // callback gets it, no event
  assert.equal(cbErr.code, 'ENOTFOUND');
  await within((async () => { while (errors.length < 1) await sleep(20); })(), 10000, 'error event');
  await sleep(100);
  assert.deepEqual(errors, ['ENOTFOUND']);
  assert.equal(u.readyState, 1);
  await u.send('after', peer.address().port, '127.0.0.1');
  await u.send('by-name', peer.address().port, 'localhost');
  await within((async () => { while (got.length < 2) await sleep(20); })(), 5000, 'datagrams');
  assert.deepEqual(got.sort(), ['after', 'by-name']);
  await within(u.close(), 5000, 'close()');
  assert.equal(u.readyState, 3);
  peer.close();
});

test('defect 1 (Node Direct Sockets): a failed UDPSocket write errors the writable like Chromium, and close() still resolves', async () => {
  const s = new UDPSocket({ localAddress: '127.0.0.1' });
  const { readable, writable } = await s.opened;
  const w = writable.getWriter();
  await assert.rejects(w.write({ data: new Uint8Array([1]), remoteAddress: 'nope.invalid', remotePort: 9 }),
    (e) => e.name === 'NetworkError' && e.cause && e.cause.code === 'ENOTFOUND');
  w.releaseLock();
  await readable.cancel();
  await within(s.closed, 5000, 'closed');
});

test('defect 2: unresolvable TCP/UDP hosts report ENOTFOUND (API and Node Direct Sockets)', async () => {
  await assert.rejects(SocketIWA.createTCP('nope.invalid', 80), (e) => e.code === 'ENOTFOUND' && /nope\.invalid/.test(e.message));
  await assert.rejects(SocketIWA.createTCP('nope.invalid', 80, { protocol: 'websocket' }), (e) => e.code === 'ENOTFOUND');
  await assert.rejects(SocketIWA.createUDP({ remoteAddress: 'nope.invalid', remotePort: 9 }), (e) => e.code === 'ENOTFOUND');
  const t = new TCPSocket('nope.invalid', 80);
  await assert.rejects(t.opened, (e) => e.name === 'NetworkError' && e.cause.code === 'ENOTFOUND');
  // A refused connection keeps its own code.
  const free = net.createServer(); await new Promise((r) => free.listen(0, '127.0.0.1', r));
  const port = free.address().port; await new Promise((r) => free.close(r));
  await assert.rejects(SocketIWA.createTCP('127.0.0.1', port), (e) => e.code === 'ECONNREFUSED');
});

// ---------------------------------------------------------------------------
// Limits a public server needs
// ---------------------------------------------------------------------------

test('limits: documented defaults', async () => {
  const { HTTP_DEFAULTS } = await import('../../api/polling.js');
  const { SERVER_LIMIT_DEFAULTS } = await import('../../api/server.js');
  const { DEFAULT_MESSAGE_TIMEOUT_MS } = await import('../../api/websocket.js');
  const { DEFAULT_MAX_NESTING_DEPTH, SocketIOServerCore } = await import('../../api/socketio.js');
  assert.deepEqual({ ...HTTP_DEFAULTS }, { headersTimeoutMs: 10000, bodyTimeoutMs: 30000, keepAliveTimeoutMs: 5000, maxPipelined: 8 });
  assert.deepEqual({ ...SERVER_LIMIT_DEFAULTS }, { maxConnections: 1000, maxBufferedAmount: 64 * 1024 * 1024, maxServerBufferedAmount: 512 * 1024 * 1024 });
  assert.equal(DEFAULT_MESSAGE_TIMEOUT_MS, 60000);
  assert.equal(DEFAULT_MAX_NESTING_DEPTH, 100);
  assert.equal(new SocketIOServerCore().maxPayload, 1000000);
  assert.equal(new SocketIOServerCore().connectTimeoutMs, 45000);
  const s = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io' });
  assert.equal(s.maxConnections, 1000);
  await s.close();
  await assert.rejects(SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io', keepAliveTimeoutMs: -1 }), (e) => e.code === 'ERR_OUT_OF_RANGE' && /keepAliveTimeoutMs/.test(e.message));
});

test('limits: slowloris (100 idle keep-alive after a 404, 100 trickled heads, 100 trickled POST bodies) are all closed; clients still served', async () => {
  const srv = await child({ protocol: 'socket.io', headersTimeoutMs: 1000, bodyTimeoutMs: 1000, keepAliveTimeoutMs: 1000, handshakeTimeoutMs: 1000 });
  const first = 'GET /nope?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\n\r\n';
  const conns = [];
  for (let i = 0; i < 300; i++) {
    const s = raw(srv.port);
    s.kind = i % 3;
    conns.push(s);
  }
  await Promise.all(conns.map((s) => s.opened));
  for (const s of conns) {
    if (s.kind === 2) s.write('POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n');
    else s.write(first);
  }
  // Trickle one byte every 250 ms (heads for kind 1, bodies for kind 2) for at most 10 s.
  const trickle = setInterval(() => { for (const s of conns) if (s.kind && !s.destroyed && s.writable) s.write(s.kind === 1 ? 'X' : 'y'); }, 250);
  const t0 = Date.now();
  const closed = await Promise.all(conns.map((s) => isClosedWithin(s, 10000)));
  clearInterval(trickle);
  const open = closed.map((c, i) => (c ? null : ['keep-alive idle', 'trickled head', 'trickled body'][i % 3])).filter(Boolean);
  assert.deepEqual(open, [], `still open after ${Date.now() - t0} ms`);
  const heads = conns.filter((s) => s.kind === 1).map((s) => Buffer.concat(s.received).toString());
  assert.ok(heads.every((h) => /HTTP\/1\.1 408/.test(h)), 'a trickled head gets 408');
  for (const s of conns) s.destroy();
  assert.ok(srv.alive());
  assert.deepEqual(await sioEcho(srv.port, ['polling', 'websocket']), { still: 'serving' });
  srv.stop();
});

test('limits: 1,100 idle connections against 1,024 descriptors (default maxConnections) do not lock out Socket.IO and WebSocket clients', async () => {
  const srv = await child({ protocol: 'socket.io' }, { nofile: 1024 });
  const idle = [];
  for (let i = 0; i < 1100; i++) {
    const s = raw(srv.port);
    idle.push(s);
    if (i % 100 === 99) await Promise.all(idle.slice(-100).map((x) => x.opened));
  }
  await sleep(500);
  assert.ok(srv.alive(), srv.stderr.slice(-500));
  // Legitimate clients: stock socket.io-client over WebSocket and polling, and a stock ws client on the Engine.IO endpoint.
  assert.deepEqual(await sioEcho(srv.port), { still: 'serving' });
  assert.deepEqual(await sioEcho(srv.port, ['polling']), { still: 'serving' });
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/socket.io/?EIO=4&transport=websocket`);
  const open = await within(new Promise((resolve) => { ws.once('message', (m) => resolve(String(m))); ws.once('error', (e) => resolve('error ' + e.message)); }), 15000, 'ws open packet');
  assert.match(open, /^0\{"sid"/);
  ws.close();
  const dropped = idle.filter((s) => s.destroyed || s.readyState === 'closed').length;
  assert.ok(dropped >= 100, `the oldest idle connections were shed (${dropped})`);
  for (const s of idle) s.destroy();
  srv.stop();
});

test('limits: accept failing with EMFILE keeps the listener; it serves again once descriptors free up (guard: libuv already survives this)', async () => {
  // 40 descriptors: node itself needs ~20; maxConnections above that, so accept() hits EMFILE.
  const srv = await child({ protocol: 'socket.io', maxConnections: 500 }, { nofile: 40 });
  const flood = [];
  for (let i = 0; i < 60; i++) flood.push(raw(srv.port));
  await Promise.all(flood.map((s) => s.opened));
  await sleep(1000);
  assert.ok(srv.alive(), srv.stderr.slice(-500));
  for (const s of flood) s.destroy();
  await sleep(500);
  assert.deepEqual(await sioEcho(srv.port), { still: 'serving' });
  srv.stop();
});

/** A raw WebSocket client over net (the test controls every byte and whether it reads). */
async function rawWs(port, pathQuery = '/') {
  const s = raw(port);
  await s.opened;
  s.write(`GET ${pathQuery} HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await within((async () => { while (!/\r\n\r\n/.test(Buffer.concat(s.received).toString('latin1'))) await sleep(10); })(), 10000, 'upgrade response');
  return s;
}

/** A masked client frame (mask key 0, so the payload goes unchanged). */
function frame(opcode, payload, fin = true) {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + 4);
  head[0] = (fin ? 0x80 : 0) | opcode;
  head[1] = 0x80 | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2); else if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  return Buffer.concat([head, payload]);
}

test('limits: Socket.IO maxHttpBufferSize (default 1 MB) is enforced on the WebSocket and polling transports', async () => {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io' });
  server.on('error', () => {});
  server.on('connection', (s) => s.on('echo', (x, ack) => ack(x.length)));
  for (const transports of [['websocket'], ['polling']]) {
    const c = ioClient(`http://127.0.0.1:${server.port}`, { transports, reconnection: false, forceNew: true });
    await within(new Promise((r) => c.once('connect', r)), 10000, 'connect');
    assert.equal(await c.timeout(10000).emitWithAck('echo', 'x'.repeat(900000)), 900000, 'below the limit passes');
    const gone = new Promise((r) => c.once('disconnect', r));
    c.emit('echo', 'x'.repeat(2000000), () => assert.fail('a 2 MB message was accepted'));
    const reason = await within(gone, 15000, `disconnect (${transports})`);
    assert.match(reason, /transport (close|error)/);
    c.close();
  }
  await server.close();
});

test('limits: deeply nested JSON (100,000 levels) is refused before parsing, over WebSocket and polling', async () => {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io' });
  const errors = [];
  server.on('error', (e) => errors.push(e.code));
  server.on('connection', (s) => s.on('echo', (x, ack) => ack(x)));
  const deep = '['.repeat(100000) + ']'.repeat(100000);
  // WebSocket (stock ws client speaking Engine.IO by hand)
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket`);
  const msgs = [];
  ws.on('message', (m) => msgs.push(String(m)));
  const closed = new Promise((r) => ws.once('close', r));
  await within((async () => { while (!msgs.length) await sleep(10); })(), 5000, 'open');
  ws.send('40');
  await within((async () => { while (!msgs.some((m) => m.startsWith('40'))) await sleep(10); })(), 5000, 'connect');
  ws.send('421["echo",[1]]');
  await within((async () => { while (!msgs.includes('431[[1]]')) await sleep(10); })(), 5000, 'shallow echo');
  ws.send(`422["echo",${deep}]`);
  await within(closed, 10000, 'close after deep JSON');
  assert.ok(!msgs.some((m) => m.startsWith('432')), 'the deep payload was not echoed');
  // Polling
  const base = `http://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=polling`;
  const open = await (await fetch(base)).text();
  const sid = JSON.parse(open.slice(1)).sid;
  await (await fetch(`${base}&sid=${sid}`, { method: 'POST', body: '40' })).text();
  await (await fetch(`${base}&sid=${sid}`)).text();
  await (await fetch(`${base}&sid=${sid}`, { method: 'POST', body: `421["echo",${deep}]` })).text();
  const next = await fetch(`${base}&sid=${sid}`);
  const body = await next.text();
  assert.ok(!body.includes('431'), `no echo over polling: ${body.slice(0, 60)}`);
  assert.ok(next.status === 400 || body === '1', `session closed: ${next.status} ${body.slice(0, 60)}`);
  assert.ok(errors.filter((c) => c === 'ERR_SOCKETIO_TOO_DEEP').length >= 2, String(errors));
  await server.close();
});

test('limits: a WebSocket upgrade with an unknown Engine.IO sid gets 400, not 101', async () => {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io' });
  server.on('clientError', () => {});
  const s = raw(server.port);
  await s.opened;
  s.write(`GET /socket.io/?EIO=4&transport=websocket&sid=bogus HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await within(s.gone, 5000, 'server closes');
  const text = Buffer.concat(s.received).toString();
  assert.match(text, /^HTTP\/1\.1 400 /);
  assert.match(text, /Session ID unknown/);
  assert.doesNotMatch(text, /101 Switching/);
  await server.close();
});

test('limits: a frame header declaring 100 MB whose body never comes is closed by the per-message receive timeout (1008)', async () => {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'websocket', messageTimeoutMs: 1000 });
  const errs = [];
  server.on('connection', (ws) => ws.on('error', (e) => errs.push(e.code)));
  const s = await rawWs(server.port);
  const head = Buffer.alloc(14);
  head[0] = 0x82; head[1] = 0x80 | 127; head.writeBigUInt64BE(100000000n, 2);
  s.write(Buffer.concat([head, Buffer.alloc(10)]));
  assert.ok(await isClosedWithin(s, 10000), 'connection still open 10 s after a 1 s message timeout');
  const all = Buffer.concat(s.received);
  const i = all.indexOf(Buffer.from([0x88]));
  assert.ok(i > 0, 'a close frame was sent');
  assert.equal(all.readUInt16BE(i + 2), 1008);
  assert.deepEqual(errs, ['ETIMEDOUT']);
  s.destroy();
  // The connection count (maxConnections) forgets closed connections.
  await within((async () => { while (server.connectionCount !== 0) await sleep(20); })(), 5000, `connectionCount ${server.connectionCount} -> 0`);
  await server.close();
});

test('limits: pongs to a client that never reads stay bounded (200,000 pings, ~26 MB)', async () => {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'websocket' });
  let conn, pings = 0;
  server.on('connection', (ws) => { conn = ws; ws.on('ping', () => { pings++; }); ws.on('error', () => {}); });
  const s = await rawWs(server.port);
  s.pause(); // never read again
  const ping = frame(0x9, Buffer.alloc(125, 7));
  const batch = Buffer.concat(Array(1000).fill(ping));
  for (let i = 0; i < 200; i++) { if (!s.write(batch)) await new Promise((r) => s.once('drain', r)); }
  await within((async () => { while (pings < 200000) await sleep(50); })(), 60000, `server saw ${pings} pings`);
  assert.ok(conn.bufferedAmount <= 1024 * 1024 + 131, `queued ${conn.bufferedAmount} bytes of pongs`);
  s.destroy();
  await server.close();
});

test('limits: outgoing budgets per connection and per server drop a peer that never reads (ENOBUFS)', async () => {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'websocket', maxBufferedAmount: 4 * 1024 * 1024, maxServerBufferedAmount: 6 * 1024 * 1024 });
  const conns = [];
  server.on('connection', (ws) => { ws.errs = []; ws.on('error', (e) => ws.errs.push(e.code)); conns.push(ws); });
  const a = await rawWs(server.port); a.pause();
  await within((async () => { while (conns.length < 1) await sleep(10); })(), 5000, 'server side');
  const mb = new Uint8Array(1024 * 1024);
  for (let i = 0; i < 40 && conns[0].readyState === 1; i++) { conns[0].send(mb); await sleep(5); }
  await within((async () => { while (!conns[0].errs.length) await sleep(20); })(), 10000, 'per-connection ENOBUFS');
  assert.deepEqual(conns[0].errs, ['ENOBUFS']);
  // Per server: two non-reading peers, each under 4 MiB, together past 6 MiB.
  const b = await rawWs(server.port); b.pause();
  const c = await rawWs(server.port); c.pause();
  await within((async () => { while (conns.length < 3) await sleep(10); })(), 5000, 'server side');
  for (let i = 0; i < 40 && conns[1].readyState === 1 && conns[2].readyState === 1; i++) {
    conns[1].send(mb); conns[2].send(mb); await sleep(5);
  }
  await within((async () => { while (!conns[1].errs.length && !conns[2].errs.length) await sleep(20); })(), 10000, 'server-wide ENOBUFS');
  assert.ok([...conns[1].errs, ...conns[2].errs].includes('ENOBUFS'));
  for (const x of [a, b, c]) x.destroy();
  await server.close();
});

test('limits: a Socket.IO polling client that stops polling cannot grow the server queue past maxBufferedAmount (ENOBUFS)', async () => {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io', maxBufferedAmount: 4 * 1024 * 1024 });
  const errors = [];
  server.on('error', (e) => errors.push(e.code));
  const reason = new Promise((resolve) => server.on('connection', (s) => {
    s.on('disconnect', resolve);
    const mb = 'x'.repeat(1024 * 1024);
    for (let i = 0; i < 10 && s.connected; i++) s.emit('big', mb);
  }));
  const base = `http://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=polling`;
  const sid = JSON.parse((await (await fetch(base)).text()).slice(1)).sid;
  await (await fetch(`${base}&sid=${sid}`, { method: 'POST', body: '40' })).text(); // connect, then never poll
  assert.match(await within(reason, 10000, 'disconnect of the non-polling client'), /^transport (close|error)$/);
  assert.ok(errors.includes('ENOBUFS'), String(errors));
  await server.close();
});

test('limits: a Socket.IO session that never joins a namespace is closed after connectTimeoutMs', async () => {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io', connectTimeoutMs: 1000 });
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket`);
  const msgs = [];
  ws.on('message', (m) => msgs.push(String(m)));
  const closed = new Promise((r) => ws.once('close', r));
  await within((async () => { while (!msgs.length) await sleep(10); })(), 5000, 'open');
  assert.match(msgs[0], /^0\{"sid"/);
  await within(closed, 8000, 'close of a session without a namespace');
  // One that joins in time stays.
  assert.deepEqual(await (async () => {
    const c = ioClient(`http://127.0.0.1:${server.port}`, { transports: ['websocket'], reconnection: false, forceNew: true });
    server.once('connection', (s) => s.on('echo', (x, ack) => ack(x)));
    await within(new Promise((r) => c.once('connect', r)), 5000, 'connect');
    await sleep(1500);
    const r = await c.timeout(5000).emitWithAck('echo', 'kept');
    c.close();
    return r;
  })(), 'kept');
  await server.close();
});
