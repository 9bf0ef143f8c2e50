// permessage-deflate (RFC 7692) for our WebSocket client and server: the
// extension negotiation (Sec-WebSocket-Extensions) and per-message
// compression. DEFLATE itself comes from the platform, never from us:
// node:zlib under Node.js (streaming, so context takeover works both ways),
// CompressionStream / DecompressionStream('deflate-raw') in browsers
// (feature-detected).
//
// Browsers: CompressionStream cannot end a message with a sync flush (empty
// stored block); it only produces complete DEFLATE streams ending in a BFINAL
// block. RFC 7692 7.2.3.4 allows exactly that as the flush: each message we
// send is its own complete deflate-raw stream, to which we apply 7.2.1 steps
// 2/3 (see bfinalPayload). A final block ends the stream, so no LZ77 context
// can carry over: a browser endpoint never uses context takeover for what it
// sends (client: offers client_no_context_takeover, which by 7.1.1.2 is a
// promise whatever the answer; server: answers server_no_context_takeover).
// DecompressionStream has no dictionary carry-over either, so a browser
// endpoint also negotiates "no context takeover" for the peer's direction.
// Receivers see a BFINAL message as "stream + junk" once they append
// 00 00 ff ff: zlib (and so stock `ws`) stops at the end of the stream and
// ignores the rest; DecompressionStream throws on junk, so our browser
// inflater feeds the message in pieces that put the stream's end on a piece
// boundary and accepts the junk error only after proving that the pieces
// before it are a complete stream (see #inflateStream).
//
// Inflated messages are bounded by the connection's maxPayload: a message
// that inflates past it fails with ERR_WS_MESSAGE_TOO_BIG (close 1009) as soon
// as the limit is crossed, without inflating the rest (decompression bombs).

import { SocketIWAError, argError } from './errors.js';
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
let forceStreams = false;

/**
 * Tests only: use the browser code path (CompressionStream /
 * DecompressionStream) even where node:zlib exists (Node >= 18 has both), so
 * Node tests exercise what browsers run. 'streams' forces it, null restores
 * the automatic choice. Affects connections negotiated afterwards.
 */
export function setDeflateBackend(name) {
  if (name !== null && name !== 'streams') throw argError(`setDeflateBackend: expected 'streams' or null, got ${JSON.stringify(name)}`);
  forceStreams = name === 'streams';
}

function streamCtorWorks(Ctor) {
  if (typeof Ctor !== 'function') return false;
  try { new Ctor('deflate-raw'); return true; } catch { return false; }
}

/** Which DEFLATE implementation this runtime offers: 'node:zlib', 'DecompressionStream' or null. */
export function deflateBackend() {
  if (zlib && !forceStreams) return 'node:zlib';
  return streamCtorWorks(globalThis.DecompressionStream) ? 'DecompressionStream' : null;
}

