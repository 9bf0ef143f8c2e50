// Direct Sockets for Node.js: UDPSocket, TCPSocket, TCPServerSocket and
// MulticastController shaped like the WICG Direct Sockets API that Chromium
// exposes to Isolated Web Apps, implemented on node:dgram and node:net.
//
// Used by the JavaScript API tests (api/) and by the wasm bridge when the
// Rust server runs under Node 26. Self-contained: only node: built-ins (node:ffi for GSO sends and GRO receives: node/udp_gso.js, node/udp_gro.js).
//
//   import { install } from './node/direct-sockets.js';
//   install(globalThis);              // defines the globals if missing
//   const s = new UDPSocket({ localAddress: '127.0.0.1' });
//   const { readable, writable, localPort } = await s.opened;
//
// Behaviour follows the spec and Chromium 156 where they are observable:
// - constructors validate options synchronously and throw TypeError;
// - `opened` rejects with a DOMException (NetworkError / NotAllowedError /
//   InvalidStateError); `closed` resolves once both streams are closed
//   (readable cancelled or ended, writable closed or aborted) or close() ran;
// - close() rejects with InvalidStateError while a stream is locked;
// - `opened` and `closed` are marked handled (no unhandled-rejection crash).
// - UDPSocket/TCPServerSocket reject `localPort: 0` (leave it unset for an
//   ephemeral port), like Chromium.

import dgram from 'node:dgram';
import net from 'node:net';
import dns from 'node:dns';
import { DS_CODES } from '../api/codes.js';
import { BUFFER_SOURCE } from '../api/buffer_source.js';
import { gsoSender, gsoTotals, GSO_LIMITS } from './udp_gso.js';
import { groReceiver } from './udp_gro.js';

const kInternal = Symbol('direct-sockets.internal');

/** Build a DOMException with a browser error name and a Node-style code. */
function domError(name, message, cause) {
  const err = new DOMException(message, name);
  if (cause && cause.code) {
    try { Object.defineProperty(err, 'cause', { value: cause, configurable: true }); } catch {}
  }
  return err;
}

/** Map a Node socket error to the DOMException Chromium would produce. */
function mapNodeError(err, what) {
  const code = err && err.code;
  const msg = `${what}: ${err && err.message ? err.message : String(err)}`;
  if (code === 'EINVAL' && /membership/i.test(what)) return domError('InvalidAccessError', msg, err);
  return domError(DS_CODES.domName(code), msg, err);
}

function handled(p) { p.catch(() => {}); return p; }

function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  return { promise: handled(promise), resolve, reject };
}

function checkPort(value, name, { allowZero = false, required = false } = {}) {
  if (value === undefined || value === null) {
    if (required) throw new TypeError(`${name} is required.`);
    return undefined;
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new TypeError(`${name} must be an integer between 1 and 65535, got ${String(value)}.`);
  }
  if (n === 0 && !allowZero) throw new TypeError(`${name} must not be 0; leave it unset for an ephemeral port.`);
  return n;
}

function checkIpLiteral(value, name) {
  if (typeof value !== 'string' || net.isIP(value) === 0) {
    throw new TypeError(`${name} must be a valid IPv4 or IPv6 address literal, got ${JSON.stringify(value)}.`);
  }
  return value;
}

function checkHost(value, name) {
  if (typeof value !== 'string' || value.length === 0 || value.length > 253 || /[\s/\\?#@]/.test(value)) {
    throw new TypeError(`${name} must be an IP address or host name, got ${JSON.stringify(value)}.`);
  }
  return value;
}

function checkPositiveInt(value, name) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new TypeError(`${name} must be a positive integer, got ${String(value)}.`);
  return n;
}

function checkDnsQueryType(value) {
  if (value === undefined) return 0;
  if (value === 'ipv4') return 4;
  if (value === 'ipv6') return 6;
  throw new TypeError(`dnsQueryType must be 'ipv4' or 'ipv6', got ${JSON.stringify(value)}.`);
}

/** Copy any BufferSource into a fresh Uint8Array; TypeError otherwise. */
function toBytes(data, what) {
  const bytes = BUFFER_SOURCE.copy(data);
  if (bytes) return bytes;
  if (typeof SharedArrayBuffer !== 'undefined' && data instanceof SharedArrayBuffer) {
    throw new TypeError(`${what}: SharedArrayBuffer is not allowed.`);
  }
  throw new TypeError(`${what}: expected an ArrayBuffer or ArrayBufferView.`);
}

/**
 * A received datagram as bytes the reader owns. node:dgram hands each datagram
 * in its own exact-size ArrayBuffer that it keeps no reference to: give that
 * buffer away instead of copying it. Copy anything else.
 */
function ownBytes(msg) {
  if (msg.byteOffset === 0 && msg.buffer.byteLength === msg.length) return new Uint8Array(msg.buffer);
  const data = new Uint8Array(msg.length);
  data.set(msg);
  return data;
}

/**
 * Like toBytes, for a datagram handed to node:dgram: the copy comes from Node's
 * Buffer pool (one slab shared by small sends) instead of a fresh ArrayBuffer
 * per datagram. The copy never leaves this module, so sharing a slab is safe.
 */
function toSendCopy(data, what) {
  const view = BUFFER_SOURCE.view(data);
  if (!view) return toBytes(data, what); // throws the same TypeError as toBytes
  const out = Buffer.allocUnsafe(view.length);
  out.set(view);
  return out;
}

/**
 * node:dgram looks up every send's address; dns.lookup answers an address
 * literal only on the next tick. Our sends always carry a literal (names are
 * resolved first, resolveHost), so answer those at once and save a tick per
 * datagram; anything else goes to dns.lookup.
 */
