// TCP servers on TCPServerSocket in three modes: raw, plain WebSocket and
// Socket.IO. Emits 'connection' per accepted (and, for WebSocket / Socket.IO,
// handshaken) connection; rooms and broadcasts through to(room).

import { Emitter } from './emitter.js';
import { ByteStream } from './byte_stream.js';
import { fromDirectSocketsError, argError, SocketIWAError, requireCtor } from './errors.js';
import { validateIp, validatePort } from './validate.js';
import { HeadReader, checkRequest, buildResponse, buildError } from './ws_handshake.js';
import { WebSocketConnection } from './websocket.js';
import { acceptOffer } from './ws_deflate.js';
import { SocketIOServerCore } from './socketio.js';
import { RawTCPConnection } from './raw.js';
import { RoomRegistry, BroadcastOperator } from './rooms.js';
import { checkProtocol } from './tcp.js';
import { randomBytes, base64 } from './bytes.js';
import { PollingTransport, serveHttp } from './polling.js';

/** Defaults of the server's connection limits (see docs/JS_LIMITS.md). */
export const SERVER_LIMIT_DEFAULTS = Object.freeze({
  maxConnections: 1000,
  maxBufferedAmount: 64 * 1024 * 1024,
  maxServerBufferedAmount: 512 * 1024 * 1024,
});

/** A limit option: a finite number >= 0 (0 disables), or `dflt` when unset. */
function limitOption(opts, name, dflt) {
  const v = opts[name] ?? dflt;
  if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw argError(`${name} must be a non-negative number, got ${String(v)}`, 'ERR_OUT_OF_RANGE');
  return v;
}

const LIMIT_OPTIONS = ['maxConnections', 'maxBufferedAmount', 'maxServerBufferedAmount', 'maxHttpBufferSize', 'maxPayload', 'maxNestingDepth',
  'connectTimeoutMs', 'handshakeTimeoutMs', 'headersTimeoutMs', 'bodyTimeoutMs', 'keepAliveTimeoutMs', 'messageTimeoutMs'];

/** A plain (non-upgrade) Engine.IO polling request? */
function isPollingRequest(head) {
  const first = head.slice(0, head.indexOf('\r\n') >>> 0);
  return /^(GET|POST|OPTIONS) \S*[?&]transport=polling\b/.test(first) && !/\r\nupgrade:\s*websocket/i.test(head);
}

/** A listening server. */
export class TCPServer extends Emitter {
  #server; #reader; #opts; #clients = new Map(); #registry = new RoomRegistry(); #core = null; #closed = false;
  /** Every accepted connection still open: stream -> {since, idle(): boolean}. */
  #conns = new Map();
  #budget = { total: 0, max: 0 };

  constructor(server, info, opts) {
    super();
    this.#server = server;
    this.#opts = opts;
    /** 'raw' | 'websocket' | 'socket.io' */
    this.protocol = opts.protocol;
    /** Address the server listens on. */
    this.address = info.localAddress;
    /** Port the server listens on. */
    this.port = info.localPort;
    const num = (name, dflt) => limitOption(opts, name, dflt);
    /** Upper bound on open connections; when reached the oldest idle/unauthenticated one is dropped. */
    this.maxConnections = num('maxConnections', SERVER_LIMIT_DEFAULTS.maxConnections);
    this.#opts.maxBufferedAmount = num('maxBufferedAmount', SERVER_LIMIT_DEFAULTS.maxBufferedAmount);
    this.#budget.max = num('maxServerBufferedAmount', SERVER_LIMIT_DEFAULTS.maxServerBufferedAmount);
    if (this.protocol === 'socket.io') {
      const maxHttpBufferSize = num('maxHttpBufferSize', opts.maxPayload ?? 1000000);
      this.#core = new SocketIOServerCore({ ...opts, maxPayload: maxHttpBufferSize, onError: (err) => this.emitLocal('error', err) });
      this.#core.of('/').on('connection', (s) => { this.emitLocal('connection', s); this.emitLocal('connect', s); });
      this.#core.of('/').serverSideTarget = this; // serverSideEmit from other servers reaches server.on(event)
    }
    this.#reader = info.readable.getReader();
    this.#acceptLoop();
  }

