// Our Socket.IO client as users of socket.io-client expect it: automatic
// reconnection (stock options and events), emits buffered while disconnected,
// `auth` as a function called per attempt, and HTTP long-polling when the
// WebSocket upgrade fails. Peers: the stock npm socket.io server in a child
// process (killed and restarted on the same port), and our own server.
// Timing: delays are 50..400 ms and every wait has a multi-second bound, so a
// loaded 2-core machine only makes the tests slower, not flaky.
import { waitFor, within, sleep } from './helpers.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Server as IOServer } from 'socket.io';
import SocketIWA from '../../api/direct_sockets_api.js';
import { backoffDelay, reconnectOptions } from '../../api/socketio_client.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fast = { reconnectionDelay: 50, reconnectionDelayMax: 400, randomizationFactor: 0 };

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

const children = new Set();
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });

/** Start the stock server fixture; resolves {child, stop()} once it listens. */
async function stockServer(port, transports) {
  const child = spawn(process.execPath, [path.join(here, 'fixtures', 'stock_sio_server.mjs'), String(port), ...(transports ? [transports] : [])],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  await within(new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => { out += d; if (out.includes('ready')) resolve(); });
    child.on('exit', (code) => reject(new Error(`stock server exited with ${code}`)));
  }), 15000, 'stock server start');
  return { child, stop: () => new Promise((r) => { if (child.exitCode !== null) r(); else { child.once('exit', r); child.kill('SIGKILL'); } }) };
}

/** After a test (also a failed one): stop stray servers and clients so the file does not hang. */
const opened = new Set();
function cleanup() {
  for (const c of children) c.kill('SIGKILL');
  for (const o of opened) { try { o(); } catch {} }
  opened.clear();
}

function record(c, names) {
  const seen = [];
  for (const n of names) c.on(n, (...a) => seen.push([n, ...a.map((x) => (x instanceof Error ? x.code : x))]));
  return seen;
}

test('backoff: same delays as the stock client (backo2) for the same random numbers; options validated with codes', async () => {
  // The stock client's own backoff (not in its package exports: load the file).
  const { Backoff: Stock } = await import(pathToFileURL(path.join(here, '..', '..', 'node_modules', 'socket.io-client', 'build', 'esm', 'contrib', 'backo2.js')).href);
  const opts = { reconnectionDelay: 1000, reconnectionDelayMax: 5000, randomizationFactor: 0.5 };
  const randoms = [0, 0.05, 0.13, 0.5, 0.77, 0.99, 0.31, 0.62];
  const stock = new Stock({ min: 1000, max: 5000, jitter: 0.5 });
  const realRandom = Math.random;
  try {
    randoms.forEach((r, i) => {
      Math.random = () => r;
      assert.equal(backoffDelay(i, opts, r), stock.duration(), `attempt ${i}`);
    });
  } finally { Math.random = realRandom; }
  assert.deepEqual(reconnectOptions({}), { reconnection: true, reconnectionAttempts: Infinity, reconnectionDelay: 1000, reconnectionDelayMax: 5000, randomizationFactor: 0.5 });
  for (const bad of [{ reconnection: 'yes' }, { reconnectionAttempts: -1 }, { reconnectionDelay: NaN }, { randomizationFactor: 2 }, { transports: ['carrier-pigeon'] }, { transports: [] }, { auth: 42 }]) {
    await assert.rejects(SocketIWA.createTCP('127.0.0.1', 1, { protocol: 'socket.io', ...bad }), (e) => e.code === 'ERR_INVALID_ARG_VALUE' || e.code === 'ERR_INVALID_ARG_TYPE', JSON.stringify(bad));
  }
});

