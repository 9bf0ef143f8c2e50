#!/usr/bin/env node
// The main job's browser half (scripts/demo.sh runs it after the builds):
// installs the signed demo IWA in Chromium, starts the QUIC + HTTP/3 +
// WebTransport server inside it from the app, runs the native client twice
// (full handshake, then 0-RTT with the saved ticket) and Chromium's
// new WebTransport() from an ordinary page against it, and prints one table.
//
//   node scripts/demo-iwa.mjs --bundle dist/socket-iwa.swbn --port 4433 [--headful] [--screenshot FILE]
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { launchIwa } from '../tests/harness/iwa.js';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function usage(msg) {
  process.stderr.write(`demo-iwa: ${msg}\nusage: node scripts/demo-iwa.mjs --bundle FILE.swbn [--port N] [--headful] [--screenshot FILE]\n`);
  process.exit(2);
}

const opts = { port: 4433, headful: false, screenshot: null, bundle: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => { const v = argv[++i]; if (v === undefined) usage(`${a} needs a value`); return v; };
  if (a === '--bundle') opts.bundle = path.resolve(val());
  else if (a === '--port') opts.port = Number(val());
  else if (a === '--headful') opts.headful = true;
  else if (a === '--screenshot') opts.screenshot = path.resolve(val());
  else usage(`unknown flag ${a}`);
}
if (!opts.bundle || !fs.existsSync(opts.bundle)) usage(`--bundle ${opts.bundle} does not exist (npm run build:swbn builds it)`);
if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) usage(`--port must be 1-65535, got ${opts.port}`);

