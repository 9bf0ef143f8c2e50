// TCP client connections in three modes: raw bytes, plain WebSocket, and
// Socket.IO (Engine.IO v4 over WebSocket).

import { ByteStream } from './byte_stream.js';
import { fromDirectSocketsError, argError, SocketIWAError } from './errors.js';
import { validateHost, validatePort } from './validate.js';
import { HeadReader, newKey, buildRequest, checkResponse } from './ws_handshake.js';
import { WebSocketConnection } from './websocket.js';
import { SocketIOClient } from './socketio_client.js';
import { RawTCPConnection } from './raw.js';

/** Valid values of the `protocol` option. */
export const PROTOCOLS = Object.freeze(['raw', 'websocket', 'socket.io']);

/** Validate the `protocol` option (default 'raw'). */
export function checkProtocol(p) {
  if (p === undefined) return 'raw';
  if (!PROTOCOLS.includes(p)) throw argError(`protocol must be one of ${PROTOCOLS.join(', ')}, got ${JSON.stringify(p)}.`);
  return p;
}

function requireCtor(name) {
  const C = globalThis[name];
  if (typeof C !== 'function') {
    throw new SocketIWAError('ENOTSUP', `${name} is not available: Direct Sockets only exist in an Isolated Web App (or install node/direct-sockets.js under Node.js).`);
  }
  return C;
}

/** Open a Direct Sockets TCPSocket; resolves {socket, info}. */
export async function openTCPSocket(host, port, opts = {}) {
  const TCPSocket = requireCtor('TCPSocket');
  const dsOpts = {};
  if (opts.noDelay !== undefined) dsOpts.noDelay = opts.noDelay; else dsOpts.noDelay = true;
  if (opts.keepAliveDelay !== undefined) dsOpts.keepAliveDelay = opts.keepAliveDelay;
  if (opts.sendBufferSize !== undefined) dsOpts.sendBufferSize = opts.sendBufferSize;
  if (opts.receiveBufferSize !== undefined) dsOpts.receiveBufferSize = opts.receiveBufferSize;
  if (opts.dnsQueryType !== undefined) dsOpts.dnsQueryType = opts.dnsQueryType;
  let socket;
  try { socket = new TCPSocket(host, port, dsOpts); } catch (err) { throw fromDirectSocketsError(err, `connect ${host}:${port}`, 'ECONNREFUSED'); }
  try {
    const info = await socket.opened;
    return { socket, info };
  } catch (err) {
    throw fromDirectSocketsError(err, `connect ${host}:${port}`, 'ECONNREFUSED');
  }
}

function withTimeout(promise, ms, what, onTimeout) {
  if (!ms) return promise;
  let t;
  return Promise.race([promise, new Promise((_, reject) => {
    t = setTimeout(() => { onTimeout?.(); reject(new SocketIWAError('ETIMEDOUT', `${what} timed out after ${ms} ms`)); }, ms);
  })]).finally(() => clearTimeout(t));
}

/** Run the client side of the WebSocket handshake on an open ByteStream. */
export function clientHandshake(stream, { host, port, path, headers }) {
  const key = newKey();
  const reader = new HeadReader();
  return new Promise((resolve, reject) => {
    stream.handlers.onData = (chunk) => {
      let r;
      try { r = reader.push(chunk); } catch (err) { reject(err); return; }
      if (!r) return;
      stream.handlers.onData = () => {};
      checkResponse(r.head, key).then((h) => resolve({ headers: h, rest: r.rest }), reject);
    };
    stream.handlers.onEnd = () => reject(new SocketIWAError('ECONNRESET', 'connection closed during the WebSocket handshake'));
    stream.handlers.onError = reject;
    stream.write(buildRequest({ host, port, path, key, headers }));
  });
}

/**
 * Connect over TCP. Resolves when the connection is usable: raw at once,
 * WebSocket after the handshake, Socket.IO after the namespace CONNECT.
 * @param {string} host
 * @param {number} port
 * @param {object} [options]
 */
export async function createTCP(host, port, options = {}) {
  validateHost(host, 'host');
  validatePort(port, 'port');
  if (options === null || typeof options !== 'object') throw argError('options must be an object', 'ERR_INVALID_ARG_TYPE');
  const protocol = checkProtocol(options.protocol);
  const timeoutMs = options.connectTimeoutMs ?? 10000;
  const { socket, info } = await withTimeout(openTCPSocket(host, port, options), timeoutMs, `connect ${host}:${port}`);
  const stream = new ByteStream(socket, info, { onData() {}, onEnd() {}, onError() {}, highWaterMark: options.highWaterMark });
  const addr = { remoteAddress: info.remoteAddress, remotePort: info.remotePort, localAddress: info.localAddress, localPort: info.localPort };
  if (protocol === 'raw') {
    const conn = new RawTCPConnection(stream, { ...addr, binaryType: options.binaryType });
    queueMicrotask(() => { conn.emitLocal('open'); conn.emitLocal('connect'); });
    return conn;
  }
  let path = options.path;
  if (protocol === 'socket.io') {
    const base = (options.path || '/socket.io/').replace(/\/?$/, '/');
    const q = new URLSearchParams({ ...(options.query || {}), EIO: '4', transport: 'websocket' });
    path = `${base}?${q}`;
  } else path = path || '/';
  let hs;
  try {
    hs = await withTimeout(clientHandshake(stream, { host, port, path, headers: options.headers }), timeoutMs, 'WebSocket handshake', () => stream.destroy());
  } catch (err) { stream.destroy(); throw err; }
  const ws = new WebSocketConnection(stream, {
    isServer: false, binaryType: options.binaryType, maxPayload: options.maxPayload,
    fragmentSize: options.fragmentSize, closeTimeoutMs: options.closeTimeoutMs, ...addr,
  });
  Object.assign(ws, addr, { protocol, responseHeaders: hs.headers });
  if (protocol === 'websocket') {
    ws.feed(hs.rest);
    queueMicrotask(() => { ws.emitLocal('open'); ws.emitLocal('connect'); });
    return ws;
  }
  const client = new SocketIOClient(ws, { namespace: options.namespace || '/', auth: options.auth, ackTimeoutMs: options.ackTimeoutMs, binaryType: options.binaryType });
  Object.assign(client, addr);
  ws.feed(hs.rest);
  await withTimeout(client.ready, timeoutMs, 'Socket.IO connect', () => ws.terminate());
  return client;
}
