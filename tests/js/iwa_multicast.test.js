// Multicast for real: a network namespace created here (lo up, multicast on,
// 224.0.0.0/4 routed to lo) runs Node and headless Chromium with the IWA.
// Needs root (ip netns); fails, never skips, when that is not possible.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addMulticastNetns, ip, removeNetns, runInner } from './iwa_netns.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ns = `siwa-mc-${process.pid}`;

test('multicast in a network namespace: IWA ↔ Node over IPv4 and IPv6, and the README quick example in both', { timeout: 90000 }, async (t) => {
  const peer = `${ns}-p`;
  const va = `sv6a${process.pid % 100000}`, vb = `sv6b${process.pid % 100000}`;
  try {
    addMulticastNetns(ns);
    ip('netns', 'add', peer);
    // IPv6 multicast needs a real multicast link: a veth pair to a peer namespace.
    for (const n of [ns, peer]) execFileSync('ip', ['netns', 'exec', n, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
    ip('link', 'add', va, 'type', 'veth', 'peer', 'name', vb);
    ip('link', 'set', va, 'netns', ns);
    ip('link', 'set', vb, 'netns', peer);
    ip('-n', ns, 'link', 'set', va, 'up');
    ip('-n', peer, 'link', 'set', vb, 'up');
    const out = await runInner(ns, path.join(here, 'iwa_multicast_inner.js'));
    t.diagnostic(`media: sent ${JSON.stringify(out.mediaSent)} iwa ${JSON.stringify(out.mediaIwa)} node ${JSON.stringify(out.mediaNode)} lossy ${JSON.stringify(out.lossySent)} ${JSON.stringify(out.mediaLossy)}`);
    assert.equal(out.error, undefined, out.error);
    assert.equal(out.nodeError, undefined, out.nodeError);
    assert.deepEqual(out.start.joined, ['239.20.20.20']);
    assert.equal(out.start.localPort, 5600);
    assert.deepEqual(out.iwaReceived, ['from-iwa', 'from-node']);
    assert.deepEqual(out.nodeReceived, ['from-iwa', 'from-node']); // loopback: the Node listener also hears its own sender
    assert.deepEqual(out.stop.after, []);
    assert.deepEqual(out.v6start.joined, ['ff15::1:3']);
    assert.equal(out.v6start.localAddress, '::');
    assert.deepEqual(out.v6iwaReceived, ['v6-from-iwa/IPv6', 'v6-from-node/IPv6']);
    assert.ok(out.v6nodeReceived.includes('v6-from-iwa'), JSON.stringify(out.v6nodeReceived));
    assert.deepEqual(out.v6stop.after, []);
    assert.equal(out.iwaQuickExample.length, 1, JSON.stringify(out.iwaQuickExample));
    assert.match(out.iwaQuickExample[0], /^datagram \S+ 5000 hello lan$/);
    assert.equal(out.nodeQuickExample.length, 1, JSON.stringify(out.nodeQuickExample));
    assert.match(out.nodeQuickExample[0], /^datagram \S+ 5000 hello lan$/);
    // multicast media example: lossless on loopback, both receivers see every packet
    for (const [who, stats] of [['iwa', out.mediaIwa], ['node', out.mediaNode]]) {
      const audio = stats.find((s) => s.stream === 'audio');
      const video = stats.find((s) => s.stream === 'video');
      assert.ok(audio && video, `${who}: both streams seen: ${JSON.stringify(stats)}`);
      assert.equal(audio.packets + video.packets, out.mediaSent.sent, `${who}: every packet received`);
      assert.equal(audio.lost, 0); assert.equal(video.lost, 0);
      assert.ok(audio.packets >= 60, `${who}: ~75 audio frames in 1.5 s, got ${audio.packets}`);
      assert.ok(video.framesComplete >= 14, `${who}: video frames reassembled: ${video.framesComplete}`);
      assert.ok(Number.isFinite(audio.jitterMs) && audio.jitterMs >= 0 && audio.jitterMs < 100, `${who}: jitter ${audio.jitterMs}`);
    }
    // the example's IWA page shows one row per stream: stream, packets, lost, loss %, reordered, jitter, frames
    assert.equal(out.pageStatus, 'joined 239.40.40.40:5800');
    const rows = Object.fromEntries(out.pageRows.map((r) => [r[0], r]));
    assert.deepEqual(Object.keys(rows).sort(), ['audio', 'video']);
    assert.equal(Number(rows.audio[1]) + Number(rows.video[1]), out.pageSent.sent, JSON.stringify(out.pageRows));
    assert.equal(rows.audio[2], '0');
    assert.ok(Number.isFinite(Number(rows.audio[5])));
    const lossy = out.mediaLossy.reduce((n, s) => n + s.lost, 0);
    assert.ok(out.lossySent.skipped > 0);
    // the receiver counts gaps below its highest sequence; trailing skips are invisible
    assert.ok(lossy > 0 && lossy <= out.lossySent.skipped, `reported ${lossy} lost of ${out.lossySent.skipped} skipped`);
  } finally {
    removeNetns(ns);
    try { ip('netns', 'del', peer); } catch {} // takes the veth pair with it
  }
});
