// The demo app (iwa/index.html + app.js) from the signed web bundle, in headless
// Chromium: start the wasm QUIC/HTTP/3 server and a UDP echo from the app's own
// functions, then connect real clients: Chromium's WebTransport from an ordinary
// page (iwa/join.html, the "join from another browser" page, held open),
// our native socket-iwa-client, and Node's dgram. The page must show them in its
// tables with real numbers (peer, ALPN, bytes, RTT) and non-zero rates; a
// screenshot is written to .test-output/iwa-demo/demo-app.png (path printed).
// The join page as the wasm server in the IWA serves it over HTTP/3 (--static):
// a second, ordinary Chromium started with the two flags the card shows opens the
// card's link and its WebTransport session echoes.
//
// Timing: nothing here depends on speed. Every wait polls for a condition with a
// generous bound (30 s for data that arrives within ~1-2 s when idle), because
// the CPU is shared with other jobs.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { launchIwa, readSignedBundle } from '../harness/iwa.js';
import { signedBundle } from './signed_bundle.mjs';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const client = path.join(root, 'target/release/socket-iwa-client');
const outDir = path.join(root, '.test-output/iwa-demo');

let iwa;
let joinServer;
let joinPage;

async function until(what, fn, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}; console: ${iwa.consoleLines.slice(-20).join(' | ')}`);
}

/** Starts a server from the app on a free port (Direct Sockets cannot bind port 0: try a few random ones). */
async function startFromApp(kind) {
  let lastErr;
  for (let i = 0; i < 6; i++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    try {
      const id = await iwa.call('/app.js', 'startServer', { kind, address: '127.0.0.1', port });
      return { id, port };
    } catch (e) { lastErr = e; }
  }
  throw lastErr;
}

const snapshot = () => iwa.call('/app.js', 'snapshot');

before(async () => {
  iwa = await launchIwa({ bundle: await signedBundle(), timeoutMs: 120000 });
  await iwa.page.setViewportSize({ width: 1024, height: 768 });
  // The join page as an ordinary http://127.0.0.1 page (what a second machine would open).
  joinServer = http.createServer((req, res) => {
    const name = path.basename(new URL(req.url, 'http://x').pathname);
    if (!['join.html', 'join.js'].includes(name)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': name.endsWith('.js') ? 'text/javascript' : 'text/html' });
    res.end(fs.readFileSync(path.join(root, 'iwa', name)));
  });
  await new Promise((r) => joinServer.listen(0, '127.0.0.1', r));
});

after(async () => {
  if (joinPage) await joinPage.close().catch(() => {});
  if (joinServer) await new Promise((r) => joinServer.close(r));
  if (iwa) await iwa.close();
});

test('the signed bundle installs: the app page, its manifest and the wasm are all from the verified .swbn', async () => {
  assert.match(iwa.webBundleId, /^[a-z2-7]{56}$/);
  assert.ok(iwa.bundleFiles >= 10, `bundle holds ${iwa.bundleFiles} files`);
  const env = await iwa.evaluate(() => document.getElementById('env').dataset.ok);
  assert.equal(env, 'true');
});

test('a signed bundle with one byte changed, or signed by another key than its ID says, is refused', async () => {
  const file = await signedBundle();
  const good = await readSignedBundle(file);
  assert.ok(good.files['/index.html'] && good.files['/wasm/socket_iwa_server.wasm'] && good.files['/api/direct_sockets_api.js']);
  const bytes = fs.readFileSync(file);
  fs.mkdirSync(path.join(root, '.test-output'), { recursive: true }); // a fresh clone has none yet
  const tmp = fs.mkdtempSync(path.join(root, '.test-output', 'swbn-'));
  try {
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 5000] ^= 1; // inside the web bundle, after the integrity block
    fs.writeFileSync(path.join(tmp, 'flipped.swbn'), flipped);
    await assert.rejects(readSignedBundle(path.join(tmp, 'flipped.swbn')), /signature 0 does not verify/);
    const other = Buffer.from(bytes);
    const id = Buffer.from(good.webBundleId);
    const at = other.indexOf(id);
    other[at] = other[at] === 0x61 ? 0x62 : 0x61; // a different web bundle ID in the integrity block
    fs.writeFileSync(path.join(tmp, 'other-id.swbn'), other);
    await assert.rejects(readSignedBundle(path.join(tmp, 'other-id.swbn')), /does not verify|not the signing key's/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('demo app: servers started from the UI show live connections, bytes, RTT and rates; screenshot kept', async () => {
  const quic = await startFromApp('quic');
  const udp = await startFromApp('udp');
  const snap0 = await snapshot();
  const q0 = snap0.find((s) => s.id === quic.id);
  assert.equal(q0.state, 'listening');
  assert.match(q0.certSha256, /^[0-9a-f]{64}$/);
  const snippet = await iwa.evaluate((id) => document.querySelector(`#server-${id} .snippet`).value, quic.id);
  assert.ok(snippet.includes(`new WebTransport('https://127.0.0.1:${quic.port}/wt/echo'`) && snippet.includes(q0.certSha256), snippet);

  // The snippet as shown, pasted into an ordinary page (what the card tells a user to do).
  const plain = await iwa.context.newPage();
  await plain.goto(`http://127.0.0.1:${joinServer.address().port}/join.html`);
  const pasted = await plain.evaluate(async (code) => {
    const AsyncFunction = (async () => {}).constructor;
    const logged = [];
    const orig = console.log;
    console.log = (...a) => { logged.push(a.join(' ')); orig(...a); };
    try { await new AsyncFunction(code)(); } finally { console.log = orig; }
    return logged;
  }, snippet);
  await plain.close();
  assert.deepEqual(pasted, ['WebTransport session to the IWA is up']);

  // Chromium's WebTransport from the join page, held open (a datagram a second).
  joinPage = await iwa.context.newPage();
  const url = `https://127.0.0.1:${quic.port}/wt/echo`;
  await joinPage.goto(`http://127.0.0.1:${joinServer.address().port}/join.html?url=${encodeURIComponent(url)}&hash=${q0.certSha256}`);
  await joinPage.click('#go');
  await until('the join page to connect', async () => /connected in .* stream echoed 24\/24/.test(await joinPage.textContent('#out')));

  // Native QUIC clients and a UDP client produce traffic while we watch (bounded: 6 rounds).
  const udpClient = dgram.createSocket('udp4');
  const traffic = (async () => {
    for (let i = 0; i < 6; i++) {
      const r = await run(client, ['--connect', `127.0.0.1:${quic.port}`, '--cert-hash', q0.certSha256, '--bytes', '400000', '--json', '--timeout', '60'], { timeout: 90000 });
      assert.equal(JSON.parse(r.stdout.trim().split('\n').pop()).verified, true);
      for (let k = 0; k < 20; k++) udpClient.send(Buffer.alloc(500, k), udp.port, '127.0.0.1');
      await new Promise((r2) => setTimeout(r2, 300));
    }
  })();
  const seen = await until('h3 session and traffic in the app', async () => {
    const s = await snapshot();
    const q = s.find((x) => x.id === quic.id);
    const u = s.find((x) => x.id === udp.id);
    const h3 = q.connections.find((c) => c.proto.startsWith('h3') && c.bytesIn > 0 && c.rttMs > 0);
    return h3 && q.rates.bytesIn > 0 && q.rows >= 1 && u.connections.length >= 1 && u.totals.bytesIn > 0 && u.rates.bytesIn > 0 ? { q, u, h3 } : null;
  });
  await traffic;
  udpClient.close();
  // The totals count closed connections too: after the six 400 kB uploads they hold at least that much
  // (the snapshot above may be older than the first upload).
  await until('the totals to include the six uploads', async () => {
    const q = (await snapshot()).find((x) => x.id === quic.id);
    return q.totals.bytesIn >= 6 * 400000 ? q : null;
  });

  // What the page shows: table rows with real numbers.
  const rows = await iwa.evaluate((id) => [...document.querySelectorAll(`#server-${id} .conns tbody tr[data-peer]`)]
    .map((tr) => [...tr.cells].map((td) => td.textContent)), quic.id);
  assert.ok(rows.some((r) => r[1].startsWith('h3') && /\d/.test(r[3]) && /ms$/.test(r[5])), JSON.stringify(rows));
  const chartLabel = await iwa.evaluate((id) => document.querySelector(`#server-${id} .chart-bytes`).getAttribute('aria-label'), quic.id);
  assert.match(chartLabel, /^Bytes: in \S+/);

  fs.mkdirSync(outDir, { recursive: true });
  const png = path.join(outDir, 'demo-app.png');
  await iwa.page.screenshot({ path: png, fullPage: true });
  console.log(`demo app screenshot: ${png}`);
  assert.ok(fs.statSync(png).size > 10000);

  // Stop from the app: the server's port is free again (a second start on it succeeds).
  await iwa.call('/app.js', 'stopServer', quic.id);
  const after = (await snapshot()).find((s) => s.id === quic.id);
  assert.equal(after.state, 'stopped');
  const again = await iwa.call('/app.js', 'startServer', { kind: 'quic', address: '127.0.0.1', port: quic.port });
  assert.equal((await snapshot()).find((s) => s.id === again).state, 'listening');
});

