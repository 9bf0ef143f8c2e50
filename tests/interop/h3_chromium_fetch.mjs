// Chromium's own HTTP/3 stack against a Socket.IWA h3 server:
//   node tests/interop/h3_chromium_fetch.mjs <port> <spki_sha256_base64>
// QUIC is forced for https://127.0.0.1:PORT (--origin-to-force-quic-on) and the
// self-signed certificate is allowed by its SPKI hash
// (--ignore-certificate-errors-spki-list). The page is loaded from our server,
// then fetch() GETs /bytes/N and POSTs /echo on the same origin. Prints one JSON object.
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const [port, spki] = process.argv.slice(2);
const origin = `127.0.0.1:${port}`;
const userDataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'socket-iwa-h3-fetch-'));
const timer = setTimeout(() => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(3); }, 60000);
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.SOCKET_IWA_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--enable-quic',
      `--origin-to-force-quic-on=${origin}`, `--ignore-certificate-errors-spki-list=${spki}`],
  });
  const page = context.pages()[0] || await context.newPage();
  const resp = await page.goto(`https://${origin}/`);
  const out = { page_status: resp.status(), page_text: (await page.textContent('h1')) };
  Object.assign(out, await page.evaluate(async () => {
    const r = {};
    const get = await fetch('/bytes/100000');
    const body = new Uint8Array(await get.arrayBuffer());
    r.get_status = get.status;
    r.get_len = body.length;
    r.get_ok = body.every((b, i) => b === (i * 31) % 251);
    const sent = new Uint8Array(50000).map((_, i) => (i * 7) & 255);
    const post = await fetch('/echo', { method: 'POST', body: sent });
    const back = new Uint8Array(await post.arrayBuffer());
    r.post_status = post.status;
    r.post_ok = back.length === sent.length && back.every((b, i) => b === sent[i]);
    r.missing_status = (await fetch('/missing')).status;
    r.protocols = [...new Set(performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation'))
      .map((e) => e.nextHopProtocol))];
    return r;
  }));
  console.log(JSON.stringify(out));
} catch (e) {
  console.log(JSON.stringify({ error: String(e && e.message || e) }));
} finally {
  clearTimeout(timer);
  if (context) await context.close();
  await fsp.rm(userDataDir, { recursive: true, force: true });
}
