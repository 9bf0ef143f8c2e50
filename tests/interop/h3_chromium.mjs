// Chromium's own WebTransport client against a Socket.IWA h3 server:
//   node tests/interop/h3_chromium.mjs <port> <cert_sha256_hex>
// Serves a blank page on http://127.0.0.1 (a secure context), opens
// new WebTransport('https://127.0.0.1:PORT/wt/echo', {serverCertificateHashes})
// in headless Chromium and exchanges datagrams, a bidi stream and a uni stream,
// then closes the session with a code. Prints one JSON object.
import { firstPage, runChromium } from './chromium_h3.mjs';

const [port, hash] = process.argv.slice(2);

await runChromium({ name: 'h3-chromium', pages: {} }, async ({ context, pageUrl }) => {
  const page = await firstPage(context);
  await page.goto(pageUrl);
  return page.evaluate(async ({ port, hash }) => {
    const value = new Uint8Array(hash.match(/../g).map((h) => parseInt(h, 16)));
    const out = {};
    const wt = new WebTransport(`https://127.0.0.1:${port}/wt/echo`, {
      serverCertificateHashes: [{ algorithm: 'sha-256', value }],
    });
    await wt.ready;
    out.ready = true;
    const readAll = async (readable) => {
      const r = readable.getReader();
      const chunks = [];
      for (;;) { const { value, done } = await r.read(); if (done) break; chunks.push(...value); }
      return new TextDecoder().decode(new Uint8Array(chunks));
    };
    // Datagrams: unreliable, so resend (bounded) until one echo arrives.
    const dw = wt.datagrams.writable.getWriter();
    const dr = wt.datagrams.readable.getReader();
    let echo = null;
    for (let i = 0; i < 20 && echo === null; i++) {
      await dw.write(new TextEncoder().encode('chromium-datagram'));
      echo = await Promise.race([dr.read().then((x) => new TextDecoder().decode(x.value)),
        new Promise((r) => setTimeout(() => r(null), 200))]);
    }
    out.datagram = echo;
    const bidi = await wt.createBidirectionalStream();
    const bw = bidi.writable.getWriter();
    await bw.write(new TextEncoder().encode('x'.repeat(100000)));
    await bw.close();
    out.bidi_len = (await readAll(bidi.readable)).length;
    const uni = await wt.createUnidirectionalStream();
    const uw = uni.getWriter();
    await uw.write(new TextEncoder().encode('chromium-uni'));
    await uw.close();
    const incoming = await wt.incomingUnidirectionalStreams.getReader().read();
    out.uni = await readAll(incoming.value);
    wt.close({ closeCode: 7, reason: 'bye' });
    const closed = await wt.closed;
    out.closed = { closeCode: closed.closeCode, reason: closed.reason };
    return out;
  }, { port, hash });
});
