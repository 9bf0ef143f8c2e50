// The Node.js Direct Sockets implementation (node/direct-sockets.js) behaves
// like Chromium's: shapes of opened info, modes, validation, close rules.
import './helpers.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { within, sleep } from './helpers.js';

test('TCPServerSocket accepts TCPSocket; byte streams echo; closed resolves', async () => {
  const server = new TCPServerSocket('127.0.0.1');
  const { readable: conns, localPort, localAddress } = await server.opened;
  assert.equal(localAddress, '127.0.0.1');
  assert.ok(localPort > 0);
  const acceptor = conns.getReader();
  (async () => {
    for (;;) {
      const { value: conn, done } = await acceptor.read();
      if (done) break;
      const { readable, writable } = await conn.opened;
      readable.pipeTo(writable).catch(() => {});
    }
  })();
  const sock = new TCPSocket('127.0.0.1', localPort);
  const info = await sock.opened;
  assert.deepEqual(Object.keys(info).sort(), ['localAddress', 'localPort', 'readable', 'remoteAddress', 'remotePort', 'writable']);
  assert.equal(info.remotePort, localPort);
  const w = info.writable.getWriter();
  const r = info.readable.getReader();
  const payload = new Uint8Array(200000).map((_, i) => i % 251);
  await w.write(payload);
  let got = 0; const chunks = [];
  while (got < payload.length) { const { value } = await r.read(); chunks.push(value); got += value.length; }
  const all = Buffer.concat(chunks);
  assert.ok(all.equals(Buffer.from(payload)));
  await w.close(); r.releaseLock(); await info.readable.cancel();
  await within(sock.closed, 3000, 'TCPSocket.closed');
  await acceptor.cancel();
  await within(server.closed, 3000, 'TCPServerSocket.closed');
});

test('UDPSocket bound and connected modes exchange UDPMessages', async () => {
  const a = new UDPSocket({ localAddress: '127.0.0.1' });
  const ai = await a.opened;
  assert.ok(ai.multicastController, 'bound mode exposes multicastController');
  const b = new UDPSocket({ remoteAddress: '127.0.0.1', remotePort: ai.localPort });
  const bi = await b.opened;
  assert.equal(bi.multicastController, undefined);
  assert.equal(bi.remotePort, ai.localPort);
  const bw = bi.writable.getWriter();
  await bw.write({ data: new Uint8Array([1, 2, 3]) });
  const ar = ai.readable.getReader();
  const { value } = await ar.read();
  assert.deepEqual([...value.data], [1, 2, 3]);
  assert.equal(value.remotePort, bi.localPort);
  await assert.rejects(bw.write({ data: new Uint8Array([1]), remoteAddress: '127.0.0.1', remotePort: 9 }), TypeError);
  const aw = ai.writable.getWriter();
  await assert.rejects(aw.write({ data: new Uint8Array([1]) }), TypeError, 'bound mode needs a destination');
  await assert.rejects(aw.write({ data: 'text', remoteAddress: '127.0.0.1', remotePort: 9 }), TypeError);
  await assert.rejects(a.close(), (e) => e.name === 'InvalidStateError', 'close with locked streams');
  ar.releaseLock(); aw.releaseLock();
  await a.close();
  await a.closed;
  bw.releaseLock();
  await b.close();
});

test('constructors validate like Chromium (TypeError)', () => {
  assert.throws(() => new UDPSocket({}), TypeError);
  assert.throws(() => new UDPSocket({ localAddress: '127.0.0.1', remoteAddress: '127.0.0.1', remotePort: 1 }), TypeError);
  assert.throws(() => new UDPSocket({ localAddress: 'example.com' }), /valid IPv4 or IPv6/);
  assert.throws(() => new UDPSocket({ localAddress: '127.0.0.1', localPort: 0 }), /must not be 0/);
  assert.throws(() => new TCPSocket('127.0.0.1', 70000), TypeError);
  assert.throws(() => new TCPSocket('127.0.0.1'), TypeError);
  assert.throws(() => new TCPServerSocket('nope'), TypeError);
  assert.throws(() => new MulticastController(), TypeError);
});