test('stock server killed and restarted: reconnect events, buffered emits (and acks) delivered, auth function called per attempt', async (t) => {
  t.after(cleanup);
  const port = await freePort();
  let srv = await stockServer(port);
  let calls = 0;
  const c = await SocketIWA.createTCP('127.0.0.1', port, {
    protocol: 'socket.io', ...fast, auth: (cb) => { calls++; cb({ token: `t${calls}` }); },
  });
  opened.add(() => c.disconnect());
  const seen = record(c, ['disconnect', 'reconnect_attempt', 'reconnect_error', 'connect_error', 'reconnect', 'connect', 'reconnect_failed', 'close']);
  assert.deepEqual(await c.emitWithAck('whoami'), { auth: { token: 't1' }, transport: 'websocket' });
  const firstId = c.id;
  const disconnected = waitFor(c, 'disconnect', 10000);
  await srv.stop();
  await disconnected;
  assert.equal(c.connected, false);
  assert.equal(c.readyState, 0);
  // While the server is down: emits are buffered, an ack'd emit waits.
  c.emit('record', 'while-down-1');
  c.emit('record', { n: 2, bin: new Uint8Array([7, 8]) });
  const queuedAck = c.emitWithAck('echo', 'queued', { timeoutMs: 20000 });
  assert.equal(c.sendBuffer, 3);
  await within(new Promise((r) => { const t = () => (seen.filter((e) => e[0] === 'reconnect_error').length >= 2 ? r() : setTimeout(t, 20)); t(); }), 10000, 'two failed attempts');
  const reconnected = waitFor(c, 'reconnect', 15000);
  srv = await stockServer(port);
  const [attempts] = await reconnected;
  assert.ok(attempts >= 3, `reconnect after ${attempts} attempts`);
  assert.equal(await within(queuedAck, 5000, 'buffered ack'), 'queued');
  const recs = await c.emitWithAck('records');
  assert.equal(recs.length, 2);
  assert.equal(recs[0], 'while-down-1');
  assert.deepEqual([...new Uint8Array(recs[1].bin)], [7, 8]);
  assert.equal(c.sendBuffer, 0);
  const who = await c.emitWithAck('whoami');
  assert.equal(who.auth.token, `t${calls}`);
  assert.ok(calls >= 2, 'auth function called again on reconnect');
  assert.notEqual(c.id, firstId);
  // Event order as stock: disconnect, then per attempt reconnect_attempt (+ reconnect_error/connect_error on failure), then reconnect, connect.
  const names = seen.map((e) => e[0]);
  assert.equal(names[0], 'disconnect');
  assert.equal(seen[0][1], 'transport close');
  assert.deepEqual(names.slice(-2), ['reconnect', 'connect']);
  const tried = seen.filter((e) => e[0] === 'reconnect_attempt').map((e) => e[1]);
  assert.deepEqual(tried, Array.from({ length: tried.length }, (_, i) => i + 1));
  assert.ok(seen.filter((e) => e[0] === 'reconnect_error').every((e) => e[1] === 'ECONNREFUSED'));
  assert.ok(!names.includes('close') && !names.includes('reconnect_failed'));
  // A server-side kick ('io server disconnect') is final, as stock.
  const kicked = waitFor(c, 'close', 5000);
  c.emit('kick');
  assert.deepEqual(await kicked, ['io server disconnect']);
  await sleep(300);
  assert.equal(seen.filter((e) => e[0] === 'reconnect_attempt').length, tried.length, 'no reconnection after io server disconnect');
  assert.throws(() => c.emit('x'), { code: 'ERR_SOCKET_CLOSED' });
  await srv.stop();
});

test('reconnectionAttempts bounds the retries: reconnect_failed then close; reconnection:false closes at once', async (t) => {
  t.after(cleanup);
  const port = await freePort();
  const srv = await stockServer(port);
  const c = await SocketIWA.createTCP('127.0.0.1', port, { protocol: 'socket.io', ...fast, reconnectionAttempts: 2 });
  opened.add(() => c.disconnect());
  const d = await SocketIWA.createTCP('127.0.0.1', port, { protocol: 'socket.io', reconnection: false });
  const seen = record(c, ['reconnect_attempt', 'reconnect_error', 'reconnect_failed', 'close']);
  const closed = waitFor(c, 'close', 15000);
  const dClosed = waitFor(d, 'close', 15000);
  await srv.stop();
  assert.deepEqual(await dClosed, ['transport close']);
  assert.deepEqual(await closed, ['reconnect failed']);
  assert.deepEqual(seen.map((e) => e[0]), ['reconnect_attempt', 'reconnect_error', 'reconnect_attempt', 'reconnect_error', 'reconnect_failed', 'close']);
  assert.equal(c.readyState, 3);
  assert.throws(() => c.emit('x'), { code: 'ERR_SOCKET_CLOSED' });
  assert.throws(() => d.emit('x'), { code: 'ERR_SOCKET_CLOSED' });
  // connect() starts over, like stock socket.connect().
  const again = await stockServer(port);
  await within(c.connect(), 10000, 'manual connect');
  assert.equal(await c.emitWithAck('echo', 1), 1);
  c.disconnect();
  await again.stop();
});

