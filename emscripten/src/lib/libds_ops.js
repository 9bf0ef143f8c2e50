/**
 * libds_ops.js: per-kind socket operations of the bridge, as Emscripten's
 * libsockfs keeps its sock_ops. A socket gets `sock.ops` when it is created
 * (DS_OPS.udp for SOCK_DGRAM, DS_OPS.tcp for SOCK_STREAM) and DS_OPS['tcp-listen']
 * once listen() succeeded. The entry points and DSB's generic paths
 * (recvInto, sendFrom, pollMask, pump, FIONREAD) call these instead of
 * branching on the socket type.
 *
 * Each table has:
 *   queue(sock, value)       one value read from the Direct Sockets readable -> sock.rx
 *   recv(sock, len, flags, runs)  WOULD_BLOCK or {data, full?, addr, port, eof?} (sock open);
 *                            with `runs` (UDP_GRO) a run of datagrams: {parts, seg, ...}
 *   sendCheck(sock, bytes, dest)  WOULD_BLOCK, or throws an errno, before a send
 *   chunk(sock, copy, dest)  the value handed to the writer
 *   sendErrno                errno name for a failed write
 *   poll(sock)               poll bits besides POLLNVAL / SO_ERROR's POLLERR
 *   pending(sock)            FIONREAD
 *   bind(sock, a), connect(sock, a)  a = DS_ADDR.read() result; -errno, 0 or a Promise
 */
