// Socket.IO v5 over Engine.IO v4: the client (talks to a stock npm `socket.io`
// server or ours). The event/ack machinery it shares with the server side lives
// in api/socketio.js.

import { SocketIWAError, argError, closedError } from './errors.js';
import { EIO, SIO, ProtocolError, decodeEngine, encodeEngine, encodeSocket, SocketDecoder } from './socketio_codec.js';
import { SocketIOEndpoint } from './socketio.js';

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

/** The stock client's reconnection defaults (socket.io-client 4.x Manager). */
export const RECONNECT_DEFAULTS = Object.freeze({
  reconnection: true, reconnectionAttempts: Infinity, reconnectionDelay: 1000, reconnectionDelayMax: 5000, randomizationFactor: 0.5,
});

/** Default cap on packets buffered by emit() while disconnected. */
export const DEFAULT_SEND_BUFFER_LIMIT = 10000;

/** Reasons after which the client does not reconnect on its own (as stock). */
const FINAL_REASONS = ['io client disconnect', 'io server disconnect'];

function checkNumber(name, v, min, allowInfinity = false) {
  if (v === undefined) return;
  if (typeof v !== 'number' || Number.isNaN(v) || v < min || (!allowInfinity && !Number.isFinite(v))) {
    throw argError(`${name} must be a number >= ${min}${allowInfinity ? ' (or Infinity)' : ''}, got ${JSON.stringify(v)}`);
  }
}

/** Validate and complete the reconnection options. */
export function reconnectOptions(opts = {}) {
  if (opts.reconnection !== undefined && typeof opts.reconnection !== 'boolean') throw argError(`reconnection must be a boolean, got ${JSON.stringify(opts.reconnection)}`);
  checkNumber('reconnectionAttempts', opts.reconnectionAttempts, 0, true);
  checkNumber('reconnectionDelay', opts.reconnectionDelay, 0);
  checkNumber('reconnectionDelayMax', opts.reconnectionDelayMax, 0);
  checkNumber('randomizationFactor', opts.randomizationFactor, 0);
  if (opts.randomizationFactor !== undefined && opts.randomizationFactor > 1) throw argError(`randomizationFactor must be in 0..1, got ${opts.randomizationFactor}`);
  const o = {};
  for (const k of Object.keys(RECONNECT_DEFAULTS)) o[k] = opts[k] ?? RECONNECT_DEFAULTS[k];
  return o;
}

/**
 * The delay before reconnection attempt `attempt` (0-based), as the stock
 * client's backoff computes it: delay * 2^attempt, +- randomizationFactor, capped.
 */
export function backoffDelay(attempt, { reconnectionDelay, reconnectionDelayMax, randomizationFactor }, rand = Math.random()) {
  let ms = reconnectionDelay * Math.pow(2, attempt);
  if (randomizationFactor) {
    const deviation = Math.floor(rand * randomizationFactor * ms);
    ms = (Math.floor(rand * 10) & 1) === 0 ? ms - deviation : ms + deviation;
  }
  return Math.min(ms, reconnectionDelayMax) | 0;
}

/**
 * Socket.IO client for one namespace. It runs over a transport (a
 * WebSocketConnection, or a PollingClient when WebSocket failed) and, when
 * the connection is lost, reconnects with the stock client's options and
 * events (reconnect_attempt, reconnect, reconnect_error, reconnect_failed,
 * connect_error), buffering emits meanwhile.
 */
export class SocketIOClient extends SocketIOEndpoint {
  #ws; #start = null; #decoder; #pingTimer = null; #pingInterval = 25000; #pingTimeout = 20000; #closedReason = null;
  #reconnect; #rc; #attempts = 0; #reconnecting = false; #reconnectTimer = null; #final = false; #everConnected = false;
  #sendBuffer = []; #sendBufferLimit; #unbind = null;

