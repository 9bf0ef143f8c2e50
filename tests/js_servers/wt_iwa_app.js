// The IWA side of tests/iwa/js_wt_server_iwa.test.mjs: a WebTransport app (not the demo)
// on SocketIWA.createHttp3Server inside an installed Isolated Web App, on Chromium's own
// Direct Sockets, and Chromium's own `new WebTransport(url, { serverCertificateHashes })`
// from the same page as its client. The API is mounted at /api/, the wasm build at /wasm/.
import SocketIWA from '/api/direct_sockets_api.js';
import { eachChunk, echoSession, errInfo } from './app_common.js';

const errors = [];
const closedSessions = [];
const serverSaw = [];
let server;
const flood = { written: 0 };

function onSession(session) {
  const path = new URL(session.url).pathname;
  session.closed.then((r) => closedSessions.push({ path, ...r }), (e) => closedSessions.push({ path, lost: e.code }));
  if (path === '/throw') throw new Error('listener failure on purpose');
  if (path === '/echo') {
    echoSession(session);
  } else if (path === '/server-bidi') {
    (async () => {
      const { readable, writable } = await session.createBidirectionalStream();
      const w = writable.getWriter();
      await w.write(new TextEncoder().encode('hello from the IWA server'));
      await w.close();
      serverSaw.push({ reply: await new Response(readable).text() });
    })().catch((e) => serverSaw.push({ failed: errInfo(e) }));
  } else if (path === '/errors') {
    eachChunk(session.incomingBidirectionalStreams, async ({ readable, writable }) => {
      const reader = readable.getReader();
      const writer = writable.getWriter();
      const first = new TextDecoder().decode((await reader.read()).value);
      if (first === 'abort') {
        await writer.abort(new SocketIWA.WebTransportError('ERR_APP', 'on purpose', { streamErrorCode: 42 }));
        await reader.cancel(new SocketIWA.WebTransportError('ERR_APP', 'on purpose', { streamErrorCode: 43 }));
        return;
      }
      const r = reader.read().then(() => null, (e) => e);
      const w = (async () => { for (;;) await writer.write(new Uint8Array(1024)); })().then(() => null, (e) => e);
      const [re, we] = await Promise.all([r, w]);
      serverSaw.push({ read: errInfo(re), write: errInfo(we) });
    });
  } else if (path === '/never-read') {
    eachChunk(session.incomingUnidirectionalStreams, () => {});
    (async () => {
      for await (const d of session.datagrams.readable) { void d; session.close({ closeCode: 3, reason: 'giving up' }); return; }
    })();
  } else if (path === '/flood') {
    // Writes up to 100 MB on a uni stream; `flood.written` counts the writes that resolved.
    (async () => {
      const w = (await session.createUnidirectionalStream()).getWriter();
      const chunk = new Uint8Array(64 * 1024);
      while (flood.written < 100 * 1024 * 1024) {
        await w.write(chunk);
        flood.written += chunk.length;
      }
    })().catch(() => {});
  } else if (path === '/close') {
    (async () => {
      for await (const d of session.datagrams.readable) { void d; session.close({ closeCode: 7, reason: 'bye from the IWA' }); return; }
    })();
  }
}

export async function start() {
  server = await SocketIWA.createHttp3Server('127.0.0.1', { port: 0, fetch: () => new Response('wt iwa app') });
  server.on('error', (e) => errors.push(e.code));
  server.on('webtransport', onSession);
  return { port: server.port };
}

function open(path) {
  return new WebTransport(`https://127.0.0.1:${server.port}${path}`, {
    serverCertificateHashes: server.certificateHashes.map((h) => ({ algorithm: h.algorithm, value: h.value })),
  });
}

const enc = new TextEncoder();
const withTimeout = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms))]);

/** Chromium's WebTransport against the echo app: bidi streams, uni both ways, datagrams. */
export async function echo({ streams }) {
  const wt = open('/echo');
  await wt.ready;
  const out = { ok: 0 };
  for (let done = 0; done < streams; done += 50) {
    await Promise.all(Array.from({ length: Math.min(50, streams - done) }, async (_, i) => {
      const msg = `stream ${done + i} `.repeat(3);
      const { readable, writable } = await wt.createBidirectionalStream();
      const w = writable.getWriter();
      await w.write(enc.encode(msg));
      await w.close();
      if ((await new Response(readable).text()) === msg) out.ok++;
    }));
  }
  const body = new Uint8Array(200_000).map((_, i) => (i * 31) % 251);
  const uw = (await wt.createUnidirectionalStream()).getWriter();
  await uw.write(body);
  await uw.close();
  const { value: incoming } = await wt.incomingUnidirectionalStreams.getReader().read();
  const back = new Uint8Array(await new Response(incoming).arrayBuffer());
  out.uni = back.length === body.length && back.every((b, i) => b === body[i]);
  const dw = wt.datagrams.writable.getWriter();
  const dr = wt.datagrams.readable.getReader();
  out.datagrams = 0;
  for (let i = 0; i < 20; i++) {
    await dw.write(enc.encode(`dgram ${i}`));
    const r = await withTimeout(dr.read(), 2000, 'datagram').catch(() => null);
    if (r && new TextDecoder().decode(r.value) === `dgram ${i}`) out.datagrams++;
  }
  wt.close({ closeCode: 9, reason: 'bye from Chromium' });
  await wt.closed.catch(() => {});
  return out;
}

