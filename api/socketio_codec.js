// Engine.IO v4 and Socket.IO v5 packet codecs (the wire format of the npm
// socket.io / socket.io-client 4.x packages), with strict validation: a
// malformed packet throws ProtocolError and the connection is closed.

import { SocketIWAError } from './errors.js';
import { isBinary } from './bytes.js';

/** Engine.IO v4 packet types. */
export const EIO = Object.freeze({ OPEN: '0', CLOSE: '1', PING: '2', PONG: '3', MESSAGE: '4', UPGRADE: '5', NOOP: '6' });

/** Socket.IO v5 packet types. */
export const SIO = Object.freeze({ CONNECT: 0, DISCONNECT: 1, EVENT: 2, ACK: 3, CONNECT_ERROR: 4, BINARY_EVENT: 5, BINARY_ACK: 6 });

/** A malformed Engine.IO / Socket.IO packet. */
export class ProtocolError extends SocketIWAError {
  constructor(message) { super('ERR_SOCKETIO_PARSE', message); this.name = 'ProtocolError'; }
}

/**
 * Decode one Engine.IO packet carried in a WebSocket message.
 * @param {string|Uint8Array|ArrayBuffer} data
 * @returns {{type: string, data?: any}}
 */
export function decodeEngine(data) {
  if (typeof data !== 'string') return { type: EIO.MESSAGE, data, binary: true };
  if (data.length === 0) throw new ProtocolError('empty Engine.IO packet');
  const type = data[0];
  if (type < '0' || type > '6') throw new ProtocolError(`unknown Engine.IO packet type ${JSON.stringify(type)}`);
  return { type, data: data.slice(1) };
}

/** Encode an Engine.IO text packet. */
export function encodeEngine(type, data = '') { return type + data; }

function hasBinary(v, depth = 0) {
  if (depth > 64) return false;
  if (isBinary(v)) return true;
  if (Array.isArray(v)) return v.some((x) => hasBinary(x, depth + 1));
  if (v && typeof v === 'object') {
    if (typeof v.toJSON === 'function' && !isBinary(v)) return false;
    return Object.values(v).some((x) => hasBinary(x, depth + 1));
  }
  return false;
}

// A key "__proto__" (an own property after JSON.parse) must stay an own
// property: plain assignment would set the copy's prototype instead, dropping
// the key and letting a peer choose what the object inherits.
function setOwn(o, k, x) { Object.defineProperty(o, k, { value: x, enumerable: true, writable: true, configurable: true }); }

function deconstruct(v, buffers) {
  if (isBinary(v)) {
    buffers.push(v);
    return { _placeholder: true, num: buffers.length - 1 };
  }
  if (Array.isArray(v)) return v.map((x) => deconstruct(x, buffers));
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    const o = {};
    for (const [k, x] of Object.entries(v)) setOwn(o, k, deconstruct(x, buffers));
    return o;
  }
  return v;
}

function reconstruct(v, buffers) {
  if (Array.isArray(v)) return v.map((x) => reconstruct(x, buffers));
  if (v && typeof v === 'object') {
    if (v._placeholder === true) {
      if (!Number.isInteger(v.num) || v.num < 0 || v.num >= buffers.length) throw new ProtocolError('illegal attachment placeholder');
      return buffers[v.num];
    }
    const o = {};
    for (const [k, x] of Object.entries(v)) setOwn(o, k, reconstruct(x, buffers));
    return o;
  }
  return v;
}

/**
 * Encode a Socket.IO packet into the Engine.IO message payloads to send:
 * one string, followed by one binary payload per attachment.
 * @param {{type: number, nsp?: string, id?: number, data?: any}} packet
 * @returns {Array<string|ArrayBuffer|ArrayBufferView|Blob>}
 */
