// Diagnostic (not part of the suite): Chromium's Direct Sockets TCPSocket
// silently drops whole write() chunks. Plain page JavaScript inside the
// installed IWA, no wasm, no bridge, none of our API: a fresh Uint8Array per
// write(), each write awaited before the next.
//
// Cause (Chromium source, see docs/BRIDGE.md "Chromium TCP write loss"):
// TCPWritableStreamWrapper::WriteDataSynchronously() treats
// MOJO_RESULT_SHOULD_WAIT like MOJO_RESULT_OK and returns the byte count the
// Mojo C++ wrapper reports; DataPipeProducerHandle::WriteData() copies the
// in/out count back even when MojoWriteData() failed, and the ipcz DataPipe
// returns SHOULD_WAIT without touching it when the 64 KiB pipe is full. So a
// write() that starts while the pipe is exactly full "writes" its whole chunk,
// resolves, and the bytes are gone.
//
// Two checks:
//  1. paused peer: the node:net server does not read. A correct TCP writable
//     can accept at most what the kernel buffers hold (measured with `ss`)
//     plus its 64 KiB pipe; every further write() must stay pending. Chromium
//     resolves all of them. Then the server reads everything there is.
//  2. reading peer: the same upload to a server that reads, compared by
//     SHA-256 and by chunk sequence numbers.
// Run: node tests/wasm/chromium_tcp_write_loss.mjs [MiB] [chunkKiB]
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { launchIwa } from '../harness/iwa.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MIB = Number(process.argv[2] || 64);
const CHUNK = Number(process.argv[3] || 16) * 1024;
const N = Math.floor(MIB * 1048576 / CHUNK);

/** Chunk k: its 32-bit index in every 4-byte word (so a dropped chunk is visible by number). */
function chunkBytes(k, size) {
  const u32 = new Uint32Array(size / 4).fill(k);
  return new Uint8Array(u32.buffer);
}
function expectedHash(n, size) {
  const h = crypto.createHash('sha256');
  for (let k = 0; k < n; k++) h.update(chunkBytes(k, size));
  return h.digest('hex');
}
/** Bytes the kernel holds for this connection: the server's Recv-Q plus the client's Send-Q. */
function kernelQueued(port) {
  const out = execFileSync('ss', ['-tnH', `( sport = :${port} or dport = :${port} )`]).toString();
  let total = 0;
  for (const line of out.trim().split('\n').filter(Boolean)) {
    const f = line.trim().split(/\s+/);
    total += Number(f[1]) + Number(f[2]);
  }
  return total;
}

const iwa = await launchIwa({ appDir: path.resolve(here, '../../iwa') });
const conns = [];
const server = net.createServer((s) => {
  const c = { sock: s, bytes: 0, hash: crypto.createHash('sha256'), chunks: new Set(), fin: false, tail: Buffer.alloc(0) };
  conns.push(c);
  if (conns.length === 1) s.pause();          // check 1: do not read yet
  s.on('data', (d) => {
    c.bytes += d.length;
    c.hash.update(d);
    // Sequence numbers: every CHUNK-aligned word of the byte stream as received.
    let buf = c.tail.length ? Buffer.concat([c.tail, d]) : d;
    let off = 0;
    for (; off + CHUNK <= buf.length; off += CHUNK) c.chunks.add(buf.readUInt32LE(off));
    c.tail = Buffer.from(buf.subarray(off));
  });
  s.on('end', () => { c.fin = true; s.end(); });
  s.on('error', () => {});
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const port = server.address().port;

/** In the app: N writes of CHUNK bytes, each awaited; a write pending for 3 s ends the loop. */
const upload = (arg) => iwa.evaluate(async ({ port, n, size }) => {
  const s = new TCPSocket('127.0.0.1', port);
  const { writable, readable } = await s.opened;
  readable.pipeTo(new WritableStream({})).catch(() => {});
  const w = writable.getWriter();
  const t0 = performance.now();
  let resolved = 0, pending = false;
  for (let k = 0; k < n; k++) {
    const chunk = new Uint8Array(new Uint32Array(size / 4).fill(k).buffer);
    const ok = await Promise.race([w.write(chunk).then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))]);
    if (!ok) { pending = true; break; }
    resolved++;
  }
  const ms = Math.round(performance.now() - t0);
  if (!pending) w.close().catch(() => {});
  (self.__keep ||= []).push(s);
  return { resolved, pending, ms };
}, arg);

const report = (label, c, r, extra = {}) => {
  const missing = [];
  for (let k = 0; k < N && missing.length < 8; k++) if (!c.chunks.has(k)) missing.push(k);
  const hash = c.hash.digest('hex');
  console.log(JSON.stringify({
    check: label, chunk: CHUNK, written: N * CHUNK, writesResolved: r.resolved, writePending: r.pending,
    writeMs: r.ms, ...extra, received: c.bytes, fin: c.fin, chunksReceived: c.chunks.size,
    firstMissing: missing, sha256Match: hash === expectedHash(N, CHUNK),
  }));
};

try {
  // 1. paused peer
  const r1 = await upload({ port, n: N, size: CHUNK });
  await new Promise((r) => setTimeout(r, 500));
  const queued = kernelQueued(port);
  const c1 = conns[0];
  const readBeforeResume = c1.bytes;
  c1.sock.resume();
  await waitIdle(c1);
  report('paused-peer', c1, r1, {
    readByPeerWhileWritesResolved: readBeforeResume,
    kernelQueuedAfterWrites: queued,
    maxACorrectWritableCouldHaveAccepted: queued + 65536,
  });
  // 2. reading peer
  const r2 = await upload({ port, n: N, size: CHUNK });
  const c2 = conns[1];
  await waitIdle(c2);
  report('reading-peer', c2, r2);
} finally {
  server.close();
  for (const c of conns) c.sock.destroy();
  await iwa.close();
}

/** Until FIN, or no new byte for 3 s (Chromium never sends the FIN after a loss). */
async function waitIdle(c) {
  let last = -1;
  for (let i = 0; i < 200 && !c.fin && c.bytes !== last; i++) {
    last = c.bytes;
    await new Promise((r) => setTimeout(r, 3000));
  }
}