/** Whether this runtime can compress what it sends (node:zlib, or CompressionStream('deflate-raw')). */
export function canDeflate() {
  const backend = deflateBackend();
  return backend === 'node:zlib' || (backend === 'DecompressionStream' && streamCtorWorks(globalThis.CompressionStream));
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
  // In a browser we need the server to reset its context per message, and we
  // announce that our messages are complete streams (no context takeover).
  return backend === 'node:zlib' ? `${EXTENSION}; client_max_window_bits`
    : `${EXTENSION}; server_no_context_takeover; client_no_context_takeover`;
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
      // RFC 7692 7.1.2.2: an answer with client_max_window_bits to an offer without it fails the connection.
      if (k === 'client_max_window_bits' && !/(^|;)\s*client_max_window_bits\b/.test(String(offered))) {
        throw handshakeError('server sent client_max_window_bits, which we did not offer');
      }
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

/**
 * RFC 7692 7.2.1 steps 2 and 3 for a complete raw DEFLATE stream (ending in a
 * BFINAL block, 7.2.3.4), as CompressionStream('deflate-raw') produces: the
 * payload to send. zlib ends a stream byte-aligned, so "append an empty stored
 * block (00 00 00 ff ff), remove 00 00 ff ff" appends one 00 byte (the RFC's
 * own "Hello" example: f3 48 cd c9 c9 07 00 00). When the stream already ends
 * in 00 00 ff ff (an empty stored final block, or stored data that happens to
 * end so), those 4 bytes are removed instead: the receiver appends exactly
 * them back, so the stream it inflates is the one we made.
 */
export function bfinalPayload(stream) {
  const n = stream.byteLength;
  if (n >= 4 && stream[n - 4] === 0x00 && stream[n - 3] === 0x00 && stream[n - 2] === 0xff && stream[n - 1] === 0xff) return stream.subarray(0, n - 4);
  const out = new Uint8Array(n + 1);
  out.set(stream);
  return out;
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
    /**
     * Whether outgoing messages are compressed: always with node:zlib; in a
     * browser when CompressionStream('deflate-raw') exists and our direction's
     * window is the 15 bits it always uses (with a server_max_window_bits /
     * client_max_window_bits below 15 for our direction we send uncompressed,
     * which RFC 7692 allows per message).
     */
    this.canCompress = this.backend === 'node:zlib' || (canDeflate() && this.ourWindowBits === 15);
    this.inflater = null; this.deflater = null;
  }

  /**
   * Compress one whole message: resolves the payload without the 4-byte tail,
   * or null when the message should go out plain (browser path only: the
   * compressed form is not smaller; each message is its own stream there, so
   * skipping one changes no state, while node:zlib's context already holds it).
   */
  compress(bytes) {
    return this.backend === 'node:zlib' ? this.#deflateNode(bytes) : this.#deflateStream(bytes);
  }

  /** Browser: each message is a complete deflate-raw stream (no context takeover, RFC 7692 7.2.3.4). */
  async #deflateStream(bytes) {
    const cs = new CompressionStream('deflate-raw');
    const writer = cs.writable.getWriter();
    writer.write(bytes).catch(() => {});
    writer.close().catch(() => {});
    const reader = cs.readable.getReader();
    const out = []; let n = 0;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out.push(value); n += value.byteLength;
      }
    } catch (err) {
      throw new SocketIWAError('ERR_WS_DEFLATE', `deflate failed: ${err && err.message}`);
    }
    const payload = bfinalPayload(concat(out, n));
    return payload.byteLength < bytes.byteLength ? payload : null;
  }

  #deflateNode(bytes) {
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
        // A message flushed with a BFINAL block (RFC 7692 7.2.3.4, what
        // browsers send) ends the DEFLATE stream: zlib ignores the bytes after
        // it and the stream ends, so the next message needs a new inflater (as
        // stock ws does).
        if (this.peerNoContext || inf.readableEnded || inf._readableState?.ended) { inf.close(); this.inflater = null; }
        resolve(new Uint8Array(concat(out.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)), n)));
      });
    });
  }

  /**
   * Browser: inflate with DecompressionStream, which has no sync flush and
   * throws on bytes after the end of a stream. A sync-flushed message + 00 00
   * ff ff is completed with an empty final stored block. A message flushed
   * with a BFINAL block (7.2.3.4; our own browser peers send "stream + 00")
   * ends earlier: the pieces written are [all but the last byte, last byte,
   * 00 00 ff ff, final empty block], so such a stream ends on a piece
   * boundary and its whole output is read before the junk after it fails
   * (Chromium: the next piece's write fails, and TransformStream backpressure
   * keeps it from being transformed before the output is read; Node's
   * DecompressionStream reports the junk after the output). That failure is
   * accepted only when the pieces before the boundary inflate on their own to
   * a complete stream, whose output is the message (a second pass, only for
   * such messages, bounded like the first); anything else is an invalid
   * message (1007).
   */
  async #inflateStream(bytes) {
    const pieces = [];
    if (bytes.byteLength > 1) pieces.push(bytes.subarray(0, bytes.byteLength - 1));
    if (bytes.byteLength > 0) pieces.push(bytes.subarray(bytes.byteLength - 1));
    pieces.push(TRAILER, FINAL_EMPTY);
    const first = await this.#streamInflate(pieces);
    if (!first.error) return first.output;
    // Where the stream may have ended: the failing piece when the runtime says
    // (Chromium), else every boundary, shortest first ("stream + 00" first).
    const ends = first.accepted < pieces.length ? [first.accepted] : pieces.map((_, i) => i).slice(1);
    for (const k of ends) {
      if (k < 1) continue;
      const again = await this.#streamInflate([concat(pieces.slice(0, k))]);
      if (!again.error) return again.output;
    }
    const why = (first.error && first.error.message) || String(first.error && (first.error.code || first.error.name || first.error));
    throw new SocketIWAError('ERR_WS_PROTOCOL', `invalid compressed message: ${why}`, { closeCode: 1007 });
  }

  /**
   * One DecompressionStream pass over `pieces` (written in order, then closed).
   * Resolves {output, error, accepted}: accepted = how many pieces were
   * consumed before the first failing one. Throws ERR_WS_MESSAGE_TOO_BIG past maxPayload.
   */
  async #streamInflate(pieces) {
    const ds = new DecompressionStream('deflate-raw');
    const writer = ds.writable.getWriter();
    const reader = ds.readable.getReader();
    const writes = pieces.map((p) => writer.write(p).then(() => true, () => false));
    writer.close().catch(() => {});
    const out = []; let n = 0; let error = null;
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
      error = err || new Error('DecompressionStream failed');
    }
    const ok = await Promise.all(writes);
    const accepted = ok.indexOf(false) === -1 ? ok.length : ok.indexOf(false);
    return { output: concat(out, n), error, accepted };
  }

  /** Release zlib state. */
  close() {
    try { this.inflater?.close(); } catch {}
    try { this.deflater?.close(); } catch {}
    this.inflater = this.deflater = null;
  }
}
