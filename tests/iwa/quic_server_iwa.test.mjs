// The Rust QUIC server, compiled to wasm32-unknown-emscripten, running inside a
// real installed Isolated Web App in headless Chromium on the browser's own
// Direct Sockets (UDPSocket), started by iwa/loader.js; the app is the signed web
// bundle (tests/iwa/signed_bundle.mjs: $SOCKET_IWA_SWBN or one built for the run). Clients: our native
// socket-iwa-client and aioquic (tests/interop/aioquic_cli.py), over loopback.
// Any failure to launch Chromium or install the app fails these tests.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { launchIwa } from '../harness/iwa.js';
import { signedBundle } from './signed_bundle.mjs';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const client = path.join(root, 'target/release/socket-iwa-client');
const h3Client = path.join(root, 'target/release/socket-iwa-h3-client');
const aioquicCli = path.join(root, 'tests/interop/aioquic_cli.py');
const quinnPeer = path.join(root, 'tests/peers/quinn-peer/target/release/quinn-peer');
const MIB = 1 << 20;

let iwa;
let port;
let pin; // the server's cert_sha256: every client run pins it (--cert-hash)

/**
 * The first JSON event `name` that the wasm server `sid` (any server when null) printed to the page
 * console, parsed; waits up to `timeoutMs` for it, then null.
 */
