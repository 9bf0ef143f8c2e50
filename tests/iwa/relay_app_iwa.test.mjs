// Issue 10's relay test app (tests/js_servers/relay_app.js, not the demo) inside a real installed
// Isolated Web App in headless Chromium, on the browser's own Direct Sockets: first in the IWA
// page, then in a dedicated module worker of the IWA (the "WebTransport server in a dedicated
// worker"). Clients: two more Chromium pages of the same browser (plain http://127.0.0.1 pages,
// not the IWA) with `new WebTransport(url, { serverCertificateHashes })` that see each other's
// broadcasts; one of them fetch()es over HTTP/3; aioquic's HTTP/3 client for GET/POST,
// WebTransport and WebSocket over HTTP/3 (tests/interop/relay_peers.py); lines cross between
// Chromium's and aioquic's sessions both ways.
// The certificate is made here (openssl, ECDSA P-256, 13 days) so Chromium can be given its
// SPKI hash and QUIC forced for the ports at launch (fetch over HTTP/3); WebTransport still
// pins it with serverCertificateHashes from the server's certificateHashes.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { relayBetweenPages, callPage } from '../interop/h3_chromium_relay.mjs';
import { freeUdpPort, launchJsServersIwa, makeCertificate, quicArgs, root } from './js_servers_iwa.mjs';

const run = promisify(execFile);
const PAGE_APP = '/t/relay_iwa_page.js';
const CLIENT = '/t/relay_client.js';
const MiB = 1 << 20;
let iwa;
let tmp;
let cert;
let key;
let ports;
let pages = [];

async function aioquic(port, ...what) {
  const { stdout } = await run('python3', [path.join(root, 'tests/interop/relay_peers.py'), String(port), ...what], { timeout: 100000 });
  return JSON.parse(stdout.trim().split('\n').pop());
}

/** `relay_peers.py PORT hold LINES`: runs `during()` once its session has joined; its JSON and during()'s result. */
function holdWhile(port, lines, during) {
  return new Promise((resolve, reject) => {
    const py = spawn('python3', [path.join(root, 'tests/interop/relay_peers.py'), String(port), 'hold', ...lines], { stdio: ['ignore', 'pipe', 'pipe'] });
    const t = setTimeout(() => { py.kill(); reject(new Error('relay_peers.py hold timed out')); }, 90000);
    let out = '';
    let err = '';
    let ran = null;
    py.stderr.on('data', (d) => { err += d; });
    py.stdout.on('data', (d) => {
      out += d;
      if (!ran && out.includes('"joined"')) ran = during().catch((e) => { py.kill(); reject(e); });
    });
    py.on('close', async (code) => {
      clearTimeout(t);
      if (code !== 0 || !ran) return reject(new Error(`relay_peers.py hold: exit ${code}: ${err}`));
      resolve({ during: await ran, py: JSON.parse(out.trim().split('\n').pop()) });
    });
  });
}

const upper = (lines) => lines.map((l) => l.toUpperCase());

/** The relay between the two pages: each line answered upper-cased, each page sees the other's lines and never its own. */
function checkRelay(r) {
  assert.deepEqual(r.joins, [['JOIN A'], ['JOIN B']], JSON.stringify(r));
  assert.deepEqual(r.answers, r.sent.map(upper), JSON.stringify(r));
  r.datagrams.forEach((got, i) => {
    const other = r.sent[1 - i];
    const seen = other.filter((m) => got.includes(m)).length;
    // Datagrams are unreliable; on loopback all arrive (one may be lost on a loaded machine).
    assert.ok(seen >= other.length - 1, `page ${r.names[i]} saw ${seen} of ${other.length} of the other page's lines: ${JSON.stringify(got)}`);
    assert.ok(!got.some((m) => r.sent[i].includes(m) || m === `join ${r.names[i]}`), `page ${r.names[i]} got its own line back: ${JSON.stringify(got)}`);
  });
}

function checkAioquic(py) {
  assert.deepEqual(py.http, { hello: [200, 'hello py'], sum: [200, { bytes: MiB }], sum_small: [200, { bytes: 5 }], missing: 404 }, JSON.stringify(py));
  const wt = py.wt;
  assert.deepEqual(wt.joins, [['JOIN PY1'], ['JOIN PY2']], JSON.stringify(wt));
  assert.deepEqual(wt.answers, wt.sent.map(upper), JSON.stringify(wt));
  assert.ok(wt.sent[1].every((m) => wt.datagrams[0].includes(m)), `py1 did not get py2's lines: ${JSON.stringify(wt)}`);
  assert.ok(wt.sent[0].every((m) => wt.datagrams[1].includes(m)), `py2 did not get py1's lines: ${JSON.stringify(wt)}`);
  assert.ok(!wt.datagrams[0].some((m) => wt.sent[0].includes(m) || m === 'join py1'), JSON.stringify(wt));
  assert.ok(!wt.datagrams[1].some((m) => wt.sent[1].includes(m) || m === 'join py2'), JSON.stringify(wt));
  assert.deepEqual(py.ws, { status: 200, messages: ['desserts', 'dlröw olléh'] }, JSON.stringify(py));
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'siwa-relay-'));
  let spki;
  ({ cert, key, spki } = makeCertificate(tmp));
  ports = [await freeUdpPort(), await freeUdpPort()];
  iwa = await launchJsServersIwa({ args: quicArgs(ports, spki) });
  // Two more tabs of the same browser, on the app server's plain http://127.0.0.1 URL (a secure
  // context, not the isolated-app:// origin): the WebTransport clients.
  pages = [await iwa.context.newPage(), await iwa.context.newPage()];
  for (const p of pages) {
    await p.goto(`${iwa.devUrl}/index.html`, { timeout: 30000 });
    assert.equal(await p.evaluate(() => [location.protocol, self.isSecureContext, typeof WebTransport].join()), 'http:,true,function');
  }
});

