// UDP sockets with dgram-style ergonomics on Direct Sockets' UDPSocket:
// send overloads, 'message' (data, rinfo), multicast membership helpers and
// the Direct-Sockets-style `socket.multicast` sub-controller.

import { Emitter } from './emitter.js';
import { SocketIWAError, argError, closedError, fromDirectSocketsError, requireCtor } from './errors.js';
import { validateHost, validateIp, validatePort, validateMulticast, ipFamily } from './validate.js';
import { toUint8Async, isBinary, presentBinary, binaryTypes } from './bytes.js';
import { SSM_PROBE } from './ssm_probe.js';

/** Options accepted by createUDP / createMulticastSocket, mapped to UDPSocketOptions. */
function toUDPSocketOptions(o) {
  const ds = {};
  if (o.remoteAddress !== undefined || o.remotePort !== undefined) {
    ds.remoteAddress = validateHost(o.remoteAddress, 'remoteAddress');
    ds.remotePort = validatePort(o.remotePort, 'remotePort');
  } else {
    const fam = o.type === 'udp6' || o.ipv6 ? 6 : 4;
    ds.localAddress = o.localAddress !== undefined ? validateIp(o.localAddress, 'localAddress') : fam === 6 ? '::' : '0.0.0.0';
    if (o.localPort !== undefined && o.localPort !== 0) ds.localPort = validatePort(o.localPort, 'localPort');
    const share = o.allowAddressSharing ?? o.reuseAddr ?? o.multicastAllowAddressSharing;
    if (share !== undefined) ds.multicastAllowAddressSharing = !!share;
    if (o.ipv6Only !== undefined) ds.ipv6Only = !!o.ipv6Only;
  }
  const ttl = o.multicastTimeToLive ?? o.ttl;
  if (ttl !== undefined) {
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 255) throw argError(`multicastTimeToLive must be an integer in 0..255, got ${ttl}.`);
    ds.multicastTimeToLive = ttl;
  }
  const loop = o.multicastLoopback ?? o.loopback;
  if (loop !== undefined) ds.multicastLoopback = !!loop;
  if (o.sendBufferSize !== undefined) ds.sendBufferSize = o.sendBufferSize;
  if (o.receiveBufferSize !== undefined) ds.receiveBufferSize = o.receiveBufferSize;
  if (o.dnsQueryType !== undefined) ds.dnsQueryType = o.dnsQueryType;
  return ds;
}

/**
 * Does this MulticastController honour joinGroup's `sourceAddress`? The probe
 * (api/ssm_probe.js) is shared with the wasm bridge's IP_ADD_SOURCE_MEMBERSHIP.
 * @param {any} mc a MulticastController
 * @returns {boolean}
 */
export function supportsSourceSpecificMulticast(mc) {
  return SSM_PROBE.supports(mc);
}

