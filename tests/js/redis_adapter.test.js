// Socket.IO across a cluster through a real redis-server: a SocketIWA server
// (under Node, Node Direct Sockets as globals) with our Redis adapter and RESP
// client, and a stock socket.io server with @socket.io/redis-adapter 8.x, stock
// socket.io-client as the clients. Negative checks ("did not arrive") never
// rely on a sleep: a later message on the same Redis path must arrive first.
import { waitFor, within } from './helpers.js';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { io as ioClient } from 'socket.io-client';
import SocketIWA from '../../api/direct_sockets_api.js';
import { createRedisClient, RespParser, encodeCommand, RedisClient } from '../../api/resp.js';
import { createAdapter } from '../../api/adapter_redis.js';
import { freePort, startRedis, startStockServer, wireSockets, collect, until } from './redis_helpers.js';

const clientOpts = { transports: ['websocket'], reconnection: false, forceNew: true };
let redis, stock, ours, pub, sub, adapterErrors = [];
const clients = [];
const connect = async (port) => {
  const c = ioClient(`http://127.0.0.1:${port}`, clientOpts);
  clients.push(c);
  await within(waitFor(c, 'connect', 10000), 10000, 'client connect');
  return c;
};

before(async () => {
  redis = await startRedis(await freePort());
  stock = await startStockServer(redis.port, (io) => wireSockets(io, 'stock'));
  pub = await createRedisClient({ port: redis.port, reconnect: { minDelayMs: 50, maxDelayMs: 500 } });
  sub = pub.duplicate();
  await sub.connect();
  ours = await SocketIWA.createTCPServer('127.0.0.1', {
    protocol: 'socket.io',
    adapter: createAdapter(pub, sub, { requestsTimeout: 3000, onError: (e) => adapterErrors.push(e) }),
  });
  wireSockets(ours, 'iwa-node');
  await ours.of('/').adapter.ready;
});

after(async () => {
  for (const c of clients) c.disconnect();
  await ours?.close();
  await pub?.quit(); await sub?.quit();
  await stock?.close();
  await redis?.stop();
});

test('RESP parser: split replies, nested arrays, nil, errors; bad input throws coded errors', () => {
  const out = [];
  const p = new RespParser((r) => out.push(r));
  const wire = new TextEncoder().encode('+OK\r\n:42\r\n$5\r\nhe\r\nl\r\n$-1\r\n*2\r\n$3\r\nabc\r\n*1\r\n:7\r\n-ERR bad\r\n');
  for (let i = 0; i < wire.length; i += 3) p.push(wire.subarray(i, i + 3)); // 3-byte chunks
  assert.equal(out[0], 'OK');
  assert.equal(out[1], 42);
  assert.equal(new TextDecoder().decode(out[2]), 'he\r\nl');
  assert.equal(out[3], null);
  assert.equal(new TextDecoder().decode(out[4][0]), 'abc');
  assert.deepEqual(out[4][1], [7]);
  assert.equal(out[5].code, 'ERR_REDIS_REPLY');
  // a 256 KiB bulk string inside a Pub/Sub push, then another reply, fed in 1000-byte chunks
  const payload = new Uint8Array(256 * 1024).map((_, i) => i % 251);
  const enc = new TextEncoder();
  const push = Buffer.concat([enc.encode(`*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$${payload.length}\r\n`), payload, enc.encode('\r\n:5\r\n')]);
  const got = [];
  const p2 = new RespParser((r) => got.push(r));
  for (let i = 0; i < push.length; i += 1000) p2.push(new Uint8Array(push.subarray(i, i + 1000)));
  assert.equal(got.length, 2);
  assert.ok(Buffer.from(got[0][2]).equals(Buffer.from(payload)));
  assert.equal(got[1], 5);
  for (const bad of ['?x\r\n', ':12a\r\n', '$3\r\nabcd\r\n', `$${2 ** 40}\r\n`]) {
    assert.throws(() => new RespParser(() => {}).push(new TextEncoder().encode(bad)), (e) => e.code === 'ERR_REDIS_PROTOCOL', bad);
  }
  assert.equal(new TextDecoder().decode(encodeCommand(['SET', 'k', new Uint8Array([0x61])])), '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\na\r\n');
  assert.throws(() => encodeCommand(['SET', null]), (e) => e.code === 'ERR_INVALID_ARG_TYPE');
  assert.throws(() => new RedisClient({ port: 0 }), (e) => typeof e.code === 'string');
  assert.throws(() => createAdapter(pub, pub), (e) => e.code === 'ERR_INVALID_ARG_VALUE');
  assert.throws(() => createAdapter({}, sub), (e) => e.code === 'ERR_INVALID_ARG_TYPE');
});

