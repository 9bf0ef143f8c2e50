// SocketIWA.createHttp3Server: HTTP/3 servers whose logic is a JavaScript
// `fetch(request) -> Response`, served by the Rust/ngtcp2/nghttp3/wolfSSL stack
// in wasm (socket-iwa-server --js-handler, src/app/js_handler.rs).
// Design, wire format and JSPI boundaries: docs/JS_SERVERS.md.
//
// One wasm instance per server (the compiled WebAssembly.Module is shared):
// each instance's main() is the server's event loop, suspended in poll()
// through JSPI while idle. Rust hands each request event to `jsHandler` below
// (non-suspending imports that only queue), and pulls the answers from it on
// its ticks; when an answer is ready, `mark()` interrupts the poll.

import { Emitter } from './emitter.js';
import { SocketIWAError, argError } from './errors.js';
import { ipFamily, validatePort } from './validate.js';
import { acceptWebSocket, websocketOptions } from './h3_websocket.js';
import { ServerStorage, validateStorage } from './server_storage.js';
import { decodeHead } from './h3_head.js';
import { wtBridge } from './wt_session.js';
import { oncePerTask } from './after_task.js';
import { OUT_HIGH_WATER, feedNext, pullBody } from './quic_streams.js';

/** Action kinds of the pull records (src/app/js_handler.rs ACT_*). */
const ACT_HEAD = 1, ACT_BODY = 2, ACT_END = 3, ACT_RESET = 4;
/** HTTP/3 codes used on resets (RFC 9114 section 8.1). */
const H3_INTERNAL_ERROR = 0x102;
// OUT_HIGH_WATER (api/quic_streams.js): response bytes held per stream in JavaScript before reading more of the body.
/** Fields HTTP/3 forbids (RFC 9114 section 4.2); a Response may still carry them. */
const CONNECTION_FIELDS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
/** Status codes whose responses never have content (RFC 9110). */
const NO_BODY_STATUS = new Set([204, 205, 304]);

/** The wasm programs: the server (createHttp3Server, createQuicServer) and the client (createQuic). */
const PROGRAMS = {
  server: { glue: 'socket-iwa-server.js', wasm: 'socket_iwa_server.wasm' },
  client: { glue: 'socket-iwa-client.js', wasm: 'socket_iwa_client.wasm' },
};

export const isNode = typeof process === 'object' && process !== null && typeof process.versions?.node === 'string';

const compiled = new Map(); // program -> Promise<{ glueUrl, module }>, from the default places

/** Directories that may hold the wasm server, in order (docs/JS_SERVERS.md, "Loading"). */
function wasmCandidates() {
  return [
    new URL('../wasm/', import.meta.url),                                   // dist/ (the IWA's root)
    new URL('../dist/wasm/', import.meta.url),                              // the npm package
    new URL('../target/wasm32-unknown-emscripten/release/', import.meta.url), // a repository checkout
  ];
}

async function loadModule(wasmDir, program, api) {
  const { glue: GLUE, wasm: WASM } = PROGRAMS[program];
  const dirs = wasmDir ? [new URL(wasmDir, import.meta.url)] : wasmCandidates();
  if (isNode) {
    const fs = await import('node:fs');
    const { fileURLToPath } = await import('node:url');
    // Of the places that hold both files, the newest build: in a checkout with an older dist/
    // (docker_build_quic.sh) beside a fresh `cargo build`, the fresh one.
    let best = null;
    for (const dir of dirs) {
      const wasmPath = fileURLToPath(new URL(WASM, dir));
      if (!fs.existsSync(wasmPath) || !fs.existsSync(fileURLToPath(new URL(GLUE, dir)))) continue;
      const mtime = fs.statSync(wasmPath).mtimeMs;
      if (!best || mtime > best.mtime) best = { dir, wasmPath, mtime };
    }
    if (best) return { glueUrl: new URL(GLUE, best.dir).href, module: await WebAssembly.compile(fs.readFileSync(best.wasmPath)) };
    throw new SocketIWAError('ENOENT', `${api}: no ${WASM} next to ${GLUE} in ${dirs.map((d) => d.href).join(', ')} (build it: cargo build --release --target wasm32-unknown-emscripten --bins)`);
  }
  let lastErr;
  for (const dir of dirs) {
    try {
      const res = await fetch(new URL(WASM, dir));
      if (!res.ok) { lastErr = new Error(`HTTP ${res.status}`); continue; }
      return { glueUrl: new URL(GLUE, dir).href, module: await WebAssembly.compile(await res.arrayBuffer()) };
    } catch (e) { lastErr = e; }
  }
  throw new SocketIWAError('ENOENT', `${api}: cannot load ${WASM} (${lastErr && lastErr.message})`, { cause: lastErr });
}