  /**
   * @param {object} ws the first transport (WebSocketConnection or PollingClient)
   * @param {{namespace?: string, auth?: object|Function, ackTimeoutMs?: number, binaryType?: string,
   *   start?: Function, reconnect?: () => Promise<{transport: object, start: Function}>, reconnection?: boolean,
   *   reconnectionAttempts?: number, reconnectionDelay?: number, reconnectionDelayMax?: number,
   *   randomizationFactor?: number, sendBufferLimit?: number}} opts
   */
  constructor(ws, opts = {}) {
    super(opts.ackTimeoutMs);
    this._nsp = opts.namespace || '/';
    this.#rc = reconnectOptions(opts);
    if (typeof opts.reconnect !== 'function') this.#rc.reconnection = false;
    this.#reconnect = opts.reconnect;
    checkNumber('sendBufferLimit', opts.sendBufferLimit, 0, true);
    this.#sendBufferLimit = opts.sendBufferLimit ?? DEFAULT_SEND_BUFFER_LIMIT;
    if (opts.auth !== undefined && opts.auth !== null && typeof opts.auth !== 'object' && typeof opts.auth !== 'function') {
      throw argError('auth must be an object or a function (cb) => cb(object)', 'ERR_INVALID_ARG_TYPE');
    }
    /** Sent with each namespace CONNECT; a function is called per attempt: auth(cb) with cb(object). */
    this.auth = opts.auth;
    this.#binaryTypeWanted = opts.binaryType;
    /** Resolves on the first CONNECT, rejects on connect_error / close before it. */
    this.ready = new Promise((resolve, reject) => { this._resolveReady = resolve; this._rejectReady = reject; });
    this.ready.catch(() => {});
    this.#attach(ws, opts.start);
  }

  #binaryTypeWanted;