test('bad adapter options: one-line coded errors, nothing left listening', async () => {
  for (const opts of [{ protocol: 'socket.io', adapter: 'redis' }, { protocol: 'websocket', adapter: () => null }]) {
    await assert.rejects(SocketIWA.createTCPServer('127.0.0.1', opts), (e) => e.code === 'ERR_INVALID_ARG_TYPE' && !e.message.includes('\n'));
  }
  // an adapter missing methods is named
  const port = await freePort();
  await assert.rejects(SocketIWA.createTCPServer('127.0.0.1', { port, protocol: 'socket.io', adapter: () => ({}) }), (e) => e.code === 'ERR_INVALID_ARG_TYPE' && /adapter for \/ has no addAll/.test(e.message));
  const net = await import('node:net');
  const refused = await new Promise((r) => { const c = net.connect(port, '127.0.0.1'); c.on('connect', () => { c.destroy(); r(false); }); c.on('error', (e) => r(e.code === 'ECONNREFUSED')); });
  assert.ok(refused, 'the port of a server whose adapter failed is closed again');
  assert.throws(() => createAdapter(pub, sub, { key: '' }), (e) => e.code === 'ERR_INVALID_ARG_VALUE');
  assert.throws(() => createAdapter(pub, sub, { requestsTimeout: -1 }), (e) => e.code === 'ERR_INVALID_ARG_VALUE');
  assert.throws(() => createAdapter(pub, sub, { parser: {} }), (e) => e.code === 'ERR_INVALID_ARG_TYPE');
});

test('RESP client against redis-server: commands, error replies, an unreachable server is a coded error', async () => {
  assert.equal(await pub.command('SET', 'k', 'v'), 'OK');
  assert.equal(new TextDecoder().decode(await pub.command('GET', 'k')), 'v');
  await assert.rejects(pub.command('NOSUCHCOMMAND'), (e) => e.code === 'ERR_REDIS_REPLY' && /unknown command/i.test(e.message));
  await assert.rejects(createRedisClient({ port: await freePort(), reconnect: false }), (e) => e.code === 'ECONNREFUSED');
  // AUTH (ACL user) and SELECT on connect
  assert.equal(await pub.command('ACL', 'SETUSER', 'alice', 'on', '>s3cret', '~*', '&*', '+@all'), 'OK');
  const alice = await createRedisClient({ port: redis.port, username: 'alice', password: 's3cret', db: 3 });
  assert.equal(await alice.command('SET', 'only-in-db3', '1'), 'OK');
  assert.equal(await pub.command('EXISTS', 'only-in-db3'), 0);
  assert.equal(new TextDecoder().decode(await alice.command('ACL', 'WHOAMI')), 'alice');
  await alice.quit();
  await assert.rejects(createRedisClient({ port: redis.port, username: 'alice', password: 'wrong' }), (e) => e.code === 'ERR_REDIS_REPLY' && /WRONGPASS/.test(e.message));
});

