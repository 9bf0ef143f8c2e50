// SocketIWA.createQuicServer inside a real installed Isolated Web App (headless Chromium,
// the browser's own Direct Sockets), in the app page and in a dedicated module worker,
// with a custom ALPN and the default storage (OPFS); the client is aioquic's plain QUIC
// client (tests/interop/aioquic_alpn.py), plus our native client pinning the hash.
// Also sendSockets (several UDPSockets sharing the port) and its bad values.
// The app is tests/js_servers/quic_iwa_app.js (+ quic_iwa_worker.js). docs/JS_SERVERS.md.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchJsServersIwa, root } from './js_servers_iwa.mjs';

const run = promisify(execFile);
const aioquicAlpn = path.join(root, 'tests/interop/aioquic_alpn.py');
const client = path.join(root, 'target/release/socket-iwa-client');
const app = '/t/quic_iwa_app.js';
const ALPN = 'socket-iwa-test';
const NO_APPLICATION_PROTOCOL = 0x178; // CRYPTO_ERROR carrying TLS alert 120
let iwa;
let tmp;
let first; // the page server's start() answer in the first test: later ones compare hashes with it
let ticketAfterReload; // saved by the 0-RTT connection of the second test, used against the worker

/** aioquic_alpn.py COMMAND --port P [args]: its JSON answer. */
async function aioquic(command, port, ...args) {
  const { stdout } = await run('python3', [aioquicAlpn, command, '--port', String(port), ...args], { timeout: 150000 });
  return JSON.parse(stdout.trim().split('\n').pop());
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'siwa-jsquic-'));
  iwa = await launchJsServersIwa();
});

