// UDP GSO sends for node:dgram sockets, through node:ffi (Node 26, Linux,
// 64-bit). node:dgram has no batch send: every datagram is its own
// uv_udp_send and its own sendmsg(). A QUIC server sends runs of equal-sized
// packets to one peer; with UDP_SEGMENT (Linux >= 4.18) one sendmsg() hands the
// kernel a whole run, which it splits into datagrams of `segment` bytes (the
// last may be shorter). This is what the native io layer does (src/io/udp.rs);
// here it serves node/direct-sockets.js, the Direct Sockets the wasm server
// gets under Node. docs/BRIDGE.md "Under Node: GSO sends through node:ffi".
//
// Used only where it is safe to: Linux on x64/arm64 (LP64 struct layouts
// below), node:ffi present and allowed (not disabled by --no-experimental-ffi,
// not refused by the permission model), and not turned off with
// SOCKET_IWA_NODE_FFI=off. Anything else, and any send the kernel refuses,
// goes through node:dgram as before.

import { nativeLib, dgramHandle as handleOf, handleFd, SOL_UDP, AF_INET, AF_INET6, EAGAIN, EINTR } from './ffi.js';

const MAX_SEGMENTS = 64;      // the kernel's UDP_MAX_SEGMENTS
const MAX_RUN_BYTES = 65000;  // one UDP payload: 65535 minus IPv6/UDP headers, rounded down
const UDP_SEGMENT = 103;

/** node/ffi.js's functions, the send structures set up once; or null. */
function load() {
  const l = nativeLib();
  if (l && !arena) setUp(l);
  return l;
}

// One set of send structures for the whole thread: a send is synchronous, so
// nothing else uses them in between. The kernel reads them through raw
// pointers, so each must stay where it is and stay alive: they are views of
// `arena`, one off-heap Buffer held for the thread's life (a typed array of
// 64 bytes or less may live on V8's heap, which moves it; a Buffer only a
// pointer refers to is collected).
let arena, stage, stageAt, sockaddr, msghdr, msghdrAt, iov, cmsg;
function setUp({ ffi }) {
  arena = Buffer.alloc(128);
  stage = Buffer.alloc(MAX_RUN_BYTES);
  sockaddr = arena.subarray(0, 32);    // sockaddr_in6 (28), large enough for sockaddr_in
  iov = arena.subarray(32, 48);        // one iovec: the staged run
  cmsg = arena.subarray(48, 72);       // cmsghdr (16) + u16 segment size, padded to 8
  msghdr = arena.subarray(72, 128);    // struct msghdr
  stageAt = ffi.getRawPointer(stage);
  cmsg.writeBigUInt64LE(18n, 0);           // cmsg_len = CMSG_LEN(sizeof(u16))
  cmsg.writeInt32LE(SOL_UDP, 8);
  cmsg.writeInt32LE(UDP_SEGMENT, 12);
  msghdr.writeBigUInt64LE(ffi.getRawPointer(sockaddr), 0);  // msg_name (msg_namelen set per send)
  msghdr.writeBigUInt64LE(ffi.getRawPointer(iov), 16);      // msg_iov
  msghdr.writeBigUInt64LE(1n, 24);                          // msg_iovlen
  msghdr.writeBigUInt64LE(ffi.getRawPointer(cmsg), 32);     // msg_control
  msghdr.writeBigUInt64LE(24n, 40);                         // msg_controllen = CMSG_SPACE(sizeof(u16))
  msghdrAt = ffi.getRawPointer(msghdr);
}

/** The 16 bytes of an IPv6 literal (no zone), or null. WHATWG URL parsing
 * validates it and writes it canonically (hex groups, at most one "::"). */
function ipv6Bytes(host) {
  if (host.includes('%')) return null;
  let text;
  try { text = new URL(`http://[${host}]/`).hostname.slice(1, -1); } catch { return null; }
  const halves = text.split('::');
  const groups = (s) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const all = [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, 2 * i));
  return out;
}

// The destination last written into `sockaddr`, which every sender shares:
// kept here with the buffer, so a sender never trusts what another overwrote.
let sockHost = null, sockPort = 0, sockLen = 0;

