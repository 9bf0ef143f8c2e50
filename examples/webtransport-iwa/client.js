// Browser client for the WebTransport echo at /wt/echo: datagrams, one
// bidirectional stream and one unidirectional stream (answered by a server
// uni stream), using new WebTransport(url, { serverCertificateHashes }).

function hexToBytes(hex) {
  const clean = hex.replace(/[^0-9a-f]/gi, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function pattern(n, seed) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) % 251;
  return b;
}

async function readAll(readable) {
  const reader = readable.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) { out.set(c, off); off += c.length; }
  return out;
}

const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Runs the echo exchange; resolves with what was verified.
 * @param {string} url e.g. https://127.0.0.1:4433/wt/echo
 * @param {string} certSha256Hex the server certificate's SHA-256
 */
export async function runEcho(url, certSha256Hex, { datagrams = 20, streamBytes = 100000 } = {}) {
  const t0 = performance.now();
  const wt = new WebTransport(url, { serverCertificateHashes: [{ algorithm: 'sha-256', value: hexToBytes(certSha256Hex) }] });
  await wt.ready;
  const result = { connectMs: performance.now() - t0, datagramsSent: 0, datagramsEchoed: 0, bidiOk: false, uniOk: false };

  // Datagrams: send, collect echoes for up to 2 s.
  const dgReader = wt.datagrams.readable.getReader();
  const dgWriter = wt.datagrams.writable.getWriter();
  const seen = new Set();
  const collecting = (async () => {
    const end = performance.now() + 2000;
    while (seen.size < datagrams && performance.now() < end) {
      const r = await Promise.race([dgReader.read(), new Promise((res) => setTimeout(() => res(null), 200))]);
      if (r && r.value) seen.add(new TextDecoder().decode(r.value));
    }
  })();
  for (let i = 0; i < datagrams; i++) {
    await dgWriter.write(new TextEncoder().encode(`datagram ${i}`));
    result.datagramsSent++;
  }
  await collecting;
  result.datagramsEchoed = [...seen].filter((s) => /^datagram \d+$/.test(s)).length;

  // A bidirectional stream echoed on itself.
  const bidi = await wt.createBidirectionalStream();
  const sent = pattern(streamBytes, 1);
  const writer = bidi.writable.getWriter();
  const echoed = readAll(bidi.readable);
  await writer.write(sent);
  await writer.close();
  result.bidiOk = same(await echoed, sent);

  // A unidirectional stream, answered by a server-initiated uni stream.
  const uniSent = pattern(5000, 2);
  const incoming = wt.incomingUnidirectionalStreams.getReader();
  const uni = await wt.createUnidirectionalStream();
  const uw = uni.getWriter();
  await uw.write(uniSent);
  await uw.close();
  const { value: answer } = await incoming.read();
  result.uniOk = same(await readAll(answer), uniSent);

  wt.close({ closeCode: 0, reason: 'done' });
  await wt.closed.catch(() => {});
  result.totalMs = performance.now() - t0;
  return result;
}

if (typeof document !== 'undefined' && document.getElementById('form')) {
  const params = new URLSearchParams(location.search);
  if (params.get('url')) document.getElementById('url').value = params.get('url');
  if (params.get('hash')) document.getElementById('hash').value = params.get('hash');
  document.getElementById('form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const out = document.getElementById('out');
    out.textContent = 'connecting...';
    try {
      const r = await runEcho(document.getElementById('url').value, document.getElementById('hash').value);
      out.textContent = JSON.stringify(r, null, 2);
    } catch (err) {
      out.textContent = `failed: ${err}`;
    }
  });
}

/**
 * Datagram echo rate: sends `count` datagrams of `size` bytes, keeping at most
 * `window` unanswered, and counts echoes. Resolves with { sent, echoed, perSecond }.
 */
export async function datagramRate(url, certSha256Hex, { count = 2000, size = 64, window = 64, idleMs = 1000 } = {}) {
  const wt = new WebTransport(url, { serverCertificateHashes: [{ algorithm: 'sha-256', value: hexToBytes(certSha256Hex) }] });
  await wt.ready;
  const reader = wt.datagrams.readable.getReader();
  const writer = wt.datagrams.writable.getWriter();
  let echoed = 0;
  let sent = 0;
  let last = performance.now();
  const t0 = performance.now();
  let wake = null;
  const reading = (async () => {
    for (;;) {
      const r = await Promise.race([reader.read(), new Promise((res) => setTimeout(() => res(null), idleMs))]);
      if (!r || r.done) return;
      echoed++;
      last = performance.now();
      if (wake) { wake(); wake = null; }
      if (echoed >= count) return;
    }
  })();
  const payload = pattern(size, 3);
  while (sent < count) {
    if (sent - echoed >= window) {
      // Wait for an echo, or give up on lost ones after idleMs.
      const moved = await Promise.race([new Promise((r) => { wake = () => r(true); }), new Promise((r) => setTimeout(() => r(false), idleMs))]);
      if (!moved) break;
      continue;
    }
    await writer.write(payload);
    sent++;
  }
  await reading;
  wt.close({ closeCode: 0, reason: 'done' });
  return { sent, echoed, perSecond: echoed / ((last - t0) / 1000) };
}
