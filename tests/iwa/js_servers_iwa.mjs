// What the IWA tests of the JavaScript servers and clients (js_h3_server_iwa, js_wt_server_iwa,
// js_quic_server_iwa, js_quic_client_iwa, relay_app_iwa) share: the IWA with the API at /api/, the wasm build at
// /wasm/ and tests/js_servers at /t/; a certificate made before Chromium starts (so QUIC can be
// forced for ports and the certificate allowed by its SPKI hash at launch); free UDP ports.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchIwa } from '../harness/iwa.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const wasmDir = path.join(root, 'target/wasm32-unknown-emscripten/release');

/** A UDP port free on 127.0.0.1 a moment ago (bound and released). */
export async function freeUdpPort() {
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}

/**
 * A self-signed ECDSA P-256 certificate for 127.0.0.1, 13 days (what serverCertificateHashes
 * accepts), made with openssl in `dir`: { cert, key } (PEM) and `spki`, the base64 SHA-256 of its
 * SubjectPublicKeyInfo (--ignore-certificate-errors-spki-list).
 */
export function makeCertificate(dir) {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '13',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'pipe' });
  const cert = fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8');
  const key = fs.readFileSync(path.join(dir, 'key.pem'), 'utf8');
  const spki = crypto.createHash('sha256').update(crypto.createPublicKey(cert).export({ type: 'spki', format: 'der' })).digest('base64');
  return { cert, key, spki };
}

/** Chromium flags: QUIC on; with `ports` and `spki`, QUIC forced for 127.0.0.1:PORT and the certificate allowed by its hash. */
export function quicArgs(ports = [], spki) {
  return ['--enable-quic', ...(ports.length ? [`--origin-to-force-quic-on=${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
    `--ignore-certificate-errors-spki-list=${spki}`] : [])];
}

/** launchIwa with the API, the wasm build and tests/js_servers mounted (checks the wasm program `wasm` is built). */
export function launchJsServersIwa({ args = [], timeoutMs = 120000, wasm = 'socket_iwa_server.wasm' } = {}) {
  assert.ok(fs.existsSync(path.join(wasmDir, wasm)), `${wasmDir}: build ${wasm} first`);
  return launchIwa({
    mounts: { '/api/': path.join(root, 'api'), '/wasm/': wasmDir, '/t/': path.join(root, 'tests/js_servers') },
    args,
    timeoutMs,
  });
}
