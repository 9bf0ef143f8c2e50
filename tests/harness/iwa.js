// Run code inside a real, installed, dev-mode Isolated Web App in headless
// Chromium, where the browser's own Direct Sockets API is available.
//
//   import { launchIwa } from '../../tests/harness/iwa.js';
//   const iwa = await launchIwa({ appDir: 'path/to/app', mounts: { '/api/': 'api' } });
//   const signed = await launchIwa({ bundle: 'dist/socket-iwa.swbn' });   // the signed web bundle's contents
//   const result = await iwa.call('/tests/udp.js', 'roundTrip', { port: 1234 });
//   await iwa.close();
//
// Steps (see /work/shared/notes/toolchain.md, "Real Direct Sockets in headless
// Chromium"): serve the app over http://127.0.0.1:PORT with a manifest at
// /.well-known/manifest.webmanifest, launch Chromium with
// --install-isolated-web-app-from-url, read the isolated-app:// origin from
// chrome://web-app-internals, grant the local-network permissions over CDP,
// open the app page. Any failure throws: tests that use this fail, never skip.

import http from 'node:http';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * Reads a signed web bundle (.swbn): checks its integrity block (every Ed25519
 * signature over the bundle's SHA-512, the block and the signature's
 * attributes, and that the web bundle ID is the one the first key derives),
 * then returns { webBundleId, files } with files: url path -> { type, body }.
 * Throws with the file's name on any mismatch.
 */
export async function readSignedBundle(file) {
  const crypto = await import('node:crypto');
  const { decode, encode } = await import('cborg');
  const { Bundle } = await import('wbn');
  const { WebBundleId } = await import('wbn-sign');
  const buf = new Uint8Array(await fsp.readFile(file));
  const fail = (why) => { throw new Error(`IWA harness: ${file} is not a valid signed web bundle: ${why}`); };
  if (buf.length < 16) fail('too short');
  const bundleLen = Number(Buffer.from(buf.subarray(buf.length - 8)).readBigUint64BE());
  if (bundleLen <= 0 || bundleLen > buf.length) fail('bad web bundle length');
  const ib = decode(buf.subarray(0, buf.length - bundleLen));
  const bundle = buf.subarray(buf.length - bundleLen);
  if (!Array.isArray(ib) || ib.length !== 4 || Buffer.from(ib[0]).toString('hex') !== 'f09f968bf09f93a6') fail('no integrity block');
  const [magic, version, attributes, signatures] = ib;
  const webBundleId = attributes && attributes.webBundleId;
  if (typeof webBundleId !== 'string' || !signatures.length) fail('no web bundle ID or no signature');
  const unsigned = encode([magic, version, attributes, []]);
  const hash = crypto.createHash('sha512').update(bundle).digest();
  const lenPrefixed = (parts) => Buffer.concat(parts.flatMap((p) => { const n = Buffer.alloc(8); n.writeBigInt64BE(BigInt(p.length)); return [n, Buffer.from(p)]; }));
  signatures.forEach(([sigAttrs, signature], i) => {
    const raw = sigAttrs && sigAttrs.ed25519PublicKey;
    if (!raw || raw.length !== 32) fail(`signature ${i} is not Ed25519`);
    const key = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
    if (!crypto.verify(null, lenPrefixed([hash, unsigned, encode(sigAttrs)]), key, signature)) fail(`signature ${i} does not verify`);
    if (i === 0 && new WebBundleId(key).serialize() !== webBundleId) fail(`web bundle ID ${webBundleId} is not the signing key's`);
  });
  const parsed = new Bundle(bundle);
  const origin = `isolated-app://${webBundleId}`;
  const files = {};
  for (const url of parsed.urls) {
    if (!url.startsWith(origin + '/')) fail(`resource ${url} is outside ${origin}`);
    const r = parsed.getResponse(url);
    files[url.slice(origin.length)] = { type: r.headers['content-type'], body: Buffer.from(r.body) };
  }
  return { webBundleId, origin, files };
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

const DEFAULT_INDEX = `<!doctype html>
<html><head><meta charset="utf-8"><title>Socket.IWA test app</title></head>
<body><p id="status">ready</p></body></html>
`;

/** CRC-32 (IEEE) for PNG chunks. */
function crc32(buf) {
  let c = ~0;
  for (let i = 0; i < buf.length; i++) {
    c ^= buf[i];
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** A solid-colour RGBA PNG of size x size pixels. */
export function makePng(size = 192, rgba = [0x1e, 0x88, 0xe5, 0xff]) {
  const row = Buffer.alloc(1 + size * 4);
  for (let x = 0; x < size; x++) row.set(rgba, 1 + x * 4);
  const raw = Buffer.concat(Array.from({ length: size }, () => row));
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0); ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; ihdr[9] = 6; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The manifest an IWA needs for Direct Sockets, multicast and loopback access. */
export function makeManifest({ name = 'Socket.IWA test app', version = '1.0.0' } = {}) {
  const self = ['self'];
  return {
    name, short_name: name, id: '/', start_url: '/', scope: '/', display: 'standalone', version,
    icons: [{ src: '/icon-192.png', sizes: '192x192', type: 'image/png' }],
    permissions_policy: {
      'cross-origin-isolated': self,
      'direct-sockets': self,
      'direct-sockets-multicast': self,
      'local-network-access': self,
      'local-network': self,
      'loopback-network': self,
    },
  };
}

/**
 * Serve files for the dev-mode IWA. Resolution order: extraFiles, mounts,
 * appDir, then the built-in manifest / icon / index.
 */
export async function startAppServer({ appDir, extraFiles = {}, mounts = {}, manifest, port: listenPort = 0, bundleFiles = null } = {}) {
  const builtins = {
    '/.well-known/manifest.webmanifest': JSON.stringify(manifest || makeManifest()),
    '/icon-192.png': makePng(192),
    '/index.html': DEFAULT_INDEX,
  };
  const mountList = Object.entries(mounts).map(([prefix, dir]) => [prefix.endsWith('/') ? prefix : prefix + '/', path.resolve(dir)]);
  const appRoot = appDir ? path.resolve(appDir) : null;
  const safeJoin = (root, rel) => {
    const p = path.resolve(root, '.' + path.posix.normalize('/' + rel));
    return p.startsWith(root) ? p : null;
  };
  const server = http.createServer(async (req, res) => {
    try {
      let urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      if (urlPath === '/') urlPath = '/index.html';
      let body = null;
      if (Object.hasOwn(extraFiles, urlPath)) body = extraFiles[urlPath];
      if (body === null) {
        for (const [prefix, dir] of mountList) {
          if (urlPath.startsWith(prefix)) {
            const f = safeJoin(dir, urlPath.slice(prefix.length));
            if (f && fs.existsSync(f) && fs.statSync(f).isFile()) body = await fsp.readFile(f);
            break;
          }
        }
      }
      if (body === null && appRoot) {
        const f = safeJoin(appRoot, urlPath);
        if (f && fs.existsSync(f) && fs.statSync(f).isFile()) body = await fsp.readFile(f);
      }
      const files = await bundleFiles;  // may be a promise (launchIwa verifies the bundle while Chromium starts)
      if (body === null && files && Object.hasOwn(files, urlPath)) {
        // Only what the signed bundle holds (plus extraFiles): no mounts, no built-ins.
        res.writeHead(200, { 'content-type': files[urlPath].type || 'application/octet-stream', 'cache-control': 'no-store' });
        res.end(files[urlPath].body);
        return;
      }
      if (body === null && !files && Object.hasOwn(builtins, urlPath)) body = builtins[urlPath];
      if (body === null) { res.writeHead(404, { 'content-type': 'text/plain' }); res.end('not found'); return; }
      const type = MIME[path.extname(urlPath)] || 'application/octet-stream';
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    } catch (err) {
      res.writeHead(500); res.end(String(err));
    }
  });
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(listenPort, '127.0.0.1', resolve); });
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, port, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }) };
}

