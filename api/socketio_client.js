// Socket.IO v5 over Engine.IO v4: the client (talks to a stock npm `socket.io`
// server or ours). The event/ack machinery it shares with the server side lives
// in api/socketio.js.

import { SocketIWAError, closedError } from './errors.js';
import { EIO, SIO, ProtocolError, decodeEngine, encodeEngine, encodeSocket, SocketDecoder } from './socketio_codec.js';
import { SocketIOEndpoint } from './socketio.js';

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

/**
 * Socket.IO client for one namespace, over a WebSocketConnection that targets
 * `<path>?EIO=4&transport=websocket`.
 */
export class SocketIOClient extends SocketIOEndpoint {
  #ws; #decoder; #pingTimer = null; #pingInterval = 25000; #pingTimeout = 20000; #closedReason = null;

  /**
   * @param {import('./websocket.js').WebSocketConnection} ws
   * @param {{namespace?: string, auth?: object, ackTimeoutMs?: number, binaryType?: string}} opts
   */
  constructor(ws, opts = {}) {
    super(opts.ackTimeoutMs);
    this._nsp = opts.namespace || '/';
    this.#ws = ws;
    this.auth = opts.auth;
    if (opts.binaryType) ws.binaryType = opts.binaryType;
    this.#decoder = new SocketDecoder((p) => this.#onSocketPacket(p));
    ws.on('message', (data) => this.#onEngine(data));
    ws.on('close', () => this.#onClose(this.#closedReason || 'transport close'));
    ws.on('error', (err) => { this.#closedReason ||= err.code === 'ERR_SOCKETIO_PARSE' ? 'parse error' : 'transport error'; this.emitLocal('error', err); });
    ws.on('drain', () => this.emitLocal('drain'));
    /** Resolves on CONNECT, rejects on connect_error / close. */
    this.ready = new Promise((resolve, reject) => { this._resolveReady = resolve; this._rejectReady = reject; });
    this.ready.catch(() => {});
  }

  /** 1 when connected, 3 when closed, 0 before. */
  get readyState() { return this.connected ? 1 : this.#ws.readyState === 1 ? 0 : this.#ws.readyState; }
  /** Bytes queued on the transport. */
  get bufferedAmount() { return this.#ws.bufferedAmount; }
  /** How binary payloads arrive. */
  get binaryType() { return this.#ws.binaryType; }
  /** @param {'arraybuffer'|'uint8array'|'blob'} v */
  set binaryType(v) { this.#ws.binaryType = v; }
  /** The underlying WebSocketConnection. */
  get transport() { return this.#ws; }
  /** Ping interval announced by the server (ms). */
  get pingInterval() { return this.#pingInterval; }
  /** Ping timeout announced by the server (ms). */
  get pingTimeout() { return this.#pingTimeout; }

  _sendPacket(packet) {
    if (this.#ws.readyState !== 1) throw closedError('Socket.IO send');
    const parts = encodeSocket(packet);
    this.#ws.send(encodeEngine(EIO.MESSAGE, parts[0]));
    for (const b of parts.slice(1)) this.#ws.send(b);
  }

  #armPing() {
    clearTimeout(this.#pingTimer);
    this.#pingTimer = setTimeout(() => {
      this.#closedReason = 'ping timeout';
      this.#ws.terminate();
    }, this.#pingInterval + this.#pingTimeout);
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
          this.#ws.send(encodeEngine(EIO.MESSAGE, encodeSocket({ type: SIO.CONNECT, nsp: this._nsp, data: this.auth })[0]));
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
    if (this.#ws.readyState === 1) this.#ws.close(4002, 'parse error'); // 4002 = Socket.IO parse error (app range)
  }

  #onSocketPacket(p) {
    if (p.nsp !== this._nsp) return;
    switch (p.type) {
      case SIO.CONNECT:
        if (!p.data || typeof p.data.sid !== 'string') throw new ProtocolError('CONNECT without sid');
        this.id = p.data.sid;
        this.connected = true;
        this.emitLocal('open');
        this.emitLocal('connect');
        this._resolveReady(this);
        return;
      case SIO.CONNECT_ERROR: {
        const msg = typeof p.data === 'string' ? p.data : p.data.message;
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

  /** Leave the namespace and close the connection ('io client disconnect'). */
  disconnect() {
    if (this.#ws.readyState === 1) {
      if (this.connected) this._sendPacket({ type: SIO.DISCONNECT, nsp: this._nsp });
      this.#closedReason = 'io client disconnect';
      this.#ws.close(1000);
    }
    return this;
  }

  /** Alias of disconnect(); `code`/`reason` are accepted for WebSocket-style symmetry. */
  close() { return this.disconnect(); }

  #onClose(reason) {
    clearTimeout(this.#pingTimer);
    const was = this.connected;
    this.connected = false;
    this._failAcks(reason);
    this._rejectReady(new SocketIWAError('ECONNRESET', `Socket.IO connection closed before connect (${reason})`));
    if (was) this.emitLocal('disconnect', reason);
    this.emitLocal('close', reason);
  }
}