/** Direct-Sockets-style multicast controller on a UDPConnection. */
class MulticastHelper {
  #conn;
  constructor(conn) { this.#conn = conn; }
  /** Join a group (any-source, or source-specific with {sourceAddress}). */
  join(group, options = {}) { return this.#conn._membership(true, group, options.sourceAddress); }
  /** Leave a group. */
  leave(group, options = {}) { return this.#conn._membership(false, group, options.sourceAddress); }
  /** Join a group for one source only. */
  joinSourceSpecific(source, group) { return this.#conn._membership(true, group, source); }
  /** Leave a source-specific membership. */
  leaveSourceSpecific(source, group) { return this.#conn._membership(false, group, source); }
  /** Groups joined (as reported by the browser's MulticastController). */
  get joinedGroups() { return this.#conn._joinedGroups(); }
  /** Whether source-specific joins work here (feature-detected; false without a multicast controller). */
  get supportsSourceSpecific() { return this.#conn._supportsSourceSpecific(); }
}

/**
 * The promise send() returns: it records whether anyone observed it (then /
 * catch / finally / await), so a failed send nobody awaits or passed a
 * callback for is reported as an 'error' event instead (dgram-style).
 */
class SendPromise extends Promise {
  static get [Symbol.species]() { return Promise; }
  then(onFulfilled, onRejected) { this.observed = true; return super.then(onFulfilled, onRejected); }
}

/** How long a host name resolved for a bound-mode send is reused (ms). */
export const NAME_CACHE_MS = 10000;
const NAME_CACHE_MAX = 256;

/** A UDP socket (connected or bound). */
export class UDPConnection extends Emitter {
  #socket; #info; #writer; #reader; #opts; #ds; #readyState = 1; #binaryType = 'arraybuffer';
  #groups = new Map(); #closing = null; #sendChain = Promise.resolve();

  constructor(socket, info, ds, opts) {
    super();
    this.#ds = ds;
    this.#opts = opts;
    if (opts.binaryType) this.binaryType = opts.binaryType;
    /** Direct-Sockets-style multicast controller: join / leave / joinSourceSpecific / joinedGroups. */
    this.multicast = new MulticastHelper(this);
    this.#attach(socket, info);
  }

  #attach(socket, info) {
    this.#socket = socket;
    this.#info = info;
    this.#writer = info.writable.getWriter();
    this.#reader = info.readable.getReader();
    this.#readLoop(this.#reader);
  }

  /** 'connected' (fixed peer) or 'bound' (per-datagram peer). */
  get mode() { return this.#ds.remoteAddress !== undefined ? 'connected' : 'bound'; }
  /** Local address. */
  get localAddress() { return this.#info.localAddress; }
  /** Local port. */
  get localPort() { return this.#info.localPort; }
  /** Peer address (connected mode). */
  get remoteAddress() { return this.#info.remoteAddress; }
  /** Peer port (connected mode). */
  get remotePort() { return this.#info.remotePort; }
  /** 1 OPEN, 2 CLOSING, 3 CLOSED. */
  get readyState() { return this.#readyState; }
  /** 'arraybuffer' | 'uint8array' | 'blob'. */
  get binaryType() { return this.#binaryType; }
  /** @param {'arraybuffer'|'uint8array'|'blob'} v */
  set binaryType(v) {
    if (!binaryTypes().includes(v)) throw argError(`binaryType must be one of ${binaryTypes().join(', ')}, got ${JSON.stringify(v)}.`);
    this.#binaryType = v;
  }
  /** Bytes accepted by send() and not yet handed to the socket. */
  get bufferedAmount() { return this._buffered || 0; }
  /** dgram-style address(): {address, port, family}. */
  address() { return { address: this.localAddress, port: this.localPort, family: ipFamily(this.localAddress) === 6 ? 'IPv6' : 'IPv4' }; }

  async #readLoop(reader) {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const rinfo = {
          address: value.remoteAddress ?? this.#info.remoteAddress,
          port: value.remotePort ?? this.#info.remotePort,
          family: ipFamily(value.remoteAddress ?? this.#info.remoteAddress) === 6 ? 'IPv6' : 'IPv4',
          size: value.data.byteLength,
        };
        this.emitLocal('message', presentBinary(value.data, this.#binaryType), rinfo);
      }
    } catch (err) {
      if (reader === this.#reader && this.#readyState === 1) this.emitLocal('error', fromDirectSocketsError(err, 'UDP receive', 'ECONNREFUSED'));
    }
    if (reader === this.#reader && this.#readyState !== 3 && !this.#reopening) this.#finish();
  }

  #reopening = false;

  /**
   * Send a datagram. Overloads (dgram-style):
   *   send(data)                                  connected mode
   *   send(data, port, address)                   bound mode
   *   send(data, offset, length[, port, address]) a slice of data
   * plus an optional trailing callback(err). Returns a Promise that settles
   * when the datagram was handed to the socket; rejects with code
   * ERR_SOCKET_CLOSED after close. Invalid ports / addresses throw TypeError.
   * @returns {Promise<void>}
   */
  send(data, ...rest) {
    let cb;
    if (typeof rest[rest.length - 1] === 'function') cb = rest.pop();
    let offset, length, port, address;
    if (rest.length === 4) [offset, length, port, address] = rest;
    else if (rest.length === 2 && typeof rest[1] === 'number') [offset, length] = rest;
    else if (rest.length === 2 || rest.length === 1) [port, address] = rest;
    else if (rest.length !== 0) throw argError(`send: unexpected ${rest.length} arguments after data`, 'ERR_INVALID_ARG_TYPE');
    if (typeof data !== 'string' && !isBinary(data) && !Array.isArray(data)) throw argError('send: data must be a string, ArrayBuffer, ArrayBufferView, Blob or an array of them', 'ERR_INVALID_ARG_TYPE');
    if (offset !== undefined && (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(length) || length < 0)) {
      throw argError('send: offset and length must be non-negative integers', 'ERR_OUT_OF_RANGE');
    }
    const connected = this.mode === 'connected';
    if (connected) {
      if (port !== undefined || address !== undefined) throw argError('send: a connected socket sends to its peer; do not pass port/address', 'ERR_SOCKET_DGRAM_IS_CONNECTED');
    } else {
      validatePort(port, 'port');
      if (address === undefined) address = this.#ds.localAddress === '::' ? '::1' : '127.0.0.1';
      validateHost(address, 'address');
    }
    const inner = this.#send(data, offset, length, port, address);
    const p = new SendPromise((resolve, reject) => inner.then(resolve, reject));
    if (cb) p.then(() => cb(null), (err) => cb(err));
    Promise.prototype.then.call(p, undefined, (err) => {
      // Nobody awaits this send and there is no callback: report it as an
      // 'error' event (checked after the caller's synchronous code ran).
      setTimeout(() => { if (!p.observed && this.listenerCount('error')) this.emitLocal('error', err); }, 0);
    });
    return p;
  }

  #names = new Map(); // host name -> {address, until}

  /**
   * Resolve a host name for a bound-mode send. Direct Sockets would resolve
   * it inside the writable stream, but a failed resolution errors that stream
   * (every later send fails, Chromium and Node alike); resolving through a
   * short-lived connected UDPSocket instead fails only this send (ENOTFOUND).
   */
  async #resolve(host, port) {
    if (ipFamily(host)) return host;
    const hit = this.#names.get(host);
    if (hit && hit.until > Date.now()) return hit.address;
    const C = requireCtor('UDPSocket');
    const opts = { remoteAddress: host, remotePort: port };
    if (ipFamily(this.#ds.localAddress) === 4) opts.dnsQueryType = 'ipv4';
    else if (this.#ds.dnsQueryType !== undefined) opts.dnsQueryType = this.#ds.dnsQueryType;
    let probe;
    try {
      probe = new C(opts);
      const info = await probe.opened;
      const address = info.remoteAddress;
      if (this.#names.size >= NAME_CACHE_MAX) this.#names.delete(this.#names.keys().next().value);
      this.#names.set(host, { address, until: Date.now() + NAME_CACHE_MS });
      return address;
    } catch (err) {
      const e = fromDirectSocketsError(err, `UDP send to ${host}`, 'ENOTFOUND');
      throw e;
    } finally {
      if (probe) probe.close().catch(() => {});
    }
  }

  async #send(data, offset, length, port, address) {
    if (this.#readyState !== 1) throw closedError('UDP send');
    let bytes;
    if (Array.isArray(data)) {
      const parts = await Promise.all(data.map((d) => toUint8Async(d)));
      const total = parts.reduce((n, x) => n + x.byteLength, 0);
      bytes = new Uint8Array(total); let o = 0; for (const x of parts) { bytes.set(x, o); o += x.byteLength; }
    } else bytes = await toUint8Async(data);
    if (offset !== undefined) {
      if (offset + length > bytes.byteLength) {
        const e = new RangeError(`send: offset + length (${offset + length}) exceeds data length ${bytes.byteLength}`); e.code = 'ERR_OUT_OF_RANGE'; throw e;
      }
      bytes = bytes.subarray(offset, offset + length);
    }
    const msg = { data: bytes.slice() };
    if (this.mode === 'bound') { msg.remoteAddress = await this.#resolve(address, port); msg.remotePort = port; }
    this._buffered = (this._buffered || 0) + bytes.byteLength;
    const run = this.#sendChain.then(async () => {
      if (this.#readyState !== 1) throw closedError('UDP send');
      try { await this.#writer.write(msg); } catch (err) { throw fromDirectSocketsError(err, 'UDP send', 'ENETUNREACH'); }
    });
    this.#sendChain = run.catch(() => {});
    try { await run; } finally { this._buffered -= bytes.byteLength; if (!this._buffered) this.emitLocal('drain'); }
  }

  _joinedGroups() {
    const mc = this.#info.multicastController;
    // Chromium with SourceSpecificMulticastInDirectSockets lists source-specific
    // memberships as {groupAddress, sourceAddress}; the API reports "source@group".
    const norm = (g) => (typeof g === 'string' ? g : g && g.sourceAddress ? `${g.sourceAddress}@${g.groupAddress}` : String(g?.groupAddress));
    const seen = new Set(mc ? [...mc.joinedGroups].map(norm) : []);
    for (const g of this.#groups.values()) if (g.source) seen.add(`${g.source}@${g.group}`);
    return Object.freeze([...seen]);
  }

  _supportsSourceSpecific() { return supportsSourceSpecificMulticast(this.#info.multicastController); }

  async _membership(join, group, source) {
    validateMulticast(group, 'group');
    if (source !== undefined) validateIp(source, 'sourceAddress');
    if (this.#readyState !== 1) throw closedError(join ? 'addMembership' : 'dropMembership');
    const mc = this.#info.multicastController;
    if (!mc) throw new SocketIWAError('ENOTSUP', 'multicast needs a bound UDP socket (localAddress), and the "direct-sockets-multicast" permissions policy');
    if (source !== undefined && !supportsSourceSpecificMulticast(mc)) {
      throw new SocketIWAError('ENOTSUP', 'source-specific multicast is not supported here: Chromium drops joinGroup\'s sourceAddress unless the SourceSpecificMulticastInDirectSockets feature is enabled; use addMembership(group) and filter by rinfo.address');
    }
    const key = `${source || ''}@${group}`;
    try {
      const args = source ? [group, { sourceAddress: source }] : [group];
      if (join) await mc.joinGroup(...args); else await mc.leaveGroup(...args);
    } catch (err) {
      throw fromDirectSocketsError(err, `${join ? 'join' : 'leave'} ${source ? source + '@' : ''}${group}`, 'EADDRNOTAVAIL');
    }
    if (join) this.#groups.set(key, { group, source }); else this.#groups.delete(key);
  }

  /** dgram-style: join a multicast group. The second argument may be an interface address (ignored: the browser picks) */
  addMembership(group, _iface) { return this._membership(true, group); }
  /** dgram-style: leave a multicast group. */
  dropMembership(group, _iface) { return this._membership(false, group); }
  /** Join `group` for datagrams from `source` only. */
  addSourceSpecificMembership(source, group, _iface) { return this._membership(true, group, source); }
  /** Leave a source-specific membership. */
  dropSourceSpecificMembership(source, group, _iface) { return this._membership(false, group, source); }

  /**
   * Set the multicast TTL. Direct Sockets fixes it when the socket opens, so
   * a change re-opens the socket on the same address and port (groups are
   * re-joined). Resolves when done.
   */
  setMulticastTTL(ttl) {
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 255) throw argError(`ttl must be an integer in 0..255, got ${ttl}.`, 'ERR_OUT_OF_RANGE');
    return this.#reopen({ multicastTimeToLive: ttl });
  }

  /** Enable/disable multicast loopback (re-opens the socket like setMulticastTTL). */
  setMulticastLoopback(flag) {
    if (typeof flag !== 'boolean') throw argError('setMulticastLoopback expects a boolean', 'ERR_INVALID_ARG_TYPE');
    return this.#reopen({ multicastLoopback: flag });
  }

  async #reopen(change) {
    if (this.#readyState !== 1) throw closedError('UDP reopen');
    const [k, v] = Object.entries(change)[0];
    if (this.#ds[k] === v) return;
    const next = { ...this.#ds, [k]: v };
    if (this.mode === 'bound') { next.localPort = this.localPort; next.localAddress = this.#ds.localAddress; }
    this.#reopening = true;
    await this.#sendChain;
    const old = this.#socket, oldReader = this.#reader, oldWriter = this.#writer;
    this.#reader = null;
    try { await oldReader.cancel(); } catch {}
    try { await oldWriter.close(); } catch {}
    try { await old.closed; } catch {}
    const C = requireCtor('UDPSocket');
    let socket, info;
    try { socket = new C(next); info = await socket.opened; } catch (err) {
      this.#finish();
      throw fromDirectSocketsError(err, 'UDP reopen', 'EADDRINUSE');
    }
    this.#ds = next;
    this.#attach(socket, info);
    this.#reopening = false;
    for (const g of this.#groups.values()) {
      const args = g.source ? [g.group, { sourceAddress: g.source }] : [g.group];
      await info.multicastController.joinGroup(...args);
    }
  }

  /** Close the socket; pending sends settle first. */
  close() {
    if (this.#closing) return this.#closing;
    this.#readyState = 2;
    this.#closing = (async () => {
      await this.#sendChain;
      try { await this.#reader.cancel(); } catch {}
      try { await this.#writer.close(); } catch {}
      try { await this.#socket.closed; } catch {}
      this.#finish();
    })();
    return this.#closing;
  }

  #finish() {
    if (this.#readyState === 3) return;
    this.#readyState = 3;
    this.emitLocal('close');
  }
}

/**
 * Open a UDP socket. `{remoteAddress, remotePort}` makes it connected; else it
 * binds `localAddress` (default 0.0.0.0, or :: with type 'udp6') and `localPort`.
 * @returns {Promise<UDPConnection>}
 */
export async function createUDP(options = {}) {
  if (options === null || typeof options !== 'object') throw argError('options must be an object', 'ERR_INVALID_ARG_TYPE');
  const ds = toUDPSocketOptions(options);
  const C = requireCtor('UDPSocket');
  let socket, info;
  try { socket = new C(ds); } catch (err) { throw fromDirectSocketsError(err, 'UDP open', 'EADDRINUSE'); }
  try { info = await socket.opened; } catch (err) { throw fromDirectSocketsError(err, 'UDP open', ds.remoteAddress ? 'ENETUNREACH' : 'EADDRINUSE'); }
  return new UDPConnection(socket, info, ds, options);
}

/**
 * A bound UDP socket set up for multicast: address sharing on by default
 * (`allowAddressSharing` / `reuseAddr`), `multicastTimeToLive`,
 * `multicastLoopback`, IPv4 or IPv6 (`type: 'udp6'` or an IPv6 localAddress).
 * @returns {Promise<UDPConnection>}
 */
export function createMulticastSocket(options = {}) {
  if (options === null || typeof options !== 'object') throw argError('options must be an object', 'ERR_INVALID_ARG_TYPE');
  if (options.remoteAddress !== undefined) throw argError('a multicast socket is bound: use localAddress/localPort, not remoteAddress', 'ERR_INVALID_ARG_VALUE');
  const share = options.allowAddressSharing ?? options.reuseAddr ?? true;
  return createUDP({ ...options, allowAddressSharing: share });
}

/**
 * The browser's MulticastController of an open socket: accepts a
 * UDPConnection, a Direct Sockets UDPSocket, or createMulticastSocket options
 * (then opens a socket). Resolves {controller, socket}.
 */
export async function createMulticastController(target = {}) {
  if (target instanceof UDPConnection) return { controller: target.multicast, socket: target };
  if (typeof globalThis.UDPSocket === 'function' && target instanceof globalThis.UDPSocket) {
    const info = await target.opened;
    if (!info.multicastController) throw new SocketIWAError('ENOTSUP', 'this UDPSocket has no multicastController (connected mode?)');
    return { controller: info.multicastController, socket: target };
  }
  const socket = await createMulticastSocket(target);
  return { controller: socket.multicast, socket };
}
