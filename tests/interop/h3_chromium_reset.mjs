// Chromium's WebTransport session across a restart of our server (Stateless Reset,
// RFC 9000 10.3), driven by tests/interop/test_h3_chromium.py:
//   node tests/interop/h3_chromium_reset.mjs <port> <cert_sha256_hex> [wait_ms]
// 1. Opens new WebTransport('https://127.0.0.1:PORT/wt/echo', {serverCertificateHashes}) in
//    headless Chromium and checks a datagram echo, then prints {"event":"ready"}.
// 2. Waits for one line on stdin (the test restarts the server meanwhile).
// 3. Sends a datagram every 100 ms and waits up to `wait_ms` (default 5000) for the session
//    to end. Prints one JSON object: how long after step 3 the session ended (null if it
//    had not) and how (`wt.closed` resolving or rejecting, with the error's fields).
import readline from 'node:readline';
import { firstPage, runChromium } from './chromium_h3.mjs';

const [port, hash, waitArg] = process.argv.slice(2);
const waitMs = Number(waitArg || 5000);
const stdinLine = () => new Promise((resolve) => {
  const rl = readline.createInterface({ input: process.stdin });
  // Closing stdin as well lets the process end although the caller keeps its end open.
  rl.once('line', () => { rl.close(); process.stdin.destroy(); resolve(); });
  rl.once('close', resolve);
});

await runChromium({ name: 'h3-chromium-reset', timeoutMs: 60000, pages: {} }, async ({ context, pageUrl }) => {
  const page = await firstPage(context);
  await page.goto(pageUrl);
  const echoed = await page.evaluate(async ({ port, hash }) => {
    const value = new Uint8Array(hash.match(/../g).map((h) => parseInt(h, 16)));
    const wt = new WebTransport(`https://127.0.0.1:${port}/wt/echo`, { serverCertificateHashes: [{ algorithm: 'sha-256', value }] });
    window.wt = wt;
    window.ended = null;
    wt.closed.then((c) => { window.ended = { how: 'closed', closeCode: c.closeCode, reason: c.reason, at: performance.now() }; },
      (e) => { window.ended = { how: 'rejected', name: e.name, message: e.message, source: e.source ?? null, streamErrorCode: e.streamErrorCode ?? null, at: performance.now() }; });
    await wt.ready;
    const dw = wt.datagrams.writable.getWriter();
    const dr = wt.datagrams.readable.getReader();
    let echo = null;
    for (let i = 0; i < 20 && echo === null; i++) {
      await dw.write(new TextEncoder().encode('before-restart'));
      echo = await Promise.race([dr.read().then((x) => new TextDecoder().decode(x.value)), new Promise((r) => setTimeout(() => r(null), 200))]);
    }
    dw.releaseLock();
    dr.releaseLock();
    return echo;
  }, { port, hash });
  if (echoed !== 'before-restart') return { error: `no datagram echo before the restart: ${echoed}` };
  console.log(JSON.stringify({ event: 'ready' }));
  await stdinLine();
  return page.evaluate(async ({ waitMs }) => {
    const start = performance.now();
    const dw = window.wt.datagrams.writable.getWriter();
    let sent = 0;
    while (window.ended === null && performance.now() - start < waitMs) {
      dw.write(new TextEncoder().encode('after-restart')).catch(() => {});
      sent++;
      await new Promise((r) => setTimeout(r, 100));
    }
    const ended = window.ended;
    return { echoed_before: true, datagrams_sent_after: sent, ended_after_ms: ended ? Math.round(ended.at - start) : null, ended };
  }, { waitMs });
});
