// The same wasm probes inside a real, installed Isolated Web App in headless
// Chromium (the browser's own Direct Sockets), started by iwa/loader.js, with
// native node:net / node:dgram peers on loopback. Multicast runs in a private
// network namespace (Chromium, the app server and the peer all inside it).
// Any failure to launch Chromium or install the app fails these tests.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchIwa } from '../harness/iwa.js';
import { probeDir } from './probe_runner.mjs';
import { childInNetns } from './netns.mjs';
import { assertGroResult, bytesPattern, checkSsm, groRange, hashSink, patternServer, portOf, probePatternSha256, sendGroPlan, udpRecorder, udpReplyPeer, UDP_SEGMENT_RUN } from './peers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const appDir = path.resolve(here, '../../iwa');
const MODULE = '/wasm/ds-probe.js';

let iwa;

before(async () => {
  iwa = await launchIwa({ appDir, mounts: { '/wasm/': probeDir }, timeoutMs: 90000 });
  // One plain-JS TCPServerSocket accept before the probes, logged: in about
  // 1 of 10 fresh apps Chromium 156 here closed the first accepted
  // connection before the page saw it (docs/BRIDGE.md).
  const port = await iwa.evaluate(async () => {
    const srv = new TCPServerSocket('127.0.0.1');
    const { readable, localPort } = await srv.opened;
    self.__warmup = (async () => {
      const r = readable.getReader();
      const { value } = await r.read();
      try { await value.opened; return 'accepted'; } catch (e) { return `${e.name}: ${e.message}`; } finally { r.releaseLock(); srv.close().catch(() => {}); }
    })();
    return localPort;
  });
  const client = await new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => setTimeout(() => { s.destroy(); resolve('connected'); }, 100));
    s.on('error', (e) => resolve(e.code));
  });
  const seen = await iwa.evaluate(() => Promise.race([self.__warmup, new Promise((r) => setTimeout(() => r('not delivered'), 2000))]));
  console.log(`# warm-up TCP accept in the app: client ${client}, page ${seen}`);
});

after(async () => {
  if (iwa) await iwa.close();
});

const start = (args) => iwa.call('/loader.js', 'start', { module: MODULE, args });
const ready = (id) => iwa.call('/loader.js', 'ready', id, 20000);
const done = (id, ms = 30000) => iwa.call('/loader.js', 'done', id, ms);

