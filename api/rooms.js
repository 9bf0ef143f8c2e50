// Room membership for server-side connections (Socket.IO-style adapter) and
// the broadcast operator behind server.to(room).emit(...).

/** Tracks which member ids are in which rooms. */
export class RoomRegistry {
  constructor() {
    /** @type {Map<string, Set<string>>} room -> member ids */
    this.rooms = new Map();
    /** @type {Map<string, Set<string>>} member id -> rooms */
    this.memberRooms = new Map();
  }

  /** Add member `id` to rooms. */
  join(id, ...rooms) {
    let mine = this.memberRooms.get(id);
    if (!mine) { mine = new Set(); this.memberRooms.set(id, mine); }
    for (const room of rooms.flat()) {
      if (typeof room !== 'string' && typeof room !== 'number') throw new TypeError('room names must be strings or numbers');
      const r = String(room);
      mine.add(r);
      let set = this.rooms.get(r);
      if (!set) { set = new Set(); this.rooms.set(r, set); }
      set.add(id);
    }
  }

  /** Remove member `id` from one room. */
  leave(id, room) {
    const r = String(room);
    this.memberRooms.get(id)?.delete(r);
    const set = this.rooms.get(r);
    if (set) { set.delete(id); if (!set.size) this.rooms.delete(r); }
  }

  /** Remove member `id` from every room. */
  leaveAll(id) {
    for (const r of this.memberRooms.get(id) || []) this.leave(id, r);
    this.memberRooms.delete(id);
  }

  /** Rooms of a member. */
  roomsOf(id) { return new Set(this.memberRooms.get(id) || []); }

  /**
   * Member ids selected by rooms (all members when none) minus excluded rooms/ids.
   * @param {Set<string>} rooms
   * @param {Set<string>} except
   * @param {Iterable<string>} all
   */
  select(rooms, except, all) {
    const out = new Set();
    if (rooms.size) { for (const r of rooms) for (const id of this.rooms.get(r) || []) out.add(id); }
    else for (const id of all) out.add(id);
    for (const r of except) {
      for (const id of this.rooms.get(r) || []) out.delete(id);
      out.delete(r);
    }
    return out;
  }
}

/** Socket.IO packet type of an event (the adapter's packets are Socket.IO packets, as in socket.io-adapter). */
const EVENT = 2;

function unsupported(what) {
  const e = new Error(`this adapter does not support the ${what}() functionality`);
  e.code = 'ERR_ADAPTER_UNSUPPORTED';
  return e;
}

/**
 * The in-memory Socket.IO adapter (the default): room membership of one
 * namespace and delivery of broadcasts to its local sockets. Same interface
 * as socket.io-adapter's Adapter, so a cluster adapter (api/adapter_redis.js)
 * extends it and adds the inter-server part. `opts` everywhere is
 * {rooms: Set<string>, except: Set<string>, flags: {local?, volatile?, compress?}}.
 * The namespace passed in has `name`, `sockets` (Map id -> ServerSocket),
 * `_deliver(sockets, packet)` and `_onServerSideEmit(args)`.
 */
export class Adapter {
  constructor(nsp) {
    this.nsp = nsp;
    this.registry = new RoomRegistry();
  }

  /** Map room -> Set of socket ids (as socket.io-adapter's `rooms`). */
  get rooms() { return this.registry.rooms; }
  /** Map socket id -> Set of rooms (as socket.io-adapter's `sids`). */
  get sids() { return this.registry.memberRooms; }

  /** Called once after construction. */
  init() {}
  /** Called when the server closes. */
  close() {}
  /** Number of servers in the cluster (1 here). */
  async serverCount() { return 1; }

  /** Add socket `id` to rooms. */
  addAll(id, rooms) { this.registry.join(id, ...rooms); }
  /** Remove socket `id` from a room. */
  del(id, room) { this.registry.leave(id, room); }
  /** Remove socket `id` from every room. */
  delAll(id) { this.registry.leaveAll(id); }
  /** Rooms of socket `id`. */
  socketRooms(id) { return this.registry.roomsOf(id); }

  /** Local sockets selected by opts. */
  _select(opts) {
    const all = this.nsp.sockets;
    const ids = this.registry.select(opts.rooms || new Set(), opts.except || new Set(), all.keys());
    return [...ids].map((id) => all.get(id)).filter((s) => s && s.connected);
  }

