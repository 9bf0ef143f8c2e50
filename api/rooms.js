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

/**
 * server.to(room) / .in(room) / .except(room) chains; emit() / send() deliver
 * to the selected connections.
 */
export class BroadcastOperator {
  /**
   * @param {{registry: RoomRegistry, members: () => Map<string, any>, deliverEvent?: (members: any[], event: string, args: any[]) => void}} target
   */
  constructor(target, rooms = new Set(), except = new Set()) {
    this.target = target;
    this.rooms = rooms;
    this.exceptRooms = except;
  }

  /** Select a room (chainable, union of rooms). */
  to(room) { const r = new Set(this.rooms); for (const x of [room].flat()) r.add(String(x)); return new BroadcastOperator(this.target, r, this.exceptRooms); }
  /** Alias of to(). */
  in(room) { return this.to(room); }
  /** Exclude a room or member id. */
  except(room) { const e = new Set(this.exceptRooms); for (const x of [room].flat()) e.add(String(x)); return new BroadcastOperator(this.target, this.rooms, e); }

  /** The selected connections. */
  members() {
    const all = this.target.members();
    return [...this.target.registry.select(this.rooms, this.exceptRooms, all.keys())].map((id) => all.get(id)).filter(Boolean);
  }

  /** Emit a named event (Socket.IO mode) to every selected connection. */
  emit(event, ...args) {
    if (!this.target.deliverEvent) {
      const e = new TypeError('named events need protocol "socket.io"; use send() in this mode');
      e.code = 'ERR_PROTOCOL_MODE';
      throw e;
    }
    if (typeof args[args.length - 1] === 'function') {
      const e = new TypeError('acknowledgements are not supported when broadcasting');
      e.code = 'ERR_BROADCAST_ACK';
      throw e;
    }
    this.target.deliverEvent(this.members(), event, args);
    return true;
  }

  /** Send a raw / WebSocket message to every selected connection. */
  send(data) {
    let n = 0;
    for (const m of this.members()) { if (m.readyState === 1) { m.send(data); n++; } }
    return n;
  }
}
