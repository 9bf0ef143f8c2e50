// Direct Sockets' UDPSocket, run in a dedicated I/O worker for a page whose own
// thread is busy (the wasm server): docs/BRIDGE.md "Direct Sockets in an I/O worker".
//
//   const { UDPSocket, terminate } = workerDirectSockets();
//   // the wasm bridge takes it from the module's options (iwa/loader.js `ioWorker`):
//   factory({ directSocketsImpl: { UDPSocket } })
//
// The browser's UDPSocket writable sends one datagram at a time, and each
// completion is a task on the thread that owns the socket; on a page whose thread
// also runs the server, the next datagram waited behind that thread's work
// (docs/PERF_IWA.md "Direct Sockets in an I/O worker"). Here the worker owns the
// browser's sockets and does nothing else, and the datagrams cross between the
// threads through rings in a SharedArrayBuffer (api/ds_ring.js): the page copies
// a datagram in and goes on; the worker signals the page (Atomics.waitAsync) when
// datagrams arrived or a quarter of the send budget came back, so a busy page sees
// its socket events in batches.
//
// This UDPSocket has the standard shape (opened, closed, close(), readable and
// writable streams of {data, remoteAddress, remotePort}) and the wasm bridge's
// non-standard fast paths that node/direct-sockets.js offers too (readable
// [takeDatagrams](sink), writable [sendDatagram](chunk, done) and [sendRun](chunk,
// seg, done)), plus writable[sendQueueLimit]: the bytes the bridge keeps in flight,
// since behind the worker there is still the browser's one-at-a-time writable.
// Multicast (the open info's multicastController) is not offered.
// Needs a cross-origin isolated page (SharedArrayBuffer), which an IWA is.
import { Ring } from './ds_ring.js';
import { C, create, ERROR_NAMES, STATUS_SLOTS } from './ds_worker_layout.js';

const kTakeDatagrams = Symbol.for('socket-iwa.direct-sockets.takeDatagrams');
const kSendDatagram = Symbol.for('socket-iwa.direct-sockets.sendDatagram');
const kSendRun = Symbol.for('socket-iwa.direct-sockets.sendRun');
const kSendQueueLimit = Symbol.for('socket-iwa.direct-sockets.sendQueueLimit');
const READ_QUEUE_LIMIT = 4096;   // datagrams a standard reader may leave unread before new ones drop

function coded(Ctor, message, code) {
  const e = new Ctor(message);
  e.code = code;
  return e;
}

function domError(name, message) {
  return typeof DOMException === 'function' ? new DOMException(message, name) : Object.assign(new Error(message), { name });
}

function bytesOf(data) {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && data instanceof SharedArrayBuffer)) return new Uint8Array(data);
  throw new TypeError('UDPSocket write: data must be a BufferSource');
}

let policy = null;
function workerScriptUrl(url) {
  // Trusted Types (an IWA's CSP requires them): only this module's own worker script.
  if (typeof trustedTypes === 'undefined' || !trustedTypes.createPolicy) return url;
  policy ||= trustedTypes.createPolicy('socket-iwa-ds-worker', { createScriptURL: (u) => (u === String(url) ? u : null) });
  return policy.createScriptURL(String(url));
}

/**
 * Starts the I/O worker and returns { UDPSocket, terminate }.
 * @param {object} [opts]
 * @param {number} [opts.sendQueueLimit=65536] bytes the wasm bridge keeps in flight per socket
 */
