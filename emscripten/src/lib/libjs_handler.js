/**
 * libjs_handler.js: the imports of the JavaScript HTTP/3 handler
 * (src/app/js_handler.rs), forwarded to `Module.jsHandler`, the object
 * api/h3_server.js passes to the module factory. None of them suspends: each
 * queues or copies and returns (docs/JS_SERVERS.md, "JSPI boundaries"). A
 * program started without `jsHandler` (the demo server) never calls them.
 */
mergeInto(LibraryManager.library, {
  $SJS: {
    h: function () {
      var h = Module['jsHandler'];
      if (!h) throw new Error('socket-iwa: --js-handler needs Module.jsHandler (api/h3_server.js)');
      return h;
    },
  },
  sjs_request__deps: ['$SJS'],
  sjs_request: function (conn, stream, ptr, len, fin) {
    SJS.h().request(conn, stream, HEAPU8.slice(ptr, ptr + len), fin !== 0);
  },
  sjs_data__deps: ['$SJS'],
  sjs_data: function (conn, stream, ptr, len) {
    SJS.h().data(conn, stream, HEAPU8.slice(ptr, ptr + len));
  },
  sjs_end__deps: ['$SJS'],
  sjs_end: function (conn, stream) { SJS.h().end(conn, stream); },
  sjs_gone__deps: ['$SJS'],
  sjs_gone: function (conn, stream) { SJS.h().gone(conn, stream); },
  sjs_conn_closed__deps: ['$SJS'],
  sjs_conn_closed: function (conn) { SJS.h().connClosed(conn); },
  sjs_conn_path__deps: ['$SJS'],
  sjs_conn_path: function (conn, ptr, len) { SJS.h().connPath(conn, HEAPU8.slice(ptr, ptr + len)); },
  sjs_pending__deps: ['$SJS'],
  sjs_pending: function (conn, clear) { return SJS.h().pending(conn, clear !== 0) ? 1 : 0; },
  sjs_pull__deps: ['$SJS'],
  sjs_pull: function (conn, stream, buf, cap, maxBody) {
    // A view, not a copy: the handler writes its action straight into wasm memory.
    return SJS.h().pull(conn, stream, HEAPU8.subarray(buf, buf + cap), maxBody);
  },
  sjs_buffered__deps: ['$SJS'],
  sjs_buffered: function (conn) { return SJS.h().buffered(conn); },
  sjs_take_read__deps: ['$SJS'],
  sjs_take_read: function (conn, stream) { return SJS.h().takeRead(conn, stream); },
  sjs_control__deps: ['$SJS'],
  sjs_control: function (clearWoken) { return SJS.h().control(clearWoken !== 0); },
});
