// TCP client connections in three modes: raw bytes, plain WebSocket, and
// Socket.IO (Engine.IO v4 over WebSocket).

import { ByteStream } from './byte_stream.js';
import { fromDirectSocketsError, argError, SocketIWAError, requireCtor } from './errors.js';
import { validateHost, validatePort } from './validate.js';
import { HeadReader, newKey, buildRequest, checkResponse } from './ws_handshake.js';
import { WebSocketConnection } from './websocket.js';
import { clientOffer, checkAccepted } from './ws_deflate.js';
import { SocketIOClient, reconnectOptions } from './socketio_client.js';
import { PollingClient } from './polling_client.js';
import { RawTCPConnection } from './raw.js';
import { concat } from './bytes.js';

/** Valid values of the `protocol` option. */
export const PROTOCOLS = Object.freeze(['raw', 'websocket', 'socket.io']);

/** Validate the `protocol` option (default 'raw'). */
export function checkProtocol(p) {
  if (p === undefined) return 'raw';
  if (!PROTOCOLS.includes(p)) throw argError(`protocol must be one of ${PROTOCOLS.join(', ')}, got ${JSON.stringify(p)}.`);
  return p;
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
export function clientHandshake(stream, { host, port, path, headers, perMessageDeflate }) {
  const key = newKey();
  const offer = perMessageDeflate === false ? null : clientOffer();
  if (offer) headers = { ...headers, 'Sec-WebSocket-Extensions': offer };
  const reader = new HeadReader();
  return new Promise((resolve, reject) => {
    stream.handlers.onData = (chunk) => {
      let r;
      try { r = reader.push(chunk); } catch (err) { reject(err); return; }
      if (!r) return;
      // Bytes after the head (the server's first frames) may arrive while the
      // Sec-WebSocket-Accept check awaits: keep them for the connection.
      const later = [r.rest];
      stream.handlers.onData = (b) => later.push(b);
      checkResponse(r.head, key).then((h) => {
        const deflate = checkAccepted(h['sec-websocket-extensions'], offer);
        resolve({ headers: h, deflate, rest: concat(later, later.reduce((n, b) => n + b.byteLength, 0)) });
      }).catch(reject);
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
  if (protocol === 'socket.io') return createSocketIO(host, port, options, timeoutMs);
  const { socket, info } = await withTimeout(openTCPSocket(host, port, options), timeoutMs, `connect ${host}:${port}`);
  const stream = new ByteStream(socket, info, { onData() {}, onEnd() {}, onError() {}, highWaterMark: options.highWaterMark });
  const addr = { remoteAddress: info.remoteAddress, remotePort: info.remotePort, localAddress: info.localAddress, localPort: info.localPort };
  if (protocol === 'raw') {
    const conn = new RawTCPConnection(stream, { ...addr, binaryType: options.binaryType });
    queueMicrotask(() => { conn.emitLocal('open'); conn.emitLocal('connect'); });
    return conn;
  }
  const path = options.path || '/';
  let hs;
  try {
    hs = await withTimeout(clientHandshake(stream, { host, port, path, headers: options.headers, perMessageDeflate: options.perMessageDeflate }), timeoutMs, 'WebSocket handshake', () => stream.destroy());
  } catch (err) { stream.destroy(); throw err; }
  const ws = new WebSocketConnection(stream, {
    isServer: false, binaryType: options.binaryType, maxPayload: options.maxPayload, perMessageDeflate: hs.deflate,
    fragmentSize: options.fragmentSize, closeTimeoutMs: options.closeTimeoutMs, ...addr,
  });
  Object.assign(ws, addr, { protocol, responseHeaders: hs.headers });
  ws.feed(hs.rest);
  queueMicrotask(() => { ws.emitLocal('open'); ws.emitLocal('connect'); });
  return ws;
}

/** Valid values of the Socket.IO `transports` option, in our default order. */
export const SOCKETIO_TRANSPORTS = Object.freeze(['websocket', 'polling']);

function checkTransports(t) {
  if (t === undefined) return SOCKETIO_TRANSPORTS;
  if (!Array.isArray(t) || !t.length || t.some((x) => !SOCKETIO_TRANSPORTS.includes(x))) {
    throw argError(`transports must be a non-empty array of ${SOCKETIO_TRANSPORTS.map((x) => JSON.stringify(x)).join(' / ')}, got ${JSON.stringify(t)}`);
  }
  return t;
}

/**
 * Open one Socket.IO transport: WebSocket first (unless `transports` says
 * otherwise), and HTTP long-polling when the WebSocket handshake fails (an
 * error status, a connection closed during the upgrade, or no answer within
 * half of connectTimeoutMs). A refused TCP connection is not retried with
 * polling: it would be refused too.
 */
async function openSocketIOTransport(host, port, options, timeoutMs, transports) {
  const base = (options.path || '/socket.io/').replace(/\/?$/, '/');
  let wsError = null;
  for (const kind of transports) {
    if (kind === 'websocket') {
      const canFallBack = transports.indexOf('websocket') < transports.length - 1;
      const { socket, info } = await withTimeout(openTCPSocket(host, port, options), timeoutMs, `connect ${host}:${port}`);
      const stream = new ByteStream(socket, info, { onData() {}, onEnd() {}, onError() {}, highWaterMark: options.highWaterMark });
      const addr = { remoteAddress: info.remoteAddress, remotePort: info.remotePort, localAddress: info.localAddress, localPort: info.localPort };
      const q = new URLSearchParams({ ...(options.query || {}), EIO: '4', transport: 'websocket' });
      let hs;
      try {
        hs = await withTimeout(clientHandshake(stream, { host, port, path: `${base}?${q}`, headers: options.headers, perMessageDeflate: options.perMessageDeflate }),
          canFallBack ? Math.ceil(timeoutMs / 2) : timeoutMs, 'WebSocket handshake', () => stream.destroy());
      } catch (err) {
        stream.destroy();
        if (!canFallBack) throw err;
        wsError = err;
        continue;
      }
      const ws = new WebSocketConnection(stream, {
        isServer: false, binaryType: options.binaryType, maxPayload: options.maxPayload, perMessageDeflate: hs.deflate,
        fragmentSize: options.fragmentSize, closeTimeoutMs: options.closeTimeoutMs, ...addr,
      });
      Object.assign(ws, addr, { protocol: 'socket.io', responseHeaders: hs.headers });
      return { transport: ws, start: () => ws.feed(hs.rest), addr };
    }
    const open = (h, p) => openTCPSocket(h, p, options);
    const polling = new PollingClient({ open, host, port, path: base, query: options.query, headers: options.headers, binaryType: options.binaryType, requestTimeoutMs: timeoutMs });
    try {
      await withTimeout(polling.handshake(), timeoutMs, 'Socket.IO polling handshake', () => polling.terminate());
    } catch (err) {
      if (wsError) err.message += ` (after the WebSocket upgrade failed: ${wsError.message})`;
      throw err;
    }
    return { transport: polling, start: () => polling.start(), addr: { remoteAddress: host, remotePort: port } };
  }
  throw wsError;
}

async function createSocketIO(host, port, options, timeoutMs) {
  const transports = checkTransports(options.transports);
  const rc = reconnectOptions(options);
  const sioOpts = {
    namespace: options.namespace || '/', auth: options.auth, ackTimeoutMs: options.ackTimeoutMs, binaryType: options.binaryType,
    sendBufferLimit: options.sendBufferLimit, ...rc,
  };
  if (options.auth !== undefined && options.auth !== null && typeof options.auth !== 'object' && typeof options.auth !== 'function') {
    throw argError('auth must be an object or a function (cb) => cb(object)', 'ERR_INVALID_ARG_TYPE');
  }
  const first = await openSocketIOTransport(host, port, options, timeoutMs, transports);
  const reconnect = () => {
    // A transport that opens only after the attempt timed out is closed, not leaked.
    let late = false;
    const opening = openSocketIOTransport(host, port, options, timeoutMs, transports);
    opening.then((t) => { if (late) t.transport.terminate(); }, () => {});
    return withTimeout(opening, timeoutMs + 1000, `reconnect ${host}:${port}`, () => { late = true; });
  };
  const client = new SocketIOClient(first.transport, { ...sioOpts, start: first.start, reconnect });
  Object.assign(client, first.addr);
  client._start();
  await withTimeout(client.ready, timeoutMs, 'Socket.IO connect', () => client.transport.terminate());
  return client;
}
