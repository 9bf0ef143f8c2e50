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
// and one test both the API and the bridge use: did a name fail to resolve?
//   nameNotResolved() (code `notFound.code`, errno `notFound.errno`).
//
// Every lookup goes through own(): a key such as 'constructor' or 'toString'
// (an error's name or code can be any string) must not find Object.prototype.

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
   * A host name that does not resolve. JavaScript sees Node's code (ENOTFOUND);
   * C callers of connect()/sendto() on a name (the bridge resolves names in
   * Direct Sockets, after getaddrinfo() succeeded with a placeholder) see
   * EHOSTUNREACH, what they see for an unreachable host (docs/BRIDGE.md).
   * `message`: how the rejection says so: Chromium's net::ERR_NAME_NOT_RESOLVED,
   * node/direct-sockets.js's "Name resolution failed ...", "couldn't be resolved".
   */
  notFound: {
    code: 'ENOTFOUND',
    errno: 'EHOSTUNREACH',
    message: "ERR_NAME_NOT_RESOLVED|name resolution|could ?n[o']t be resolved",
  },

  /** table[key] when the table itself has that key (never Object.prototype's members), else undefined. */
  own: function (table, key) {
    return typeof key === 'string' && Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
  },
  /** The text of an error (its message, or itself), never throwing. */
  text: function (err) {
    try {
      var m = err && err.message;
      return String(m !== undefined && m !== null && m !== '' ? m : (err === undefined || err === null ? '' : err));
    } catch (e) {
      return '';
    }
  },
  /**
   * Did this rejection come from a host name that does not resolve? Node's
   * code ENOTFOUND on the error or its `cause` (node/direct-sockets.js keeps
   * Node's error there), or `notFound.message` in the message.
   */
  nameNotResolved: function (err) {
    var T = DS_CODES;
    if (err === null || err === undefined) return false;
    var code = T.notFound.code;
    if (err.code === code || (err.cause && err.cause.code === code)) return true;
    return new RegExp(T.notFound.message, 'i').test(T.text(err));
  },
  /**
   * The code JavaScript sees for a Direct Sockets failure that reached the
   * bridge: ENOTFOUND for a name that does not resolve, else the errno name.
   */
  jsCode: function (err, errnoName) {
    return DS_CODES.nameNotResolved(err) ? DS_CODES.notFound.code : errnoName;
  },

  /**
   * The errno name for a Direct Sockets failure, in this order: a Node code
   * (`err.code`, or `err.cause.code` as node/direct-sockets.js keeps it), a
   * Chromium net error in the message, the DOMException name, then
   * `fallback` (the operation's meaning of a bare NetworkError), else EIO.
   */
  errnoName: function (err, fallback) {
    var T = DS_CODES;
    var code = err && err.code;
    if (T.own(T.byNodeCode, code)) return T.own(T.byNodeCode, code);
    var cause = err && err.cause;
    if (cause && T.own(T.byNodeCode, cause.code)) return T.own(T.byNodeCode, cause.code);
    if (T.nameNotResolved(err)) return T.notFound.errno;
    var msg = T.text(err);
    for (var i = 0; i < T.byNetError.length; i++) {
      if (new RegExp(T.byNetError[i][0], 'i').test(msg)) return T.byNetError[i][1];
    }
    var row = T.own(T.byName, err && err.name);
    if (row) return row[0];
    return fallback || 'EIO';
  },
  /** The API code for a DOMException name, or null when the table has none. */
  apiCode: function (name) {
    var row = DS_CODES.own(DS_CODES.byName, name);
    return row ? row[1] : null;
  },
  /** The DOMException name Chromium would reject with for a Node error code. */
  domName: function (code) {
    return DS_CODES.own(DS_CODES.nodeDomName, code) || 'NetworkError';
  },
};
