// Socket.IO v5 over Engine.IO v4 over WebSocket: the event/ack machinery shared
// with the client (api/socketio_client.js) and the server side (accepts the stock npm
// `socket.io-client` with the websocket transport), with namespaces, rooms,
// acknowledgements both ways, binary payloads, ping/pong timeouts and
// Socket.IO's disconnect reasons.

import { Emitter } from './emitter.js';
import { SocketIWAError, argError, closedError } from './errors.js';
import { EIO, SIO, ProtocolError, decodeEngine, encodeEngine, encodeSocket, SocketDecoder } from './socketio_codec.js';
import { Adapter, BroadcastOperator } from './rooms.js';
import { randomBytes, base64 } from './bytes.js';

/** Events that are lifecycle events and cannot be emitted to the peer. */
export const RESERVED_EVENTS = Object.freeze(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener', 'error', 'open', 'close']);

/** Default ack timeout for emitWithAck (ms). */
export const DEFAULT_ACK_TIMEOUT_MS = 10000;

/** Default deepest JSON nesting accepted in a packet from a client (server side). */
export const DEFAULT_MAX_NESTING_DEPTH = 100;

/**
 * Does the JSON text nest arrays/objects deeper than `max`? A linear scan
 * (strings skipped) run before JSON.parse, so a million-deep payload is refused
 * without building it.
 */
export function jsonTooDeep(text, max) {
  let depth = 0, inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped char
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) { if (++depth > max) return true; }
    else if (c === 93 || c === 125) depth--;
  }
  return false;
}