test('refused TCP connect rejects opened and closed with NetworkError', async () => {
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port; // a port with (almost certainly) no TCP listener
  s.close();
  const t = new TCPSocket('127.0.0.1', port);
  await assert.rejects(t.opened, (e) => e.name === 'NetworkError');
  await assert.rejects(t.closed, (e) => e.name === 'NetworkError');
});

test('MulticastController validates groups and tracks joinedGroups', async () => {
  const u = new UDPSocket({ localAddress: '0.0.0.0', multicastAllowAddressSharing: true, multicastTimeToLive: 1, multicastLoopback: true });
  const { multicastController: mc } = await u.opened;
  await assert.rejects(mc.joinGroup('127.0.0.1'), TypeError);
  await mc.joinGroup('239.1.2.3');
  assert.deepEqual([...mc.joinedGroups], ['239.1.2.3']);
  await assert.rejects(mc.joinGroup('239.1.2.3'), (e) => e.name === 'InvalidStateError');
  await mc.leaveGroup('239.1.2.3');
  assert.deepEqual([...mc.joinedGroups], []);
  await u.close();
});

test('UDP bind conflict rejects opened with NetworkError', async () => {
  const a = new UDPSocket({ localAddress: '127.0.0.1' });
  const { localPort } = await a.opened;
  const b = new UDPSocket({ localAddress: '127.0.0.1', localPort });
  await assert.rejects(b.opened, (e) => e.name === 'NetworkError' && /EADDRINUSE/.test(e.message));
  await a.close();
});

