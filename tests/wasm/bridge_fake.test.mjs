// Bridge unit tests: the Rust probe (wasm, through libdirectsockets.js and
// JSPI) against a scripted fake Direct Sockets that injects failures. Each
// test checks what Rust sees (io::ErrorKind / raw errno) and what the bridge
// did to the Direct Sockets objects.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createFakeDirectSockets, domError } from './fake_direct_sockets.mjs';
import { startProbe, runProbe, within } from './probe_runner.mjs';

function withFake(script) {
  const fake = createFakeDirectSockets(script);
  const restore = fake.install(globalThis);
  return { fake, restore };
}

test('NotAllowedError from UDPSocket.opened reaches Rust as PermissionDenied', async () => {
  const { fake, restore } = withFake({ udpOpened: () => Promise.reject(domError('NotAllowedError', 'Access to local network is blocked')) });
  try {
    const r = await within(10000, runProbe(['expect-bind-udp', '127.0.0.1:4999']), 'probe');
    assert.equal(r.result.ok, false, JSON.stringify(r.result));
    assert.equal(r.result.kind, 'PermissionDenied');
    assert.deepEqual(fake.log[0], { ctor: 'UDPSocket', opts: { localAddress: '127.0.0.1', localPort: 4999 } });
  } finally { restore(); }
});

test('a missing Direct Sockets API is EACCES (PermissionDenied), not a crash', async () => {
  const saved = globalThis.UDPSocket;
  delete globalThis.UDPSocket;
  try {
    const r = await within(10000, runProbe(['expect-bind-udp', '127.0.0.1:4999']), 'probe');
    assert.equal(r.result.kind, 'PermissionDenied', JSON.stringify(r.result));
  } finally { if (saved) globalThis.UDPSocket = saved; }
});

test('address in use maps to AddrInUse', async () => {
  const { restore } = withFake({ udpOpened: () => Promise.reject(domError('NetworkError', 'net::ERR_ADDRESS_IN_USE')) });
  try {
    const r = await within(10000, runProbe(['expect-bind-udp', '127.0.0.1:4999']), 'probe');
    assert.equal(r.result.kind, 'AddrInUse', JSON.stringify(r.result));
  } finally { restore(); }
});

test('refused TCP connect reaches Rust as ConnectionRefused (detailed and bare NetworkError)', async () => {
  for (const message of ['net::ERR_CONNECTION_REFUSED', 'Network error.']) {
    const { fake, restore } = withFake({ tcpOpened: () => Promise.reject(domError('NetworkError', message)) });
    try {
      const r = await within(10000, runProbe(['expect-connect', '127.0.0.1:9']), 'probe');
      assert.equal(r.result.kind, 'ConnectionRefused', `${message}: ${JSON.stringify(r.result)}`);
      assert.equal(fake.log[0].ctor, 'TCPSocket');
      assert.equal(fake.log[0].remotePort, 9);
    } finally { restore(); }
  }
});

test('unreachable host maps to HostUnreachable', async () => {
  const { restore } = withFake({ tcpOpened: () => Promise.reject(domError('NetworkError', 'net::ERR_ADDRESS_UNREACHABLE')) });
  try {
    const r = await within(10000, runProbe(['expect-connect', '127.0.0.1:9']), 'probe');
    assert.equal(r.result.kind, 'HostUnreachable', JSON.stringify(r.result));
  } finally { restore(); }
});

test('unsupported address family returns EAFNOSUPPORT without touching Direct Sockets', async () => {
  const { fake, restore } = withFake({});
  try {
    const r = await within(10000, runProbe(['socket-family', '1']), 'probe'); // AF_UNIX
    assert.equal(r.result.fd, -1);
    assert.equal(r.result.errno, r.result.EAFNOSUPPORT);
    assert.equal(fake.log.length, 0);
    const ok = await within(10000, runProbe(['socket-family', '10']), 'probe'); // AF_INET6
    assert.equal(ok.result.ok, true, JSON.stringify(ok.result));
  } finally { restore(); }
});

