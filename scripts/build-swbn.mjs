#!/usr/bin/env node
// Builds the signed web bundle of the demo IWA: dist/socket-iwa.swbn.
//
//   npm run build:swbn                       (builds dist/ with docker/build-wasm.sh, then this)
//   node scripts/build-swbn.mjs [--app DIR] [--key PEM] [--out FILE] [--print-id]
//
// Every file under --app (default dist/) goes into the bundle at
// isolated-app://<web bundle ID>/<path>; the bundle is signed with an Ed25519
// key (npm wbn + wbn-sign). The key is generated on first use (mode 0600) at
// --key, else $SOCKET_IWA_SIGNING_KEY, else ~/.config/socket-iwa/iwa-signing-key.pem;
// it never goes into git. The web bundle ID (and so the app's origin) is derived
// from the key's public half: same key, same app; new key, a different app.
// See docs/IWA_APP.md (key custody, updates).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BundleBuilder } from 'wbn';
import { IntegrityBlockSigner, NodeCryptoSigningStrategy, WebBundleId, parsePemKey } from 'wbn-sign';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.webmanifest': 'application/manifest+json',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.wasm': 'application/wasm', '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8', '.ts': 'text/plain; charset=utf-8',
};

/** Files that are build tools, not part of the app. */
const SKIP = new Set(['make-icon.mjs', 'socket-iwa.swbn']);

export function defaultKeyPath() {
  return process.env.SOCKET_IWA_SIGNING_KEY || path.join(os.homedir(), '.config', 'socket-iwa', 'iwa-signing-key.pem');
}

/** Reads the Ed25519 signing key, generating it (0600, parent 0700) if the file does not exist. */
export function loadOrCreateKey(keyPath) {
  if (!fs.existsSync(keyPath)) {
    fs.mkdirSync(path.dirname(keyPath), { recursive: true, mode: 0o700 });
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
    fs.writeFileSync(keyPath, pem, { mode: 0o600, flag: 'wx' });
    process.stderr.write(`build-swbn: generated a new Ed25519 signing key at ${keyPath} (keep it: it is the app's identity)\n`);
  }
  const mode = fs.statSync(keyPath).mode & 0o777;
  if (mode & 0o077) throw new Error(`build-swbn: signing key ${keyPath} is readable by others (mode ${mode.toString(8)}); chmod 600 it`);
  let key;
  try {
    key = parsePemKey(fs.readFileSync(keyPath, 'utf8'));
  } catch (e) {
    throw new Error(`build-swbn: cannot read the signing key ${keyPath}: ${e.message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`build-swbn: signing key ${keyPath} is ${key.asymmetricKeyType}, not Ed25519`);
  return key;
}

function listFiles(dir, rel = '') {
  const out = [];
  for (const ent of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${ent.name}` : ent.name;
    if (ent.isDirectory()) out.push(...listFiles(dir, r));
    else if (ent.isFile() && !SKIP.has(ent.name)) out.push(r);
  }
  return out.sort();
}

/**
 * Builds and signs the bundle. Returns { out, webBundleId, origin, files, bytes }.
 * @param {{ app?: string, key?: string, out?: string, extraFiles?: Record<string, string|Buffer> }} opts
 */
export async function buildSwbn({ app = path.join(root, 'dist'), key = defaultKeyPath(), out, extraFiles = {} } = {}) {
  if (!fs.existsSync(app) || !fs.statSync(app).isDirectory()) {
    throw new Error(`build-swbn: app folder ${app} does not exist (build it first: bash docker/build-wasm.sh)`);
  }
  if (!fs.existsSync(path.join(app, '.well-known/manifest.webmanifest')) && !extraFiles['/.well-known/manifest.webmanifest']) {
    throw new Error(`build-swbn: ${app} has no .well-known/manifest.webmanifest`);
  }
  out = out || path.join(app, 'socket-iwa.swbn');
  const privateKey = loadOrCreateKey(key);
  const webBundleId = new WebBundleId(privateKey).serialize();
  const origin = `isolated-app://${webBundleId}`;
  const builder = new BundleBuilder('b2');
  const files = {};
  for (const rel of listFiles(app)) files['/' + rel] = fs.readFileSync(path.join(app, rel));
  Object.assign(files, extraFiles);
  let bytes = 0;
  for (const [p, body] of Object.entries(files).sort()) {
    const type = MIME[path.extname(p)] || 'application/octet-stream';
    builder.addExchange(origin + p, 200, { 'content-type': type }, body);
    bytes += body.length;
    if (p === '/index.html') builder.addExchange(origin + '/', 200, { 'content-type': type }, body);
  }
  const bundle = builder.createBundle();
  const { signedWebBundle } = await new IntegrityBlockSigner(bundle, webBundleId, [new NodeCryptoSigningStrategy(privateKey)]).sign();
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, signedWebBundle);
  return { out, webBundleId, origin, files: Object.keys(files).length, bytes: signedWebBundle.length };
}

function usage(msg) {
  process.stderr.write(`build-swbn: ${msg}\nusage: node scripts/build-swbn.mjs [--app DIR] [--key PEM] [--out FILE] [--print-id]\n`);
  process.exit(2);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opts = {};
  let printId = false;
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { const v = argv[++i]; if (v === undefined) usage(`${a} needs a value`); return path.resolve(v); };
    if (a === '--app') opts.app = val();
    else if (a === '--key') opts.key = val();
    else if (a === '--out') opts.out = val();
    else if (a === '--print-id') printId = true;
    else usage(`unknown flag ${a}`);
  }
  try {
    if (printId) {
      console.log(new WebBundleId(loadOrCreateKey(opts.key || defaultKeyPath())).serializeWithIsolatedWebAppOrigin());
    } else {
      const r = await buildSwbn(opts);
      console.log(`build-swbn: ${r.out} (${r.files} files, ${r.bytes} bytes), app origin ${r.origin}/`);
    }
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
}