test('demo app: the QUIC server serves the join page over HTTP/3; a second Chromium opens the card\'s link and its WebTransport session echoes', async () => {
  const quic = await startFromApp('quic');
  const q = (await snapshot()).find((s) => s.id === quic.id);
  assert.match(q.spkiSha256, /^[A-Za-z0-9+/]{43}=$/);
  assert.equal(q.joinUrl, `https://127.0.0.1:${quic.port}/join.html#hash=${q.certSha256}`);
  const card = await iwa.evaluate((id) => ({
    link: document.querySelector(`#server-${id} .join-link`).textContent,
    cmd: document.querySelector(`#server-${id} .join-cmd`).value,
    label: document.querySelector(`#server-${id} .join-cmd`).labels[0].textContent,
  }), quic.id);
  assert.equal(card.link, q.joinUrl);
  const flags = [`--origin-to-force-quic-on=127.0.0.1:${quic.port}`, `--ignore-certificate-errors-spki-list=${q.spkiSha256}`];
  assert.ok(flags.every((f) => card.cmd.includes(f)) && card.cmd.includes(`'${q.joinUrl}'`) && card.label, JSON.stringify(card));

  // Another browser: no IWA, no Direct Sockets, only the card's two flags.
  const { chromium } = createRequire(import.meta.url)('playwright-core');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'socket-iwa-join-'));
  const other = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.SOCKET_IWA_CHROMIUM || '/usr/bin/chromium', headless: true, timeout: 60000,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-dev-shm-usage', '--enable-quic', ...flags],
  });
  try {
    const page = other.pages()[0] || await other.newPage();
    const resp = await page.goto(q.joinUrl, { timeout: 60000 });
    assert.equal(resp.status(), 200);
    assert.equal(resp.headers()['content-type'], 'text/html; charset=utf-8');
    assert.equal(await page.textContent('h1'), 'Join a Socket.IWA server');
    // The page and its script came over HTTP/3 from the wasm server in the IWA.
    const protocols = await page.evaluate(() => [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
      .map((e) => `${new URL(e.name).pathname} ${e.nextHopProtocol}`));
    assert.deepEqual(protocols.filter((p) => p.startsWith('/join.')).sort(), ['/join.html h3', '/join.js h3'], JSON.stringify(protocols));
    // HEAD from the page: the file's length, no body.
    const head = await page.evaluate(async () => {
      const r = await fetch('/join.js', { method: 'HEAD' });
      return { status: r.status, type: r.headers.get('content-type'), length: r.headers.get('content-length'), body: (await r.text()).length };
    });
    assert.deepEqual(head, { status: 200, type: 'text/javascript; charset=utf-8', length: String(fs.statSync(path.join(root, 'iwa/join.js')).size), body: 0 });
    assert.equal(await page.inputValue('#url'), `https://127.0.0.1:${quic.port}/wt/echo`);
    assert.equal(await page.inputValue('#hash'), q.certSha256);
    // It connected by itself (hash in the fragment): stream echoed, then datagrams echoed (one a second).
    await until('the served join page\'s WebTransport session to echo', async () =>
      /connected in .* stream echoed 24\/24 bytes; datagrams [1-9]\d*\/\d+ echoed/.test(await page.textContent('#out')));
    // The server in the IWA lists the page's connections.
    await until('the join page\'s connections in the card', async () => {
      const s = (await snapshot()).find((x) => x.id === quic.id);
      return s.connections.some((c) => c.proto.startsWith('h3') && c.bytesIn > 0);
    });
  } finally {
    await other.close().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await iwa.call('/app.js', 'stopServer', quic.id);
});

