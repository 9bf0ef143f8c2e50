/**
 * libdirectsockets.js: Emscripten (3.1.6) JS library that replaces the POSIX
 * socket syscalls with the Direct Sockets API (UDPSocket, TCPSocket,
 * TCPServerSocket, MulticastController).
 *
 * Link with:  --js-library emscripten/src/lib/libdirectsockets.js
 *             --pre-js     emscripten/src/jspi_pre.js      (JSPI wiring)
 *
 * The constructors are looked up on globalThis at call time, so the same glue
 * runs inside an Isolated Web App (the browser's implementation) and under
 * Node 26 with node/direct-sockets.js installed on globalThis.
 *
 * Layout of this file (one file, small named parts):
 *   DS_CONST   numeric constants (errno values via cDefine, the rest from musl)
 *   DS_ADDR    address codec: sockaddr_in / sockaddr_in6 <-> strings
 *   DS_ERRNO   errno table: browser / Node errors -> errno
 *   DSB        per-fd state, receive queues, wakeups, the socket operations
 *   __syscall_* / fd_*  thin entry points: argument decoding + error guard
 *
 * Suspension rule (see docs/BRIDGE.md): an entry point returns a plain number
 * whenever it can answer now (data queued, send accepted by the writer,
 * non-blocking fd). It returns a Promise only when it must wait: a blocking
 * recv/accept/connect with nothing ready, poll with a timeout and nothing
 * ready, or a Direct Sockets `opened` promise that bind/listen/connect must
 * observe. Every import that can return a Promise is marked with
 * `name__suspending: true` next to its definition; the marks become
 * DSB.suspendingImports (end of file) and jspi_pre.js wraps exactly those with
 * `new WebAssembly.Suspending`. A Suspending import that returns a plain value
 * does not switch stacks.
 */

// Keep the stock implementations of the syscalls we extend for non-socket fds
// (stdio, files): they are registered under new names and called as fallback.
(function () {
  var lib = LibraryManager.library;
  var keep = {
    '$DS_stock_ioctl': '__syscall_ioctl',
    '$DS_stock_fcntl64': '__syscall_fcntl64',
    '$DS_stock_fd_read': 'fd_read',
    '$DS_stock_fd_write': 'fd_write',
  };
  var extra = {};
  for (var name in keep) {
    var orig = keep[name];
    if (!lib[orig]) continue;
    extra[name] = lib[orig];
    if (lib[orig + '__deps']) extra[name + '__deps'] = lib[orig + '__deps'];
    if (lib[orig + '__postset']) extra[name + '__postset'] = lib[orig + '__postset'];
  }
  mergeInto(LibraryManager.library, extra);
})();

