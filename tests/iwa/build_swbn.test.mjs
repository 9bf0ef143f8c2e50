// scripts/build-swbn.mjs: the signing key is generated on first use with mode
// 0600, reused afterwards (same key, same web bundle ID), and refused when other
// users can read it or when it is not Ed25519; the bundle it writes verifies
// (test/harness/iwa.js readSignedBundle) and holds every file of the app folder.
import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildSwbn } from '../../scripts/build-swbn.mjs';
import { readSignedBundle } from '../../test/harness/iwa.js';

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
