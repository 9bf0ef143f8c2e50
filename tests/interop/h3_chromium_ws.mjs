// Chromium 156's own WebSocket over HTTP/3 (RFC 9220, behind the EnableWebsocketsOverHttp3
// feature) against a JavaScript server: node tests/interop/h3_chromium_ws.mjs <port> <spki_sha256_base64>
// QUIC is forced for https://127.0.0.1:PORT and the self-signed certificate is allowed
// by its SPKI hash; there is no TCP listener on the port, so a WebSocket that opens
// went over HTTP/3. The page comes from the server's fetch handler, then opens
// WebSockets to its 'websocket' listener. Prints one JSON object.
import { firstPage, runChromium } from './chromium_h3.mjs';

const [port, spki] = process.argv.slice(2);
const origin = `127.0.0.1:${port}`;

await runChromium({ name: 'h3-ws', timeoutMs: 90000, quicOrigin: origin, spki, features: ['EnableWebsocketsOverHttp3'] }, async ({ context }) => {
  const page = await firstPage(context);
  const resp = await page.goto(`https://${origin}/`);
  const out = { page_status: resp.status() };
  Object.assign(out, await page.evaluate(async () => {
    const open = (p) => new Promise((resolve, reject) => {
      const ws = new WebSocket(`wss://${location.host}${p}`);
      ws.binaryType = 'arraybuffer';
      ws.onopen = () => resolve(ws);
      ws.onerror = () => reject(new Error(`WebSocket ${p} failed`));
    });
    const next = (ws) => new Promise((resolve) => { ws.onmessage = (e) => resolve(e.data); });
    const r = {};
    const rev = await open('/reverse');
    rev.send('stressed');
    r.reversed = await next(rev);
    const echo = await open('/echo');
    r.extensions = echo.extensions;
    const text = 'compressible '.repeat(2000);
    echo.send(text);
    r.big_text_ok = (await next(echo)) === text;
    const bin = new Uint8Array(100000).map((_, i) => (i * 13) & 255);
    echo.send(bin);
    const back = new Uint8Array(await next(echo));
    r.binary_ok = back.length === bin.length && back.every((b, i) => b === bin[i]);
    // Several at once from one page (one HTTP/3 connection).
    const many = await Promise.all([1, 2, 3, 4].map(() => open('/reverse')));
    r.many = await Promise.all(many.map((ws, i) => { const p = next(ws); ws.send(`abc${i}`); return p; }));
    // The client closes with a code: the server echoes it.
    r.client_close = await new Promise((resolve) => { echo.onclose = (e) => resolve({ code: e.code, reason: e.reason, clean: e.wasClean }); echo.close(4000, 'page done'); });
    // The server closes with the code it is asked for.
    const sc = await open('/close');
    r.server_close = await new Promise((resolve) => { sc.onclose = (e) => resolve({ code: e.code, reason: e.reason, clean: e.wasClean }); sc.send('4002'); });
    r.protocols = [...new Set(performance.getEntriesByType('navigation').map((e) => e.nextHopProtocol))];
    return r;
  }));
  return out;
});