test('io.to(room).emit from either server reaches clients on the other (JSON and binary); except and rooms are honoured', async () => {
  const cA = await connect(ours.port); // on SocketIWA
  const cA2 = await connect(ours.port); // on SocketIWA, not in the room
  const cS = await connect(stock.port); // on stock socket.io
  assert.equal(await cA.emitWithAck('join', 'r'), 'iwa-node');
  assert.equal(await cS.emitWithAck('join', 'r'), 'stock');
  const onA = collect(cA, 'm'), onA2 = collect(cA2, 'm'), onS = collect(cS, 'm');
  const sentinelA2 = collect(cA2, 'sentinel'), sentinelS = collect(cS, 'sentinel');

  stock.io.to('r').emit('m', 'from-stock', Buffer.from([1, 2, 3]), { nested: { ok: true } });
  const [txt, bin, obj] = await onA.waitFor(([t]) => t === 'from-stock');
  assert.equal(txt, 'from-stock');
  assert.deepEqual([...bin], [1, 2, 3]);
  assert.deepEqual(obj, { nested: { ok: true } });

  ours.to('r').emit('m', 'from-ours', new Uint8Array([9, 8]), [1, null, 'x']);
  const [t2, b2, arr] = await onS.waitFor(([t]) => t === 'from-ours');
  assert.equal(t2, 'from-ours');
  assert.ok(Buffer.isBuffer(b2)); assert.deepEqual([...b2], [9, 8]);
  assert.deepEqual(arr, [1, null, 'x']);

  // 2 MiB binary both ways (arrives at our RESP parser in many TCP chunks)
  const big = Buffer.alloc(2 * 1024 * 1024); for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
  stock.io.to('r').emit('m', 'big-from-stock', big);
  const [, gotBig] = await onA.waitFor(([t]) => t === 'big-from-stock');
  assert.ok(Buffer.from(gotBig).equals(big));
  ours.to('r').emit('m', 'big-from-ours', new Uint8Array(big));
  const [, gotBig2] = await onS.waitFor(([t]) => t === 'big-from-ours');
  assert.ok(Buffer.from(gotBig2).equals(big));
  // except: the stock client is excluded by id; the sentinel published after it arrives, the excluded one never did
  ours.to('r').except(cS.id).emit('m', 'not-for-stock');
  await onA.waitFor(([t]) => t === 'not-for-stock');
  ours.to('r').emit('sentinel');
  await sentinelS.waitFor();
  assert.ok(!onS.got.some(([t]) => t === 'not-for-stock'), 'excluded socket got the broadcast');
  // rooms: cA2 is not in "r"; a namespace-wide broadcast from the stock server reaches it after the room-only ones
  stock.io.emit('sentinel');
  await sentinelA2.waitFor();
  assert.deepEqual(onA2.got, []);
  // local flag: only the emitting server's sockets
  ours.local.to('r').emit('m', 'local-only');
  await onA.waitFor(([t]) => t === 'local-only');
  ours.to('r').emit('sentinel');
  await sentinelS.waitFor((_, i) => sentinelS.got.length >= 2);
  assert.ok(!onS.got.some(([t]) => t === 'local-only'));
});

test('fetchSockets, socketsJoin, remote emit and disconnectSockets across both servers', async () => {
  const cA = await connect(ours.port);
  const cS = await connect(stock.port);
  const cS2 = await connect(stock.port);
  await cA.emitWithAck('join', 'f'); await cS.emitWithAck('join', 'f');
  const fromOurs = await ours.in('f').fetchSockets();
  const byId = new Map(fromOurs.map((s) => [s.id, s]));
  assert.ok(byId.has(cA.id) && byId.has(cS.id), 'both servers\' sockets are listed');
  assert.equal(byId.size, 2);
  assert.equal(byId.get(cS.id).data.server, 'stock');
  assert.ok(byId.get(cS.id).rooms.has('f'));
  assert.equal(typeof byId.get(cS.id).handshake, 'object');
  const fromStock = await stock.io.in('f').fetchSockets();
  const remoteA = fromStock.find((s) => s.id === cA.id);
  assert.ok(remoteA, 'the stock server lists the SocketIWA socket');
  assert.equal(remoteA.data.server, 'iwa-node');
  assert.deepEqual([...remoteA.rooms].sort(), [cA.id, 'f'].sort());
  // a RemoteSocket from our fetchSockets talks to the stock server's client
  const direct = collect(cS, 'direct');
  byId.get(cS.id).emit('direct', 'hello remote');
  assert.deepEqual(await direct.waitFor(), ['hello remote']);
  // the stock server makes our socket join a room; our server sees it
  stock.io.in(cA.id).socketsJoin('joined-by-stock');
  await until(async () => (await cA.emitWithAck('rooms')).includes('joined-by-stock'), 5000, 'remote socketsJoin');
  // ours makes the stock socket join; a stock room broadcast then reaches it
  ours.in(cS.id).socketsJoin('joined-by-ours');
  await until(async () => (await cS.emitWithAck('rooms')).includes('joined-by-ours'), 5000, 'socketsJoin on the stock server');
  ours.in(cS.id).socketsLeave('joined-by-ours');
  await until(async () => !(await cS.emitWithAck('rooms')).includes('joined-by-ours'), 5000, 'socketsLeave on the stock server');
  // disconnect a stock server's socket from ours
  const gone = waitFor(cS2, 'disconnect', 5000);
  ours.in(cS2.id).disconnectSockets();
  assert.equal((await gone)[0], 'io server disconnect');
  assert.equal(await ours.serverSideEmitWithAck('nobody-listens').catch((e) => e.code), 'ETIMEDOUT');
});