  /** Deliver a packet ({type, data, nsp}) to the local sockets selected by opts. */
  broadcast(packet, opts) { this.nsp._deliver(this._select(opts), packet); }
  /**
   * Deliver a packet to the selected local sockets, each with its own ack id:
   * clientCountCallback(n) once, then ack(firstArgument) per client answer.
   */
  broadcastWithAck(packet, opts, clientCountCallback, ack) {
    const [event, ...args] = packet.data;
    let n = 0;
    for (const s of this._select(opts)) {
      try { s.emit(String(event), ...args, (...res) => ack(res[0])); n++; } catch {} // reserved name or socket gone: not counted
    }
    clientCountCallback(n);
  }
  /** Ids of local sockets in any of `rooms` (all when empty). */
  async sockets(rooms) { return new Set(this._select({ rooms, except: new Set() }).map((s) => s.id)); }
  /** Local sockets selected by opts. */
  async fetchSockets(opts) { return this._select(opts); }
  /** Make the selected sockets join rooms. */
  addSockets(opts, rooms) { for (const s of this._select(opts)) s.join([...rooms]); }
  /** Make the selected sockets leave rooms. */
  delSockets(opts, rooms) { for (const s of this._select(opts)) for (const r of rooms) s.leave(r); }
  /** Disconnect the selected sockets (close: also their connection). */
  disconnectSockets(opts, close) { for (const s of this._select(opts)) s.disconnect(close); }
  /** Emit to the other servers: needs a cluster adapter. */
  serverSideEmit() { throw unsupported('serverSideEmit'); }
}

/**
 * A socket on another server of the cluster, as returned by fetchSockets()
 * (socket.io's RemoteSocket): id, handshake, rooms, data, and emit / join /
 * leave / disconnect that travel through the adapter.
 */
