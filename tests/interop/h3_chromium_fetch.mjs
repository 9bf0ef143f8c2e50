// Chromium's own HTTP/3 stack against a Socket.IWA h3 server:
//   node tests/interop/h3_chromium_fetch.mjs <port> <spki_sha256_base64>
// QUIC is forced for https://127.0.0.1:PORT (--origin-to-force-quic-on) and the
// self-signed certificate is allowed by its SPKI hash
// (--ignore-certificate-errors-spki-list). The page is loaded from our server,
// then fetch() GETs /bytes/N and POSTs /echo on the same origin. Prints one JSON object.
import { firstPage, runChromium } from './chromium_h3.mjs';

const [port, spki] = process.argv.slice(2);
const origin = `127.0.0.1:${port}`;

await runChromium({ name: 'h3-fetch', quicOrigin: origin, spki }, async ({ context }) => {
  const page = await firstPage(context);
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
  return out;
});