function literalLookup(host, options, callback) {
  const fam = net.isIP(host);
  if (fam) {
    if (options && typeof options === 'object' && options.all) callback(null, [{ address: host, family: fam }]);
    else callback(null, host, fam);
    return;
  }
  dns.lookup(host, options, callback);
}

async function resolveHost(host, family) {
  const fam = net.isIP(host);
  if (fam) {
    if (family && fam !== family) throw new TypeError(`Address ${host} does not match dnsQueryType.`);
    return { address: host, family: fam };
  }
  const r = await dns.promises.lookup(host, { family: family || 0 });
  return { address: r.address, family: r.family };
}

function illegal() { throw new TypeError('Illegal constructor'); }

// ---------------------------------------------------------------------------
// MulticastController
// ---------------------------------------------------------------------------

/**
 * Multicast group membership of a bound UDPSocket, reached through
 * `(await udp.opened).multicastController`.
 */
export class MulticastController {
  /**
   * Non-standard feature flag: this implementation honours
   * `joinGroup(group, { sourceAddress })` (source-specific multicast).
   * Chromium 156 accepts the option but ignores it, so callers detect support
   * through this flag rather than by trying.
   */
  static get supportsSourceSpecific() { return true; }

  constructor(token, socket) {
    if (token !== kInternal) illegal();
    this[kInternal] = { socket, groups: new Map(), closed: false };
  }

  /** Currently joined group addresses (source-specific ones as "source@group"). */
  get joinedGroups() {
    return Object.freeze([...this[kInternal].groups.values()].map((g) => g.label));
  }

  /**
   * Join a multicast group. `options.sourceAddress` makes it source-specific.
   * @param {string} ipAddress
   * @param {{sourceAddress?: string, interfaceAddress?: string}} [options]
   * @returns {Promise<undefined>}
   */
  joinGroup(ipAddress, options = {}) { return this.#change(true, ipAddress, options); }

  /** Leave a multicast group previously joined with the same arguments. */
  leaveGroup(ipAddress, options = {}) { return this.#change(false, ipAddress, options); }

  async #change(join, ipAddress, options) {
    const st = this[kInternal];
    if (typeof ipAddress !== 'string' || !net.isIP(ipAddress) || !isMulticast(ipAddress)) {
      throw new TypeError(`${join ? 'joinGroup' : 'leaveGroup'}: ${JSON.stringify(ipAddress)} is not a multicast address.`);
    }
    const source = options && options.sourceAddress;
    const iface = options && options.interfaceAddress;
    if (source !== undefined) checkIpLiteral(source, 'sourceAddress');
    if (iface !== undefined) checkIpLiteral(iface, 'interfaceAddress');
    if (st.closed) throw domError('InvalidStateError', 'The socket is closed.');
    const key = `${source || ''}@${ipAddress}@${iface || ''}`;
    const label = source ? `${source}@${ipAddress}` : ipAddress;
    if (join && st.groups.has(key)) throw domError('InvalidStateError', `Already joined ${label}.`);
    if (!join && !st.groups.has(key)) throw domError('InvalidStateError', `Not a member of ${label}.`);
    try {
      if (source) {
        if (join) st.socket.addSourceSpecificMembership(source, ipAddress, iface);
        else st.socket.dropSourceSpecificMembership(source, ipAddress, iface);
      } else if (join) st.socket.addMembership(ipAddress, iface);
      else st.socket.dropMembership(ipAddress, iface);
    } catch (err) {
      throw mapNodeError(err, `${join ? 'joinGroup' : 'leaveGroup'}(${label})`);
    }
    if (join) st.groups.set(key, { label });
    else st.groups.delete(key);
    return undefined;
  }
}

function isMulticast(ip) {
  if (net.isIPv4(ip)) { const first = Number(ip.split('.')[0]); return first >= 224 && first <= 239; }
  return /^ff[0-9a-f]{2}:/i.test(ip);
}

// ---------------------------------------------------------------------------
// UDPSocket
// ---------------------------------------------------------------------------

const kTakeDatagrams = Symbol.for('socket-iwa.direct-sockets.takeDatagrams');
const kSendDatagram = Symbol.for('socket-iwa.direct-sockets.sendDatagram');
const kSendRun = Symbol.for('socket-iwa.direct-sockets.sendRun');
const kSendStats = Symbol.for('socket-iwa.direct-sockets.sendStats');
const kRecvStats = Symbol.for('socket-iwa.direct-sockets.recvStats');
const UDP_READ_QUEUE_LIMIT = 4096; // datagrams held unread before new ones drop (like a full kernel buffer)

/**
 * A UDP socket. Connected mode: `{remoteAddress, remotePort}`; bound mode:
 * `{localAddress, localPort?}` (per-datagram addresses on read and write).
 */
export class UDPSocket {
  /**
   * @param {object} options UDPSocketOptions
   */
  constructor(options) {
    if (options === undefined || options === null || typeof options !== 'object') {
      throw new TypeError("UDPSocket: options must be an object with either 'remoteAddress'/'remotePort' or 'localAddress'.");
    }
    const o = options;
    const connected = o.remoteAddress !== undefined || o.remotePort !== undefined;
    const bound = o.localAddress !== undefined;
    if (connected && bound) throw new TypeError("UDPSocket: 'remoteAddress'/'remotePort' and 'localAddress' are mutually exclusive.");
    if (!connected && !bound) throw new TypeError("UDPSocket: either 'remoteAddress' and 'remotePort' or 'localAddress' must be specified.");
    const cfg = {
      mode: connected ? 'connected' : 'bound',
      sendBufferSize: checkPositiveInt(o.sendBufferSize, 'sendBufferSize'),
      receiveBufferSize: checkPositiveInt(o.receiveBufferSize, 'receiveBufferSize'),
      family: checkDnsQueryType(o.dnsQueryType),
      ipv6Only: o.ipv6Only,
      allowSharing: !!o.multicastAllowAddressSharing,
      ttl: o.multicastTimeToLive,
      loopback: o.multicastLoopback,
    };
    if (connected) {
      cfg.remoteAddress = checkHost(o.remoteAddress, 'remoteAddress');
      cfg.remotePort = checkPort(o.remotePort, 'remotePort', { required: true });
      if (o.localPort !== undefined) throw new TypeError("UDPSocket: 'localPort' requires 'localAddress' (bound mode).");
    } else {
      cfg.localAddress = checkIpLiteral(o.localAddress, 'localAddress');
      cfg.localPort = checkPort(o.localPort, 'localPort');
      if (cfg.ipv6Only !== undefined && !net.isIPv6(cfg.localAddress)) {
        throw new TypeError("UDPSocket: 'ipv6Only' requires an IPv6 'localAddress'.");
      }
    }
    if (cfg.ttl !== undefined) {
      const t = Number(cfg.ttl);
      if (!Number.isInteger(t) || t < 0 || t > 255) throw new TypeError('multicastTimeToLive must be an integer between 0 and 255.');
      cfg.ttl = t;
    }
    const st = {
      cfg, socket: null, opened: deferred(), closed: deferred(),
      readable: null, writable: null, readableDone: false, writableDone: false, state: 'opening',
      multicast: null, gro: null,
    };
    this[kInternal] = st;
    udpOpen(this, st);
  }

