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
   * Rejects with the writer's error.
   */
  writeChecked: async function (writer, chunk) {
    var G = TCP_WRITE_GUARD;
    var checkable = chunk.length > G.PIPE;
    var backoff = 1;
    G.stats.chunks++;
    if (!checkable) G.stats.small++;
    for (;;) {
      var settled = false;
      var p = writer.write(chunk);
      p.then(function () { settled = true; }, function () { settled = true; });
      for (var i = 0; i < G.SYNC_TURNS && !settled; i++) await Promise.resolve();
      var sync = settled;
      await p;
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
      return { chunk: chunk, parts: parts };
    };
    var pump = async function () {
      try {
        await drain();
      } finally {
        pumping = null;
      }
    };
    var drain = async function () {
      while (queue.length) {
        // A tail of at most PIPE bytes cannot be checked: one task for more to queue up.
        if (queued <= G.PIPE) await G.nextTask();
        var t = take();
        try {
          await G.writeChecked(writer, t.chunk);
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
