// Plain-JavaScript UDP on Chromium's Direct Sockets, run inside the installed
// IWA by stress-test/iwa/bench_iwa.mjs: the ceiling our wasm server is
// compared with (same app, same browser, same run). No wasm, no bridge.
//
//   sendBound({ host, port, count, size, sockets, queue })  one writer per socket,
//       up to `queue` writes queued on each (Chromium still sends one datagram
//       at a time per socket); sockets > 1 share one local port (multicastAllowAddressSharing,
//       i.e. SO_REUSEADDR + SO_REUSEPORT in the network service).
//   receiver() / receiverStats(id)  counts what a peer blasts at it.
//   echo()  echoes every datagram back to its source (reads and writes overlap).

const open = new Map();
let nextId = 1;

function stamp() { return performance.now(); }

async function udp(opts) {
  const s = new UDPSocket(opts);
  const info = await s.opened;
  return { s, ...info };
}

/** Sends `count` datagrams of `size` bytes to host:port as fast as the sockets allow. */
export async function sendBound({ host, port, count, size, sockets = 1, localAddress = '0.0.0.0', queue = 32 }) {
  const first = await udp({ localAddress, ...(sockets > 1 ? { multicastAllowAddressSharing: true } : {}) });
  const list = [first];
  let shareError = null;
  for (let i = 1; i < sockets; i++) {
    try { list.push(await udp({ localAddress, localPort: first.localPort, multicastAllowAddressSharing: true })); }
    catch (e) { shareError = `${e.name}: ${e.message}`; break; }
  }
  const payload = new Uint8Array(size).fill(0x62);
  let sent = 0;
  const t0 = stamp();
  // Writes are queued without waiting for each (up to `queue` per socket), as
  // the bridge hands them over: the stream feeds its sink the next one as soon
  // as the previous one completed, with no JavaScript turn in between.
  await Promise.all(list.map(async ({ writable }) => {
    const w = writable.getWriter();
    const pending = [];
    while (sent < count) {
      sent++;
      pending.push(w.write({ data: payload, remoteAddress: host, remotePort: port }));
      if (pending.length >= queue) await pending.shift();
    }
    await Promise.all(pending);
    w.releaseLock();
  }));
  const seconds = (stamp() - t0) / 1000;
  for (const { s } of list) await s.close().catch(() => {});
  return { sent, seconds, perSecond: sent / seconds, sockets: list.length, localPort: first.localPort, shareError };
}

/** A counting receiver; resolves { id, port }. */
export async function receiver({ localAddress = '0.0.0.0' } = {}) {
  const u = await udp({ localAddress });
  const st = { got: 0, bytes: 0, first: 0, last: 0 };
  const r = u.readable.getReader();
  (async () => {
    for (;;) {
      const { value, done } = await r.read().catch(() => ({ done: true }));
      if (done) break;
      const t = stamp();
      if (!st.got) st.first = t;
      st.last = t; st.got++; st.bytes += value.data.byteLength;
    }
  })();
  const id = nextId++;
  open.set(id, { u, st, r });
  return { id, port: u.localPort };
}

export function receiverStats(id) {
  const { st } = open.get(id);
  const seconds = (st.last - st.first) / 1000;
  return { got: st.got, bytes: st.bytes, seconds, perSecond: st.got > 1 ? (st.got - 1) / seconds : 0 };
}

/** Echo server: every datagram goes back to its source. */
export async function echo({ localAddress = '0.0.0.0' } = {}) {
  const u = await udp({ localAddress });
  const r = u.readable.getReader();
  const w = u.writable.getWriter();
  const st = { got: 0 };
  (async () => {
    for (;;) {
      const { value, done } = await r.read().catch(() => ({ done: true }));
      if (done) break;
      st.got++;
      w.write({ data: value.data, remoteAddress: value.remoteAddress, remotePort: value.remotePort }).catch(() => {});
    }
  })();
  const id = nextId++;
  open.set(id, { u, st, r, w });
  return { id, port: u.localPort };
}

export async function close(id) {
  const o = open.get(id);
  if (!o) return;
  open.delete(id);
  await o.r.cancel().catch(() => {});
  if (o.w) o.w.releaseLock();
  await o.u.s.close().catch(() => {});
}

// --- the wasm server in a dedicated worker (bench variant "worker") ---------
const workers = new Map();
let policy = null;

/** Starts the server in a worker; resolves with the JSON "listening" line. */
export async function startWorker({ module, args, stopFile }) {
  policy ||= self.trustedTypes.createPolicy('socket-iwa-bench-worker', { createScriptURL: (u) => (u === '/bench/server_worker.js' ? u : null) });
  const w = new Worker(policy.createScriptURL('/bench/server_worker.js'), { type: 'module' });
  const id = nextId++;
  const st = { w, waiters: [] };
  workers.set(id, st);
  const listening = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the worker server did not start in 30 s')), 30000);
    w.onmessage = ({ data }) => {
      if (data.line && data.line.includes('"listening"')) { clearTimeout(t); resolve(data.line); }
      if (data.error) { clearTimeout(t); reject(new Error(data.error)); }
      if (data.stats) st.waiters.shift()?.(data.stats);
    };
  });
  w.postMessage({ start: { module, args, stopFile } });
  return { id, listening: await listening };
}

export function workerStats(id) {
  const st = workers.get(id);
  return new Promise((resolve) => { st.waiters.push(resolve); st.w.postMessage({ stats: true }); });
}

export function stopWorker(id) {
  const st = workers.get(id);
  st.w.postMessage({ stop: true });
  setTimeout(() => st.w.terminate(), 2000);
  workers.delete(id);
}
