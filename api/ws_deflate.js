// permessage-deflate (RFC 7692) for our WebSocket client and server: the
// extension negotiation (Sec-WebSocket-Extensions) and per-message
// compression. DEFLATE itself comes from the platform, never from us:
// node:zlib under Node.js (streaming, so context takeover works both ways),
// DecompressionStream('deflate-raw') in browsers (feature-detected).
//
// Browsers: CompressionStream cannot end a message with a sync flush (it only
// produces complete DEFLATE streams ending in a BFINAL block, which stock `ws`
// cannot inflate as part of a permessage-deflate message), so in a browser we
// inflate what the peer compresses and send our own messages uncompressed
// (RSV1 clear), which RFC 7692 allows per message. DecompressionStream has no
// dictionary carry-over either, so a browser endpoint always negotiates
// "no context takeover" for the peer's direction.
//
// Inflated messages are bounded by the connection's maxPayload: a message
// that inflates past it fails with ERR_WS_MESSAGE_TOO_BIG (close 1009) as soon
// as the limit is crossed, without inflating the rest (decompression bombs).

import { SocketIWAError } from './errors.js';
import { concat } from './bytes.js';

/** The extension token. */
export const EXTENSION = 'permessage-deflate';
/** Messages shorter than this are sent uncompressed (as stock ws's default threshold). */
export const COMPRESS_THRESHOLD = 1024;
const TRAILER = new Uint8Array([0x00, 0x00, 0xff, 0xff]);
// An empty final stored block: turns "message + TRAILER" into a complete raw
// DEFLATE stream that DecompressionStream accepts at close.
const FINAL_EMPTY = new Uint8Array([0x01, 0x00, 0x00, 0xff, 0xff]);

let zlib = null;
if (typeof process === 'object' && process && process.versions && process.versions.node) {
  try { zlib = await import('node:zlib'); } catch { zlib = null; }
}

/** Which DEFLATE implementation this runtime offers: 'node:zlib', 'DecompressionStream' or null. */
export function deflateBackend() {
  if (zlib) return 'node:zlib';
  if (typeof DecompressionStream === 'function') {
    try { new DecompressionStream('deflate-raw'); return 'DecompressionStream'; } catch { return null; }
  }
  return null;
}

function handshakeError(msg) { return new SocketIWAError('ERR_WS_HANDSHAKE', msg); }

/**
 * Parse a Sec-WebSocket-Extensions value into [{name, params}] (params: name ->
 * true | string). Throws ERR_WS_HANDSHAKE on bad syntax.
 */
