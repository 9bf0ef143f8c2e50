// What the current document may do with Direct Sockets, and assertions that
// name the missing feature and the manifest field that grants it.

import { SocketIWAError } from './errors.js';

const MANIFEST = '.well-known/manifest.webmanifest';

/** Permissions-policy features Socket.IWA depends on, with what each grants. */
export const FEATURES = Object.freeze({
  directSockets: { policy: 'direct-sockets', grants: 'UDPSocket, TCPSocket and TCPServerSocket' },
  multicast: { policy: 'direct-sockets-multicast', grants: 'MulticastController (joining multicast groups)' },
  localNetwork: { policy: 'local-network-access', grants: 'connections to loopback and LAN addresses' },
  crossOriginIsolated: { policy: 'cross-origin-isolated', grants: 'cross-origin isolation, required for Direct Sockets' },
});

function policyObject() {
  const d = globalThis.document;
  if (!d) return null;
  return d.permissionsPolicy || d.featurePolicy || null;
}

/**
 * Is a permissions-policy feature allowed here? true/false from the
 * document's policy; null when there is no document (Node.js) or no policy API.
 */
export function allowsFeature(policyName) {
  const p = policyObject();
  if (!p || typeof p.allowsFeature !== 'function') return null;
  try { return p.allowsFeature(policyName); } catch { return false; }
}

function ctor(name) { return typeof globalThis[name] === 'function'; }

/** Synchronous snapshot of the capabilities of this context. */
export function snapshot() {
  const policy = {};
  for (const [k, f] of Object.entries(FEATURES)) policy[k] = allowsFeature(f.policy);
  const hasDoc = !!globalThis.document;
  return {
    /** Runtime: 'browser' (a document with a permissions policy) or 'node' (no policy; OS permissions apply). */
    runtime: hasDoc ? 'browser' : 'node',
    isolatedContext: globalThis.isSecureContext === true && globalThis.crossOriginIsolated === true,
    directSockets: ctor('UDPSocket') && ctor('TCPSocket') && policy.directSockets !== false,
    tcp: ctor('TCPSocket') && policy.directSockets !== false,
    tcpServer: ctor('TCPServerSocket') && policy.directSockets !== false,
    udp: ctor('UDPSocket') && policy.directSockets !== false,
    multicast: ctor('UDPSocket') && (ctor('MulticastController') || !hasDoc) && policy.multicast !== false,
    policy,
  };
}

async function localNetworkState() {
  const perms = globalThis.navigator && globalThis.navigator.permissions;
  if (!perms || typeof perms.query !== 'function' || !globalThis.document) return 'granted';
  for (const name of ['local-network-access', 'local-network', 'loopback-network']) {
    try { const r = await perms.query({ name }); return r.state; } catch {}
  }
  return 'unknown';
}

/** `SocketIWA.permissions`: live getters plus query(). */
export const permissions = Object.freeze({
  /** Direct Sockets constructors exist and the 'direct-sockets' policy allows them. */
  get directSockets() { return snapshot().directSockets; },
  /** TCPSocket is usable. */
  get tcp() { return snapshot().tcp; },
  /** TCPServerSocket is usable. */
  get tcpServer() { return snapshot().tcpServer; },
  /** UDPSocket is usable. */
  get udp() { return snapshot().udp; },
  /** Multicast (direct-sockets-multicast) is allowed. */
  get multicast() { return snapshot().multicast; },
  /** The page is a secure, cross-origin-isolated context (true in an IWA). */
  get isolatedContext() { return snapshot().isolatedContext; },
  /** Per-feature permissions-policy answer (true / false / null = no policy API). */
  get policy() { return snapshot().policy; },
  /** Full report including the local-network permission state ('granted' | 'prompt' | 'denied' | 'unknown'). */
  async query() { return { ...snapshot(), localNetwork: await localNetworkState() }; },
  /** Is a named permissions-policy feature allowed (null when unknown)? */
  allowsFeature,
});

/**
 * Throw unless the requested capabilities are available. Resolves the report.
 * Missing Direct Sockets: code ENOTSUP. Blocked by policy or permission:
 * code EACCES, with the feature and the manifest field granting it.
 * @param {{tcp?: boolean, udp?: boolean, tcpServer?: boolean, multicast?: boolean, localNetwork?: boolean}} [need]
 */
export async function assertPermissions(need = {}) {
  const report = await permissions.query();
  const wants = { directSockets: true, ...need };
  const miss = (feature, code, extra = '') => {
    const f = FEATURES[feature];
    const err = new SocketIWAError(code,
      `${f.policy} is not allowed in this document (needed for ${f.grants}). Grant it with "permissions_policy": { "${f.policy}": ["self"] } in ${MANIFEST}${extra}.`);
    err.feature = f.policy;
    err.manifestField = `permissions_policy["${f.policy}"]`;
    return err;
  };
  if (!(ctor('UDPSocket') && ctor('TCPSocket'))) {
    const err = new SocketIWAError('ENOTSUP', `Direct Sockets are not available here: run inside an installed Isolated Web App whose ${MANIFEST} grants "permissions_policy": { "direct-sockets": ["self"] } (or install node/direct-sockets.js under Node.js).`);
    err.feature = 'direct-sockets';
    err.manifestField = 'permissions_policy["direct-sockets"]';
    throw err;
  }
  if (report.policy.directSockets === false) throw miss('directSockets', 'EACCES');
  if (wants.tcpServer && !report.tcpServer) throw miss('directSockets', 'EACCES');
  if (wants.multicast && !report.multicast) throw miss('multicast', 'EACCES');
  if (wants.localNetwork && report.localNetwork === 'denied') {
    throw miss('localNetwork', 'EACCES', ', and the user (or policy) must allow local network access');
  }
  return report;
}