  /** 1 while listening, 3 after close. */
  get readyState() { return this.#closed ? 3 : 1; }

  /** Connections currently open (raw and WebSocket modes: the connections; Socket.IO: sockets of "/"). */
  get clients() {
    if (this.#core) return new Set(this.#core.of('/').sockets.values());
    return new Set(this.#clients.values());
  }

  async #acceptLoop() {
    try {
      for (;;) {
        const { value: socket, done } = await this.#reader.read();
        if (done) break;
        this.#onSocket(socket).catch((err) => this.emitLocal('error', err));
      }
    } catch (err) {
      if (!this.#closed) this.emitLocal('error', fromDirectSocketsError(err, 'accept', 'ECONNABORTED'));
    }
  }

  /** Connections currently open at the TCP level (all modes, handshaking ones included). */
  get connectionCount() { return this.#conns.size; }

  /**
   * Make room for one more connection: drop the oldest idle or not yet
   * authenticated one (handshaking, idle keep-alive HTTP, Socket.IO session
   * without a namespace). Returns false when every connection is in use.
   */
  #shed() {
    let victim = null, since = Infinity;
    for (const [st, c] of this.#conns) if (c.idle() && c.since < since) { victim = st; since = c.since; }
    if (!victim) return false;
    this.#conns.delete(victim);
    const { onEnd } = victim.handlers;
    victim.destroy();
    onEnd(); // the connection's owner (handshake, HTTP, WebSocket) sees it end
    this.emitLocal('clientError', new SocketIWAError('ECONNRESET', `connection dropped: maxConnections (${this.maxConnections}) reached and this was the oldest idle one`));
    return true;
  }

  async #onSocket(socket) {
    let info;
    try { info = await socket.opened; } catch (err) { throw fromDirectSocketsError(err, 'accepted socket', 'ECONNABORTED'); }
    if (this.#closed) { try { info.readable.cancel(); info.writable.abort(); } catch {} return; }
    const stream = new ByteStream(socket, info, {
      onData() {}, onEnd() {}, onError() {}, highWaterMark: this.#opts.highWaterMark,
      maxBufferedAmount: this.#opts.maxBufferedAmount, budget: this.#budget,
    });
    if (this.maxConnections && this.#conns.size >= this.maxConnections && !this.#shed()) {
      stream.destroy();
      this.emitLocal('clientError', new SocketIWAError('EMFILE', `connection refused: maxConnections (${this.maxConnections}) reached and none is idle`));
      return;
    }
    const entry = { since: Date.now(), idle: () => true };
    this.#conns.set(stream, entry);
    const forget = () => this.#conns.delete(stream);
    socket.closed.then(forget, forget);
    stream.onFinished = forget; // also when we close or drop it (whether or not `closed` settles)
    const addr = { remoteAddress: info.remoteAddress, remotePort: info.remotePort, localAddress: this.address, localPort: this.port };
    if (this.protocol === 'raw') {
      entry.idle = () => false;
      const conn = new RawTCPConnection(stream, { ...addr, binaryType: this.#opts.binaryType });
      this.#track(conn);
      this.emitLocal('connection', conn);
      this.emitLocal('connect', conn);
      return;
    }
    const hs = await this.#handshake(stream);
    if (!hs) return;
    if (hs.polling) { this.#servePolling(stream, hs.polling, addr, entry); return; }
    let upgradeOf = null;
    if (this.protocol === 'socket.io' && hs.request.query.sid !== undefined) upgradeOf = hs.upgradeOf;
    const ws = new WebSocketConnection(stream, {
      isServer: true, binaryType: this.#opts.binaryType,
      // Socket.IO: the advertised maxPayload (maxHttpBufferSize) is the limit on this transport too.
      maxPayload: this.#core ? this.#core.maxPayload : this.#opts.maxPayload,
      perMessageDeflate: hs.deflate && hs.deflate.params,
      fragmentSize: this.#opts.fragmentSize, closeTimeoutMs: this.#opts.closeTimeoutMs,
      messageTimeoutMs: this.#opts.messageTimeoutMs, ...addr,
    });
    Object.assign(ws, addr, { request: hs.request, protocol: this.protocol });
    if (this.protocol === 'websocket') {
      entry.idle = () => false;
      this.#track(ws);
      ws.on('error', (err) => this.emitLocal('clientError', err, ws));
      this.emitLocal('connection', ws, hs.request);
      this.emitLocal('connect', ws, hs.request);
      ws.feed(hs.rest);
      return;
    }
    if (upgradeOf) { entry.idle = () => upgradeOf.sockets.size === 0; upgradeOf.upgrade(ws); ws.feed(hs.rest); return; }
    const eng = this.#core.accept(ws, { query: hs.request.query, headers: hs.request.headers, address: addr.remoteAddress, port: addr.remotePort, time: new Date().toISOString() });
    entry.idle = () => eng.sockets.size === 0; // not yet connected to a namespace
    ws.feed(hs.rest);
  }

  async #handshake(stream) {
    const reader = new HeadReader();
    const limitMs = this.#opts.handshakeTimeoutMs ?? 10000;
    const result = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ error: Object.assign(new SocketIWAError('ETIMEDOUT', 'handshake timeout'), { status: 408 }) }), limitMs);
      stream.handlers.onData = (chunk) => {
        let r;
        try { r = reader.push(chunk); } catch (err) { clearTimeout(timer); resolve({ error: Object.assign(err, { status: 431 }) }); return; }
        if (!r) return;
        clearTimeout(timer);
        stream.handlers.onData = () => {};
        if (this.protocol === 'socket.io' && isPollingRequest(r.head)) { resolve({ polling: r }); return; }
        try { resolve({ request: checkRequest(r.head), rest: r.rest }); } catch (err) { resolve({ error: err }); }
      };
      stream.handlers.onEnd = () => { clearTimeout(timer); resolve({ error: null }); };
      stream.handlers.onError = () => { clearTimeout(timer); resolve({ error: null }); };
    });
    if (result.polling) return { polling: result.polling };
    if (!result.error && result.request) {
      const { request } = result;
      const wantPath = this.#opts.path !== undefined
        ? this.#opts.path
        : this.protocol === 'socket.io' ? '/socket.io/' : null;
      const norm = (p) => p.replace(/\/?$/, '/');
      if (wantPath !== null && norm(request.path) !== norm(wantPath)) {
        result.error = Object.assign(new SocketIWAError('ERR_WS_HANDSHAKE', `no endpoint at ${request.path}`), { status: 404 });
      } else if (this.protocol === 'socket.io' && (request.query.EIO !== '4' || request.query.transport !== 'websocket')) {
        result.error = Object.assign(new SocketIWAError('ERR_WS_HANDSHAKE',
          request.query.EIO !== '4' ? 'Unsupported protocol version' : 'Transport unknown (only the websocket transport is served)'), { status: 400, engineCode: request.query.EIO !== '4' ? 5 : 0 });
      } else if (this.protocol === 'socket.io' && request.query.sid !== undefined) {
        // An upgrade of a polling session: check the sid before answering 101.
        const of = this.#core.connections.get(request.query.sid);
        if (!of || !(of.ws instanceof PollingTransport)) {
          result.error = Object.assign(new SocketIWAError('ERR_WS_HANDSHAKE', 'Session ID unknown'), { status: 400, engineCode: 1 });
        } else result.upgradeOf = of;
      }
    }
    if (result.error || !result.request) {
      if (result.error) {
        const body = result.error.engineCode !== undefined
          ? JSON.stringify({ code: result.error.engineCode, message: result.error.message })
          : result.error.message;
        stream.write(buildError(result.error.status || 400, body));
        this.emitLocal('clientError', result.error);
      }
      await stream.close().catch(() => {});
      return null;
    }
    result.deflate = this.#opts.perMessageDeflate === false ? null : acceptOffer(result.request.headers['sec-websocket-extensions']);
    stream.write(await buildResponse(result.request.key, result.deflate && result.deflate.response));
    return result;
  }

  /** Engine.IO long-polling requests on one keep-alive HTTP connection. */
  #servePolling(stream, first, addr, entry) {
    const core = this.#core;
    const wantPath = (this.#opts.path || '/socket.io/').replace(/\/?$/, '/');
    const cors = this.#opts.cors;
    const corsHeaders = (req) => {
      if (!cors) return {};
      const origin = req.headers.origin;
      const allowed = cors.origin === true || cors.origin === '*' ||
        (typeof cors.origin === 'string' && cors.origin === origin) ||
        (Array.isArray(cors.origin) && cors.origin.includes(origin));
      if (!allowed || !origin) return {};
      const h = { 'Access-Control-Allow-Origin': cors.origin === '*' && !cors.credentials ? '*' : origin, Vary: 'Origin' };
      if (cors.credentials) h['Access-Control-Allow-Credentials'] = 'true';
      return h;
    };
    this.#pollingStreams.add(stream);
    let idle = false;
    entry.idle = () => idle;
    const o = this.#opts;
    serveHttp(stream, first, async (req) => {
      const res = await this.#pollingRequest(req, core, wantPath, addr);
      res.headers = { ...(res.headers || {}), ...corsHeaders(req) };
      return res;
    }, {
      maxBody: core.maxPayload, headersTimeoutMs: o.headersTimeoutMs, bodyTimeoutMs: o.bodyTimeoutMs,
      keepAliveTimeoutMs: o.keepAliveTimeoutMs, onIdle: (v) => { idle = v; },
    });
    stream.socket.closed.then(() => this.#pollingStreams.delete(stream), () => this.#pollingStreams.delete(stream));
  }

  #pollingRequest(req, core, wantPath, addr) {
    const text = { 'Content-Type': 'text/plain; charset=UTF-8' };
    const fail = (status, code, message) => ({ status, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code, message }) });
    {
      if (req.method === 'OPTIONS') {
        return { status: 204, headers: { 'Access-Control-Allow-Methods': 'GET, POST', 'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] || 'content-type', 'Access-Control-Max-Age': '600' }, body: '' };
      }
      if (req.path.replace(/\/?$/, '/') !== wantPath) return { status: 404, body: 'not found' };
      if (req.query.EIO !== '4') return fail(400, 5, 'Unsupported protocol version');
      if (req.query.transport !== 'polling') return fail(400, 0, 'Transport unknown');
      if (req.query.sid === undefined) {
        if (req.method !== 'GET') return fail(400, 2, 'Bad handshake method');
        const t = new PollingTransport({ maxPayload: core.maxPayload, maxBufferedAmount: this.#opts.maxBufferedAmount });
        const opened = new Promise((resolve) => t.onPoll(resolve));
        core.accept(t, { query: req.query, headers: req.headers, address: addr.remoteAddress, port: addr.remotePort, time: new Date().toISOString() }, { upgrades: ['websocket'] });
        return opened.then((body) => ({ status: 200, headers: text, body }));
      }
      const conn = core.connections.get(req.query.sid);
      if (!conn || !conn.polling) return fail(400, 1, 'Session ID unknown');
      const t = conn.polling;
      if (req.method === 'GET') return new Promise((resolve) => t.onPoll(resolve)).then((body) => (body === null ? fail(400, 3, 'Bad request') : { status: 200, headers: text, body }));
      if (req.method === 'POST') {
        try { t.onData(req.body); } catch (err) { core.emitError(err, conn); return fail(400, 3, 'Bad request'); }
        return { status: 200, headers: text, body: 'ok' };
      }
      return fail(400, 2, 'Bad request method');
    }
  }

  #pollingStreams = new Set();

  #track(conn) {
    const id = base64(randomBytes(12)).replace(/\+/g, '-').replace(/\//g, '_');
    conn.id = id;
    this.#clients.set(id, conn);
    this.#registry.join(id, id);
    const registry = this.#registry;
    conn.join = (...rooms) => { registry.join(id, ...rooms); return conn; };
    conn.leave = (room) => { registry.leave(id, room); return conn; };
    Object.defineProperty(conn, 'rooms', { get: () => registry.roomsOf(id), configurable: true });
    conn.on('close', () => { this.#clients.delete(id); registry.leaveAll(id); });
  }

  #target() {
    if (this.#core) return this.#core.of('/')._target();
    return { registry: this.#registry, members: () => this.#clients };
  }

  /** Socket.IO: get or create a namespace. */
  of(name) {
    if (!this.#core) throw argError('namespaces need protocol "socket.io"', 'ERR_PROTOCOL_MODE');
    return this.#core.of(name);
  }

  /** Select a room for a broadcast: server.to(room).emit(...) / .send(...). */
  to(room) { return new BroadcastOperator(this.#target()).to(room); }
  /** Alias of to(). */
  in(room) { return this.to(room); }
  /** Exclude a room from a broadcast. */
  except(room) { return new BroadcastOperator(this.#target()).except(room); }

  /**
   * Socket.IO: broadcast a named event to every socket of "/". Lifecycle
   * names ('connection', 'error', 'close', 'listening') dispatch locally.
   */
  emit(event, ...args) {
    if (['connection', 'connect', 'error', 'close', 'clientError', 'listening'].includes(event)) return this.emitLocal(event, ...args);
    return new BroadcastOperator(this.#target()).emit(event, ...args);
  }

  /** Socket.IO: broadcast acknowledgements wait `ms` (server.timeout(ms).emitWithAck(...)). */
  timeout(ms) { return this.of('/').timeout(ms); }
  /** Socket.IO (namespace "/"): only this server's sockets. */
  get local() { return this.of('/').local; }
  /** Socket.IO: sockets of "/" on every server of the cluster. */
  fetchSockets() { return this.of('/').fetchSockets(); }
  /** Socket.IO: make every socket of "/" (every server) join rooms. */
  socketsJoin(room) { return this.of('/').socketsJoin(room); }
  /** Socket.IO: make every socket of "/" (every server) leave rooms. */
  socketsLeave(room) { return this.of('/').socketsLeave(room); }
  /** Socket.IO: disconnect every socket of "/" (every server). */
  disconnectSockets(close = false) { return this.of('/').disconnectSockets(close); }
  /** Socket.IO: emit to the other servers of the cluster (needs a cluster adapter). */
  serverSideEmit(event, ...args) { return this.of('/').serverSideEmit(event, ...args); }
  /** Socket.IO: serverSideEmit and collect one acknowledgement per other server. */
  serverSideEmitWithAck(event, ...args) { return this.of('/').serverSideEmitWithAck(event, ...args); }

  /** Raw / WebSocket: send a message to every client. */
  broadcast(data) { return new BroadcastOperator(this.#target()).send(data); }

  /** Stop accepting and close every connection. */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#core) this.#core.closeAll();
    for (const st of this.#pollingStreams) st.close().catch(() => {});
    for (const c of [...this.#clients.values()]) {
      try { if (c instanceof WebSocketConnection) c.close(1001, 'server shutting down'); else c.close(); } catch {}
    }
    try { await this.#reader.cancel(); } catch {}
    try { await this.#server.closed; } catch {}
    this.emitLocal('close');
  }
}

/**
 * Listen for TCP connections.
 * @param {string} host local IP address to listen on
 * @param {object} [options] {port, protocol, path, backlog, ...}
 * @returns {Promise<TCPServer>}
 */
export async function createTCPServer(host = '127.0.0.1', options = {}) {
  validateIp(host, 'host');
  if (options === null || typeof options !== 'object') throw argError('options must be an object', 'ERR_INVALID_ARG_TYPE');
  const protocol = checkProtocol(options.protocol);
  if (options.port !== undefined && options.port !== 0) validatePort(options.port, 'port');
  for (const k of LIMIT_OPTIONS) if (options[k] !== undefined) limitOption(options, k, 0);
  if (options.adapter !== undefined && (protocol !== 'socket.io' || typeof options.adapter !== 'function')) throw argError('adapter must be a function (namespace) => Adapter and needs protocol "socket.io"', 'ERR_INVALID_ARG_TYPE');
  const Ctor = requireCtor('TCPServerSocket');
  const dsOpts = {};
  if (options.port) dsOpts.localPort = options.port;
  if (options.backlog !== undefined) dsOpts.backlog = options.backlog;
  if (options.ipv6Only !== undefined) dsOpts.ipv6Only = options.ipv6Only;
  let server;
  try { server = new Ctor(host, dsOpts); } catch (err) { throw fromDirectSocketsError(err, `listen ${host}:${options.port || 0}`, 'EADDRINUSE'); }
  let info;
  try { info = await server.opened; } catch (err) { throw fromDirectSocketsError(err, `listen ${host}:${options.port || 0}`, 'EADDRINUSE'); }
  try {
    return new TCPServer(server, info, { ...options, protocol });
  } catch (err) { // e.g. an adapter factory that throws: do not leave the port listening
    try { await server.close(); } catch {}
    throw err;
  }
}