// The two non-standard UDP entry points the wasm bridge uses under Node
// (docs/BRIDGE.md "Under Node: datagrams without streams").
test('UDPSocket: takeDatagrams hands queued, then live datagrams to a sink; sendDatagram copies at once', async () => {
  const take = Symbol.for('socket-iwa.direct-sockets.takeDatagrams');
  const send = Symbol.for('socket-iwa.direct-sockets.sendDatagram');
  const a = new UDPSocket({ localAddress: '127.0.0.1' });
  const ai = await a.opened;
  const peer = dgram.createSocket('udp4');
  await new Promise((r) => peer.bind(0, '127.0.0.1', r));
  try {
  const got = [];
  let arrived = null;
  const more = () => new Promise((r) => { arrived = r; });
  // Queued before the sink exists: read out of the stream first, in order.
  for (const b of [1, 2]) peer.send(Buffer.from([b]), ai.localPort, '127.0.0.1');
  await new Promise((r) => setTimeout(r, 100));
  let ended = 'not yet';
  const wait = more();
  const reader = ai.readable[take]({
    datagram(m) { got.push(m); if (arrived && got.length >= 2) arrived(); },
    end(e) { ended = e; },
  });
  assert.ok(ai.readable.locked, 'the readable is locked to the bridge');
  assert.throws(() => ai.readable[take]({ datagram() {}, end() {} }), TypeError, 'a second take is refused');
  await within(wait, 3000, 'queued datagrams');
  const wait2 = new Promise((r) => { arrived = () => { if (got.length >= 3) r(); }; });
  peer.send(Buffer.from([3]), ai.localPort, '127.0.0.1');
  await within(wait2, 3000, 'live datagram');
  assert.deepEqual(got.map((m) => m.data[0]), [1, 2, 3]);
  assert.ok(got.every((m) => m.data instanceof Uint8Array && m.remoteAddress === '127.0.0.1' && m.remotePort === peer.address().port));

  const echoed = new Promise((r) => peer.once('message', r));
  const bytes = new Uint8Array([7, 8, 9]);
  const sent = ai.writable[send]({ data: bytes, remoteAddress: '127.0.0.1', remotePort: peer.address().port });
  bytes.fill(0); // the datagram was copied when sendDatagram returned
  await sent;
  assert.deepEqual([...(await within(echoed, 3000, 'datagram at the peer'))], [7, 8, 9]);
  await assert.rejects(ai.writable[send]({ data: bytes }), TypeError, 'bound mode needs a destination');
  assert.equal(Object.keys(ai).includes(String(take)), false);

  // With a callback: no promise; done(null) once sent, done(error) on failure, never synchronously.
  const calls = [];
  const echoed2 = new Promise((r) => peer.once('message', r));
  const bytes2 = new Uint8Array([4, 5]);
  assert.equal(ai.writable[send]({ data: bytes2, remoteAddress: '127.0.0.1', remotePort: peer.address().port }, (e) => calls.push(['ok', e])), undefined);
  bytes2.fill(0);
  ai.writable[send]({ data: bytes2 }, (e) => calls.push(['no destination', e]));
  ai.writable[send]({ data: bytes2, remoteAddress: 'bad host/x', remotePort: 9 }, (e) => calls.push(['bad host', e]));
  assert.deepEqual(calls, [], 'done is never called synchronously');
  assert.deepEqual([...(await within(echoed2, 3000, 'callback datagram at the peer'))], [4, 5]);
  for (let i = 0; i < 50 && calls.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
  const byName = Object.fromEntries(calls);
  assert.equal(byName.ok, null);
  assert.ok(byName['no destination'] instanceof TypeError);
  assert.ok(byName['bad host'] instanceof TypeError);

  await reader.cancel();
  await ai.writable.abort();
  await within(a.closed, 3000, 'UDPSocket.closed');
  assert.equal(ended, null, 'the sink is told the readable ended');
  await assert.rejects(ai.writable[send]({ data: bytes, remoteAddress: '127.0.0.1', remotePort: 9 }), (e) => e.name === 'InvalidStateError');
  const closedErr = await new Promise((r) => ai.writable[send]({ data: bytes, remoteAddress: '127.0.0.1', remotePort: 9 }, r));
  assert.equal(closedErr.name, 'InvalidStateError');
  } finally { peer.close(); Promise.resolve().then(() => a.close()).catch(() => {}); }
});

/** Datagram `i` of series `tag`, `len` bytes: a pattern no other datagram of the tests repeats. */
const datagram = (tag, i, len) => {
  const d = new Uint8Array(len);
  for (let k = 0; k < len; k++) d[k] = (tag * 31 + i * 7 + k) & 0xff;
  return d;
};

// GSO sends under Node (node/udp_gso.js; docs/BRIDGE.md "Under Node: GSO sends through node:ffi"):
// what one synchronous burst of sendDatagram calls queues goes out as runs of equal-sized
// datagrams to one peer, each run one sendmsg() the kernel splits, and arrives byte for byte
// and in order. The run boundaries are exact: at most 64 segments and 65,000 bytes, a shorter
// datagram ends a run, a zero-length one or another peer is never in one.
test('UDPSocket under Node: a burst to one peer leaves in GSO runs, byte for byte and in order (IPv4 and IPv6)', async () => {
  const send = Symbol.for('socket-iwa.direct-sockets.sendDatagram');
  const stats = Symbol.for('socket-iwa.direct-sockets.sendStats');
  for (const [type, host] of [['udp4', '127.0.0.1'], ['udp6', '::1']]) {
    const a = new UDPSocket({ localAddress: host });
    const ai = await a.opened;
    const peers = [dgram.createSocket(type), dgram.createSocket(type)];
    const got = [[], []];
    for (const [k, p] of peers.entries()) {
      await new Promise((r) => p.bind(0, host, r));
      p.on('message', (m) => got[k].push(new Uint8Array(m)));
    }
    try {
      const want = [[], []];
      const dones = [];
      // One burst: sent in one loop, so it is one flush (a microtask later).
      const burst = async (list) => {
        const before = got[0].length + got[1].length;
        for (const [peer, data] of list) {
          want[peer].push(data);
          ai.writable[send]({ data, remoteAddress: host, remotePort: peers[peer].address().port }, (e) => dones.push(e));
        }
        for (let i = 0; i < 300 && got[0].length + got[1].length < before + list.length; i++) await sleep(10);
      };
      // 60 x 1200 + 500 + 3 x 1200 to peer 0: runs of 54 (64,800 bytes), 6 + the shorter 500
      // (which ends it), and 3; 2 x 1200 to peer 1: a run of 2; a zero-length datagram to peer 0:
      // on its own.
      await burst([
        ...Array.from({ length: 60 }, (_, i) => [0, datagram(1, i, 1200)]), [0, datagram(1, 60, 500)],
        ...Array.from({ length: 3 }, (_, i) => [0, datagram(1, 61 + i, 1200)]),
        [1, datagram(2, 0, 1200)], [1, datagram(2, 1, 1200)], [0, new Uint8Array(0)],
      ]);
      // 66 x 100 + 7 to peer 0: runs of 64 (the segment limit) and 2 + the shorter 7.
      await burst([...Array.from({ length: 66 }, (_, i) => [0, datagram(3, i, 100)]), [0, datagram(3, 66, 7)]]);
      assert.deepEqual(got[0], want[0], `${host}: peer 0 gets every datagram, in order`);
      assert.deepEqual(got[1], want[1], `${host}: peer 1 gets every datagram, in order`);
      assert.equal(dones.length, 134);
      assert.ok(dones.every((e) => e === null), 'every done(null)');
      assert.deepEqual(ai.writable[stats], { gso: true, gsoRuns: 6, gsoDatagrams: 133 }, host);
    } finally {
      for (const p of peers) p.close();
      await a.close();
    }
  }
});

test('UDPSocket under Node: sendRun sends a run from memory reused right after the call, behind what is queued (IPv4 and IPv6)', async () => {
  const send = Symbol.for('socket-iwa.direct-sockets.sendDatagram');
  const sendRun = Symbol.for('socket-iwa.direct-sockets.sendRun');
  const stats = Symbol.for('socket-iwa.direct-sockets.sendStats');
  // The wasm bridge hands over a view of its heap, which the program overwrites once the call returns.
  const heap = new Uint8Array(new WebAssembly.Memory({ initial: 2 }).buffer);
  const place = (parts) => {
    let off = 4096;
    for (const p of parts) { heap.set(p, off); off += p.length; }
    return heap.subarray(4096, off);
  };
  for (const [type, host] of [['udp4', '127.0.0.1'], ['udp6', '::1']]) {
    const a = new UDPSocket({ localAddress: host });
    const ai = await a.opened;
    const peer = dgram.createSocket(type);
    await new Promise((r) => peer.bind(0, host, r));
    const got = [];
    peer.on('message', (m) => got.push(new Uint8Array(m)));
    const to = { remoteAddress: host, remotePort: peer.address().port };
    const arrived = async (n) => { for (let i = 0; i < 300 && got.length < n; i++) await sleep(10); };
    try {
      const want = [];
      const dones = [];
      // Nothing queued: one GSO send read in place (4 x 1200 + 500), then the memory is overwritten.
      const run1 = [0, 1, 2, 3].map((i) => datagram(4, i, 1200)).concat([datagram(4, 4, 500)]);
      want.push(...run1);
      let sync = true;
      ai.writable[sendRun]({ data: place(run1), ...to }, 1200, (e) => dones.push([e, sync]));
      sync = false;
      heap.fill(0xee, 4096, 4096 + 5300);
      await arrived(want.length);
      assert.deepEqual(ai.writable[stats], { gso: true, gsoRuns: 1, gsoDatagrams: 5 }, `${host}: one GSO run, sent in place`);
      // A datagram queued ahead: the run is copied and goes after it, in order.
      const single = datagram(5, 0, 1200);
      const run2 = [1, 2, 3].map((i) => datagram(5, i, 1200));
      want.push(single, ...run2);
      ai.writable[send]({ data: single, ...to }, (e) => dones.push([e, false]));
      ai.writable[sendRun]({ data: place(run2), ...to }, 1200, (e) => dones.push([e, false]));
      heap.fill(0xdd, 4096, 4096 + 3600);
      await arrived(want.length);
      assert.deepEqual(got, want, `${host}: every datagram, in order, as sent`);
      // A bad segment size fails the run, later.
      let bad = null;
      ai.writable[sendRun]({ data: place([datagram(6, 0, 100)]), ...to }, 0, (e) => { bad = e; });
      assert.equal(bad, null, 'done is never called synchronously');
      await sleep(0);
      assert.ok(bad instanceof TypeError, 'segment 0: TypeError');
      assert.equal(dones.length, 3);
      assert.ok(dones.every(([e, s]) => e === null && s === false), 'done(null) once per run, never synchronously');
    } finally {
      peer.close();
      await a.close();
    }
  }
});

test('UDPSocket under Node: SOCKET_IWA_NODE_FFI=off sends one datagram per send, the same bytes', async () => {
  const { execFileSync } = await import('node:child_process');
  const script = `
    import dgram from 'node:dgram';
    import { install } from ${JSON.stringify(new URL('../../node/direct-sockets.js', import.meta.url).href)};
    install(globalThis);
    const peer = dgram.createSocket('udp4');
    await new Promise((r) => peer.bind(0, '127.0.0.1', r));
    const got = [];
    peer.on('message', (m) => got.push(m.length));
    const ai = await new UDPSocket({ localAddress: '127.0.0.1' }).opened;
    for (let i = 0; i < 10; i++) ai.writable[Symbol.for('socket-iwa.direct-sockets.sendDatagram')]({ data: new Uint8Array(1000), remoteAddress: '127.0.0.1', remotePort: peer.address().port }, () => {});
    for (let i = 0; i < 300 && got.length < 10; i++) await new Promise((r) => setTimeout(r, 10));
    console.log(JSON.stringify({ got: got.length, stats: ai.writable[Symbol.for('socket-iwa.direct-sockets.sendStats')] }));
    process.exit(0);`;
  const run = (env) => JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20000 }));
  assert.deepEqual(run({ SOCKET_IWA_NODE_FFI: 'off' }), { got: 10, stats: { gso: false, gsoRuns: 0, gsoDatagrams: 0 } });
  assert.deepEqual(run({}), { got: 10, stats: { gso: true, gsoRuns: 1, gsoDatagrams: 10 } });
});

