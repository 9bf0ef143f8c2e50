// Runs inside the real IWA (browser Direct Sockets): a SocketIWA Socket.IO
// server whose Redis adapter talks to redis-server through the browser's
// TCPSocket. Called from Node by tests/js/iwa_redis.test.js. @msgpack/msgpack
// comes from /vendor/msgpack/ (the IWA is unbundled and its CSP forbids an
// inline import map, so the codec module is passed in: docs/REDIS.md).
import SocketIWA from '/api/direct_sockets_api.js';
import { createRedisClient } from '/api/resp.js';
import { createAdapter, msgpackParser } from '/api/adapter_redis.js';
import * as msgpack from '/vendor/msgpack/index.mjs';

const st = globalThis.__siwaRedis ||= { server: null, pub: null, sub: null, errors: [], received: [] };

export async function start(redisPort) {
  st.pub = await createRedisClient({ port: redisPort, reconnect: { minDelayMs: 50, maxDelayMs: 500 } });
  st.sub = st.pub.duplicate();
  await st.sub.connect();
  const server = await SocketIWA.createTCPServer('127.0.0.1', {
    protocol: 'socket.io',
    adapter: createAdapter(st.pub, st.sub, { parser: msgpackParser(msgpack), requestsTimeout: 3000, onError: (e) => st.errors.push(e.code) }),
  });
  server.on('connection', (s) => {
    s.data.server = 'iwa';
    s.on('join', (room, ack) => { s.join(room); ack?.('iwa'); });
  });
  server.on('question', (n, cb) => cb(`iwa:${n}`));
  server.on('note', (...args) => st.received.push(args));
  await server.of('/').adapter.ready;
  st.server = server;
  return server.port;
}

export function emitTo(room, event, ...args) { st.server.to(room).emit(event, ...args); return true; }
export function emitBinaryTo(room, event, bytes) { st.server.to(room).emit(event, new Uint8Array(bytes)); return true; }

export function emitWithAck(room, event, arg) { return st.server.to(room).timeout(8000).emitWithAck(event, arg); }

export async function fetchSockets(room) {
  return (await st.server.in(room).fetchSockets()).map((s) => ({ id: s.id, data: s.data, rooms: [...s.rooms], remote: typeof s._sendPacket !== 'function' }));
}

export function serverSideEmitWithAck(event, arg) { return st.server.serverSideEmitWithAck(event, arg); }
export function serverSideEmit(event, arg) { return st.server.serverSideEmit(event, arg); }
export function state() { return { errors: st.errors.slice(), received: st.received.slice(), pubReady: st.pub.isReady, subReady: st.sub.isReady }; }

export async function stop() {
  await st.server?.close();
  await st.pub?.quit(); await st.sub?.quit();
  return true;
}