  /** @returns {Promise<object>} UDPSocketOpenInfo */
  get opened() { return this[kInternal].opened.promise; }
  /** @returns {Promise<undefined>} */
  get closed() { return this[kInternal].closed.promise; }

  /** Close the socket; rejects with InvalidStateError while a stream is locked. */
  async close() {
    const st = this[kInternal];
    if (st.state === 'opening') {
      await st.opened.promise.catch(() => {});
    }
    if (st.state === 'closed') return undefined;
    if (st.state === 'errored') throw domError('InvalidStateError', 'The socket was not opened.');
    if ((st.readable && st.readable.locked) || (st.writable && st.writable.locked)) {
      throw domError('InvalidStateError', 'Cannot close a socket while its readable or writable stream is locked.');
    }
    udpTeardown(st, null);
    return undefined;
  }
}

async function udpOpen(self, st) {
  const { cfg } = st;
  let target;
  try {
    if (cfg.mode === 'connected') target = await resolveHost(cfg.remoteAddress, cfg.family);
  } catch (err) {
    const e = err instanceof TypeError ? err : domError('NetworkError', `Name resolution failed for ${cfg.remoteAddress}: ${err.message}`, err);
    st.state = 'errored'; st.opened.reject(e); st.closed.reject(e); return;
  }
  const type = cfg.mode === 'connected' ? (target.family === 6 ? 'udp6' : 'udp4') : (net.isIPv6(cfg.localAddress) ? 'udp6' : 'udp4');
  const socket = dgram.createSocket({
    type, reuseAddr: cfg.allowSharing, ipv6Only: !!cfg.ipv6Only,
    recvBufferSize: cfg.receiveBufferSize, sendBufferSize: cfg.sendBufferSize,
    lookup: literalLookup,
  });
  st.socket = socket;
  const onEarlyError = (err) => {
    st.state = 'errored';
    const e = mapNodeError(err, 'UDPSocket open');
    st.opened.reject(e); st.closed.reject(e);
    try { socket.close(); } catch {}
  };
  socket.once('error', onEarlyError);
  try {
    await new Promise((resolve) => {
      if (cfg.mode === 'connected') socket.bind(0, resolve);
      else socket.bind({ port: cfg.localPort || 0, address: cfg.localAddress, exclusive: !cfg.allowSharing }, resolve);
    });
    if (cfg.mode === 'connected') {
      await new Promise((resolve, reject) => {
        socket.connect(cfg.remotePort, target.address, (err) => (err ? reject(err) : resolve()));
      });
    }
  } catch (err) { if (st.state === 'opening') onEarlyError(err); return; }
  if (st.state !== 'opening') return;
  socket.off('error', onEarlyError);
  try {
    if (cfg.ttl !== undefined) socket.setMulticastTTL(cfg.ttl);
    if (cfg.loopback !== undefined) socket.setMulticastLoopback(!!cfg.loopback);
  } catch (err) { onEarlyError(err); return; }

  let controller;
  st.readable = new ReadableStream({
    start(c) { controller = c; },
    cancel() {
      st.readableDone = true;
      if (st.sink) { const sink = st.sink; st.sink = null; sink.end(null); }
      udpMaybeClosed(st);
    },
  }, { highWaterMark: UDP_READ_QUEUE_LIMIT });
  // Every received datagram, from node:dgram's 'message' event, or a GRO run of
  // them (node/udp_gro.js: `segment` bytes each but the last; a buffer of its own,
  // or with `lent` a view the GRO receiver lends, which only a lending sink keeps).
  // node:dgram hands each datagram in its own exact-size ArrayBuffer that it
  // keeps no reference to: give that buffer away instead of copying it (the
  // reader owns `data` either way, as with Chromium). A run is cut into its
  // datagrams, each copied to be owned alone, except for a sink that takes runs
  // whole (`sink.segments`: the wasm bridge, which copies them into the wasm heap
  // and never hands them on; docs/BRIDGE.md "UDP_GRO: runs in one recvmsg").
  const one = (data, remoteAddress, remotePort, lent) => {
    if (st.sink) { st.sink.datagram({ data: st.gro && (!lent || st.sink.lends) ? data : ownBytes(data), remoteAddress, remotePort }); return; }
    if (controller.desiredSize <= 0) return; // full receive buffer: datagram dropped
    controller.enqueue({ data: ownBytes(data), remoteAddress, remotePort });
  };
  const received = (data, remoteAddress, remotePort, segment, lent) => {
    if (st.readableDone) return;
    if (!(segment < data.length)) { one(data, remoteAddress, remotePort, lent); return; }
    if (st.sink && st.sink.segments && (!lent || st.sink.lends)) { st.sink.datagram({ data, remoteAddress, remotePort, segmentSize: segment }); return; }
    for (let off = 0; off < data.length && !st.readableDone; off += segment) {
      one(data.subarray(off, Math.min(off + segment, data.length)), remoteAddress, remotePort, lent);
    }
  };
  socket.on('message', (msg, rinfo) => received(msg, rinfo.address, rinfo.port));
  // Bound sockets: GRO receives where node:ffi can (docs/BRIDGE.md "Under Node: GRO receives through node:ffi").
  // A sink that `lends` (the wasm bridge) gets views of the receiver's own area while it holds nothing
  // delivered before (`sink.idle()`); node/udp_gro.js groReceiver.
  if (cfg.mode === 'bound') st.gro = groReceiver(socket, received, () => !!(st.sink && st.sink.lends && st.sink.idle()));
  Object.defineProperty(st.readable, kRecvStats, {
    get() { const g = st.gro; return { gro: !!(g && g.on), groCalls: g ? g.calls : 0, groDatagrams: g ? g.datagrams : 0, groLent: g ? g.lent : 0 }; },
  });
  // Non-standard, for the wasm bridge (docs/BRIDGE.md "Under Node: datagrams
  // without streams"): readable[kTakeDatagrams](sink) locks the
  // readable and returns its reader (cancel() it to stop, as usual); datagrams
  // already queued are read out first, after that each one is handed to
  // sink.datagram({data, remoteAddress, remotePort}) from the 'message' event
  // itself, with no stream queue or promise per datagram; a sink with
  // `segments: true` gets a GRO run as one call, with `segmentSize` set
  // (`received` above); a sink with `lends: true` may get views of the GRO
  // receiver's own area, which it must copy out before it lets go of them (the
  // bridge copies into the wasm heap when the program reads), and its idle()
  // says when it holds none: only then is the area written again. sink.end(error|null)
  // reports the end of the readable. The sink applies its own receive limit.
  Object.defineProperty(st.readable, kTakeDatagrams, {
    value(sink) {
      const reader = st.readable.getReader(); // TypeError when already locked
      (async () => {
        try {
          while (controller.desiredSize < UDP_READ_QUEUE_LIMIT) {
            const r = await reader.read();
            if (r.done) { sink.end(null); return; }
            sink.datagram(r.value);
          }
        } catch (e) { sink.end(e); return; }
        if (st.readableDone) { sink.end(null); return; }
        st.sink = sink;
      })();
      return reader;
    },
  });
  socket.on('error', (err) => udpTeardown(st, mapNodeError(err, 'UDPSocket')));
  st.readController = controller;

  // Like Chromium, a failed write errors the writable stream (later writes
  // fail too). The writable side then counts as done, so close() and
  // `closed` still settle once the readable is released.
  const failWrite = (err) => { st.writableDone = true; if (st.readableDone) udpTeardown(st, null); throw err; };
  st.writable = new WritableStream({
    write(chunk) {
      let r;
      try { r = udpWrite(chunk); } catch (err) { failWrite(err); }
      return r && r.catch ? r.catch(failWrite) : r;
    },
    close() { st.writableDone = true; udpMaybeClosed(st); },
    abort() { st.writableDone = true; udpMaybeClosed(st); },
  }, { highWaterMark: 64 });
  // Non-standard, for the wasm bridge (docs/BRIDGE.md "Under Node: datagrams
  // without streams"): writable[kSendDatagram](message[, done]) copies the
  // datagram at once and queues it outside the WritableStream (which hands the
  // sink one write per completed write, a tick each); the queue goes out in one
  // loop from a microtask, i.e. as soon as the wasm program suspends, like a
  // burst of sendmsg() calls. With `done`, it returns nothing and calls
  // done(null) once the datagram was sent or done(error) when it failed (never
  // synchronously): no promise per datagram. Without, it returns a promise for
  // that datagram alone. A failure fails that datagram only, not the writable.
  // Refused once the writable is closed.
  Object.defineProperty(st.writable, kSendDatagram, {
    value(chunk, done) {
      let msg, err = null;
      if (st.writableDone || st.state !== 'open') err = domError('InvalidStateError', 'The writable is closed.');
      else {
        try {
          checkMessage(chunk);
          msg = { data: toSendCopy(chunk.data, 'UDPSocket write'), remoteAddress: chunk.remoteAddress, remotePort: chunk.remotePort };
        } catch (e) { err = e; }
      }
      if (typeof done === 'function') {
        if (err) queueMicrotask(() => done(err));
        else queueSend(msg, done);
        return undefined;
      }
      if (err) return Promise.reject(err);
      return new Promise((resolve, reject) => queueSend(msg, (e) => (e ? reject(e) : resolve())));
    },
  });
  // Non-standard, for the wasm bridge (docs/BRIDGE.md "UDP_SEGMENT: one sendmsg per
  // run"): writable[kSendRun](message, segment, done) sends message.data as datagrams of
  // `segment` bytes (the last may be shorter) to one destination, what one sendmsg() with
  // UDP_SEGMENT carries. message.data need only stay valid during the call (a view of the
  // wasm heap): when nothing is queued ahead of it the run goes out at once as one GSO
  // send, read where it is; otherwise each datagram is copied and queued as
  // kSendDatagram does. done(null) once all were sent, done(error) with the first
  // failure (never synchronously).
  Object.defineProperty(st.writable, kSendRun, {
    value(chunk, segment, done) {
      let err = null, data;
      if (st.writableDone || st.state !== 'open') err = domError('InvalidStateError', 'The writable is closed.');
      else if (!Number.isInteger(segment) || segment < 1) err = new TypeError('UDPSocket sendRun: segment must be a positive integer.');
      else {
        try {
          checkMessage(chunk);
          data = BUFFER_SOURCE.view(chunk.data);
          if (!data) throw new TypeError('UDPSocket sendRun: expected an ArrayBuffer or ArrayBufferView.');
        } catch (e) { err = e; }
      }
      if (err) { queueMicrotask(() => done(err)); return; }
      const host = chunk.remoteAddress, port = chunk.remotePort;
      if (batch.length === 0 && data.length > segment && gsoUsable() && runDestination(host, port)
          && data.length <= GSO_LIMITS.MAX_RUN_BYTES && Math.ceil(data.length / segment) <= GSO_LIMITS.MAX_SEGMENTS
          && gso.sendBytes(data, segment, host, port, wantFam)) {
        queueMicrotask(() => done(null));
        return;
      }
      const count = Math.max(1, Math.ceil(data.length / segment));
      let left = count, first = null;
      const one = (e) => { if (e && !first) first = e; if (--left === 0) done(first); };
      for (let k = 0; k < count; k++) {
        queueSend({ data: toSendCopy(data.subarray(k * segment, (k + 1) * segment)), remoteAddress: host, remotePort: port }, one);
      }
    },
  });
  // Non-standard, for tests and benchmarks: datagrams sent in GSO runs, and runs.
  Object.defineProperty(st.writable, kSendStats, {
    get() { return { gsoRuns: gso ? gso.runs : 0, gsoDatagrams: gso ? gso.datagrams : 0, gso: !!(gso && gso.on) }; },
  });
  let batch = [];
  function queueSend(msg, done) {
    batch.push(msg, done);
    if (batch.length === 2) queueMicrotask(flushBatch);
  }
  // Runs of equal-sized datagrams to one peer go out as one GSO sendmsg()
  // where node/udp_gso.js can (docs/BRIDGE.md "Under Node: GSO sends through
  // node:ffi"); the rest, and everything after a refused run, through node:dgram
  // in the program's order. `gso`: undefined until the first flush, null without.
  let gso;
  /** Whether a GSO send may go now (never after close: the descriptor number may already belong to another socket). */
  function gsoUsable() {
    if (gso === undefined) gso = cfg.mode === 'connected' ? null : gsoSender(socket);
    return gso !== null && gso.on && st.state === 'open' && !gso.busy();
  }
  /** Whether a GSO run may go to host:port: an address literal of the socket's family, a valid port. */
  function runDestination(host, port) {
    if (typeof host !== 'string' || !Number.isInteger(port) || port < 1 || port > 65535) return false;
    if (host !== lastHost) {
      const fam = net.isIP(host);
      if (fam === 0) return false; // a name, or not an address: udpSend checks and resolves it
      lastHost = host; lastFam = fam;
    }
    return lastFam === wantFam;
  }
  function flushBatch() {
    const b = batch;
    batch = [];
    let gsoOk = gsoUsable();
    for (let i = 0; i < b.length;) {
      if (gsoOk) {
        const n = sendRun(b, i);
        if (n > 0) { i += 2 * n; continue; }
        if (n < 0) gsoOk = false;
      }
      try { udpSend(b[i], true, b[i + 1]); } catch (err) { b[i + 1](err); }
      i += 2;
    }
  }
  const runDatas = [];
  /**
   * Sends the run of datagrams that starts at batch entry i (same destination,
   * every one as long as the first but the last, which may be shorter) as one
   * GSO send: the number sent, 0 when there is no run of two here, -1 when the
   * kernel refused it (nothing was sent).
   */
  function sendRun(b, i) {
    const first = b[i];
    const host = first.remoteAddress, port = first.remotePort, len = first.data.length;
    if (len === 0 || !runDestination(host, port)) return 0;
    let j = i + 2, bytes = len;
    while (j < b.length && j - i < 2 * GSO_LIMITS.MAX_SEGMENTS) {
      const m = b[j], n = m.data.length;
      if (m.remoteAddress !== host || m.remotePort !== port || n > len || n === 0 || bytes + n > GSO_LIMITS.MAX_RUN_BYTES) break;
      bytes += n; j += 2;
      if (n < len) break;
    }
    const count = (j - i) / 2;
    if (count < 2) return 0;
    runDatas.length = 0;
    for (let k = i; k < j; k += 2) runDatas.push(b[k].data);
    if (!gso.send(runDatas, host, port, wantFam)) return -1;
    queueMicrotask(() => { for (let k = i + 1; k < j; k += 2) b[k](null); });
    return count;
  }
  function checkMessage(chunk) {
    if (chunk === null || typeof chunk !== 'object' || !('data' in chunk)) {
      throw new TypeError('UDPSocket write: expected a UDPMessage {data, remoteAddress?, remotePort?}.');
    }
  }

  // The last destination host checked (a server answers the same few peers):
  // its address family, so repeated sends skip the checks and net.isIP.
  let lastHost = null, lastFam = 0;
  const wantFam = cfg.family || (type === 'udp6' ? 6 : 4);
  /** udpSend as a promise; throws (synchronously) on an invalid message. */
  function udpWrite(chunk, owned) {
    let resolve, reject;
    const p = new Promise((a, b) => { resolve = a; reject = b; });
    udpSend(chunk, owned, (err) => (err ? reject(err) : resolve()));
    return p;
  }
  /** Sends one datagram; done(err) once sent or failed (not synchronously). Throws on an invalid message. */
  function udpSend(chunk, owned, done) {
    checkMessage(chunk);
    const bytes = owned ? chunk.data : toSendCopy(chunk.data, 'UDPSocket write');
    const sent = (err) => done(err ? mapNodeError(err, 'send') : null);
    singleSends += 1;
    if (cfg.mode === 'connected') {
      if (chunk.remoteAddress !== undefined || chunk.remotePort !== undefined) {
        throw new TypeError("UDPMessage: 'remoteAddress' and 'remotePort' must not be specified in connected mode.");
      }
      socket.send(bytes, sent);
      return;
    }
    if (chunk.remoteAddress === undefined || chunk.remotePort === undefined) {
      throw new TypeError("UDPMessage: 'remoteAddress' and 'remotePort' must be specified in bound mode.");
    }
    const port = checkPort(chunk.remotePort, 'remotePort', { required: true });
    const host = chunk.remoteAddress;
    let fam;
    if (host === lastHost) fam = lastFam;
    else {
      fam = net.isIP(checkHost(host, 'remoteAddress'));
      lastHost = host; lastFam = fam;
    }
    if (fam) {
      // An address literal (every datagram the wasm bridge sends): no
      // resolution step, so no async function and no extra promise per datagram.
      if (fam !== wantFam) {
        const err = new TypeError(`Address ${host} does not match dnsQueryType.`);
        queueMicrotask(() => done(err));
        return;
      }
      socket.send(bytes, port, host, sent);
      return;
    }
    resolveHost(host, wantFam).then((t) => {
      try { socket.send(bytes, port, t.address, sent); } catch (err) { done(err); }
    }, (err) => {
      done(err instanceof TypeError ? err : domError('NetworkError', `Name resolution failed for ${host}: ${err.message}`, err));
    });
  }

  const local = socket.address();
  st.state = 'open';
  const info = {
    readable: st.readable,
    writable: st.writable,
    localAddress: local.address,
    localPort: local.port,
  };
  if (cfg.mode === 'connected') {
    const remote = socket.remoteAddress();
    info.remoteAddress = remote.address;
    info.remotePort = remote.port;
  } else {
    st.multicast = new MulticastController(kInternal, socket);
    info.multicastController = st.multicast;
  }
  st.opened.resolve(info);
}

function udpMaybeClosed(st) {
  if (st.readableDone && st.writableDone) udpTeardown(st, null);
}

function udpTeardown(st, error) {
  if (st.state === 'closed' || st.state === 'errored') return;
  st.state = error ? 'errored' : 'closed';
  if (st.multicast) st.multicast[kInternal].closed = true;
  if (st.gro) st.gro.stop(true); // before the descriptor closes
  try { st.socket.close(); } catch {}
  if (!st.readableDone) {
    st.readableDone = true;
    try { error ? st.readController.error(error) : st.readController.close(); } catch {}
    if (st.sink) { const sink = st.sink; st.sink = null; sink.end(error); }
  }
  if (error) st.closed.reject(error); else st.closed.resolve(undefined);
}

// ---------------------------------------------------------------------------
// TCPSocket
// ---------------------------------------------------------------------------

const TCP_READ_HIGH_WATER = 256 * 1024;
const TCP_WRITE_HIGH_WATER = 256 * 1024;

/**
 * A TCP client connection, or (when produced by TCPServerSocket's readable)
 * an accepted connection.
 */
export class TCPSocket {
  /**
   * @param {string} remoteAddress IP literal or host name
   * @param {number} remotePort
   * @param {object} [options] TCPSocketOptions
   */
  constructor(remoteAddress, remotePort, options = {}) {
    let accepted = null;
    if (remoteAddress === kInternal) {
      accepted = remotePort;
    } else {
      if (arguments.length < 2) throw new TypeError('TCPSocket: remoteAddress and remotePort are required.');
      checkHost(remoteAddress, 'remoteAddress');
      remotePort = checkPort(remotePort, 'remotePort', { required: true });
      if (options === null || typeof options !== 'object') throw new TypeError('TCPSocket: options must be an object.');
    }
    const cfg = accepted ? {} : {
      remoteAddress, remotePort,
      sendBufferSize: checkPositiveInt(options.sendBufferSize, 'sendBufferSize'),
      receiveBufferSize: checkPositiveInt(options.receiveBufferSize, 'receiveBufferSize'),
      noDelay: !!options.noDelay,
      keepAliveDelay: options.keepAliveDelay,
      family: checkDnsQueryType(options.dnsQueryType),
    };
    if (cfg.keepAliveDelay !== undefined) {
      const k = Number(cfg.keepAliveDelay);
      if (!Number.isFinite(k) || k < 1000) throw new TypeError('keepAliveDelay must be at least 1000 ms.');
      cfg.keepAliveDelay = k;
    }
    const st = {
      cfg, socket: null, opened: deferred(), closed: deferred(), state: 'opening',
      readable: null, writable: null, readableDone: false, writableDone: false, error: null,
    };
    this[kInternal] = st;
    if (accepted) tcpAttach(st, accepted);
    else tcpConnect(st);
  }