export function parseExtensions(value) {
  const out = [];
  if (value === undefined || value === null || value.trim() === '') return out;
  for (const ext of value.split(',')) {
    const parts = ext.split(';').map((p) => p.trim());
    const name = parts.shift();
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw handshakeError(`invalid extension token ${JSON.stringify(name)}`);
    const params = {};
    for (const p of parts) {
      const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)(?:\s*=\s*(?:([!#$%&'*+\-.^_`|~0-9A-Za-z]+)|"([^"]*)"))?$/.exec(p);
      if (!m) throw handshakeError(`invalid extension parameter ${JSON.stringify(p)}`);
      if (Object.hasOwn(params, m[1])) throw handshakeError(`duplicate extension parameter ${m[1]}`);
      params[m[1]] = m[2] ?? m[3] ?? true;
    }
    out.push({ name, params });
  }
  return out;
}

function windowBits(v, allowTrue) {
  if (v === true) return allowTrue ? true : NaN;
  return /^(?:[89]|1[0-5])$/.test(v) ? Number(v) : NaN;
}

/** Format negotiated params as a Sec-WebSocket-Extensions value. */
export function formatParams(params) {
  let s = EXTENSION;
  for (const k of ['server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits', 'client_max_window_bits']) {
    if (params[k] === true) s += `; ${k}`;
    else if (params[k] !== undefined) s += `; ${k}=${params[k]}`;
  }
  return s;
}

/** The client's offer, or null when this runtime cannot inflate. */
export function clientOffer() {
  const backend = deflateBackend();
  if (!backend) return null;
  // Under Node we can honour any window the server picks for us and keep context.
  // In a browser we need the server to reset its context per message.
  return backend === 'node:zlib' ? `${EXTENSION}; client_max_window_bits` : `${EXTENSION}; server_no_context_takeover`;
}

/**
 * Server side: pick the first acceptable permessage-deflate offer.
 * Returns {params, response} or null (extension not used).
 */
export function acceptOffer(headerValue) {
  const backend = deflateBackend();
  if (!backend) return null;
  let offers;
  try { offers = parseExtensions(headerValue); } catch { return null; }
  for (const { name, params } of offers) {
    if (name !== EXTENSION) continue;
    const accepted = {};
    let ok = true;
    for (const [k, v] of Object.entries(params)) {
      if (k === 'server_no_context_takeover' || k === 'client_no_context_takeover') { if (v !== true) ok = false; else accepted[k] = true; }
      else if (k === 'server_max_window_bits') {
        // zlib cannot produce an 8-bit raw window; decline such an offer (RFC 7692 7.1.2.1 lets us).
        const n = windowBits(v, false);
        if (!(n >= 9)) ok = false; else accepted[k] = n;
      } else if (k === 'client_max_window_bits') { if (Number.isNaN(windowBits(v, true))) ok = false; }
      else ok = false;
    }
    if (!ok) continue;
    if (backend !== 'node:zlib') { accepted.server_no_context_takeover = true; accepted.client_no_context_takeover = true; }
    return { params: accepted, response: formatParams(accepted) };
  }
  return null;
}

/**
 * Client side: validate the server's answer to our offer. Returns the params,
 * or null when the server did not accept the extension.
 */
export function checkAccepted(headerValue, offered) {
  const exts = parseExtensions(headerValue);
  if (!exts.length) return null;
  if (!offered) throw handshakeError('server sent Sec-WebSocket-Extensions we did not offer');
  if (exts.length !== 1 || exts[0].name !== EXTENSION) throw handshakeError(`server accepted an extension we did not offer: ${headerValue}`);
  const params = {};
  for (const [k, v] of Object.entries(exts[0].params)) {
    if (k === 'server_no_context_takeover' || k === 'client_no_context_takeover') {
      if (v !== true) throw handshakeError(`${k} takes no value`);
      params[k] = true;
    } else if (k === 'server_max_window_bits' || k === 'client_max_window_bits') {
      const n = windowBits(v, false);
      if (Number.isNaN(n)) throw handshakeError(`invalid ${k}=${v}`);
      if (k === 'client_max_window_bits' && n === 8) throw handshakeError('client_max_window_bits=8 is not supported (zlib)');
      params[k] = n;
    } else throw handshakeError(`unknown permessage-deflate parameter ${k}`);
  }
  if (deflateBackend() !== 'node:zlib' && !params.server_no_context_takeover) {
    throw handshakeError('server did not accept server_no_context_takeover (needed by DecompressionStream)');
  }
  return params;
}

function tooBig(limit) {
  return new SocketIWAError('ERR_WS_MESSAGE_TOO_BIG', `inflated message exceeds maxPayload ${limit}`, { closeCode: 1009 });
}

/** Per-connection compressor / decompressor. */
export class PerMessageDeflate {
  /**
   * @param {{params: object, isServer: boolean, maxPayload: number}} opts
   */
  constructor({ params, isServer, maxPayload }) {
    this.params = params;
    this.isServer = isServer;
    this.maxPayload = maxPayload;
    const us = isServer ? 'server' : 'client', peer = isServer ? 'client' : 'server';
    this.ourNoContext = !!params[`${us}_no_context_takeover`];
    this.peerNoContext = !!params[`${peer}_no_context_takeover`];
    this.ourWindowBits = params[`${us}_max_window_bits`] || 15;
    this.backend = deflateBackend();
    /** Whether outgoing messages are compressed (Node only, see the file comment). */
    this.canCompress = this.backend === 'node:zlib';
    this.inflater = null; this.deflater = null;
  }

  /** Compress one whole message (resolves the payload without the 4-byte tail). */
  compress(bytes) {
    if (!this.deflater) this.deflater = zlib.createDeflateRaw({ windowBits: this.ourWindowBits });
    const d = this.deflater;
    return new Promise((resolve, reject) => {
      const out = []; let n = 0;
      const onData = (c) => { out.push(c); n += c.byteLength; };
      const onError = (e) => { d.off('data', onData); reject(new SocketIWAError('ERR_WS_DEFLATE', `deflate failed: ${e.message}`)); };
      d.on('data', onData); d.once('error', onError);
      d.write(bytes);
      d.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        d.off('data', onData); d.off('error', onError);
        let r = new Uint8Array(concat(out.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)), n));
        if (r.byteLength >= 4) r = r.subarray(0, r.byteLength - 4); // strip 00 00 ff ff (RFC 7692 7.2.1)
        if (this.ourNoContext) { d.close(); this.deflater = null; }
        resolve(r);
      });
    });
  }

  /** Inflate one whole message; rejects with ERR_WS_MESSAGE_TOO_BIG (closeCode 1009) past maxPayload. */
  decompress(bytes) {
    return this.backend === 'node:zlib' ? this.#inflateNode(bytes) : this.#inflateStream(bytes);
  }

  #inflateNode(bytes) {
    if (!this.inflater) this.inflater = zlib.createInflateRaw({ windowBits: 15 });
    const inf = this.inflater;
    const limit = this.maxPayload;
    return new Promise((resolve, reject) => {
      const out = []; let n = 0; let failed = false;
      const fail = (err) => {
        if (failed) return;
        failed = true;
        inf.off('data', onData);
        inf.removeAllListeners('error'); inf.on('error', () => {});
        inf.close(); this.inflater = null; // the dictionary is now unusable; the connection closes anyway
        reject(err);
      };
      const onData = (c) => { n += c.byteLength; if (n > limit) fail(tooBig(limit)); else out.push(c); };
      const onError = (e) => fail(new SocketIWAError('ERR_WS_PROTOCOL', `invalid compressed message: ${e.message}`, { closeCode: 1007 }));
      inf.on('data', onData); inf.once('error', onError);
      inf.write(bytes); inf.write(TRAILER);
      inf.flush(() => {
        if (failed) return;
        inf.off('data', onData); inf.off('error', onError);
        if (this.peerNoContext) { inf.close(); this.inflater = null; }
        resolve(new Uint8Array(concat(out.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)), n)));
      });
    });
  }

  async #inflateStream(bytes) {
    const ds = new DecompressionStream('deflate-raw');
    const writer = ds.writable.getWriter();
    const reader = ds.readable.getReader();
    writer.write(bytes).catch(() => {});
    writer.write(TRAILER).catch(() => {});
    writer.write(FINAL_EMPTY).catch(() => {});
    writer.close().catch(() => {});
    const out = []; let n = 0;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        n += value.byteLength;
        if (n > this.maxPayload) { reader.cancel().catch(() => {}); throw tooBig(this.maxPayload); }
        out.push(value);
      }
    } catch (err) {
      if (err instanceof SocketIWAError) throw err;
      throw new SocketIWAError('ERR_WS_PROTOCOL', `invalid compressed message: ${err && err.message}`, { closeCode: 1007 });
    }
    return concat(out, n);
  }

  /** Release zlib state. */
  close() {
    try { this.inflater?.close(); } catch {}
    try { this.deflater?.close(); } catch {}
    this.inflater = this.deflater = null;
  }
}