test('serverSideEmit both ways, with acknowledgements', async () => {
  const heardOurs = new Promise((r) => ours.once('hello-from-stock', (...a) => r(a)));
  stock.io.serverSideEmit('hello-from-stock', 1, { two: 2 });
  assert.deepEqual(await within(heardOurs, 5000, 'serverSideEmit to ours'), [1, { two: 2 }]);
  const heardStock = new Promise((r) => stock.io.once('hello-from-ours', (...a) => r(a)));
  ours.serverSideEmit('hello-from-ours', 'x');
  assert.deepEqual(await within(heardStock, 5000, 'serverSideEmit to stock'), ['x']);
  stock.io.on('question', (n, cb) => cb(n * 2));
  assert.deepEqual(await ours.serverSideEmitWithAck('question', 21), [42]);
  ours.on('question2', (n, cb) => cb(`ours:${n}`));
  assert.deepEqual(await stock.io.serverSideEmitWithAck('question2', 5), ['ours:5']);
  // lifecycle names from another server do not fire our lifecycle handlers
  let fired = false;
  ours.once('close', () => { fired = true; });
  stock.io.serverSideEmit('close');
  stock.io.serverSideEmit('after-close');
  await within(new Promise((r) => ours.once('after-close', r)), 5000, 'after-close');
  assert.equal(fired, false);
  assert.throws(() => ours.serverSideEmit('connection'), (e) => e.code === 'ERR_RESERVED_EVENT');
});

test('junk on the adapter channels is ignored or reported with a code; the adapter keeps working', async () => {
  // A separate key prefix: the stock adapter (same process) throws on some of these, which is not ours to test.
  const jpub = await createRedisClient({ port: redis.port }), jsub = jpub.duplicate();
  await jsub.connect();
  const errors = [];
  const j = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io', adapter: createAdapter(jpub, jsub, { key: 'junk', onError: (e) => errors.push(e) }) });
  wireSockets(j, 'junk-server');
  await j.of('/').adapter.ready;
  const c = await connect(j.port);
  await c.emitWithAck('join', 'j');
  const on = collect(c, 'j');
  const { encode } = await import('@msgpack/msgpack');
  const shell = encode(['other', { type: 2, data: ['ev', 'PLACEHOLDER'], nsp: '/' }, {}]);
  const at = Buffer.from(shell).indexOf(Buffer.from([0xab, ...Buffer.from('PLACEHOLDER')]));
  const deep = Buffer.concat([shell.subarray(0, at), Buffer.alloc(5000, 0x91), Buffer.from([0xc0]), shell.subarray(at + 12)]);
  const junk = [
    ['junk#/#', new Uint8Array([0xc1])], // never-used msgpack byte
    ['junk#/#', encode('not an array')],
    ['junk#/#', encode(['other', { type: 2, data: 'not-an-array', nsp: '/' }, {}])],
    ['junk#/#', encode(['other', { type: 2, data: ['ev'], nsp: '/' }, { rooms: 5 }])],
    ['junk#/#', deep], // 5000 nested arrays as an event argument
    ['junk-request#/#', '{not json'],
    ['junk-request#/#', JSON.stringify({ type: 6, data: 'x' })],
    ['junk-request#/#', JSON.stringify({ type: 5, requestId: 'zz', opts: null })],
    ['junk-request#/#', JSON.stringify({ type: 99 })],
    ['junk-request#/#', new Uint8Array([0x92, 0xc1])],
    ['junk-response#/#', '{"requestId":42}'],
    ['junk-response#/#', new Uint8Array([0xff, 0x00])],
  ];
  for (const [ch, msg] of junk) await jpub.publish(ch, msg);
  // a well-formed broadcast from "another server" still gets through, after the junk on the same connection
  await jpub.publish('junk#/#j#', encode(['other', { type: 2, data: ['j', 'after junk'], nsp: '/' }, { rooms: ['j'], except: [], flags: {} }]));
  assert.deepEqual(await on.waitFor(), ['after junk']);
  assert.ok(errors.length >= 1, 'undecodable broadcasts are reported');
  assert.ok(errors.every((e) => typeof e.code === 'string'), JSON.stringify(errors.map((e) => e.message)));
  assert.equal(await c.emitWithAck('join', 'still'), 'junk-server');
  c.disconnect();
  await j.close(); await jpub.quit(); await jsub.quit();
});

