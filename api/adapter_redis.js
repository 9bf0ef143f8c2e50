// Socket.IO Redis adapter: broadcasts, fetchSockets, socketsJoin/Leave,
// disconnectSockets and serverSideEmit across a cluster of Socket.IO servers
// through Redis Pub/Sub, speaking the channels and message format of the npm
// `@socket.io/redis-adapter` 8.x (classic Pub/Sub adapter, not the sharded
// one), so SocketIWA servers (in an IWA or under Node) and stock Node
// socket.io servers share one cluster. Wire format: docs/REDIS.md.
//
//   import { createRedisClient } from './resp.js';
//   import { createAdapter } from './adapter_redis.js';
//   const pub = await createRedisClient({ host: '127.0.0.1', port: 6379 });
//   const sub = pub.duplicate(); await sub.connect();
//   const server = await createTCPServer('0.0.0.0', { protocol: 'socket.io', port: 3000, adapter: createAdapter(pub, sub) });

import { Adapter } from './rooms.js';
import { SocketIWAError, argError } from './errors.js';
import { randomBytes } from './bytes.js';

/** Request types between servers (values of @socket.io/redis-adapter 8.x). */
export const RequestType = Object.freeze({
  SOCKETS: 0, ALL_ROOMS: 1, REMOTE_JOIN: 2, REMOTE_LEAVE: 3, REMOTE_DISCONNECT: 4, REMOTE_FETCH: 5,
  SERVER_SIDE_EMIT: 6, BROADCAST: 7, BROADCAST_CLIENT_COUNT: 8, BROADCAST_ACK: 9,
});

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** Random id like uid2(6). */
function uid(n = 6) { return [...randomBytes(n)].map((b) => ALNUM[b % ALNUM.length]).join(''); }

const dec = new TextDecoder();
const isNumeric = (s) => !Number.isNaN(Number(s)) && !Number.isNaN(parseFloat(s));

/**
 * The msgpack codec from the `@msgpack/msgpack` module (what notepack.io is
 * for the stock adapter; undefined object fields are left out as notepack
 * does). Pass the module yourself where bare imports do not resolve (an
 * unbundled IWA: its CSP forbids inline import maps), e.g.
 * `parser: msgpackParser(await import('/vendor/msgpack/index.mjs'))`.
 */
export function msgpackParser(mod) {
  if (!mod || typeof mod.encode !== 'function' || typeof mod.decode !== 'function') throw argError('msgpackParser needs the @msgpack/msgpack module', 'ERR_INVALID_ARG_TYPE');
  return Object.freeze({ encode: (v) => mod.encode(v, { ignoreUndefined: true }), decode: (b) => mod.decode(b) });
}

// The default codec: @msgpack/msgpack when the module resolves (Node, or a bundled app).
let defaultParser = null;
try { defaultParser = msgpackParser(await import('@msgpack/msgpack')); } catch {}

/**
 * Returns the adapter factory for createTCPServer({ protocol: 'socket.io', adapter }).
 * @param {import('./resp.js').RedisClient} pubClient client for PUBLISH / PUBSUB
 * @param {import('./resp.js').RedisClient} subClient a second client, put in subscriber mode
 * @param {{key?: string, requestsTimeout?: number, publishOnSpecificResponseChannel?: boolean,
 *   parser?: {encode: Function, decode: Function}, onError?: (err: Error) => void}} [opts]
 */