  /** @returns {Promise<object>} TCPSocketOpenInfo */
  get opened() { return this[kInternal].opened.promise; }
  /** @returns {Promise<undefined>} */
  get closed() { return this[kInternal].closed.promise; }

  /** Close the connection; rejects with InvalidStateError while a stream is locked. */
  async close() {
    const st = this[kInternal];
    if (st.state === 'opening') await st.opened.promise.catch(() => {});
    if (st.state === 'closed') return undefined;
    if (st.state === 'errored') throw domError('InvalidStateError', 'The socket was not opened.');
    if ((st.readable && st.readable.locked) || (st.writable && st.writable.locked)) {
      throw domError('InvalidStateError', 'Cannot close a socket while its readable or writable stream is locked.');
    }
    tcpTeardown(st, null);
    return undefined;
  }
}

async function tcpConnect(st) {
  const { cfg } = st;
  let target;
  try {
    target = await resolveHost(cfg.remoteAddress, cfg.family);
  } catch (err) {
    const e = err instanceof TypeError ? err : domError('NetworkError', `Name resolution failed for ${cfg.remoteAddress}: ${err.message}`, err);
    st.state = 'errored'; st.opened.reject(e); st.closed.reject(e); return;
  }
  const socket = net.connect({
    host: target.address, port: cfg.remotePort, noDelay: cfg.noDelay,
    keepAlive: cfg.keepAliveDelay !== undefined, keepAliveInitialDelay: cfg.keepAliveDelay,
  });
  const onEarlyError = (err) => {
    st.state = 'errored';
    const e = mapNodeError(err, `TCPSocket connect to ${target.address}:${cfg.remotePort}`);
    st.opened.reject(e); st.closed.reject(e);
    socket.destroy();
  };
  socket.once('error', onEarlyError);
  socket.once('connect', () => {
    socket.off('error', onEarlyError);
    tcpAttach(st, socket);
  });
}

function tcpAttach(st, socket) {
  st.socket = socket;
  socket.setNoDelay(st.cfg.noDelay !== false);
  let controller;
  st.readable = new ReadableStream({
    type: 'bytes',
    start(c) { controller = c; },
    pull() { if (!st.readableDone) socket.resume(); },
    cancel() {
      st.readableDone = true;
      socket.pause();
      tcpMaybeClosed(st);
    },
  }, { highWaterMark: TCP_READ_HIGH_WATER });
  st.readController = controller;
  socket.on('data', (buf) => {
    if (st.readableDone) return;
    const chunk = new Uint8Array(buf.length);
    chunk.set(buf);
    controller.enqueue(chunk);
    if (controller.desiredSize <= 0) socket.pause();
  });
  socket.on('end', () => {
    if (!st.readableDone) {
      st.readableDone = true;
      try { controller.close(); } catch {}
      tcpMaybeClosed(st);
    }
  });
  socket.on('error', (err) => tcpTeardown(st, mapNodeError(err, 'TCPSocket')));
  socket.on('close', () => {
    if (st.state === 'open') {
      // Peer reset or both directions shut: nothing more can flow.
      if (!st.readableDone) { st.readableDone = true; try { controller.close(); } catch {} }
      tcpTeardown(st, null);
    }
  });

  st.writable = new WritableStream({
    write(chunk) {
      const bytes = toBytes(chunk, 'TCPSocket write');
      if (st.state !== 'open') throw domError('InvalidStateError', 'The socket is closed.');
      return new Promise((resolve, reject) => {
        socket.write(bytes, (err) => (err ? reject(mapNodeError(err, 'TCPSocket write')) : resolve()));
      });
    },
    close() {
      st.writableDone = true;
      return new Promise((resolve) => {
        if (socket.destroyed || socket.writableEnded) { resolve(); tcpMaybeClosed(st); return; }
        socket.end(() => { resolve(); tcpMaybeClosed(st); });
      });
    },
    abort() { st.writableDone = true; socket.destroySoon(); tcpMaybeClosed(st); },
  }, new ByteLengthQueuingStrategy({ highWaterMark: TCP_WRITE_HIGH_WATER }));

  st.state = 'open';
  st.opened.resolve({
    readable: st.readable,
    writable: st.writable,
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
    localAddress: socket.localAddress,
    localPort: socket.localPort,
  });
}

function tcpMaybeClosed(st) {
  if (st.readableDone && st.writableDone) tcpTeardown(st, null);
}

function tcpTeardown(st, error) {
  if (st.state === 'closed' || st.state === 'errored') return;
  st.state = error ? 'errored' : 'closed';
  if (!st.readableDone) {
    st.readableDone = true;
    try { error ? st.readController.error(error) : st.readController.close(); } catch {}
    if (st.sink) { const sink = st.sink; st.sink = null; sink.end(error); }
  }
  if (!st.writableDone && st.writable) {
    st.writableDone = true;
  }
  if (error) st.socket.destroy(); else st.socket.end(() => st.socket.destroy());
  if (!error) setTimeout(() => st.socket.destroy(), 1000).unref();
  if (error) st.closed.reject(error); else st.closed.resolve(undefined);
}

// ---------------------------------------------------------------------------
// TCPServerSocket
// ---------------------------------------------------------------------------

/** A listening TCP socket; `opened.readable` yields accepted TCPSocket objects. */
export class TCPServerSocket {
  /**
   * @param {string} localAddress IP literal to listen on
   * @param {{localPort?: number, backlog?: number, ipv6Only?: boolean}} [options]
   */
  constructor(localAddress, options = {}) {
    if (arguments.length < 1) throw new TypeError('TCPServerSocket: localAddress is required.');
    checkIpLiteral(localAddress, 'localAddress');
    if (options === null || typeof options !== 'object') throw new TypeError('TCPServerSocket: options must be an object.');
    const cfg = {
      localAddress,
      localPort: checkPort(options.localPort, 'localPort'),
      backlog: checkPositiveInt(options.backlog, 'backlog'),
      ipv6Only: options.ipv6Only,
    };
    if (cfg.ipv6Only !== undefined && !net.isIPv6(localAddress)) {
      throw new TypeError("TCPServerSocket: 'ipv6Only' requires an IPv6 'localAddress'.");
    }
    const st = { cfg, server: null, opened: deferred(), closed: deferred(), state: 'opening', readable: null };
    this[kInternal] = st;
    serverOpen(st);
  }