after(async () => {
  if (iwa) await iwa.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('IWA page: the relay app; two Chromium pages relay through it, Chromium fetch() over HTTP/3, aioquic GET/POST/WebTransport/WebSocket', async () => {
  const info = await iwa.call(PAGE_APP, 'start', { port: ports[0], cert, key });
  assert.equal(info.port, ports[0]);
  assert.deepEqual(info.certificateHashes, [crypto.createHash('sha256').update(new crypto.X509Certificate(cert).raw).digest('hex')]);

  const r = await relayBetweenPages(pages, { url: `https://127.0.0.1:${info.port}/relay`, hashes: info.certificateHashes, clientModule: CLIENT });
  checkRelay(r);

  const f = await callPage(pages[0], CLIENT, 'fetchChecks', { base: `https://127.0.0.1:${info.port}`, sumBytes: MiB });
  assert.deepEqual(f, { hello: [200, 'hello x'], sum: [200, { bytes: MiB }], protocols: ['h3'] });

  // aioquic while both pages' sessions are still open: its lines reach the pages too.
  const py = await aioquic(info.port, 'http', 'wt', 'ws');
  checkAioquic(py);
  for (const [i, p] of pages.entries()) {
    const got = await callPage(p, CLIENT, 'waitFor', py.wt.sent.flat(), 5000);
    assert.ok(py.wt.sent.flat().filter((m) => got.includes(m)).length >= 2, `page ${i} did not see aioquic's lines: ${JSON.stringify(got)}`);
  }
  // And the other way: an aioquic session holds on while the pages write; it gets their lines.
  const toPy = ['page A to aioquic', 'page B to aioquic'];
  const held = await holdWhile(info.port, toPy, () => Promise.all(pages.map((p, i) => callPage(p, CLIENT, 'send', [toPy[i]]))));
  assert.deepEqual(held.during, toPy.map((m) => [m.toUpperCase()]), JSON.stringify(held));
  assert.deepEqual(held.py.join, ['JOIN PY-HOLD'], JSON.stringify(held));
  assert.ok(toPy.every((m) => held.py.datagrams.includes(m)), `aioquic did not get the pages' lines: ${JSON.stringify(held)}`);
  assert.deepEqual(held.py.answer, ['PY-HOLD SAYS HI'], JSON.stringify(held));
  for (const p of pages) assert.ok((await callPage(p, CLIENT, 'waitFor', ['py-hold says hi'], 5000)).includes('py-hold says hi'));
  for (const p of pages) assert.deepEqual(await callPage(p, CLIENT, 'close'), { closeCode: 0, reason: 'done' });

  // Pages: 2 joins + 10 + 2 lines; aioquic: 2 joins + 3 lines, then 1 join + 1 line. Sessions: 2 pages + 3 aioquic.
  const stats = await iwa.call(PAGE_APP, 'stats');
  assert.equal(stats.messages, 21, JSON.stringify(stats));
  assert.equal(stats.sessions, 5, JSON.stringify(stats));
  assert.equal(stats.wsMessages, 2, JSON.stringify(stats));
  assert.deepEqual(stats.errors, [], JSON.stringify(stats));
  assert.equal(await iwa.call(PAGE_APP, 'stop'), 'closed');
});

test('IWA dedicated worker: the same relay app in a module worker; two Chromium pages see each other\'s broadcasts; aioquic GET', async () => {
  const info = await iwa.call(PAGE_APP, 'startWorker', { port: ports[1], cert, key });
  assert.equal(info.worker, true, JSON.stringify(info));
  assert.equal(info.port, ports[1]);
  const r = await relayBetweenPages(pages, { url: `https://127.0.0.1:${info.port}/relay`, hashes: info.certificateHashes, clientModule: CLIENT });
  checkRelay(r);
  const py = await aioquic(info.port, 'get');
  assert.deepEqual(py.get, [200, 'hello py'], JSON.stringify(py));
  const f = await callPage(pages[1], CLIENT, 'fetchChecks', { base: `https://127.0.0.1:${info.port}`, sumBytes: MiB });
  assert.deepEqual(f, { hello: [200, 'hello x'], sum: [200, { bytes: MiB }], protocols: ['h3'] });
  for (const p of pages) assert.deepEqual(await callPage(p, CLIENT, 'close'), { closeCode: 0, reason: 'done' });
  const stats = await iwa.call(PAGE_APP, 'workerStats');
  assert.equal(stats.messages, 12, JSON.stringify(stats));
  assert.equal(stats.sessions, 2, JSON.stringify(stats));
  assert.deepEqual(stats.errors, [], JSON.stringify(stats));
  assert.equal(await iwa.call(PAGE_APP, 'stopWorker'), true);
});
