/**
 * jspi_pre.js: JavaScript Promise Integration for Debian's Emscripten 3.1.6,
 * which predates -sJSPI. Passed with --pre-js; needs no module transform and
 * never uses Asyncify.
 *
 * Mechanism
 *   1. Module.instantiateWasm (a documented 3.1.6 hook) receives the import
 *      object Emscripten built. We copy it and replace every import that may
 *      return a Promise with `new WebAssembly.Suspending(fn)`. The list comes
 *      from the bridge (DSB.suspendingImports in libdirectsockets.js) plus
 *      Module.jspiSuspendingImports. The wasm stack is suspended on every call
 *      of such an import until its result (a Promise, or a value V8 passes
 *      through Promise.resolve) settles, so the hot syscalls reach the bridge
 *      through plain imports and suspend only to wait (DSB.park).
 *   2. We instantiate the module ourselves (Module.wasmBinary, Module.wasmModule
 *      or a fetch of the .wasm next to the glue) and hand Emscripten an
 *      instance-like object whose exports are the real ones, except the entry
 *      points, which are replaced by `WebAssembly.promising(export)`:
 *      `main` / `__main_argc_argv` and any name in Module.jspiPromisingExports.
 *      Calling one returns a Promise; only code running under one of them may
 *      suspend (a Suspending import that returns a Promise outside them traps).
 *   3. -lexports.js keeps import and export names readable at -O2, so the hook
 *      can find them by name. Link with -sINVOKE_RUN=0 and start the program
 *      with `await Module.runMain(args)` (below), which resolves to main's
 *      exit status.
 *
 * One suspended entry at a time: all wasm stacks share Emscripten's shadow
 * stack pointer, so while main is suspended, other exports may be called only
 * if they complete without suspending (e.g. a control export that closes an fd).
 */
(function () {
  var ENTRY_EXPORTS = ['main', '__main_argc_argv'];

  function jspiAvailable() {
    return typeof WebAssembly.Suspending === 'function' && typeof WebAssembly.promising === 'function';
  }

  function suspendingNames() {
    var names = [];
    if (typeof DSB !== 'undefined' && DSB.suspendingImports) names = names.concat(DSB.suspendingImports);
    if (Module['jspiSuspendingImports']) names = names.concat(Module['jspiSuspendingImports']);
    return names;
  }

  function wrapImports(imports) {
    var names = suspendingNames();
    var out = {};
    var wrapped = [];
    for (var ns in imports) {
      var src = imports[ns];
      var dst = {};
      for (var k in src) dst[k] = src[k];
      for (var i = 0; i < names.length; i++) {
        var n = names[i];
        if (typeof dst[n] === 'function') {
          dst[n] = new WebAssembly.Suspending(dst[n]);
          wrapped.push(ns + '.' + n);
        }
      }
      out[ns] = dst;
    }
    Module['jspiWrappedImports'] = wrapped;
    return out;
  }

  function wrapExports(rawExports) {
    var ex = {};
    for (var k in rawExports) ex[k] = rawExports[k];
    var names = ENTRY_EXPORTS.concat(Module['jspiPromisingExports'] || []);
    var wrapped = [];
    for (var i = 0; i < names.length; i++) {
      if (typeof rawExports[names[i]] === 'function') {
        ex[names[i]] = WebAssembly.promising(rawExports[names[i]]);
        wrapped.push(names[i]);
      }
    }
    Module['jspiWrappedExports'] = wrapped;
    return ex;
  }

  function source() {
    if (Module['wasmModule']) return Promise.resolve(Module['wasmModule']);
    if (Module['wasmBinary']) return Promise.resolve(Module['wasmBinary']);
    // The glue has already resolved wasmBinaryFile (Module.locateFile, or
    // relative to the glue's import.meta.url).
    var url = wasmBinaryFile;
    return fetch(url, { credentials: 'same-origin' }).then(function (r) {
      if (!r.ok) throw new Error('fetching ' + url + ': HTTP ' + r.status);
      return r.arrayBuffer();
    });
  }

  Module['instantiateWasm'] = function (info, receiveInstance) {
    if (!jspiAvailable()) {
      var msg = 'JSPI (WebAssembly.Suspending / WebAssembly.promising) is not available in this runtime';
      if (Module['onJspiError']) Module['onJspiError'](new Error(msg));
      throw new Error(msg);
    }
    var imports = wrapImports(info);
    source().then(function (src) {
      return WebAssembly.instantiate(src, imports);
    }).then(function (result) {
      var instance = result.instance || result;
      var module = result.module || Module['wasmModule'];
      receiveInstance({ exports: wrapExports(instance.exports) }, module);
    }).catch(function (e) {
      err('JSPI instantiation failed: ' + e);
      if (typeof readyPromiseReject === 'function') readyPromiseReject(e);
      else if (Module['onAbort']) Module['onAbort'](e);
    });
    return {}; // asynchronous: receiveInstance is called later
  };

  /**
   * Runs main(argc, argv) through its promising wrapper and resolves to the
   * exit status. exit()/process::exit surface as ExitStatus, mapped to its
   * status; traps and aborts reject.
   */
  Module['runMain'] = function (args) {
    args = args || [];
    var entry = Module['asm']['main'] || Module['asm']['__main_argc_argv'];
    if (!entry) return Promise.reject(new Error('no main export'));
    var argc = args.length + 1;
    var argv = stackAlloc((argc + 1) * 4);
    HEAP32[argv >> 2] = allocateUTF8OnStack(thisProgram);
    for (var i = 1; i < argc; i++) HEAP32[(argv >> 2) + i] = allocateUTF8OnStack(String(args[i - 1]));
    HEAP32[(argv >> 2) + argc] = 0;
    return Promise.resolve().then(function () {
      return entry(argc, argv);
    }).then(function (status) {
      return status;
    }, function (e) {
      if (e && e.name === 'ExitStatus') return e.status;
      throw e;
    });
  };
})();
