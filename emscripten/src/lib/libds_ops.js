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
 *   recv(sock, len, flags)   WOULD_BLOCK or {data, full?, addr, port, eof?} (sock open)
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
    udp: {
      sendErrno: 'ENETUNREACH',
      queue: function (sock, v) {
        var data = DSB.toBytes(v.data);
        sock.rx.push({ data: data, addr: v.remoteAddress, port: v.remotePort });
        sock.rxBytes += data.length;
        DSB.stats.udp.rx++; DSB.stats.udp.rxBytes += data.length;
      },
      recv: function (sock, len, flags) {
        var peek = !!(flags & DS_CONST.MSG_PEEK);
        if (sock.state === 'new' || sock.state === 'opening') return DSB.WOULD_BLOCK;
        var idx = DSB.nextDatagramIndex(sock);
        if (idx < 0) {
          if (sock.rxError) { var e2 = sock.rxError; sock.rxError = 0; DS_ERRNO.fail(e2); }
          if (sock.rxShut || sock.rxEof) return { data: new Uint8Array(0), eof: true };
          return DSB.WOULD_BLOCK;
        }
        var d = sock.rx[idx];
        if (!peek) {
          sock.rx.splice(idx, 1);
          DSB.consumed(sock, d.data.length);
        }
        return {
          data: d.data.length > len ? d.data.subarray(0, len) : d.data,
          full: d.data.length,
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
        return i >= 0 ? sock.rx[i].data.length : 0;
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
