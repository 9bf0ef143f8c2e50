// What the test apps in tests/js_servers share, under Node and in an IWA page or worker alike
// (no Node imports here; the Node programs' stdout/stdin side is node_app.mjs).

/** Lower-case hex of bytes (a certificate hash). */
export const hex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');

/** What the apps report of a WebTransportError (a stream's or a session's). */
export const errInfo = (e) => ({ name: e && e.name, code: e && e.code, source: e && e.source, streamErrorCode: e && e.streamErrorCode });

/** Calls fn(chunk) for each chunk of `readable` (not awaited) until it ends; an error ends it quietly. */
export async function eachChunk(readable, fn) {
  const reader = readable.getReader();
  for (;;) {
    let r;
    try { r = await reader.read(); } catch { return; }
    if (r.done) return;
    fn(r.value);
  }
}

/**
 * The echo app on a WebTransport session or a QUIC connection: each bidi stream piped back on
 * itself, each uni stream on a new uni stream of ours, each datagram sent back. `done(kind)` /
 * `failed(kind, e)` (kind 'bidi' or 'uni') follow each stream's pipe; `datagram()` each datagram.
 */
export function echoSession(s, { done = () => {}, failed = () => {}, datagram = () => {} } = {}) {
  eachChunk(s.incomingBidirectionalStreams, ({ readable, writable }) => {
    readable.pipeTo(writable).then(() => done('bidi'), (e) => failed('bidi', e));
  });
  eachChunk(s.incomingUnidirectionalStreams, (readable) => {
    s.createUnidirectionalStream().then((w) => readable.pipeTo(w)).then(() => done('uni'), (e) => failed('uni', e));
  });
  (async () => {
    const w = s.datagrams.writable.getWriter();
    for await (const d of s.datagrams.readable) { datagram(); await w.write(d); }
  })().catch(() => {});
}

/** Names and sizes of the files in OPFS:/socket-iwa/ (a server's default storage in an IWA). */
export async function storedFiles() {
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('socket-iwa');
  const out = {};
  for await (const [name, h] of dir.entries()) out[name] = (await h.getFile()).size;
  return out;
}

/**
 * A dedicated module worker of this IWA (IWAs enforce Trusted Types for script URLs: CSP
 * require-trusted-types-for 'script'), spoken to by `ask(msg)`: the worker's answer (answers come
 * in message order, serveWorker below), or a rejection with its `error`, an error event or, after
 * `timeoutMs`, silence.
 */
export function moduleWorker(url, policyName, { timeoutMs = 60000 } = {}) {
  const policy = self.trustedTypes.createPolicy(policyName, { createScriptURL: (u) => (u === url ? u : null) });
  const worker = new Worker(policy.createScriptURL(url), { type: 'module' });
  const pending = []; // { resolve, reject, t } per message sent, oldest first (a timed-out one keeps its place)
  worker.onmessage = ({ data }) => {
    const p = pending.shift();
    if (!p) return;
    clearTimeout(p.t);
    if (data && data.error) p.reject(new Error(data.error)); else p.resolve(data);
  };
  worker.onerror = (e) => {
    for (const p of pending.splice(0)) { clearTimeout(p.t); p.reject(new Error(`worker: ${e.message}`)); }
  };
  return {
    worker,
    ask(msg) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`worker ${url} did not answer ${JSON.stringify(msg).slice(0, 80)}`)), timeoutMs);
        pending.push({ resolve, reject, t });
        worker.postMessage(msg);
      });
    },
    terminate: () => worker.terminate(),
  };
}

/** The worker's side: each message answered with `await handle(data)`, a failure with { error: 'code: message' }. */
export function serveWorker(handle) {
  self.onmessage = async ({ data }) => {
    try {
      self.postMessage(await handle(data));
    } catch (e) {
      self.postMessage({ error: `${e && e.code}: ${e && e.message}` });
    }
  };
}

/** Running in a dedicated worker (not a page). */
export const isWorker = () => typeof WorkerGlobalScope === 'function' && self instanceof WorkerGlobalScope;
