/**
 * libds_txq.js: the TCP send queue of the bridge, which works around
 * Chromium's silent loss of TCPSocket write() chunks (docs/BRIDGE.md,
 * "Chromium TCP write loss").
 *
 * The detection (a chunk larger than Chromium's 64 KiB data pipe that
 * resolves synchronously was dropped) and the re-send live in
 * api/tcp_write_guard.js, shared with the JavaScript API: build_support.rs
 * turns it into the library item $TCP_WRITE_GUARD. Here: sends are copied into
 * a per-socket queue (counted in txInflight, the send budget); a pump hands
 * the writer coalesced chunks of more than PIPE bytes where the program queued
 * enough, and a small tail otherwise (which cannot be checked).
 *
 * Enabled for the browser's own TCPSocket only (TCP_WRITE_GUARD.needed); the
 * Node implementation (node/direct-sockets.js) has no such pipe.
 */
mergeInto(LibraryManager.library, {
  $DS_TXQ__deps: ['$DSB', '$DS_ERRNO', '$TCP_WRITE_GUARD'],
  $DS_TXQ: {
    /** The send budget of a guarded socket is at least this, so a blocked program leaves > PIPE queued. */
    MIN_BUDGET: 4 * 65536,
    /** Does this socket's TCPSocket need the queue? */
    needed: function () {
      return TCP_WRITE_GUARD.needed(typeof globalThis !== 'undefined' ? globalThis.TCPSocket : undefined);
    },
    /** Queues copied bytes (already counted in txInflight) and starts the pump. */
    push: function (sock, bytes) {
      sock.txq.push(bytes);
      sock.txqBytes += bytes.length;
      if (!sock.txPump) sock.txPump = DS_TXQ.pump(sock);
    },
    /** Runs fn once every queued byte went to the writer (at once when nothing is queued). */
    afterDrain: function (sock, fn) {
      var run = function () { try { var r = fn(); if (r && r.catch) r.catch(function () {}); } catch (e) {} };
      if (sock.txPump) sock.txPump.then(run, run); else run();
    },
    /** Takes up to `max` queued bytes as one chunk. */
    take: function (sock, max) {
      var n = Math.min(sock.txqBytes, max);
      var first = sock.txq[0];
      var out;
      if (first.length === n) { sock.txq.shift(); out = first; }
      else {
        out = new Uint8Array(n);
        var off = 0;
        while (off < n) {
          var c = sock.txq[0];
          var k = Math.min(c.length, n - off);
          out.set(k === c.length ? c : c.subarray(0, k), off);
          off += k;
          if (k === c.length) sock.txq.shift(); else sock.txq[0] = c.subarray(k);
        }
      }
      sock.txqBytes -= n;
      return out;
    },
    /** Drains sock.txq into the writer, one chunk at a time. */
    pump: async function (sock) {
      var G = TCP_WRITE_GUARD;
      try {
        var keep = G.PIPE + 1;
        while (sock.txqBytes > 0) {
          // Every chunk should be checkable (> PIPE). So while the program may
          // still send, the pump leaves at least PIPE + 1 bytes queued (they go
          // out with its next send), and a queue of at most 2 * (PIPE + 1) bytes
          // waits one task for more before it goes out whole. Only a program
          // that was idle for a task and then sent at most PIPE bytes makes an
          // unchecked chunk (docs/BRIDGE.md, "Tails").
          var st = sock.txState || (sock.txState = {});
          if (sock.txqBytes <= 2 * keep) {
            var before = sock.txqBytes;
            await DSB.macrotask();
            if (sock.txqBytes > before) continue;
            if (sock.txqBytes <= G.PIPE) {
              // Unchecked: pause after the previous write (TCP_WRITE_GUARD.SMALL_PAUSE_MS);
              // what the program sends meanwhile joins the chunk.
              await G.pauseBeforeUnchecked(st);
              if (sock.txqBytes > before) continue;
            }
          }
          var n = sock.txqBytes <= 2 * keep ? sock.txqBytes : Math.min(G.MAX_CHUNK, sock.txqBytes - keep);
          var chunk = DS_TXQ.take(sock, n);
          await G.writeChecked(sock.writer, chunk, st);
          DSB.sent(sock, chunk.length);
        }
      } catch (e) {
        // Nothing of this socket is in flight any more.
        sock.txq = []; sock.txqBytes = 0; sock.txInflight = 0;
        if (!sock.closed) {
          sock.txError = DS_ERRNO.from(e, 'EPIPE');
          sock.soError = sock.txError;
        }
        DSB.wake();
      }
      sock.txPump = null;
    },
  },
});