export function encodeSocket(packet) {
  let { type } = packet;
  const buffers = [];
  let data = packet.data;
  if ((type === SIO.EVENT || type === SIO.ACK) && hasBinary(data)) {
    type = type === SIO.EVENT ? SIO.BINARY_EVENT : SIO.BINARY_ACK;
    data = deconstruct(data, buffers);
  }
  let s = String(type);
  if (type === SIO.BINARY_EVENT || type === SIO.BINARY_ACK) s += buffers.length + '-';
  if (packet.nsp && packet.nsp !== '/') s += packet.nsp + ',';
  if (packet.id !== undefined && packet.id !== null) s += String(packet.id);
  if (data !== undefined) s += JSON.stringify(data);
  return [s, ...buffers];
}

function isObject(v) { return v !== null && typeof v === 'object' && !Array.isArray(v); }

function validate(p) {
  switch (p.type) {
    case SIO.CONNECT: return p.data === undefined || isObject(p.data);
    case SIO.DISCONNECT: return p.data === undefined;
    case SIO.CONNECT_ERROR: return typeof p.data === 'string' || isObject(p.data);
    case SIO.EVENT: case SIO.BINARY_EVENT:
      return Array.isArray(p.data) && p.data.length > 0 && (typeof p.data[0] === 'string' || typeof p.data[0] === 'number');
    case SIO.ACK: case SIO.BINARY_ACK:
      return Array.isArray(p.data) && p.id !== undefined;
    default: return false;
  }
}

/** Incremental Socket.IO decoder: feed Engine.IO message payloads, get packets. */
export class SocketDecoder {
  /** @param {(packet: {type: number, nsp: string, id?: number, data?: any}) => void} onPacket */
  constructor(onPacket, { maxAttachments = 64 } = {}) {
    this.onPacket = onPacket;
    this.pending = null;
    this.maxAttachments = maxAttachments;
  }

  /** Feed one Engine.IO message payload (string or binary). Throws ProtocolError. */
  add(payload) {
    if (typeof payload !== 'string') {
      if (!this.pending) throw new ProtocolError('unexpected binary attachment');
      this.pending.buffers.push(payload);
      if (this.pending.buffers.length === this.pending.attachments) {
        const p = this.pending.packet;
        p.data = reconstruct(p.data, this.pending.buffers);
        this.pending = null;
        this.onPacket(p);
      }
      return;
    }
    if (this.pending) throw new ProtocolError('text packet while waiting for binary attachments');
    const p = decodeString(payload, this.maxAttachments);
    if (p.type === SIO.BINARY_EVENT || p.type === SIO.BINARY_ACK) {
      if (p.attachments === 0) { p.data = reconstruct(p.data, []); this.onPacket(p); return; }
      this.pending = { packet: p, attachments: p.attachments, buffers: [] };
      return;
    }
    this.onPacket(p);
  }

  /** Drop any partially received packet. */
  reset() { this.pending = null; }
}

function decodeString(str, maxAttachments) {
  let i = 0;
  const type = Number(str[0]);
  if (!(str[0] >= '0' && str[0] <= '6')) throw new ProtocolError(`unknown Socket.IO packet type ${JSON.stringify(str[0])}`);
  i = 1;
  const p = { type, nsp: '/' };
  if (type === SIO.BINARY_EVENT || type === SIO.BINARY_ACK) {
    const dash = str.indexOf('-', i);
    const n = str.slice(i, dash);
    if (dash < 0 || !/^\d{1,6}$/.test(n)) throw new ProtocolError('illegal attachments count');
    p.attachments = Number(n);
    if (p.attachments > maxAttachments) throw new ProtocolError('too many attachments');
    i = dash + 1;
  }
  if (str[i] === '/') {
    const comma = str.indexOf(',', i);
    const end = comma < 0 ? str.length : comma;
    p.nsp = str.slice(i, end);
    i = comma < 0 ? str.length : comma + 1;
  }
  let idStart = i;
  while (i < str.length && str[i] >= '0' && str[i] <= '9') i++;
  if (i > idStart) {
    if (i - idStart > 15) throw new ProtocolError('illegal ack id');
    p.id = Number(str.slice(idStart, i));
  }
  if (i < str.length) {
    try { p.data = JSON.parse(str.slice(i)); } catch { throw new ProtocolError('invalid JSON payload'); }
  }
  if (!validate(p)) throw new ProtocolError(`invalid payload for packet type ${type}`);
  return p;
}
