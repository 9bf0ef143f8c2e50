// The one table of error names for Direct Sockets failures, shared by the
// JavaScript API (api/errors.js), the Node implementation of Direct Sockets
// (node/direct-sockets.js) and the wasm bridge (emscripten: build_support.rs
// turns this file into the library item $DS_CODES, so it keeps that style:
// one exported object, `name: function` members, no imports).
//
// Three directions use it:
//   browser rejection (DOMException name, Chromium net::ERR_* text, Node code)
//     -> errno name for POSIX callers (the bridge):        errnoName()
//   DOMException name -> `code` of a SocketIWAError (API): apiCode()
//   Node socket error code -> DOMException name that Chromium would give
//     (node/direct-sockets.js):                            domName()

export const DS_CODES = {
  /** DOMException name -> [errno name (bridge), API code (null: the API's generic 'ENETWORK')]. */
  byName: {
    NotAllowedError: ['EACCES', 'EACCES'],
    SecurityError: ['EACCES', 'EACCES'],
    InvalidStateError: ['EBADF', 'ERR_INVALID_STATE'],
    InvalidAccessError: ['EINVAL', 'EINVAL'],
    NotSupportedError: ['EOPNOTSUPP', 'ENOTSUP'],
    TypeError: ['EINVAL', 'ERR_INVALID_ARG_VALUE'],
    RangeError: ['EINVAL', null],
    TimeoutError: ['ETIMEDOUT', 'ETIMEDOUT'],
    AbortError: ['ECONNABORTED', 'ECONNABORTED'],
    QuotaExceededError: ['ENOBUFS', null],
  },
  /**
   * Chromium net error names (regular expression sources, matched
   * case-insensitively against the rejection message) -> errno name.
   */
  byNetError: [
    ['ERR_CONNECTION_REFUSED', 'ECONNREFUSED'],
    ['ERR_ADDRESS_IN_USE', 'EADDRINUSE'],
    ['ERR_ADDRESS_INVALID', 'EADDRNOTAVAIL'],
    ['ERR_ADDRESS_UNREACHABLE', 'EHOSTUNREACH'],
    ['ERR_NETWORK_ACCESS_DENIED|ERR_ACCESS_DENIED|ERR_BLOCKED', 'EACCES'],
    ['ERR_CONNECTION_RESET|ERR_CONNECTION_CLOSED', 'ECONNRESET'],
    ['ERR_CONNECTION_ABORTED', 'ECONNABORTED'],
    ['ERR_CONNECTION_TIMED_OUT|ERR_TIMED_OUT', 'ETIMEDOUT'],
    ['ERR_INTERNET_DISCONNECTED|ERR_NETWORK_CHANGED', 'ENETDOWN'],
    ['ERR_MSG_TOO_BIG', 'EMSGSIZE'],
    ['ERR_NAME_NOT_RESOLVED', 'EHOSTUNREACH'],
    ['local network is blocked|permission', 'EACCES'],
  ],
  /** Node error codes (node:net, node:dgram, streams) -> errno name. */
  byNodeCode: {
    EACCES: 'EACCES', EPERM: 'EPERM', EADDRINUSE: 'EADDRINUSE',
    EADDRNOTAVAIL: 'EADDRNOTAVAIL', ECONNREFUSED: 'ECONNREFUSED',
    ECONNRESET: 'ECONNRESET', ECONNABORTED: 'ECONNABORTED', EPIPE: 'EPIPE',
    ENETUNREACH: 'ENETUNREACH', EHOSTUNREACH: 'EHOSTUNREACH', ETIMEDOUT: 'ETIMEDOUT',
    EAFNOSUPPORT: 'EAFNOSUPPORT', EINVAL: 'EINVAL', EMSGSIZE: 'EMSGSIZE',
    ENOBUFS: 'ENOBUFS', ENOTCONN: 'ENOTCONN', EBADF: 'EBADF', ENETDOWN: 'ENETDOWN',
    EAGAIN: 'EAGAIN', ENOTSUP: 'EOPNOTSUPP', EOPNOTSUPP: 'EOPNOTSUPP',
    // Node's own codes for closed sockets and bad arguments.
    ERR_SOCKET_DGRAM_NOT_RUNNING: 'EBADF', ERR_SOCKET_CLOSED: 'EBADF',
    ERR_STREAM_DESTROYED: 'EPIPE', ERR_STREAM_WRITE_AFTER_END: 'EPIPE',
    ERR_SOCKET_BAD_PORT: 'EINVAL', ERR_INVALID_IP_ADDRESS: 'EINVAL',
  },
  /** Node error codes for which Chromium rejects with a name other than NetworkError. */
  nodeDomName: { EACCES: 'NotAllowedError', EPERM: 'NotAllowedError' },

  /**
   * The errno name for a Direct Sockets failure, in this order: a Node code
   * (`err.code`, or `err.cause.code` as node/direct-sockets.js keeps it), a
   * Chromium net error in the message, the DOMException name, then
   * `fallback` (the operation's meaning of a bare NetworkError), else EIO.
   */
  errnoName: function (err, fallback) {
    var T = DS_CODES;
    var code = err && err.code;
    if (typeof code === 'string' && T.byNodeCode[code]) return T.byNodeCode[code];
    var cause = err && err.cause;
    if (cause && typeof cause.code === 'string' && T.byNodeCode[cause.code]) return T.byNodeCode[cause.code];
    // Never String(err): an arbitrary rejection value may not convert (no usable toString).
    var msg = err && typeof err.message === 'string' ? err.message : typeof err === 'string' ? err : '';
    for (var i = 0; i < T.byNetError.length; i++) {
      if (new RegExp(T.byNetError[i][0], 'i').test(msg)) return T.byNetError[i][1];
    }
    var name = err && err.name;
    if (name && T.byName[name]) return T.byName[name][0];
    return fallback || 'EIO';
  },
  /** The API code for a DOMException name, or null when the table has none. */
  apiCode: function (name) {
    var row = DS_CODES.byName[name];
    return row ? row[1] : null;
  },
  /** The DOMException name Chromium would reject with for a Node error code. */
  domName: function (code) {
    return DS_CODES.nodeDomName[code] || 'NetworkError';
  },
};