var DS_LIBRARY = {
  // ---------------------------------------------------------------------
  // Constants. errno, AF_*, SOCK_*, POLL*, O_NONBLOCK come from Emscripten's
  // struct_info (cDefine); the others are musl's values for wasm32, checked
  // against cache/sysroot/include of emcc 3.1.6.
  // ---------------------------------------------------------------------
  $DS_CONST: {
    AF_UNSPEC: {{{ cDefine('AF_UNSPEC') }}},
    AF_INET: {{{ cDefine('AF_INET') }}},
    AF_INET6: {{{ cDefine('AF_INET6') }}},
    SOCK_STREAM: {{{ cDefine('SOCK_STREAM') }}},
    SOCK_DGRAM: {{{ cDefine('SOCK_DGRAM') }}},
    SOCK_NONBLOCK: {{{ cDefine('SOCK_NONBLOCK') }}},
    SOCK_CLOEXEC: {{{ cDefine('SOCK_CLOEXEC') }}},
    IPPROTO_IP: 0, IPPROTO_TCP: 6, IPPROTO_UDP: 17, IPPROTO_IPV6: 41,
    SOL_SOCKET: 1,
    SO_REUSEADDR: 2, SO_TYPE: 3, SO_ERROR: 4, SO_BROADCAST: 6, SO_SNDBUF: 7,
    SO_RCVBUF: 8, SO_KEEPALIVE: 9, SO_REUSEPORT: 15,
    // wasm32 has a 32-bit long, so musl's SO_RCVTIMEO/SO_SNDTIMEO are the
    // 64-bit-time_t variants (struct timeval = i64 sec + i32 usec, 16 bytes);
    // the _OLD ones take an 8-byte timeval.
    SO_RCVTIMEO: 66, SO_SNDTIMEO: 67, SO_RCVTIMEO_OLD: 20, SO_SNDTIMEO_OLD: 21,
    TCP_NODELAY: 1,
    IP_TTL: 2, IP_MULTICAST_IF: 32, IP_MULTICAST_TTL: 33, IP_MULTICAST_LOOP: 34,
    IP_ADD_MEMBERSHIP: 35, IP_DROP_MEMBERSHIP: 36,
    IP_ADD_SOURCE_MEMBERSHIP: 39, IP_DROP_SOURCE_MEMBERSHIP: 40,
    IPV6_MULTICAST_IF: 17, IPV6_MULTICAST_HOPS: 18, IPV6_MULTICAST_LOOP: 19,
    IPV6_JOIN_GROUP: 20, IPV6_LEAVE_GROUP: 21, IPV6_V6ONLY: 26,
    MSG_PEEK: 0x2, MSG_TRUNC: 0x20, MSG_DONTWAIT: 0x40, MSG_WAITALL: 0x100,
    SHUT_RD: 0, SHUT_WR: 1, SHUT_RDWR: 2,
    FIONREAD: {{{ cDefine('FIONREAD') }}}, FIONBIO: 0x5421,
    F_GETFL: {{{ cDefine('F_GETFL') }}}, F_SETFL: {{{ cDefine('F_SETFL') }}},
    O_NONBLOCK: {{{ cDefine('O_NONBLOCK') }}},
    O_RDWR: 2,
    POLLIN: {{{ cDefine('POLLIN') }}}, POLLPRI: {{{ cDefine('POLLPRI') }}},
    POLLOUT: {{{ cDefine('POLLOUT') }}}, POLLERR: {{{ cDefine('POLLERR') }}},
    POLLHUP: {{{ cDefine('POLLHUP') }}}, POLLNVAL: {{{ cDefine('POLLNVAL') }}},
    POLLRDNORM: {{{ cDefine('POLLRDNORM') }}}, POLLWRNORM: {{{ cDefine('POLLWRNORM') }}},
    S_IFSOCK: 0xC000, S_IFDIR: 0x4000,
    // Linux defaults (net.core.rmem_default / wmem_default).
    DEFAULT_RCVBUF: 212992, DEFAULT_SNDBUF: 212992,
    TCP_DEFAULT_RCVBUF: 131072, TCP_DEFAULT_SNDBUF: 16384 * 4,
    MAX_UDP_PAYLOAD: 65507,
    E: {
      EPERM: {{{ cDefine('EPERM') }}}, EBADF: {{{ cDefine('EBADF') }}},
      EAGAIN: {{{ cDefine('EAGAIN') }}}, EACCES: {{{ cDefine('EACCES') }}},
      EFAULT: {{{ cDefine('EFAULT') }}}, EINVAL: {{{ cDefine('EINVAL') }}},
      ENOTSOCK: {{{ cDefine('ENOTSOCK') }}}, EDESTADDRREQ: {{{ cDefine('EDESTADDRREQ') }}},
      EMSGSIZE: {{{ cDefine('EMSGSIZE') }}}, ENOPROTOOPT: {{{ cDefine('ENOPROTOOPT') }}},
      EPROTONOSUPPORT: {{{ cDefine('EPROTONOSUPPORT') }}},
      ESOCKTNOSUPPORT: {{{ cDefine('ESOCKTNOSUPPORT') }}},
      EOPNOTSUPP: {{{ cDefine('EOPNOTSUPP') }}}, EAFNOSUPPORT: {{{ cDefine('EAFNOSUPPORT') }}},
      EADDRINUSE: {{{ cDefine('EADDRINUSE') }}}, EADDRNOTAVAIL: {{{ cDefine('EADDRNOTAVAIL') }}},
      ENETDOWN: {{{ cDefine('ENETDOWN') }}}, ENETUNREACH: {{{ cDefine('ENETUNREACH') }}},
      ECONNABORTED: {{{ cDefine('ECONNABORTED') }}}, ECONNRESET: {{{ cDefine('ECONNRESET') }}},
      ENOBUFS: {{{ cDefine('ENOBUFS') }}}, EISCONN: {{{ cDefine('EISCONN') }}},
      ENOTCONN: {{{ cDefine('ENOTCONN') }}}, ETIMEDOUT: {{{ cDefine('ETIMEDOUT') }}},
      ECONNREFUSED: {{{ cDefine('ECONNREFUSED') }}}, EHOSTUNREACH: {{{ cDefine('EHOSTUNREACH') }}},
      EALREADY: {{{ cDefine('EALREADY') }}}, EINPROGRESS: {{{ cDefine('EINPROGRESS') }}},
      EPIPE: {{{ cDefine('EPIPE') }}}, ENOSYS: {{{ cDefine('ENOSYS') }}},
      EINTR: {{{ cDefine('EINTR') }}}, ENOMEM: {{{ cDefine('ENOMEM') }}},
      EIO: {{{ cDefine('EIO') }}},
    },
  },

  // ---------------------------------------------------------------------
  // Address codec: sockaddr_in (16 bytes) / sockaddr_in6 (28 bytes).
  // ---------------------------------------------------------------------
  $DS_ADDR__deps: ['$DS_CONST'],
  $DS_ADDR: {
    SIZE_IN: 16,
    SIZE_IN6: 28,
    formatV4: function (b, off) {
      return b[off] + '.' + b[off + 1] + '.' + b[off + 2] + '.' + b[off + 3];
    },
    parseV4: function (s) {
      var m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
      if (!m) return null;
      var out = [];
      for (var i = 1; i <= 4; i++) {
        var n = +m[i];
        if (n > 255) return null;
        out.push(n);
      }
      return out;
    },
    /** 16 bytes -> RFC 5952 text (longest zero run compressed, v4-mapped kept dotted). */
    formatV6: function (b, off) {
      var words = [];
      for (var i = 0; i < 8; i++) words.push((b[off + 2 * i] << 8) | b[off + 2 * i + 1]);
      if (words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 &&
          words[4] === 0 && words[5] === 0xffff) {
        return '::ffff:' + DS_ADDR.formatV4(b, off + 12);
      }
      var bestStart = -1, bestLen = 0;
      for (var s = 0; s < 8;) {
        if (words[s] !== 0) { s++; continue; }
        var e = s;
        while (e < 8 && words[e] === 0) e++;
        if (e - s > bestLen && e - s >= 2) { bestStart = s; bestLen = e - s; }
        s = e;
      }
      var hex = words.map(function (w) { return w.toString(16); });
      if (bestStart < 0) return hex.join(':');
      return hex.slice(0, bestStart).join(':') + '::' + hex.slice(bestStart + bestLen).join(':');
    },
    /** text -> 16 byte array, or null. Accepts '::', embedded dotted quads, %scope. */
    parseV6: function (s) {
      s = String(s);
      var pct = s.indexOf('%');
      if (pct >= 0) s = s.slice(0, pct);
      if (s[0] === '[' && s[s.length - 1] === ']') s = s.slice(1, -1);
      var tail4 = null;
      var lastColon = s.lastIndexOf(':');
      if (lastColon >= 0 && s.indexOf('.', lastColon) > 0) {
        tail4 = DS_ADDR.parseV4(s.slice(lastColon + 1));
        if (!tail4) return null;
        s = s.slice(0, lastColon + 1) + '0:0';
      }
      var halves = s.split('::');
      if (halves.length > 2) return null;
      var parse = function (part) {
        if (part === '') return [];
        return part.split(':').map(function (h) {
          return /^[0-9a-fA-F]{1,4}$/.test(h) ? parseInt(h, 16) : NaN;
        });
      };
      var head = parse(halves[0]);
      var rest = halves.length === 2 ? parse(halves[1]) : [];
      var words;
      if (halves.length === 2) {
        var fill = 8 - head.length - rest.length;
        if (fill < 1) return null;
        words = head.concat(new Array(fill).fill(0), rest);
      } else {
        words = head;
      }
      if (words.length !== 8 || words.some(function (w) { return !(w >= 0); })) return null;
      var out = new Array(16);
      for (var i = 0; i < 8; i++) { out[2 * i] = words[i] >> 8; out[2 * i + 1] = words[i] & 0xff; }
      if (tail4) { out[12] = tail4[0]; out[13] = tail4[1]; out[14] = tail4[2]; out[15] = tail4[3]; }
      return out;
    },
    /** Reads a sockaddr. Returns {family, addr, port} or {errno}. */
    read: function (ptr, len) {
      if (!ptr) return { errno: DS_CONST.E.EFAULT };
      if (len < 2) return { errno: DS_CONST.E.EINVAL };
      var family = HEAPU16[ptr >> 1];
      var port = (HEAPU8[ptr + 2] << 8) | HEAPU8[ptr + 3];
      if (family === DS_CONST.AF_INET) {
        if (len < DS_ADDR.SIZE_IN) return { errno: DS_CONST.E.EINVAL };
        return { family: family, addr: DS_ADDR.formatV4(HEAPU8, ptr + 4), port: port };
      }
      if (family === DS_CONST.AF_INET6) {
        if (len < DS_ADDR.SIZE_IN6) return { errno: DS_CONST.E.EINVAL };
        return { family: family, addr: DS_ADDR.formatV6(HEAPU8, ptr + 8), port: port,
                 scope: HEAPU32[(ptr + 24) >> 2] };
      }
      if (family === DS_CONST.AF_UNSPEC) return { family: family, addr: null, port: port };
      return { errno: DS_CONST.E.EAFNOSUPPORT };
    },
    /** Converts an address string to the byte form for `family` (v4 -> v4-mapped v6). */
    bytesFor: function (family, addr) {
      var v4 = DS_ADDR.parseV4(addr);
      if (family === DS_CONST.AF_INET) {
        if (v4) return v4;
        var v6 = DS_ADDR.parseV6(addr);
        // v4-mapped v6 text on an AF_INET socket: unwrap it.
        if (v6 && v6.slice(0, 10).every(function (x) { return x === 0; }) &&
            v6[10] === 0xff && v6[11] === 0xff) return v6.slice(12);
        return [0, 0, 0, 0];
      }
      if (v4) return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff].concat(v4);
      return DS_ADDR.parseV6(addr) || new Array(16).fill(0);
    },
    /** Writes a sockaddr of `family` to ptr, honouring *lenPtr (in/out). */
    write: function (ptr, lenPtr, family, addr, port) {
      if (!ptr) return 0;
      var size = family === DS_CONST.AF_INET6 ? DS_ADDR.SIZE_IN6 : DS_ADDR.SIZE_IN;
      var tmp = new Uint8Array(size);
      tmp[0] = family & 0xff; tmp[1] = family >> 8;
      tmp[2] = (port >> 8) & 0xff; tmp[3] = port & 0xff;
      var bytes = DS_ADDR.bytesFor(family, addr || (family === DS_CONST.AF_INET6 ? '::' : '0.0.0.0'));
      tmp.set(bytes, family === DS_CONST.AF_INET6 ? 8 : 4);
      var room = lenPtr ? HEAP32[lenPtr >> 2] : size;
      if (room < 0) return -DS_CONST.E.EINVAL;
      HEAPU8.set(room < size ? tmp.subarray(0, room) : tmp, ptr);
      if (lenPtr) HEAP32[lenPtr >> 2] = size;
      return 0;
    },
    /** Is this an IPv4 or IPv6 multicast address? */
    isMulticast: function (addr) {
      var v4 = DS_ADDR.parseV4(addr);
      if (v4) return v4[0] >= 224 && v4[0] <= 239;
      var v6 = DS_ADDR.parseV6(addr);
      return !!v6 && v6[0] === 0xff;
    },
    anyFor: function (family) {
      return family === DS_CONST.AF_INET6 ? '::' : '0.0.0.0';
    },
  },

  // ---------------------------------------------------------------------
  // Errno mapping: a rejection from Direct Sockets (DOMException names,
  // Chromium net::ERR_* messages, Node error codes) -> errno. The table is
  // api/codes.js, shared with the JavaScript API and node/direct-sockets.js
  // (library item $DS_CODES, generated by build_support.rs).
  // ---------------------------------------------------------------------
  $DS_ERRNO__deps: ['$DS_CONST', '$DS_CODES'],
  $DS_ERRNO: {
    /**
     * Maps an error to an errno. `fallback` names the errno that fits the
     * operation when the error says only "network error" (Chromium's
     * NetworkError carries no detail for most failures): connect ->
     * ECONNREFUSED, bind/listen -> EADDRINUSE, send -> ENETUNREACH, ...
     */
    from: function (err, fallback) {
      if (typeof err === 'number') return err;
      if (err && typeof err.errno === 'number' && err.dsErrno) return err.errno;
      return DS_CONST.E[DS_CODES.errnoName(err, fallback)];
    },
    /** An exception carrying an errno through the helpers. */
    fail: function (errno) {
      var e = new Error('errno ' + errno);
      e.errno = errno;
      e.dsErrno = true;
      throw e;
    },
  },

  // ---------------------------------------------------------------------
  // The bridge: per-fd state, receive queues, wakeups, operations.
  // ---------------------------------------------------------------------
  $DSB__deps: ['$FS', '$DNS', '$DS_CONST', '$DS_ADDR', '$DS_ERRNO', '$DS_TXQ', '$BUFFER_SOURCE', '$DS_OPS',
               '$DS_POLL', '$DS_IOV'],
  $DSB__postset: function () { addAtInit('DSB.init();'); },
  $DSB: {
    /**
     * Imports that may return a Promise; jspi_pre.js wraps these (and only
     * these). Filled at link time from the `name__suspending: true` markers
     * next to the entry points (end of this file).
     */
    suspendingImports: [],
    root: null,
    nextId: 0,
    waiters: [],
    // Per operation: calls answered at once vs. calls that returned a Promise.
    stats: { immediate: {}, suspended: {} },
    count: function (kind, op) {
      var t = DSB.stats[kind];
      t[op] = (t[op] || 0) + 1;
    },
    init: function () {
      if (DSB.root) return;
      var fsType = {
        mount: function () {
          return FS.createNode(null, '/', DS_CONST.S_IFDIR | 511, 0);
        },
      };
      DSB.fsType = fsType;
      DSB.root = FS.mount(fsType, {}, null);
      DSB.errno = DS_CONST.E;
      DSB.stats.txq = TCP_WRITE_GUARD.stats;   // the TCP write guard's counters (libds_txq.js)
      DSB.txq = DS_TXQ;
      if (typeof Module !== 'undefined') Module['directSockets'] = DSB;
    },

    // --- environment --------------------------------------------------
    api: function (name) {
      var fn = typeof globalThis !== 'undefined' ? globalThis[name] : undefined;
      if (typeof fn !== 'function') DS_ERRNO.fail(DS_CONST.E.EACCES);
      return fn;
    },

    // --- wakeups --------------------------------------------------------
    /** Resolves every pending wait; the waiter re-checks its condition. */
    wake: function () {
      var w = DSB.waiters;
      if (!w.length) return;
      DSB.waiters = [];
      for (var i = 0; i < w.length; i++) w[i]();
    },
    /** Waits for any socket event, or `ms` milliseconds (ms < 0: no limit). */
    waitEvent: function (ms) {
      return new Promise(function (resolve) {
        var timer = null;
        var done = function () { if (timer !== null) clearTimeout(timer); resolve(); };
        DSB.waiters.push(done);
        if (ms >= 0) timer = setTimeout(function () {
          var i = DSB.waiters.indexOf(done);
          if (i >= 0) DSB.waiters.splice(i, 1);
          resolve();
        }, ms);
      });
    },
    /**
     * Runs `attempt` now; if it reports WOULD_BLOCK and the caller may block,
     * returns a Promise that re-runs it after each wakeup until it answers or
     * `timeoutMs` passes (then EAGAIN, like SO_RCVTIMEO expiry).
     */
    WOULD_BLOCK: { wouldBlock: true },
    blockOn: function (op, attempt, mayBlock, timeoutMs) {
      var r = attempt();
      if (r !== DSB.WOULD_BLOCK) { DSB.count('immediate', op); return r; }
      if (!mayBlock) { DSB.count('immediate', op); return -DS_CONST.E.EAGAIN; }
      DSB.count('suspended', op);
      var deadline = timeoutMs > 0 ? Date.now() + timeoutMs : -1;
      return (async function () {
        for (;;) {
          var left = deadline < 0 ? -1 : deadline - Date.now();
          if (deadline >= 0 && left <= 0) return -DS_CONST.E.EAGAIN;
          await DSB.waitEvent(left);
          var r2 = DSB.guard(attempt);
          if (r2 !== DSB.WOULD_BLOCK) return r2;
        }
      })();
    },
    /** The last Direct Sockets failure seen, for diagnostics: {op, name, message, errno}. */
    lastError: null,
    noteError: function (op, e, errno) {
      DSB.lastError = { op: op, name: e && e.name, message: String(e && e.message || e), errno: errno };
    },
    /** Resolves after pending tasks (I/O callbacks) have run: setImmediate or a MessageChannel hop. */
    macrotask: function () {
      if (typeof setImmediate === 'function') return new Promise(function (r) { setImmediate(r); });
      if (!DSB.channel && typeof MessageChannel === 'function') {
        DSB.channel = new MessageChannel();
        DSB.channelQueue = [];
        DSB.channel.port1.onmessage = function () { var q = DSB.channelQueue; DSB.channelQueue = []; q.forEach(function (f) { f(); }); };
      }
      if (DSB.channel) return new Promise(function (r) { DSB.channelQueue.push(r); DSB.channel.port2.postMessage(0); });
      return new Promise(function (r) { setTimeout(r, 0); });
    },
    /** Runs fn, turning thrown errno errors into -errno (sync and async). */
    guard: function (fn) {
      try {
        var r = fn();
        if (r && typeof r.then === 'function') {
          return r.then(null, function (e) { return DSB.errnoResult(e); });
        }
        return r;
      } catch (e) {
        return DSB.errnoResult(e);
      }
    },
    errnoResult: function (e) {
      if (e && e.dsErrno) return -e.errno;
      if (e instanceof FS.ErrnoError) return -e.errno;
      throw e;
    },

    // --- per-fd state ---------------------------------------------------
    streamOps: null,
    makeStreamOps: function () {
      return {
        // JS-side FS.read/FS.write (not the wasm fd_read/fd_write imports,
        // which have their own suspending path below): never wait.
        read: function (stream, buffer, offset, length) {
          var sock = stream.node.sock;
          var r = DSB.recvInto(sock, length, 0);
          if (r === DSB.WOULD_BLOCK) throw new FS.ErrnoError(DS_CONST.E.EAGAIN);
          buffer.set(r.data, offset);
          return r.data.length;
        },
        write: function (stream, buffer, offset, length) {
          var sock = stream.node.sock;
          var r = DSB.sendFrom(sock, buffer.subarray(offset, offset + length), null);
          if (r === DSB.WOULD_BLOCK) throw new FS.ErrnoError(DS_CONST.E.EAGAIN);
          return r;
        },
        poll: function (stream) {
          return DSB.pollMask(stream.node.sock);
        },
        ioctl: function (stream, op, argp) {
          return DSB.ioctl(stream.node.sock, op, argp);
        },
        close: function (stream) {
          DSB.close(stream.node.sock);
        },
      };
    },
    /** Creates the per-fd state and its FS node + stream; returns the sock. */
    create: function (family, type, protocol, nonblock) {
      if (!DSB.streamOps) DSB.streamOps = DSB.makeStreamOps();
      var stream_ = type === DS_CONST.SOCK_STREAM;
      var sock = {
        id: DSB.nextId++,
        family: family,
        type: type,
        protocol: protocol || (stream_ ? DS_CONST.IPPROTO_TCP : DS_CONST.IPPROTO_UDP),
        // 'new' | 'opening' | 'bound' | 'connecting' | 'connected' | 'failed' (TCP connect
        // refused/unreachable, until SO_ERROR or a second connect) | 'listening' | 'closed'
        state: 'new',
        localAddr: null, localPort: 0,
        remoteAddr: null, remotePort: 0,
        ds: null, info: null, reader: null, writer: null,
        // receive side: datagrams [{data, addr, port}] or stream chunks [Uint8Array]
        rx: [], rxBytes: 0, rxEof: false, rxError: 0, rxShut: false, rxResume: null,
        // send side: bytes handed to the writer and not yet taken by it
        txInflight: 0, txShut: false, txError: 0,
        // Chromium TCP write guard (DS_TXQ): queue of copied chunks not yet handed to the writer
        txGuard: false, txq: [], txqBytes: 0, txPump: null,
        soError: 0,
        acceptQueue: [],
        groups: [],              // joined multicast groups [{group, source}]
        opts: {
          reuseaddr: false, keepalive: false, nodelay: false, broadcast: false,
          rcvbuf: stream_ ? DS_CONST.TCP_DEFAULT_RCVBUF : DS_CONST.DEFAULT_RCVBUF,
          sndbuf: stream_ ? DS_CONST.TCP_DEFAULT_SNDBUF : DS_CONST.DEFAULT_SNDBUF,
          rcvbufSet: false, sndbufSet: false,
          rcvbufReq: 0, sndbufReq: 0,   // values the program asked for (Direct Sockets options)
          mcastTtl: 1, mcastLoop: true, mcastTtlSet: false, mcastLoopSet: false,
          v6only: false,
          rcvtimeo: 0, sndtimeo: 0,   // ms; 0 = wait forever
        },
        closed: false,
      };
      sock.ops = stream_ ? DS_OPS.tcp : DS_OPS.udp;
      var node = FS.createNode(DSB.root, 'ds-socket[' + sock.id + ']', DS_CONST.S_IFSOCK | 511, 0);
      node.sock = sock;
      var stream = FS.createStream({
        path: 'ds-socket[' + sock.id + ']',
        node: node,
        flags: DS_CONST.O_RDWR | (nonblock ? DS_CONST.O_NONBLOCK : 0),
        seekable: false,
        stream_ops: DSB.streamOps,
      });
      sock.stream = stream;
      return sock;
    },
    /** fd -> sock; throws EBADF (no fd) or ENOTSOCK (not a socket). */
    get: function (fd) {
      var stream = FS.getStream(fd);
      if (!stream) DS_ERRNO.fail(DS_CONST.E.EBADF);
      var sock = stream.node && stream.node.sock;
      if (!sock || sock.closed) DS_ERRNO.fail(DS_CONST.E.ENOTSOCK);
      return sock;
    },
    /** fd -> sock or null when the fd is not one of ours. */
    lookup: function (fd) {
      var stream = FS.getStream(fd);
      return stream && stream.node && stream.node.sock && !stream.node.sock.closed ? stream.node.sock : null;
    },
    isNonblocking: function (sock, flags) {
      return !!(sock.stream.flags & DS_CONST.O_NONBLOCK) || !!(flags & DS_CONST.MSG_DONTWAIT);
    },
    isStream: function (sock) { return sock.type === DS_CONST.SOCK_STREAM; },

    // --- receive queues -------------------------------------------------
    /**
     * Reads sock.reader until done, queueing datagrams (UDP) or chunks (TCP).
     * Pauses while more than rcvbuf bytes wait to be read (the stream's own
     * queue then holds back the sender, or Chromium drops excess datagrams the
     * way a full kernel buffer would).
     */
    pump: async function (sock) {
      var reader = sock.reader;
      try {
        for (;;) {
          while (!sock.closed && sock.rxBytes >= sock.opts.rcvbuf) {
            await new Promise(function (r) { sock.rxResume = r; });
          }
          if (sock.closed) break;
          var res = await reader.read();
          if (res.done) { sock.rxEof = true; break; }
          sock.ops.queue(sock, res.value);
          DSB.wake();
        }
      } catch (e) {
        if (!sock.closed) {
          sock.rxError = DS_ERRNO.from(e, 'ECONNRESET');
          DSB.noteError('read', e, sock.rxError);
          sock.rxEof = true;
        }
      }
      DSB.wake();
    },
    /** Received chunk -> Uint8Array view (api/buffer_source.js); anything else -> empty. */
    toBytes: function (v) {
      return BUFFER_SOURCE.view(v) || new Uint8Array(0);
    },
    consumed: function (sock, n) {
      sock.rxBytes -= n;
      if (sock.rxResume && sock.rxBytes < sock.opts.rcvbuf) {
        var r = sock.rxResume; sock.rxResume = null; r();
      }
    },
    /** Next datagram this socket accepts (a connected UDP socket filters by peer). */
    nextDatagramIndex: function (sock) {
      for (var i = 0; i < sock.rx.length; i++) {
        var d = sock.rx[i];
        if (!sock.remoteAddr || sock.ds && sock.info && sock.info.remoteAddress) return i;
        if (DSB.sameAddr(d.addr, sock.remoteAddr) && d.port === sock.remotePort) return i;
      }
      return -1;
    },
    sameAddr: function (a, b) {
      if (a === b) return true;
      var fa = DS_ADDR.bytesFor(DS_CONST.AF_INET6, a), fb = DS_ADDR.bytesFor(DS_CONST.AF_INET6, b);
      for (var i = 0; i < 16; i++) if (fa[i] !== fb[i]) return false;
      return true;
    },
    /**
     * One receive attempt of up to `len` bytes. Returns WOULD_BLOCK, or
     * {data, full, addr, port} (data.length 0 with eof for a closed stream).
     */
    recvInto: function (sock, len, flags) {
      if (sock.closed) DS_ERRNO.fail(DS_CONST.E.EBADF);
      return sock.ops.recv(sock, len, flags);
    },

    // --- send path ------------------------------------------------------
    /**
     * Hands `bytes` (copied) to the writer without waiting for it. Returns
     * the byte count, or WOULD_BLOCK when more than sndbuf bytes are already
     * in flight (the caller turns that into EAGAIN / a wait on POLLOUT).
     */
    sendFrom: function (sock, bytes, dest) {
      var E = DS_CONST.E;
      if (sock.closed) DS_ERRNO.fail(E.EBADF);
      if (sock.ops.sendCheck(sock, bytes, dest) === DSB.WOULD_BLOCK) return DSB.WOULD_BLOCK;
      if (sock.txInflight > 0 && sock.txInflight + bytes.length > DSB.sendBudget(sock)) return DSB.WOULD_BLOCK;
      // Direct Sockets keep the chunk until the write completes; the wasm heap
      // may change before that, so the bytes are always copied out here.
      var copy = new Uint8Array(bytes);
      var chunk = sock.ops.chunk(sock, copy, dest);
      var n = copy.length;
      sock.txInflight += n;
      if (sock.txGuard) { DS_TXQ.push(sock, copy); return n; }
      sock.writer.write(chunk).then(function () {
        sock.txInflight -= n;
        DSB.wake();
      }, function (e) {
        sock.txInflight -= n;
        if (!sock.closed) {
          sock.txError = DS_ERRNO.from(e, sock.ops.sendErrno);
          sock.soError = sock.txError;
        }
        DSB.wake();
      });
      return n;
    },
    /**
     * Address text for the API: the host name when `addr` is one of
     * Emscripten's placeholder addresses from getaddrinfo() (its DNS object
     * maps names to 172.29.x.y), so the browser / Node resolves the name
     * itself; otherwise the address, with v4-mapped v6 unwrapped.
     */
    peerText: function (sock, addr) {
      var name = addr && DNS.lookup_addr(addr);
      if (name) return name;
      var m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr || '');
      return m ? m[1] : addr;
    },

    // --- opening Direct Sockets ----------------------------------------
    /** Installs opened info, reader, writer and starts the receive pump. */
    attach: function (sock, info) {
      sock.info = info;
      if (info.localAddress !== undefined) sock.localAddr = info.localAddress;
      if (info.localPort !== undefined) sock.localPort = info.localPort;
      if (info.remoteAddress) { sock.remoteAddr = info.remoteAddress; sock.remotePort = info.remotePort; }
      if (info.readable) { sock.reader = info.readable.getReader(); DSB.pump(sock); }
      if (info.writable) {
        sock.writer = info.writable.getWriter();
        if (DSB.isStream(sock)) sock.txGuard = DS_TXQ.needed();
      }
    },
    /** Waits for a Direct Sockets object's `opened`, mapping failures to errno. */
    whenOpened: function (sock, ds, fallback, onOpen) {
      return ds.opened.then(function (info) {
        if (sock.closed) { DSB.closeDs(ds, null, null); return -DS_CONST.E.EBADF; }
        return onOpen(info);
      }, function (e) {
        sock.ds = null;
        var errno = DS_ERRNO.from(e, fallback);
        DSB.noteError('open', e, errno);
        DSB.wake();
        return -errno;
      });
    },
    udpOptions: function (sock) {
      var o = sock.opts, opts = {};
      if (o.sndbufSet) opts.sendBufferSize = o.sndbufReq;
      if (o.rcvbufSet) opts.receiveBufferSize = o.rcvbufReq;
      return opts;
    },
    /** bind() on UDP: creates a bound-mode UDPSocket and waits for it once. */
    openUdpBound: function (sock, addr, port) {
      var opts = DSB.udpOptions(sock);
      opts.localAddress = addr;
      if (port) opts.localPort = port;
      var o = sock.opts;
      if (sock.family === DS_CONST.AF_INET6 && (addr === '::')) opts.ipv6Only = o.v6only;
      if (o.reuseaddr) opts.multicastAllowAddressSharing = true;
      if (o.mcastLoopSet) opts.multicastLoopback = o.mcastLoop;
      if (o.mcastTtlSet) opts.multicastTimeToLive = o.mcastTtl;
      var UDPSocket = DSB.api('UDPSocket');
      var ds;
      try { ds = new UDPSocket(opts); } catch (e) { return -DS_ERRNO.from(e, 'EINVAL'); }
      sock.ds = ds; sock.state = 'opening';
      DSB.count('suspended', 'open');
      return DSB.whenOpened(sock, ds, 'EADDRINUSE', function (info) {
        DSB.attach(sock, info);
        sock.state = 'bound';
        DSB.wake();
        return 0;
      }).then(function (r) { if (r < 0 && sock.state === 'opening') sock.state = 'new'; return r; });
    },
    /** connect() on an unbound UDP socket: a connected-mode UDPSocket. */
    openUdpConnected: function (sock, addr, port) {
      var opts = DSB.udpOptions(sock);
      opts.remoteAddress = DSB.peerText(sock, addr);
      opts.remotePort = port;
      var UDPSocket = DSB.api('UDPSocket');
      var ds;
      try { ds = new UDPSocket(opts); } catch (e) { return -DS_ERRNO.from(e, 'EINVAL'); }
      sock.ds = ds; sock.state = 'opening';
      return DSB.whenOpened(sock, ds, 'ENETUNREACH', function (info) {
        DSB.attach(sock, info);
        sock.state = 'connected';
        DSB.wake();
        return 0;
      }).then(function (r) { if (r < 0 && sock.state === 'opening') sock.state = 'new'; return r; });
    },
    /** TCP connect: a TCPSocket; blocking callers wait, non-blocking get EINPROGRESS. */
    openTcp: function (sock, addr, port, nonblock) {
      var o = sock.opts, opts = {};
      if (o.nodelay) opts.noDelay = true;
      if (o.keepalive) opts.keepAliveDelay = 7200 * 1000;
      if (o.sndbufSet) opts.sendBufferSize = o.sndbufReq;
      if (o.rcvbufSet) opts.receiveBufferSize = o.rcvbufReq;
      var TCPSocket = DSB.api('TCPSocket');
      var ds;
      try { ds = new TCPSocket(DSB.peerText(sock, addr), port, opts); } catch (e) { return -DS_ERRNO.from(e, 'EINVAL'); }
      sock.ds = ds; sock.state = 'connecting';
      sock.remoteAddr = addr; sock.remotePort = port;
      var p = DSB.whenOpened(sock, ds, 'ECONNREFUSED', function (info) {
        DSB.attach(sock, info);
        sock.state = 'connected';
        DSB.wake();
        return 0;
      }).then(function (r) {
        if (r < 0 && sock.state === 'connecting') {
          sock.state = 'failed';
          sock.soError = -r;
        }
        return r;
      });
      if (nonblock) { DSB.count('immediate', 'connect'); return -DS_CONST.E.EINPROGRESS; }
      DSB.count('suspended', 'connect');
      // A blocking caller gets the error now; the socket may connect again.
      return p.then(function (r) {
        if (r < 0 && sock.state === 'failed') { sock.soError = 0; sock.state = 'new'; sock.remoteAddr = null; sock.remotePort = 0; }
        return r;
      });
    },
    /** listen(): a TCPServerSocket on the bound address; accepted sockets queue up. */
    openTcpServer: function (sock, backlog) {
      var opts = {};
      if (sock.localPort) opts.localPort = sock.localPort;
      if (backlog > 0) opts.backlog = backlog;
      if (sock.family === DS_CONST.AF_INET6 && sock.localAddr === '::') opts.ipv6Only = sock.opts.v6only;
      var TCPServerSocket = DSB.api('TCPServerSocket');
      var ds;
      var addr = sock.localAddr || DS_ADDR.anyFor(sock.family);
      try { ds = new TCPServerSocket(addr, opts); } catch (e) { return -DS_ERRNO.from(e, 'EINVAL'); }
      sock.ds = ds; sock.state = 'opening';
      return DSB.whenOpened(sock, ds, 'EADDRINUSE', function (info) {
        sock.info = info;
        sock.localAddr = info.localAddress; sock.localPort = info.localPort;
        sock.state = 'listening';
        sock.ops = DS_OPS['tcp-listen'];
        sock.reader = info.readable.getReader();
        DSB.acceptPump(sock);
        DSB.wake();
        return 0;
      }).then(function (r) { if (r < 0 && sock.state === 'opening') sock.state = 'bound'; return r; });
    },
    /** Reads incoming TCPSockets; each is queued once its `opened` settles. */
    acceptPump: async function (sock) {
      try {
        for (;;) {
          var res = await sock.reader.read();
          if (res.done) break;
          var conn = res.value;
          conn.opened.then(function (c) {
            return function (info) {
              if (sock.closed) { DSB.closeDs(c, null, null); return; }
              sock.acceptQueue.push({ ds: c, info: info });
              DSB.wake();
            };
          }(conn), function (e) {
            // The peer is gone before the connection opened: nothing to accept.
            DSB.noteError('accept', e, DS_ERRNO.from(e, 'ECONNABORTED'));
          });
        }
      } catch (e) {
        if (!sock.closed) sock.soError = DS_ERRNO.from(e, 'ECONNABORTED');
      }
      sock.rxEof = true;
      DSB.wake();
    },
    /** Closes a Direct Sockets object after releasing its streams. */
    closeDs: function (ds, reader, writer) {
      (async function () {
        if (writer) { try { await writer.close(); } catch (e) {} try { writer.releaseLock(); } catch (e) {} }
        if (reader) { try { await reader.cancel(); } catch (e) {} try { reader.releaseLock(); } catch (e) {} }
        try { await ds.close(); } catch (e) {}
      })();
    },

    // --- operations -------------------------------------------------------
    close: function (sock) {
      if (sock.closed) return;
      sock.closed = true;
      sock.state = 'closed';
      if (sock.rxResume) { var r = sock.rxResume; sock.rxResume = null; r(); }
      var groups = sock.groups; sock.groups = [];
      if (sock.info && sock.info.multicastController) {
        groups.forEach(function (g) {
          try { sock.info.multicastController.leaveGroup(g.group, g.source ? { sourceAddress: g.source } : undefined).catch(function () {}); } catch (e) {}
        });
      }
      if (sock.ds) {
        var ds = sock.ds, reader = sock.reader, writer = sock.writer;
        // Bytes already accepted by send() still go out (as the kernel flushes on close).
        DS_TXQ.afterDrain(sock, function () { DSB.closeDs(ds, reader, writer); });
      }
      sock.acceptQueue.forEach(function (a) { DSB.closeDs(a.ds, null, null); });
      sock.acceptQueue = [];
      sock.rx = []; sock.rxBytes = 0;
      // Every call still waiting on this socket re-checks, sees it closed and
      // returns EBADF.
      DSB.wake();
    },
    pollMask: function (sock) {
      var m = 0;
      if (sock.closed) return DS_CONST.POLLNVAL;
      if (sock.soError) m |= DS_CONST.POLLERR;
      return m | sock.ops.poll(sock);
    },
    /** POLLOUT rule (Linux sock_writeable): at most half the send budget in flight. */
    writable: function (sock) {
      return sock.txInflight <= (DSB.sendBudget(sock) >> 1);
    },
    /** Bytes a socket may have in flight: SO_SNDBUF, raised for Chromium TCP (DS_TXQ.MIN_BUDGET). */
    sendBudget: function (sock) {
      return sock.txGuard ? Math.max(sock.opts.sndbuf, DS_TXQ.MIN_BUDGET) : sock.opts.sndbuf;
    },
    warned: {},
    warnOnce: function (what) {
      if (DSB.warned[what]) return;
      DSB.warned[what] = true;
      err('libdirectsockets: ' + what);
    },
    ioctl: function (sock, op, argp) {
      if (op === DS_CONST.FIONREAD) {
        HEAP32[argp >> 2] = sock.ops.pending(sock);
        return 0;
      }
      if (op === DS_CONST.FIONBIO) {
        if (HEAP32[argp >> 2]) sock.stream.flags |= DS_CONST.O_NONBLOCK;
        else sock.stream.flags &= ~DS_CONST.O_NONBLOCK;
        return 0;
      }
      return -DS_CONST.E.EINVAL;
    },

    // --- multicast ------------------------------------------------------------
    /** IP_ADD_MEMBERSHIP & co.: MulticastController.joinGroup/leaveGroup + tracking. */
    membership: function (sock, join, group, source) {
      var E = DS_CONST.E;
      if (DSB.isStream(sock)) return -E.ENOPROTOOPT;
      if (!DS_ADDR.isMulticast(group)) return -E.EINVAL;
      var found = -1;
      for (var i = 0; i < sock.groups.length; i++) {
        var g = sock.groups[i];
        if (DSB.sameAddr(g.group, group) && (g.source || null) === (source || null)) found = i;
      }
      if (join && found >= 0) return -E.EADDRINUSE;
      if (!join && found < 0) return -E.EADDRNOTAVAIL;
      if (sock.state !== 'bound' || !sock.info) {
        // Direct Sockets expose the controller on a bound socket only.
        return sock.state === 'opening' ? -E.EAGAIN : -E.EINVAL;
      }
      var mc = sock.info.multicastController;
      if (!mc) return -E.EOPNOTSUPP;
      // Chromium 156 accepts joinGroup's sourceAddress but ignores it; a
      // source-specific join is refused rather than silently widened, unless
      // the controller says it honours sources (node/direct-sockets.js does).
      if (source && !(mc.constructor && mc.constructor.supportsSourceSpecific === true)) return -E.EOPNOTSUPP;
      var opt = source ? { sourceAddress: source } : undefined;
      var p;
      try { p = join ? mc.joinGroup(group, opt) : mc.leaveGroup(group, opt); } catch (e) {
        return -DS_ERRNO.from(e, 'EINVAL');
      }
      DSB.count('suspended', 'membership');
      return Promise.resolve(p).then(function () {
        if (join) sock.groups.push({ group: group, source: source || null });
        else {
          for (var j = 0; j < sock.groups.length; j++) {
            var g2 = sock.groups[j];
            if (DSB.sameAddr(g2.group, group) && (g2.source || null) === (source || null)) { sock.groups.splice(j, 1); break; }
          }
        }
        return 0;
      }, function (e) {
        return -DS_ERRNO.from(e, 'EADDRNOTAVAIL');
      });
    },
    /** Joined groups as the bridge tracks them, plus what the controller reports. */
    joinedGroups: function (fd) {
      var sock = DSB.lookup(fd);
      if (!sock) return null;
      return {
        tracked: sock.groups.map(function (g) { return g.source ? g.group + '<-' + g.source : g.group; }),
        controller: sock.info && sock.info.multicastController ? Array.from(sock.info.multicastController.joinedGroups || []) : [],
      };
    },

  },

  // =======================================================================
  // Syscall entry points. Socket syscalls in emcc 3.1.6 take six i32
  // arguments (see system/lib/libc/musl/arch/emscripten/syscall_arch.h);
  // ioctl/fcntl64 get (fd, op, varargs-pointer). All return -errno on error.
  // =======================================================================
  __syscall_socket__deps: ['$DSB'],
  __syscall_socket: function (domain, type, protocol) {
    return DSB.guard(function () {
      var C = DS_CONST, E = C.E;
      if (domain !== C.AF_INET && domain !== C.AF_INET6) return -E.EAFNOSUPPORT;
      var nonblock = !!(type & C.SOCK_NONBLOCK);
      var base = type & ~(C.SOCK_NONBLOCK | C.SOCK_CLOEXEC);
      if (base !== C.SOCK_STREAM && base !== C.SOCK_DGRAM) return -E.ESOCKTNOSUPPORT;
      if (protocol && !(base === C.SOCK_STREAM && protocol === C.IPPROTO_TCP) &&
          !(base === C.SOCK_DGRAM && protocol === C.IPPROTO_UDP)) return -E.EPROTONOSUPPORT;
      return DSB.create(domain, base, protocol, nonblock).stream.fd;
    });
  },

  __syscall_bind__suspending: true,
  __syscall_bind__deps: ['$DSB'],
  __syscall_bind: function (fd, addrp, addrlen) {
    return DSB.guard(function () {
      var E = DS_CONST.E;
      var sock = DSB.get(fd);
      var a = DS_ADDR.read(addrp, addrlen);
      if (a.errno) return -a.errno;
      if (a.family !== sock.family) return -E.EAFNOSUPPORT;
      if (sock.state !== 'new' || sock.localAddr !== null) return -E.EINVAL;
      return sock.ops.bind(sock, a);
    });
  },

  __syscall_connect__suspending: true,
  __syscall_connect__deps: ['$DSB'],
  __syscall_connect: function (fd, addrp, addrlen) {
    return DSB.guard(function () {
      var E = DS_CONST.E;
      var sock = DSB.get(fd);
      var a = DS_ADDR.read(addrp, addrlen);
      if (a.errno) return -a.errno;
      return sock.ops.connect(sock, a);
    });
  },

  __syscall_listen__suspending: true,
  __syscall_listen__deps: ['$DSB'],
  __syscall_listen: function (fd, backlog) {
    return DSB.guard(function () {
      var E = DS_CONST.E;
      var sock = DSB.get(fd);
      if (!DSB.isStream(sock)) return -E.EOPNOTSUPP;
      if (sock.state === 'listening') return 0;
      if (sock.state !== 'new' && sock.state !== 'bound') return -E.EINVAL;
      return DSB.openTcpServer(sock, backlog);
    });
  },

  __syscall_accept4__suspending: true,
  __syscall_accept4__deps: ['$DSB'],
  __syscall_accept4: function (fd, addrp, lenp, flags) {
    return DSB.guard(function () {
      var C = DS_CONST, E = C.E;
      var sock = DSB.get(fd);
      if (!DSB.isStream(sock)) return -E.EOPNOTSUPP;
      if (sock.state !== 'listening') return -E.EINVAL;
      return DSB.blockOn('accept', function () {
        if (sock.closed) DS_ERRNO.fail(E.EBADF);
        var a = sock.acceptQueue.shift();
        if (!a) {
          if (sock.soError) { var e = sock.soError; sock.soError = 0; DS_ERRNO.fail(e); }
          return DSB.WOULD_BLOCK;
        }
        var child = DSB.create(sock.family, C.SOCK_STREAM, C.IPPROTO_TCP, !!(flags & C.SOCK_NONBLOCK));
        child.ds = a.ds;
        child.opts.nodelay = sock.opts.nodelay;
        DSB.attach(child, a.info);
        child.state = 'connected';
        DS_ADDR.write(addrp, lenp, child.family, child.remoteAddr, child.remotePort);
        return child.stream.fd;
      }, !DSB.isNonblocking(sock, 0), sock.opts.rcvtimeo);
    });
  },

  __syscall_getsockname__deps: ['$DSB'],
  __syscall_getsockname: function (fd, addrp, lenp) {
    return DSB.guard(function () {
      var sock = DSB.get(fd);
      return DS_ADDR.write(addrp, lenp, sock.family, sock.localAddr || DS_ADDR.anyFor(sock.family), sock.localPort || 0);
    });
  },

  __syscall_getpeername__deps: ['$DSB'],
  __syscall_getpeername: function (fd, addrp, lenp) {
    return DSB.guard(function () {
      var sock = DSB.get(fd);
      var connected = DSB.isStream(sock) ? sock.state === 'connected' : !!sock.remoteAddr && sock.state !== 'new';
      if (!connected) return -DS_CONST.E.ENOTCONN;
      return DS_ADDR.write(addrp, lenp, sock.family, sock.remoteAddr, sock.remotePort);
    });
  },

  /** Shared by sendto/sendmsg/fd_write: implicit bind for unbound UDP, EAGAIN/wait on a full writer. */
  $DS_send__deps: ['$DSB'],
  $DS_send: function (sock, getBytes, dest, flags) {
    var go = function (get) {
      return DSB.blockOn('send', function () {
        return DSB.sendFrom(sock, get(), dest);
      }, !DSB.isNonblocking(sock, flags), sock.opts.sndtimeo);
    };
    if (!DSB.isStream(sock) && sock.state === 'new' && !sock.remoteAddr) {
      if (!dest) return -DS_CONST.E.EDESTADDRREQ;
      // Unbound UDP sendto: bind to the wildcard first (the kernel's autobind).
      // The bytes are copied before the wait: the caller's buffer is only valid now.
      var bytes = new Uint8Array(getBytes());
      return Promise.resolve(DSB.openUdpBound(sock, DS_ADDR.anyFor(sock.family), 0)).then(function (r) {
        if (r < 0) return r;
        return DSB.guard(function () { return go(function () { return bytes; }); });
      });
    }
    return go(getBytes);
  },

  __syscall_sendto__suspending: true,
  __syscall_sendto__deps: ['$DSB', '$DS_send'],
  __syscall_sendto: function (fd, buf, len, flags, addrp, addrlen) {
    return DSB.guard(function () {
      var sock = DSB.get(fd);
      var dest = null;
      if (addrp && !DSB.isStream(sock)) {
        var a = DS_ADDR.read(addrp, addrlen);
        if (a.errno) return -a.errno;
        if (a.family !== sock.family) return -DS_CONST.E.EAFNOSUPPORT;
        dest = a;
      }
      return DS_send(sock, function () { return HEAPU8.subarray(buf, buf + len); }, dest, flags);
    });
  },

  __syscall_sendmsg__suspending: true,
  __syscall_sendmsg__deps: ['$DSB', '$DS_send'],
  __syscall_sendmsg: function (fd, msg, flags) {
    return DSB.guard(function () {
      var sock = DSB.get(fd);
      var name = HEAPU32[(msg + {{{ C_STRUCTS.msghdr.msg_name }}}) >> 2];
      var namelen = HEAP32[(msg + {{{ C_STRUCTS.msghdr.msg_namelen }}}) >> 2];
      var iov = HEAPU32[(msg + {{{ C_STRUCTS.msghdr.msg_iov }}}) >> 2];
      var iovlen = HEAP32[(msg + {{{ C_STRUCTS.msghdr.msg_iovlen }}}) >> 2];
      var dest = null;
      if (name && !DSB.isStream(sock)) {
        var a = DS_ADDR.read(name, namelen);
        if (a.errno) return -a.errno;
        if (a.family !== sock.family) return -DS_CONST.E.EAFNOSUPPORT;
        dest = a;
      }
      return DS_send(sock, function () { return DS_IOV.iovGather(iov, iovlen); }, dest, flags);
    });
  },

  /** Shared by recvfrom/recvmsg/fd_read: answer from the queue or wait (blocking fds only). */
  $DS_recv__deps: ['$DSB'],
  $DS_recv: function (sock, len, flags, deliver) {
    return DSB.blockOn('recv', function () {
      var r = DSB.recvInto(sock, len, flags);
      if (r === DSB.WOULD_BLOCK) return r;
      return deliver(r);
    }, !DSB.isNonblocking(sock, flags), sock.opts.rcvtimeo);
  },

  __syscall_recvfrom__suspending: true,
  __syscall_recvfrom__deps: ['$DSB', '$DS_recv'],
  __syscall_recvfrom: function (fd, buf, len, flags, addrp, lenp) {
    return DSB.guard(function () {
      var sock = DSB.get(fd);
      return DS_recv(sock, len, flags, function (r) {
        HEAPU8.set(r.data, buf);
        if (addrp && r.addr) DS_ADDR.write(addrp, lenp, sock.family, r.addr, r.port);
        if ((flags & DS_CONST.MSG_TRUNC) && r.full !== undefined) return r.full;
        return r.data.length;
      });
    });
  },

  __syscall_recvmsg__suspending: true,
  __syscall_recvmsg__deps: ['$DSB', '$DS_recv'],
  __syscall_recvmsg: function (fd, msg, flags) {
    return DSB.guard(function () {
      var sock = DSB.get(fd);
      var iov = HEAPU32[(msg + {{{ C_STRUCTS.msghdr.msg_iov }}}) >> 2];
      var iovlen = HEAP32[(msg + {{{ C_STRUCTS.msghdr.msg_iovlen }}}) >> 2];
      var total = DS_IOV.iovTotal(iov, iovlen);
      return DS_recv(sock, total, flags, function (r) {
        var n = DS_IOV.iovScatter(iov, iovlen, r.data);
        var name = HEAPU32[(msg + {{{ C_STRUCTS.msghdr.msg_name }}}) >> 2];
        if (name && r.addr) {
          DS_ADDR.write(name, msg + {{{ C_STRUCTS.msghdr.msg_namelen }}}, sock.family, r.addr, r.port);
        } else if (name) {
          HEAP32[(msg + {{{ C_STRUCTS.msghdr.msg_namelen }}}) >> 2] = 0;
        }
        HEAP32[(msg + {{{ C_STRUCTS.msghdr.msg_controllen }}}) >> 2] = 0;
        var truncated = r.full !== undefined && r.full > r.data.length;
        HEAP32[(msg + {{{ C_STRUCTS.msghdr.msg_flags }}}) >> 2] = truncated ? DS_CONST.MSG_TRUNC : 0;
        if ((flags & DS_CONST.MSG_TRUNC) && truncated) return r.full;
        return n;
      });
    });
  },

  // Reached through syscall_shims.c (3.1.6 stubs __syscall_shutdown in C).
  __ds_shutdown__deps: ['$DSB'],
  __ds_shutdown: function (fd, how) {
    return DSB.guard(function () {
      var C = DS_CONST, E = C.E;
      var sock = DSB.get(fd);
      if (how !== C.SHUT_RD && how !== C.SHUT_WR && how !== C.SHUT_RDWR) return -E.EINVAL;
      if (DSB.isStream(sock) && sock.state !== 'connected') return -E.ENOTCONN;
      if (how !== C.SHUT_WR) sock.rxShut = true;
      if (how !== C.SHUT_RD && !sock.txShut) {
        sock.txShut = true;
        // TCP: close the writer once queued bytes are flushed (FIN). The lock
        // stays so close() can still release it later.
        if (DSB.isStream(sock) && sock.writer) DS_TXQ.afterDrain(sock, function () { return sock.writer.close(); });
      }
      DSB.wake();
      return 0;
    });
  },

  // Reached through syscall_shims.c (3.1.6 stubs __syscall_setsockopt in C).
  __ds_setsockopt__suspending: true,
  __ds_setsockopt__deps: ['$DSB'],
  __ds_setsockopt: function (fd, level, optname, optval, optlen) {
    return DSB.guard(function () {
      var C = DS_CONST, E = C.E;
      var sock = DSB.get(fd);
      var o = sock.opts;
      var intVal = function () {
        if (optlen < 1) DS_ERRNO.fail(E.EINVAL);
        return optlen >= 4 ? HEAP32[optval >> 2] : HEAPU8[optval];
      };
      // Options that Direct Sockets take at construction time only. Changing
      // one after the socket opened cannot be applied: EOPNOTSUPP, except for
      // TCP hints (noDelay, keepAlive), which are accepted with a warning since
      // programs set them right after connect() and Direct Sockets cannot.
      var beforeOpen = function (apply, same, hintOnly) {
        if (sock.ds && !same) {
          if (hintOnly) { DSB.warnOnce('optname ' + optname + ' after open is not applied by Direct Sockets'); return 0; }
          return -E.EOPNOTSUPP;
        }
        apply();
        return 0;
      };
      if (level === C.SOL_SOCKET) {
        switch (optname) {
          case C.SO_REUSEADDR: case C.SO_REUSEPORT: {
            var v = !!intVal();
            return beforeOpen(function () { o.reuseaddr = v; }, o.reuseaddr === v || DSB.isStream(sock));
          }
          case C.SO_KEEPALIVE: {
            var k = !!intVal();
            return beforeOpen(function () { o.keepalive = k; }, o.keepalive === k, true);
          }
          case C.SO_BROADCAST: o.broadcast = !!intVal(); return 0;
          case C.SO_RCVTIMEO: case C.SO_SNDTIMEO: case C.SO_RCVTIMEO_OLD: case C.SO_SNDTIMEO_OLD: {
            // Two layouts reach here: C compiled with 3.1.6's headers passes an
            // 8-byte timeval {long sec; long usec}; Rust's libc crate assumes a
            // 64-bit time_t and passes 16 bytes {i64 sec; i32 usec; pad}.
            var wide = optlen >= 16;
            if (optlen < 8) return -E.EINVAL;
            var sec = wide ? HEAPU32[optval >> 2] + HEAP32[(optval + 4) >> 2] * 4294967296 : HEAP32[optval >> 2];
            var usec = HEAP32[(optval + (wide ? 8 : 4)) >> 2];
            if (sec < 0 || usec < 0 || usec >= 1000000) return -E.EINVAL;
            var ms = Math.ceil(sec * 1000 + usec / 1000);
            if (optname === C.SO_RCVTIMEO || optname === C.SO_RCVTIMEO_OLD) o.rcvtimeo = ms; else o.sndtimeo = ms;
            return 0;
          }
          case C.SO_RCVBUF: {
            var rq = intVal();
            var rb = Math.max(256, rq * 2);    // Linux reports (and books) twice the value
            return beforeOpen(function () { o.rcvbuf = rb; o.rcvbufReq = Math.max(1, rq); o.rcvbufSet = true; }, !sock.ds);
          }
          case C.SO_SNDBUF: {
            // The send budget is ours (txInflight), so it applies at any time.
            var sq = intVal();
            o.sndbuf = Math.max(2048, sq * 2); o.sndbufReq = Math.max(1, sq); o.sndbufSet = true;
            return 0;
          }
          default: return -E.ENOPROTOOPT;
        }
      }
      if (level === C.IPPROTO_TCP) {
        if (!DSB.isStream(sock)) return -E.ENOPROTOOPT;
        if (optname === C.TCP_NODELAY) {
          var nd = !!intVal();
          return beforeOpen(function () { o.nodelay = nd; }, o.nodelay === nd, true);
        }
        return -E.ENOPROTOOPT;
      }
      if (level === C.IPPROTO_IP || level === C.IPPROTO_IPV6) {
        var v6 = level === C.IPPROTO_IPV6;
        switch (optname) {
          case (v6 ? C.IPV6_MULTICAST_HOPS : C.IP_MULTICAST_TTL): {
            var ttl = intVal();
            if (v6 && ttl === -1) ttl = 1;
            if (ttl < 0 || ttl > 255) return -E.EINVAL;
            return beforeOpen(function () { o.mcastTtl = ttl; o.mcastTtlSet = true; }, o.mcastTtl === ttl);
          }
          case (v6 ? C.IPV6_MULTICAST_LOOP : C.IP_MULTICAST_LOOP): {
            var lp = !!intVal();
            return beforeOpen(function () { o.mcastLoop = lp; o.mcastLoopSet = true; }, o.mcastLoop === lp);
          }
          case (v6 ? C.IPV6_MULTICAST_IF : C.IP_MULTICAST_IF):
            return 0; // the browser picks the interface; accepted as a hint
          case (v6 ? C.IPV6_JOIN_GROUP : C.IP_ADD_MEMBERSHIP):
          case (v6 ? C.IPV6_LEAVE_GROUP : C.IP_DROP_MEMBERSHIP): {
            var join = optname === (v6 ? C.IPV6_JOIN_GROUP : C.IP_ADD_MEMBERSHIP);
            var group;
            if (v6) {
              if (optlen < 20) return -E.EINVAL;   // struct ipv6_mreq { in6_addr; unsigned ifindex; }
              group = DS_ADDR.formatV6(HEAPU8, optval);
            } else {
              if (optlen < 8) return -E.EINVAL;    // struct ip_mreq { imr_multiaddr; imr_interface; }
              group = DS_ADDR.formatV4(HEAPU8, optval);
            }
            return DSB.membership(sock, join, group, null);
          }
          case C.IP_ADD_SOURCE_MEMBERSHIP: case C.IP_DROP_SOURCE_MEMBERSHIP: {
            if (v6) return -E.ENOPROTOOPT;
            // struct ip_mreq_source { imr_multiaddr; imr_interface; imr_sourceaddr; }
            if (optlen < 12) return -E.EINVAL;
            return DSB.membership(sock, optname === C.IP_ADD_SOURCE_MEMBERSHIP,
                                  DS_ADDR.formatV4(HEAPU8, optval), DS_ADDR.formatV4(HEAPU8, optval + 8));
          }
          case C.IPV6_V6ONLY: {
            if (!v6) return -E.ENOPROTOOPT;
            var only = !!intVal();
            return beforeOpen(function () { o.v6only = only; }, o.v6only === only);
          }
          case C.IP_TTL:
            if (v6) return -E.ENOPROTOOPT;
            return intVal() === 64 ? 0 : -E.EOPNOTSUPP;
          default: return -E.ENOPROTOOPT;
        }
      }
      return -E.ENOPROTOOPT;
    });
  },

  __syscall_getsockopt__deps: ['$DSB'],
  __syscall_getsockopt: function (fd, level, optname, optval, optlenp) {
    return DSB.guard(function () {
      var C = DS_CONST, E = C.E;
      var sock = DSB.get(fd);
      var o = sock.opts;
      var put = function (v) {
        if (HEAP32[optlenp >> 2] < 4) return -E.EINVAL;
        HEAP32[optval >> 2] = v | 0;
        HEAP32[optlenp >> 2] = 4;
        return 0;
      };
      if (level === C.SOL_SOCKET) {
        switch (optname) {
          case C.SO_ERROR: { var e = sock.soError; sock.soError = 0; return put(e); }
          case C.SO_TYPE: return put(sock.type);
          case C.SO_REUSEADDR: case C.SO_REUSEPORT: return put(o.reuseaddr ? 1 : 0);
          case C.SO_KEEPALIVE: return put(o.keepalive ? 1 : 0);
          case C.SO_BROADCAST: return put(o.broadcast ? 1 : 0);
          case C.SO_RCVBUF: return put(o.rcvbuf);
          case C.SO_SNDBUF: return put(o.sndbuf);
          case C.SO_RCVTIMEO: case C.SO_SNDTIMEO: case C.SO_RCVTIMEO_OLD: case C.SO_SNDTIMEO_OLD: {
            var room = HEAP32[optlenp >> 2];
            if (room < 8) return -E.EINVAL;
            var t = (optname === C.SO_RCVTIMEO || optname === C.SO_RCVTIMEO_OLD) ? o.rcvtimeo : o.sndtimeo;
            var secs = Math.floor(t / 1000), us = (t % 1000) * 1000;
            if (room >= 16) {   // Rust libc layout (see setsockopt)
              HEAP32[optval >> 2] = secs; HEAP32[(optval + 4) >> 2] = 0;
              HEAP32[(optval + 8) >> 2] = us; HEAP32[(optval + 12) >> 2] = 0;
              HEAP32[optlenp >> 2] = 16;
            } else {            // 3.1.6 C layout
              HEAP32[optval >> 2] = secs; HEAP32[(optval + 4) >> 2] = us;
              HEAP32[optlenp >> 2] = 8;
            }
            return 0;
          }
          default: return -E.ENOPROTOOPT;
        }
      }
      if (level === C.IPPROTO_TCP && optname === C.TCP_NODELAY && DSB.isStream(sock)) return put(o.nodelay ? 1 : 0);
      if (level === C.IPPROTO_IP) {
        if (optname === C.IP_MULTICAST_TTL) return put(o.mcastTtl);
        if (optname === C.IP_MULTICAST_LOOP) return put(o.mcastLoop ? 1 : 0);
        if (optname === C.IP_TTL) return put(64);
      }
      if (level === C.IPPROTO_IPV6) {
        if (optname === C.IPV6_MULTICAST_HOPS) return put(o.mcastTtl);
        if (optname === C.IPV6_MULTICAST_LOOP) return put(o.mcastLoop ? 1 : 0);
        if (optname === C.IPV6_V6ONLY) return put(o.v6only ? 1 : 0);
      }
      return -E.ENOPROTOOPT;
    });
  },

  __syscall_poll__suspending: true,
  __syscall_poll__deps: ['$DSB'],
  __syscall_poll: function (fds, nfds, timeout) {
    return DSB.guard(function () { return DS_POLL.poll(fds, nfds, timeout); });
  },

  __syscall__newselect__suspending: true,
  __syscall__newselect__deps: ['$DSB'],
  __syscall__newselect: function (nfds, readfds, writefds, exceptfds, timeout) {
    return DSB.guard(function () {
      return DS_POLL.select(nfds, readfds, writefds, exceptfds, DS_POLL.readTimeout(timeout, 1000));
    });
  },

  // Reached through syscall_shims.c (3.1.6 stubs __syscall_pselect6 in C).
  __ds_pselect6__suspending: true,
  __ds_pselect6__deps: ['$DSB'],
  __ds_pselect6: function (nfds, readfds, writefds, exceptfds, timeout) {
    return DSB.guard(function () {
      return DS_POLL.select(nfds, readfds, writefds, exceptfds, DS_POLL.readTimeout(timeout, 1000000));
    });
  },

  __syscall_ioctl__deps: ['$DSB', '$DS_stock_ioctl'],
  __syscall_ioctl: function (fd, op, varargs) {
    var sock = DSB.lookup(fd);
    if (!sock) return DS_stock_ioctl(fd, op, varargs);
    return DSB.guard(function () {
      var argp = HEAP32[varargs >> 2];
      return DSB.ioctl(sock, op, argp);
    });
  },

  __syscall_fcntl64__deps: ['$DSB', '$DS_stock_fcntl64'],
  __syscall_fcntl64: function (fd, cmd, varargs) {
    var sock = DSB.lookup(fd);
    if (!sock) return DS_stock_fcntl64(fd, cmd, varargs);
    if (cmd === DS_CONST.F_GETFL) return sock.stream.flags;
    if (cmd === DS_CONST.F_SETFL) {
      var arg = HEAP32[varargs >> 2];
      // Only O_NONBLOCK is settable on a socket; unlike the stock fcntl this
      // can clear it again.
      sock.stream.flags = (sock.stream.flags & ~DS_CONST.O_NONBLOCK) | (arg & DS_CONST.O_NONBLOCK);
      return 0;
    }
    return DS_stock_fcntl64(fd, cmd, varargs);
  },

  // read()/write() on a socket fd: same semantics as recv/send with flags 0.
  fd_read__suspending: true,
  fd_read__deps: ['$DSB', '$DS_recv', '$DS_stock_fd_read'],
  fd_read: function (fd, iov, iovcnt, pnum) {
    var sock = DSB.lookup(fd);
    if (!sock) return DS_stock_fd_read(fd, iov, iovcnt, pnum);
    var r = DSB.guard(function () {
      return DS_recv(sock, DS_IOV.iovTotal(iov, iovcnt), 0, function (m) {
        return DS_IOV.iovScatter(iov, iovcnt, m.data);
      });
    });
    var finish = function (n) {
      if (n < 0) return -n;                 // WASI returns the errno itself
      HEAP32[pnum >> 2] = n;
      return 0;
    };
    return (r && typeof r.then === 'function') ? r.then(finish) : finish(r);
  },

  fd_write__suspending: true,
  fd_write__deps: ['$DSB', '$DS_send', '$DS_stock_fd_write'],
  fd_write: function (fd, iov, iovcnt, pnum) {
    var sock = DSB.lookup(fd);
    if (!sock) return DS_stock_fd_write(fd, iov, iovcnt, pnum);
    var r = DSB.guard(function () {
      return DS_send(sock, function () { return DS_IOV.iovGather(iov, iovcnt); }, null, 0);
    });
    var finish = function (n) {
      if (n < 0) return -n;
      HEAP32[pnum >> 2] = n;
      return 0;
    };
    return (r && typeof r.then === 'function') ? r.then(finish) : finish(r);
  },
};

// Each entry point that may return a Promise carries `name__suspending: true`
// (Emscripten knows no such key, so it is taken out here). The names become
// DSB.suspendingImports, the list jspi_pre.js wraps with WebAssembly.Suspending.
(function () {
  var names = [];
  for (var key in DS_LIBRARY) {
    var m = /^(.*)__suspending$/.exec(key);
    if (!m) continue;
    if (DS_LIBRARY[key] === true) {
      if (typeof DS_LIBRARY[m[1]] !== 'function') throw new Error('libdirectsockets.js: ' + key + ' marks no entry point');
      names.push(m[1]);
    }
    delete DS_LIBRARY[key];
  }
  DS_LIBRARY.$DSB.suspendingImports = names;
})();
mergeInto(LibraryManager.library, DS_LIBRARY);