test('IWA: JSPI is wired (Suspending imports, promising main) and the app is cross-origin isolated', async () => {
  const id = await start(['socket-family', '2']);
  const r = await done(id);
  assert.equal(r.result.ok, true, JSON.stringify(r));
  const info = await iwa.evaluate(() => ({ isolated: self.crossOriginIsolated, origin: location.origin }));
  assert.equal(info.isolated, true);
  assert.match(info.origin, /^isolated-app:\/\//);
});

test('IWA: Rust UdpSocket echo of 100 datagrams (up to 9000 B) to a node:dgram client', async () => {
  const count = 100;
  const id = await start(['udp-echo', '127.0.0.1:0', String(count)]);
  const port = portOf(await ready(id));
  const client = dgram.createSocket('udp4');
  await new Promise((r) => client.bind(0, '127.0.0.1', r));
  const sizes = [4, 100, 1200, 1400, 9000];
  const sent = new Map();
  const got = new Map();
  let next = 0;
  const sendNext = () => {
    if (next >= count) return;
    const i = next++;
    const m = bytesPattern(sizes[i % sizes.length], i);
    m.writeUInt32BE(i, 0);
    sent.set(i, m);
    client.send(m, port, '127.0.0.1');
  };
  const all = new Promise((resolve) => {
    client.on('message', (m, rinfo) => {
      assert.equal(rinfo.port, port);
      got.set(m.readUInt32BE(0), m);
      sendNext();
      if (got.size === count) resolve();
    });
  });
  for (let w = 0; w < 8; w++) sendNext();
  await Promise.race([all, new Promise((_, rej) => setTimeout(() => rej(new Error(`echo timed out, got ${got.size}`)), 20000))]);
  client.close();
  const r = await done(id);
  assert.equal(r.result.ok, true, JSON.stringify(r));
  assert.equal(r.result.echoed, count);
  for (const [i, m] of sent) assert.ok(got.get(i).equals(m), `datagram ${i}`);
  const stats = await iwa.call('/loader.js', 'stats', id);
  assert.equal(stats.suspended.send || 0, 0, `sends never suspend: ${JSON.stringify(stats)}`);
});

// 1 MiB per TCP connection: the bridge's send queue re-sends the chunks
// Chromium's TCPSocket drops (tests/wasm/chromium_tcp_write_loss.mjs,
// docs/BRIDGE.md "Chromium TCP write loss"); the 64 MiB upload test below
// covers the volume.
const TCP_PAYLOAD = 1024 * 1024;

test('IWA: the QUIC driver loop (poll + recvmsg until EAGAIN + sendmsg) echoes 100 datagrams', async () => {
  const count = 100;
  const id = await start(['udp-driver', '127.0.0.1:0', String(count)]);
  const port = portOf(await ready(id));
  const client = dgram.createSocket('udp4');
  await new Promise((r) => client.bind(0, '127.0.0.1', r));
  let next = 0, got = 0;
  const all = new Promise((resolve) => {
    client.on('message', (m) => {
      assert.equal(m.readUInt32BE(0), got);
      got++;
      if (next < count) { const b = Buffer.alloc(1200); b.writeUInt32BE(next++, 0); client.send(b, port, '127.0.0.1'); }
      if (got === count) resolve();
    });
  });
  const b0 = Buffer.alloc(1200); b0.writeUInt32BE(next++, 0); client.send(b0, port, '127.0.0.1');
  await Promise.race([all, new Promise((_, rej) => setTimeout(() => rej(new Error(`driver echo timed out at ${got}`)), 20000))]);
  client.close();
  const r = await done(id);
  assert.equal(r.result.ok, true, JSON.stringify(r));
  assert.equal(r.result.echoed, count);
});

test('IWA: std TcpListener echo (read()/write() on the fds) accepts native node:net clients', async () => {
  const id = await start(['tcp-echo', '127.0.0.1:0', '2']);
  const port = portOf(await ready(id));
  const clientPorts = [];
  const echo = (payload) => new Promise((resolve, reject) => {
    const chunks = [];
    const s = net.connect(port, '127.0.0.1', () => s.end(payload));
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => resolve({ echoed: Buffer.concat(chunks), localPort: s.localPort }));
    s.on('error', reject);
    setTimeout(() => reject(new Error('client timed out')), 20000);
  });
  let dropped = 0;
  for (let c = 0; c < 2; c++) {
    const payload = bytesPattern(TCP_PAYLOAD, c + 3);
    let { echoed, localPort } = await echo(payload);
    const socks = await iwa.call('/loader.js', 'sockets', id);
    if (echoed.length === 0 && dropped === 0 && socks.every((x) => x.state === 'listening')) {
      // The Chromium drop in docs/BRIDGE.md: the connection was closed before the
      // page saw it (no accepted socket in the bridge, so the probe's accept() is
      // still waiting). At most once per run; the probe must then accept the next one.
      dropped += 1;
      console.log(`# client ${c}: connection closed by Chromium before the page saw it; connecting again (docs/BRIDGE.md)`);
      ({ echoed, localPort } = await echo(payload));
    }
    clientPorts.push(localPort);
    if (!echoed.equals(payload)) {
      const last = await iwa.call('/loader.js', 'lastError', id);
      const now = await iwa.call('/loader.js', 'sockets', id);
      assert.fail(`client ${c}: ${echoed.length} of ${payload.length} bytes echoed; bridge last error ${JSON.stringify(last)}; sockets ${JSON.stringify(now)}`);
    }
  }
  const r = await done(id);
  assert.equal(r.result.ok, true, JSON.stringify(r));
  assert.equal(r.result.bytes, 2 * TCP_PAYLOAD);
  assert.deepEqual(r.result.peers, clientPorts.map((p) => `127.0.0.1:${p}`));
});

