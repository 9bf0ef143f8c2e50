// scripts/build-swbn.mjs: the signing key is generated on first use with mode
// 0600, reused afterwards (same key, same web bundle ID), and refused when other
// users can read it or when it is not Ed25519; the bundle it writes verifies
// (tests/harness/iwa.js readSignedBundle) and holds every file of the app folder.
import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildSwbn } from '../../scripts/build-swbn.mjs';
import { readSignedBundle } from '../harness/iwa.js';

function tinyApp(dir) {
  fs.mkdirSync(path.join(dir, '.well-known'), { recursive: true });
  fs.writeFileSync(path.join(dir, '.well-known/manifest.webmanifest'), JSON.stringify({ name: 't', id: '/', version: '1.0.0' }));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><p>hi</p>');
  fs.mkdirSync(path.join(dir, 'wasm'));
  fs.writeFileSync(path.join(dir, 'wasm', 'x.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  fs.writeFileSync(path.join(dir, 'make-icon.mjs'), '// a build tool: not bundled');
}

test('first use creates a 0600 Ed25519 key; the same key gives the same ID; the bundle verifies', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'siwa-swbn-'));
  try {
    tinyApp(path.join(dir, 'app'));
    const key = path.join(dir, 'keys', 'k.pem');
    const a = await buildSwbn({ app: path.join(dir, 'app'), key, out: path.join(dir, 'a.swbn') });
    assert.equal(fs.statSync(key).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(key)).mode & 0o777, 0o700);
    const b = await buildSwbn({ app: path.join(dir, 'app'), key, out: path.join(dir, 'b.swbn') });
    assert.equal(a.webBundleId, b.webBundleId);
    const read = await readSignedBundle(path.join(dir, 'a.swbn'));
    assert.equal(read.webBundleId, a.webBundleId);
    assert.deepEqual(Object.keys(read.files).sort(), ['/', '/.well-known/manifest.webmanifest', '/index.html', '/wasm/x.wasm']);
    assert.equal(read.files['/wasm/x.wasm'].type, 'application/wasm');
    // Another key is another app.
    const c = await buildSwbn({ app: path.join(dir, 'app'), key: path.join(dir, 'keys', 'other.pem'), out: path.join(dir, 'c.swbn') });
    assert.notEqual(c.webBundleId, a.webBundleId);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a key readable by others, a non-Ed25519 key and a folder without a manifest are refused by name', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'siwa-swbn-'));
  try {
    tinyApp(path.join(dir, 'app'));
    const open = path.join(dir, 'open.pem');
    fs.writeFileSync(open, crypto.generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o644 });
    fs.chmodSync(open, 0o644);
    await assert.rejects(buildSwbn({ app: path.join(dir, 'app'), key: open, out: path.join(dir, 'x.swbn') }), new RegExp(`${open}.*readable by others`));
    const ec = path.join(dir, 'ec.pem');
    fs.writeFileSync(ec, crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    await assert.rejects(buildSwbn({ app: path.join(dir, 'app'), key: ec, out: path.join(dir, 'x.swbn') }), /not Ed25519/);
    fs.rmSync(path.join(dir, 'app', '.well-known'), { recursive: true });
    await assert.rejects(buildSwbn({ app: path.join(dir, 'app'), key: path.join(dir, 'k.pem') }), /no \.well-known\/manifest\.webmanifest/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// What Chromium does with --install-isolated-web-app-from-file (docs/IWA_APP.md, "Installing
// it"). Without developer mode Chromium refuses the switch by design; with it, Chromium 156
// drops the install without opening the file, which is why tests/harness/iwa.js serves the
// verified bundle contents through a dev-mode install instead. If a Chromium update makes
// the file install succeed, the second assertion fails on purpose: switch launchIwa({ bundle })
// to the real install then. Each run stops at Chromium's first result line (about 1-3 s here);
// 30 s is only the upper bound for a loaded machine, and a timeout passes the second check.
test('Chromium refuses --install-isolated-web-app-from-file without developer mode and (156) does not install it with it', async () => {
  const { commandLineRoute, testBundle } = await import('../../scripts/swbn-install-probe.mjs');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'siwa-swbn-probe-'));
  try {
    const bundle = await testBundle(dir);
    const plain = await commandLineRoute({ bundle, features: 'IsolatedWebApps', timeoutMs: 30000, tmp: dir, traceOpens: false });
    assert.equal(plain.outcome, 'failed', plain.line);
    assert.match(plain.line, /Isolated Web App Developer Mode is not enabled/);
    const dev = await commandLineRoute({ bundle, features: 'IsolatedWebApps,IsolatedWebAppDevMode', timeoutMs: 30000, tmp: dir, traceOpens: false });
    assert.notEqual(dev.outcome, 'installed', 'Chromium now installs a .swbn from file: make launchIwa({ bundle }) use it (docs/IWA_APP.md)');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