test('closing a socket wakes a recv suspended on it (EBADF) and closes the Direct Socket', async () => {
  const { fake, restore } = withFake({});
  try {
    const p = await startProbe(['recv-until-closed', '127.0.0.1:5000']);
    const ready = await within(10000, p.ready, 'READY');
    const fd = Number(/fd=(\d+)/.exec(ready)[1]);
    // main() is now suspended in recv_from; give it a moment to be sure.
    await new Promise((r) => setTimeout(r, 100));
    let finished = false;
    p.done.then(() => { finished = true; });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(finished, false, 'recv returned before the close');
    assert.equal(p.module._probe_close(fd), 0);
    const r = await within(5000, p.done, 'recv to wake after close');
    assert.equal(r.result.ok, false, JSON.stringify(r.result));
    assert.equal(r.result.errno, p.module.directSockets.errno.EBADF);
    const udp = fake.sockets.find((s) => s.kind === 'udp');
    await new Promise((r2) => setTimeout(r2, 20));
    assert.equal(udp.closeCalls, 1, 'UDPSocket.close() called once');
    assert.equal(udp.readCancelled, true, 'reader cancelled before close');
  } finally { restore(); }
});

test('a reset TCP stream surfaces as ConnectionReset on read', async () => {
  const { restore } = withFake({
    tcpOpened: (addr, port, opts, sock, info) => {
      const i = info();
      setTimeout(() => sock.fail(domError('NetworkError', 'net::ERR_CONNECTION_RESET')), 50);
      return i;
    },
  });
  try {
    const r = await within(10000, runProbe(['tcp-client', '127.0.0.1:7', '1000']), 'probe');
    assert.equal(r.result.ok, false, JSON.stringify(r.result));
    assert.equal(r.result.kind, 'ConnectionReset', JSON.stringify(r.result));
  } finally { restore(); }
});

test('sends never suspend: a stuck writer gives EAGAIN at the send budget and no POLLOUT', async () => {
  const { fake, restore } = withFake({ onWrite: () => new Promise(() => {}) });
  try {
    const size = 1200;
    const p = await startProbe(['send-until-eagain', '127.0.0.1:0', '127.0.0.1:9999', String(size), '10000']);
    const r = await within(10000, p.done, 'probe');
    assert.equal(r.result.ok, true, JSON.stringify(r.result));
    assert.equal(r.result.eagain, true);
    // The default SO_SNDBUF (Linux's 212992) capped for UDP over a browser writable (DSB.UDP_WRITE_QUEUE_MAX).
    const budget = 65536;
    assert.ok(r.result.sent * size <= budget + size && r.result.sent * size > budget - size, `sent ${r.result.sent}`);
    assert.equal(r.result.pollReady, 0, 'POLLOUT must not be reported while the writer is full');
    const udp = fake.sockets.find((s) => s.kind === 'udp');
    assert.equal(udp.writes.length >= 1, true);
    assert.equal(udp.writes[0].remotePort, 9999);
    assert.equal(p.module.directSockets.stats.suspended.send || 0, 0, 'no send suspended');
    // Nor did any send switch stacks: JSPI suspends on every call of a Suspending import, even
    // one returning a number, and each switch runs the microtask queue (DSB.park).
    assert.equal(udp.writeTurns.length, r.result.sent);
    assert.deepEqual(new Set(udp.writeTurns), new Set([udp.writeTurns[0]]), `sends between microtask checkpoints: ${udp.writeTurns}`);
  } finally { restore(); }
});

