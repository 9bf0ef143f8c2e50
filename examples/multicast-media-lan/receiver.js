// Multicast media receiver: joins the group, reassembles frames and reports
// loss and jitter per stream. Works in an IWA and under Node.
import { decodePacket, StreamStats } from './media.js';

/**
 * @param {object} SocketIWA the API object
 * @param {{group?: string, port?: number, localAddress?: string}} opts
 * @returns {Promise<{stats: () => object[], close: () => Promise<void>}>}
 */
export async function startReceiver(SocketIWA, opts = {}) {
  const group = opts.group || '239.10.10.10';
  const port = opts.port || 5004;
  const udp = await SocketIWA.createMulticastSocket({ localAddress: opts.localAddress || '0.0.0.0', localPort: port, multicastLoopback: true, binaryType: 'uint8array' });
  const streams = new Map();
  const origin = new Map(); // stream -> offset between receiver clock and media clock
  let foreign = 0;
  udp.on('message', (data) => {
    const p = decodePacket(data);
    if (!p) { foreign++; return; }
    let s = streams.get(p.stream);
    if (!s) { s = new StreamStats(p.stream); streams.set(p.stream, s); origin.set(p.stream, performance.now() - p.timestampMs); }
    s.add(p, performance.now() - origin.get(p.stream));
  });
  await udp.addMembership(group);
  return {
    group, port,
    stats: () => [...streams.values()].map((s) => s.report()),
    foreign: () => foreign,
    close: async () => { await udp.dropMembership(group).catch(() => {}); await udp.close(); },
  };
}