// The GSO send structures are shared by every socket of the thread (a send is synchronous):
// the destination written into them must follow the send, not the socket that wrote it last.
test('UDPSocket under Node: GSO runs from two sockets to two peers, alternating, each reach their own peer', async () => {
  const send = Symbol.for('socket-iwa.direct-sockets.sendDatagram');
  const stats = Symbol.for('socket-iwa.direct-sockets.sendStats');
  const sa = new UDPSocket({ localAddress: '127.0.0.1' });
  const sb = new UDPSocket({ localAddress: '127.0.0.1' });
  const a = await sa.opened;
  const b = await sb.opened;
  const peers = [dgram.createSocket('udp4'), dgram.createSocket('udp4')];
  const got = [[], []];
  for (const [k, p] of peers.entries()) {
    await new Promise((r) => p.bind(0, '127.0.0.1', r));
    p.on('message', (m) => got[k].push(m[0]));
  }
  try {
    const burst = (from, peer, tag) => {
      for (let i = 0; i < 3; i++) from.writable[send]({ data: new Uint8Array(500).fill(tag), remoteAddress: '127.0.0.1', remotePort: peers[peer].address().port }, () => {});
    };
    burst(a, 0, 1);
    await sleep(20);
    burst(b, 1, 2);
    await sleep(20);
    burst(a, 0, 3);
    for (let i = 0; i < 300 && got[0].length + got[1].length < 9; i++) await sleep(10);
    assert.deepEqual(got, [[1, 1, 1, 3, 3, 3], [2, 2, 2]]);
    assert.equal(a.writable[stats].gsoRuns, 2);
    assert.equal(b.writable[stats].gsoRuns, 1);
  } finally {
    for (const p of peers) p.close();
    await sa.close();
    await sb.close();
  }
});

