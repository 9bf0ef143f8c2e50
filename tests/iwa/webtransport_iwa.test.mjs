// Chromium's own WebTransport client (an ordinary page, new WebTransport() with
// serverCertificateHashes) against the Rust HTTP/3 + WebTransport server running
// as wasm inside an installed IWA on Direct Sockets. Uses the example's code; the app is
// the signed web bundle (tests/iwa/signed_bundle.mjs).
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runClient, serveClient, startServerInIwa } from '../../examples/webtransport-iwa/run.mjs';
import { signedBundle } from './signed_bundle.mjs';

let server;
let client;

before(async () => {
  server = await startServerInIwa({ bundle: await signedBundle(), timeoutMs: 120000 });
  client = await serveClient();
});

after(async () => {
  if (client) await client.close();
  if (server) await server.iwa.close();
});

test('Chromium WebTransport -> server in the IWA: datagrams, bidi and uni streams echoed', async () => {
  const r = await runClient(server.iwa, client.url, server.port, server.certSha256);
  assert.equal(r.datagramsSent, 20);
  assert.ok(r.datagramsEchoed >= 18, JSON.stringify(r));
  assert.equal(r.bidiOk, true, JSON.stringify(r));
  assert.equal(r.uniOk, true, JSON.stringify(r));
});

test('a second WebTransport session on a new connection works too', async () => {
  const r = await runClient(server.iwa, client.url, server.port, server.certSha256);
  assert.equal(r.bidiOk && r.uniOk, true, JSON.stringify(r));
});
