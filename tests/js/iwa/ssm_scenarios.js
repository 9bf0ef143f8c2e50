// Runs inside the real IWA: source-specific multicast through the API, and
// the same with plain Direct Sockets (no Socket.IWA code) as the minimal
// reproduction. Called from tests/js/iwa_ssm_inner.js.
import SocketIWA from '/api/direct_sockets_api.js';

const st = globalThis.__siwaSsm ||= {};

/** What the API detects, and what plain Direct Sockets do with sourceAddress. */
export async function probe() {
  const u = await SocketIWA.createMulticastSocket({ type: 'udp4', localPort: 0, multicastLoopback: true });
  const supports = u.multicast.supportsSourceSpecific;
  let refused = null;
  if (!supports) {
    try { await u.addSourceSpecificMembership('127.0.0.1', '239.1.2.3'); refused = 'joined'; } catch (e) { refused = e.code; }
  }
  await u.close();
  // Plain Direct Sockets: a source of the wrong IP version must be refused when the member exists.
  const raw = new UDPSocket({ localAddress: '0.0.0.0' });
  const { multicastController: mc } = await raw.opened;
  let plain;
  try { await mc.joinGroup('239.1.2.4', { sourceAddress: '::1' }); plain = `joined: ${JSON.stringify([...mc.joinedGroups])}`; } catch (e) { plain = `${e.name}: ${e.message}`; }
  await raw.close();
  return { supports, refused, plain };
}

/** Join `group` on `port` for `source` only; collect what arrives. */
export async function ssmStart(group, port, source) {
  const m = await SocketIWA.createMulticastSocket({ type: 'udp4', localPort: port, multicastLoopback: true });
  const received = [];
  m.on('message', (d, rinfo) => received.push({ text: new TextDecoder().decode(d), from: rinfo.address }));
  await m.addSourceSpecificMembership(source, group);
  st.api = { m, received };
  return { joined: [...m.multicast.joinedGroups] };
}

export function ssmReceived() { return st.api.received.slice(); }

export async function ssmStop() {
  const { m } = st.api;
  await m.close();
  return true;
}

/** Plain Direct Sockets (no Socket.IWA): joinGroup(group, {sourceAddress}) and read for a while. */
export async function plainStart(group, port, source) {
  const s = new UDPSocket({ localAddress: '0.0.0.0', localPort: port, multicastAllowAddressSharing: true });
  const { readable, multicastController: mc } = await s.opened;
  await mc.joinGroup(group, { sourceAddress: source });
  const received = [];
  const reader = readable.getReader();
  (async () => { try { for (;;) { const { value, done } = await reader.read(); if (done) break; received.push({ text: new TextDecoder().decode(value.data), from: value.remoteAddress }); } } catch {} })();
  st.plain = { s, reader, received, joined: [...mc.joinedGroups] };
  return { joined: st.plain.joined };
}
export function plainReceived() { return st.plain.received.slice(); }
export async function plainStop() { try { await st.plain.reader.cancel(); } catch {} try { await st.plain.s.close(); } catch {} return true; }
