// The I/O worker of api/ds_worker.js: it owns the browser's UDPSockets and moves
// datagrams between them and the page's thread through two rings per socket in a
// SharedArrayBuffer (api/ds_ring.js). docs/BRIDGE.md "Direct Sockets in an I/O worker".
//
// The worker does nothing else, so a write's completion is handled as soon as it
// arrives and the next queued datagram goes to the network service at once: the
// browser's writable sends one datagram at a time, and on a busy page thread every
// completion waited behind whatever that thread was running.
//
// Messages from the page: {op: 'open', id, options, sab} and {op: 'close', id}.
// To the page: {op: 'opened', id, info}, {op: 'error', id, name, message} (open failed),
// {op: 'rxEnd', id, name?, message?} (the readable ended or failed), {op: 'closed', id}.
// Everything per datagram goes through the rings and the control words (C below).
import { Ring } from './ds_ring.js';
import { C, layout, ERROR_NAMES } from './ds_worker_layout.js';

const socks = new Map();

self.onmessage = (ev) => {
  const m = ev.data;
  if (m.op === 'open') open(m);
  else if (m.op === 'close') close(m.id);
};

async function open({ id, options, sab }) {
  const v = layout(sab);
  const st = { id, v, tx: new Ring(v.ctl, C.TX_HEAD, C.TX_TAIL, v.txData), rx: new Ring(v.ctl, C.RX_HEAD, C.RX_TAIL, v.rxData),
    socket: null, writer: null, reader: null, closing: false, seq: 0, inflight: 0, doneBytes: 0, failed: null };
  socks.set(id, st);
  let info;
  try {
    st.socket = new UDPSocket(options);
    info = await st.socket.opened;
  } catch (e) {
    socks.delete(id);
    self.postMessage({ op: 'error', id, name: e?.name || 'Error', message: e?.message || String(e) });
    return;
  }
  st.writer = info.writable.getWriter();
  st.reader = info.readable.getReader();
  self.postMessage({ op: 'opened', id, info: { localAddress: info.localAddress, localPort: info.localPort, remoteAddress: info.remoteAddress, remotePort: info.remotePort } });
  receive(st);
  transmit(st);
}

/** Tells the page's thread there is something for it (a datagram, or finished writes). */
function signal(v) {
  Atomics.add(v.ctl, C.MAIN_SEQ, 1);
  Atomics.notify(v.ctl, C.MAIN_SEQ);
}

async function receive(st) {
  const { v } = st;
  let err = null;
  try {
    for (;;) {
      const { value, done } = await st.reader.read();
      if (done) break;
      const data = value.data instanceof Uint8Array ? value.data : new Uint8Array(value.data.buffer ?? value.data, value.data.byteOffset ?? 0, value.data.byteLength);
      // A full ring drops the datagram, as a full kernel receive buffer would.
      if (data.length > st.rx.maxPayload() || !st.rx.push(value.remoteAddress ?? '', value.remotePort ?? 0, 0, data)) Atomics.add(v.ctl, C.RX_DROPS, 1);
      signal(v);
    }
  } catch (e) { err = e; }
  if (!st.closing) self.postMessage({ op: 'rxEnd', id: st.id, ...(err ? { name: err.name || 'Error', message: err.message || String(err) } : {}) });
}

// Writes complete in order; each ring entry (a datagram or a run) is numbered, and
// C.DONE counts the entries whose writes all settled. The page is signalled when a
// quarter of its send budget came back, or nothing is left in flight.
async function transmit(st) {
  const { v } = st;
  for (;;) {
    const seen = Atomics.load(v.ctl, C.WORKER_SEQ);
    st.tx.take((addr, port, seg, view) => write(st, addr, port, seg, view));
    if (st.closing) break;
    const w = Atomics.waitAsync(v.ctl, C.WORKER_SEQ, seen);
    if (w.async) await w.value;
  }
  // close(): everything the page handed over was queued above; the writer flushes it.
  try { await st.writer.close(); } catch {}
  try { await st.reader.cancel(); } catch {}
  try { await st.socket.close(); } catch {}
  socks.delete(st.id);
  self.postMessage({ op: 'closed', id: st.id });
}

function write(st, addr, port, seg, view) {
  const n = seg > 0 && seg < view.length ? Math.ceil(view.length / seg) : 1;
  const size = n > 1 ? seg : view.length;
  const entry = st.seq++;
  st.inflight += view.length;
  let left = n, error = null;
  const settle = (e) => {
    if (e && !error) error = e;
    if (--left) return;
    finish(st, entry, view.length, error);
  };
  for (let off = 0; off < view.length; off += size) {
    // The write keeps its chunk until it settles and the ring slot is reused at once: a copy each.
    const data = view.slice(off, Math.min(off + size, view.length));
    st.writer.write({ data, remoteAddress: addr, remotePort: port }).then(() => settle(null), (e) => settle(e || new Error('write failed')));
  }
}

function finish(st, entry, bytes, error) {
  const { v } = st;
  // 0: sent; else 1 + the error's index in ERROR_NAMES (the last for any other).
  // A failed write errors the browser's writable for good: later writes fail too.
  const k = error ? ERROR_NAMES.indexOf(error.name) : -1;
  v.status[entry % v.status.length] = !error ? 0 : k >= 0 ? k + 1 : ERROR_NAMES.length;
  st.inflight -= bytes;
  st.doneBytes += bytes;
  Atomics.add(v.ctl, C.DONE, 1);
  if (st.doneBytes >= Atomics.load(v.ctl, C.SIGNAL_BYTES) || st.inflight === 0 || error) {
    st.doneBytes = 0;
    signal(v);
  }
}

function close(id) {
  const st = socks.get(id);
  if (!st || st.closing) return;
  st.closing = true;
  Atomics.add(st.v.ctl, C.WORKER_SEQ, 1);
  Atomics.notify(st.v.ctl, C.WORKER_SEQ);
}