test('broadcasts with acknowledgements across the cluster, both ways; a silent client ends in ETIMEDOUT with the partial answers', async () => {
  const cA = await connect(ours.port), cS = await connect(stock.port);
  await cA.emitWithAck('join', 'ack'); await cS.emitWithAck('join', 'ack');
  cA.on('q', (n, cb) => cb(`ours-client:${n}`));
  cS.on('q', (n, cb) => cb(`stock-client:${n}`));
  // generous timeouts: every answer is a loopback round trip (ms); the check is on content, not speed
  assert.deepEqual((await ours.to('ack').timeout(8000).emitWithAck('q', 1)).sort(), ['ours-client:1', 'stock-client:1']);
  assert.deepEqual((await stock.io.to('ack').timeout(4000).emitWithAck('q', 2)).sort(), ['ours-client:2', 'stock-client:2']);
  const viaCb = await new Promise((r) => ours.to('ack').timeout(8000).emit('q', 3, (err, res) => r([err, res])));
  assert.equal(viaCb[0], null);
  assert.deepEqual(viaCb[1].sort(), ['ours-client:3', 'stock-client:3']);
  // a client that never answers: the broadcast times out with the answers it got
  const silent = await connect(stock.port);
  await silent.emitWithAck('join', 'ack');
  silent.on('q', () => {});
  const err = await ours.to('ack').timeout(3000).emitWithAck('q', 4).then(() => null, (e) => e); // 3 s: >100x a loopback round trip
  assert.equal(err?.code, 'ETIMEDOUT');
  assert.deepEqual(err.responses.sort(), ['ours-client:4', 'stock-client:4']);
  silent.disconnect();
  // one server alone (in-memory adapter): the same API
  const solo = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io' });
  const c1 = await connect(solo.port), c2 = await connect(solo.port);
  c1.on('q', (cb) => cb(1)); c2.on('q', (cb) => cb(2));
  assert.deepEqual((await solo.timeout(8000).emitWithAck('q')).sort(), [1, 2]);
  assert.deepEqual(await solo.of('/').timeout(8000).except(c2.id).emitWithAck('q'), [1]);
  assert.throws(() => solo.timeout(-1), (e) => e.code === 'ERR_INVALID_ARG_VALUE');
  await solo.close();
});

test('Redis killed and restarted mid-test: no crash, local delivery goes on, cluster broadcasts resume', async () => {
  const cA = await connect(ours.port);
  const cS = await connect(stock.port);
  await cA.emitWithAck('join', 'x'); await cS.emitWithAck('join', 'x');
  const onA = collect(cA, 'x'), onS = collect(cS, 'x');
  ours.to('x').emit('x', 'before');
  await onS.waitFor(([t]) => t === 'before');
  const port = redis.port;
  await redis.stop(); // SIGKILL: a crash
  const errorsBefore = adapterErrors.length;
  // while Redis is down: our server keeps serving its own sockets and reports (not throws) the failed publishes
  await until(() => !pub.isReady, 5000, 'our client notices the loss');
  ours.to('x').emit('x', 'while-down');
  await onA.waitFor(([t]) => t === 'while-down', 5000);
  await until(() => adapterErrors.length > errorsBefore, 5000, 'adapter error reported');
  assert.ok(adapterErrors.slice(errorsBefore).every((e) => typeof e.code === 'string'));
  assert.equal(await cA.emitWithAck('join', 'still-alive'), 'iwa-node');
  redis = await startRedis(port);
  // Both sides reconnect and re-subscribe on their own; publish until one gets through (bounded: 100 tries, 20 s)
  let n = 0;
  await until(() => { ours.to('x').emit('x', `ours-${n++}`); return onS.got.some(([t]) => String(t).startsWith('ours-')); }, 20000, 'ours -> stock after restart', 200);
  await until(() => { stock.io.to('x').emit('x', `stock-${n++}`); return onA.got.some(([t]) => String(t).startsWith('stock-')); }, 20000, 'stock -> ours after restart', 200);
  const ids = (await ours.in('x').fetchSockets()).map((s) => s.id).sort();
  assert.deepEqual(ids, [cA.id, cS.id].sort());
});