// GRO receives under Node (node/udp_gro.js; docs/BRIDGE.md "Under Node: GRO receives through
// node:ffi"): a GSO run sent to a bound UDPSocket stays one message in the kernel and one
// recvmsg() reads it; it must come out as the datagrams that were sent, byte for byte, in order,
// with their sender, through the ReadableStream (each datagram its own buffer) and through the
// bridge's sink alike; a sink that takes runs (`segments: true`, as the wasm bridge's) gets each
// run as one call with its segment size (docs/BRIDGE.md "UDP_GRO: runs in one recvmsg"). Runs come
// from two senders, interleaved with single datagrams.
test('UDPSocket under Node: GSO runs sent to it arrive through GRO as the datagrams sent, in order (IPv4 and IPv6, stream, sink and a sink of runs)', async () => {
  const { gsoSender } = await import('../../node/udp_gso.js');
  const recvStats = Symbol.for('socket-iwa.direct-sockets.recvStats');
  const take = Symbol.for('socket-iwa.direct-sockets.takeDatagrams');
  for (const [type, host] of [['udp4', '127.0.0.1'], ['udp6', '::1']]) {
    for (const via of ['stream', 'sink', 'runs']) {
      const s = new UDPSocket({ localAddress: host });
      const info = await s.opened;
      const got = [];
      let reader, runs = 0;
      if (via === 'stream') {
        reader = info.readable.getReader();
        (async () => { for (;;) { const r = await reader.read().catch(() => ({ done: true })); if (r.done) return; got.push(r.value); } })();
      } else if (via === 'sink') {
        reader = info.readable[take]({ datagram: (v) => { assert.equal(v.segmentSize, undefined); got.push({ ...v, data: new Uint8Array(v.data) }); }, end() {} });
      } else {
        reader = info.readable[take]({
          segments: true,
          datagram: (v) => {
            const { segmentSize: seg, ...rest } = v;
            if (seg === undefined) { got.push({ ...rest, data: new Uint8Array(v.data) }); return; }
            assert.ok(seg > 0 && seg < v.data.length, 'a run has more than one datagram');
            runs++;
            for (let off = 0; off < v.data.length; off += seg) got.push({ ...rest, data: new Uint8Array(v.data.subarray(off, off + seg)) });
          },
          end() {},
        });
      }
      const senders = [dgram.createSocket(type), dgram.createSocket(type)];
      for (const p of senders) await new Promise((r) => p.bind(0, host, r));
      const gso = senders.map((p) => gsoSender(p));
      const want = [];
      const run = (k, list) => {
        assert.ok(gso[k].send(list, host, info.localPort, type === 'udp4' ? 4 : 6), 'the GSO run was sent');
        for (const d of list) want.push([k, d]);
      };
      const single = (k, d) => new Promise((r) => senders[k].send(d, info.localPort, host, r)).then(() => want.push([k, d]));
      try {
        run(0, [...Array.from({ length: 40 }, (_, i) => datagram(1, i, 1200)), datagram(1, 40, 300)]);
        await sleep(20);
        run(1, Array.from({ length: 5 }, (_, i) => datagram(2, i, 1350)));
        await sleep(20);
        await single(0, datagram(3, 0, 77));
        await single(1, new Uint8Array(0));
        await sleep(20);
        run(0, Array.from({ length: 64 }, (_, i) => datagram(4, i, 100)));
        for (let i = 0; i < 300 && got.length < want.length; i++) await sleep(10);
        assert.equal(got.length, want.length, `${host} ${via}: every datagram`);
        for (const [i, [k, d]] of want.entries()) {
          assert.deepEqual(new Uint8Array(got[i].data), d, `${host} ${via}: datagram ${i} byte for byte, in order`);
          assert.equal(got[i].remoteAddress, host);
          assert.equal(got[i].remotePort, senders[k].address().port, `${host} ${via}: datagram ${i}'s sender`);
          if (via === 'stream') assert.equal(got[i].data.buffer.byteLength, got[i].data.length, 'a stream reader owns each datagram alone');
        }
        const st = info.readable[recvStats];
        assert.equal(st.gro, true, `${host}: GRO on`);
        assert.equal(st.groDatagrams, want.length);
        assert.ok(st.groCalls <= 5, `${host} ${via}: the three runs came in whole (${st.groCalls} reads for ${want.length} datagrams)`);
        if (via === 'runs') assert.equal(runs, 3, `${host}: the three runs reached the sink as three calls`);
      } finally {
        for (const p of senders) p.close();
        await reader.cancel().catch(() => {});
        reader.releaseLock();
        await s.close();
        await within(s.closed, 3000, 'closed');
      }
    }
  }
});