export function createAdapter(pubClient, subClient, opts = {}) {
  for (const [name, c] of [['pubClient', pubClient], ['subClient', subClient]]) {
    if (!c || typeof c.publish !== 'function' || typeof c.psubscribe !== 'function') throw argError(`${name} must be a RedisClient from api/resp.js`, 'ERR_INVALID_ARG_TYPE');
  }
  if (pubClient === subClient) throw argError('pubClient and subClient must be two connections (a subscribed Redis connection cannot PUBLISH): use pubClient.duplicate()');
  if (opts === null || typeof opts !== 'object') throw argError('adapter options must be an object', 'ERR_INVALID_ARG_TYPE');
  if (opts.key !== undefined && (typeof opts.key !== 'string' || !opts.key)) throw argError('key must be a non-empty string');
  if (opts.parser !== undefined && (typeof opts.parser?.encode !== 'function' || typeof opts.parser?.decode !== 'function')) throw argError('parser must have encode() and decode()', 'ERR_INVALID_ARG_TYPE');
  if (!opts.parser && !defaultParser) throw new SocketIWAError('ENOTSUP', 'the @msgpack/msgpack module could not be imported here: pass { parser: msgpackParser(module) } (see docs/REDIS.md)');
  if (opts.requestsTimeout !== undefined && !(Number.isFinite(opts.requestsTimeout) && opts.requestsTimeout > 0)) throw argError('requestsTimeout must be a positive number of ms');
  return (nsp) => new RedisAdapter(nsp, pubClient, subClient, opts);
}

/** A namespace's adapter in a Redis cluster. */
export class RedisAdapter extends Adapter {
  #requests = new Map(); #ackRequests = new Map(); #listeners;

