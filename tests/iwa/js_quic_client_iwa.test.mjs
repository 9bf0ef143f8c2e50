// SocketIWA.createQuic inside a real installed Isolated Web App (headless Chromium, the
// browser's own Direct Sockets), from the app page and from a dedicated module worker,
// against aioquic's QUIC server (tests/interop/aioquic_peer.py) and our native server,
// both speaking ALPN 'echo', with the certificate pinned by serverCertificateHashes.
// The second connection to each resumes with the first one's conn.session and sends its
// streams in 0-RTT: through a relay that holds the server's answers 250 ms
// (tests/interop/udp_relay.py), so the relay sees the 0-RTT packets and our native server
// counts the stream bytes that arrived in them. conn.migrate() moves a connection to a new
// UDPSocket mid-transfer, twice. The app is tests/js_servers/quic_client_iwa_app.js.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { launchJsServersIwa, root } from './js_servers_iwa.mjs';

const app = '/t/quic_client_iwa_app.js';
const procs = [];
let iwa;

/** Starts `cmd`; resolves with { proc, first (its first JSON line), lines (an async line reader) }. */
function startJson(cmd, args) {
  const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  procs.push(proc);
  const rl = createInterface({ input: proc.stdout });
  const it = rl[Symbol.asyncIterator]();
  const next = async (ms = 30000) => {
    const r = await Promise.race([it.next(), new Promise((_, rej) => setTimeout(() => rej(new Error(`${cmd}: no line in ${ms} ms`)), ms))]);
    if (r.done) throw new Error(`${cmd} ended`);
    return JSON.parse(r.value);
  };
  return next().then((first) => ({ proc, first, next }));
}

const native = () => startJson(path.join(root, 'target/release/socket-iwa-server'), ['--listen', '127.0.0.1:0', '--json']);
const aioquic = () => startJson('python3', [path.join(root, 'tests/interop/aioquic_peer.py'), 'server', '--listen', '127.0.0.1:0']);
const portOf = (ev) => Number(ev.addr.split(':').pop());
const relay = (port) => startJson('python3', [path.join(root, 'tests/interop/udp_relay.py'), '--server', `127.0.0.1:${port}`, '--delay', '0.25']);

async function relayReport(r) {
  r.proc.stdin.write('report\n');
  return r.next();
}

/** Our native server's next `connection_closed` line. */
async function closedEvent(srv) {
  for (;;) {
    const ev = await srv.next(15000);
    if (ev.event === 'connection_closed') return ev;
  }
}

before(async () => {
  iwa = await launchJsServersIwa({ wasm: 'socket_iwa_client.wasm' });
});

after(async () => {
  for (const p of procs) p.kill();
  if (iwa) await iwa.close();
});

