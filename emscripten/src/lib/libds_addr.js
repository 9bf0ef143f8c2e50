/**
 * libds_addr.js: the bridge's constants ($DS_CONST: errno values through
 * cDefine, the rest musl's values for wasm32) and its address codec
 * ($DS_ADDR: sockaddr_in / sockaddr_in6 <-> strings).
 */
mergeInto(LibraryManager.library, {
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
    // SOL_UDP is IPPROTO_UDP; a run of datagrams in one sendmsg (Linux's GSO, BRIDGE.md).
    UDP_SEGMENT: 103, UDP_GRO: 104, UDP_MAX_SEGMENTS: 64,
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
    /**
     * Converts an address string to the byte form for `family` (v4 -> v4-mapped
     * v6). Memoised (every received datagram's source goes through here, and a
     * server sees few distinct peers): at most BYTES_CACHE_MAX entries, then the
     * cache starts over. Callers must not modify the returned array.
     */
    BYTES_CACHE_MAX: 256,
    bytesCache: null,
    bytesFor: function (family, addr) {
      // One map per family, so the lookup needs no key string built per datagram.
      var caches = DS_ADDR.bytesCache || (DS_ADDR.bytesCache = {});
      var c = caches[family] || (caches[family] = new Map());
      var hit = c.get(addr);
      if (hit) return hit;
      if (c.size >= DS_ADDR.BYTES_CACHE_MAX) c.clear();
      var b = DS_ADDR.bytesForUncached(family, addr);
      c.set(addr, b);
      return b;
    },
    bytesForUncached: function (family, addr) {
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
});