test('demo app: WebSocket, TCP and Socket.IO servers started from the UI echo stock clients and count them', async () => {
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  const WebSocket = require('ws');
  const { io } = require('socket.io-client');
  const net = await import('node:net');
  const ws = await startFromApp('websocket');
  const tcp = await startFromApp('tcp');
  const sio = await startFromApp('socketio');

  const wsEcho = await new Promise((resolve, reject) => {
    const c = new WebSocket(`ws://127.0.0.1:${ws.port}/`);
    c.on('open', () => c.send('hello over websocket'));
    c.on('message', (d) => { resolve(String(d)); });
    c.on('error', reject);
    setTimeout(() => reject(new Error('websocket echo timed out')), 30000);
    ws.client = c;
  });
  assert.equal(wsEcho, 'hello over websocket');
  const tcpEcho = await new Promise((resolve, reject) => {
    const c = net.connect(tcp.port, '127.0.0.1', () => c.write('hello over tcp'));
    let got = '';
    c.on('data', (d) => { got += d; if (got.length >= 14) resolve(got); });
    c.on('error', reject);
    setTimeout(() => reject(new Error('tcp echo timed out')), 30000);
    tcp.client = c;
  });
  assert.equal(tcpEcho, 'hello over tcp');
  const sioClient = io(`http://127.0.0.1:${sio.port}`, { transports: ['websocket'], reconnection: false });
  const ack = await sioClient.timeout(30000).emitWithAck('echo', { n: 42 });
  assert.deepEqual(ack, { n: 42 });

  const snap = await until('the three servers to list their clients', async () => {
    const s = await snapshot();
    const get = (id) => s.find((x) => x.id === id);
    const all = [get(ws.id), get(tcp.id), get(sio.id)];
    return all.every((x) => x.connections.length === 1 && x.totals.bytesIn > 0 && x.totals.bytesOut > 0 && x.rows === 1) ? all : null;
  });
  assert.equal(snap[0].connections[0].proto, 'websocket');
  assert.equal(snap[1].totals.bytesIn, 14);
  assert.equal(snap[2].connections[0].proto, 'socket.io');

  ws.client.close(); tcp.client.destroy(); sioClient.close();
  await until('the closed clients to leave the tables', async () => {
    const s = await snapshot();
    return [ws.id, tcp.id, sio.id].every((id) => s.find((x) => x.id === id).connections.length === 0);
  });
  for (const x of [ws, tcp, sio]) await iwa.call('/app.js', 'stopServer', x.id);
});

