// The HTTP/1.1 Upgrade handshake of RFC 6455, both sides.

import { utf8, base64, randomBytes } from './bytes.js';
import { SocketIWAError } from './errors.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_HEAD = 16 * 1024;

/** Sec-WebSocket-Accept for a key (SHA-1 via Web Crypto). */
export async function acceptKey(key) {
  const digest = await crypto.subtle.digest('SHA-1', utf8(key + GUID));
  return base64(new Uint8Array(digest));
}

/** Fresh Sec-WebSocket-Key. */
export function newKey() { return base64(randomBytes(16)); }

/**
 * Accumulates bytes until the end of an HTTP head. Returns
 * {head: string, rest: Uint8Array} once complete, null before; throws when too long.
 */
export class HeadReader {
  constructor() { this.buf = new Uint8Array(0); }
  /** Feed bytes; returns {head, rest} once the head is complete. */
  push(chunk) {
    const b = new Uint8Array(this.buf.byteLength + chunk.byteLength);
    b.set(this.buf); b.set(chunk, this.buf.byteLength);
    this.buf = b;
    for (let i = 3; i < b.byteLength; i++) {
      if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) {
        const head = new TextDecoder().decode(b.subarray(0, i - 3));
        return { head, rest: b.subarray(i + 1) };
      }
    }
    if (b.byteLength > MAX_HEAD) throw new SocketIWAError('ERR_HTTP_HEADERS_TOO_LARGE', 'HTTP head exceeds 16 KiB');
    return null;
  }
}

/** Parse an HTTP head into {startLine, headers (lower-cased names)}. */
export function parseHead(head) {
  const lines = head.split('\r\n');
  const headers = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) throw new SocketIWAError('ERR_HTTP_INVALID_HEADER', `malformed header line ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = headers[name] ? `${headers[name]}, ${value}` : value;
  }
  return { startLine: lines[0], headers };
}

/** Build a client upgrade request. */
export function buildRequest({ host, port, path, key, headers = {} }) {
  const hostHeader = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
  let s = `GET ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
  for (const [k, v] of Object.entries(headers)) s += `${k}: ${v}\r\n`;
  return utf8(s + '\r\n');
}

/** Validate a server's 101 response; throws SocketIWAError. */
export async function checkResponse(head, key) {
  const { startLine, headers } = parseHead(head);
  const m = /^HTTP\/1\.1 (\d{3})/.exec(startLine);
  if (!m) throw new SocketIWAError('ERR_WS_HANDSHAKE', `invalid status line ${JSON.stringify(startLine)}`);
  if (m[1] !== '101') throw new SocketIWAError('ERR_WS_HANDSHAKE', `unexpected server response: ${startLine}`);
  if ((headers.upgrade || '').toLowerCase() !== 'websocket') throw new SocketIWAError('ERR_WS_HANDSHAKE', 'missing Upgrade: websocket');
  if (headers['sec-websocket-accept'] !== await acceptKey(key)) throw new SocketIWAError('ERR_WS_HANDSHAKE', 'invalid Sec-WebSocket-Accept');
  return headers;
}

/**
 * Validate a client's upgrade request. Returns {path, query, headers} or
 * throws SocketIWAError with `status` (400/404/426) for the HTTP reply.
 */
export function checkRequest(head) {
  const { startLine, headers } = parseHead(head);
  const m = /^GET (\S+) HTTP\/1\.1$/.exec(startLine);
  const fail = (status, msg) => { const e = new SocketIWAError('ERR_WS_HANDSHAKE', msg); e.status = status; return e; };
  if (!m) throw fail(400, `invalid request line ${JSON.stringify(startLine.slice(0, 80))}`);
  if ((headers.upgrade || '').toLowerCase() !== 'websocket') throw fail(426, 'Upgrade: websocket required');
  if (!/\bupgrade\b/i.test(headers.connection || '')) throw fail(400, 'Connection: Upgrade required');
  if (headers['sec-websocket-version'] !== '13') throw fail(426, 'Sec-WebSocket-Version must be 13');
  const key = headers['sec-websocket-key'] || '';
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key)) throw fail(400, 'invalid Sec-WebSocket-Key');
  const url = new URL(m[1], 'http://localhost');
  return { path: url.pathname, query: Object.fromEntries(url.searchParams), headers, key };
}

/** Build the 101 Switching Protocols response (with the negotiated Sec-WebSocket-Extensions, if any). */
export async function buildResponse(key, extensions) {
  const ext = extensions ? `Sec-WebSocket-Extensions: ${extensions}\r\n` : '';
  return utf8(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${await acceptKey(key)}\r\n${ext}\r\n`);
}

/** Build a plain HTTP error response. */
export function buildError(status, message) {
  const reason = { 400: 'Bad Request', 404: 'Not Found', 426: 'Upgrade Required', 431: 'Request Header Fields Too Large' }[status] || 'Error';
  const body = utf8(message);
  return utf8(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${body.byteLength}\r\nConnection: close\r\n\r\n${message}`);
}