/** The server opens a bidi stream; Chromium answers on it. */
export async function serverBidi() {
  const wt = open('/server-bidi');
  await wt.ready;
  const { value: { readable, writable } } = await wt.incomingBidirectionalStreams.getReader().read();
  const text = await new Response(readable).text();
  const w = writable.getWriter();
  await w.write(enc.encode('hello back from Chromium'));
  await w.close();
  for (let i = 0; i < 100 && !serverSaw.length; i++) await new Promise((r) => setTimeout(r, 50));
  wt.close();
  return { text, serverSaw: serverSaw.splice(0) };
}

/** Chromium 156's WebTransportError takes one init dictionary ({ message, streamErrorCode }); the W3C draft (message, options). */
function wtError(message, streamErrorCode) {
  try { return new WebTransportError({ message, streamErrorCode }); } catch { return new WebTransportError(message, { streamErrorCode }); }
}

/** Reset/STOP_SENDING codes both ways. */
export async function errorsBothWays() {
  const wt = open('/errors');
  await wt.ready;
  const out = {};
  let { readable, writable } = await wt.createBidirectionalStream();
  let w = writable.getWriter();
  await w.write(enc.encode('abort'));
  out.read = await readable.getReader().read().then(() => null, (e) => ({ name: e.name, source: e.source, streamErrorCode: e.streamErrorCode }));
  out.write = await (async () => { for (let i = 0; i < 200; i++) { await w.write(new Uint8Array(1024)); await new Promise((r) => setTimeout(r, 10)); } return null; })()
    .catch((e) => ({ name: e.name, source: e.source, streamErrorCode: e.streamErrorCode }));
  ({ readable, writable } = await wt.createBidirectionalStream());
  w = writable.getWriter();
  await w.write(enc.encode('wait'));
  const reader = readable.getReader();
  await reader.read(); // the server is writing
  await w.abort(wtError('client abort', 5));
  await reader.cancel(wtError('client cancel', 6));
  for (let i = 0; i < 100 && !serverSaw.length; i++) await new Promise((r) => setTimeout(r, 50));
  out.serverSaw = serverSaw.splice(0);
  wt.close();
  return out;
}

/** A session's `closed` outcome: how it closed, or (abruptly) everything the error says, for the test's message. */
const closeInfo = (r) => ({ closeCode: r.closeCode, reason: r.reason });
const closeFailure = (e) => ({ error: e.name, message: e.message, source: e.source, streamErrorCode: e.streamErrorCode });

/** Session close codes both ways, and a throwing listener. */
export async function closes() {
  const out = {};
  const a = open('/echo');
  await a.ready;
  a.close({ closeCode: 9, reason: 'bye from Chromium' });
  const b = open('/close');
  await b.ready;
  await b.datagrams.writable.getWriter().write(enc.encode('close please'));
  out.serverClose = await withTimeout(b.closed, 10000, 'server close').then(closeInfo, closeFailure);
  const c = open('/throw');
  await c.ready.catch(() => {});
  out.thrown = await withTimeout(c.closed, 10000, 'throw close').then(closeInfo, closeFailure);
  for (let i = 0; i < 100 && closedSessions.filter((s) => s.path === '/echo').length < 1; i++) await new Promise((r) => setTimeout(r, 50));
  out.closedSessions = closedSessions.splice(0);
  out.errors = errors.splice(0);
  return out;
}

/** 100 MB offered to a session that never reads: what the writer got rid of stays bounded; another session works; close. */
export async function neverReads() {
  const wt = open('/never-read');
  await wt.ready;
  const w = (await wt.createUnidirectionalStream()).getWriter();
  const chunk = new Uint8Array(64 * 1024);
  let accepted = 0;
  const total = 100 * 1024 * 1024;
  // Writes until one has not resolved for 2 s (held by flow control), at most 100 MB / 60 s.
  const t0 = Date.now();
  while (accepted < total && Date.now() - t0 < 60000) {
    const ok = await withTimeout(w.write(chunk), 2000, 'write').then(() => true, () => false);
    if (!ok) break;
    accepted += chunk.length;
  }
  const other = await echoOnce();
  await wt.datagrams.writable.getWriter().write(enc.encode('close'));
  const closed = await withTimeout(wt.closed, 10000, 'closed').then(closeInfo, closeFailure);
  return { accepted, other, closed };
}

/** A server stream Chromium does not read: the server's writes wait (window closed); reading lets them go on. */
export async function floodUnread() {
  const wt = open('/flood');
  await wt.ready;
  const reader = wt.incomingUnidirectionalStreams.getReader();
  const { value: incoming } = await reader.read();
  // Not read: Chromium's window closes once its buffer is full. Wait until the writes made no
  // progress for 1.5 s (at most 20 s), then check again a second later.
  let last = -1, since = Date.now();
  for (const t0 = Date.now(); Date.now() - t0 < 20000 && Date.now() - since < 1500;) {
    await new Promise((r) => setTimeout(r, 250));
    if (flood.written !== last) { last = flood.written; since = Date.now(); }
  }
  const stalled = flood.written;
  await new Promise((r) => setTimeout(r, 1000));
  const stalledLater = flood.written;
  // Now read 2 MiB more than was written: the writes must have gone on.
  const r = incoming.getReader();
  let got = 0;
  while (got < stalled + 2 * 1024 * 1024) got += (await r.read()).value.length;
  const resumed = flood.written;
  wt.close();
  return { stalled, stalledLater, got, resumed };
}

async function echoOnce() {
  const wt = open('/echo');
  await wt.ready;
  const { readable, writable } = await wt.createBidirectionalStream();
  const w = writable.getWriter();
  await w.write(enc.encode('still served'));
  await w.close();
  const text = await new Response(readable).text();
  wt.close();
  return text;
}

export async function stop() {
  await server.close();
  return 'closed';
}
