// Native peers shared by the Node and IWA suites (node:net / node:dgram).
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import assert from 'node:assert/strict';

/** The port at the end of a probe's READY text ("READY 127.0.0.1:4242"). */
export function portOf(readyText) {
  return Number(/:(\d+)(\s|$)/.exec(readyText)[1]);
}

/** A test payload of n bytes, different per seed. */
export function bytesPattern(n, seed) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + seed * 7 + (i >> 10)) & 0xff;
  return b;
}

/** The probe's byte pattern (src/main.rs `pattern`). */
export function probePattern(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = ((i * 31) ^ (i >> 8)) & 0xff;
  return b;
}

/** A TCP server that sends `bytes` of the probe pattern to each client. */
export async function patternServer(bytes, host = '127.0.0.1') {
  const server = net.createServer((s) => { s.on('error', () => {}); s.end(probePattern(bytes)); });
  await new Promise((r) => server.listen(0, host, r));
  return { port: server.address().port, close: () => new Promise((r) => server.close(r)) };
}

/** SHA-256 (hex) of `n` bytes of the probe pattern, computed in 1 MiB pieces. */
export function probePatternSha256(n) {
  const h = crypto.createHash('sha256');
  const piece = 1 << 20;
  for (let off = 0; off < n; off += piece) {
    const len = Math.min(piece, n - off);
    const b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) { const j = off + i; b[i] = ((j * 31) ^ (j >> 8)) & 0xff; }
    h.update(b);
  }
  return h.digest('hex');
}

/**
 * A TCP sink for uploads: hashes what each client sends; once `bytes` arrived
 * it answers one line `sha256=<hex> bytes=<n>` (Chromium sends no FIN for a
 * half-closed TCPSocket, so the sink cannot wait for EOF). `results` holds
 * {bytes, sha256} per connection, also for uploads that stop short.
 */
export async function hashSink(bytes, host = '127.0.0.1') {
  const results = [];
  const open = new Set();
  const server = net.createServer((s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    const r = { bytes: 0, sha256: null };
    const h = crypto.createHash('sha256');
    results.push(r);
    s.on('data', (d) => {
      r.bytes += d.length;
      h.update(d);
      if (r.bytes >= bytes && !r.sha256) {
        r.sha256 = h.digest('hex');
        s.write(`sha256=${r.sha256} bytes=${r.bytes}\n`);
      }
    });
    s.on('error', () => {});
  });
  await new Promise((r) => server.listen(0, host, r));
  const close = () => new Promise((r) => { server.close(r); for (const s of open) s.destroy(); });
  return { port: server.address().port, results, close };
}

/**
 * A UDP echo peer answering "re:<msg>". With `noise`, a second socket first
 * sends "noise" to the sender, which a connect()ed probe must not see.
 */
export async function udpReplyPeer({ noise = false, echoRaw = false } = {}) {
  const sock = dgram.createSocket('udp4');
  const noiseSock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  await new Promise((r) => noiseSock.bind(0, '127.0.0.1', r));
  sock.on('message', (m, rinfo) => {
    if (noise) noiseSock.send('noise', rinfo.port, rinfo.address);
    setTimeout(() => sock.send(echoRaw ? m : Buffer.concat([Buffer.from('re:'), m]), rinfo.port, rinfo.address), noise ? 20 : 0);
  });
  return { port: sock.address().port, close: () => { sock.close(); noiseSock.close(); } };
}

/**
 * A UDP peer that records what arrives: each datagram as "length:first byte" (the probe's
 * `udp-segment` run fills datagram k with k), and waits for `n` of them.
 */
export async function udpRecorder() {
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const got = [];
  sock.on('message', (m) => got.push(`${m.length}:${m.length ? m[0] : ''}`));
  return {
    port: sock.address().port,
    got,
    async wait(n, ms = 5000) {
      for (let t = 0; t < ms && got.length < n; t += 10) await new Promise((r) => setTimeout(r, 10));
      return got;
    },
    close: () => sock.close(),
  };
}