export function workerDirectSockets(opts = {}) {
  const sendQueueLimit = opts.sendQueueLimit ?? 65536;
  if (!Number.isInteger(sendQueueLimit) || sendQueueLimit < 2048 || sendQueueLimit > 1 << 20) {
    throw coded(RangeError, `workerDirectSockets: sendQueueLimit ${sendQueueLimit} is not an integer from 2048 to 1048576`, 'ERR_OUT_OF_RANGE');
  }
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics.waitAsync !== 'function') {
    throw coded(Error, 'workerDirectSockets: needs SharedArrayBuffer and Atomics.waitAsync (a cross-origin isolated page, as an IWA is)', 'ERR_DS_WORKER_UNSUPPORTED');
  }
  // opts.createWorker(url): another way to start the worker script (tests under Node: tests/wasm/ds_worker.test.mjs).
  const scriptUrl = new URL('./ds_worker_io.js', import.meta.url);
  const worker = opts.createWorker ? opts.createWorker(scriptUrl) : new Worker(workerScriptUrl(scriptUrl), { type: 'module', name: 'socket-iwa I/O' });
  const socks = new Map();
  let nextId = 1, dead = null;
  worker.onmessage = ({ data: m }) => {
    const st = socks.get(m.id);
    if (!st) return;
    if (m.op === 'opened') onOpened(st, m.info);
    else if (m.op === 'error') { socks.delete(st.id); st.opened.reject(domError(m.name, m.message)); st.closed.resolve(); }
    else if (m.op === 'rxEnd') endReadable(st, m.name ? domError(m.name, m.message) : null);
    else if (m.op === 'closed') finishClose(st);
  };
  worker.onerror = (ev) => {
    dead = coded(Error, `socket-iwa I/O worker failed: ${ev.message || 'error'}`, 'ERR_DS_WORKER_FAILED');
    ev.preventDefault?.();
    for (const st of [...socks.values()]) fail(st, dead);
  };

  function fail(st, err) {
    st.opened.reject(err);
    endReadable(st, err);
    for (const s of st.sends.splice(0)) queueMicrotask(() => s.done(err));
    finishClose(st);
  }

  function onOpened(st, info) {
    st.state = 'open';
    st.readable = new ReadableStream({
      start(c) { st.controller = c; },
      cancel() { st.readableDone = true; st.sink = null; },
    }, { highWaterMark: READ_QUEUE_LIMIT });
    Object.defineProperty(st.readable, kTakeDatagrams, {
      value(sink) {
        const reader = st.readable.getReader();   // TypeError when already locked
        st.sink = sink;
        queueMicrotask(() => drain(st));
        return reader;
      },
    });
    st.writable = new WritableStream({
      write(chunk) { return new Promise((resolve, reject) => send(st, chunk, 0, (e) => (e ? reject(e) : resolve()))); },
    }, { highWaterMark: 64 });
    Object.defineProperty(st.writable, kSendDatagram, { value(chunk, done) { return sendOne(st, chunk, 0, done); } });
    Object.defineProperty(st.writable, kSendRun, { value(chunk, seg, done) { return sendOne(st, chunk, seg, done); } });
    Object.defineProperty(st.writable, kSendQueueLimit, { value: sendQueueLimit });
    st.opened.resolve({ readable: st.readable, writable: st.writable, ...info });
    wakeLoop(st);
  }

  function sendOne(st, chunk, seg, done) {
    if (typeof done === 'function') { send(st, chunk, seg, done); return undefined; }
    return new Promise((resolve, reject) => send(st, chunk, seg, (e) => (e ? reject(e) : resolve())));
  }

  // Copies the datagram (or run) into the send ring and wakes the worker; done(null|error) once written.
  function send(st, chunk, seg, done) {
    let err = null;
    if (dead) err = dead;
    else if (st.state !== 'open') err = domError('InvalidStateError', 'The writable is closed.');
    else if (st.sends.length >= STATUS_SLOTS) err = domError('NetworkError', 'Too many datagrams in flight.');
    else {
      try {
        const data = bytesOf(chunk?.data);
        const addr = st.connected ? '' : chunk.remoteAddress;
        const port = st.connected ? 0 : chunk.remotePort;
        if (!st.connected && (typeof addr !== 'string' || !Number.isInteger(port))) throw new TypeError('UDPSocket write: a bound socket needs remoteAddress and remotePort');
        // Full only when the worker fell behind by a whole ring: dropped, as a full kernel send buffer drops.
        if (data.length > st.tx.maxPayload() || !st.tx.push(addr, port, seg, data)) err = domError('NetworkError', 'The send queue is full.');
      } catch (e) { err = e; }
    }
    if (err) { queueMicrotask(() => done(err)); return; }
    st.sends.push({ entry: st.seq++, done });
    Atomics.add(st.v.ctl, C.WORKER_SEQ, 1);
    Atomics.notify(st.v.ctl, C.WORKER_SEQ);
  }

  // Takes what the worker left: finished sends (in order), then received datagrams.
  function drain(st) {
    const ctl = st.v.ctl;
    const done = Atomics.load(ctl, C.DONE);
    while (((done - st.doneSeen) | 0) > 0 && st.sends.length) {
      const s = st.sends.shift();
      st.doneSeen++;
      const code = st.v.status[s.entry % STATUS_SLOTS];
      s.done(code ? domError(ERROR_NAMES[code - 1] === 'Error' ? 'NetworkError' : ERROR_NAMES[code - 1], 'The write failed.') : null);
    }
    if (st.sink) {
      const sink = st.sink;
      st.rx.take((remoteAddress, remotePort, seg, view) => sink.datagram({ data: view.slice(), remoteAddress, remotePort }));
    } else if (st.controller && !st.readableDone) {
      const c = st.controller;
      st.rx.take((remoteAddress, remotePort, seg, view) => { if (c.desiredSize > 0) c.enqueue({ data: view.slice(), remoteAddress, remotePort }); });
    }
  }

  async function wakeLoop(st) {
    const ctl = st.v.ctl;
    while (!st.ended) {
      const seen = Atomics.load(ctl, C.MAIN_SEQ);
      drain(st);
      const w = Atomics.waitAsync(ctl, C.MAIN_SEQ, seen);
      if (w.async) await w.value;
    }
  }

  function endReadable(st, err) {
    if (st.rxEnded) return;
    st.rxEnded = true;
    if (st.v) drain(st);
    if (st.sink) { const sink = st.sink; st.sink = null; sink.end(err); }
    else if (st.controller && !st.readableDone) { try { if (err) st.controller.error(err); else st.controller.close(); } catch {} }
  }

  function finishClose(st) {
    if (st.ended) return;
    drain(st);
    st.ended = true;
    st.state = 'closed';
    socks.delete(st.id);
    endReadable(st, null);
    Atomics.add(st.v.ctl, C.MAIN_SEQ, 1);
    Atomics.notify(st.v.ctl, C.MAIN_SEQ);
    st.closed.resolve();
  }

  const deferred = () => { let resolve, reject; const promise = new Promise((a, b) => { resolve = a; reject = b; }); promise.catch(() => {}); return { promise, resolve, reject }; };

  class UDPSocket {
    #st;
    constructor(options) {
      if (options === null || typeof options !== 'object') throw new TypeError("UDPSocket: options must be an object with either 'remoteAddress'/'remotePort' or 'localAddress'.");
      if (dead) throw dead;
      const v = create();
      Atomics.store(v.ctl, C.SIGNAL_BYTES, sendQueueLimit >> 2);
      const st = {
        id: nextId++, v, state: 'opening', connected: options.remoteAddress !== undefined,
        tx: new Ring(v.ctl, C.TX_HEAD, C.TX_TAIL, v.txData), rx: new Ring(v.ctl, C.RX_HEAD, C.RX_TAIL, v.rxData),
        sends: [], seq: 0, doneSeen: 0, sink: null, controller: null, readableDone: false, rxEnded: false, ended: false,
        opened: deferred(), closed: deferred(),
      };
      this.#st = st;
      socks.set(st.id, st);
      // The browser's own UDPSocket checks the options, in the worker; its errors reject `opened`.
      worker.postMessage({ op: 'open', id: st.id, options: { ...options }, sab: v.sab });
    }
    get opened() { return this.#st.opened.promise; }
    get closed() { return this.#st.closed.promise; }
    /** Closes the socket once what was sent went out. */
    close() {
      const st = this.#st;
      if (st.state === 'closed' || st.state === 'closing') return st.closed.promise;
      st.state = 'closing';
      if (!socks.has(st.id)) { finishClose(st); return st.closed.promise; }
      worker.postMessage({ op: 'close', id: st.id });
      return st.closed.promise;
    }
  }

  return {
    UDPSocket,
    /** Stops the worker; every socket still open fails. */
    terminate() {
      dead ||= coded(Error, 'socket-iwa I/O worker terminated', 'ERR_DS_WORKER_TERMINATED');
      worker.terminate();
      for (const st of [...socks.values()]) fail(st, dead);
    },
  };
}