after(async () => {
  if (iwa) await iwa.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('IWA page: createQuicServer with a custom ALPN echoes 200 bidi streams, a uni stream and datagrams to aioquic; a wrong ALPN is refused', async () => {
  first = await iwa.call(app, 'start');
  assert.equal(first.worker, false);
  assert.equal(first.address, '127.0.0.1');
  assert.deepEqual(first.alpn, [ALPN]);
  assert.match(first.hash, /^[0-9a-f]{64}$/);
  const ticket = path.join(tmp, 'ticket-page.pickle');
  // The client offers another name first: the server picks the one it serves.
  const r = await aioquic('echo', first.port, '--alpn', 'nope', '--alpn', ALPN, '--streams', '200', '--uni-bytes', '200000',
    '--datagrams', '20', '--save-ticket', ticket);
  assert.equal(r.alpn, ALPN, JSON.stringify(r));
  assert.equal(r.cert_sha256, first.hash, 'aioquic received the certificate certificateHashes names');
  assert.equal(r.streams_ok, 200, JSON.stringify(r));
  assert.equal(r.uni_ok, true, JSON.stringify(r));
  assert.equal(r.server_uni_stream % 4, 3, 'the answer came on a server-initiated unidirectional stream');
  assert.ok(r.datagrams_echoed >= 18, JSON.stringify(r));
  assert.equal(r.datagrams_foreign, 0, JSON.stringify(r));
  assert.equal(r.ticket_saved, true, 'the server sent a session ticket');

  // Offering only other names: CONNECTION_CLOSE with no_application_protocol, no 'connection'.
  const refused = await aioquic('refused', first.port, '--alpn', 'h3', '--alpn', 'echo');
  assert.equal(refused.terminated, true, JSON.stringify(refused));
  assert.equal(refused.error_code, NO_APPLICATION_PROTOCOL, JSON.stringify(refused));
  assert.equal(refused.handshake_done, false);

  // Our native client pins the hash and speaks the same echo (bidi streams and datagrams).
  const { stdout } = await run(client, ['--connect', `127.0.0.1:${first.port}`, '--alpn', ALPN, '--cert-hash', first.hash,
    '--streams', '20', '--bytes', '5000', '--datagrams', '10', '--json', '--timeout', '60'], { timeout: 90000 });
  const n = JSON.parse(stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop());
  assert.equal(n.verified, true, JSON.stringify(n));
  assert.equal(n.streams_completed, 20, JSON.stringify(n));

  const s = await iwa.call(app, 'stats');
  assert.equal(s.connections, 2, `aioquic and the native client, not the refused one: ${JSON.stringify(s)}`);
  assert.deepEqual(s.alpns, [ALPN, ALPN]);
  assert.ok(s.echoed >= 220, JSON.stringify(s));
  assert.equal(s.uni, 1, JSON.stringify(s));
  assert.ok(s.closed.some((c) => c.closeCode === 9 && c.reason === 'done'), `aioquic's close(9, 'done') reached conn.closed: ${JSON.stringify(s.closed)}`);
  assert.deepEqual(s.errors, []);
});

test('IWA page: a client that migrates to another address mid-echo keeps its connection, and conn.remoteAddress/remotePort follow it', async () => {
  // aioquic's sans-IO client (tests/interop/aioquic_rebind.py) echoes 1 MB and, half-way, moves to a
  // socket on 127.0.0.2 with a new connection ID; the server is the one the first test started.
  const { stdout } = await run('python3', ['-c', [
    'import json, sys',
    'sys.path.insert(0, sys.argv[1])',
    'from aioquic_rebind import rebinding_echo_client',
    'r = rebinding_echo_client("127.0.0.1", int(sys.argv[2]), 1000000, rebind_at=500000, new_ip="127.0.0.2", change_cid=True, alpn=sys.argv[3])',
    'print(json.dumps({"error": r.error, "verified": r.verified, "echoed": r.echoed, "old": r.old_local, "new": r.new_local, "after": r.received_after_rebind}))',
  ].join('\n'), path.join(root, 'tests/interop'), String(first.port), ALPN], { timeout: 120000 });
  const r = JSON.parse(stdout.trim().split('\n').pop());
  assert.equal(r.error, null, stdout);
  assert.deepEqual([r.verified, r.echoed], [true, 1000000], stdout);
  assert.ok(r.after > 50, `the second half came over the new path: ${stdout}`);
  const deadline = Date.now() + 10000;
  let seen;
  while (Date.now() < deadline) {
    seen = (await iwa.call(app, 'stats')).closed.find((c) => c.remotePort === r.new[1] || c.remotePort === r.old[1]);
    if (seen) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.deepEqual(seen && [seen.remoteAddress, seen.remotePort], r.new, JSON.stringify({ seen, r }));
});

test('IWA page reload: the same certificate hash from OPFS and aioquic 0-RTT accepted by the new server (ticket key from OPFS)', async () => {
  const ticket = path.join(tmp, 'ticket-page.pickle');
  assert.equal(await iwa.call(app, 'stop'), 'closed');
  await iwa.page.reload();
  await iwa.page.waitForLoadState('load');
  const b = await iwa.call(app, 'start');
  assert.equal(b.hash, first.hash, 'the same certificate after the reload');
  ticketAfterReload = path.join(tmp, 'ticket-reload.pickle');
  const r = await aioquic('early', b.port, '--alpn', ALPN, '--ticket', ticket, '--streams', '5', '--save-ticket', ticketAfterReload);
  assert.equal(r.alpn, ALPN, JSON.stringify(r));
  assert.equal(r.resumed, true, JSON.stringify(r));
  assert.equal(r.early_data_accepted, true, JSON.stringify(r));
  assert.equal(r.streams_in_0rtt, 5, `the streams travelled in 0-RTT packets: ${JSON.stringify(r)}`);
  assert.equal(r.streams_ok, 5, `the 0-RTT data was echoed: ${JSON.stringify(r)}`);
  assert.equal(r.after_handshake_ok, 10, JSON.stringify(r));
  assert.equal(r.ticket_saved, true, JSON.stringify(r));
  const s = await iwa.call(app, 'stats');
  assert.equal(s.connections, 1, JSON.stringify(s));
  assert.ok(s.echoed >= 15, JSON.stringify(s));
  assert.equal(await iwa.call(app, 'stop'), 'closed');
  const files = await iwa.call(app, 'stored');
  assert.deepEqual(Object.keys(files).sort(), ['cert.pem', 'key.pem', 'ticket.key', 'ticket.key.replay'], JSON.stringify(files));
  assert.equal(files['ticket.key'], 48);
  assert.ok(files['ticket.key.replay'] >= 40, 'the anti-replay record of the 0-RTT handshake is in OPFS');
});

test('IWA dedicated worker: the same createQuicServer in a module worker reads the same OPFS storage, echoes to aioquic and accepts its 0-RTT', async () => {
  const w = await iwa.call(app, 'startInWorker');
  assert.equal(w.worker, true, JSON.stringify(w));
  assert.deepEqual(w.alpn, [ALPN]);
  assert.equal(w.hash, first.hash, 'the worker reads the same OPFS storage');
  const r = await aioquic('echo', w.port, '--alpn', ALPN, '--streams', '100', '--uni-bytes', '50000', '--datagrams', '20');
  assert.equal(r.cert_sha256, first.hash);
  assert.equal(r.streams_ok, 100, JSON.stringify(r));
  assert.equal(r.uni_ok, true, JSON.stringify(r));
  assert.ok(r.datagrams_echoed >= 18, JSON.stringify(r));
  const e = await aioquic('early', w.port, '--alpn', ALPN, '--ticket', ticketAfterReload, '--streams', '3');
  assert.equal(e.resumed, true, JSON.stringify(e));
  assert.equal(e.early_data_accepted, true, JSON.stringify(e));
  assert.equal(e.streams_in_0rtt, 3, JSON.stringify(e));
  assert.equal(e.streams_ok, 3, JSON.stringify(e));
  const s = await iwa.call(app, 'workerStats');
  assert.equal(s.connections, 2, JSON.stringify(s));
  assert.ok(s.echoed >= 113, JSON.stringify(s));
  assert.deepEqual(s.errors, []);
  assert.equal(await iwa.call(app, 'stopWorker'), 'closed');
});

test('IWA page: createQuicServer with sendSockets: 3 opens three UDPSockets sharing its port and echoes 300 streams, 1 MB and datagrams to aioquic through them', async () => {
  const r0 = await iwa.call(app, 'startSharing', 3);
  assert.equal(r0.opened.length, 3, JSON.stringify(r0.opened));
  for (const o of r0.opened) {
    assert.equal(o.localPort === undefined || o.localPort === r0.port, true, JSON.stringify(r0.opened));
    assert.equal(o.multicastAllowAddressSharing, true, `address sharing on each: ${JSON.stringify(r0.opened)}`);
  }
  assert.deepEqual(r0.opened.slice(1).map((o) => o.localPort), [r0.port, r0.port]);
  const r = await aioquic('echo', r0.port, '--alpn', ALPN, '--streams', '300', '--uni-bytes', '1000000', '--datagrams', '50');
  assert.equal(r.cert_sha256, r0.hash, JSON.stringify(r));
  assert.equal(r.streams_ok, 300, JSON.stringify(r));
  assert.equal(r.uni_ok, true, JSON.stringify(r));
  assert.ok(r.datagrams_echoed >= 45, JSON.stringify(r));
  const stats = await iwa.call(app, 'stats');
  assert.deepEqual(stats.errors, []);
  await iwa.call(app, 'stopSharing');
});

test('createQuicServer / createHttp3Server: sendSockets outside 1-8 or not an integer is a TypeError with a code', async () => {
  const r = await iwa.call(app, 'badSendSockets');
  assert.deepEqual(r, Array(8).fill('TypeError:ERR_INVALID_ARG_VALUE:true'));
});