/** What the probe's `udp-segment` run must deliver: 4 x 1200 + 500 bytes, datagram k filled with k. */
export const UDP_SEGMENT_RUN = ['1200:0', '1200:1', '1200:2', '1200:3', '500:4'];

/** The ssm_child.mjs result: joined, heard the five datagrams of 127.0.0.1 and nothing of 127.0.0.2, which the control heard. */
export function checkSsm(out) {
  assert.equal(out.error, undefined, `${out.error}\n${(out.console || []).join('\n')}`);
  assert.equal(out.probe.ok, true, JSON.stringify(out.probe));
  assert.equal(out.probe.joinErrno, 0);
  assert.equal(out.probe.dropErrno, 0);
  const range = (kind, from) => [0, 1, 2, 3, 4].map((i) => `${kind}-${i}|${from}`);
  assert.deepEqual(out.probe.heard.slice().sort(), range('source', '127.0.0.1'), 'the chosen source only');
  assert.deepEqual(out.control, [...range('other', '127.0.0.2'), ...range('source', '127.0.0.1')].sort(), 'both sources reached the any-source control');
}

/** FNV-1a (32-bit) of a datagram, as the probe's `udp-gro` mode reports it. */
export function fnv1a(bytes) {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** Datagram `i` of sender `tag`: `len` bytes of a pattern both differ in. */
export function groDatagram(tag, i, len) {
  const b = new Uint8Array(len);
  for (let k = 0; k < len; k++) b[k] = (tag * 31 + i * 7 + k) & 255;
  return b;
}

/**
 * Sends `plan` to 127.0.0.1:`port` from two node:dgram senders, step by step: each step is
 * [sender 0|1, datagrams, 'run' | 'each'], a 'run' as one GSO send (node/udp_gso.js), 'each'
 * one send per datagram, 2 ms apart (Chromium takes a paced stream without loss). Returns
 * what the probe's `udp-gro` mode must report as its datagrams: [length, FNV-1a, sender port].
 */
export async function sendGroPlan(port, plan) {
  const { gsoSender } = await import('../../node/udp_gso.js');
  const senders = [dgram.createSocket('udp4'), dgram.createSocket('udp4')];
  for (const s of senders) await new Promise((r) => s.bind(0, '127.0.0.1', r));
  const want = [];
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  try {
    for (const [k, list, how] of plan) {
      if (how === 'run') {
        if (!gsoSender(senders[k]).send(list, '127.0.0.1', port, 4)) throw new Error('the GSO run was not sent');
      } else {
        for (const d of list) { await new Promise((r) => senders[k].send(d, port, '127.0.0.1', r)); await sleep(2); }
      }
      for (const d of list) want.push([d.length, fnv1a(d), senders[k].address().port]);
      await sleep(20);
    }
  } finally {
    for (const s of senders) s.close();
  }
  return want;
}

/**
 * Checks a `udp-gro` probe result: every datagram of `want` (sendGroPlan's answer), in order,
 * with its sender; with GRO on and room for the control message, messages of the
 * [length, segment size] `runs`; otherwise one datagram per message.
 */
export function assertGroResult(result, { want, gro, ctl, runs, who }) {
  assert.equal(result.ok, true, `${who}: ${JSON.stringify(result)}`);
  assert.equal(result.groOption, gro, `${who}: getsockopt(UDP_GRO)`);
  if (!gro) assert.equal(result.fionreadMismatches, 0, `${who}: FIONREAD names the next datagram's length`);
  assert.deepEqual(result.datagrams, want, `${who}: every datagram, byte for byte, in order, with its sender`);
  const shape = result.messages.map(([len, seg]) => [len, seg]);
  if (gro && ctl) assert.deepEqual(shape, runs, `${who}: one message per run`);
  else assert.deepEqual(shape, want.map(([len]) => [len, 0]), `${who}: one datagram per message`);
}

/** Datagrams `from`..`to`-1 of sender `tag`, `len` bytes each. */
export const groRange = (tag, from, to, len) => Array.from({ length: to - from }, (_, i) => groDatagram(tag, from + i, len));