mergeInto(LibraryManager.library, {
  $DS_OPS__deps: ['$DSB', '$DS_CONST', '$DS_ERRNO', '$DS_ADDR'],
  $DS_OPS: {
    /**
     * UDP_GRO (docs/BRIDGE.md "UDP_GRO: runs in one recvmsg"): from sock.rx[idx] on,
     * the datagrams Linux's GRO would hand over as one message: from one peer, in
     * order, all the size of the first but the last, which may be shorter (and ends
     * the run), at most UDP_MAX_SEGMENTS of them and `len` bytes. Under Node an
     * entry is already such a run (the kernel's); in Chromium each entry is one
     * datagram and consecutive ones are joined here. Returns {parts, seg, count,
     * total, addr, port}: `parts` are views to write one after the other.
     */
    takeRun: function (sock, idx, len) {
      var rx = sock.rx, d = rx[idx], seg = Math.min(d.seg, d.data.length), max = DS_CONST.UDP_MAX_SEGMENTS;
      var parts = [], total = 0, count = 0, ended = false, i = idx;
      while (i < rx.length && !ended) {
        var e = rx[i], n = e.data.length, taken = 0;
        if (i > idx && (n === 0 || e.port !== d.port || e.addr !== d.addr)) break;
        while (taken < n) {   // the entry's datagrams: e.seg bytes each, the last maybe fewer
          var sz = Math.min(e.seg, n - taken);
          if (count === max || sz > seg || total + sz > len) { ended = true; break; }
          total += sz; count++; taken += sz;
          if (sz < seg) { ended = true; break; }   // a shorter datagram ends a run
        }
        if (taken > 0) parts.push(taken === n ? e.data : e.data.subarray(0, taken));
        if (taken < n) { e.data = e.data.subarray(taken); break; }
        i++;
      }
      rx.splice(idx, i - idx);   // the entries taken whole
      DSB.consumed(sock, total);
      return { parts: parts, seg: seg, count: count, total: total, addr: d.addr, port: d.port };
    },
    udp: {
      sendErrno: 'ENETUNREACH',
      // An entry of sock.rx is one datagram, or under Node a run of them from one
      // peer as the kernel's GRO kept it (v.segmentSize: all of that size but the
      // last; node/udp_gro.js). `seg` is that size (the data's length for one datagram);
      // what is left of a run after some of it was taken may be only its shorter last.
      queue: function (sock, v) {
        var data = DSB.toBytes(v.data);
        var seg = v.segmentSize > 0 && v.segmentSize < data.length ? v.segmentSize : data.length;
        sock.rx.push({ data: data, addr: v.remoteAddress, port: v.remotePort, seg: seg });
        sock.rxBytes += data.length;
        DSB.stats.udp.rx += seg > 0 ? Math.ceil(data.length / seg) : 1; DSB.stats.udp.rxBytes += data.length;
      },
      recv: function (sock, len, flags, runs) {
        var peek = !!(flags & DS_CONST.MSG_PEEK);
        if (sock.state === 'new' || sock.state === 'opening') return DSB.WOULD_BLOCK;
        var idx = DSB.nextDatagramIndex(sock);
        if (idx < 0) {
          if (sock.rxError) { var e2 = sock.rxError; sock.rxError = 0; DS_ERRNO.fail(e2); }
          if (sock.rxShut || sock.rxEof) return { data: new Uint8Array(0), eof: true };
          return DSB.WOULD_BLOCK;
        }
        var d = sock.rx[idx], first = Math.min(d.seg, d.data.length);
        if (runs && !peek && first > 0 && first <= len) return DS_OPS.takeRun(sock, idx, len);
        var one = first < d.data.length ? d.data.subarray(0, first) : d.data;
        if (!peek) {
          if (one === d.data) sock.rx.splice(idx, 1); else d.data = d.data.subarray(first);
          DSB.consumed(sock, one.length);
        }
        return {
          data: one.length > len ? one.subarray(0, len) : one,
          full: one.length,
          addr: d.addr, port: d.port,
        };
      },
      sendCheck: function (sock, bytes, dest) {
        var E = DS_CONST.E;
        if (sock.state === 'opening') return DSB.WOULD_BLOCK;
        if (sock.txShut) DS_ERRNO.fail(E.EPIPE);
        if (!dest && !sock.remoteAddr) DS_ERRNO.fail(E.EDESTADDRREQ);
        if (bytes.length > DS_CONST.MAX_UDP_PAYLOAD) DS_ERRNO.fail(E.EMSGSIZE);
        if (sock.txError) { var te = sock.txError; sock.txError = 0; if (sock.soError === te) sock.soError = 0; DS_ERRNO.fail(te); }
      },
      chunk: function (sock, copy, dest) {
        if (sock.info && sock.info.remoteAddress) return { data: copy };   // connected-mode UDPSocket
        var to = dest || { addr: sock.remoteAddr, port: sock.remotePort };
        // The text of the last destination is kept: a server answers the same few peers, and an
        // address's text never changes (Emscripten's DNS only adds names, for addresses it makes).
        if (to.addr !== sock.chunkAddr) { sock.chunkAddr = to.addr; sock.chunkText = DSB.peerText(sock, to.addr); }
        return { data: copy, remoteAddress: sock.chunkText, remotePort: to.port };
      },
      poll: function (sock) {
        var C = DS_CONST, m = 0;
        if (sock.state === 'opening') return m;
        if (sock.state !== 'new' && DSB.nextDatagramIndex(sock) >= 0) m |= C.POLLIN | C.POLLRDNORM;
        if (sock.rxError) m |= C.POLLERR;
        if (DSB.writable(sock)) m |= C.POLLOUT | C.POLLWRNORM;
        return m;
      },
      pending: function (sock) {
        var i = DSB.nextDatagramIndex(sock);
        return i >= 0 ? Math.min(sock.rx[i].seg, sock.rx[i].data.length) : 0;
      },
      bind: function (sock, a) {
        return DSB.openUdpBound(sock, a.addr, a.port);
      },
      connect: function (sock, a) {
        var E = DS_CONST.E;
        if (a.family === DS_CONST.AF_UNSPEC) {
          // Dissolve the association of a bound socket.
          if (sock.info && sock.info.remoteAddress) return -E.EOPNOTSUPP;
          sock.remoteAddr = null; sock.remotePort = 0;
          return 0;
        }
        if (a.family !== sock.family) return -E.EAFNOSUPPORT;
        if (sock.state === 'new') return DSB.openUdpConnected(sock, a.addr, a.port);
        if (sock.state === 'opening') return -E.EALREADY;
        if (sock.info && sock.info.remoteAddress) return -E.EISCONN;
        // Bound-mode UDPSocket: keep it, remember the default destination and
        // accept datagrams from that peer only (as the kernel does).
        sock.remoteAddr = a.addr; sock.remotePort = a.port;
        return 0;
      },
    },

    tcp: {
      sendErrno: 'EPIPE',
      queue: function (sock, v) {
        var chunk = DSB.toBytes(v);
        if (chunk.length) { sock.rx.push(chunk); sock.rxBytes += chunk.length; }
      },
      recv: function (sock, len, flags) {
        var E = DS_CONST.E;
        var peek = !!(flags & DS_CONST.MSG_PEEK);
        if (sock.state !== 'connected') {
          if (sock.state === 'connecting') return DSB.WOULD_BLOCK;
          DS_ERRNO.fail(E.ENOTCONN);
        }
        if (sock.rxBytes === 0) {
          if (sock.rxError) { var er = sock.rxError; sock.rxError = 0; DS_ERRNO.fail(er); }
          if (sock.rxEof || sock.rxShut) return { data: new Uint8Array(0), eof: true };
          return DSB.WOULD_BLOCK;
        }
        var want = Math.min(len, sock.rxBytes);
        var waitAll = (flags & DS_CONST.MSG_WAITALL) && !peek;
        if (waitAll && want < len && !sock.rxEof && !sock.rxShut) return DSB.WOULD_BLOCK;
        var out = new Uint8Array(want);
        var got = 0, i = 0;
        while (got < want) {
          var c = sock.rx[i];
          var n = Math.min(c.length, want - got);
          out.set(c.subarray(0, n), got);
          got += n;
          if (!peek) {
            if (n === c.length) sock.rx.shift(); else sock.rx[0] = c.subarray(n);
          } else {
            i++;
          }
        }
        if (!peek) DSB.consumed(sock, got);
        return { data: out, addr: sock.remoteAddr, port: sock.remotePort };
      },
      sendCheck: function (sock) {
        var E = DS_CONST.E;
        if (sock.state === 'connecting') return DSB.WOULD_BLOCK;
        if (sock.state !== 'connected') DS_ERRNO.fail(E.ENOTCONN);
        if (sock.txError) DS_ERRNO.fail(sock.txError);
        if (sock.txShut) DS_ERRNO.fail(E.EPIPE);
      },
      chunk: function (sock, copy) { return copy; },
      poll: function (sock) {
        var C = DS_CONST, m = 0;
        switch (sock.state) {
          case 'connected':
            if (sock.rxBytes > 0 || sock.rxEof || sock.rxShut || sock.rxError) m |= C.POLLIN | C.POLLRDNORM;
            if (sock.rxError) m |= C.POLLERR;
            if (!sock.txShut && !sock.txError && DSB.writable(sock)) m |= C.POLLOUT | C.POLLWRNORM;
            if ((sock.rxEof || sock.rxError) && (sock.txShut || sock.txError)) m |= C.POLLHUP;
            break;
          case 'failed':
            m |= C.POLLOUT | C.POLLERR | C.POLLHUP;
            break;
          case 'connecting': case 'opening':
            break;
          default: // new / bound, never connected
            m |= C.POLLOUT | C.POLLHUP;
        }
        return m;
      },
      pending: function (sock) { return sock.rxBytes; },
      bind: function (sock, a) {
        // Direct Sockets bind when listen() creates the TCPServerSocket.
        sock.localAddr = a.addr; sock.localPort = a.port;
        sock.state = 'bound';
        return 0;
      },
      connect: function (sock, a) {
        var E = DS_CONST.E;
        if (a.family !== sock.family) return -E.EAFNOSUPPORT;
        if (sock.state === 'connected') return -E.EISCONN;
        if (sock.state === 'connecting') return -E.EALREADY;
        if (sock.state === 'failed') {
          // A second connect after a failed non-blocking one reports the error.
          var err = sock.soError || E.ECONNREFUSED;
          sock.soError = 0; sock.state = 'new';
          return -err;
        }
        return DSB.openTcp(sock, a.addr, a.port, DSB.isNonblocking(sock, 0));
      },
    },

    'tcp-listen': {
      sendErrno: 'EPIPE',
      queue: function () {},
      recv: function () { DS_ERRNO.fail(DS_CONST.E.EINVAL); },
      sendCheck: function () { DS_ERRNO.fail(DS_CONST.E.ENOTCONN); },
      chunk: function (sock, copy) { return copy; },
      poll: function (sock) {
        return sock.acceptQueue.length ? DS_CONST.POLLIN | DS_CONST.POLLRDNORM : 0;
      },
      pending: function (sock) { return sock.rxBytes; },
      bind: function () { return -DS_CONST.E.EINVAL; },
      connect: function (sock, a) {
        if (a.family !== sock.family) return -DS_CONST.E.EAFNOSUPPORT;
        return -DS_CONST.E.EINVAL;
      },
    },
  },
});
