// Chromium's side of the relay tests: a plain page (not the IWA) imports this module and is
// one WebTransport client of tests/js_servers/relay_app.js, through Chromium's own
// `new WebTransport(url, { serverCertificateHashes })`. The state (the session and the
// datagrams it received) lives in the page between calls. Driven by
// tests/interop/h3_chromium_relay.mjs (relayBetweenPages), from the IWA test and under Node.

const enc = new TextEncoder();
const dec = new TextDecoder();
let wt = null;
const received = [];

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timeout after ${ms} ms: ${what}`)), ms); })])
    .finally(() => clearTimeout(t));
}

const bytes = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));

/** Opens the session; from then on every datagram is recorded (text). */
export async function open({ url, hashes }) {
  wt = new WebTransport(url, { serverCertificateHashes: hashes.map((h) => ({ algorithm: 'sha-256', value: bytes(h) })) });
  await withTimeout(wt.ready, 15000, `WebTransport ready ${url}`);
  (async () => {
    const r = wt.datagrams.readable.getReader();
    for (;;) {
      const { value, done } = await r.read();
      if (done) return;
      received.push(dec.decode(value));
    }
  })().catch(() => {});
  return true;
}

/** One bidi stream: each line written separately, FIN, then the whole answer read (lines). */
export async function send(lines) {
  return withTimeout((async () => {
    const { readable, writable } = await wt.createBidirectionalStream();
    const w = writable.getWriter();
    for (const l of lines) await w.write(enc.encode(`${l}\n`));
    await w.close();
    const text = await new Response(readable).text();
    return text.split('\n').slice(0, -1);
  })(), 15000, 'bidi stream answer');
}

/** Waits (at most ms) until every one of `expected` was received as a datagram; returns all received. */
export async function waitFor(expected, ms) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms && !expected.every((e) => received.includes(e))) await new Promise((r) => setTimeout(r, 50));
  return received.slice();
}

export function datagrams() {
  return received.slice();
}

export async function close() {
  wt.close({ closeCode: 0, reason: 'done' });
  const r = await withTimeout(wt.closed, 10000, 'WebTransport closed').then((x) => ({ closeCode: x.closeCode, reason: x.reason }), (e) => ({ error: e.name }));
  wt = null;
  received.length = 0;
  return r;
}

/** Chromium's fetch() to the relay (HTTP/3 when the browser was told to use QUIC for the origin). */
export async function fetchChecks({ base, sumBytes }) {
  const out = {};
  const signal = () => AbortSignal.timeout(20000);
  const hello = await fetch(`${base}/hello?name=x`, { signal: signal() });
  out.hello = [hello.status, await hello.text()];
  const body = new Uint8Array(sumBytes).map((_, i) => i % 251);
  const sum = await fetch(`${base}/sum`, { method: 'POST', body, headers: { 'content-type': 'text/plain' }, signal: signal() });
  out.sum = [sum.status, await sum.json()];
  out.protocols = [...new Set(performance.getEntriesByType('resource').filter((e) => e.name.startsWith(base)).map((e) => e.nextHopProtocol))];
  return out;
}
