// Errors with codes. Every error this API raises or emits carries a `code`
// (errno-style like EACCES / ECONNREFUSED / ETIMEDOUT, or ERR_* for API misuse).
// DOMException names map to codes through the shared table in api/codes.js.

import { DS_CODES } from './codes.js';

/** Error raised by Socket.IWA; `code` says what went wrong in a stable form. */
export class SocketIWAError extends Error {
  /**
   * @param {string} code stable machine-readable code
   * @param {string} message human-readable message
   * @param {{cause?: unknown, closeCode?: number}} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message, extra.cause !== undefined ? { cause: extra.cause } : undefined);
    this.name = 'SocketIWAError';
    /** @type {string} */
    this.code = code;
    if (extra.closeCode !== undefined) this.closeCode = extra.closeCode;
  }
}

/** A TypeError with a code (invalid argument). */
export function argError(message, code = 'ERR_INVALID_ARG_VALUE') {
  const e = new TypeError(message);
  e.code = code;
  return e;
}

/**
 * Convert a browser DOMException (or anything thrown by Direct Sockets) into a
 * SocketIWAError. `networkCode` is used for NetworkError, whose meaning depends
 * on the phase (connect: ECONNREFUSED, bind: EADDRINUSE, stream: ECONNRESET).
 */
export function fromDirectSocketsError(err, what, networkCode = 'ECONNRESET') {
  if (err instanceof SocketIWAError) return err;
  if (err instanceof TypeError && !(err.name && err.name !== 'TypeError')) {
    if (!err.code) err.code = 'ERR_INVALID_ARG_VALUE';
    return err;
  }
  const name = err && err.name;
  let code = name === 'NetworkError' ? networkCode : (DS_CODES.apiCode(name) || 'ENETWORK');
  // Name resolution failed (Node: cause ENOTFOUND; Chromium: ERR_NAME_NOT_RESOLVED): Node's
  // code, recognised by the test the wasm bridge uses too (api/codes.js).
  if (name === 'NetworkError' && DS_CODES.nameNotResolved(err)) code = DS_CODES.notFound.code;
  // Chromium reports a refused local-network permission as InvalidAccessError
  // "Access to local network is blocked."
  if (name === 'InvalidAccessError' && /blocked|not allowed|permission/i.test(DS_CODES.text(err))) code = 'EACCES';
  // DS_CODES.text: an object whose toString is not callable must not make this throw.
  const msg = `${what}: ${typeof name === 'string' && name ? name : 'Error'}: ${DS_CODES.text(err)}`;
  return new SocketIWAError(code, msg, { cause: err });
}

/**
 * The Direct Sockets constructor `name` (UDPSocket, TCPSocket, TCPServerSocket)
 * from globalThis; a SocketIWAError ENOTSUP when this runtime has none.
 */
export function requireCtor(name) {
  const C = globalThis[name];
  if (typeof C !== 'function') {
    throw new SocketIWAError('ENOTSUP', `${name} is not available: Direct Sockets only exist in an Isolated Web App (or install node/direct-sockets.js under Node.js).`);
  }
  return C;
}

/** Error for use of a closed socket. */
export function closedError(what) {
  return new SocketIWAError('ERR_SOCKET_CLOSED', `${what}: the socket is closed.`);
}
