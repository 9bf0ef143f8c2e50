/**
 * libjs_wt.js: the imports of the JavaScript WebTransport sessions
 * (src/app/js_wt.rs), forwarded to `Module.jsHandler.wt`, the object
 * api/wt_session.js makes for api/h3_server.js. None of them suspends: each
 * queues or copies and returns (docs/JS_SERVERS.md, "JSPI boundaries"). A
 * program started without `jsHandler` (the demo server) never calls them.
 * `sjs_quic_accept` is createQuicServer's (api/quic_server.js installs the `wt` object).
 */
mergeInto(LibraryManager.library, {
  $SJSWT: {
    w: function () {
      var h = Module['jsHandler'];
      if (!h || !h.wt) throw new Error('socket-iwa: --js-handler WebTransport needs Module.jsHandler.wt (api/h3_server.js)');
      return h.wt;
    },
  },
  sjs_wt_accept__deps: ['$SJSWT'],
  sjs_wt_accept: function (conn, key, ptr, len) {
    return SJSWT.w().accept(conn, key, HEAPU8.slice(ptr, ptr + len)) ? 1 : 0;
  },
  sjs_wt_event__deps: ['$SJSWT'],
  sjs_wt_event: function (key, kind, stream, ptr, len, code) {
    SJSWT.w().event(key, kind, stream, len ? HEAPU8.slice(ptr, ptr + len) : null, code);
  },
  sjs_wt_pending__deps: ['$SJSWT'],
  sjs_wt_pending: function (key, clear) { return SJSWT.w().pending(key, clear !== 0) ? 1 : 0; },
  sjs_wt_ready__deps: ['$SJSWT'],
  sjs_wt_ready: function (key, out, cap) {
    // A view, not a copy: stream ids are written straight into wasm memory (f64, 8-aligned).
    return SJSWT.w().ready(key, HEAPF64.subarray(out >> 3, (out >> 3) + cap));
  },
  sjs_wt_pull__deps: ['$SJSWT'],
  sjs_wt_pull: function (key, stream, buf, cap, max) {
    return SJSWT.w().pull(key, stream, HEAPU8.subarray(buf, buf + cap), max);
  },
  sjs_wt_buffered__deps: ['$SJSWT'],
  sjs_wt_buffered: function (key) { return SJSWT.w().buffered(key); },
  // createQuicServer (src/app/js_quic.rs): a raw QUIC connection; the other imports above then serve it by `key`.
  sjs_quic_accept__deps: ['$SJSWT'],
  sjs_quic_accept: function (key, ptr, len) {
    return SJSWT.w().acceptQuic(key, HEAPU8.slice(ptr, ptr + len)) ? 1 : 0;
  },
});