test('IWA: std TcpStream client (non-blocking + poll) to a native node:net echo server, 1 MiB verified', async () => {
  let received = 0;
  const server = net.createServer((s) => {
    s.on('data', (d) => { received += d.length; s.write(d); });
    s.on('end', () => s.end());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  try {
    const id = await start(['tcp-client', `127.0.0.1:${port}`, String(TCP_PAYLOAD)]);
    const r = await done(id);
    assert.equal(r.result.ok, true, `${JSON.stringify(r)}; the server received ${received} of ${TCP_PAYLOAD}`);
    assert.equal(received, TCP_PAYLOAD);
    assert.equal(r.result.peer, `127.0.0.1:${port}`);
  } finally { server.close(); }
});

// Chromium drops whole write() chunks when its 64 KiB data pipe is full
// (docs/BRIDGE.md, "Chromium TCP write loss"); the bridge's send queue
// (emscripten/src/lib/libds_txq.js) detects and re-sends them. 64 MiB through
// std TcpStream::write_all in 16 KiB writes, the wasm memory growing meanwhile.
// No timing assumption: the upload takes 1-10 s here; the limit (150 s) only
// stops a hung run.
test('IWA: std TcpStream uploads 64 MiB through Chromium, SHA-256 verified by a native server', async () => {
  const bytes = 64 << 20;
  const sink = await hashSink(bytes);
  const expected = probePatternSha256(bytes);
  try {
    const id = await start(['tcp-send', `127.0.0.1:${sink.port}`, String(bytes), String(16384)]);
    // A lost chunk leaves the probe waiting for a verdict that never comes:
    // fail once the sink has seen no new byte for 15 s (not a speed limit).
    let stalled;
    const watch = new Promise((_, reject) => {
      let last = -1, idle = 0;
      stalled = setInterval(() => {
        const now = sink.results[0] ? sink.results[0].bytes : 0;
        idle = now === last ? idle + 1 : 0;
        last = now;
        if (idle >= 15 && now < bytes) reject(new Error(`upload stalled: the server received ${now} of ${bytes} bytes`));
      }, 1000);
    });
    let r;
    try { r = await Promise.race([done(id, 150000), watch]); } finally { clearInterval(stalled); }
    const stats = await iwa.call('/loader.js', 'stats', id);
    console.log(`# 64 MiB upload: send queue ${JSON.stringify(stats.txq)}`);
    assert.equal(r.result.ok, true, JSON.stringify(r));
    assert.equal(sink.results.length, 1);
    assert.equal(sink.results[0].bytes, bytes, `received ${sink.results[0].bytes} of ${bytes}`);
    assert.equal(sink.results[0].sha256, expected);
    assert.equal(r.result.verdict, `sha256=${expected} bytes=${bytes}`);
    assert.ok(r.result.ballastMiB >= 16, 'the wasm memory grew during the upload');
  } finally { await sink.close(); }
});

test('IWA: TCP download, blocking read() of 1 MiB from a native server (the receive direction has no stall)', async () => {
  const srv = await patternServer(1 << 20);
  try {
    const r = await done(await start(['tcp-recv', `127.0.0.1:${srv.port}`, String(1 << 20)]));
    assert.equal(r.result.ok, true, JSON.stringify(r));
    assert.equal(r.result.bytes, 1 << 20);
  } finally { await srv.close(); }
});

test('IWA: connected UDP (connect() on a bound UDPSocket) sees only its peer', async () => {
  const peer = await udpReplyPeer({ noise: true });
  try {
    const r = await done(await start(['udp-connected', `127.0.0.1:${peer.port}`, '3']));
    assert.equal(r.result.ok, true, JSON.stringify(r));
    assert.deepEqual(r.result.got, ['re:hello-0', 're:hello-1', 're:hello-2']);
  } finally { peer.close(); }
});

// In Chromium the bridge sends a UDP_SEGMENT run datagram by datagram (docs/BRIDGE.md
// "UDP_SEGMENT: one sendmsg per run").
test('IWA: sendmsg with UDP_SEGMENT: a run arrives as its datagrams, in order; bad runs are EINVAL', async () => {
  const peer = await udpRecorder();
  try {
    const r = await done(await start(['udp-segment', `127.0.0.1:${peer.port}`]));
    assert.equal(r.result.ok, true, JSON.stringify(r));
    assert.equal(r.result.getsockopt, 0);
    assert.equal(r.result.sent, 5300);
    assert.equal(r.result.tooMany, r.result.einval, '65 segments');
    assert.equal(r.result.shortCmsg, r.result.einval, 'a control message shorter than its header');
    assert.deepEqual(await peer.wait(5), UDP_SEGMENT_RUN);
  } finally { peer.close(); }
});

// docs/BRIDGE.md "UDP_GRO: runs in one recvmsg": Chromium hands over one datagram per read, and
// the bridge joins what it has queued from one sender into runs as Linux's GRO would: equal sizes,
// a shorter one ends a run, another sender starts a new one. The probe waits until all 41 are
// queued, so the grouping is known; without GRO, or without room for the control message, one
// datagram per recvmsg.
test('IWA: recvmsg with UDP_GRO joins queued datagrams from one sender into runs; GRO off: one datagram per call', async () => {
  const plan = [
    [0, [...groRange(1, 0, 20, 700), ...groRange(1, 20, 21, 300)], 'each'],
    [0, groRange(2, 0, 10, 700), 'each'],
    [1, groRange(3, 0, 5, 500), 'each'],
    [0, groRange(4, 0, 5, 500), 'each'],
  ];
  for (const [gro, ctl] of [[1, 1], [0, 1], [1, 0]]) {
    const who = `gro=${gro} ctl=${ctl}`;
    const id = await start(['udp-gro', '127.0.0.1:0', '41', String(gro), String(ctl), '1500']);
    const port = portOf(await ready(id));
    const want = await sendGroPlan(port, plan);
    const r = await done(id);
    assertGroResult(r.result, { want, gro, ctl, who, runs: [[14300, 700], [7000, 700], [2500, 500], [2500, 500]] });
  }
});

test('IWA: sendmsg (3 iovecs), select(), recvmsg (2 iovecs, MSG_TRUNC)', async () => {
  const peer = await udpReplyPeer({ echoRaw: true });
  try {
    const r = await done(await start(['msg-iov', `127.0.0.1:${peer.port}`]));
    assert.equal(r.result.ok, true, JSON.stringify(r));
    assert.equal(r.result.first + r.result.second, 'alpha-beta');
    assert.equal(r.result.truncated, true);
    assert.equal(r.result.selectReady, 1);
  } finally { peer.close(); }
});

// Connect by host name is tested under Node only (bridge_node.test.mjs): in
// Chromium 156 here, `new TCPSocket('localhost', port)` from plain page
// JavaScript intermittently rejects with InvalidStateError ("The socket is not
// in a state that allows this operation."), so an IWA test of it would test
// that flakiness rather than the bridge (docs/BRIDGE.md).

test('IWA: SO_RCVTIMEO via set_read_timeout gives WouldBlock after the timeout', async () => {
  const r = await done(await start(['recv-timeout', '127.0.0.1:0', '200']));
  assert.equal(r.result.kind, 'WouldBlock', JSON.stringify(r));
  assert.ok(r.result.elapsedMs >= 195 && r.result.elapsedMs < 1500, `elapsed ${r.result.elapsedMs} ms`);
});

test('IWA: refused connect is ConnectionRefused; port in use is AddrInUse', async () => {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const closedPort = s.address().port;
  await new Promise((r) => s.close(r));
  // What Chromium itself reports (kept in the test log for docs/BRIDGE.md).
  const raw = await iwa.evaluate(async (p) => {
    try { await new TCPSocket('127.0.0.1', p).opened; return 'opened'; } catch (e) { return `${e.name}: ${e.message}`; }
  }, closedPort);
  console.log(`# Chromium TCPSocket to a closed port: ${raw}`);
  const r1 = await done(await start(['expect-connect', `127.0.0.1:${closedPort}`]));
  assert.equal(r1.result.kind, 'ConnectionRefused', JSON.stringify(r1));

  const holder = dgram.createSocket('udp4');
  await new Promise((r) => holder.bind(0, '127.0.0.1', r));
  try {
    const r2 = await done(await start(['expect-bind-udp', `127.0.0.1:${holder.address().port}`]));
    assert.equal(r2.result.kind, 'AddrInUse', JSON.stringify(r2));
  } finally { holder.close(); }
});

test('IWA: a host name that does not resolve: connect() (TCP, UDP) and a sendto()\'s later error are EHOSTUNREACH in C, ENOTFOUND in JavaScript; the UDP socket keeps working', async () => {
  // Chromium rejects with NetworkError net::ERR_NAME_NOT_RESOLVED; `.invalid`
  // never resolves (RFC 6761). What Chromium says is logged for docs/BRIDGE.md.
  const raw = await iwa.evaluate(async () => {
    try { await new TCPSocket('nope.invalid', 9).opened; return 'opened'; } catch (e) { return `${e.name}: ${e.message}`; }
  });
  console.log(`# Chromium TCPSocket to nope.invalid: ${raw}`);
  const first = await start(['socket-family', '2']);
  await done(first);
  const errno = await iwa.call('/loader.js', 'errnoTable', first);
  const peer = dgram.createSocket('udp4');
  const heard = [];
  peer.on('message', (m) => heard.push(m.toString()));
  await new Promise((r) => peer.bind(0, '127.0.0.1', r));
  for (const path of ['tcp', 'udp-connect', 'udp-sendto']) {
    const id = await start(['unresolved', path, 'nope.invalid:9', `127.0.0.1:${peer.address().port}`]);
    const r = await done(id, 20000);
    assert.equal(r.result.ok, false, `${path}: ${JSON.stringify(r)}`);
    assert.equal(r.result.errno, r.result.EHOSTUNREACH, `${path}: ${JSON.stringify(r.result)}`);
    const last = await iwa.call('/loader.js', 'lastError', id);
    assert.equal(last.code, 'ENOTFOUND', `${path}: ${JSON.stringify(last)}`);
    assert.equal(last.errno, errno.EHOSTUNREACH);
    if (path === 'udp-sendto') assert.equal(r.result.afterSent, 5, 'the socket still sends after the failed one (error reported once)');
  }
  // Issue 13 defect 1 in the bridge: the failed send did not kill the socket; its next datagram arrives.
  for (let i = 0; i < 100 && !heard.includes('after'); i++) await new Promise((res) => setTimeout(res, 20));
  peer.close();
  assert.deepEqual(heard, ['after']);
});

test('IWA: closing an fd from another export wakes a recv suspended on it', async () => {
  const id = await start(['recv-until-closed', '127.0.0.1:0']);
  const fd = Number(/fd=(\d+)/.exec(await ready(id))[1]);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(await iwa.call('/loader.js', 'closeFd', id, fd), 0);
  const r = await done(id, 5000);
  const errno = await iwa.call('/loader.js', 'errnoTable', id);
  assert.equal(r.result.ok, false, JSON.stringify(r));
  assert.equal(r.result.errno, errno.EBADF);
});

test('IWA: multicast round trip through setsockopt(IP_ADD_MEMBERSHIP), Chromium in a private network namespace', async () => {
  const out = await childInNetns('dsb-iwa', path.join(here, 'iwa_multicast_child.mjs'), [], 120000);
  assert.equal(out.error, undefined, out.error);
  assert.equal(out.probe.ok, true, JSON.stringify(out));
  assert.equal(out.probe.answered, 3);
  assert.equal(out.peer.announcements.length, 1);
  assert.deepEqual(out.peer.replies.map((r) => r.text).sort(), ['echo:ping-0', 'echo:ping-1', 'echo:ping-2']);
  assert.equal(out.probe.joinTwiceErrno, out.probe.eaddrinuse);
  assert.equal(out.probe.leaveTwiceErrno, out.probe.eaddrnotavail);
  assert.deepEqual(out.groupsWhileJoined.tracked, ['239.10.10.10']);
  assert.deepEqual(out.groupsWhileJoined.controller, ['239.10.10.10'], 'MulticastController.joinedGroups agrees');
});

test('IWA without the local-network permission: bind and connect reach Rust as PermissionDenied', async () => {
  const denied = await launchIwa({ appDir, mounts: { '/wasm/': probeDir }, timeoutMs: 90000, grantPermissions: [] });
  try {
    const call = (args) => denied.call('/loader.js', 'start', { module: MODULE, args })
      .then((id) => denied.call('/loader.js', 'done', id, 20000));
    const raw = await denied.evaluate(async () => {
      try { await new UDPSocket({ localAddress: '127.0.0.1' }).opened; return 'opened'; } catch (e) { return `${e.name}: ${e.message}`; }
    });
    console.log(`# Chromium UDPSocket without permission: ${raw}`);
    const b = await call(['expect-bind-udp', '127.0.0.1:0']);
    assert.equal(b.result.kind, 'PermissionDenied', JSON.stringify(b));
    const c = await call(['expect-connect', '127.0.0.1:9']);
    assert.equal(c.result.kind, 'PermissionDenied', JSON.stringify(c));
  } finally {
    await denied.close();
  }
});

test('IWA: source-specific membership is refused with EOPNOTSUPP without SourceSpecificMulticastInDirectSockets (Chromium drops sourceAddress; detected)', async () => {
  const r = await done(await start(['ssm', '232.1.2.3', '127.0.0.1', '0']));
  assert.equal(r.result.ok, true, JSON.stringify(r));
  assert.equal(r.result.joinErrno, r.result.EOPNOTSUPP);
});

test('IWA with SourceSpecificMulticastInDirectSockets: IP_ADD_SOURCE_MEMBERSHIP joins (detected, not assumed) and hears the chosen source only (network namespace)', async () => {
  checkSsm(await childInNetns('dsb-iwa-ssm', path.join(here, 'ssm_child.mjs'), ['iwa'], 120000));
});
