// Argument validation: invalid ports and addresses throw TypeError with a code.

import { argError } from './errors.js';

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Is `s` an IPv4 dotted-quad literal? */
export function isIPv4(s) { return typeof s === 'string' && IPV4.test(s); }

/** Is `s` an IPv6 literal (optionally with a %zone)? */
export function isIPv6(s) {
  if (typeof s !== 'string' || !s.includes(':')) return false;
  let v = s.split('%')[0];
  if (!/^[0-9a-fA-F:.]+$/.test(v)) return false;
  let tailGroups = 0;
  const lastColon = v.lastIndexOf(':');
  if (v.slice(lastColon + 1).includes('.')) {
    if (!isIPv4(v.slice(lastColon + 1))) return false;
    v = v.slice(0, lastColon + 1) + '0:0';
    tailGroups = 0;
  }
  const dbl = v.split('::');
  if (dbl.length > 2) return false;
  const groups = (part) => (part === '' ? [] : part.split(':'));
  const parts = dbl.map(groups);
  const all = parts.flat();
  if (all.some((g) => g.length === 0 || g.length > 4)) return false;
  return dbl.length === 2 ? all.length + tailGroups < 8 : all.length === 8;
}

/** 4, 6 or 0 like net.isIP. */
export function ipFamily(s) { return isIPv4(s) ? 4 : isIPv6(s) ? 6 : 0; }

/** `addr:port` or `[v6addr]:port` as the Rust side formats a peer -> { address, port } (port 0 if there is none). */
export function splitPeer(s) {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(s);
  return m ? { address: m[1], port: Number(m[2]) } : { address: s, port: 0 };
}

/** Is the address an IPv4 (224/4) or IPv6 (ff00::/8) multicast group? */
export function isMulticastAddress(s) {
  if (isIPv4(s)) { const a = Number(s.split('.')[0]); return a >= 224 && a <= 239; }
  return isIPv6(s) && /^ff/i.test(s);
}

/**
 * Validate a port number (1..65535; 0 only when allowZero).
 * @returns {number}
 */
export function validatePort(value, name = 'port', { allowZero = false } = {}) {
  if (typeof value === 'string' && /^\d+$/.test(value)) value = Number(value);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1) || value > 65535) {
    throw argError(`${name} must be an integer between ${allowZero ? 0 : 1} and 65535, got ${describe(value)}.`, 'ERR_SOCKET_BAD_PORT');
  }
  return value;
}

/** Validate an IP address literal. */
export function validateIp(value, name = 'address') {
  if (!ipFamily(value)) throw argError(`${name} must be an IPv4 or IPv6 address literal, got ${describe(value)}.`, 'ERR_INVALID_IP_ADDRESS');
  return value;
}

/** Validate an IP literal or a DNS host name. */
export function validateHost(value, name = 'host') {
  if (ipFamily(value)) return value;
  if (typeof value !== 'string' || value.length === 0 || value.length > 253 ||
      !/^(?=.{1,253}$)([a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/.test(value)) {
    throw argError(`${name} must be an IP address or a host name, got ${describe(value)}.`, 'ERR_INVALID_ADDRESS');
  }
  return value;
}

/** Validate a multicast group address. */
export function validateMulticast(value, name = 'group') {
  if (!isMulticastAddress(value)) throw argError(`${name} must be a multicast group address (224.0.0.0/4 or ff00::/8), got ${describe(value)}.`, 'ERR_INVALID_MULTICAST_ADDRESS');
  return value;
}

function describe(v) {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v == null) return String(v);
  return `a value of type ${typeof v}`;
}