// poll() reports POLLOUT while at most half the send budget is in flight (DSB.writable); a send
// refused then anyway, because it is larger than what is left of the budget, made a program that
// polls and sends spin without yielding, so its writes never completed (DSB.overBudget).
test('a socket that polls writable takes the next send, however large (no poll-and-send spin)', async () => {
  const { fake, restore } = withFake({ onWrite: () => new Promise(() => {}) });
  try {
    // The budget: 65536 (SO_SNDBUF capped for a browser writable). 20000 in flight is writable;
    // 50000 more overruns the budget, and is taken; then 1200 more waits: 70000 in flight.
    const r = await within(10000, runProbe(['send-sizes', '127.0.0.1:0', '127.0.0.1:9999', '20000,50000,1200']), 'probe');
    assert.equal(r.result.ok, true, JSON.stringify(r.result));
    const [a, b, c] = r.result.sends;
    assert.deepEqual([a.sent, a.tries], [true, 1], JSON.stringify(a));
    assert.deepEqual([b.sent, b.tries], [true, 1], `refused while writable: ${JSON.stringify(b)}`);
    assert.equal(c.sent, false, JSON.stringify(c));
    assert.deepEqual(c.polls, [0, 0, 0], `no POLLOUT while past half the budget: ${JSON.stringify(c)}`);
    const udp = fake.sockets.find((s) => s.kind === 'udp');
    // Handed to the writer (its stream sends the first, the second waits behind it).
    assert.equal(udp.writeTurns.length, 2);
    assert.deepEqual(udp.writes.map((w) => w.data.byteLength), [20000]);
  } finally { restore(); }
});

// A finished write wakes only the waits that want to send (DSB.wakeWriters): in Chromium each
// datagram's write completes in a task of its own, and waking every wait for each one cost a
// task hop per datagram that found nothing to do (docs/BRIDGE.md "Which events wake the program").
test('write completions wake only waits for POLLOUT: a poll for POLLIN sleeps through them', async () => {
  const n = 40;
  const { fake, restore } = withFake({ onWrite: () => new Promise((r) => setTimeout(r, 1 + (fake.sockets.length % 3))) });
  try {
    const p = await startProbe(['udp-driver', '127.0.0.1:6200', String(n)]);
    await within(10000, p.ready, 'READY');
    const udp = fake.sockets.find((s) => s.kind === 'udp');
    // One datagram at a time: the program echoes it and waits in poll(POLLIN) while the echo's write completes.
    for (let i = 0; i < n; i++) {
      udp.deliver({ data: new Uint8Array([i]), remoteAddress: '127.0.0.1', remotePort: 9100 });
      await new Promise((r) => setTimeout(r, 8));
    }
    const r = await within(10000, p.done, 'driver');
    assert.equal(r.result.echoed, n);
    const st = p.module.directSockets.stats;
    assert.ok((st.suspended.poll || 0) >= n / 2, `the program waited between datagrams: ${JSON.stringify(st.suspended)}`);
    assert.ok((st.stale.poll || 0) <= 2, `poll woke for nothing ${st.stale.poll} times in ${n} echoes`);
  } finally { restore(); }
});

