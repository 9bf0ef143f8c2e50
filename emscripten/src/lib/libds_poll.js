/**
 * libds_poll.js: poll()/select() over the bridge's sockets and Emscripten's
 * other FS streams ($DS_POLL), and the iovec helpers of readv/writev-style
 * calls ($DS_IOV). Waiting uses DSB's one wakeup mechanism (DSB.waitEvent).
 */
mergeInto(LibraryManager.library, {
  $DS_POLL__deps: ['$DSB', '$FS', '$DS_CONST', '$DS_ERRNO'],
  $DS_POLL: {
    // --- poll / select ---------------------------------------------------------
    /** revents for one fd (ours or another FS stream). */
    reventsFor: function (fd, events) {
      var C = DS_CONST;
      var stream = FS.getStream(fd);
      if (!stream) return C.POLLNVAL;
      var mask;
      if (stream.node && stream.node.sock) mask = DSB.pollMask(stream.node.sock);
      else if (stream.stream_ops && stream.stream_ops.poll) mask = stream.stream_ops.poll(stream);
      else mask = C.POLLIN | C.POLLOUT;
      return mask & (events | C.POLLERR | C.POLLHUP | C.POLLNVAL);
    },
    pollOnce: function (fds, nfds) {
      var ready = 0;
      for (var i = 0; i < nfds; i++) {
        var p = fds + 8 * i;                 // struct pollfd { int fd; short events; short revents; }
        var fd = HEAP32[p >> 2];
        var events = HEAP16[(p + 4) >> 1];
        var rev = fd < 0 ? 0 : DS_POLL.reventsFor(fd, events);
        HEAP16[(p + 6) >> 1] = rev;
        if (rev) ready++;
      }
      return ready;
    },
    poll: function (fds, nfds, timeout) {
      var n = DS_POLL.pollOnce(fds, nfds);
      if (n > 0 || timeout === 0 || DSB.takeInterrupt()) { DSB.count('immediate', 'poll'); return n; }
      DSB.count('suspended', 'poll');
      var deadline = timeout > 0 ? Date.now() + timeout : -1;
      var toSend = false;   // a finished write wakes this wait only if it asked for POLLOUT
      for (var i = 0; i < nfds; i++) if (HEAP16[(fds + 8 * i + 4) >> 1] & DS_CONST.POLLOUT) toSend = true;
      return (async function () {
        var deferUntil = 0;   // while deferring a read for room to send (DS_POLL.deferRead)
        for (;;) {
          var now = Date.now();
          var left = deadline < 0 ? -1 : deadline - now;
          if (deadline >= 0 && left <= 0) return DS_POLL.pollOnce(fds, nfds);
          var deferring = deferUntil > now;
          if (deferring) left = left < 0 ? deferUntil - now : Math.min(left, deferUntil - now);
          await DSB.waitEvent(left, toSend, deferring);
          // Let the event loop deliver what else has arrived (each datagram
          // is its own task in Node and Chromium), so one wakeup drains a batch.
          await DSB.macrotask();
          var k = DS_POLL.pollOnce(fds, nfds);
          if (DSB.takeInterrupt()) return k;
          if (k > 0) {
            if (toSend && DS_POLL.deferRead(fds, nfds)) {
              if (!deferUntil) { deferUntil = Date.now() + DSB.RX_DEFER_MS; DSB.count('deferred', 'poll'); }
              if (deferUntil > Date.now()) continue;
            }
            return k;
          }
          if (deadline < 0 || deadline > Date.now()) DSB.count('stale', 'poll');
        }
      })();
    },
    /**
     * After a wake-up, whether a poll that asked for POLLOUT may hold back what it found, a
     * datagram to read, for room to send (docs/BRIDGE.md "Reads held back for room to send"):
     * every fd ready only to read is a UDP socket of ours with more than half its send budget
     * in flight and fewer than RX_DEFER_MAX datagrams queued. What such a socket's program
     * sends now waits behind that half of the budget anyway, and returning at the POLLOUT edge
     * instead lets it read the datagrams of several wake-ups and refill the budget in one turn.
     */
    deferRead: function (fds, nfds) {
      var C = DS_CONST, any = false;
      for (var i = 0; i < nfds; i++) {
        var p = fds + 8 * i;
        var rev = HEAP16[(p + 6) >> 1];
        if (!rev) continue;
        if (rev & ~(C.POLLIN | C.POLLRDNORM)) return false;
        var stream = FS.getStream(HEAP32[p >> 2]);
        var sock = stream && stream.node && stream.node.sock;
        if (!sock || DSB.isStream(sock) || DSB.writable(sock) || sock.rx.length >= DSB.RX_DEFER_MAX) return false;
        any = true;
      }
      return any;
    },
    /** select()/pselect6() over fd_set bitmaps (readfds/writefds/exceptfds). */
    selectOnce: function (nfds, sets, inSets) {
      var C = DS_CONST, total = 0;
      var out = [[], [], []];
      for (var fd = 0; fd < nfds; fd++) {
        var word = fd >> 5, bit = 1 << (fd & 31);
        var want = 0;
        if (inSets[0] && (inSets[0][word] & bit)) want |= C.POLLIN;
        if (inSets[1] && (inSets[1][word] & bit)) want |= C.POLLOUT;
        if (inSets[2] && (inSets[2][word] & bit)) want |= C.POLLPRI;
        if (!want) continue;
        var rev = DS_POLL.reventsFor(fd, want);
        if (rev & C.POLLNVAL) DS_ERRNO.fail(C.E.EBADF);
        if ((want & C.POLLIN) && (rev & (C.POLLIN | C.POLLHUP | C.POLLERR))) { out[0][word] = (out[0][word] | 0) | bit; total++; }
        if ((want & C.POLLOUT) && (rev & (C.POLLOUT | C.POLLERR))) { out[1][word] = (out[1][word] | 0) | bit; total++; }
        if ((want & C.POLLPRI) && (rev & C.POLLPRI)) { out[2][word] = (out[2][word] | 0) | bit; total++; }
      }
      if (total > 0) {
        var words = (nfds + 31) >> 5;
        for (var s = 0; s < 3; s++) {
          if (!sets[s]) continue;
          for (var w = 0; w < words; w++) HEAP32[(sets[s] >> 2) + w] = out[s][w] | 0;
        }
      }
      return total;
    },
    select: function (nfds, readfds, writefds, exceptfds, timeoutMs) {
      var sets = [readfds, writefds, exceptfds];
      var words = (nfds + 31) >> 5;
      var inSets = sets.map(function (p) {
        if (!p) return null;
        var a = [];
        for (var w = 0; w < words; w++) a.push(HEAP32[(p >> 2) + w]);
        return a;
      });
      var clear = function () {
        for (var s = 0; s < 3; s++) if (sets[s]) for (var w = 0; w < words; w++) HEAP32[(sets[s] >> 2) + w] = 0;
      };
      var n = DS_POLL.selectOnce(nfds, sets, inSets);
      if (n > 0) { DSB.count('immediate', 'select'); return n; }
      if (timeoutMs === 0) { DSB.count('immediate', 'select'); clear(); return 0; }
      DSB.count('suspended', 'select');
      var deadline = timeoutMs > 0 ? Date.now() + timeoutMs : -1;
      return (async function () {
        for (;;) {
          var left = deadline < 0 ? -1 : deadline - Date.now();
          if (deadline >= 0 && left <= 0) { clear(); return 0; }
          await DSB.waitEvent(left, !!inSets[1]);
          await DSB.macrotask();   // batch, as in poll()
          var k = DS_POLL.selectOnce(nfds, sets, inSets);
          if (k > 0) return k;
          if (deadline < 0 || deadline > Date.now()) DSB.count('stale', 'select');
        }
      })();
    },
    /**
     * Timeout of select()/pselect() -> ms, -1 for NULL. Emscripten 3.1.6's
     * time_t is a 32-bit long: musl's select() hands __syscall__newselect a
     * `long[2] {sec, usec}` and syscall_shims.c's pselect() the caller's
     * struct timespec {long sec; long nsec}, both two i32 words.
     */
    readTimeout: function (ptr, subUnitsPerMs) {
      if (!ptr) return -1;
      var sec = HEAP32[ptr >> 2];
      var sub = HEAP32[(ptr + 4) >> 2];
      return Math.max(0, Math.ceil(sec * 1000 + sub / subUnitsPerMs));
    },
  },

  $DS_IOV: {
    // --- iovec helpers -----------------------------------------------------
    iovTotal: function (iov, iovcnt) {
      var t = 0;
      for (var i = 0; i < iovcnt; i++) t += HEAPU32[(iov + 8 * i + 4) >> 2];
      return t;
    },
    iovGather: function (iov, iovcnt) {
      if (iovcnt === 1) {
        var b = HEAPU32[iov >> 2], l = HEAPU32[(iov + 4) >> 2];
        return HEAPU8.subarray(b, b + l);
      }
      var out = new Uint8Array(DS_IOV.iovTotal(iov, iovcnt)), off = 0;
      for (var i = 0; i < iovcnt; i++) {
        var base = HEAPU32[(iov + 8 * i) >> 2], len = HEAPU32[(iov + 8 * i + 4) >> 2];
        out.set(HEAPU8.subarray(base, base + len), off);
        off += len;
      }
      return out;
    },
    iovScatter: function (iov, iovcnt, data) {
      var off = 0;
      for (var i = 0; i < iovcnt && off < data.length; i++) {
        var base = HEAPU32[(iov + 8 * i) >> 2], len = HEAPU32[(iov + 8 * i + 4) >> 2];
        var n = Math.min(len, data.length - off);
        HEAPU8.set(data.subarray(off, off + n), base);
        off += n;
      }
      return off;
    },
  },
});