// A sink that lends (`lends: true`, `idle()`: the wasm bridge's) gets views of the GRO receiver's
// own area instead of a buffer per message, but only while it holds none of the earlier ones: a
// view it still holds must never be written over. The sink here holds every view it got, without
// copying, through several wake-ups and 70 KB of runs, then checks them all byte for byte; after it
// lets go (idle again) the next messages are lent again. (A receiver that ignored idle() would
// write the second wake-up's messages over the first's, which this catches.)
test('UDPSocket under Node: a lending sink gets views of the GRO receiver\'s area only while idle, and a view it holds is never overwritten', async () => {
  const { gsoSender } = await import('../../node/udp_gso.js');
  const recvStats = Symbol.for('socket-iwa.direct-sockets.recvStats');
  const take = Symbol.for('socket-iwa.direct-sockets.takeDatagrams');
  const s = new UDPSocket({ localAddress: '127.0.0.1' });
  const info = await s.opened;
  let held = [], keep = false;
  const got = [];
  const reader = info.readable[take]({
    segments: true,
    lends: true,
    idle: () => held.length === 0,
    datagram: (v) => {
      if (keep) { held.push(v); return; }
      got.push({ ...v, data: new Uint8Array(v.data) });  // copied at once: holds nothing
    },
    end() {},
  });
  const sender = dgram.createSocket('udp4');
  await new Promise((r) => sender.bind(0, '127.0.0.1', r));
  const gso = gsoSender(sender);
  const runOf = (tag, count, len) => Array.from({ length: count }, (_, i) => datagram(tag, i, len));
  const send = (list) => assert.ok(gso.send(list, '127.0.0.1', info.localPort, 4), 'the GSO run was sent');
  const until = async (cond) => { for (let i = 0; i < 300 && !cond(); i++) await sleep(10); };
  const cut = (v) => {
    const seg = v.segmentSize || v.data.length, out = [];
    for (let off = 0; off < v.data.length; off += seg) out.push(new Uint8Array(v.data.subarray(off, off + seg)));
    return out;
  };
  try {
    // Idle: lent.
    const a = runOf(1, 20, 1200);
    send(a);
    await until(() => got.length > 0);
    assert.deepEqual(got.flatMap(cut), a, 'lent while idle: the run as sent');
    const lentIdle = info.readable[recvStats].groLent;
    assert.ok(lentIdle >= 1, `the idle sink was lent the run (${lentIdle})`);
    // Holding: the first wake-up is lent (the sink was idle): two runs of different sizes, two
    // messages read one after the other into the area; later wake-ups must not be written over them.
    keep = true;
    const first = [runOf(2, 30, 1200), runOf(3, 25, 1000)];
    for (const list of first) send(list);
    await until(() => held.flatMap(cut).length >= first.flat().length);
    await sleep(30);
    const stFirst = { ...info.readable[recvStats] };
    assert.ok(stFirst.groLent > lentIdle, 'the first wake-up while holding was lent');
    const later = [runOf(4, 10, 1350), runOf(5, 40, 1100), runOf(6, 8, 600)];
    for (const list of later) { send(list); await sleep(30); }   // a wake-up each
    await until(() => held.flatMap(cut).length >= [...first, ...later].flat().length);
    assert.deepEqual(held.flatMap(cut), [...first, ...later].flat(), 'views held across wake-ups are intact, in order');
    const st = info.readable[recvStats];
    assert.ok(st.groCalls >= stFirst.groCalls + 3, 'the later runs were read');
    assert.equal(st.groLent, stFirst.groLent, 'nothing was lent while the sink held views');
    // Let go: lent again.
    held = []; keep = false; got.length = 0;
    const c = runOf(7, 15, 900);
    send(c);
    await until(() => got.flatMap(cut).length >= c.length);
    assert.deepEqual(got.flatMap(cut), c, 'after letting go: the run as sent');
    assert.ok(info.readable[recvStats].groLent > st.groLent, 'lent again once idle');
  } finally {
    sender.close();
    await reader.cancel().catch(() => {});
    reader.releaseLock();
    await s.close();
    await within(s.closed, 3000, 'closed');
  }
});