async function serverEvent(sid, name, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const line = iwa.consoleLines.find((l) => l.includes(`"event":"${name}"`) && (sid === null || l.includes(`[${sid}] `)));
    if (line) return JSON.parse(line.slice(line.indexOf('{'), line.lastIndexOf('}') + 1));
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

/** Waits until the server's JSON "listening" line reaches the page console. */
async function listeningPort(sid = null, timeoutMs = 30000) {
  const j = await serverEvent(sid, 'listening', timeoutMs);
  if (!j) throw new Error(`the wasm server did not report listening; console: ${iwa.consoleLines.join(' | ')}`);
  return { port: Number(j.addr.split(':').pop()), pin: j.cert_sha256 };
}

/** UDP datagrams the kernel dropped on receipt so far (/proc/net/snmp `Udp: InErrors`: full receive buffers and the like). */
function udpReceiveDrops() {
  const [names, values] = fs.readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:')).map((l) => l.split(/\s+/));
  return Number(values[names.indexOf('InErrors')]);
}

/** Starts one more wasm server in the app with flags `extra` (and a stop file of its own); returns its id. */
async function startServer(name, ...extra) {
  const stopFile = `/tmp/stop-${name}`;
  return iwa.call('/loader.js', 'start', {
    module: '/wasm/socket-iwa-server.js', stopFile, args: ['--listen', '127.0.0.1:0', '--json', ...extra, '--stop-file', stopFile],
  });
}

async function ourClient(...args) {
  return clientOf({ port, pin }, ...args);
}

async function clientOf(server, ...args) {
  const { stdout } = await run(client, ['--connect', `127.0.0.1:${server.port}`, '--cert-hash', server.pin, '--json', '--timeout', '60', ...args], { timeout: 90000 });
  return JSON.parse(stdout.trim().split('\n').pop());
}

async function aioquic(...args) {
  return aioquicOf(port, ...args);
}

async function aioquicOf(serverPort, ...args) {
  const { stdout } = await run('python3', [aioquicCli, '--port', String(serverPort), ...args], { timeout: 150000 });
  return JSON.parse(stdout.trim().split('\n').pop());
}

before(async () => {
  iwa = await launchIwa({ bundle: await signedBundle(), timeoutMs: 120000 });
  await iwa.call('/loader.js', 'start', { module: '/wasm/socket-iwa-server.js', args: ['--listen', '127.0.0.1:0', '--json'] });
  ({ port, pin } = await listeningPort());
});

after(async () => {
  if (iwa) await iwa.close();
});

test('IWA server: native client echoes 1 MiB on one stream', async () => {
  const r = await ourClient('--bytes', String(MIB));
  assert.equal(r.verified, true, JSON.stringify(r));
  assert.equal(r.bytes_echoed, MIB);
});

test('IWA server: native client, 100 concurrent streams and 20 datagrams', async () => {
  const r = await ourClient('--streams', '100', '--bytes', '2000', '--datagrams', '20');
  assert.equal(r.verified, true, JSON.stringify(r));
  assert.equal(r.streams_completed, 100);
  assert.ok(r.datagrams_echoed >= 18, JSON.stringify(r));
});

test('IWA server: native client resumes with a session ticket and 0-RTT is accepted', async () => {
  const session = path.join(await import('node:os').then((os) => os.tmpdir()), `siwa-iwa-${process.pid}.json`);
  const first = await ourClient('--session', session);
  assert.equal(first.resumed, false);
  const second = await ourClient('--session', session);
  assert.equal(second.verified, true, JSON.stringify(second));
  assert.equal(second.resumed, true);
  assert.equal(second.early_data, 'accepted');
});

test('IWA server: aioquic client echoes 1 MiB, 20 datagrams, then resumes with 0-RTT', async () => {
  const r = await aioquic('--bytes', String(MIB), '--datagrams', '20', '--zero-rtt');
  assert.equal(r.streams_ok, 1, JSON.stringify(r));
  assert.ok(r.datagrams_echoed >= 18, JSON.stringify(r));
  assert.equal(r.second.streams_ok, 1, JSON.stringify(r));
  assert.equal(r.second.resumed, true);
  assert.equal(r.second.early_data_accepted, true);
});

test('IWA server: aioquic client with 100 concurrent streams', async () => {
  const r = await aioquic('--streams', '100', '--bytes', '2000');
  assert.equal(r.streams_ok, 100, JSON.stringify(r));
});

test('IWA server with --udp-send-sockets 2: both sockets sharing the port send, clients on several source ports echo 2 MiB and 200 datagrams', async () => {
  const sid = await startServer('send-sockets', '--udp-send-sockets', '2');
  try {
    const server = await listeningPort(sid);
    // Separate client processes: separate source ports, which the kernel hashes to either socket.
    const rs = await Promise.all([1, 2, 3].map(() => clientOf(server, '--bytes', String(2 * MIB), '--datagrams', '200')));
    for (const r of rs) {
      assert.equal(r.verified, true, JSON.stringify(r));
      assert.equal(r.bytes_echoed, 2 * MIB);
      assert.ok(r.datagrams_echoed >= 150, JSON.stringify(r));
    }
    const socks = await iwa.call('/loader.js', 'sockets', sid);
    const udp = socks.find((x) => x.senders);
    assert.ok(udp, `no socket with senders: ${JSON.stringify(socks)}`);
    assert.equal(udp.senders.length, 2, JSON.stringify(udp));
    // Each carried a real share of the server's ~6,000 datagrams (fewest outstanding writes first).
    for (const x of udp.senders) assert.ok(x.sent > 500, JSON.stringify(udp.senders));
  } finally {
    await iwa.call('/loader.js', 'stop', sid);
  }
});

// How the bridge waits, checked in real Chromium (docs/BRIDGE.md "Which events wake the program",
// "Reads held back for room to send"): during a download the server's send budget is full, so it
// should wake to send, not once per finished write (0.12-0.32 wake-ups for nothing per datagram
// before) nor once per ACK of the client (0.33 poll() suspensions per datagram before; ~0.05 now).
test('IWA server: during a 4 MB HTTP/3 download the bridge wakes the server only when it can send (its counters in real Chromium)', async (t) => {
  const sid = await startServer('wakes');
  try {
    const server = await listeningPort(sid);
    const get = () => run(h3Client, ['--connect', `127.0.0.1:${server.port}`, '--cert-hash', server.pin, '--json', '--timeout', '60', '--get', '/bytes/4000000'], { timeout: 90000 });
    await get();   // warm-up: V8 tiers the wasm up
    const s0 = await iwa.call('/loader.js', 'stats', sid);
    const { stdout } = await get();
    const s1 = await iwa.call('/loader.js', 'stats', sid);
    assert.equal(JSON.parse(stdout.trim().split('\n').pop()).responses[0].verified, true, stdout);
    const d = (kind, op) => ((s1[kind] || {})[op] || 0) - ((s0[kind] || {})[op] || 0);
    const moved = (s1.udp.tx - s0.udp.tx) + (s1.udp.rx - s0.udp.rx);
    const seen = `over ${moved} datagrams: suspended ${d('suspended', 'poll')}, woke for nothing ${d('stale', 'poll')}, held a read back ${d('deferred', 'poll')}`;
    t.diagnostic(seen);
    assert.ok(moved > 3000, seen);
    assert.ok(d('stale', 'poll') <= moved / 100, seen);
    assert.ok(d('deferred', 'poll') > 0, seen);
    assert.ok(d('suspended', 'poll') < moved * 0.15, seen);
  } finally {
    await iwa.call('/loader.js', 'stop', sid);
  }
});

// Outgoing datagrams leave the wasm heap in pooled buffers, each reused once its write has settled
// (docs/BRIDGE.md "Outgoing datagrams in pooled buffers"). Chromium reads a queued write's bytes only
// when it dispatches it, long after write() was called, so a buffer reused too early would put another
// packet's bytes on the wire: a packet sent twice, or one that does not decrypt. The client would never
// acknowledge the packet that was meant, and the server would declare it lost. Over loopback nothing else
// loses a packet but a full receive buffer, which the kernel counts (a client kept off the CPU for ~10 ms):
// the server's own loss count must stay within those drops. (With each buffer released as soon as its
// write was handed over, 2,659-2,880 of ~9,500 packets were lost, and the download still verified.)
test('IWA server: an 8 MB HTTP/3 download through pooled send buffers loses no packet (the server\'s own loss count, against the kernel\'s drops)', async (t) => {
  const sid = await startServer('pooled');
  try {
    const server = await listeningPort(sid);
    const drops0 = udpReceiveDrops();
    const { stdout } = await run(h3Client, ['--connect', `127.0.0.1:${server.port}`, '--cert-hash', server.pin, '--json', '--timeout', '60',
      '--get', '/bytes/8000000'], { timeout: 90000 });
    const drops = udpReceiveDrops() - drops0;
    assert.equal(JSON.parse(stdout.trim().split('\n').pop()).responses[0].verified, true, stdout);
    // The server reports a connection once its draining period is over.
    const closed = await serverEvent(sid, 'connection_closed', 10000);
    assert.ok(closed, `no connection_closed event from the server: ${iwa.consoleLines.filter((l) => l.includes(`[${sid}] `)).slice(-5).join(' | ')}`);
    const sent = (await iwa.call('/loader.js', 'stats', sid)).udp.tx;
    const what = `server: ${JSON.stringify(closed.path)}, ${sent} datagrams written; the kernel dropped ${drops} UDP datagrams meanwhile`;
    t.diagnostic(what);
    assert.ok(closed.path.packets_out > 5000 && sent > 5000, what);
    assert.ok(closed.path.packets_lost <= drops, what);
  } finally {
    await iwa.call('/loader.js', 'stop', sid);
  }
});

test('IWA server with --udp-send-sockets 4: a 4 MB HTTP/3 download arrives in order (the client\'s qlog) and every socket sends', async () => {
  // Handing each writer a queue of its own let their completions interleave the packets: 26-33 %
  // arrived after a later one, and the client acknowledged each of those at once.
  const sid = await startServer('send-sockets-4', '--udp-send-sockets', '4');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iwa-order-'));
  try {
    const server = await listeningPort(sid);
    const { stdout } = await run(h3Client, ['--connect', `127.0.0.1:${server.port}`, '--cert-hash', server.pin, '--json', '--timeout', '60',
      '--get', '/bytes/4000000', '--qlog-dir', dir], { timeout: 90000 });
    const r = JSON.parse(stdout.trim().split('\n').pop());
    assert.equal(r.responses[0].verified, true, stdout);
    const [file] = fs.readdirSync(dir);
    const records = fs.readFileSync(path.join(dir, file), 'utf8').split('\x1e').filter((x) => x.trim()).map((x) => JSON.parse(x));
    let max = -1, late = 0, n = 0;
    for (const e of records) {
      if (e.name !== 'transport:packet_received' || e.data?.header?.packet_type !== '1RTT') continue;
      n++;
      if (e.data.header.packet_number < max) late++; else max = e.data.header.packet_number;
    }
    assert.ok(n > 2500, `1-RTT packets received: ${n}`);
    assert.ok(late <= n / 100, `${late} of ${n} packets arrived after a later one`);
    // An independent client through the same four sockets: aioquic echoes 1 MB over 200 streams.
    const a = await aioquicOf(server.port, '--streams', '200', '--bytes', String(5000));
    assert.equal(a.streams_ok, 200, JSON.stringify(a));
    const udp = (await iwa.call('/loader.js', 'sockets', sid)).find((x) => x.senders);
    assert.equal(udp.senders.length, 4, JSON.stringify(udp));
    for (const x of udp.senders) assert.ok(x.sent > 100, JSON.stringify(udp.senders));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await iwa.call('/loader.js', 'stop', sid);
  }
});

test('IWA server with --udp-send-sockets 8 under hostile load: quinn echoes 6 MB over 2,000 streams, updates its keys and moves to a new port while the flood suite\'s chaos mix hits the port; the server then still serves, also a client that stops reading mid-download', async (t) => {
  // The multi-socket send path against an independent peer past demo sizes: thousands of streams,
  // a key update, a migration (the new 4-tuple may hash to another socket of the group), and a
  // flood of real Initials, truncated Initials, unknown versions, short headers for unknown CIDs
  // and random bytes (stress-test/flood/modes.py "chaos": 10 s, 0-30k datagrams/s).
  const sid = await startServer('send-sockets-8', '--udp-send-sockets', '8', '--stats-interval', '500');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iwa-hostile-'));
  let flood = null;
  try {
    const server = await listeningPort(sid);
    const pool = path.join(dir, 'initials.pickle');
    await run('python3', ['-c', 'import pickle, sys; sys.path.insert(0, sys.argv[1]); from initial_flood import make_initials; '
      + 'pickle.dump(make_initials(300, "127.0.0.1", int(sys.argv[2])), open(sys.argv[3], "wb"))',
    path.join(root, 'tests/interop'), String(server.port), pool], { timeout: 60000 });
    // The flood runs on its own (bounded: 10 s plus the sender's 5 s cap); its JSON lines report what it sent.
    let floodOut = '';
    flood = spawn('python3', [path.join(root, 'stress-test/flood/sender.py'), '127.0.0.1', String(server.port), 'chaos', '1', pool],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    flood.stdout.on('data', (d) => { floodOut += d; });
    const floodEnded = new Promise((resolve) => flood.on('exit', resolve));
    const floodSent = () => { const l = floodOut.trim().split('\n').filter((x) => x.startsWith('{')).pop(); return l ? JSON.parse(l).sent : 0; };
    const deadline = Date.now() + 10000;
    while (floodSent() < 2000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const sentBefore = floodSent();
    assert.ok(sentBefore >= 2000 && flood.exitCode === null, `the flood is not under way: ${floodOut}`);
    const { stdout } = await run(quinnPeer, ['client', '--connect', `127.0.0.1:${server.port}`, '--cert-hash', server.pin,
      '--streams', '2000', '--bytes', '3000', '--key-update', '--rebind-after', '3000000', '--timeout', '60'], { timeout: 90000 });
    const q = JSON.parse(stdout.trim().split('\n').pop()).connections[0];
    assert.equal(q.verified, true, stdout);
    assert.equal(q.error, null, stdout);
    assert.equal(q.streams_completed, 2000, stdout);
    assert.equal(q.bytes_echoed, 6000000, stdout);
    assert.equal(q.key_update_forced, true, stdout);
    assert.ok(q.rebound_to, `quinn did not move to a new port: ${stdout}`);
    assert.ok(q.stats.path_challenge_rx >= 1, `the server did not validate the new path: ${stdout}`);
    const code = await floodEnded;
    assert.equal(code, 0, floodOut);
    // After the flood: a fresh client gets a full echo, and the server counted what it was sent.
    const r = await clientOf(server, '--bytes', String(MIB));
    assert.equal(r.bytes_echoed, MIB, JSON.stringify(r));
    // A client that stops reading (SIGSTOP for 2 s) in the middle of a 40 MB download: its socket
    // overflows and the server's packets to it are lost while another client is served; once it
    // reads again, loss recovery completes the download through the same eight sockets.
    const stalled = spawn(h3Client, ['--connect', `127.0.0.1:${server.port}`, '--cert-hash', server.pin, '--json', '--timeout', '60',
      '--get', '/bytes/40000000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stalledOut = '';
    stalled.stdout.on('data', (d) => { stalledOut += d; });
    const stalledEnd = new Promise((resolve) => stalled.on('exit', resolve));
    await new Promise((res) => setTimeout(res, 200));
    stalled.kill('SIGSTOP');
    try {
      const other = await clientOf(server, '--bytes', String(MIB));
      assert.equal(other.bytes_echoed, MIB, JSON.stringify(other));
      await new Promise((res) => setTimeout(res, 2000));
    } finally {
      stalled.kill('SIGCONT');
    }
    assert.equal(await stalledEnd, 0, stalledOut);
    const got = JSON.parse(stalledOut.trim().split('\n').pop());
    assert.equal(got.responses[0].bytes, 40000000, stalledOut);
    assert.equal(got.responses[0].verified, true, stalledOut);
    assert.ok(got.responses[0].ms >= 2000, `the stop did not fall inside the download: ${stalledOut}`);
    let stats = null;
    const statsDeadline = Date.now() + 5000;
    while (Date.now() < statsDeadline) {
      const line = iwa.consoleLines.filter((l) => l.includes(`[${sid}] `) && l.includes('"event":"stats"')).pop();
      if (line) {
        stats = JSON.parse(line.slice(line.indexOf('{'))).stats;
        if (stats.handshakes_completed >= 2) break;
      }
      await new Promise((res) => setTimeout(res, 200));
    }
    assert.ok(stats, 'no stats line from the server');
    assert.ok(stats.handshakes_completed >= 2, JSON.stringify(stats));
    assert.ok(stats.packets.garbage > 0 && stats.packets.unknown_cid > 0, JSON.stringify(stats.packets));
    assert.ok(stats.packets.datagrams > 10000, JSON.stringify(stats.packets));
    const udp = (await iwa.call('/loader.js', 'sockets', sid)).find((x) => x.senders);
    t.diagnostic(`quinn ${q.total_ms.toFixed(0)} ms, ${q.stats.lost_packets} lost; flood sent ${floodSent()}; server packets ${JSON.stringify(stats.packets)}; senders ${udp.senders.map((x) => x.sent).join(',')}`);
    assert.equal(udp.senders.length, 8, JSON.stringify(udp));
    for (const x of udp.senders) assert.ok(x.sent > 20, JSON.stringify(udp.senders));
  } finally {
    if (flood && flood.exitCode === null) flood.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    await iwa.call('/loader.js', 'stop', sid);
  }
});

test('IWA client: the wasm socket-iwa-client inside the IWA connects twice, the second time with 0-RTT', async () => {
  const before = iwa.consoleLines.length;
  await iwa.call('/loader.js', 'start', {
    module: '/wasm/socket-iwa-client.js',
    args: ['--connect', `127.0.0.1:${port}`, '--cert-hash', pin, '--connections', '2', '--bytes', '50000', '--json'],
  });
  const deadline = Date.now() + 60000;
  let reports = [];
  while (Date.now() < deadline && reports.length < 2) {
    reports = iwa.consoleLines.slice(before).map((l) => l.slice(l.indexOf('{'))).filter((l) => l.startsWith('{'))
      .map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter((j) => j && 'verified' in j);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(reports.length, 2, iwa.consoleLines.slice(before).join(' | '));
  assert.equal(reports[0].verified, true);
  assert.equal(reports[0].resumed, false);
  assert.equal(reports[1].verified, true, JSON.stringify(reports[1]));
  assert.equal(reports[1].resumed, true);
  assert.equal(reports[1].early_data, 'accepted');
});
