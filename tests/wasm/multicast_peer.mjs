// A native multicast peer (node:dgram). A member socket joins GROUP:PORT and
// waits for the wasm probe's announcement; a sender socket on its own
// ephemeral loopback port then sends `count` pings to the group and collects
// the probe's unicast replies (a separate port, because a unicast reply to the
// shared group port would go to only one of the SO_REUSEADDR sockets).
// Meant to run inside a test network namespace (see netns.mjs).
import dgram from 'node:dgram';

export async function multicastPeer({ group, port, count = 3, timeoutMs = 15000, onListening, beforePing }) {
  const member = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const sender = dgram.createSocket('udp4');
  const seen = { announcements: [], replies: [], senderPort: 0 };
  await new Promise((resolve, reject) => { member.once('error', reject); member.bind(port, '0.0.0.0', resolve); });
  member.addMembership(group);
  await new Promise((resolve, reject) => { sender.once('error', reject); sender.bind(0, '127.0.0.1', resolve); });
  sender.setMulticastTTL(1);
  seen.senderPort = sender.address().port;
  const done = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`multicast peer timed out: ${JSON.stringify(seen)}`)), timeoutMs);
    member.on('message', (msg, rinfo) => {
      if (msg.toString() === 'hello-from-wasm') {
        seen.announcements.push(`${rinfo.address}:${rinfo.port}`);
        Promise.resolve(beforePing && beforePing()).then(() => {
          for (let i = 0; i < count; i++) sender.send(`ping-${i}`, port, group);
        }, reject);
      }
    });
    sender.on('message', (msg, rinfo) => {
      seen.replies.push({ text: msg.toString(), from: `${rinfo.address}:${rinfo.port}` });
      if (seen.replies.length === count) { clearTimeout(t); resolve(); }
    });
  });
  if (onListening) await onListening();
  try { await done; } finally { member.close(); sender.close(); }
  return seen;
}