  /** 1 when connected, 0 while connecting / reconnecting, 3 when closed for good. */
  get readyState() { return this.connected ? 1 : this.#final ? 3 : 0; }
  /** Bytes queued on the transport. */
  get bufferedAmount() { return this.#ws.bufferedAmount; }
  /** How binary payloads arrive. */
  get binaryType() { return this.#ws.binaryType; }
  /** @param {'arraybuffer'|'uint8array'|'blob'} v */
  set binaryType(v) { this.#ws.binaryType = v; this.#binaryTypeWanted = v; }
  /** The current transport (a WebSocketConnection, or the polling fallback). */
  get transport() { return this.#ws; }
  /** 'websocket' or 'polling'. */
  get transportName() { return this.#ws.transportName === 'polling' ? 'polling' : 'websocket'; }
  /** Ping interval announced by the server (ms). */
  get pingInterval() { return this.#pingInterval; }
  /** Ping timeout announced by the server (ms). */
  get pingTimeout() { return this.#pingTimeout; }
  /** Whether a reconnection is under way. */
  get reconnecting() { return this.#reconnecting; }
  /** Packets emitted while disconnected, sent on the next connect. */
  get sendBuffer() { return this.#sendBuffer.length; }

  #attach(ws, start) {
    if (this.#unbind) this.#unbind();
    this.#ws = ws;
    if (this.#binaryTypeWanted) ws.binaryType = this.#binaryTypeWanted;
    this.#closedReason = null;
    this.#decoder = new SocketDecoder((p) => this.#onSocketPacket(p));
    const onMessage = (data) => this.#onEngine(data);
    const onClose = () => this.#onClose(this.#closedReason || 'transport close');
    const onError = (err) => { this.#closedReason ||= err.code === 'ERR_SOCKETIO_PARSE' ? 'parse error' : 'transport error'; if (this.connected) this.emitLocal('error', err); };
    const onDrain = () => this.emitLocal('drain');
    ws.on('message', onMessage); ws.on('close', onClose); ws.on('error', onError); ws.on('drain', onDrain);
    this.#unbind = () => { ws.off('message', onMessage); ws.off('close', onClose); ws.off('error', onError); ws.off('drain', onDrain); };
    this.#start = start || null;
  }

  /** Deliver what arrived with the handshake (called by createTCP after listeners are set). */
  _start() { const s = this.#start; this.#start = null; s?.(); }

  _canEmit() { return this.connected || (!this.#final); }

  _sendPacket(packet) {
    if (!this.connected) {
      if (this.#final) throw closedError('Socket.IO send');
      if (this.#sendBuffer.length >= this.#sendBufferLimit) {
        throw new SocketIWAError('ERR_SOCKETIO_BUFFER_FULL', `${this.#sendBuffer.length} packets already wait for the connection (sendBufferLimit)`);
      }
      this.#sendBuffer.push(packet);
      return;
    }
    if (this.#ws.readyState !== 1) throw closedError('Socket.IO send');
    const parts = encodeSocket(packet);
    this.#ws.send(encodeEngine(EIO.MESSAGE, parts[0]));
    for (const b of parts.slice(1)) this.#ws.send(b);
  }

  #armPing() {
    clearTimeout(this.#pingTimer);
    const ws = this.#ws;
    this.#pingTimer = setTimeout(() => {
      this.#closedReason = 'ping timeout';
      ws.terminate();
    }, this.#pingInterval + this.#pingTimeout);
  }

  #sendConnect() {
    const send = (data) => {
      if (this.#ws.readyState !== 1) return;
      try { this.#ws.send(encodeEngine(EIO.MESSAGE, encodeSocket({ type: SIO.CONNECT, nsp: this._nsp, data })[0])); } catch {}
    };
    if (typeof this.auth === 'function') {
      let called = false;
      const cb = (data) => { if (!called) { called = true; send(data); } };
      try {
        const r = this.auth(cb);
        if (r && typeof r.then === 'function') r.then(cb, (err) => this.#protocolFailure(new SocketIWAError('ERR_SOCKETIO_AUTH', `auth function failed: ${err && err.message}`)));
      } catch (err) { this.#protocolFailure(new SocketIWAError('ERR_SOCKETIO_AUTH', `auth function threw: ${err && err.message}`)); }
    } else send(this.auth);
  }

  #onEngine(data) {
    let pkt;
    try {
      pkt = decodeEngine(typeof data === 'string' ? data : data);
      switch (pkt.type) {
        case EIO.OPEN: {
          let h;
          try { h = JSON.parse(pkt.data); } catch { throw new ProtocolError('invalid open packet'); }
          if (!h || typeof h.sid !== 'string') throw new ProtocolError('open packet without sid');
          this.engineId = h.sid;
          this.#pingInterval = h.pingInterval ?? 25000;
          this.#pingTimeout = h.pingTimeout ?? 20000;
          this.#armPing();
          this.#sendConnect();
          return;
        }
        case EIO.PING:
          this.#armPing();
          this.#ws.send(encodeEngine(EIO.PONG, pkt.data));
          this.emitLocal('ping');
          return;
        case EIO.PONG: case EIO.NOOP: case EIO.UPGRADE: return;
        case EIO.CLOSE:
          this.#closedReason = 'transport close';
          this.#ws.close();
          return;
        case EIO.MESSAGE:
          this.#decoder.add(pkt.binary ? pkt.data : pkt.data);
          return;
      }
    } catch (err) {
      this.#protocolFailure(err);
    }
  }

  #protocolFailure(err) {
    this.#closedReason = 'parse error';
    const e = err instanceof SocketIWAError ? err : new ProtocolError(String(err && err.message));
    this.emitLocal('error', e);
    if (this.#ws.readyState === 1) {
      if (this.#ws.transportName === 'polling') this.#ws.terminate();
      else this.#ws.close(4002, 'parse error'); // 4002 = Socket.IO parse error (app range)
    }
  }

  #onSocketPacket(p) {
    if (p.nsp !== this._nsp) return;
    switch (p.type) {
      case SIO.CONNECT: {
        if (!p.data || typeof p.data.sid !== 'string') throw new ProtocolError('CONNECT without sid');
        this.id = p.data.sid;
        this.connected = true;
        const wasReconnect = this.#reconnecting || this.#everConnected;
        const attempts = this.#attempts;
        this.#reconnecting = false;
        this.#attempts = 0;
        this.#everConnected = true;
        if (wasReconnect) this.emitLocal('reconnect', attempts);
        this.emitLocal('open');
        this.emitLocal('connect');
        this._resolveReady(this);
        this.#flushSendBuffer();
        return;
      }
      case SIO.CONNECT_ERROR: {
        const msg = typeof p.data === 'string' ? p.data : p.data && p.data.message;
        const err = new SocketIWAError('ECONNREFUSED', `Socket.IO connect_error: ${msg}`);
        err.data = p.data && p.data.data;
        this.emitLocal('connect_error', err);
        this._rejectReady(err);
        this.#closedReason = 'io server disconnect';
        this.#ws.close();
        return;
      }
      case SIO.DISCONNECT:
        this.#closedReason = 'io server disconnect';
        this.#ws.close();
        return;
      default:
        this._onPacket(p);
    }
  }

  #flushSendBuffer() {
    const queued = this.#sendBuffer.splice(0);
    for (let i = 0; i < queued.length; i++) {
      if (!this.connected || this.#ws.readyState !== 1) { this.#sendBuffer.unshift(...queued.slice(i)); return; }
      this._sendPacket(queued[i]);
    }
  }

  /** Leave the namespace and close the connection ('io client disconnect'); no reconnection follows. */
  disconnect() {
    clearTimeout(this.#reconnectTimer);
    const wasReconnecting = this.#reconnecting;
    this.#reconnecting = false;
    if (this.#ws.readyState === 1) {
      if (this.connected) { try { this._sendPacket({ type: SIO.DISCONNECT, nsp: this._nsp }); } catch {} }
      this.#closedReason = 'io client disconnect';
      if (this.#ws.transportName === 'polling') this.#ws.close(); else this.#ws.close(1000);
    } else if (!this.#final) {
      this.#closedReason = 'io client disconnect';
      if (wasReconnecting || this.#ws.readyState === 3) this.#onClose('io client disconnect');
    }
    return this;
  }

  /** Alias of disconnect(). */
  close() { return this.disconnect(); }

  /**
   * Connect again after a disconnect() or a give-up (reconnect_failed), as
   * stock socket.connect(). Resolves when connected. Needs the reconnect
   * function createTCP supplies.
   * @returns {Promise<this>}
   */
  connect() {
    if (this.connected) return Promise.resolve(this);
    if (!this.#reconnect) return Promise.reject(new SocketIWAError('ENOTSUP', 'this client cannot reconnect (no transport factory)'));
    const p = new Promise((resolve, reject) => {
      const ok = () => { this.off('close', ko); resolve(this); };
      const ko = (reason) => { this.off('connect', ok); reject(new SocketIWAError('ECONNREFUSED', `Socket.IO connect failed (${reason})`)); };
      this.once('connect', ok); this.once('close', ko);
    });
    if (this.#final || !this.#reconnecting) {
      this.#final = false;
      this.#attempts = 0;
      this.#reconnecting = true;
      this.#openTransport();
    }
    return p;
  }

  /** Alias of connect(). */
  open() { return this.connect(); }

  #onClose(reason) {
    if (this.#final) return;
    clearTimeout(this.#pingTimer);
    const was = this.connected;
    this.connected = false;
    this._failAcks(reason);
    if (was) this.emitLocal('disconnect', reason);
    if (this.#rc.reconnection && !FINAL_REASONS.includes(reason) && (this.#everConnected || this.#reconnecting)) {
      this.#scheduleReconnect();
      return;
    }
    this.#giveUp(reason);
  }

  #giveUp(reason) {
    this.#final = true;
    this.#reconnecting = false;
    clearTimeout(this.#reconnectTimer);
    this._rejectReady(new SocketIWAError('ECONNRESET', `Socket.IO connection closed before connect (${reason})`));
    const dropped = this.#sendBuffer.splice(0);
    void dropped;
    this.emitLocal('close', reason);
  }

  #scheduleReconnect() {
    if (this.#attempts >= this.#rc.reconnectionAttempts) {
      this.emitLocal('reconnect_failed');
      this.#giveUp('reconnect failed');
      return;
    }
    this.#reconnecting = true;
    const delay = backoffDelay(this.#attempts, this.#rc);
    this.#attempts++;
    this.#reconnectTimer = setTimeout(() => {
      if (!this.#reconnecting) return;
      this.emitLocal('reconnect_attempt', this.#attempts);
      this.#openTransport();
    }, delay);
  }

  async #openTransport() {
    let t;
    try {
      t = await this.#reconnect();
    } catch (err) {
      if (!this.#reconnecting) return;
      const e = err && err.code ? err : new SocketIWAError('ECONNREFUSED', String(err && err.message));
      this.emitLocal('reconnect_error', e);
      this.emitLocal('connect_error', e);
      if (this.#rc.reconnection) this.#scheduleReconnect();
      else this.#giveUp('transport error');
      return;
    }
    if (!this.#reconnecting) { try { t.transport.terminate(); } catch {} return; }
    this.#attach(t.transport, t.start);
    this._start();
  }
}