for (const where of ['page', 'worker']) {
  const call = (cfg) => iwa.call(app, where === 'page' ? 'echo' : 'echoInWorker', cfg);

  test(`IWA ${where}: createQuic to our native server, 200 streams and datagrams echoed; the second connection resumes with conn.session and sends in 0-RTT`, async () => {
    const srv = await native();
    const hashes = [srv.first.cert_sha256];
    const a = await call({ port: portOf(srv.first), hashes, streams: 200, bytes: 5000, datagrams: 20, save: `native-${where}` });
    assert.equal(a.worker, where === 'worker', JSON.stringify(a));
    assert.equal(a.event, 'done', JSON.stringify(a));
    assert.deepEqual([a.streamsOk, a.streamErrors], [200, []], JSON.stringify(a));
    assert.equal(a.alpn, 'echo');
    assert.equal(a.earlyData, 'none');
    assert.ok(a.datagrams >= 15, JSON.stringify(a));
    assert.equal(a.session, true, 'the server sent a ticket');
    assert.equal((await closedEvent(srv)).early_data_bytes, 0);

    const r = await relay(portOf(srv.first));
    const b = await call({ port: r.first.port, hashes, streams: 20, bytes: 5000, resume: `native-${where}` });
    assert.equal(b.earlyDataAtResolve, 'pending', JSON.stringify(b));
    assert.equal(b.earlyData, 'accepted', JSON.stringify(b));
    assert.deepEqual([b.streamsOk, b.streamErrors], [20, []], JSON.stringify(b));
    const rep = await relayReport(r);
    assert.ok((rep.c2s['0rtt'] || 0) > 0, `0-RTT packets crossed the relay: ${JSON.stringify(rep.c2s)}`);
    const closed = await closedEvent(srv);
    assert.equal(closed.resumed, true, JSON.stringify(closed));
    assert.ok(closed.early_data_bytes > 0, `stream bytes arrived in 0-RTT: ${JSON.stringify(closed)}`);
  });

  test(`IWA ${where}: createQuic to aioquic's server, streams and datagrams echoed; 0-RTT accepted on the second connection`, async () => {
    const srv = await aioquic();
    const hashes = [srv.first.cert_sha256];
    const a = await call({ port: portOf(srv.first), hashes, streams: 100, bytes: 5000, datagrams: 20, save: `aioquic-${where}` });
    assert.deepEqual([a.streamsOk, a.streamErrors], [100, []], JSON.stringify(a));
    assert.ok(a.datagrams >= 15, JSON.stringify(a));
    assert.equal(a.session, true, 'aioquic sent a ticket');
    const r = await relay(portOf(srv.first));
    const b = await call({ port: r.first.port, hashes, streams: 10, resume: `aioquic-${where}` });
    assert.equal(b.earlyDataAtResolve, 'pending', JSON.stringify(b));
    assert.equal(b.earlyData, 'accepted', JSON.stringify(b));
    assert.deepEqual([b.streamsOk, b.streamErrors], [10, []], JSON.stringify(b));
    const rep = await relayReport(r);
    assert.ok((rep.c2s['0rtt'] || 0) > 0, JSON.stringify(rep.c2s));
  });

  test(`IWA ${where}: conn.migrate() twice, the first mid-transfer, the second to localAddress 127.0.0.2, on Chromium's UDPSocket: to our native server (its last view of the peer is the new address and port) and to aioquic's`, async () => {
    for (const start of [native, aioquic]) {
      const srv = await start();
      const a = await call({ port: portOf(srv.first), hashes: [srv.first.cert_sha256], streams: 20, bytes: 100000, migrate: 2, migrateTo: [null, '127.0.0.2'] });
      assert.equal(a.migrateError, null, JSON.stringify(a));
      assert.deepEqual([a.streamsOk, a.streamErrors, a.afterMigrationOk], [20, [], 5], JSON.stringify(a));
      assert.ok(a.streamsDoneAtFirstMove < 20, `the first move was not mid-transfer: ${JSON.stringify(a)}`);
      const ports = a.migrations.map((m) => m.localPort);
      assert.equal(new Set(ports).size, 2, JSON.stringify(a.migrations));
      assert.equal(a.migrations[1].localAddress, '127.0.0.2', JSON.stringify(a.migrations));
      assert.notEqual(a.migrations[0].localAddress, '127.0.0.2', JSON.stringify(a.migrations));
      if (start === native) {
        const closed = await closedEvent(srv);
        assert.equal(closed.peer, `127.0.0.2:${ports[1]}`, JSON.stringify({ closed, ports }));
      }
    }
  });
}

test('IWA page: createQuic without serverCertificateHashes or ca is a TypeError (no system roots in a page); a wrong pin is ERR_TLS_CERT_INVALID', async () => {
  const srv = await native();
  const r = await iwa.call(app, 'errors', { port: portOf(srv.first) });
  assert.deepEqual(r.noVerification, ['TypeError', 'ERR_INVALID_ARG_VALUE'], JSON.stringify(r));
  assert.deepEqual(r.wrongPin, ['SocketIWAError', 'ERR_TLS_CERT_INVALID'], JSON.stringify(r));
});