/**
 * The Emscripten factory of a wasm `program` ('server' or 'client') and its compiled module
 * (compiled once per place), with Direct Sockets installed under Node. `api` names the caller in errors.
 */
export async function loadProgram(program, wasmDir, api) {
  let loaded;
  if (wasmDir) loaded = await loadModule(wasmDir, program, api);
  else {
    if (!compiled.has(program)) compiled.set(program, loadModule(undefined, program, api).catch((e) => { compiled.delete(program); throw e; }));
    loaded = await compiled.get(program);
  }
  await ensureDirectSockets(api);
  return { factory: (await import(loaded.glueUrl)).default, module: loaded.module };
}

async function ensureDirectSockets(api) {
  if (typeof globalThis.UDPSocket === 'function') return;
  if (!isNode) throw new SocketIWAError('ENOTSUP', `${api}: Direct Sockets (UDPSocket) are not available here; run inside an Isolated Web App or under Node`);
  const ds = await import('../node/direct-sockets.js');
  ds.install(globalThis);
}

export function describe(v) {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || typeof v !== 'object') return String(v);
  return Object.prototype.toString.call(v);
}

function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const enc = new TextEncoder();
const utf8 = new TextDecoder();

/** Encodes response fields (src/app/js_handler.rs decode_fields); field values are ByteStrings. */
function encodeFields(fields) {
  const parts = [];
  let len = 0;
  for (const [k, v] of fields) {
    const kb = enc.encode(k);
    const vb = Uint8Array.from(v, (c) => c.charCodeAt(0) & 0xff);
    const hdr = new Uint8Array(2 + kb.length + 4);
    const dv = new DataView(hdr.buffer);
    dv.setUint16(0, kb.length, true);
    hdr.set(kb, 2);
    dv.setUint32(2 + kb.length, vb.length, true);
    parts.push(hdr, vb);
    len += hdr.length + vb.length;
  }
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/**
 * An HTTP/3 server whose requests are answered by a JavaScript `fetch`.
 * Events: 'error' (err.code), 'close', 'certificate' (the new certificateHashes after a renewal).
 */
export class Http3Server extends Emitter {
  #mod = null;
  #main = null;
  #fetch;
  #host;
  #wsOpts;
  #conns = new Map();   // conn id -> { dirty, streams: Map<stream id, Stream> }
  #woken = false;
  #stopping = false;
  #closed = null;
  #store = null;        // ServerStorage: certificate/ticket-key storage and renewal (api/server_storage.js)
  #renewWanted = false; // control bit 4: Rust generates a new certificate
  #renewing = null;     // { promise, resolve } while a renewal is under way
  /** @type {number} */ port = 0;
  /** @type {string} */ address = '';
  /** @type {{ algorithm: 'sha-256', value: Uint8Array }[]} */ certificateHashes = [];

  /** @internal use SocketIWA.createHttp3Server */
  constructor(host, fetchFn, wsOpts = websocketOptions(undefined)) {
    super();
    this.#host = host;
    this.#fetch = fetchFn;
    this.#wsOpts = wsOpts;
  }

  /** @internal */
  async _start({ port, certificate, wasmDir, storage, renewBefore, sendSockets = 1 }) {
    const { factory, module } = await loadProgram('server', wasmDir, this._apiName);
    const loaded = { module };
    this.#store = await ServerStorage.open({ storage, certificate, renewBefore });
    try {
      return await this.#startWith(factory, loaded, port, certificate, sendSockets);
    } finally {
      this.#store.release();
    }
  }

  async #startWith(factory, loaded, port, certificate, sendSockets) {
    let listening;
    const listened = new Promise((resolve) => { listening = resolve; });
    const errLines = [];
    this.#mod = await factory({
      wasmModule: loaded.module,
      noExitRuntime: true,
      thisProgram: 'socket-iwa-server',
      jsHandler: this.#bridge(),
      print: (line) => {
        let ev;
        try { ev = JSON.parse(line); } catch { return; }
        if (ev && ev.event === 'listening') listening(ev);
        else if (ev && (ev.event === 'certificate' || ev.event === 'certificate_error')) queueMicrotask(() => this.#certificateEvent(ev));
      },
      printErr: (line) => {
        errLines.push(line);
        if (errLines.length > 20) errLines.shift();
      },
    });
    const addr = ipFamily(this.#host) === 6 ? `[${this.#host}]:${port}` : `${this.#host}:${port}`;
    const args = [...this._modeArgs(), '--json', '--listen', addr];
    if (sendSockets > 1) args.push('--udp-send-sockets', String(sendSockets));
    args.push(...await this.#store.stage(this.#mod.FS, certificate));
    this.#main = this.#mod.runMain(args);
    const ended = this.#main.then((status) => ({ status }), (error) => ({ status: 134, error }));
    const first = await Promise.race([listened, ended]);
    if (!('event' in first)) {
      const text = errLines.filter((l) => !l.startsWith('{')).join('\n') || errLines.join('\n') || (first.error && String(first.error)) || `exit status ${first.status}`;
      const stored = this.#store.mapStartError(text);
      if (stored) throw stored;
      const code = /in use/i.test(text) ? 'EADDRINUSE' : /permission|not allowed/i.test(text) ? 'EACCES' : 'ERR_SERVER_START';
      throw new SocketIWAError(code, `${this._apiName}: ${text}`, first.error ? { cause: first.error } : {});
    }
    const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(first.addr);
    this.address = m ? m[1] : this.#host;
    this.port = m ? Number(m[2]) : port;
    this.certificateHashes = [{ algorithm: 'sha-256', value: hexToBytes(first.cert_sha256) }];
    this.#closed = ended.then(async (r) => {
      // The last packets (CONNECTION_CLOSE) are still being written when main returns.
      const ds = this.#mod.directSockets;
      if (ds && typeof ds.whenClosed === 'function') await ds.whenClosed();
      this.#store.cancel();
      if (this.#renewing) { this.#renewing.resolve(); this.#renewing = null; }
      // The anti-replay records of connections that made no request.
      await this.#store.replayGate(this.#mod.FS, (e) => this.emit('error', e));
      for (const c of this.#conns.keys()) this.#connClosed(c);
      if (r.error && !this.#stopping) this.emit('error', new SocketIWAError('ERR_SERVER_CRASHED', `${this._kind} server stopped: ${r.error}`, { cause: r.error }));
      this.emit('close');
      return r.status;
    });
    try {
      await this.#store.started(this.#mod.FS);
      // A stored certificate inside its renewal margin is replaced before we resolve.
      if (this.#store.due(first.not_after)) await this.#renew();
      else this.#store.schedule(first.not_after, () => this.#renew());
    } catch (e) {
      await this.close();
      throw e;
    }
    return this;
  }

  // Hooks for a server of another kind on the same start-up (api/quic_server.js: createQuicServer).
  /** @internal the program's mode flags */
  _modeArgs() { return ['--js-handler']; }
  /** @internal the object the session imports (libjs_wt.js) reach */
  _sessionsBridge(interrupt, interruptSoon) { return wtBridge(this, interrupt, interruptSoon); }
  /** @internal for messages */
  get _apiName() { return 'createHttp3Server'; }
  /** @internal for messages */
  get _kind() { return 'HTTP/3'; }

  /** GOAWAY on every connection, then close; resolves when the server has stopped. */
  async close() {
    if (!this.#closed) return;
    if (!this.#stopping) {
      this.#stopping = true;
      this.#interrupt();
    }
    await this.#closed;
  }

  /** Asks Rust for a new certificate (control bit 4); resolves once it is stored and announced. */
  #renew() {
    if (this.#renewing) return this.#renewing.promise;
    let resolve;
    const promise = new Promise((r) => { resolve = r; });
    this.#renewing = { promise, resolve };
    this.#renewWanted = true;
    this.#interrupt();
    return promise;
  }

  /** Rust's `certificate` event: the new identity is in MEMFS and serves new handshakes. */
  async #certificateEvent(ev) {
    const done = this.#renewing;
    this.#renewing = null;
    if (ev.event === 'certificate') {
      try {
        await this.#store.renewed(this.#mod.FS);
      } catch (e) {
        this.emit('error', e);
      }
      this.certificateHashes = [{ algorithm: 'sha-256', value: hexToBytes(ev.cert_sha256) }];
      if (!this.#stopping) this.#store.schedule(ev.not_after, () => this.#renew());
      this.emit('certificate', this.certificateHashes);
    } else {
      this.#error('ERR_CERTIFICATE_RENEWAL', `certificate renewal failed: ${ev.error}`);
      // Try again in a minute (the old certificate still serves).
      if (!this.#stopping) this.#store.schedule(Date.now() / 1000 + 60 + this.#store.renewBefore / 1000, () => this.#renew());
    }
    if (done) done.resolve();
  }

  #interrupt() {
    this.#woken = true;
    const ds = this.#mod && this.#mod.directSockets;
    // While the loop yields between its receive and its flush (ds_yield) it reads `woken`
    // right after: there is no poll to cut short, and none to make return at once later.
    if (ds && !this.#yielding() && typeof ds.interrupt === 'function') ds.interrupt();
  }

  /** Is the loop in the bridge's ds_yield (between a receive and its flush)? */
  #yielding() {
    return !!this.#mod?.directSockets?.yielding;
  }

  /** JavaScript has a new action for `conn`: mark it and wake the driver. */
  #mark(conn) {
    const c = this.#conns.get(conn);
    if (!c) return;
    c.dirty = true;
    this.#interrupt();
  }

  #error(code, message, cause) {
    const e = new SocketIWAError(code, message, cause !== undefined ? { cause } : {});
    this.emit('error', e);
    return e;
  }

  /** The object libjs_handler.js forwards the imports to. Nothing here suspends or runs user code synchronously. */
  #bridge() {
    return {
      request: (conn, stream, head, fin) => {
        let c = this.#conns.get(conn);
        if (!c) this.#conns.set(conn, c = { dirty: false, streams: new Map() });
        const st = { conn, out: [], outBytes: 0, inQueue: [], inBytes: 0, inEnded: fin, inCtl: null, inCancelled: false, read: 0,
          abort: new AbortController(), drained: null, gone: false };
        c.streams.set(stream, st);
        // Early data was admitted: its anti-replay record reaches the storage before the handler runs.
        const gate = this.#store.replayGate(this.#mod.FS, (e) => this.emit('error', e));
        if (gate) gate.then(() => this.#dispatch(conn, stream, st, head));
        else queueMicrotask(() => this.#dispatch(conn, stream, st, head));
      },
      data: (conn, stream, bytes) => {
        const st = this.#conns.get(conn)?.streams.get(stream);
        if (!st) return;
        if (st.inCancelled || st.inEnded) {
          // Nobody will read these: credit them at once.
          st.read += bytes.length;
          this.#mark(conn);
          return;
        }
        st.inQueue.push(bytes);
        st.inBytes += bytes.length;
        if (st.inCtl && st.inWaiting) queueMicrotask(() => this.#feed(st));
        if (st.onInput) st.onInput(); // a WebSocket (api/h3_websocket.js)
      },
      end: (conn, stream) => {
        const st = this.#conns.get(conn)?.streams.get(stream);
        if (!st) return;
        st.inEnded = true;
        if (st.inCtl && st.inWaiting) queueMicrotask(() => this.#feed(st));
        if (st.onInput) st.onInput();
      },
      gone: (conn, stream) => {
        const c = this.#conns.get(conn);
        const st = c?.streams.get(stream);
        if (!st) return;
        c.streams.delete(stream);
        queueMicrotask(() => this.#drop(st));
      },
      connClosed: (conn) => this.#connClosed(conn),
      // The peer moved (migration, NAT rebinding): open WebSockets follow (api/h3_websocket.js).
      connPath: (conn, bytes) => {
        const c = this.#conns.get(conn);
        if (!c) return;
        const peer = utf8.decode(bytes);
        for (const st of c.streams.values()) if (st.onPath) st.onPath(peer);
      },
      pending: (conn, clear) => {
        const c = this.#conns.get(conn);
        if (!c) return false;
        const d = c.dirty;
        if (clear) c.dirty = false;
        return d;
      },
      pull: (conn, stream, view, maxBody) => this.#pull(conn, stream, view, maxBody),
      buffered: (conn) => {
        const c = this.#conns.get(conn);
        let n = 0;
        // Request bytes held for the handler. Response bytes waiting to be pulled are not
        // counted: they would shrink the very room Rust pulls them with (a deadlock with
        // many streams); they are bounded per stream by OUT_HIGH_WATER instead.
        if (c) for (const st of c.streams.values()) n += st.inBytes;
        return n;
      },
      takeRead: (conn, stream) => {
        const st = this.#conns.get(conn)?.streams.get(stream);
        if (!st) return 0;
        const n = st.read;
        st.read = 0;
        return n;
      },
      // WebTransport sessions (server.on('webtransport')): api/wt_session.js, libjs_wt.js.
      // Datagram writes wake the loop once per task, or at once while the loop yields between
      // its receive and its flush (the bridge's ds_yield): it reads `woken` right after.
      wt: this._sessionsBridge(() => this.#interrupt(), oncePerTask(() => this.#interrupt(), () => this.#yielding())),
      control: (clearWoken) => {
        const bits = (this.#woken ? 1 : 0) | (this.#stopping ? 2 : 0) | (this.#renewWanted ? 4 : 0);
        if (clearWoken) { this.#woken = false; this.#renewWanted = false; }
        return bits;
      },
    };
  }

  #connClosed(conn) {
    const c = this.#conns.get(conn);
    if (!c) return;
    this.#conns.delete(conn);
    for (const st of c.streams.values()) queueMicrotask(() => this.#drop(st));
  }

  /** The peer reset or stopped the stream, or its connection closed. */
  #drop(st) {
    st.gone = true;
    st.abort.abort(new SocketIWAError('ECONNRESET', 'the HTTP/3 request stream was reset or its connection closed'));
    if (st.inCtl) {
      try { st.inCtl.error(new SocketIWAError('ECONNRESET', 'request body stream reset')); } catch { /* already closed */ }
    }
    if (st.reader) st.reader.cancel().catch(() => {});
    st.out = [];
    st.outBytes = 0;
    if (st.drained) { st.drained(); st.drained = null; }
    if (st.onGone) st.onGone();
  }

  /** Moves queued request body bytes into the ReadableStream when it asks. */
  #feed(st) {
    if (!st.inCtl || st.gone) return;
    const n = feedNext(st);
    if (n === 0) return;
    st.inWaiting = false;
    if (n > 0) {
      // Read: Rust credits these bytes to the peer on its next tick (backpressure).
      st.read += n;
      this.#mark(st.conn);
    }
    st.inPull();
  }

  async #dispatch(conn, stream, st, head) {
    if (st.gone) return;
    const { peer, fields } = decodeHead(head);
    const pseudo = {};
    const headers = new Headers();
    try {
      for (const [k, v] of fields) {
        if (k.startsWith(':')) pseudo[k] = v;
        else headers.append(k, v);
      }
    } catch (e) {
      return this.#respondStatic(conn, stream, st, 400, 'bad request header\n');
    }
    const method = pseudo[':method'] || 'GET';
    const path = pseudo[':path'] || '/';
    if (method === 'CONNECT' && pseudo[':protocol'] !== 'websocket') return this.#respondStatic(conn, stream, st, 501, 'unsupported :protocol\n');
    const self = ipFamily(this.address || this.#host) === 6 ? `[${this.address || this.#host}]:${this.port}` : `${this.address || this.#host}:${this.port}`;
    // Concatenated, not resolved: a :path such as //other.host/x must stay a path.
    let url;
    try {
      url = new URL(`https://${pseudo[':authority'] || self}${path}`);
    } catch {
      return this.#respondStatic(conn, stream, st, 400, 'bad request target\n');
    }
    if (method === 'CONNECT') return this.#websocket(conn, stream, st, url, fields, peer);
    let body = null;
    if (method !== 'GET' && method !== 'HEAD' && !(st.inEnded && !st.inQueue.length)) {
      body = new ReadableStream({
        start: (ctl) => { st.inCtl = ctl; },
        pull: () => new Promise((resolve) => {
          st.inPull = resolve;
          st.inWaiting = true;
          this.#feed(st);
        }),
        cancel: () => {
          st.read += st.inBytes;
          st.inQueue = []; st.inBytes = 0; st.inCancelled = true;
          this.#mark(conn);
        },
      }, { highWaterMark: 0 });
    }
    let request;
    try {
      request = new Request(url, { method, headers, body, signal: st.abort.signal, ...(body ? { duplex: 'half' } : {}) });
    } catch (e) {
      return this.#respondStatic(conn, stream, st, 400, 'bad request\n');
    }
    Object.defineProperty(request, 'remoteAddress', { value: peer.replace(/:\d+$/, '').replace(/^\[|\]$/g, ''), enumerable: false });
    let res;
    try {
      res = await this.#fetch.call(this, request);
    } catch (e) {
      if (st.gone) return; // the peer went away (the handler saw its body or signal fail)
      this.#error('ERR_HANDLER_THREW', `fetch handler threw for ${method} ${url.pathname}: ${e && e.message}`, e);
      return this.#respondStatic(conn, stream, st, 500, 'internal server error\n');
    }
    if (!(res instanceof Response)) {
      this.#error('ERR_HTTP_INVALID_RESPONSE', `fetch handler returned ${describe(res)} for ${method} ${url.pathname}, not a Response`);
      return this.#respondStatic(conn, stream, st, 500, 'internal server error\n');
    }
    if (st.gone) { if (res.body) res.body.cancel().catch(() => {}); return; }
    const hasBody = method !== 'HEAD' && res.body !== null && !NO_BODY_STATUS.has(res.status);
    const out = [];
    for (const [k, v] of res.headers) if (!CONNECTION_FIELDS.has(k)) out.push([k, v]);
    this.#push(conn, st, { kind: ACT_HEAD, status: res.status, hasBody, fields: encodeFields(out) });
    if (!hasBody) { if (res.body) res.body.cancel().catch(() => {}); return; }
    st.reader = res.body.getReader();
    try {
      for (;;) {
        const { value, done } = await st.reader.read();
        if (st.gone) return;
        if (done) break;
        if (!(value instanceof Uint8Array)) throw new TypeError(`response body chunks must be Uint8Array, got ${describe(value)}`);
        if (!value.length) continue;
        this.#push(conn, st, { kind: ACT_BODY, bytes: value, off: 0 });
        while (st.outBytes >= OUT_HIGH_WATER && !st.gone) await new Promise((r) => { st.drained = r; });
        if (st.gone) return;
      }
      this.#push(conn, st, { kind: ACT_END });
    } catch (e) {
      if (st.gone) return;
      this.#error('ERR_HTTP_BODY', `response body of ${method} ${url.pathname} failed: ${e && e.message}`, e);
      this.#push(conn, st, { kind: ACT_RESET, code: H3_INTERNAL_ERROR });
    }
  }

  /** Extended CONNECT websocket (RFC 9220): 200, then WebSocket frames as DATA both ways (api/h3_websocket.js). */
  #websocket(conn, stream, st, url, fields, peer) {
    if (!this.listenerCount('websocket')) return this.#respondStatic(conn, stream, st, 501, 'no WebSocket handler on this server\n');
    const io = { push: (a) => this.#push(conn, st, a), mark: () => this.#mark(conn), actions: { BODY: ACT_BODY, END: ACT_END, RESET: ACT_RESET } };
    const { ws, request, stream: wss, fields: out } = acceptWebSocket({
      st, io, opts: this.#wsOpts, url, peer, headers: fields.filter(([k]) => !k.startsWith(':')),
      local: { address: this.address, port: this.port },
    });
    this.#push(conn, st, { kind: ACT_HEAD, status: 200, hasBody: true, fields: encodeFields(out) });
    // A throwing 'message'/'close' listener of ws surfaces here (Emitter re-emits it as 'error'): give it a code.
    ws.on('error', (err) => {
      if (err instanceof SocketIWAError) return; // the peer's doing (protocol error, reset, ENOBUFS): ws's own 'error'
      this.#error('ERR_HANDLER_THREW', `a WebSocket listener threw on ${url.pathname}: ${err && err.message}`, err);
    });
    for (const fn of this.rawListeners('websocket')) {
      try {
        const r = fn.call(this, ws, request);
        // An async listener: its rejection is reported too (the WebSocket is already accepted by then).
        if (r && typeof r.then === 'function') {
          r.then(undefined, (e) => this.#error('ERR_HANDLER_THREW', `'websocket' listener rejected for ${url.pathname}: ${e && e.message}`, e));
        }
      } catch (e) {
        // Nothing was pulled yet (Rust pulls on its next tick): the 200 and what the listener wrote are withdrawn.
        st.out = [];
        st.outBytes = 0;
        wss.finished = true;
        ws.terminate();
        this.#error('ERR_HANDLER_THREW', `'websocket' listener threw for ${url.pathname}: ${e && e.message}`, e);
        return this.#respondStatic(conn, stream, st, 500, 'internal server error\n');
      }
    }
    if (st.inQueue.length || st.inEnded) st.onInput();
  }

  #respondStatic(conn, stream, st, status, text) {
    if (st.gone) return;
    const bytes = enc.encode(text);
    const fields = encodeFields([['content-type', 'text/plain;charset=utf-8'], ['content-length', String(bytes.length)]]);
    this.#push(conn, st, { kind: ACT_HEAD, status, hasBody: true, fields });
    this.#push(conn, st, { kind: ACT_BODY, bytes, off: 0 });
    this.#push(conn, st, { kind: ACT_END });
  }

  #push(conn, st, action) {
    if (st.gone) return;
    st.out.push(action);
    if (action.kind === ACT_BODY) st.outBytes += action.bytes.length;
    this.#mark(conn);
  }

  /** Writes the next action for `stream` into `view` (wasm memory); returns its length, 0 for none. */
  #pull(conn, stream, view, maxBody) {
    const c = this.#conns.get(conn);
    const st = c?.streams.get(stream);
    if (!st || !st.out.length) return 0;
    const a = st.out[0];
    switch (a.kind) {
      case ACT_HEAD: {
        let fields = a.fields;
        let status = a.status;
        let hasBody = a.hasBody;
        if (4 + fields.length > view.length) {
          this.#error('ERR_HTTP_HEADERS_TOO_LARGE', `response header section of ${fields.length} bytes exceeds ${view.length - 4}`);
          fields = new Uint8Array(0);
          status = 500;
          hasBody = false;
          st.out = [];
          st.outBytes = 0;
          c.streams.delete(stream);
        } else {
          st.out.shift();
        }
        view[0] = ACT_HEAD;
        view[1] = hasBody ? 1 : 0;
        view[2] = status & 0xff;
        view[3] = status >> 8;
        view.set(fields, 4);
        if (!hasBody) c.streams.delete(stream);
        return 4 + fields.length;
      }
      case ACT_BODY: {
        const len = pullBody(st, view, ACT_BODY, maxBody);
        if (len && st.onDrained) st.onDrained();
        return len;
      }
      case ACT_END:
        st.out.shift();
        c.streams.delete(stream);
        if (st.onDrained) st.onDrained();
        view[0] = ACT_END;
        return 1;
      case ACT_RESET: {
        st.out = [];
        c.streams.delete(stream);
        view[0] = ACT_RESET;
        new DataView(view.buffer, view.byteOffset, 9).setBigUint64(1, BigInt(a.code), true);
        return 9;
      }
      default:
        return 0;
    }
  }
}

/**
 * Checks `options.sendSockets` (undefined, or an integer 1-8): in a browser, the server sends
 * through that many UDPSockets sharing its port (docs/JS_SERVERS.md, "Sending through several
 * sockets"). Returns the count.
 */
export function validateSendSockets(v, api) {
  if (v === undefined) return 1;
  if (!Number.isInteger(v) || v < 1 || v > 8) {
    throw argError(`${api}: options.sendSockets must be an integer from 1 to 8, got ${describe(v)}.`, 'ERR_INVALID_ARG_VALUE');
  }
  return v;
}

/** Checks `options.certificate` (undefined or { cert, key } PEM strings); `api` names the caller in the message. */
export function validateCertificate(cert, api) {
  if (cert !== undefined && (cert === null || typeof cert !== 'object' || typeof cert.cert !== 'string' || typeof cert.key !== 'string' ||
      !cert.cert.includes('-----BEGIN CERTIFICATE-----') || !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(cert.key))) {
    throw argError(`${api}: options.certificate must be { cert, key } PEM strings (a CERTIFICATE and a PRIVATE KEY).`, 'ERR_INVALID_ARG_VALUE');
  }
}

/** Throws ENOTSUP without JSPI. */
export function requireJspi(api) {
  if (typeof WebAssembly.Suspending !== 'function' || typeof WebAssembly.promising !== 'function') {
    throw new SocketIWAError('ENOTSUP', `${api}: this runtime has no JSPI (WebAssembly.Suspending); use Chromium 137+ or Node 26`);
  }
}

/**
 * Starts an HTTP/3 server on `host` (an IP literal or 'localhost') whose requests
 * `options.fetch(request)` answers with a Response (docs/JS_SERVERS.md).
 * @param {string} host
 * @param {{ port?: number, fetch: (request: Request) => Response | Promise<Response>,
 *           certificate?: { cert: string, key: string }, storage?: false | string, renewBefore?: number,
 *           wasmDir?: string | URL, websocket?: object, sendSockets?: number }} options
 * @returns {Promise<Http3Server>}
 */
export async function createHttp3Server(host, options) {
  if (host === 'localhost') host = '127.0.0.1';
  if (!ipFamily(host)) throw argError(`createHttp3Server: host must be an IP address literal or 'localhost', got ${describe(host)}.`, 'ERR_INVALID_IP_ADDRESS');
  if (options === null || typeof options !== 'object') throw argError(`createHttp3Server: options must be an object, got ${describe(options)}.`, 'ERR_INVALID_ARG_TYPE');
  const port = validatePort(options.port ?? 0, 'port', { allowZero: true });
  if (typeof options.fetch !== 'function') throw argError(`createHttp3Server: options.fetch must be a function (request) => Response, got ${describe(options.fetch)}.`, 'ERR_INVALID_ARG_TYPE');
  const cert = options.certificate;
  validateCertificate(cert, 'createHttp3Server');
  validateStorage(options.storage, 'createHttp3Server');
  const sendSockets = validateSendSockets(options.sendSockets, 'createHttp3Server');
  requireJspi('createHttp3Server');
  const server = new Http3Server(host, options.fetch, websocketOptions(options.websocket));
  return server._start({ port, certificate: cert, wasmDir: options.wasmDir, storage: options.storage, renewBefore: options.renewBefore, sendSockets });
}
