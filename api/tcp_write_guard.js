// Works around Chromium's silent loss of TCPSocket write() chunks
// (docs/BRIDGE.md, "Chromium TCP write loss"). Shared as is by the JavaScript
// API (api/byte_stream.js) and the wasm bridge (emscripten/build_support.rs
// turns this file into an Emscripten library; hence the style: one exported
// object, `name: function` members, imports of shared modules only).
//
// Chromium (156; blink TCPWritableStreamWrapper over an ipcz Mojo data pipe of
// 64 KiB) drops a whole chunk when write() starts while that pipe is exactly
// full, and resolves the write. A chunk larger than the pipe can never be
// written synchronously, so for such a chunk a promise that settles before any
// task ran means "dropped": the chunk is written again after a short pause.

import { BUFFER_SOURCE } from './buffer_source.js';

export const TCP_WRITE_GUARD = {
  /** Chromium's default data pipe capacity for a TCP socket (CreateDataPipe(nullptr)). */
  PIPE: 65536,
  /** Largest chunk handed to the writer at once. */
  MAX_CHUNK: 1048576,
  /** Microtask turns to wait before a settled write counts as synchronous (a drop needs about 4). */
  SYNC_TURNS: 64,
  /**
   * An unchecked chunk (at most PIPE bytes) is written at least this long after
   * the previous write finished: that write may have left the pipe exactly full
   * (a write that fits its free space exactly resolves synchronously, like a
   * drop), and the network service needs a moment to read from it.
   */
  SMALL_PAUSE_MS: 5,
  /** Counters: chunks written, chunks too small to check, chunks written again. */
  stats: { chunks: 0, small: 0, resent: 0 },
  /** null: detect; true/false: tests force the guard on or off. */
  force: null,

  /** Does this TCPSocket class need the guard? Only the browser's own (native) one. */
  needed: function (ctor) {
    if (TCP_WRITE_GUARD.force !== null) return !!TCP_WRITE_GUARD.force;
    if (typeof ctor !== 'function') return false;
    try {
      return /\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(ctor));
    } catch (e) {
      return false;
    }
  },

  /** A fresh Uint8Array with the bytes of a BufferSource: callers may reuse or change theirs once write() returns. */
  copy: function (data) {
    var bytes = BUFFER_SOURCE.copy(data);
    if (!bytes) throw new TypeError('TCPSocket write: expected an ArrayBuffer or ArrayBufferView.');
    return bytes;
  },

  /** Milliseconds, monotonic where available. */
  now: function () {
    return typeof performance !== 'undefined' && performance.now ? performance.now() : Date.now();
  },

  /** Waits until SMALL_PAUSE_MS have passed since the last write of `state` ended (no wait when none is recent). */
  pauseBeforeUnchecked: async function (state) {
    var G = TCP_WRITE_GUARD;
    if (!state || state.lastEnd === undefined) return;
    var left = state.lastEnd + G.SMALL_PAUSE_MS - G.now();
    if (left > 0) await new Promise(function (r) { setTimeout(r, Math.ceil(left)); });
  },

  /** Resolves after pending tasks ran (a MessageChannel hop; setTimeout where there is none). */
  nextTask: function () {
    if (typeof MessageChannel !== 'function') return new Promise(function (r) { setTimeout(r, 0); });
    return new Promise(function (r) {
      var ch = new MessageChannel();
      ch.port1.onmessage = function () { ch.port1.close(); r(); };
      ch.port2.postMessage(0);
    });
  },

  /**
   * Writes `chunk` (a Uint8Array the caller no longer touches) through `writer`;
   * a chunk larger than PIPE whose write settled synchronously is written again.
   * `state` (one object per socket, optional) remembers whether the last write
   * waited for the pipe. Rejects with the writer's error.
   */
  writeChecked: async function (writer, chunk, state) {
    var G = TCP_WRITE_GUARD;
    var checkable = chunk.length > G.PIPE;
    var backoff = 1;
    G.stats.chunks++;
    if (!checkable) {
      G.stats.small++;
      await G.pauseBeforeUnchecked(state);
    }
    for (;;) {
      var settled = false;
      var p = writer.write(chunk);
      p.then(function () { settled = true; }, function () { settled = true; });
      for (var i = 0; i < G.SYNC_TURNS && !settled; i++) await Promise.resolve();
      var sync = settled;
      await p;
      if (state) state.lastEnd = G.now();
      if (!checkable || !sync) return;
      // Dropped: the pipe was full. Let the network service drain it, then again.
      G.stats.resent++;
      await new Promise(function (r) { setTimeout(r, backoff); });
      backoff = Math.min(backoff * 2, 50);
    }
  },

  /**
   * A writer with the same write/close/abort/releaseLock calls that copies each
   * chunk; where `ctor` needs the guard it also coalesces queued chunks (so
   * most writes are checkable) and writes them with writeChecked.
   */
  wrapWriter: function (writer, ctor) {
    var G = TCP_WRITE_GUARD;
    if (!G.needed(ctor)) {
      return {
        write: function (data) { return writer.write(G.copy(data)); },
        close: function () { return writer.close(); },
        abort: function (reason) { return writer.abort(reason); },
        releaseLock: function () { return writer.releaseLock(); },
        get closed() { return writer.closed; },
        get ready() { return writer.ready; },
        get desiredSize() { return writer.desiredSize; },
      };
    }
    var queue = [];          // {bytes, resolve, reject}
    var queued = 0;
    var pumping = null;
    var failure = null;
    var state = {};
    var take = function () {
      var parts = [], n = 0;
      while (queue.length && n + queue[0].bytes.length <= G.MAX_CHUNK) {
        var e = queue.shift();
        parts.push(e);
        n += e.bytes.length;
      }
      if (!parts.length) { parts.push(queue.shift()); n = parts[0].bytes.length; }
      queued -= n;
      var chunk = parts[0].bytes;
      if (parts.length > 1) {
        chunk = new Uint8Array(n);
        var off = 0;
        for (var k = 0; k < parts.length; k++) { chunk.set(parts[k].bytes, off); off += parts[k].bytes.length; }
      }
      // A chunk that empties the queue keeps its last PIPE + 1 bytes back when the
      // rest is still checkable: they go out with whatever the program writes next
      // (or alone, after a task), so a burst never ends in an unchecked chunk of at
      // most PIPE bytes written right after a chunk that may have filled the pipe.
      var keep = G.PIPE + 1;
      if (!queue.length && n >= 2 * keep) {
        var last = parts[parts.length - 1];
        queue.unshift({ bytes: chunk.subarray(n - keep), resolve: last.resolve, reject: last.reject, held: true });
        queued += keep;
        parts[parts.length - 1] = { resolve: function () {}, reject: function () {} };
        chunk = chunk.subarray(0, n - keep);
      }
      return { chunk: chunk, parts: parts };
    };
    var pump = async function () {
      try {
        await drain();
      } finally {
        pumping = null;
        // A write that arrived after drain() saw an empty queue, while this
        // promise was still settling, found `pumping` set and started nothing.
        if (queue.length && !failure) start();
      }
    };
    var drain = async function () {
      while (queue.length) {
        // A tail of at most PIPE bytes cannot be checked, and held-back bytes should
        // meet the program's next write: one task for more to queue up.
        if (queued <= G.PIPE || (queue.length === 1 && queue[0].held)) {
          queue[0].held = false; // once: afterwards it goes out alone (it is checkable)
          await G.nextTask();
        }
        var t = take();
        try {
          await G.writeChecked(writer, t.chunk, state);
        } catch (err) {
          failure = err;
          var all = t.parts.concat(queue);
          queue = []; queued = 0;
          for (var j = 0; j < all.length; j++) all[j].reject(err);
          return;
        }
        for (var i = 0; i < t.parts.length; i++) t.parts[i].resolve();
      }
    };
    var start = function () {
      if (!pumping) pumping = pump();
    };
    return {
      write: function (data) {
        if (failure) return Promise.reject(failure);
        var bytes = G.copy(data);
        return new Promise(function (resolve, reject) {
          queue.push({ bytes: bytes, resolve: resolve, reject: reject });
          queued += bytes.length;
          start();
        });
      },
      close: async function () {
        while (pumping) await pumping;
        if (failure) throw failure;
        return writer.close();
      },
      abort: function (reason) {
        var all = queue; queue = []; queued = 0;
        for (var i = 0; i < all.length; i++) all[i].reject(reason);
        return writer.abort(reason);
      },
      releaseLock: function () { return writer.releaseLock(); },
      get closed() { return writer.closed; },
      get ready() { return writer.ready; },
      get desiredSize() { return writer.desiredSize; },
    };
  },
};
