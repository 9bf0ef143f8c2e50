/**
 * libds_txq.js: the TCP send queue that works around Chromium's silent loss of
 * TCPSocket write() chunks (docs/BRIDGE.md, "Chromium TCP write loss").
 *
 * Chromium (checked in 156; blink TCPWritableStreamWrapper + the ipcz Mojo
 * data pipe) drops a whole chunk when write() starts while the socket's 64 KiB
 * data pipe is exactly full: MojoWriteData answers SHOULD_WAIT without
 * setting the written count, the C++ wrapper reports the requested size as
 * written, the wrapper finalizes the write and resolves its promise. Nothing
 * in JavaScript sees an error.
 *
 * Such a drop is recognisable for a chunk LARGER than the pipe: it can never
 * be written synchronously, so a real write resolves only after a Mojo
 * watcher task, while a dropped one resolves within the microtasks of the
 * write() call. So: sends are copied into a queue; a pump hands the writer
 * chunks of more than PIPE bytes (coalesced, up to MAX_CHUNK) and writes a
 * chunk again when its promise settled before any task could run. Only the
 * tail of a burst, when fewer than PIPE+1 bytes are queued, is written as a
 * small chunk, which cannot be checked (see docs/BRIDGE.md for that residue).
 *
 * Enabled for the browser's own TCPSocket only (a native constructor); the
 * Node implementation (node/direct-sockets.js) has no such pipe.
 */
mergeInto(LibraryManager.library, {
  $DS_TXQ__deps: ['$DSB', '$DS_ERRNO'],
  $DS_TXQ: {
    /** Chromium's default Mojo data pipe capacity (services/network CreateDataPipe(nullptr)). */
    PIPE: 65536,
    /** Largest chunk handed to the writer at once. */
    MAX_CHUNK: 1048576,
    /** The send budget of a guarded socket is at least this, so a blocked writer leaves > PIPE queued. */
    MIN_BUDGET: 4 * 65536,
    /** Microtask turns to wait before deciding a write resolved synchronously (a drop needs about 4). */
    SYNC_TURNS: 64,
    /** Counters for tests and diagnostics (Module.directSockets.txq). */
    stats: { chunks: 0, small: 0, resent: 0 },
    forceGuard: null,   // tests: true/false overrides the detection
    /** Is the TCPSocket in use the browser's own (native) implementation? */
    needed: function () {
      if (DS_TXQ.forceGuard !== null) return !!DS_TXQ.forceGuard;
      var ctor = typeof globalThis !== 'undefined' ? globalThis.TCPSocket : undefined;
      if (typeof ctor !== 'function') return false;
      try { return /\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(ctor)); } catch (e) { return false; }
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
    sleep: function (ms) { return new Promise(function (r) { setTimeout(r, ms); }); },
    /** One chunk through the writer; a chunk > PIPE that resolved synchronously was dropped: again. */
    writeChunk: async function (sock, chunk) {
      var checkable = chunk.length > DS_TXQ.PIPE;
      var backoff = 1;
      for (;;) {
        var settled = false;
        var p = sock.writer.write(chunk);
        p.then(function () { settled = true; }, function () { settled = true; });
        for (var i = 0; i < DS_TXQ.SYNC_TURNS && !settled; i++) await Promise.resolve();
        var sync = settled;
        await p;
        if (!checkable || !sync) return;
        // Dropped: the pipe was full. Let the network service drain it, then again.
        DS_TXQ.stats.resent++;
        await DS_TXQ.sleep(backoff);
        backoff = Math.min(backoff * 2, 50);
      }
    },
    /** Drains sock.txq into the writer, one chunk at a time. */
    pump: async function (sock) {
      try {
        while (sock.txqBytes > 0) {
          // A tail of at most PIPE bytes cannot be checked: give the program one
          // task to queue more (it runs until it blocks on the send budget).
          if (sock.txqBytes <= DS_TXQ.PIPE) await DSB.macrotask();
          var chunk = DS_TXQ.take(sock, DS_TXQ.MAX_CHUNK);
          DS_TXQ.stats.chunks++;
          if (chunk.length <= DS_TXQ.PIPE) DS_TXQ.stats.small++;
          await DS_TXQ.writeChunk(sock, chunk);
          sock.txInflight -= chunk.length;
          DSB.wake();
        }
      } catch (e) {
        sock.txInflight -= sock.txqBytes;
        sock.txq = []; sock.txqBytes = 0;
        if (!sock.closed) {
          sock.txError = DS_ERRNO.from(e, 'EPIPE');
          sock.soError = sock.txError;
        }
        // txInflight of the failed chunk: recomputed from what is left.
        sock.txInflight = 0;
        DSB.wake();
      }
      sock.txPump = null;
    },
  },
});
