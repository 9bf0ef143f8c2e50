// One Socket.IO cluster through a real redis-server: a SocketIWA server inside
// a real installed IWA (browser Direct Sockets for both its Socket.IO port and
// its Redis connections), a SocketIWA server under Node and a stock socket.io
// server with @socket.io/redis-adapter 8.x; stock socket.io-client clients.
// Fails (never skips) when Chromium, the IWA or redis-server cannot start.
import { waitFor, within } from './helpers.js';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { io as ioClient } from 'socket.io-client';
import { launchIwa } from '../harness/iwa.js';
import SocketIWA from '../../api/direct_sockets_api.js';
import { createRedisClient } from '../../api/resp.js';
import { createAdapter } from '../../api/adapter_redis.js';
import { freePort, startRedis, startStockServer, wireSockets, collect, until } from './redis_helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const apiDir = path.resolve(here, '../../api');
const msgpackDir = path.join(path.dirname(createRequire(import.meta.url).resolve('@msgpack/msgpack/package.json')), 'dist.esm');
const clientOpts = { transports: ['websocket'], reconnection: false, forceNew: true };
let iwa, redis, stock, node, pub, sub, iwaPort;
const clients = [];
const call = (fn, ...args) => within(iwa.call('/tests/js/iwa/redis_scenarios.js', fn, ...args), 30000, fn);
const connect = async (port, room) => {
  const c = ioClient(`http://127.0.0.1:${port}`, clientOpts);
  clients.push(c);
  await within(waitFor(c, 'connect', 10000), 10000, 'client connect');
  if (room) await c.emitWithAck('join', room);
  return c;
};

before(async () => {
  redis = await startRedis(await freePort());
  iwa = await launchIwa({ mounts: { '/api/': apiDir, '/tests/js/': here, '/vendor/msgpack/': msgpackDir }, timeoutMs: 45000 });
  stock = await startStockServer(redis.port, (io) => { wireSockets(io, 'stock'); io.on('question', (n, cb) => cb(`stock:${n}`)); });
  pub = await createRedisClient({ port: redis.port, reconnect: { minDelayMs: 50, maxDelayMs: 500 } });
  sub = pub.duplicate(); await sub.connect();
  node = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io', adapter: createAdapter(pub, sub, { requestsTimeout: 3000 }) });
  wireSockets(node, 'node');
  node.on('question', (n, cb) => cb(`node:${n}`));
  await node.of('/').adapter.ready;
  iwaPort = await call('start', redis.port);
});

after(async () => {
  for (const c of clients) c.disconnect();
  if (iwa) { await call('stop').catch(() => {}); await iwa.close(); }
  await node?.close();
  await pub?.quit(); await sub?.quit();
  await stock?.close();
  await redis?.stop();
});

test('IWA + Node + stock servers in one Redis cluster: to(room).emit from each reaches clients on the others', async () => {
  const cI = await connect(iwaPort, 'r'), cN = await connect(node.port, 'r'), cS = await connect(stock.port, 'r');
  const outsider = await connect(iwaPort); // on the IWA, not in "r"
  const on = { I: collect(cI, 'm'), N: collect(cN, 'm'), S: collect(cS, 'm'), out: collect(outsider, 'm') };
  await call('emitTo', 'r', 'm', 'from-iwa', { n: 1 });
  await on.N.waitFor(([t]) => t === 'from-iwa');
  assert.deepEqual((await on.S.waitFor(([t]) => t === 'from-iwa'))[1], { n: 1 });
  await on.I.waitFor(([t]) => t === 'from-iwa');
  await call('emitBinaryTo', 'r', 'm', [7, 7, 7]);
  const [bin] = await on.S.waitFor(([b]) => Buffer.isBuffer(b));
  assert.deepEqual([...bin], [7, 7, 7]);
  node.to('r').emit('m', 'from-node');
  stock.io.to('r').emit('m', 'from-stock', Buffer.from([1, 2]));
  await on.I.waitFor(([t]) => t === 'from-node');
  const [, b2] = await on.I.waitFor(([t]) => t === 'from-stock');
  assert.deepEqual([...b2], [1, 2]);
  // the outsider (not in "r") gets a namespace-wide message, and none of the room ones before it
  stock.io.emit('m', 'everyone');
  await on.out.waitFor(([t]) => t === 'everyone');
  assert.deepEqual(on.out.got.map(([t]) => t), ['everyone']);
});