  constructor(nsp, pubClient, subClient, opts = {}) {
    super(nsp);
    this.pubClient = pubClient;
    this.subClient = subClient;
    /** This server's id in the cluster (messages carrying it are our own). */
    this.uid = uid(6);
    this.requestsTimeout = opts.requestsTimeout || 5000;
    this.publishOnSpecificResponseChannel = !!opts.publishOnSpecificResponseChannel;
    this.parser = opts.parser || defaultParser;
    this.onError = opts.onError || (() => {});
    const prefix = opts.key || 'socket.io';
    this.channel = `${prefix}#${nsp.name}#`;
    this.requestChannel = `${prefix}-request#${nsp.name}#`;
    this.responseChannel = `${prefix}-response#${nsp.name}#`;
    this.specificResponseChannel = `${this.responseChannel}${this.uid}#`;
    this.#listeners = {
      psub: (msg, channel) => { try { this.onmessage(channel, msg); } catch (err) { this.#fail(err, 'broadcast from Redis'); } },
      sub: (msg, channel) => { this.onrequest(channel, msg).catch((err) => this.#fail(err, 'request from Redis')); },
    };
    /** Resolves once the subscriptions are in place (they are restored on every reconnection). */
    this.ready = Promise.all([
      subClient.psubscribe(this.channel + '*', this.#listeners.psub),
      subClient.subscribe(this.requestChannel, this.#listeners.sub),
      subClient.subscribe(this.responseChannel, this.#listeners.sub),
      subClient.subscribe(this.specificResponseChannel, this.#listeners.sub),
    ]).then(() => undefined);
    this.ready.catch((err) => this.#fail(err, 'subscribe'));
  }

  #fail(err, what) {
    const e = err && err.code ? err : new SocketIWAError('ERR_REDIS_ADAPTER', `${what}: ${err && err.message ? err.message : String(err)}`, { cause: err });
    try { this.onError(e); } catch {}
  }

  #publish(channel, msg) {
    this.pubClient.publish(channel, msg).catch((err) => this.#fail(err, `publish ${channel}`));
  }

  #decodeRequest(msg) {
    // JSON when the payload starts with "{", msgpack otherwise (as the stock adapter)
    return msg[0] === 0x7b ? JSON.parse(dec.decode(msg)) : this.parser.decode(msg);
  }

  /** A broadcast published by another server. */
  onmessage(channel, msg) {
    if (!channel.startsWith(this.channel)) return;
    const room = channel.slice(this.channel.length, -1);
    if (room !== '' && !this.rooms.has(room) && !(isNumeric(room) && this.rooms.has(String(parseFloat(room))))) return;
    const decoded = this.parser.decode(msg);
    if (!Array.isArray(decoded)) return;
    const [from, packet, opts] = decoded;
    if (from === this.uid) return;
    if (!packet || typeof packet !== 'object') return;
    if (packet.nsp === undefined) packet.nsp = '/';
    if (packet.nsp !== this.nsp.name || !Array.isArray(packet.data)) return;
    super.broadcast(packet, { rooms: new Set(opts?.rooms || []), except: new Set(opts?.except || []), flags: opts?.flags || {} });
  }

  /** A request (or a response) from another server. */
  async onrequest(channel, msg) {
    if (channel.startsWith(this.responseChannel)) { this.onresponse(msg); return; }
    if (!channel.startsWith(this.requestChannel)) return;
    let request;
    try { request = this.#decodeRequest(msg); } catch { return; } // malformed requests are ignored, as stock
    if (!request || typeof request !== 'object') return;
    const optsOf = (r) => ({ rooms: new Set(r.opts?.rooms || []), except: new Set(r.opts?.except || []) });
    const reply = (response) => this.#publish(this.publishOnSpecificResponseChannel ? `${this.responseChannel}${request.uid}#` : this.responseChannel, response);
    switch (request.type) {
      case RequestType.SOCKETS: {
        if (this.#requests.has(request.requestId)) return;
        const sockets = await super.sockets(new Set(request.rooms || []));
        reply(JSON.stringify({ requestId: request.requestId, sockets: [...sockets] }));
        return;
      }
      case RequestType.ALL_ROOMS:
        if (this.#requests.has(request.requestId)) return;
        reply(JSON.stringify({ requestId: request.requestId, rooms: [...this.rooms.keys()] }));
        return;
      case RequestType.REMOTE_JOIN:
      case RequestType.REMOTE_LEAVE:
      case RequestType.REMOTE_DISCONNECT: {
        if (request.opts) {
          if (request.type === RequestType.REMOTE_JOIN) super.addSockets(optsOf(request), request.rooms || []);
          else if (request.type === RequestType.REMOTE_LEAVE) super.delSockets(optsOf(request), request.rooms || []);
          else super.disconnectSockets(optsOf(request), !!request.close);
          return;
        }
        const socket = this.nsp.sockets.get(request.sid);
        if (!socket) return;
        if (request.type === RequestType.REMOTE_JOIN) socket.join(request.room);
        else if (request.type === RequestType.REMOTE_LEAVE) socket.leave(request.room);
        else socket.disconnect(!!request.close);
        reply(JSON.stringify({ requestId: request.requestId }));
        return;
      }
      case RequestType.REMOTE_FETCH: {
        if (this.#requests.has(request.requestId)) return;
        const local = await super.fetchSockets(optsOf(request));
        reply(JSON.stringify({
          requestId: request.requestId,
          sockets: local.map((s) => ({ id: s.id, handshake: s.handshake, rooms: [...s.rooms], data: s.data })),
        }));
        return;
      }
      case RequestType.SERVER_SIDE_EMIT: {
        if (request.uid === this.uid || !Array.isArray(request.data)) return;
        if (request.requestId === undefined) { this.nsp._onServerSideEmit(request.data); return; }
        let called = false;
        request.data.push((arg) => {
          if (called) return;
          called = true;
          this.#publish(this.responseChannel, JSON.stringify({ type: RequestType.SERVER_SIDE_EMIT, requestId: request.requestId, data: arg }));
        });
        this.nsp._onServerSideEmit(request.data);
        return;
      }
      case RequestType.BROADCAST: {
        // A broadcast with acknowledgements from another server: deliver to our
        // sockets, then report how many will answer and relay each answer.
        if (this.#ackRequests.has(request.requestId) || request.requestId === undefined) return;
        const packet = request.packet;
        if (!packet || !Array.isArray(packet.data)) return;
        super.broadcastWithAck(packet, optsOf(request),
          (clientCount) => reply(JSON.stringify({ type: RequestType.BROADCAST_CLIENT_COUNT, requestId: request.requestId, clientCount })),
          (arg) => {
            let msg;
            try { msg = this.parser.encode({ type: RequestType.BROADCAST_ACK, requestId: request.requestId, packet: arg }); } catch (err) { this.#fail(err, 'encode ack'); return; }
            reply(msg);
          });
        return;
      }
      default:
    }
  }

  /** A response to one of our requests. */
  onresponse(msg) {
    let response;
    try { response = this.#decodeRequest(msg); } catch { return; }
    const ackRequest = response && this.#ackRequests.get(response.requestId);
    if (ackRequest) {
      if (response.type === RequestType.BROADCAST_CLIENT_COUNT && Number.isInteger(response.clientCount) && response.clientCount >= 0) ackRequest.clientCountCallback(response.clientCount);
      else if (response.type === RequestType.BROADCAST_ACK) ackRequest.ack(response.packet);
      return;
    }
    const request = response && this.#requests.get(response.requestId);
    if (!request) return;
    const done = (value) => { clearTimeout(request.timeout); this.#requests.delete(response.requestId); request.resolve(value); };
    switch (request.type) {
      case RequestType.SOCKETS:
      case RequestType.REMOTE_FETCH:
      case RequestType.ALL_ROOMS: {
        request.msgCount++;
        const list = request.type === RequestType.ALL_ROOMS ? response.rooms : response.sockets;
        if (!Array.isArray(list)) return;
        for (const x of list) { if (request.type === RequestType.REMOTE_FETCH) request.result.push(x); else request.result.add(x); }
        if (request.msgCount === request.numSub) done(request.result);
        return;
      }
      case RequestType.SERVER_SIDE_EMIT:
        request.result.push(response.data);
        if (request.result.length === request.numSub) { clearTimeout(request.timeout); this.#requests.delete(response.requestId); request.resolve(null, request.result); }
        return;
      default:
    }
  }

  /** Number of servers subscribed to this namespace's request channel. */
  serverCount() { return this.pubClient.numsub(this.requestChannel); }

  #ask(type, request, initial, numSub) {
    const requestId = uid(6);
    return new Promise((resolve, reject) => {
      const timeout = setTimeout(() => {
        if (!this.#requests.delete(requestId)) return;
        reject(new SocketIWAError('ETIMEDOUT', `timeout reached while waiting for ${type === RequestType.ALL_ROOMS ? 'allRooms' : type === RequestType.SOCKETS ? 'sockets' : 'fetchSockets'} response`));
      }, this.requestsTimeout);
      this.#requests.set(requestId, { type, numSub, resolve, timeout, msgCount: 1, result: initial });
      this.pubClient.publish(this.requestChannel, JSON.stringify({ uid: this.uid, requestId, type, ...request })).catch((err) => {
        clearTimeout(timeout); this.#requests.delete(requestId); reject(err);
      });
    });
  }

  broadcast(packet, opts) {
    packet.nsp = this.nsp.name;
    if (!opts.flags?.local) {
      const raw = { rooms: [...opts.rooms], except: [...new Set(opts.except)], flags: opts.flags || {} };
      let msg;
      try { msg = this.parser.encode([this.uid, packet, raw]); } catch (err) { throw new SocketIWAError('ERR_INVALID_ARG_TYPE', `broadcast payload cannot be encoded for Redis: ${err.message}`, { cause: err }); }
      const channel = this.channel + (opts.rooms && opts.rooms.size === 1 ? `${[...opts.rooms][0]}#` : '');
      this.#publish(channel, msg);
    }
    super.broadcast(packet, opts);
  }

  broadcastWithAck(packet, opts, clientCountCallback, ack) {
    packet.nsp = this.nsp.name;
    if (!opts.flags?.local) {
      const requestId = uid(6);
      const raw = { rooms: [...opts.rooms], except: [...new Set(opts.except)], flags: opts.flags || {} };
      let msg;
      try { msg = this.parser.encode({ uid: this.uid, requestId, type: RequestType.BROADCAST, packet, opts: raw }); } catch (err) { throw new SocketIWAError('ERR_INVALID_ARG_TYPE', `broadcast payload cannot be encoded for Redis: ${err.message}`, { cause: err }); }
      // answers are relayed until the broadcast's timeout (socket.io gives up then too)
      const timer = setTimeout(() => this.#ackRequests.delete(requestId), opts.flags?.timeout ?? this.requestsTimeout);
      this.#ackRequests.set(requestId, { clientCountCallback, ack, timer });
      this.#publish(this.requestChannel, msg);
    }
    super.broadcastWithAck(packet, opts, clientCountCallback, ack);
  }

  /** Every room on every server. */
  async allRooms() {
    const local = new Set(this.rooms.keys());
    const numSub = await this.serverCount();
    if (numSub <= 1) return local;
    return this.#ask(RequestType.ALL_ROOMS, {}, local, numSub);
  }

  async fetchSockets(opts) {
    const local = await super.fetchSockets(opts);
    if (opts.flags?.local) return local;
    const numSub = await this.serverCount();
    if (numSub <= 1) return local;
    return this.#ask(RequestType.REMOTE_FETCH, { opts: { rooms: [...opts.rooms], except: [...opts.except] } }, local, numSub);
  }

  #remote(type, opts, extra) {
    this.#publish(this.requestChannel, JSON.stringify({ uid: this.uid, type, opts: { rooms: [...opts.rooms], except: [...opts.except] }, ...extra }));
  }

  addSockets(opts, rooms) {
    if (opts.flags?.local) return super.addSockets(opts, rooms);
    this.#remote(RequestType.REMOTE_JOIN, opts, { rooms: [...rooms] });
  }

  delSockets(opts, rooms) {
    if (opts.flags?.local) return super.delSockets(opts, rooms);
    this.#remote(RequestType.REMOTE_LEAVE, opts, { rooms: [...rooms] });
  }

  disconnectSockets(opts, close) {
    if (opts.flags?.local) return super.disconnectSockets(opts, close);
    this.#remote(RequestType.REMOTE_DISCONNECT, opts, { close });
  }

  serverSideEmit(packet) {
    if (typeof packet[packet.length - 1] === 'function') { this.#serverSideEmitWithAck(packet).catch((err) => this.#fail(err, 'serverSideEmit')); return; }
    this.#publish(this.requestChannel, JSON.stringify({ uid: this.uid, type: RequestType.SERVER_SIDE_EMIT, data: packet }));
  }

  async #serverSideEmitWithAck(packet) {
    const ack = packet.pop();
    let numSub;
    try { numSub = (await this.serverCount()) - 1; } catch (err) { ack(err, []); return; }
    if (numSub <= 0) { ack(null, []); return; }
    const requestId = uid(6);
    const timeout = setTimeout(() => {
      const r = this.#requests.get(requestId);
      if (!r) return;
      this.#requests.delete(requestId);
      ack(new SocketIWAError('ETIMEDOUT', `timeout reached: only ${r.result.length} responses received out of ${r.numSub}`), r.result);
    }, this.requestsTimeout);
    this.#requests.set(requestId, { type: RequestType.SERVER_SIDE_EMIT, numSub, timeout, resolve: ack, result: [] });
    this.#publish(this.requestChannel, JSON.stringify({ uid: this.uid, requestId, type: RequestType.SERVER_SIDE_EMIT, data: packet }));
  }

  close() {
    this.subClient.punsubscribe(this.channel + '*', this.#listeners.psub).catch(() => {});
    for (const ch of [this.requestChannel, this.responseChannel, this.specificResponseChannel]) this.subClient.unsubscribe(ch, this.#listeners.sub).catch(() => {});
    for (const [, r] of this.#requests) clearTimeout(r.timeout);
    this.#requests.clear();
    for (const [, r] of this.#ackRequests) clearTimeout(r.timer);
    this.#ackRequests.clear();
  }
}