// The probe fills its send budget against writes that complete only when the test says
// (`complete()`: one per task until the probe is done), then polls: for POLLOUT, or with `read`
// for POLLIN | POLLOUT (then a datagram may be held back: DS_POLL.deferRead).
async function fullBudgetPoll({ read = true, deferMs } = {}) {
  const held = [];
  const { fake, restore } = withFake({ onWrite: () => new Promise((r) => held.push(r)) });
  const p = await startProbe(['send-until-eagain', '127.0.0.1:0', '127.0.0.1:9999', '1200', '10000', ...(read ? ['read'] : [])]);
  if (deferMs !== undefined) p.module.directSockets.RX_DEFER_MS = deferMs;
  await within(5000, (async () => { while (!p.lines.includes('POLLING')) await new Promise((r) => setTimeout(r, 2)); })(), 'POLLING');
  await new Promise((r) => setTimeout(r, 30));   // suspended in poll
  const udp = fake.sockets.find((s) => s.kind === 'udp');
  let result = null;
  p.done.then((x) => { result = x; });
  const deliver = (i) => udp.deliver({ data: new Uint8Array([i]), remoteAddress: '127.0.0.1', remotePort: 9100 });
  const complete = async () => {
    let completed = 0;
    while (!result && completed < 200) {
      if (held.length) { held.shift()(); completed++; }
      await sleep(1);
    }
    return completed;
  };
  return { p, udp, held, restore, deliver, complete, done: () => result };
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('write completions wake a poll for POLLOUT once the send budget is half free, not at each one', async () => {
  const t = await fullBudgetPoll({ read: false });
  try {
    const completed = await t.complete();
    const r = await within(5000, t.p.done, 'probe');
    assert.equal(r.result.eagain, true, JSON.stringify(r.result));
    assert.equal(r.result.pollReady, 1, `POLLOUT once half the budget is free: ${JSON.stringify(r.result)}`);
    const sent = r.result.sent;
    assert.ok(completed >= sent / 2 - 2 && completed <= sent / 2 + 3, `woke after ${completed} of ${sent} writes completed`);
    const st = t.p.module.directSockets.stats;
    assert.equal(st.stale.poll || 0, 0, `poll woke for nothing ${st.stale.poll} times`);
    assert.ok(t.udp.writes.length >= completed);
    t.held.forEach((f) => f());
  } finally { t.restore(); }
});

// Reads held back for room to send (DS_POLL.deferRead): a poll for POLLIN | POLLOUT on a UDP
// socket with more than half its send budget in flight does not return for a datagram alone
// until the POLLOUT edge, RX_DEFER_MAX datagrams, or RX_DEFER_MS.
test('a poll for POLLIN | POLLOUT with more than half the send budget in flight holds a datagram back until there is room to send', async () => {
  const t = await fullBudgetPoll({ deferMs: 3000 });
  try {
    t.deliver(1);
    await sleep(100);
    assert.equal(t.done(), null, 'the datagram alone did not end the poll');
    const completed = await t.complete();
    const r = await within(5000, t.p.done, 'probe');
    assert.equal(r.result.pollReady, 1, JSON.stringify(r.result));
    assert.equal(r.result.revents, 1 | 4, `POLLIN and POLLOUT together: ${JSON.stringify(r.result)}`);
    assert.ok(completed >= r.result.sent / 2 - 2 && completed <= r.result.sent / 2 + 3, `returned after ${completed} of ${r.result.sent} writes completed`);
    assert.equal(t.p.module.directSockets.stats.deferred.poll, 1);
    t.held.forEach((f) => f());
  } finally { t.restore(); }
});

test('a held-back read ends at RX_DEFER_MAX queued datagrams, or after RX_DEFER_MS, with no write completed', async () => {
  {
    const t = await fullBudgetPoll({ deferMs: 3000 });
    try {
      const max = t.p.module.directSockets.RX_DEFER_MAX;
      let sent = 0;
      while (!t.done() && sent < 3 * max) { t.deliver(sent++); await sleep(5); }
      const r = await within(5000, t.p.done, 'probe');
      assert.equal(r.result.revents, 1, `POLLIN only: ${JSON.stringify(r.result)}`);
      assert.ok(sent >= max && sent <= max + 1, `returned after ${sent} datagrams (RX_DEFER_MAX ${max})`);
      t.held.forEach((f) => f());
    } finally { t.restore(); }
  }
  {
    const t = await fullBudgetPoll();   // the default RX_DEFER_MS
    try {
      t.deliver(1);
      const r = await within(5000, t.p.done, 'probe');
      assert.equal(r.result.revents, 1, `POLLIN only: ${JSON.stringify(r.result)}`);
      assert.equal(t.p.module.directSockets.stats.deferred.poll, 1, 'held back first');
      t.held.forEach((f) => f());
    } finally { t.restore(); }
  }
});

test('queued datagrams are answered without suspending; echo sends never suspend', async () => {
  const n = 40;
  const { fake, restore } = withFake({});
  try {
    const p = await startProbe(['udp-echo', '127.0.0.1:6000', String(n)]);
    await within(10000, p.ready, 'READY');
    const udp = fake.sockets.find((s) => s.kind === 'udp');
    for (let i = 0; i < n; i++) udp.deliver({ data: new Uint8Array([i, i + 1, i + 2]), remoteAddress: '127.0.0.1', remotePort: 7000 + i });
    const r = await within(10000, p.done, 'echo');
    assert.equal(r.result.echoed, n, JSON.stringify(r.result));
    assert.equal(udp.writes.length, n);
    udp.writes.forEach((w, i) => {
      assert.deepEqual([...w.data], [i, i + 1, i + 2]);
      assert.equal(w.remotePort, 7000 + i);
      assert.equal(w.remoteAddress, '127.0.0.1');
    });
    const st = p.module.directSockets.stats;
    assert.equal(st.suspended.send || 0, 0);
    assert.equal(st.immediate.send, n);
    assert.ok((st.immediate.recv || 0) >= 1, `some receives answered from the queue: ${JSON.stringify(st)}`);
    assert.ok((st.suspended.recv || 0) < n, JSON.stringify(st));
    // The UDP counters stress-test/iwa/bench_iwa.mjs reads (docs/BRIDGE.md, loader stats).
    assert.deepEqual(st.udp, { tx: n, txBytes: 3 * n, rx: n, rxBytes: 3 * n });
  } finally { restore(); }
});

test('setsockopt/getsockopt, FIONBIO/fcntl and FIONREAD on a bound UDP socket', async () => {
  const { restore } = withFake({});
  try {
    const r = await within(10000, runProbe(['options', '127.0.0.1:6100']), 'probe');
    assert.equal(r.result.ok, true, JSON.stringify(r.result));
    assert.equal(r.result.eagain, true, 'non-blocking recv with nothing queued is EAGAIN');
    assert.equal(r.result.nonblockCleared, true);
    assert.equal(r.result.sndbuf, 131072, 'SO_SNDBUF reads back doubled, like Linux');
    assert.equal(r.result.soType, r.result.SOCK_DGRAM);
    assert.equal(r.result.unknownOptErrno, r.result.ENOPROTOOPT);
    assert.equal(r.result.fionread, 0);
    assert.equal(r.result.avail, 0);
  } finally { restore(); }
});

test('multicast setsockopt maps to MulticastController with joined-group tracking', async () => {
  let controller;
  const { fake, restore } = withFake({
    udpOpened: (opts, sock, info) => { const i = info(); controller = i.multicastController; return i; },
  });
  try {
    const p = await startProbe(['multicast', '239.1.2.3', '6200', '1']);
    const ready = await within(10000, p.ready, 'READY');
    const fd = Number(/fd=(\d+)/.exec(ready)[1]);
    assert.deepEqual(controller.joinedGroups, ['239.1.2.3']);
    assert.deepEqual(p.module.directSockets.joinedGroups(fd).tracked, ['239.1.2.3']);
    const udp = fake.sockets.find((s) => s.kind === 'udp');
    // Options set before bind() become UDPSocket options.
    assert.deepEqual(fake.log[0].opts, {
      localAddress: '0.0.0.0', localPort: 6200, multicastAllowAddressSharing: true,
      multicastLoopback: true, multicastTimeToLive: 1,
    });
    udp.deliver({ data: new TextEncoder().encode('hello-from-wasm'), remoteAddress: '10.0.0.1', remotePort: 6200 });
    udp.deliver({ data: new TextEncoder().encode('ping'), remoteAddress: '10.0.0.2', remotePort: 7777 });
    const r = await within(10000, p.done, 'multicast probe');
    assert.equal(r.result.ok, true, JSON.stringify(r.result));
    assert.equal(r.result.joinTwiceErrno, r.result.eaddrinuse);
    assert.equal(r.result.leaveTwiceErrno, r.result.eaddrnotavail);
    assert.deepEqual(controller.joinedGroups, []);
    const reply = udp.writes.find((w) => w.remotePort === 7777);
    assert.equal(new TextDecoder().decode(reply.data), 'echo:ping');
    assert.equal(reply.remoteAddress, '10.0.0.2');
    const announce = udp.writes.find((w) => w.remoteAddress === '239.1.2.3');
    assert.equal(new TextDecoder().decode(announce.data), 'hello-from-wasm');
  } finally { restore(); }
});

test('the QUIC driver loop (4 MiB buffers before bind, fcntl O_NONBLOCK, poll + recvmsg until EAGAIN + sendmsg)', async () => {
  const n = 12;
  const { fake, restore } = withFake({});
  try {
    const p = await startProbe(['udp-driver', '127.0.0.1:4433', String(n)]);
    assert.equal(await within(10000, p.ready, 'READY'), '127.0.0.1:4433');
    assert.deepEqual(fake.log[0].opts, {
      localAddress: '127.0.0.1', localPort: 4433, sendBufferSize: 4 << 20, receiveBufferSize: 4 << 20,
    }, 'the requested sizes become Direct Sockets options');
    const udp = fake.sockets.find((s) => s.kind === 'udp');
    for (let i = 0; i < n; i++) udp.deliver({ data: new Uint8Array([i]), remoteAddress: '127.0.0.1', remotePort: 9000 + i });
    const r = await within(10000, p.done, 'driver');
    assert.equal(r.result.ok, true, JSON.stringify(r.result));
    assert.equal(r.result.echoed, n);
    assert.equal(r.result.rcvbuf, 8 << 20, 'SO_RCVBUF reads back doubled');
    assert.ok(r.result.wakeups < n, `a burst is drained per wakeup: ${JSON.stringify(r.result)}`);
    // The last echoes may still wait in the WritableStream's queue (its sink takes one chunk per
    // settled write) when the program ends: let that queue drain.
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(udp.writes.map((w) => [w.data[0], w.remotePort]), [...Array(n).keys()].map((i) => [i, 9000 + i]));
    assert.equal(p.module.directSockets.stats.suspended.send || 0, 0);
  } finally { restore(); }
});

test('ds_udp_send_sockets: three UDPSockets share the port; sends spread over them, all are read, a failed one leaves the group', async () => {
  const n = 30;
  let failing = null;
  const { fake, restore } = withFake({
    // Writes take a moment (so several are outstanding); the third socket's writable fails.
    onWrite: (chunk, sock) => (sock === failing ? Promise.reject(domError('NetworkError', 'net::ERR_FAILED'))
      : new Promise((r) => setTimeout(r, 2))),
  });
  try {
    const p = await startProbe(['udp-driver', '127.0.0.1:4433', String(n), '3']);
    await within(10000, p.ready, 'READY');
    await within(5000, (async () => { while (fake.sockets.filter((x) => x.kind === 'udp').length < 3) await new Promise((r) => setTimeout(r, 5)); })(), 'three sockets');
    const udps = fake.sockets.filter((x) => x.kind === 'udp');
    assert.equal(udps.length, 3);
    for (const l of fake.log.filter((x) => x.ctor === 'UDPSocket')) {
      assert.equal(l.opts.localPort, 4433, JSON.stringify(l));
      assert.equal(l.opts.multicastAllowAddressSharing, true, `address sharing on every socket of the group: ${JSON.stringify(l)}`);
    }
    failing = udps[2];
    const until = (cond, what) => within(5000, (async () => { while (!cond()) await new Promise((r) => setTimeout(r, 5)); })(), what);
    // The kernel may hand a peer's datagrams to any socket of the group: deliver to all three.
    const deliver = (from, to, k) => { for (let i = from; i < to; i++) udps[i % k].deliver({ data: new Uint8Array([i]), remoteAddress: '127.0.0.1', remotePort: 9000 + i }); };
    deliver(0, 6, 3);
    await until(() => failing.writes.length >= 1, 'a write on the failing socket');
    await new Promise((r) => setTimeout(r, 50)); // its rejection reaches the bridge
    deliver(6, n, 2); // the closed socket has left the kernel's group too
    const r = await within(10000, p.done, 'driver');
    assert.equal(r.result.ok, true, `the program saw no error: ${JSON.stringify(r.result)}`);
    assert.equal(r.result.echoed, n);
    const later = () => udps.slice(0, 2).flatMap((x) => x.writes).filter((w) => w.data[0] >= 6);
    await until(() => later().length >= n - 6, 'every later echo written');
    assert.equal(failing.writes.length, 1, 'the failed socket got no write after its failure');
    const got = later().map((w) => [w.data[0], w.remotePort]).sort((a, b) => a[0] - b[0]);
    assert.deepEqual(got, [...Array(n - 6).keys()].map((k) => [k + 6, 9006 + k]), 'each later echo once, to its sender, by a healthy socket');
    assert.ok(udps[0].writes.some((w) => w.data[0] >= 6) && udps[1].writes.some((w) => w.data[0] >= 6),
      `both healthy sockets sent: ${udps.map((x) => x.writes.length)}`);
    assert.ok(failing.closeCalls >= 1, 'the failed socket is closed');
    assert.equal(p.module.directSockets.lastError.op, 'send');
  } finally { restore(); }
});

// UDP datagrams leave the heap through pooled buffers (DSB.outCopy): a buffer is reused only
// after its write settled, never while the browser may still hold the chunk. Writes here settle
// 0-3 ms late; the fake counts any chunk whose bytes changed before then.
test('outgoing datagrams: pooled buffers are reused, never before their write settled, and every datagram leaves as sent', async () => {
  const n = 300;
  let seed = 11;
  const rand = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
  const { fake, restore } = withFake({ onWrite: () => new Promise((r) => setTimeout(r, Math.floor(rand() * 4))) });
  try {
    const p = await startProbe(['udp-echo', '127.0.0.1:6100', String(n)]);
    await within(10000, p.ready, 'READY');
    const udp = fake.sockets.find((s) => s.kind === 'udp');
    // Bursts of 10 echoes; the next burst once the last one's writes were dispatched and had time to settle.
    for (let i = 0; i < n; i++) {
      udp.deliver({ data: new Uint8Array(100 + (i % 1300)).fill(i & 0xff), remoteAddress: '127.0.0.1', remotePort: 7000 + (i % 50) });
      if (i % 10 === 9) {
        await within(5000, (async () => { while (udp.writes.length < i + 1) await new Promise((res) => setTimeout(res, 1)); })(), `burst ${i}`);
        await new Promise((res) => setTimeout(res, 5));
      }
    }
    const r = await within(20000, p.done, 'echo');
    assert.equal(r.result.echoed, n, JSON.stringify(r.result));
    await within(5000, (async () => { while (udp.writes.length < n) await new Promise((res) => setTimeout(res, 5)); })(), 'every echo written');
    udp.writes.forEach((w, i) => {
      assert.equal(w.data.length, 100 + (i % 1300), `echo ${i}: its length`);
      assert.ok(w.data.every((b) => b === (i & 0xff)), `echo ${i}: its bytes`);
    });
    await new Promise((res) => setTimeout(res, 20)); // the last writes settle
    assert.equal(udp.changedBeforeSettled, 0, 'no buffer was reused before its write settled');
    assert.ok(udp.writeBuffers.size <= 40, `buffers were reused: ${udp.writeBuffers.size} for ${n} datagrams`);
  } finally { restore(); }
});

test('ds_udp_send_sockets: datagrams leave in the program\'s order, one write outstanding per socket, whatever order the writes complete in', async () => {
  // Queueing each datagram on "the writer with the fewest outstanding writes" let the writers'
  // completions interleave them (the peer then acknowledged every late packet at once).
  const n = 60;
  let seed = 7;
  const rand = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
  const order = [];
  const outstanding = new Map();
  let most = 0;
  const { fake, restore } = withFake({
    onWrite: (chunk, sock) => {
      order.push(chunk.data[0]);
      outstanding.set(sock, (outstanding.get(sock) || 0) + 1);
      most = Math.max(most, outstanding.get(sock));
      // completions in a scrambled order: 1-8 ms each
      return new Promise((r) => setTimeout(r, 1 + Math.floor(rand() * 8))).then(() => outstanding.set(sock, outstanding.get(sock) - 1));
    },
  });
  try {
    const p = await startProbe(['udp-driver', '127.0.0.1:4433', String(n), '3']);
    await within(10000, p.ready, 'READY');
    await within(5000, (async () => { while (fake.sockets.filter((x) => x.kind === 'udp').length < 3) await new Promise((r) => setTimeout(r, 5)); })(), 'three sockets');
    const udps = fake.sockets.filter((x) => x.kind === 'udp');
    // One peer, one socket of the group (as the kernel's hash does): the program echoes in this order.
    for (let i = 0; i < n; i++) udps[0].deliver({ data: new Uint8Array([i]), remoteAddress: '127.0.0.1', remotePort: 9000 });
    const r = await within(10000, p.done, 'driver');
    assert.equal(r.result.echoed, n);
    await within(5000, (async () => { while (order.length < n) await new Promise((res) => setTimeout(res, 5)); })(), 'every echo written');
    assert.deepEqual(order, [...Array(n).keys()], 'the writers were handed the echoes in the order the program sent them');
    assert.equal(most, 1, 'no writer had more than one write outstanding');
    assert.ok(udps.every((x) => x.writes.length > 0), `all three sockets sent: ${udps.map((x) => x.writes.length)}`);
  } finally { restore(); }
});

test('source-specific membership: refused (EOPNOTSUPP) unless the controller honours sources (static flag, or detected like the API does), else joinGroup gets sourceAddress', async () => {
  // flag: the class's static supportsSourceSpecific (node/direct-sockets.js: true;
  // Chromium: none). readsSource: whether joinGroup reads options.sourceAddress,
  // as Chromium's binding does only with SourceSpecificMulticastInDirectSockets.
  const cases = [
    { flag: false, readsSource: false, honoured: false },
    { flag: true, readsSource: false, honoured: true },
    { flag: undefined, readsSource: false, honoured: false }, // Chromium default
    { flag: undefined, readsSource: true, honoured: true }, // Chromium with the feature
  ];
  for (const c of cases) {
    const calls = [];
    const { restore } = withFake({
      udpOpened: (opts, sock, info) => {
        const i = info();
        class Controller {
          static get supportsSourceSpecific() { return c.flag; }
          joinGroup(g, o) {
            const src = c.readsSource && o ? o.sourceAddress : undefined;
            if (!/^2(2[4-9]|3\d)\./.test(g)) return Promise.reject(new DOMException(`${g} is not a multicast address`, 'InvalidAccessError'));
            calls.push(['join', g, src === undefined ? o : { sourceAddress: src }]);
            return Promise.resolve();
          }
          leaveGroup(g, o) { calls.push(['leave', g, o]); return Promise.resolve(); }
        }
        i.multicastController = new Controller();
        return i;
      },
    });
    try {
      const r = await within(10000, runProbe(['ssm', '232.1.2.3', '10.0.0.9', '6300']), 'ssm');
      assert.equal(r.result.ok, true, JSON.stringify(r.result));
      const what = JSON.stringify(c);
      if (c.honoured) {
        assert.equal(r.result.joinErrno, 0, what);
        assert.equal(r.result.dropErrno, 0, what);
        assert.deepEqual(calls, [['join', '232.1.2.3', { sourceAddress: '10.0.0.9' }], ['leave', '232.1.2.3', { sourceAddress: '10.0.0.9' }]], what);
      } else {
        assert.equal(r.result.joinErrno, r.result.EOPNOTSUPP, what);
        assert.deepEqual(calls, [], `no silent any-source join: ${what}`);
      }
    } finally { restore(); }
  }
});