function chromiumPath() {
  const p = process.env.SOCKET_IWA_CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(p)) throw new Error(`IWA harness: Chromium not found at ${p} (install Debian's chromium package).`);
  return p;
}

async function withTimeout(promise, ms, what) {
  let t;
  const timeout = new Promise((_, reject) => { t = setTimeout(() => reject(new Error(`IWA harness: timed out after ${ms} ms: ${what}`)), ms); });
  try { return await Promise.race([promise, timeout]); } finally { clearTimeout(t); }
}

/** Read installed apps' origins from chrome://web-app-internals. */
async function findIsolatedOrigin(page, devUrl, deadline) {
  let lastText = '';
  while (Date.now() < deadline) {
    await page.goto('chrome://web-app-internals', { waitUntil: 'load' }).catch(() => {});
    lastText = await page.evaluate(() => {
      const el = document.querySelector('web-app-internals-app');
      const root = el && el.shadowRoot;
      return root ? root.textContent : document.body.innerText;
    }).catch(() => '');
    const origins = [...lastText.matchAll(/"origin":\s*"(isolated-app:\/\/[a-z0-9]+\/?)"/g)].map((m) => m[1].replace(/\/$/, ''));
    if (origins.length && /"result":\s*"success"/.test(lastText)) return origins[0];
    if (/"result":\s*"(?!success)[^"]+"/.test(lastText) && !origins.length && /error/i.test(lastText)) {
      const m = lastText.match(/"result":\s*"[^"]+"[^}]*/);
      throw new Error(`IWA harness: installing ${devUrl} failed: ${m ? m[0] : lastText.slice(0, 500)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`IWA harness: app from ${devUrl} did not appear installed in chrome://web-app-internals. Last content: ${lastText.slice(0, 800)}`);
}

/**
 * Install and open a dev-mode IWA in headless Chromium.
 * @param {object} opts
 * @param {string} [opts.appDir] directory served as the app root
 * @param {Record<string, string|Buffer>} [opts.extraFiles] url path -> content
 * @param {Record<string, string>} [opts.mounts] url prefix -> directory
 * @param {object} [opts.manifest] manifest override
 * @param {string} [opts.page='/index.html'] page to open
 * @param {number} [opts.timeoutMs=60000] budget for launch + install + open
 * @param {string[]} [opts.args] extra Chromium flags
 * @param {string[]} [opts.grantPermissions] permissions granted over CDP (default: the three local-network ones; [] grants none)
 * @param {boolean} [opts.headless=true] false opens a window (needs a display; scripts/demo.sh --headful)
 * @param {string} [opts.bundle] a signed web bundle (.swbn): its signature and web bundle ID are verified and the app
 *   is exactly its contents (plus opts.extraFiles; appDir and mounts are not allowed). Chromium installs .swbn files
 *   from the command line only in IWA developer mode, and Chromium 156 here drops or stalls every .swbn install before
 *   opening the file (docs/IWA_APP.md, scripts/swbn-install-probe.mjs), so the verified contents are installed through
 *   the same dev-mode route as appDir.
 * @returns {Promise<{origin: string, page: import('playwright-core').Page, context: any, devUrl: string,
 *   evaluate: Function, call: (modulePath: string, fn: string, ...args: any[]) => Promise<any>,
 *   consoleLines: string[], close: () => Promise<void>}>}
 */
export async function launchIwa(opts = {}) {
  const timeoutMs = opts.timeoutMs || 60000;
  const deadline = Date.now() + timeoutMs;
  const executablePath = chromiumPath();
  const { chromium } = require('playwright-core');
  let signed = null;
  if (opts.bundle) {
    if (opts.appDir || (opts.mounts && Object.keys(opts.mounts).length)) throw new Error('IWA harness: bundle excludes appDir and mounts (the app is the bundle)');
    // Verified while Chromium starts (the app server waits for it); a bad bundle fails the launch below.
    signed = readSignedBundle(opts.bundle);
  }
  const bundleFiles = signed && signed.then((b) => b.files);
  bundleFiles?.catch(() => {});  // surfaces through `await signed` below
  const app = await startAppServer({ ...opts, bundleFiles });
  const userDataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'socket-iwa-chromium-'));
  let context;
  const cleanup = async () => {
    try { if (context) await withTimeout(context.close(), 10000, 'closing Chromium'); } catch {}
    await app.close().catch(() => {});
    await fsp.rm(userDataDir, { recursive: true, force: true }).catch(() => {});
  };
  try {
    context = await withTimeout(chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: opts.headless ?? true,
      args: [
        '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
        '--enable-features=IsolatedWebApps,IsolatedWebAppDevMode',
        `--install-isolated-web-app-from-url=${app.url}`,
        ...(opts.args || []),
      ],
      timeout: Math.max(5000, deadline - Date.now()),
    }), Math.max(5000, deadline - Date.now()), 'launching Chromium');
    if (signed) signed = await signed;
    const page = context.pages()[0] || await context.newPage();
    const origin = await findIsolatedOrigin(page, app.url, deadline);
    const cdp = await context.newCDPSession(page);
    const grants = opts.grantPermissions ?? ['local-network-access', 'local-network', 'loopback-network'];
    for (const name of grants) {
      try {
        await cdp.send('Browser.setPermission', { origin, permission: { name }, setting: 'granted' });
      } catch (err) {
        // Not every Chromium knows every name; at least one must succeed (checked by use).
        if (!/Unknown permission|Invalid permission|not supported/i.test(String(err.message))) throw err;
      }
    }
    const consoleLines = [];
    const pagePath = opts.page || '/index.html';
    // A tab cannot navigate to isolated-app:// (ERR_BLOCKED_BY_CLIENT); a new
    // target created over CDP opens in the app's own context.
    const target = origin + pagePath;
    const pageReady = context.waitForEvent('page', { predicate: (p) => p.url().startsWith(origin), timeout: Math.max(5000, deadline - Date.now()) });
    await cdp.send('Target.createTarget', { url: target });
    const appPage = await pageReady;
    appPage.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    appPage.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
    await withTimeout(appPage.waitForLoadState('load'), Math.max(5000, deadline - Date.now()), `opening ${target}`);
    const hasSockets = await appPage.evaluate(() => typeof UDPSocket === 'function' && typeof TCPServerSocket === 'function' && typeof TCPSocket === 'function');
    if (!hasSockets) throw new Error(`IWA harness: ${origin} opened but Direct Sockets constructors are missing (isolated: ${await appPage.evaluate(() => self.crossOriginIsolated)}).`);
    const evaluate = (fn, arg) => appPage.evaluate(fn, arg);
    const call = (modulePath, fnName, ...args) => appPage.evaluate(async ({ modulePath, fnName, args }) => {
      const mod = await import(modulePath);
      if (typeof mod[fnName] !== 'function') throw new Error(`${modulePath} has no export ${fnName}`);
      return mod[fnName](...args);
    }, { modulePath, fnName, args });
    return { origin, page: appPage, context, devUrl: app.url, evaluate, call, consoleLines, close: cleanup,
      webBundleId: signed ? signed.webBundleId : null, bundleFiles: signed ? Object.keys(signed.files).length : 0 };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