function newId() { return base64(randomBytes(15)).replace(/\+/g, '-').replace(/\//g, '_'); }

function splitAckOptions(args) {
  const last = args[args.length - 1];
  if (last && typeof last === 'object' && !Array.isArray(last) && Object.keys(last).length === 1 && 'timeoutMs' in last) {
    return { args: args.slice(0, -1), timeoutMs: last.timeoutMs };
  }
  return { args, timeoutMs: undefined };
}

/** Event/ack machinery shared by client sockets and server-side sockets. */
export class SocketIOEndpoint extends Emitter {
  #acks = new Map();
  #nextAckId = 0;
  #timeoutNext;

  constructor(ackTimeoutMs) {
    super();
    /** Default timeout for emitWithAck (ms). */
    this.ackTimeoutMs = ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    /** Whether the namespace connection is established. */
    this.connected = false;
    /** Socket.IO session id of this namespace connection. */
    this.id = undefined;
  }

  /** Namespace name, e.g. "/" or "/admin". */
  get nsp() { return this._nsp; }

  /**
   * Emit a named event to the peer. A function as last argument receives the
   * peer's acknowledgement (err, ...response) when timeout() was used, or
   * (...response) otherwise, like Socket.IO.
   * @param {string} event
   * @param {...any} args
   * @returns {this}
   */
  emit(event, ...args) {
    if (RESERVED_EVENTS.includes(event)) throw argError(`"${event}" is a reserved event name`, 'ERR_RESERVED_EVENT');
    if (typeof event !== 'string') throw argError('event name must be a string', 'ERR_INVALID_ARG_TYPE');
    if (!this._canEmit()) throw closedError(`emit("${event}")`);
    const timeout = this.#timeoutNext;
    this.#timeoutNext = undefined;
    const packet = { type: SIO.EVENT, nsp: this._nsp, data: [event, ...args] };
    if (typeof args[args.length - 1] === 'function') {
      const fn = args[args.length - 1];
      packet.data = [event, ...args.slice(0, -1)];
      const id = this.#nextAckId++;
      packet.id = id;
      if (timeout !== undefined) {
        const timer = setTimeout(() => {
          this.#acks.delete(id);
          fn(new SocketIWAError('ETIMEDOUT', `ack for "${event}" not received within ${timeout} ms`));
        }, timeout);
        const wrapped = (...res) => { clearTimeout(timer); fn(null, ...res); };
        wrapped.fail = (err) => { clearTimeout(timer); fn(err); };
        this.#acks.set(id, wrapped);
      } else {
        this.#acks.set(id, fn);
      }
    }
    this._sendPacket(packet);
    return this;
  }

  /**
   * Emit and wait for the acknowledgement. Options `{ timeoutMs }` as the last
   * argument (default ackTimeoutMs); rejects with code ETIMEDOUT on timeout and
   * ERR_SOCKET_CLOSED when the connection closes first.
   * @param {string} event
   * @param {...any} args
   * @returns {Promise<any>}
   */
  emitWithAck(event, ...rest) {
    const { args, timeoutMs } = splitAckOptions(rest);
    const ms = timeoutMs ?? this.#timeoutNext ?? this.ackTimeoutMs;
    this.#timeoutNext = undefined;
    return new Promise((resolve, reject) => {
      try {
        this.#timeoutNext = ms;
        this.emit(event, ...args, (err, ...res) => (err ? reject(err) : resolve(res.length > 1 ? res : res[0])));
      } catch (err) { this.#timeoutNext = undefined; reject(err); }
    });
  }

  /**
   * Set a timeout (ms) for the acknowledgement of the next emit/emitWithAck.
   * @param {number} ms
   * @returns {this}
   */
  timeout(ms) {
    if (!Number.isFinite(ms) || ms < 0) throw argError('timeout must be a non-negative number of ms');
    this.#timeoutNext = ms;
    return this;
  }

  /** May emit() be called now? (The client also accepts emits it buffers while reconnecting.) */
  _canEmit() { return this.connected; }

  /** emit('message', ...args), like Socket.IO's send(). */
  send(...args) { return this.emit('message', ...args); }

  /** Handle EVENT/ACK packets for this namespace. */
  _onPacket(p) {
    if (p.type === SIO.EVENT || p.type === SIO.BINARY_EVENT) {
      const args = p.data.slice();
      if (p.id !== undefined) {
        let sent = false;
        args.push((...res) => {
          if (sent || !this.connected) return;
          sent = true;
          this._sendPacket({ type: SIO.ACK, nsp: this._nsp, id: p.id, data: res });
        });
      }
      if (RESERVED_EVENTS.includes(String(args[0]))) return; // a peer cannot fire lifecycle events
      this.emitLocal(String(args[0]), ...args.slice(1));
    } else if (p.type === SIO.ACK || p.type === SIO.BINARY_ACK) {
      const fn = this.#acks.get(p.id);
      if (!fn) return;
      this.#acks.delete(p.id);
      fn(...p.data);
    }
  }

  /** Reject pending acks (connection gone). */
  _failAcks(reason) {
    for (const [id, fn] of this.#acks) {
      this.#acks.delete(id);
      if (fn.fail) try { fn.fail(new SocketIWAError('ERR_SOCKET_CLOSED', `connection closed before ack (${reason})`)); } catch {}
    }
  }
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/** A client's connection to one namespace, server side. */
export class ServerSocket extends SocketIOEndpoint {
  /** @param {Namespace} nsp @param {EngineConnection} conn @param {object} handshake */
  constructor(nsp, conn, handshake) {
    super(nsp.server.ackTimeoutMs);
    this._nsp = nsp.name;
    this.namespace = nsp;
    this.conn = conn;
    this.id = newId();
    /** {auth, query, headers, address, port, time} */
    this.handshake = handshake;
    /** Per-socket user data. */
    this.data = {};
  }

  /** Rooms this socket is in (its own id included). */
  get rooms() { return this.namespace.adapter.socketRooms(this.id); }
  /** 1 while connected, 3 after. */
  get readyState() { return this.connected ? 1 : 3; }
  /** Bytes queued on the transport. */
  get bufferedAmount() { return this.conn.ws.bufferedAmount; }

  _sendPacket(packet) { this.conn.sendPacket(packet); }

  /** Join one or more rooms. */
  join(...rooms) { this.namespace.adapter.addAll(this.id, rooms); return this; }
  /** Leave a room. */
  leave(room) { this.namespace.adapter.del(this.id, room); return this; }
  /** Broadcast to a room, excluding this socket. */
  to(room) { return new BroadcastOperator(this.namespace._target(), new Set(), new Set([this.id])).to(room); }
  /** Alias of to(). */
  in(room) { return this.to(room); }
  /** Broadcast to the whole namespace except this socket. */
  get broadcast() { return new BroadcastOperator(this.namespace._target(), new Set(), new Set([this.id])); }

  /**
   * Disconnect from the namespace ('server namespace disconnect'); with
   * close=true also close the underlying connection.
   */
  disconnect(close = false) {
    if (!this.connected) return this;
    try { this._sendPacket({ type: SIO.DISCONNECT, nsp: this._nsp }); } catch {}
    this._onDisconnect('server namespace disconnect');
    if (close) this.conn.close('forced close');
    return this;
  }

  /** Alias of disconnect(true). */
  close() { return this.disconnect(true); }

  _onDisconnect(reason) {
    if (!this.connected) return;
    this.emitLocal('disconnecting', reason);
    this.connected = false;
    this.namespace._remove(this);
    this.conn.sockets.delete(this._nsp);
    this._failAcks(reason);
    this.emitLocal('disconnect', reason);
    this.emitLocal('close', reason);
  }
}

/** A Socket.IO namespace on a server: 'connection' events, rooms, broadcasts. */
export class Namespace extends Emitter {
  constructor(server, name) {
    super();
    this.server = server;
    this.name = name;
    /** @type {Map<string, ServerSocket>} */
    this.sockets = new Map();
    this._middleware = [];
    /** The adapter (rooms and broadcasts; a cluster adapter reaches other servers). */
    this.adapter = server.adapterFactory ? server.adapterFactory(this) : new Adapter(this);
    for (const m of ['addAll', 'del', 'delAll', 'socketRooms', 'broadcast', 'fetchSockets', 'addSockets', 'delSockets', 'disconnectSockets', 'serverSideEmit']) {
      if (typeof this.adapter?.[m] !== 'function') throw argError(`adapter for ${name} has no ${m}() method`, 'ERR_INVALID_ARG_TYPE');
    }
    this.adapter.init?.();
  }

  /** Room registry of the in-memory adapter. */
  get registry() { return this.adapter.registry; }

  /**
   * Add a middleware run on each namespace connect: fn(socket, next); call
   * next(err) to refuse with a connect_error.
   */
  use(fn) { this._middleware.push(fn); return this; }

  _target() {
    return {
      adapter: this.adapter,
      nsp: this.name,
      ackTimeoutMs: this.server.ackTimeoutMs,
      checkEvent: (event) => { if (RESERVED_EVENTS.includes(event)) throw argError(`"${event}" is a reserved event name`, 'ERR_RESERVED_EVENT'); },
    };
  }

  /** Adapter -> local sockets: send one packet (encoded once). */
  _deliver(sockets, packet) {
    const parts = encodeSocket({ ...packet, nsp: this.name });
    for (const s of sockets) if (s.connected) try { s.conn.sendParts(parts); } catch {}
  }

  /** Adapter -> a serverSideEmit from another server (lifecycle names are ignored). */
  _onServerSideEmit(args) {
    if (!Array.isArray(args) || typeof args[0] !== 'string' || RESERVED_EVENTS.includes(args[0]) || args[0] === 'connection' || args[0] === 'listening' || args[0] === 'clientError') return;
    (this.serverSideTarget || this).emitLocal(...args);
  }

  /** Only this server's sockets. */
  get local() { return new BroadcastOperator(this._target()).local; }
  /** Broadcast acknowledgements wait `ms`: timeout(ms).emitWithAck(...) / .emit(..., cb). */
  timeout(ms) { return new BroadcastOperator(this._target()).timeout(ms); }
  /** Sockets of this namespace on every server of the cluster. */
  fetchSockets() { return new BroadcastOperator(this._target()).fetchSockets(); }
  /** Make every socket (every server) join rooms. */
  socketsJoin(room) { return new BroadcastOperator(this._target()).socketsJoin(room); }
  /** Make every socket (every server) leave rooms. */
  socketsLeave(room) { return new BroadcastOperator(this._target()).socketsLeave(room); }
  /** Disconnect every socket (every server). */
  disconnectSockets(close = false) { return new BroadcastOperator(this._target()).disconnectSockets(close); }
  /** Emit an event to the other servers of the cluster (their `on(event)` listeners); a last-argument function receives (err, responses). */
  serverSideEmit(event, ...args) {
    if (typeof event !== 'string' || RESERVED_EVENTS.includes(event) || event === 'connection') throw argError(`"${event}" cannot be emitted to other servers`, 'ERR_RESERVED_EVENT');
    this.adapter.serverSideEmit([event, ...args]);
    return true;
  }
  /** serverSideEmit and wait for one acknowledgement per other server; resolves with the responses. */
  serverSideEmitWithAck(event, ...args) {
    return new Promise((resolve, reject) => {
      this.serverSideEmit(event, ...args, (err, responses) => (err ? reject(Object.assign(err, { code: err.code || 'ETIMEDOUT', responses })) : resolve(responses)));
    });
  }

  /** Select a room for broadcasting. */
  to(room) { return new BroadcastOperator(this._target()).to(room); }
  /** Alias of to(). */
  in(room) { return this.to(room); }
  /** Exclude a room from a broadcast. */
  except(room) { return new BroadcastOperator(this._target()).except(room); }
  /**
   * Emit to every socket in the namespace ('connection', 'connect' and other
   * reserved names dispatch locally instead).
   */
  emit(event, ...args) {
    if (event === 'connection' || event === 'connect' || event === 'error' || event === 'close') return this.emitLocal(event, ...args);
    return new BroadcastOperator(this._target()).emit(event, ...args);
  }

  _remove(socket) {
    this.sockets.delete(socket.id);
    this.adapter.delAll(socket.id);
  }

  async _connect(conn, auth) {
    const socket = new ServerSocket(this, conn, { ...conn.handshake, auth: auth || {} });
    for (const fn of this._middleware) {
      const err = await new Promise((resolve) => { try { fn(socket, resolve); } catch (e) { resolve(e); } });
      if (err) {
        conn.sendPacket({ type: SIO.CONNECT_ERROR, nsp: this.name, data: { message: err.message || String(err), ...(err.data !== undefined ? { data: err.data } : {}) } });
        return;
      }
    }
    if (conn.closed) return;
    socket.connected = true;
    this.sockets.set(socket.id, socket);
    conn.sockets.set(this.name, socket);
    socket.join(socket.id);
    conn.sendPacket({ type: SIO.CONNECT, nsp: this.name, data: { sid: socket.id } });
    this.emitLocal('connection', socket);
    this.emitLocal('connect', socket);
  }
}

/** Server-side Engine.IO session over one WebSocket connection. */
export class EngineConnection {
  /**
   * @param {SocketIOServerCore} core
   * @param {import('./websocket.js').WebSocketConnection} ws
   * @param {object} handshake
   */
  constructor(core, ws, handshake, { upgrades = [] } = {}) {
    this.core = core;
    this.handshake = handshake;
    this.id = newId();
    /** @type {Map<string, ServerSocket>} */
    this.sockets = new Map();
    this.closed = false;
    this.closeReason = null;
    this.decoder = new SocketDecoder((p) => this.#onSocketPacket(p));
    this.#bind(ws);
    /** The long-polling transport this session started on, if any. */
    this.polling = typeof ws.onPoll === 'function' ? ws : null;
    ws.send(encodeEngine(EIO.OPEN, JSON.stringify({ sid: this.id, upgrades, pingInterval: core.pingInterval, pingTimeout: core.pingTimeout, maxPayload: core.maxPayload })));
    this.#schedulePing();
    // Like socket.io's connectTimeout: a session that joins no namespace in
    // time is closed (it would otherwise hold a connection by answering pings).
    if (core.connectTimeoutMs > 0) {
      this.#connectTimer = setTimeout(() => { if (!this.sockets.size) this.close('connect timeout'); }, core.connectTimeoutMs);
    }
  }

  #connectTimer = null;

  /** The current transport: a WebSocketConnection or a PollingTransport. */
  ws;
  #unbind = null;

  #bind(transport) {
    if (this.#unbind) this.#unbind();
    this.ws = transport;
    transport.binaryType = this.core.binaryType;
    const onMessage = (d) => this.#onEngine(d);
    const onClose = () => { if (this.ws === transport) this.#onClose(this.closeReason || 'transport close'); };
    const onError = (err) => { if (this.ws !== transport) return; this.closeReason ||= 'transport error'; this.core.emitError(err, this); };
    transport.on('message', onMessage);
    transport.on('close', onClose);
    transport.on('error', onError);
    // After an upgrade the old transport keeps delivering messages (a polling
    // POST may still be in flight); only its close/error stop mattering.
    this.#unbind = () => { transport.off('close', onClose); transport.off('error', onError); };
  }

  /**
   * Engine.IO upgrade from polling to WebSocket: answer the probe, switch on
   * the client's UPGRADE packet, and retire the polling transport.
   * @param {import('./websocket.js').WebSocketConnection} ws
   */
  upgrade(ws) {
    ws.binaryType = this.core.binaryType;
    const timer = setTimeout(() => ws.terminate(), this.core.pingTimeout);
    const onProbe = (d) => {
      if (d === '2probe') { ws.send('3probe'); this.ws.sendNoop?.(); return; }
      if (d === EIO.UPGRADE) {
        clearTimeout(timer);
        ws.off('message', onProbe);
        const old = this.ws;
        this.#bind(ws);
        for (const packet of old.retire?.() || []) ws.send(packet);
        return;
      }
      clearTimeout(timer);
      ws.off('message', onProbe);
      ws.close(1002, 'invalid upgrade');
    };
    ws.on('message', onProbe);
  }

  #pingTimer = null; #pongTimer = null;

  #schedulePing() {
    this.#pingTimer = setTimeout(() => {
      if (this.closed) return;
      try { this.ws.send(EIO.PING); } catch { return; }
      this.#pongTimer = setTimeout(() => this.close('ping timeout', true), this.core.pingTimeout);
    }, this.core.pingInterval);
  }

  /** Encode and send one Socket.IO packet. */
  sendPacket(packet) { this.sendParts(encodeSocket(packet)); }

  /** Send pre-encoded Socket.IO parts (text packet, then binary attachments). */
  sendParts(parts) {
    if (this.closed || this.ws.readyState !== 1) throw closedError('Socket.IO send');
    this.ws.send(encodeEngine(EIO.MESSAGE, parts[0]));
    for (const b of parts.slice(1)) this.ws.send(b);
  }

  #onEngine(data) {
    try {
      const pkt = decodeEngine(data);
      switch (pkt.type) {
        case EIO.PONG:
          clearTimeout(this.#pongTimer);
          this.#schedulePing();
          return;
        case EIO.PING:
          this.ws.send(encodeEngine(EIO.PONG, pkt.data));
          return;
        case EIO.CLOSE:
          this.close('transport close');
          return;
        case EIO.NOOP: return;
        case EIO.MESSAGE:
          if (typeof pkt.data === 'string' && this.core.maxNestingDepth && jsonTooDeep(pkt.data, this.core.maxNestingDepth)) {
            throw new SocketIWAError('ERR_SOCKETIO_TOO_DEEP', `packet JSON nests deeper than maxNestingDepth ${this.core.maxNestingDepth}`);
          }
          this.decoder.add(pkt.data);
          return;
        default:
          throw new ProtocolError(`unexpected Engine.IO packet type ${pkt.type}`);
      }
    } catch (err) {
      const e = err instanceof SocketIWAError ? err : new ProtocolError(String(err && err.message));
      this.core.emitError(e, this);
      this.close('parse error', false, 4002);
    }
  }

  #onSocketPacket(p) {
    const socket = this.sockets.get(p.nsp);
    if (p.type === SIO.CONNECT) {
      if (socket) throw new ProtocolError(`already connected to ${p.nsp}`);
      const nsp = this.core.namespaces.get(p.nsp);
      if (!nsp) { this.sendPacket({ type: SIO.CONNECT_ERROR, nsp: p.nsp, data: { message: 'Invalid namespace' } }); return; }
      nsp._connect(this, p.data).catch((err) => this.core.emitError(err, this));
      return;
    }
    if (!socket) return; // packets for a namespace we are not connected to are ignored, like socket.io
    if (p.type === SIO.DISCONNECT) { socket._onDisconnect('client namespace disconnect'); return; }
    if (p.type === SIO.CONNECT_ERROR) throw new ProtocolError('CONNECT_ERROR from a client');
    socket._onPacket(p);
  }

  /**
   * Close the session: sockets get `reason` as their disconnect reason.
   * @param {string} reason
   * @param {boolean} [terminate] drop without the WebSocket closing handshake
   * @param {number} [code] WebSocket close code
   */
  close(reason, terminate = false, code = 1000) {
    if (this.closed) return;
    this.closeReason = reason;
    for (const s of [...this.sockets.values()]) s._onDisconnect(reason);
    this.closed = true;
    clearTimeout(this.#pingTimer); clearTimeout(this.#pongTimer); clearTimeout(this.#connectTimer);
    if (terminate) this.ws.terminate();
    else if (this.ws.readyState === 1) this.ws.close(code, reason.slice(0, 100));
  }

  #onClose(reason) {
    if (!this.closed) this.close(reason);
    this.core.connections.delete(this.id);
  }
}

/** Namespaces, ping settings and Engine.IO sessions of a Socket.IO server. */
export class SocketIOServerCore {
  /**
   * @param {{pingInterval?: number, pingTimeout?: number, maxPayload?: number, ackTimeoutMs?: number, binaryType?: string, onError?: Function}} opts
   */
  constructor(opts = {}) {
    this.pingInterval = opts.pingInterval ?? 25000;
    this.pingTimeout = opts.pingTimeout ?? 20000;
    this.maxPayload = opts.maxPayload ?? 1000000;
    /** A session must join a namespace within this time (ms; 0: no limit), like socket.io's connectTimeout. */
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 45000;
    /** Deepest JSON nesting accepted from a client (0: no limit). */
    this.maxNestingDepth = opts.maxNestingDepth ?? DEFAULT_MAX_NESTING_DEPTH;
    this.ackTimeoutMs = opts.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    this.binaryType = opts.binaryType || 'arraybuffer';
    this.onError = opts.onError || (() => {});
    if (opts.adapter !== undefined && typeof opts.adapter !== 'function') throw argError('adapter must be a function (namespace) => Adapter, e.g. createAdapter(pub, sub) from api/adapter_redis.js', 'ERR_INVALID_ARG_TYPE');
    /** (namespace) => Adapter; the in-memory Adapter when unset. */
    this.adapterFactory = opts.adapter;
    /** @type {Map<string, Namespace>} */
    this.namespaces = new Map();
    /** @type {Map<string, EngineConnection>} */
    this.connections = new Map();
    this.of('/');
  }

  /** Get or create a namespace. */
  of(name) {
    if (typeof name !== 'string' || !name.startsWith('/')) throw argError(`namespace must be a string starting with "/", got ${JSON.stringify(name)}`);
    let nsp = this.namespaces.get(name);
    if (!nsp) { nsp = new Namespace(this, name); this.namespaces.set(name, nsp); }
    return nsp;
  }

  /** Start an Engine.IO session on an accepted WebSocket. */
  accept(ws, handshake, opts) {
    const conn = new EngineConnection(this, ws, handshake, opts);
    this.connections.set(conn.id, conn);
    return conn;
  }

  /** Report a protocol / transport error of a session. */
  emitError(err, conn) { this.onError(err, conn); }

  /** Close every session ('server shutting down'). */
  closeAll() {
    for (const c of [...this.connections.values()]) c.close('server shutting down');
    for (const nsp of this.namespaces.values()) try { nsp.adapter.close?.(); } catch {}
  }
}
