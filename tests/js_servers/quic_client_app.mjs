// A SocketIWA.createQuic test app (issue 10) under Node 26: an echo client (ALPN
// 'echo': every client bidi stream and every datagram comes back) against whatever
// server tests/interop/test_js_quic_client.py starts (aioquic's, our native one).
//
//   node quic_client_app.mjs '{"mode":"echo","port":P,"hashes":["hex"],"streams":N,"bytes":N,
//                              "datagrams":N,"session":"FILE","alpn":["echo"],"ca":"FILE","serverName":"x"}'
//   node quic_client_app.mjs '{"mode":"bad_args"}'
//   node quic_client_app.mjs '{"mode":"never_read","port":P,"hashes":["hex"],"bytes":N,"holdMs":N}'
//   node quic_client_app.mjs '{"mode":"hold","port":P,"hashes":["hex"]}' (prints connected, then
//     how `closed` settled while it sends a datagram every 100 ms)
//     (against aioquic_peer.py server --commands: asks for N bytes on a stream it does not
//     read for holdMs, asks the server how far it got, then reads and checks every byte)
//
// Prints one JSON line: {"event":"done", ...} or {"event":"failed","code":...,"message":...}.
import fs from 'node:fs';
import SocketIWA from '../../api/direct_sockets_api.js';
import { echoRun, hexBytes } from './quic_echo_client.js';
import { out } from './node_app.mjs';

const cfg = JSON.parse(process.argv[2] || '{}');

/** Each bad call: its error's name and code (or 'resolved' when it was accepted). */
async function badArgs() {
  const h = { algorithm: 'sha-256', value: new Uint8Array(32) };
  const calls = {
    host: () => SocketIWA.createQuic('example.com', 4433, { alpn: ['x'], serverCertificateHashes: [h] }),
    port: () => SocketIWA.createQuic('127.0.0.1', 0, { alpn: ['x'], serverCertificateHashes: [h] }),
    options: () => SocketIWA.createQuic('127.0.0.1', 4433, null),
    noAlpn: () => SocketIWA.createQuic('127.0.0.1', 4433, { serverCertificateHashes: [h] }),
    alpnComma: () => SocketIWA.createQuic('127.0.0.1', 4433, { alpn: ['a,b'], serverCertificateHashes: [h] }),
    hashShort: () => SocketIWA.createQuic('127.0.0.1', 4433, { alpn: ['x'], serverCertificateHashes: [{ algorithm: 'sha-256', value: new Uint8Array(31) }] }),
    hashAlgorithm: () => SocketIWA.createQuic('127.0.0.1', 4433, { alpn: ['x'], serverCertificateHashes: [{ algorithm: 'sha-1', value: new Uint8Array(32) }] }),
    hashesEmpty: () => SocketIWA.createQuic('127.0.0.1', 4433, { alpn: ['x'], serverCertificateHashes: [] }),
    twoModes: () => SocketIWA.createQuic('127.0.0.1', 4433, { alpn: ['x'], serverCertificateHashes: [h], rejectUnauthorized: false }),
    caNotPem: () => SocketIWA.createQuic('127.0.0.1', 4433, { alpn: ['x'], ca: 'hello' }),
    session: () => SocketIWA.createQuic('127.0.0.1', 4433, { alpn: ['x'], serverCertificateHashes: [h], session: { alpn: 'x' } }),
    sessionText: () => SocketIWA.createQuic('127.0.0.1', 4433, { alpn: ['x'], serverCertificateHashes: [h], session: '{not json' }),
  };
  const res = {};
  for (const [k, f] of Object.entries(calls)) {
    try { await f(); res[k] = 'resolved'; } catch (e) { res[k] = [e.name, e.code, e.message]; }
  }
  out({ event: 'done', bad: res });
}

async function echo() {
  const run = { ...cfg, wantSession: !!cfg.session };
  if (cfg.ca) run.caPem = fs.readFileSync(cfg.ca, 'utf8');
  if (cfg.session && fs.existsSync(cfg.session)) run.sessionObj = JSON.parse(fs.readFileSync(cfg.session, 'utf8'));
  const r = await echoRun(SocketIWA, run);
  if (cfg.session && r.sessionObj) fs.writeFileSync(cfg.session, JSON.stringify(r.sessionObj));
  delete r.sessionObj;
  out(r);
}

/**
 * A reader that never reads, then does: the server floods one stream while the app holds
 * it unread for holdMs; a second stream asks the server how many bytes it could send
 * meanwhile (what the client's flow control let through, i.e. what it buffered); then the
 * app reads the whole stream and checks it is the server's pattern, byte for byte.
 */
async function neverRead() {
  const conn = await SocketIWA.createQuic('127.0.0.1', cfg.port, {
    alpn: ['echo'], serverCertificateHashes: cfg.hashes.map((h) => ({ algorithm: 'sha-256', value: hexBytes(h) })),
  });
  const ask = async (line) => {
    const s = await conn.createBidirectionalStream();
    const w = s.writable.getWriter();
    await w.write(new TextEncoder().encode(line));
    await w.close();
    return s.readable;
  };
  const flood = await ask(`flood ${cfg.bytes}\n`);
  await new Promise((r) => setTimeout(r, cfg.holdMs));
  const chunks = [];
  for await (const c of await ask('status\n')) chunks.push(...c);
  const status = JSON.parse(new TextDecoder().decode(Uint8Array.from(chunks)));
  let n = 0, bad = -1;
  for await (const c of flood) {
    for (let i = 0; i < c.length && bad < 0; i++) if (c[i] !== ((n + i) * 31) % 251) bad = n + i;
    n += c.length;
  }
  conn.close({ closeCode: 0, reason: 'done' });
  await conn.closed.catch(() => {});
  out({ event: 'done', sentWhileHeld: status.flood_sent, received: n, firstBadByte: bad });
}

/**
 * Connects, prints "connected", then sends a 64-byte datagram every 100 ms until `closed`
 * settles, and prints how it settled (the server is restarted meanwhile: a Stateless Reset).
 */
async function hold() {
  const conn = await SocketIWA.createQuic('127.0.0.1', cfg.port, {
    alpn: ['echo'], serverCertificateHashes: cfg.hashes.map((h) => ({ algorithm: 'sha-256', value: hexBytes(h) })),
  });
  out({ event: 'connected' });
  const w = conn.datagrams.writable.getWriter();
  const tick = setInterval(() => { w.write(new Uint8Array(64)).catch(() => {}); }, 100);
  const t0 = Date.now();
  try {
    out({ event: 'closed', resolved: await conn.closed, ms: Date.now() - t0 });
  } catch (e) {
    out({ event: 'closed', rejected: { name: e.name, code: e.code, message: e.message }, ms: Date.now() - t0 });
  }
  clearInterval(tick);
}

await (cfg.mode === 'bad_args' ? badArgs() : cfg.mode === 'never_read' ? neverRead() : cfg.mode === 'hold' ? hold() : echo());
process.exit(0);
