// Socket.IWA loader: loads an Emscripten ES-module factory built with
// emscripten/build_support.rs (libdirectsockets.js + jspi_pre.js) and starts
// its main() with a configuration, inside the Isolated Web App where the
// browser's Direct Sockets API is available.
//
// Configuration: { module: '/wasm/<name>.js', args: ['--listen', '0.0.0.0:4433', ...],
//   files: { '/abs/path': string | Uint8Array, ... } (optional: written into the module's
//   memory file system before main() starts, e.g. the pages a --static server serves) }
// taken from, in order: the page URL (?module=...&args=a,b,c), /config.json,
// or a call to start(config) (what the tests do through the IWA harness).
//
// The module's own wasm file is found next to it (the glue resolves it against
// its import.meta.url). Output lines go to the page's log and to the console.

const runs = new Map();

function codedError(Ctor, message, code) {
  const e = new Ctor(message);
  e.code = code;
  return e;
}
let nextId = 1;

function logLine(text) {
  // The demo app (app.js) shows each server's own log; tests read the console.
  const log = typeof document !== 'undefined' && document.getElementById('log');
  if (log) log.textContent += text + '\n';
  console.log(text);
}

function setStatus(text) {
  const el = typeof document !== 'undefined' && document.getElementById('status');
  if (el) el.textContent = text;
}

/** Starts a program; resolves with its run id once main() is running. */
export async function start(config) {
  if (!config || typeof config.module !== 'string') throw new TypeError('config.module (URL of the ES-module glue) is required');
  if (typeof WebAssembly.Suspending !== 'function' || typeof WebAssembly.promising !== 'function') {
    throw new Error('this browser has no JSPI (WebAssembly.Suspending / promising)');
  }
  const files = config.files ?? {};
  if (typeof files !== 'object' || Array.isArray(files)) throw codedError(TypeError, 'config.files must be an object { path: string | Uint8Array }', 'ERR_INVALID_ARG_TYPE');
  for (const [p, data] of Object.entries(files)) {
    if (!p.startsWith('/') || p.split('/').includes('..')) throw codedError(TypeError, `config.files: ${JSON.stringify(p)} is not an absolute path without ..`, 'ERR_INVALID_ARG_VALUE');
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw codedError(TypeError, `config.files[${JSON.stringify(p)}] must be a string or Uint8Array`, 'ERR_INVALID_ARG_TYPE');
  }
  const id = nextId++;
  const run = { id, config, lines: [], readyLine: null, result: null, status: null, error: null, listeners: [] };
  let readyResolve;
  run.ready = new Promise((r) => { readyResolve = r; });
  const onLine = (line) => {
    run.lines.push(line);
    if (run.lines.length > 5000) run.lines.splice(0, 1000); // long-running servers: bounded memory
    logLine(`[${id}] ${line}`);
    for (const fn of run.listeners) { try { fn(line); } catch (e) { console.error(e); } }
    if (line.startsWith('READY ') && run.readyLine === null) { run.readyLine = line.slice(6); readyResolve(run.readyLine); }
    if (line.startsWith('RESULT ')) { try { run.result = JSON.parse(line.slice(7)); } catch { run.result = { unparsed: line }; } }
  };
  const factory = (await import(config.module)).default;
  run.module = await factory({
    noExitRuntime: true,
    print: onLine,
    printErr: (l) => onLine(`stderr: ${l}`),
  });
  for (const [p, data] of Object.entries(files)) {
    run.module.FS.mkdirTree(p.slice(0, p.lastIndexOf('/')) || '/');
    run.module.FS.writeFile(p, data);
  }
  setStatus(`running ${config.module}`);
  run.done = run.module.runMain((config.args || []).map(String)).then((status) => {
    run.status = status;
    setStatus(`exited with ${status}`);
    return status;
  }, (e) => {
    run.error = String(e && e.stack || e);
    setStatus(`failed: ${e}`);
    onLine(`ERROR ${e}`);
    return -1;
  }).finally(() => readyResolve(null));
  runs.set(id, run);
  return id;
}

function get(id) {
  const run = runs.get(id);
  if (!run) throw new Error(`no run ${id}`);
  return run;
}