  /** @returns {Promise<{readable: ReadableStream, localAddress: string, localPort: number}>} */
  get opened() { return this[kInternal].opened.promise; }
  /** @returns {Promise<undefined>} */
  get closed() { return this[kInternal].closed.promise; }

  /** Stop listening; rejects with InvalidStateError while the readable is locked. */
  async close() {
    const st = this[kInternal];
    if (st.state === 'opening') await st.opened.promise.catch(() => {});
    if (st.state === 'closed') return undefined;
    if (st.state === 'errored') throw domError('InvalidStateError', 'The socket was not opened.');
    if (st.readable && st.readable.locked) {
      throw domError('InvalidStateError', 'Cannot close a server socket while its readable stream is locked.');
    }
    serverTeardown(st, null);
    return undefined;
  }
}

function serverOpen(st) {
  const { cfg } = st;
  const server = net.createServer({ pauseOnConnect: true });
  st.server = server;
  const onEarlyError = (err) => {
    st.state = 'errored';
    const e = mapNodeError(err, `TCPServerSocket listen on ${cfg.localAddress}:${cfg.localPort || 0}`);
    st.opened.reject(e); st.closed.reject(e);
    server.close();
  };
  server.once('error', onEarlyError);
  server.listen({ host: cfg.localAddress, port: cfg.localPort || 0, backlog: cfg.backlog, ipv6Only: !!cfg.ipv6Only }, () => {
    server.off('error', onEarlyError);
    let controller;
    st.readable = new ReadableStream({
      start(c) { controller = c; },
      cancel() { serverTeardown(st, null); },
    }, { highWaterMark: cfg.backlog || 64 });
    st.readController = controller;
    server.on('connection', (sock) => {
      if (st.state !== 'open') { sock.destroy(); return; }
      const tcp = new TCPSocket(kInternal, sock);
      sock.resume();
      controller.enqueue(tcp);
    });
    server.on('error', (err) => {
      // Out of descriptors (or a connection gone before accept): that one
      // connection is lost, the listener stays. libuv closes the pending
      // connection with its reserve descriptor, so this is no busy loop.
      if (['EMFILE', 'ENFILE', 'ECONNABORTED', 'ENOBUFS', 'ENOMEM'].includes(err && err.code)) { st.acceptErrors = (st.acceptErrors || 0) + 1; return; }
      serverTeardown(st, mapNodeError(err, 'TCPServerSocket'));
    });
    const addr = server.address();
    st.state = 'open';
    st.opened.resolve({ readable: st.readable, localAddress: addr.address, localPort: addr.port });
  });
}

function serverTeardown(st, error) {
  if (st.state === 'closed' || st.state === 'errored') return;
  st.state = error ? 'errored' : 'closed';
  try { error ? st.readController.error(error) : st.readController.close(); } catch {}
  st.server.close();
  if (error) st.closed.reject(error); else st.closed.resolve(undefined);
}

// Datagrams this process handed to node:dgram one at a time (UDPSocket.send()s).
let singleSends = 0;

/**
 * Non-standard: how this process's UDP sockets sent, summed over all of them:
 * GSO runs (one sendmsg each), the datagrams in them, the runs read in place
 * from the sender's memory (the wasm heap), and datagrams sent one at a time
 * through node:dgram. emscripten/run-node.mjs prints it at exit with
 * SOCKET_IWA_NODE_UDP_STATS=1, so a test can tell that a wasm program's runs
 * really left as GSO sends (docs/BRIDGE.md "UDP_SEGMENT: one sendmsg per run").
 * @returns {{gsoRuns: number, gsoDatagrams: number, inPlaceRuns: number, singleDatagrams: number}}
 */
export function udpSendTotals() {
  return { gsoRuns: gsoTotals.runs, gsoDatagrams: gsoTotals.datagrams, inPlaceRuns: gsoTotals.inPlaceRuns, singleDatagrams: singleSends };
}

// ---------------------------------------------------------------------------
// install
// ---------------------------------------------------------------------------

/**
 * Define UDPSocket, TCPSocket, TCPServerSocket and MulticastController on
 * `target` (normally globalThis) when missing, like a browser exposes them.
 * @param {object} [target=globalThis]
 * @param {{force?: boolean}} [options] replace existing definitions
 * @returns {object} target
 */
export function install(target = globalThis, { force = false } = {}) {
  const defs = { UDPSocket, TCPSocket, TCPServerSocket, MulticastController };
  for (const [name, value] of Object.entries(defs)) {
    if (!force && typeof target[name] === 'function') continue;
    Object.defineProperty(target, name, { value, writable: true, configurable: true, enumerable: false });
  }
  return target;
}

export default { UDPSocket, TCPSocket, TCPServerSocket, MulticastController, install };