/** `sockaddr` holds the destination: its length, or 0 when it cannot be written. */
function destination(host, port, family) {
  if (host !== sockHost || port !== sockPort) {
    sockLen = writeSockaddr(host, port, family);
    sockHost = host; sockPort = port;
  }
  return sockLen;
}

/** Writes the destination into `sockaddr`; its length, or 0 when it cannot be written. */
function writeSockaddr(host, port, family) {
  sockaddr.fill(0);
  if (family === 4) {
    const p = host.split('.');
    sockaddr.writeUInt16LE(AF_INET, 0);
    sockaddr.writeUInt16BE(port, 2);
    for (let i = 0; i < 4; i++) sockaddr[4 + i] = Number(p[i]);
    return 16;
  }
  const b = ipv6Bytes(host);
  if (!b) return 0;
  sockaddr.writeUInt16LE(AF_INET6, 0);
  sockaddr.writeUInt16BE(port, 2);
  b.copy(sockaddr, 8);
  return 28;
}

/**
 * What every GSO sender of this process did: runs (sendmsg calls), the
 * datagrams in them, and the runs read straight from the caller's memory
 * (sendBytes: the wasm heap). emscripten/run-node.mjs prints them at exit
 * with SOCKET_IWA_NODE_UDP_STATS=1 (tests/interop/test_udp_batching.py).
 */
export const gsoTotals = { runs: 0, datagrams: 0, inPlaceRuns: 0 };

/**
 * A GSO sender for a bound node:dgram socket, or null where GSO is not
 * available. send(datas, host, port, family) sends the datagrams `datas`
 * (every one but the last exactly datas[0].length bytes, the last at most
 * that) as one sendmsg(); it returns true once the kernel took them all and
 * false when it took none (the caller then sends them through node:dgram,
 * which also reports any error). After a refusal other than a full send
 * buffer, the sender turns itself off for good.
 */
export function gsoSender(socket) {
  const l = load();
  if (!l) return null;
  let fd = -1;
  const sender = {
    on: true,
    /** Datagrams sent in GSO runs, and runs (sendmsg calls). */
    datagrams: 0,
    runs: 0,
    /** Whether node:dgram still has queued sends (a GSO send now would overtake them). */
    busy() {
      const handle = handleOf(socket);
      return !handle || typeof handle.getSendQueueCount !== 'function' || handle.getSendQueueCount() > 0;
    },
    send(datas, host, port, family) {
      const segment = datas[0].length;
      let off = 0;
      for (const d of datas) { stage.set(d, off); off += d.length; }
      return sendAt(stageAt, off, segment, datas.length, host, port, family);
    },
    /**
     * Like send, for a run already laid out in memory: `bytes` as datagrams of
     * `segment` bytes (the last may be shorter). The kernel reads `bytes` where
     * they are (no copy), so they need only be valid during the call: a view of
     * the wasm heap will do.
     */
    sendBytes(bytes, segment, host, port, family) {
      const ok = sendAt(l.ffi.getRawPointer(bytes), bytes.length, segment, Math.ceil(bytes.length / segment), host, port, family);
      if (ok) gsoTotals.inPlaceRuns += 1;
      return ok;
    },
  };
  function sendAt(at, len, segment, count, host, port, family) {
    if (fd < 0) fd = handleFd(handleOf(socket));
    if (fd < 0) { sender.on = false; return false; }
    const namelen = destination(host, port, family);
    if (!namelen) return false;
    msghdr.writeUInt32LE(namelen, 8);      // msg_namelen
    iov.writeBigUInt64LE(BigInt(at), 0);   // iov_base
    iov.writeBigUInt64LE(BigInt(len), 8);  // iov_len
    cmsg.writeUInt16LE(segment, 16);
    let n = l.fn.sendmsg(fd, msghdrAt, 0);
    if (n < 0n && l.errno() === EINTR) n = l.fn.sendmsg(fd, msghdrAt, 0);
    if (n >= 0n) {
      sender.datagrams += count; sender.runs += 1;
      gsoTotals.datagrams += count; gsoTotals.runs += 1;
      return true;
    }
    if (l.errno() !== EAGAIN) sender.on = false; // EIO/EINVAL/...: this path does not take GSO
    return false;
  }
  return sender;
}

export const GSO_LIMITS = { MAX_SEGMENTS, MAX_RUN_BYTES };
