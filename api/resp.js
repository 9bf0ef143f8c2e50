// A small Redis client (RESP2) over Socket.IWA's own TCP (Direct Sockets
// TCPSocket), so it runs inside an Isolated Web App and under Node through
// node/direct-sockets.js. It covers what the Socket.IO Redis adapter needs:
// commands (PUBLISH, PUBSUB NUMSUB, AUTH, SELECT, PING, ...), Pub/Sub
// (SUBSCRIBE / PSUBSCRIBE with listeners) and reconnection with
// re-subscription. Why we wrote one instead of using an npm client: see
// docs/REDIS.md ("The RESP client").

import { Emitter } from './emitter.js';
import { SocketIWAError, argError } from './errors.js';
import { createTCP } from './tcp.js';
import { validateHost, validatePort } from './validate.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const CR = 13, LF = 10;

/** An error reply from Redis (`-ERR ...`): code ERR_REDIS_REPLY, `reply` holds the text. */
export class RedisReplyError extends SocketIWAError {
  constructor(reply) { super('ERR_REDIS_REPLY', `Redis replied: ${reply}`); this.name = 'RedisReplyError'; this.reply = reply; }
}

/** Malformed RESP from the server: code ERR_REDIS_PROTOCOL (the connection is dropped). */
export class RedisProtocolError extends SocketIWAError {
  constructor(message) { super('ERR_REDIS_PROTOCOL', message); this.name = 'RedisProtocolError'; }
}

const INCOMPLETE = Symbol('incomplete');

/**
 * Incremental RESP2 reply parser. Bulk strings come out as Uint8Array (null
 * for nil), simple strings as strings, integers as numbers, errors as
 * RedisReplyError values, arrays as arrays. Limits: one line <= 64 KiB, one
 * bulk string <= maxBulkBytes, nesting <= 8 (Pub/Sub needs 1).
 */
export class RespParser {
  #buf = new Uint8Array(0); #pos = 0; #need = 0; #held = []; #heldLen = 0;

  /** @param {(reply: any) => void} onReply @param {{maxBulkBytes?: number}} [opts] */
  constructor(onReply, opts = {}) {
    this.onReply = onReply;
    this.maxBulkBytes = opts.maxBulkBytes ?? 64 * 1024 * 1024;
  }