test('our server closed and started again on the same port: our client reconnects; auth middleware refusal is final', async () => {
  const port = await freePort();
  const start = async () => {
    const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io', port });
    server.on('connection', (s) => s.on('echo', (x, ack) => ack(x)));
    server.of('/').use((s, next) => next(s.handshake.auth.token === 'refused' ? new Error('bad token') : undefined));
    return server;
  };
  let server = await start();
  let token = 'ok';
  const c = await SocketIWA.createTCP('127.0.0.1', port, { protocol: 'socket.io', ...fast, auth: (cb) => cb({ token }) });
  const gone = waitFor(c, 'disconnect', 5000);
  await server.close();
  assert.equal((await gone)[0], 'transport close');
  c.emit('echo', 'buffered', () => {});
  await sleep(150);
  const back = waitFor(c, 'reconnect', 10000);
  server = await start();
  await back;
  assert.equal(await c.emitWithAck('echo', 'after'), 'after');
  // Token revoked: the next reconnection is refused by the middleware -> connect_error, no more attempts (stock behaviour).
  token = 'refused';
  const refused = waitFor(c, 'connect_error', 10000);
  const closed = waitFor(c, 'close', 10000);
  await server.close();
  server = await start();
  const [err] = await refused;
  assert.match(err.message, /bad token/);
  assert.deepEqual(await closed, ['io server disconnect']);
  await server.close();
});

test('polling fallback: stock server that refuses the websocket transport; a proxy that drops Upgrade requests', async (t) => {
  t.after(cleanup);
  // 1. Stock server with transports: ['polling'] answers the WebSocket upgrade with HTTP 400.
  const port = await freePort();
  const srv = await stockServer(port, 'polling');
  const c = await SocketIWA.createTCP('127.0.0.1', port, { protocol: 'socket.io', binaryType: 'uint8array', reconnection: false });
  opened.add(() => c.disconnect());
  assert.equal(c.transportName, 'polling');
  assert.deepEqual(await c.emitWithAck('whoami'), { auth: {}, transport: 'polling' });
  const bin = await c.emitWithAck('echo', { blob: new Uint8Array([1, 2, 250]), s: 'é' });
  assert.deepEqual([...bin.blob], [1, 2, 250]);
  assert.equal(bin.s, 'é');
  const many = await Promise.all(Array.from({ length: 50 }, (_, i) => c.emitWithAck('echo', i)));
  assert.deepEqual(many, Array.from({ length: 50 }, (_, i) => i));
  // transports: ['websocket'] only: the failure is reported, no fallback.
  await assert.rejects(SocketIWA.createTCP('127.0.0.1', port, { protocol: 'socket.io', transports: ['websocket'] }), { code: 'ERR_WS_HANDSHAKE' });
  const closed = waitFor(c, 'close', 5000);
  c.disconnect();
  await closed;
  await srv.stop();

  // 2. Stock server (both transports) behind a TCP proxy that closes any connection whose request asks for an Upgrade.
  const http1 = http.createServer();
  const io = new IOServer(http1, { pingInterval: 300, pingTimeout: 2000 });
  io.on('connection', (s) => {
    s.on('echo', (x, ack) => ack(x));
    s.on('ask', async (ack) => ack(await s.emitWithAck('question', 6)));
  });
  await new Promise((r) => http1.listen(0, '127.0.0.1', r));
  opened.add(() => { io.close(); http1.close(); });
  let dropped = 0;
  const proxy = net.createServer((down) => {
    let head = Buffer.alloc(0);
    const onData = (d) => {
      head = Buffer.concat([head, d]);
      if (!head.includes('\r\n\r\n')) return;
      down.off('data', onData);
      if (/\r\nupgrade:\s*websocket/i.test(head.toString('latin1'))) { dropped++; down.destroy(); return; }
      const up = net.connect(http1.address().port, '127.0.0.1', () => { up.write(head); down.pipe(up); up.pipe(down); });
      up.on('error', () => down.destroy()); down.on('error', () => up.destroy());
    };
    down.on('data', onData);
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  opened.add(() => proxy.close());
  const p = await SocketIWA.createTCP('127.0.0.1', proxy.address().port, { protocol: 'socket.io', reconnection: false });
  opened.add(() => p.disconnect());
  assert.equal(dropped, 1);
  assert.equal(p.transportName, 'polling');
  p.on('question', (x, ack) => ack(x * 7));
  assert.equal(await p.emitWithAck('ask'), 42);
  // Several heartbeats (300 ms interval) pass over polling without a disconnect.
  let disconnects = 0;
  p.on('disconnect', () => disconnects++);
  await sleep(1200);
  assert.equal(await p.emitWithAck('echo', 'still here'), 'still here');
  assert.equal(disconnects, 0);
  const serverSide = [...io.sockets.sockets.values()][0];
  const reason = new Promise((r) => serverSide.on('disconnect', r));
  // An emit still being POSTed when disconnect() is called: DISCONNECT queues behind it, and the
  // Engine.IO CLOSE must travel in its own POST after it (in one payload the server would act on CLOSE first).
  p.emit('echo', 'last', () => {});
  p.disconnect();
  assert.equal(await within(reason, 5000, 'server sees the polling client leave'), 'client namespace disconnect');
  await new Promise((r) => io.close(r));
  proxy.close();
});