test('IWA: fetchSockets across the three servers; broadcasts with acks and serverSideEmit with acks both ways', async () => {
  const cI = await connect(iwaPort, 'f'), cN = await connect(node.port, 'f'), cS = await connect(stock.port, 'f');
  const fromIwa = await call('fetchSockets', 'f');
  assert.deepEqual(fromIwa.map((s) => s.id).sort(), [cI.id, cN.id, cS.id].sort());
  assert.deepEqual(Object.fromEntries(fromIwa.map((s) => [s.id, s.data.server])), { [cI.id]: 'iwa', [cN.id]: 'node', [cS.id]: 'stock' });
  assert.equal(fromIwa.find((s) => s.id === cI.id).remote, false);
  assert.equal(fromIwa.find((s) => s.id === cS.id).remote, true);
  const fromStock = await stock.io.in('f').fetchSockets();
  assert.equal(fromStock.find((s) => s.id === cI.id)?.data.server, 'iwa');
  assert.deepEqual((await call('serverSideEmitWithAck', 'question', 3)).sort(), ['node:3', 'stock:3']);
  assert.deepEqual((await stock.io.serverSideEmitWithAck('question', 4)).sort(), ['iwa:4', 'node:4']);
  // broadcasts with acknowledgements, from the IWA and into it (4-8 s: generous for loopback round trips;
  // the stock adapter keeps a timer of that length alive after the answers, hence not more)
  for (const [c, name] of [[cI, 'iwa'], [cN, 'node'], [cS, 'stock']]) c.on('q', (n, cb) => cb(`${name}-client:${n}`));
  assert.deepEqual((await call('emitWithAck', 'f', 'q', 5)).sort(), ['iwa-client:5', 'node-client:5', 'stock-client:5']);
  assert.deepEqual((await stock.io.to('f').timeout(4000).emitWithAck('q', 6)).sort(), ['iwa-client:6', 'node-client:6', 'stock-client:6']);
  stock.io.serverSideEmit('note', 'hi iwa');
  await until(async () => (await call('state')).received.length > 0, 5000, 'serverSideEmit into the IWA');
  assert.deepEqual((await call('state')).received, [['hi iwa']]);
});

test('IWA: Redis killed and restarted: the IWA server survives and its broadcasts resume both ways', async () => {
  const cI = await connect(iwaPort, 'x'), cS = await connect(stock.port, 'x');
  const onI = collect(cI, 'x'), onS = collect(cS, 'x');
  await call('emitTo', 'x', 'x', 'before');
  await onS.waitFor(([t]) => t === 'before');
  const port = redis.port;
  await redis.stop(); // SIGKILL
  await until(async () => !(await call('state')).pubReady, 5000, 'IWA client notices the loss');
  await call('emitTo', 'x', 'x', 'while-down'); // local delivery goes on
  await onI.waitFor(([t]) => t === 'while-down', 5000);
  redis = await startRedis(port);
  let n = 0;
  await until(async () => { await call('emitTo', 'x', 'x', `iwa-${n++}`); return onS.got.some(([t]) => String(t).startsWith('iwa-')); }, 20000, 'IWA -> stock after restart', 200);
  await until(() => { stock.io.to('x').emit('x', `stock-${n++}`); return onI.got.some(([t]) => String(t).startsWith('stock-')); }, 20000, 'stock -> IWA after restart', 200);
  const s = await call('state');
  assert.ok(s.pubReady && s.subReady);
  assert.ok(s.errors.length > 0 && s.errors.every((c) => typeof c === 'string'), 'failed publishes were reported with codes');
});