export class RemoteSocket {
  #adapter;
  constructor(adapter, details) {
    this.#adapter = adapter;
    this.id = details.id;
    this.handshake = details.handshake;
    this.rooms = new Set(details.rooms);
    this.data = details.data;
  }
  #op() { return new BroadcastOperator({ adapter: this.#adapter, nsp: this.#adapter.nsp.name }, new Set([this.id])); }
  /** Emit an event to this socket. */
  emit(event, ...args) { return this.#op().emit(event, ...args); }
  /** Make this socket join rooms. */
  join(room) { this.#op().socketsJoin(room); }
  /** Make this socket leave rooms. */
  leave(room) { this.#op().socketsLeave(room); }
  /** Disconnect this socket. */
  disconnect(close = false) { this.#op().disconnectSockets(close); return this; }
}

/**
 * server.to(room) / .in(room) / .except(room) chains; emit() / send() deliver
 * to the selected connections. In Socket.IO mode the target carries the
 * namespace's adapter and everything goes through it (so a cluster adapter
 * reaches the other servers); raw / WebSocket mode selects local connections.
 */
export class BroadcastOperator {
  /**
   * @param {{registry?: RoomRegistry, members?: () => Map<string, any>, adapter?: Adapter, nsp?: string, checkEvent?: (event: string) => void}} target
   */
  constructor(target, rooms = new Set(), except = new Set(), flags = {}) {
    this.target = target;
    this.rooms = rooms;
    this.exceptRooms = except;
    this.flags = flags;
  }

  /** Select a room (chainable, union of rooms). */
  to(room) { const r = new Set(this.rooms); for (const x of [room].flat()) r.add(String(x)); return new BroadcastOperator(this.target, r, this.exceptRooms, this.flags); }
  /** Alias of to(). */
  in(room) { return this.to(room); }
  /** Exclude a room or member id. */
  except(room) { const e = new Set(this.exceptRooms); for (const x of [room].flat()) e.add(String(x)); return new BroadcastOperator(this.target, this.rooms, e, this.flags); }
  /** Only this server's sockets (Socket.IO cluster). */
  get local() { return new BroadcastOperator(this.target, this.rooms, this.exceptRooms, { ...this.flags, local: true }); }
  /** Mark the broadcast volatile (forwarded to the adapter as socket.io does). */
  get volatile() { return new BroadcastOperator(this.target, this.rooms, this.exceptRooms, { ...this.flags, volatile: true }); }
  /** The compress flag (forwarded to the adapter as socket.io does). */
  compress(on) { return new BroadcastOperator(this.target, this.rooms, this.exceptRooms, { ...this.flags, compress: !!on }); }
  /** Socket.IO: how long emit(..., cb) / emitWithAck wait for the clients' acknowledgements (ms). */
  timeout(ms) {
    if (!Number.isFinite(ms) || ms < 0) { const e = new TypeError('timeout must be a non-negative number of ms'); e.code = 'ERR_INVALID_ARG_VALUE'; throw e; }
    return new BroadcastOperator(this.target, this.rooms, this.exceptRooms, { ...this.flags, timeout: ms });
  }

  #opts() { return { rooms: new Set(this.rooms), except: new Set(this.exceptRooms), flags: { ...this.flags } }; }

  #adapter(what) {
    if (!this.target.adapter) {
      const e = new TypeError(`${what} need${what.endsWith('s') ? '' : 's'} protocol "socket.io"${what === 'named events' ? '; use send() in this mode' : ''}`);
      e.code = 'ERR_PROTOCOL_MODE';
      throw e;
    }
    return this.target.adapter;
  }

  /** The selected local connections. */
  members() {
    if (this.target.adapter) return this.target.adapter._select(this.#opts());
    const all = this.target.members();
    return [...this.target.registry.select(this.rooms, this.exceptRooms, all.keys())].map((id) => all.get(id)).filter(Boolean);
  }

  /**
   * Emit a named event (Socket.IO mode) to every selected socket, on every
   * server of the cluster. A function as last argument collects one
   * acknowledgement per client, as socket.io does: cb(null, responses), or
   * cb(err with code ETIMEDOUT, responses so far) after timeout(ms) (default
   * the server's ackTimeoutMs).
   */
  emit(event, ...args) {
    const adapter = this.#adapter('named events');
    this.target.checkEvent?.(event);
    if (typeof args[args.length - 1] !== 'function') {
      adapter.broadcast({ type: EVENT, data: [event, ...args], nsp: this.target.nsp }, this.#opts());
      return true;
    }
    const cb = args.pop();
    const opts = this.#opts();
    opts.flags.timeout ??= this.target.ackTimeoutMs ?? 10000;
    const responses = [];
    let done = false, servers = -1, answered = 0, clients = 0;
    const finish = (err) => { if (done) return; done = true; clearTimeout(timer); cb(err, responses); };
    const timer = setTimeout(() => {
      const e = new Error(`broadcast acknowledgements: ${responses.length} of ${servers < 0 || answered < servers ? 'an unknown number of' : clients} clients answered within ${opts.flags.timeout} ms`);
      e.code = 'ETIMEDOUT';
      e.responses = responses;
      finish(e);
    }, opts.flags.timeout);
    const check = () => { if (servers >= 0 && answered >= servers && responses.length >= clients) finish(null); };
    adapter.broadcastWithAck({ type: EVENT, data: [event, ...args], nsp: this.target.nsp }, opts,
      (n) => { clients += n; answered++; check(); },
      (response) => { if (!done) { responses.push(response); check(); } });
    Promise.resolve(adapter.serverCount ? adapter.serverCount() : 1).then((n) => { servers = n; check(); }, (err) => finish(err));
    return true;
  }

  /** emit() with acknowledgements as a Promise: resolves with the responses, rejects ETIMEDOUT (err.responses holds the partial list). */
  emitWithAck(event, ...args) {
    return new Promise((resolve, reject) => {
      this.emit(event, ...args, (err, responses) => (err ? reject(err) : resolve(responses)));
    });
  }

  /** Send a raw / WebSocket message to every selected connection (Socket.IO: emit('message', data)). */
  send(data) {
    if (this.target.adapter) return this.emit('message', data);
    let n = 0;
    for (const m of this.members()) { if (m.readyState === 1) { m.send(data); n++; } }
    return n;
  }

  /** Socket.IO: the selected sockets on every server (local ones as ServerSocket, others as RemoteSocket). */
  async fetchSockets() {
    const adapter = this.#adapter('fetchSockets()');
    const list = await adapter.fetchSockets(this.#opts());
    return list.map((s) => (typeof s._sendPacket === 'function' ? s : new RemoteSocket(adapter, s)));
  }
  /** Socket.IO: make the selected sockets (every server) join rooms. */
  socketsJoin(room) { this.#adapter('socketsJoin()').addSockets(this.#opts(), [room].flat().map(String)); }
  /** Socket.IO: make the selected sockets (every server) leave rooms. */
  socketsLeave(room) { this.#adapter('socketsLeave()').delSockets(this.#opts(), [room].flat().map(String)); }
  /** Socket.IO: disconnect the selected sockets (every server). */
  disconnectSockets(close = false) { this.#adapter('disconnectSockets()').disconnectSockets(this.#opts(), !!close); }
}
