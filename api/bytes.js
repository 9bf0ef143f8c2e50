// Byte helpers shared by the codecs: UTF-8, concatenation, binary detection.

import { BUFFER_SOURCE } from './buffer_source.js';

const enc = new TextEncoder();
const strictDec = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 encode a string. */
export function utf8(s) { return enc.encode(s); }

/** Strict UTF-8 decode; throws TypeError on invalid input. */
export function decodeUtf8(bytes) { return strictDec.decode(bytes); }

/** Concatenate Uint8Arrays. */
export function concat(chunks, total) {
  if (chunks.length === 1) return chunks[0];
  if (total === undefined) total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.byteLength; }
  return out;
}

/** Is `v` binary data (ArrayBuffer, view, or Blob)? */
export function isBinary(v) {
  return v instanceof ArrayBuffer || ArrayBuffer.isView(v) || (typeof Blob !== 'undefined' && v instanceof Blob);
}

/** Turn string / ArrayBuffer / view into a Uint8Array (strings as UTF-8). Blobs are not accepted here. */
export function toUint8(data) {
  if (typeof data === 'string') return enc.encode(data);
  return BUFFER_SOURCE.view(data);
}

/** Resolve a Blob to bytes, pass everything else through toUint8. */
export async function toUint8Async(data) {
  if (typeof Blob !== 'undefined' && data instanceof Blob) return new Uint8Array(await data.arrayBuffer());
  return toUint8(data);
}

/** Present received bytes according to a binaryType. */
export function presentBinary(bytes, binaryType) {
  if (binaryType === 'arraybuffer') {
    return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
  }
  if (binaryType === 'blob' && typeof Blob !== 'undefined') return new Blob([bytes]);
  return bytes;
}

/** Valid binaryType values in this runtime. */
export function binaryTypes() {
  return typeof Blob !== 'undefined' ? ['arraybuffer', 'uint8array', 'blob'] : ['arraybuffer', 'uint8array'];
}

/** Random bytes from Web Crypto. */
export function randomBytes(n) { const b = new Uint8Array(n); crypto.getRandomValues(b); return b; }

/** Base64 of bytes (works in browsers and Node). */
export function base64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s);
}
