// Chromium pages as clients of the relay app (tests/js_servers/relay_app.js): each page is one
// `new WebTransport(url, { serverCertificateHashes })` (tests/js_servers/relay_client.js).
//
// As a module: relayBetweenPages(pages, { url, hashes, clientModule }) runs the relay between
// pages that already show a page serving `clientModule` (the IWA test's extra tabs).
// As a program (test_js_relay_app.py, the app under Node):
//   node tests/interop/h3_chromium_relay.mjs <port> <cert_sha256_hex> [<spki_sha256_base64>]
// launches a plain headless Chromium (not an IWA), serves a blank page on http://127.0.0.1 (a
// secure context) with the client module, runs the relay between two pages and, with the SPKI
// hash (QUIC forced for the port, the certificate allowed by it), fetch() over HTTP/3 from one
// page. Prints one JSON object.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstPage, runChromium } from './chromium_h3.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

/** page.evaluate of `fn(...args)` exported by the client module, bounded. */
export function callPage(page, clientModule, fn, ...args) {
  let t;
  const timeout = new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`page call ${fn} timed out`)), 40000); });
  return Promise.race([page.evaluate(async ({ m, fn, args }) => (await import(m))[fn](...args), { m: clientModule, fn, args }), timeout])
    .finally(() => clearTimeout(t));
}

/**
 * Each page opens a session and "joins" (a line answered upper-cased: the server has the
 * session), then every page writes `rounds` lines on one bidi stream at the same time and
 * waits for the other pages' lines as datagrams. Returns what each page got back.
 */
export async function relayBetweenPages(pages, { url, hashes, clientModule, rounds = 5, names = ['A', 'B', 'C', 'D'] }) {
  const call = (p, fn, ...args) => callPage(p, clientModule, fn, ...args);
  await Promise.all(pages.map((p) => call(p, 'open', { url, hashes })));
  const joins = await Promise.all(pages.map((p, i) => call(p, 'send', [`join ${names[i]}`])));
  const sent = pages.map((_, i) => Array.from({ length: rounds }, (_, k) => `message ${k} from page ${names[i]}`));
  const answers = await Promise.all(pages.map((p, i) => call(p, 'send', sent[i])));
  const datagrams = await Promise.all(pages.map((p, i) => call(p, 'waitFor', sent.filter((_, j) => j !== i).flat(), 5000)));
  return { names: names.slice(0, pages.length), joins, sent, answers, datagrams };
}

async function main() {
  const [port, hash, spki] = process.argv.slice(2);
  const m = '/t/relay_client.js';
  const pages = { [m]: ['text/javascript', fs.readFileSync(path.join(here, '../js_servers/relay_client.js'))] };
  await runChromium({ name: 'relay-chromium', timeoutMs: 100000, pages, quicOrigin: `127.0.0.1:${port}`, spki }, async ({ context, pageUrl }) => {
    const tabs = [await firstPage(context), await context.newPage()];
    await Promise.all(tabs.map((p) => p.goto(pageUrl)));
    const result = await relayBetweenPages(tabs, { url: `https://127.0.0.1:${port}/relay`, hashes: [hash], clientModule: m });
    if (spki) result.fetch = await callPage(tabs[0], m, 'fetchChecks', { base: `https://127.0.0.1:${port}`, sumBytes: 1 << 20 });
    result.closed = await Promise.all(tabs.map((p) => callPage(p, m, 'close')));
    return result;
  });
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
