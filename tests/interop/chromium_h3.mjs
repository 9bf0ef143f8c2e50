// The plain headless Chromium (not an IWA) the tests/interop/h3_chromium*.mjs programs drive
// against our HTTP/3 servers: one launch, its flags, and the program's frame (a temporary
// profile, a time limit, one JSON object printed, everything cleaned up).
//
//   runChromium({ name, timeoutMs, quicOrigin, spki, features, pages }, async ({ context, pageUrl }) => result)
//
// prints JSON.stringify(result), or {"error": message} when the body throws, or {"error":
// "timeout"} and exit 3 after `timeoutMs`. Chromium is $SOCKET_IWA_CHROMIUM or /usr/bin/chromium.
import http from 'node:http';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * Chromium's flags: headless-friendly ones, QUIC on, and with `quicOrigin` ('127.0.0.1:PORT') and
 * `spki` (base64 SHA-256 of the certificate's SPKI) QUIC forced for that origin with its
 * self-signed certificate allowed by that hash (the way a plain browser reaches an HTTP/3 server
 * with no TCP listener). `features`: names for --enable-features.
 */
export function chromiumArgs({ quicOrigin, spki, features = [] } = {}) {
  return [
    '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--enable-quic',
    ...(features.length ? [`--enable-features=${features.join(',')}`] : []),
    ...(quicOrigin && spki ? [`--origin-to-force-quic-on=${quicOrigin}`, `--ignore-certificate-errors-spki-list=${spki}`] : []),
  ];
}

/** A page server on http://127.0.0.1 (a secure context): `pages` maps a path to [content-type, body]; others get `fallback`. */
async function servePages(pages, fallback) {
  const server = http.createServer((req, res) => {
    const [type, body] = pages[req.url] || fallback;
    res.writeHead(200, { 'content-type': type });
    res.end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

/**
 * Runs `body({ context, pageUrl })` in a fresh headless Chromium and prints one JSON object (see
 * the file header). `pages` (optional): serve these on http://127.0.0.1 (`pageUrl` is its root,
 * every other path answers a blank HTML page titled `name`).
 */
export async function runChromium({ name, timeoutMs = 60000, quicOrigin, spki, features, pages }, body) {
  const { chromium } = require('playwright-core');
  const server = pages ? await servePages(pages, ['text/html', `<!doctype html><title>${name}</title>`]) : null;
  const pageUrl = server ? `http://127.0.0.1:${server.address().port}/` : null;
  const userDataDir = await fsp.mkdtemp(path.join(os.tmpdir(), `socket-iwa-${name}-`));
  const timer = setTimeout(() => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(3); }, timeoutMs);
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.SOCKET_IWA_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: chromiumArgs({ quicOrigin, spki, features }),
    });
    console.log(JSON.stringify(await body({ context, pageUrl })));
  } catch (e) {
    console.log(JSON.stringify({ error: String((e && e.message) || e) }));
  } finally {
    clearTimeout(timer);
    if (context) await context.close().catch(() => {});
    server?.close();
    await fsp.rm(userDataDir, { recursive: true, force: true });
  }
}

/** The first page of the context (Chromium opens one). */
export async function firstPage(context) {
  return context.pages()[0] || context.newPage();
}