const clientPage = `<!doctype html><meta charset="utf-8"><title>WebTransport client (ordinary page)</title>
<p>An ordinary http://127.0.0.1 page: its new WebTransport() talks to the server inside the IWA.</p>`;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'socket-iwa-demo-'));
// Where the time goes: each step's wall time, printed at the end (scripts/demo.sh adds its own).
const laps = [];
let lapAt = performance.now();
const lap = (what) => { const t = performance.now(); laps.push(`${what} ${((t - lapAt) / 1000).toFixed(1)} s`); lapAt = t; };
let iwa;
let pageServer;
try {
  const t0 = Date.now();
  iwa = await launchIwa({ bundle: opts.bundle, headless: !opts.headful, timeoutMs: 120000 });
  await iwa.page.setViewportSize({ width: 1280, height: 900 });
  const installMs = Date.now() - t0;
  lap('Chromium + install');
  let id;
  try {
    id = await iwa.call('/app.js', 'startServer', { kind: 'quic', address: '127.0.0.1', port: opts.port });
  } catch (e) {
    throw new Error(`${e.message}\nIs UDP port ${opts.port} busy? Choose another: PORT=${opts.port + 1} bash scripts/demo.sh`);
  }
  const server = (await iwa.call('/app.js', 'snapshot')).find((s) => s.id === id);
  const pin = server.certSha256;
  console.log(`signed bundle ${path.relative(process.cwd(), opts.bundle)}: signature verified, web bundle ID ${iwa.webBundleId} (from the signing key)`);
  console.log(`installed (dev-mode route, origin ${iwa.origin}; see docs/IWA_APP.md) and opened in ${installMs} ms`);
  console.log(`server inside it: udp ${server.address}, ALPN echo + h3, certificate SHA-256 ${pin}`);
  lap('server start');

  const client = path.join(root, 'target/release/socket-iwa-client');
  const session = path.join(work, 'session.json');
  const native = async () => JSON.parse((await run(client, ['--connect', `127.0.0.1:${opts.port}`, '--cert-hash', pin, '--session', session,
    '--bytes', '16384', '--json', '--timeout', '30'], { timeout: 60000 })).stdout.trim().split('\n').pop());
  const first = await native();
  const second = await native();
  lap('native client x2');

  // Chromium's WebTransport from an ordinary page in the same browser.
  pageServer = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end(clientPage); });
  await new Promise((r) => pageServer.listen(0, '127.0.0.1', r));
  const page = await iwa.context.newPage();
  await page.goto(`http://127.0.0.1:${pageServer.address().port}/`);
  const wt = await page.evaluate(async ({ url, pin }) => {
    const value = Uint8Array.from(pin.match(/../g), (h) => parseInt(h, 16));
    const t = performance.now();
    const s = new WebTransport(url, { serverCertificateHashes: [{ algorithm: 'sha-256', value }] });
    await s.ready;
    const ready = performance.now() - t;
    const bidi = await s.createBidirectionalStream();
    const w = bidi.writable.getWriter();
    const r = bidi.readable.getReader();
    const t2 = performance.now();
    await w.write(new Uint8Array(16384).fill(7));
    await w.close();
    const { value: chunk } = await r.read();
    const firstByte = performance.now() - t2 + ready;
    let got = chunk ? chunk.length : 0;
    for (;;) { const x = await r.read(); if (x.done) break; got += x.value.length; }
    s.close();
    return { handshake_ms: ready, first_byte_ms: firstByte, echoed: got };
  }, { url: `https://127.0.0.1:${opts.port}/wt/echo`, pin });
  await page.close();
  lap('WebTransport page');

  const rows = [
    ['socket-iwa-client: full handshake', 'native (this machine)', first.handshake_ms, first.first_byte_ms, first.early_data, first.verified],
    ['socket-iwa-client: resumed (ticket)', 'native (this machine)', second.handshake_ms, second.first_byte_ms, second.early_data, second.verified],
    ['new WebTransport() in a page', 'Chromium (ordinary page)', wt.handshake_ms, wt.first_byte_ms, 'n/a', wt.echoed === 16384],
  ];
  const pad = (v, n, right) => (right ? String(v).padStart(n) : String(v).padEnd(n));
  console.log();
  console.log(`server: socket-iwa-server (wasm) inside the IWA, on Chromium's Direct Sockets, udp 127.0.0.1:${opts.port}`);
  console.log(`${pad('client', 38)}${pad('runs in', 27)}${pad('handshake ms', 14, true)}${pad('first byte ms', 15, true)}${pad('0-RTT', 10, true)}${pad('verified', 10, true)}`);
  for (const [who, where, hs, fb, z, v] of rows) {
    console.log(`${pad(who, 38)}${pad(where, 27)}${pad(Number(hs).toFixed(2), 14, true)}${pad(Number(fb).toFixed(2), 15, true)}${pad(z, 10, true)}${pad(String(v), 10, true)}`);
  }
  console.log('\n"verified": the native client pinned the certificate hash the server printed; Chromium checked it through');
  console.log('serverCertificateHashes and the 16 KiB stream came back intact. The resumed connection sent its request as 0-RTT.');
  const ok = first.verified && second.verified && second.early_data === 'accepted' && wt.echoed === 16384;

  // The app samples the server once a second: wait (at most 5 s) until its view holds the traffic just made.
  for (let i = 0; i < 50; i++) {
    const [s] = await iwa.call('/app.js', 'snapshot');
    if (s && s.totals.bytesIn > 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // The app draws once a second from a timer, which Chromium throttles while the ordinary
  // page used for WebTransport is in front: bring the app back, then let it draw.
  // Its next draw rewrites the totals line (even with the same text): wait for that
  // mutation (at most 2.5 s, a draw is due within 1 s), then for one painted frame.
  await iwa.page.bringToFront();
  await iwa.page.evaluate(() => new Promise((resolve) => {
    const el = document.querySelector('.totals');
    const done = () => { obs.disconnect(); clearTimeout(t); requestAnimationFrame(() => resolve()); };
    const obs = new MutationObserver(done);
    const t = setTimeout(done, 2500);
    if (el) obs.observe(el, { childList: true, characterData: true, subtree: true });
  }));
  if (opts.headful) {
    console.log('\n--headful: the demo IWA stays open; start more servers from it. Ctrl-C ends the demo.');
    await new Promise((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve); });
  } else {
    const shot = opts.screenshot || path.join(root, '.test-output', 'demo', 'socket-iwa-demo.png');
    fs.mkdirSync(path.dirname(shot), { recursive: true });
    await iwa.page.screenshot({ path: shot, fullPage: true });
    console.log(`\nscreenshot of the demo IWA: ${shot}`);
    lap('app view + screenshot');
    console.log(`browser part: ${laps.join(', ')}`);
  }
  if (!ok) { console.error('demo: a check failed (see the table)'); process.exitCode = 1; }
} catch (e) {
  console.error(`demo: ${e.message}`);
  process.exitCode = 1;
} finally {
  if (pageServer) pageServer.close();
  if (iwa) await iwa.close();
  fs.rmSync(work, { recursive: true, force: true });
}