test('demo app by keyboard: labelled form, Enter starts the server, focus moves to its card; fits 1024x768 without sideways scrolling', async () => {
  const page = iwa.page;
  const labels = await iwa.evaluate(() => [...document.querySelectorAll('#start-form input, #start-form select')]
    .filter((el) => !el.closest('[hidden]')).map((el) => (el.labels && el.labels[0] ? el.labels[0].textContent.trim() : null)));
  assert.ok(labels.length >= 3 && labels.every(Boolean), JSON.stringify(labels));
  const port = 20000 + Math.floor(Math.random() * 40000);
  await page.focus('#kind');
  await page.selectOption('#kind', 'udp');
  await page.keyboard.press('Tab');
  assert.equal(await iwa.evaluate(() => document.activeElement.id), 'address');
  await page.keyboard.press('Tab');
  assert.equal(await iwa.evaluate(() => document.activeElement.id), 'port');
  await page.keyboard.press('Control+A');
  await page.keyboard.type(String(port));
  await page.keyboard.press('Enter');
  const card = await until('the new server card to take focus', async () => iwa.evaluate(() => {
    const a = document.activeElement;
    return a && a.classList.contains('server') ? { title: a.querySelector('.server-title').textContent, state: a.querySelector('.state').textContent } : null;
  }));
  assert.ok(card.title.includes(`127.0.0.1:${port}`) && card.state === 'listening', JSON.stringify(card));
  const width = await iwa.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  assert.ok(width.scroll <= width.client, JSON.stringify(width));
});

test('demo app: a bad port is refused with a coded error', async () => {
  const err = await iwa.evaluate(() => import('/app.js').then((m) => m.startServer({ kind: 'udp', address: '127.0.0.1', port: 70000 })
    .then(() => null, (e) => ({ code: e.code, message: e.message }))));
  assert.equal(err.code, 'ERR_SOCKET_BAD_PORT');
  // Files for a wasm program's memory file system (how the join page gets there) are checked by name.
  const badFiles = await iwa.evaluate(() => import('/loader.js').then((m) => Promise.all([
    { 'relative/join.html': 'x' }, { '/srv/../etc/x': 'x' }, { '/srv/x': 42 }, ['/srv/x'],
  ].map((files) => m.start({ module: '/wasm/socket-iwa-server.js', files }).then(() => null, (e) => `${e.code}: ${e.message}`)))));
  assert.deepEqual(badFiles.map((e) => e && e.split(':')[0]), ['ERR_INVALID_ARG_VALUE', 'ERR_INVALID_ARG_VALUE', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_TYPE']);
  assert.ok(badFiles[0].includes('"relative/join.html"') && badFiles[2].includes('"/srv/x"'), JSON.stringify(badFiles));
  // Nothing the app did threw in the page (IWAs enforce Trusted Types and a strict CSP).
  assert.deepEqual(iwa.consoleLines.filter((l) => l.startsWith('pageerror') || /TrustedHTML|Content Security Policy/.test(l)), []);
});
