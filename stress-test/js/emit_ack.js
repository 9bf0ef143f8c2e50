#!/usr/bin/env node
// emit/ack benchmark, Socket.IO compatibility mode. One stock socket.io-client
// (Node) measures, in one run:
//   1. SocketIWA server inside a real IWA (headless Chromium, browser Direct Sockets)
//   2. stock Node socket.io 4.8 server (websocket transport)
//   3. SocketIWA server under Node (node/direct-sockets.js)
// Latency: sequential emitWithAck round trips (p50 / p99 / mean).
// Throughput: emits with acks, `window` in flight, messages per second.
// Bounded by count and time. Usage:
//   node stress-test/js/emit_ack.js [--rtts 2000] [--messages 20000] [--window 64] [--json]
import http from 'node:http';
import path from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { io as ioClient } from 'socket.io-client';
import { Server as IOServer } from 'socket.io';
import { launchIwa } from '../../tests/harness/iwa.js';
import { install } from '../../node/direct-sockets.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const apiDir = path.resolve(here, '../../api');
const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? Number(process.argv[i + 1]) : def; };
const RTTS = arg('rtts', 2000);
const MESSAGES = arg('messages', 20000);
const WINDOW = arg('window', 64);
const TIME_CAP_MS = arg('time-cap-ms', 20000);
const json = process.argv.includes('--json');

async function measure(url) {
  const c = ioClient(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise((resolve, reject) => { c.once('connect', resolve); c.once('connect_error', reject); });
  for (let i = 0; i < 200; i++) await c.emitWithAck('ping', i); // warm-up
  const lat = [];
  const t0 = Date.now();
  for (let i = 0; i < RTTS && Date.now() - t0 < TIME_CAP_MS; i++) {
    const s = process.hrtime.bigint();
    await c.emitWithAck('ping', i);
    lat.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  lat.sort((a, b) => a - b);
  const pct = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  let sent = 0, done = 0;
  const start = process.hrtime.bigint();
  const deadline = Date.now() + TIME_CAP_MS;
  await new Promise((resolve) => {
    const pump = () => {
      while (sent < MESSAGES && sent - done < WINDOW && Date.now() < deadline) {
        const i = sent++;
        c.emit('ping', i, () => { done++; if (done === sent && (sent >= MESSAGES || Date.now() >= deadline)) resolve(); else pump(); });
      }
    };
    pump();
  });
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  c.close();
  return { rtts: lat.length, p50_ms: pct(0.5), p99_ms: pct(0.99), mean_ms: lat.reduce((a, b) => a + b, 0) / lat.length, messages: done, msgs_per_s: done / secs };
}

const results = [];
// 1. SocketIWA server in the IWA
const iwa = await launchIwa({ mounts: { '/api/': apiDir, '/stress-test/js/': here }, timeoutMs: 90000 });
try {
  const port = await iwa.call('/stress-test/js/iwa/bench_server.js', 'start');
  results.push({ server: 'SocketIWA in IWA (Chromium Direct Sockets)', ...(await measure(`http://127.0.0.1:${port}`)) });
  await iwa.call('/stress-test/js/iwa/bench_server.js', 'stop');
} finally { await iwa.close(); }
// 2. stock socket.io server in Node
{
  const h = http.createServer();
  const ioS = new IOServer(h);
  ioS.on('connection', (s) => s.on('ping', (x, ack) => ack(x)));
  await new Promise((r) => h.listen(0, '127.0.0.1', r));
  results.push({ server: 'stock socket.io 4.8.4 in Node', ...(await measure(`http://127.0.0.1:${h.address().port}`)) });
  ioS.close(); h.close();
}
// 3. SocketIWA server under Node
{
  install(globalThis);
  const { default: SocketIWA } = await import('../../api/direct_sockets_api.js');
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io' });
  server.on('connection', (s) => s.on('ping', (x, ack) => ack(x)));
  results.push({ server: 'SocketIWA under Node (node/direct-sockets.js)', ...(await measure(`http://127.0.0.1:${server.port}`)) });
  await server.close();
}

const meta = { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, rtts: RTTS, messages: MESSAGES, window: WINDOW, date: new Date().toISOString() };
if (json) {
  console.log(JSON.stringify({ meta, results }, null, 2));
} else {
  const f = (x, d = 2) => x.toFixed(d);
  console.log(`client: stock socket.io-client 4.8.4 (websocket transport) on Node ${meta.node}; ${meta.cpus} cores (${meta.cpu}); loopback`);
  console.log(`latency: ${RTTS} sequential emitWithAck; throughput: ${MESSAGES} emits with ack, ${WINDOW} in flight\n`);
  console.log('| server | msgs/s (acked) | RTT p50 (ms) | RTT p99 (ms) | RTT mean (ms) |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of results) console.log(`| ${r.server} | ${Math.round(r.msgs_per_s)} | ${f(r.p50_ms, 3)} | ${f(r.p99_ms, 3)} | ${f(r.mean_ms, 3)} |`);
}
process.exit(0);