  /** Feed bytes; calls onReply for every complete reply. Throws RedisProtocolError. */
  push(chunk) {
    // While a bulk string of known length is incomplete, chunks are only held
    // (one copy when it is complete: linear in its size, not quadratic).
    this.#held.push(chunk); this.#heldLen += chunk.length;
    const rest = this.#buf.length - this.#pos;
    if (rest + this.#heldLen < this.#need) return;
    if (rest === 0 && this.#held.length === 1) this.#buf = this.#held[0];
    else {
      const b = new Uint8Array(rest + this.#heldLen);
      b.set(this.#buf.subarray(this.#pos));
      let o = rest;
      for (const c of this.#held) { b.set(c, o); o += c.length; }
      this.#buf = b;
    }
    this.#held = []; this.#heldLen = 0;
    this.#pos = 0;
    this.#need = 0;
    while (this.#pos < this.#buf.length) {
      const r = this.#value(this.#pos, 0);
      if (r === INCOMPLETE) return;
      this.#pos = r[1];
      this.onReply(r[0]);
    }
  }

  #line(pos) {
    const b = this.#buf;
    for (let i = pos; i < b.length - 1; i++) if (b[i] === CR && b[i + 1] === LF) return [dec.decode(b.subarray(pos, i)), i + 2];
    if (b.length - pos > 65536) throw new RedisProtocolError('RESP line longer than 64 KiB');
    return INCOMPLETE;
  }

  #int(s) {
    if (!/^-?\d{1,15}$/.test(s)) throw new RedisProtocolError(`bad RESP integer ${JSON.stringify(s.slice(0, 40))}`);
    return Number(s);
  }

  #value(pos, depth) {
    if (depth > 8) throw new RedisProtocolError('RESP arrays nested deeper than 8');
    const l = this.#line(pos + 1);
    if (l === INCOMPLETE) return INCOMPLETE;
    const [text, next] = l;
    switch (this.#buf[pos]) {
      case 0x2b: return [text, next]; // +
      case 0x2d: return [new RedisReplyError(text), next]; // -
      case 0x3a: return [this.#int(text), next]; // :
      case 0x24: { // $
        const n = this.#int(text);
        if (n === -1) return [null, next];
        if (n < 0 || n > this.maxBulkBytes) throw new RedisProtocolError(`RESP bulk string of ${n} bytes (limit ${this.maxBulkBytes})`);
        if (this.#buf.length < next + n + 2) { this.#need = Math.max(this.#need, next + n + 2 - this.#pos); return INCOMPLETE; }
        if (this.#buf[next + n] !== CR || this.#buf[next + n + 1] !== LF) throw new RedisProtocolError('RESP bulk string not terminated by CRLF');
        return [this.#buf.slice(next, next + n), next + n + 2];
      }
      case 0x2a: { // *
        const n = this.#int(text);
        if (n === -1) return [null, next];
        if (n < 0 || n > 1024 * 1024) throw new RedisProtocolError(`RESP array of ${n} elements`);
        const out = [];
        let p = next;
        for (let i = 0; i < n; i++) {
          const r = this.#value(p, depth + 1);
          if (r === INCOMPLETE) return INCOMPLETE;
          out.push(r[0]); p = r[1];
        }
        return [out, p];
      }
      default:
        throw new RedisProtocolError(`unknown RESP type byte 0x${this.#buf[pos].toString(16)}`);
    }
  }
}

/** Encode a command as a RESP array of bulk strings (strings as UTF-8). */
export function encodeCommand(args) {
  const parts = [];
  let size = 0;
  const head = enc.encode(`*${args.length}\r\n`);
  parts.push(head); size += head.length;
  for (const a of args) {
    let b;
    if (typeof a === 'string') b = enc.encode(a);
    else if (typeof a === 'number' && Number.isFinite(a)) b = enc.encode(String(a));
    else if (a instanceof Uint8Array) b = a;
    else if (ArrayBuffer.isView(a)) b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    else if (a instanceof ArrayBuffer) b = new Uint8Array(a);
    else throw argError(`Redis command arguments must be strings, finite numbers or bytes, got ${a === null ? 'null' : typeof a}`, 'ERR_INVALID_ARG_TYPE');
    const h = enc.encode(`$${b.length}\r\n`);
    parts.push(h, b, enc.encode('\r\n')); size += h.length + b.length + 2;
  }
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

const asText = (v) => (v instanceof Uint8Array ? dec.decode(v) : String(v));

/**
 * A Redis connection. Events: 'ready' (connected and authenticated, again
 * after each reconnection), 'reconnecting' ({attempt, delayMs}), 'error'
 * (connection errors; commands also reject with them), 'end' (closed for good).
 * While disconnected, commands reject at once with code ECONNRESET /
 * ECONNREFUSED (no offline queue: a broadcast is not replayed late); Pub/Sub
 * subscriptions are restored on every reconnection.
 */
export class RedisClient extends Emitter {
  #opts; #conn = null; #pending = []; #parser = null; #closed = false; #connecting = null;
  #channels = new Map(); #patterns = new Map(); #attempt = 0; #retryTimer = null; #lastError = null;

  /**
   * @param {{host?: string, port?: number, username?: string, password?: string, db?: number,
   *   connectTimeoutMs?: number, reconnect?: false | {minDelayMs?: number, maxDelayMs?: number},
   *   maxBulkBytes?: number}} [opts]
   */
  constructor(opts = {}) {
    super();
    if (opts === null || typeof opts !== 'object') throw argError('Redis options must be an object', 'ERR_INVALID_ARG_TYPE');
    const o = { host: '127.0.0.1', port: 6379, connectTimeoutMs: 5000, ...opts };
    validateHost(o.host, 'host');
    validatePort(o.port, 'port');
    if (o.db !== undefined && (!Number.isInteger(o.db) || o.db < 0)) throw argError(`db must be a non-negative integer, got ${JSON.stringify(o.db)}`);
    if (o.password !== undefined && typeof o.password !== 'string') throw argError('password must be a string', 'ERR_INVALID_ARG_TYPE');
    if (o.username !== undefined && typeof o.username !== 'string') throw argError('username must be a string', 'ERR_INVALID_ARG_TYPE');
    const rc = o.reconnect === false ? false : { minDelayMs: 100, maxDelayMs: 2000, ...(o.reconnect || {}) };
    if (rc && !(rc.minDelayMs > 0 && rc.maxDelayMs >= rc.minDelayMs)) throw argError('reconnect needs 0 < minDelayMs <= maxDelayMs');
    o.reconnect = rc;
    this.#opts = o;
  }

  /** Connection options (a copy). */
  get options() { return { ...this.#opts }; }
  /** true while connected and authenticated. */
  get isReady() { return this.#conn !== null && this.#connecting === null; }

  /** A new, unconnected client with the same options (for a subscriber connection). */
  duplicate(overrides = {}) { return new RedisClient({ ...this.#opts, ...overrides }); }

  /** Connect (resolves once AUTH/SELECT succeeded). Rejects with a coded error. */
  connect() {
    if (this.#closed) return Promise.reject(new SocketIWAError('ERR_SOCKET_CLOSED', 'Redis client is closed'));
    if (this.#conn && !this.#connecting) return Promise.resolve(this);
    return this.#connecting || this.#open();
  }

  #open() {
    const p = (async () => {
      const { host, port, connectTimeoutMs } = this.#opts;
      const conn = await createTCP(host, port, { protocol: 'raw', binaryType: 'uint8array', connectTimeoutMs });
      if (this.#closed) { conn.close(); throw new SocketIWAError('ERR_SOCKET_CLOSED', 'Redis client is closed'); }
      this.#conn = conn;
      this.#parser = new RespParser((r) => this.#onReply(r), { maxBulkBytes: this.#opts.maxBulkBytes });
      conn.on('message', (b) => {
        try { this.#parser.push(b); } catch (err) { this.#lastError = err; this.emitLocal('error', err); conn.close(); }
      });
      let gone = false;
      const onGone = (err) => { if (gone) return; gone = true; this.#onDisconnect(conn, err); };
      conn.on('error', (err) => { this.#lastError = err; onGone(err); });
      conn.on('close', () => onGone(null));
      conn.on('end', () => onGone(null));
      const { username, password, db } = this.#opts;
      if (password !== undefined) await this.#send(username !== undefined ? ['AUTH', username, password] : ['AUTH', password]);
      if (db) await this.#send(['SELECT', db]);
      for (const ch of this.#channels.keys()) await this.#send(['SUBSCRIBE', ch]);
      for (const pat of this.#patterns.keys()) await this.#send(['PSUBSCRIBE', pat]);
      return this;
    })();
    this.#connecting = p;
    p.then(() => {
      if (this.#connecting === p) this.#connecting = null;
      this.#attempt = 0;
      this.emitLocal('ready');
    }, (err) => {
      if (this.#connecting === p) this.#connecting = null;
      if (this.#conn) { try { this.#conn.close(); } catch {} }
      this.#lastError = err;
      if (!this.#closed) this.#scheduleReconnect();
    });
    return p;
  }

  #scheduleReconnect() {
    const rc = this.#opts.reconnect;
    if (!rc || this.#closed || this.#retryTimer) return;
    const delayMs = Math.min(rc.maxDelayMs, rc.minDelayMs * 2 ** Math.min(this.#attempt, 16));
    this.#attempt++;
    this.emitLocal('reconnecting', { attempt: this.#attempt, delayMs });
    this.#retryTimer = setTimeout(() => { this.#retryTimer = null; if (!this.#closed && !this.#conn && !this.#connecting) this.#open().catch(() => {}); }, delayMs);
  }

  #onDisconnect(conn, err) {
    if (this.#conn !== conn) return;
    this.#conn = null;
    this.#parser = null;
    const reason = new SocketIWAError(err?.code || 'ECONNRESET', `Redis connection to ${this.#opts.host}:${this.#opts.port} lost${err ? `: ${err.message}` : ''}`, { cause: err || undefined });
    const pending = this.#pending; this.#pending = [];
    for (const p of pending) p.reject(reason);
    if (this.#closed) { this.emitLocal('end'); return; }
    if (this.listenerCount('error')) this.emitLocal('error', reason);
    this.#scheduleReconnect();
  }

  #onReply(r) {
    // Pub/Sub pushes in RESP2 are arrays whose first element names the kind.
    if (Array.isArray(r) && r.length >= 3 && r[0] instanceof Uint8Array) {
      const kind = asText(r[0]);
      if (kind === 'message' && r.length === 3) { this.#deliver(this.#channels.get(asText(r[1])), r[2], asText(r[1])); return; }
      if (kind === 'pmessage' && r.length === 4) { this.#deliver(this.#patterns.get(asText(r[1])), r[3], asText(r[2])); return; }
    }
    const p = this.#pending.shift();
    if (!p) { this.emitLocal('error', new RedisProtocolError('reply without a pending command')); this.#conn?.close(); return; }
    if (r instanceof RedisReplyError) p.reject(r); else p.resolve(r);
  }

  #deliver(listeners, message, channel) {
    for (const fn of listeners || []) {
      try { fn(message, channel); } catch (err) { this.emitLocal('error', err); }
    }
  }

  #send(args) {
    const conn = this.#conn;
    if (!conn) {
      const e = this.#lastError;
      return Promise.reject(new SocketIWAError(this.#closed ? 'ERR_SOCKET_CLOSED' : (e?.code || 'ECONNRESET'), `Redis is not connected (${this.#opts.host}:${this.#opts.port})${e ? `: ${e.message}` : ''}`));
    }
    let bytes;
    try { bytes = encodeCommand(args); } catch (err) { return Promise.reject(err); }
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      try { conn.send(bytes); } catch (err) { this.#pending.pop(); reject(err); }
    });
  }

  /**
   * Send one command; resolves with the reply (bulk strings as Uint8Array),
   * rejects with RedisReplyError for an error reply or a coded connection error.
   * @param {...(string|number|Uint8Array)} args
   */
  async command(...args) {
    if (!args.length) throw argError('command needs a name', 'ERR_INVALID_ARG_VALUE');
    if (this.#connecting) await this.#connecting.catch(() => {});
    return this.#send(args);
  }

  /** PUBLISH; resolves with the number of receivers. */
  publish(channel, message) { return this.command('PUBLISH', channel, message); }

  /** PUBSUB NUMSUB for one channel; resolves with the subscriber count. */
  async numsub(channel) {
    const r = await this.command('PUBSUB', 'NUMSUB', channel);
    return Number(r?.[1] ?? 0);
  }

  /**
   * Subscribe `listener(message: Uint8Array, channel: string)` to a channel.
   * A client with subscriptions only takes Pub/Sub commands (use a separate
   * client for PUBLISH, as Redis requires).
   */
  async subscribe(channel, listener) { return this.#sub(this.#channels, 'SUBSCRIBE', channel, listener); }
  /** Subscribe to a glob pattern: listener(message, channel). */
  async psubscribe(pattern, listener) { return this.#sub(this.#patterns, 'PSUBSCRIBE', pattern, listener); }
  /** Remove a listener (all when omitted); UNSUBSCRIBE when none remain. */
  async unsubscribe(channel, listener) { return this.#unsub(this.#channels, 'UNSUBSCRIBE', channel, listener); }
  /** Remove a pattern listener (all when omitted); PUNSUBSCRIBE when none remain. */
  async punsubscribe(pattern, listener) { return this.#unsub(this.#patterns, 'PUNSUBSCRIBE', pattern, listener); }

  async #sub(map, cmd, name, listener) {
    if (typeof name !== 'string' || !name) throw argError(`${cmd.toLowerCase()}: channel must be a non-empty string`, 'ERR_INVALID_ARG_TYPE');
    if (typeof listener !== 'function') throw argError(`${cmd.toLowerCase()}: listener must be a function`, 'ERR_INVALID_ARG_TYPE');
    let set = map.get(name);
    const fresh = !set;
    if (fresh) { set = new Set(); map.set(name, set); }
    set.add(listener);
    // Not connected: the subscription is sent on (re)connection.
    if (fresh && this.#conn && !this.#connecting) await this.#send([cmd, name]);
  }

  async #unsub(map, cmd, name, listener) {
    const set = map.get(name);
    if (!set) return;
    if (listener) set.delete(listener); else set.clear();
    if (set.size) return;
    map.delete(name);
    if (this.#conn && !this.#connecting) await this.#send([cmd, name]).catch(() => {});
  }

  /** Close for good (QUIT, then close); pending commands reject. */
  async quit() {
    if (this.#closed) return;
    clearTimeout(this.#retryTimer); this.#retryTimer = null;
    const conn = this.#conn;
    if (conn && !this.#connecting) {
      let t;
      try { await Promise.race([this.#send(['QUIT']), new Promise((r) => { t = setTimeout(r, 1000); })]); } catch {}
      clearTimeout(t);
    }
    this.#closed = true;
    if (this.#conn) { try { this.#conn.close(); } catch {} } else this.emitLocal('end');
  }

  /** Alias of quit(). */
  close() { return this.quit(); }
}

/** Create a RedisClient and connect it (the first connection must succeed). */
export async function createRedisClient(opts) {
  const c = new RedisClient(opts);
  try { await c.connect(); } catch (err) { await c.quit(); throw err; }
  return c;
}