function within(ms, promise, what) {
  let t;
  return Promise.race([
    promise.finally(() => clearTimeout(t)),
    new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]);
}

/** Resolves with the READY line's text (null if the program ended first). */
export function ready(id, timeoutMs = 20000) {
  const run = get(id);
  return within(timeoutMs, run.ready, `READY from ${run.config.args && run.config.args[0]}`).catch((e) => {
    throw new Error(`${e.message}; output: ${run.lines.join(' | ')}`);
  });
}

/** Waits for main() to return: { status, result, lines, error }. */
export async function done(id, timeoutMs = 30000) {
  const run = get(id);
  try {
    await within(timeoutMs, run.done, `exit of ${run.config.args && run.config.args[0]}`);
  } catch (e) {
    throw new Error(`${e.message}; output: ${run.lines.join(' | ')}`);
  }
  return { status: run.status, result: run.result, lines: run.lines, error: run.error };
}

/** Calls fn(line) for every later output line of run id (the demo app's live view). */
export function subscribe(id, fn) {
  get(id).listeners.push(fn);
}

/**
 * Stops a run that was started with a stop file (config.stopFile, passed to the
 * program as --stop-file): creates that file in the module's memory file
 * system; the program sees it within 100 ms, shuts down gracefully and main()
 * returns. Resolves with done()'s answer.
 */
export async function stop(id, timeoutMs = 10000) {
  const run = get(id);
  if (!run.config.stopFile) {
    const e = new Error(`run ${id} was started without config.stopFile, so it cannot be stopped`);
    e.code = 'ERR_NOT_STOPPABLE';
    throw e;
  }
  if (run.status === null && run.error === null) run.module.FS.writeFile(run.config.stopFile, '');
  const r = await done(id, timeoutMs);
  runs.delete(id);
  return r;
}

/** Calls the program's exported probe_close(fd) while main() may be suspended. */
export function closeFd(id, fd) {
  const run = get(id);
  return run.module._probe_close(fd);
}

/** Multicast groups on fd as the bridge tracks them and as the controller reports them. */
export function joinedGroups(id, fd) {
  return get(id).module.directSockets.joinedGroups(fd);
}

/** Debug view of every socket of every run (state, queues, budget). */
export function sockets(id) {
  const FS = get(id).module.FS;
  return FS.streams.filter((st) => st && st.node && st.node.sock).map((st) => {
    const s = st.node.sock;
    return { fd: st.fd, state: s.state, rxBytes: s.rxBytes, rxChunks: s.rx.length, rxEof: s.rxEof, rxError: s.rxError,
      paused: !!s.rxResume, txInflight: s.txInflight, txShut: s.txShut, soError: s.soError,
      // --udp-send-sockets: datagrams each sending socket sent and (the extra ones) received
      senders: s.senders ? s.senders.map((x) => ({ sent: x.sent, got: x.got })) : null };
  });
}

/** The bridge's errno values by name (EBADF, EAGAIN, ...). */
export function errnoTable(id) {
  return { ...get(id).module.directSockets.errno };
}

/** The last Direct Sockets failure the bridge saw ({op, name, message, errno}) or null. */
export function lastError(id) {
  return get(id).module.directSockets.lastError;
}

/** Counters of the bridge: calls answered at once vs. suspended. */
export function stats(id) {
  return { ...get(id).module.directSockets.stats };
}

async function autoStart() {
  const params = new URLSearchParams(location.search);
  let config = null;
  if (params.get('module')) {
    config = { module: params.get('module'), args: (params.get('args') || '').split(',').filter(Boolean) };
  } else {
    const r = await fetch('/config.json').catch(() => null);
    if (r && r.ok) config = await r.json();
  }
  if (config) {
    logLine(`starting ${config.module} ${(config.args || []).join(' ')}`);
    await start(config);
  } else {
    setStatus('idle (no /config.json and no ?module=)');
  }
}

// Still honoured under the demo app (examples/iwa-session-ticket/README.md's manual route);
// such runs show in the console, not as server cards.
if (typeof document !== 'undefined') {
  autoStart().catch((e) => { setStatus(`failed: ${e}`); logLine(`ERROR ${e}`); });
}