// Closing a socket while datagrams pour in ends the GRO reader before the descriptor closes,
// and releases the port (the reader's dup() of the descriptor is closed too): binding it again
// succeeds. SOCKET_IWA_NODE_FFI=off receives through node:dgram, the same datagrams.
test('UDPSocket under Node: closed while a sender floods it, then its port binds again; SOCKET_IWA_NODE_FFI=off receives through node:dgram', async () => {
  const recvStats = Symbol.for('socket-iwa.direct-sockets.recvStats');
  const { gsoSender } = await import('../../node/udp_gso.js');
  const s = new UDPSocket({ localAddress: '127.0.0.1' });
  const info = await s.opened;
  const port = info.localPort;
  const reader = info.readable.getReader();
  let n = 0;
  (async () => { for (;;) { const r = await reader.read().catch(() => ({ done: true })); if (r.done) return; n++; } })();
  const tx = dgram.createSocket('udp4');
  await new Promise((r) => tx.bind(0, '127.0.0.1', r));
  const g = gsoSender(tx);
  const run = Array.from({ length: 30 }, () => new Uint8Array(1200));
  let stop = false;
  const flood = (async () => { for (let i = 0; i < 2000 && !stop; i++) { g.send(run, '127.0.0.1', port, 4); if (i % 10 === 0) await sleep(1); } })();
  for (let i = 0; i < 300 && n < 100; i++) await sleep(10);
  assert.ok(n >= 100, `datagrams arrive (${n})`);
  assert.equal(info.readable[recvStats].gro, true);
  reader.releaseLock();
  await s.close();
  await within(s.closed, 3000, 'closed');
  stop = true;
  await flood;
  tx.close();
  const again = new UDPSocket({ localAddress: '127.0.0.1', localPort: port });
  assert.equal((await again.opened).localPort, port, 'the port is free again');
  await again.close();

  const { execFileSync } = await import('node:child_process');
  const script = `
    import dgram from 'node:dgram';
    import { install } from ${JSON.stringify(new URL('../../node/direct-sockets.js', import.meta.url).href)};
    install(globalThis);
    const info = await new UDPSocket({ localAddress: '127.0.0.1' }).opened;
    const reader = info.readable.getReader();
    const tx = dgram.createSocket('udp4');
    await new Promise((r) => tx.bind(0, '127.0.0.1', r));
    for (let i = 0; i < 10; i++) tx.send(new Uint8Array(500 + i), info.localPort, '127.0.0.1');
    const lens = [];
    while (lens.length < 10) lens.push((await reader.read()).value.data.length);
    console.log(JSON.stringify({ lens, stats: info.readable[Symbol.for('socket-iwa.direct-sockets.recvStats')] }));
    process.exit(0);`;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, SOCKET_IWA_NODE_FFI: 'off' }, encoding: 'utf8', timeout: 20000 }));
  assert.deepEqual(out, { lens: Array.from({ length: 10 }, (_, i) => 500 + i), stats: { gro: false, groCalls: 0, groDatagrams: 0, groLent: 0 } });
});
