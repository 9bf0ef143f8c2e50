// UDP GRO receives for node:dgram sockets, through node:ffi (Node 26, Linux,
// 64-bit). node:dgram reads one datagram per recvmsg() and hands each to
// JavaScript with its own allocation and 'message' event. With UDP_GRO
// (Linux >= 5.0) the kernel keeps a run of equal-sized datagrams from one peer
// together (a GSO send arrives whole over loopback and veth; GRO-capable
// drivers merge runs from the wire), and one recvmsg() returns the run plus
// its segment size. This is what the native io layer does (src/io/udp.rs);
// here it serves node/direct-sockets.js, the Direct Sockets the wasm server
// gets under Node. docs/BRIDGE.md "Under Node: GRO receives through node:ffi".
//
// A GRO run cannot be split without its segment size, which node:dgram does
// not read, so with GRO on node:dgram must not read the socket at all: its
// receiving stops (the UDP handle's recvStop) and a libuv poll handle on the
// same event loop watches a dup() of the descriptor (libuv allows one watcher
// per descriptor number); each time the socket is readable, recvmsg() runs
// until the queue is empty (at most MAX_READS calls per wake-up). Sending is
// untouched. Available where node/ffi.js's uvPoll() is (Linux x64/arm64, node:ffi
// with callbacks and the event loop, not SOCKET_IWA_NODE_FFI=off); elsewhere,
// and when any step of setting it up fails, node:dgram receives as before.

import { nativeLib, uvPoll, dgramHandle, handleFd, SOL_UDP, AF_INET, AF_INET6, EAGAIN, EINTR } from './ffi.js';

const UDP_GRO = 104;
const MSG_DONTWAIT = 0x40;
const MSG_TRUNC = 0x20;
const UV_READABLE = 1;
const BUF_BYTES = 65536;   // one GRO message is at most 64 KiB, one datagram at most 65,527 bytes
const MAX_READS = 64;      // recvmsg() calls per wake-up; libuv calls again while more is queued
const LEND_BYTES = 8 * BUF_BYTES; // a lending consumer's receive area (see groReceiver's `lender`)

// One set of receive structures for the thread: a recvmsg() is synchronous and
// what it wrote is consumed before the next. Views of one off-heap Buffer held
// for the thread's life (the kernel writes through raw pointers), as in
// node/udp_gso.js.
let rx;
function setUp(ffi) {
  const arena = Buffer.alloc(BUF_BYTES + 256);
  const buf = arena.subarray(0, BUF_BYTES);
  const name = arena.subarray(BUF_BYTES, BUF_BYTES + 32);          // sockaddr_in6 (28)
  const iov = arena.subarray(BUF_BYTES + 32, BUF_BYTES + 48);      // one iovec
  const ctl = arena.subarray(BUF_BYTES + 48, BUF_BYTES + 112);     // room for the UDP_GRO cmsg (20)
  const hdr = arena.subarray(BUF_BYTES + 112, BUF_BYTES + 168);    // struct msghdr (56)
  const text = arena.subarray(BUF_BYTES + 168, BUF_BYTES + 256);   // an address as text (INET6_ADDRSTRLEN 46 + "%" + IFNAMSIZ 16)
  iov.writeBigUInt64LE(ffi.getRawPointer(buf), 0);
  iov.writeBigUInt64LE(BigInt(BUF_BYTES), 8);
  hdr.writeBigUInt64LE(ffi.getRawPointer(name), 0);  // msg_name
  hdr.writeBigUInt64LE(ffi.getRawPointer(iov), 16);  // msg_iov
  hdr.writeBigUInt64LE(1n, 24);                      // msg_iovlen
  hdr.writeBigUInt64LE(ffi.getRawPointer(ctl), 32);  // msg_control
  rx = {
    arena, bytes: new Uint8Array(buf.buffer, buf.byteOffset, BUF_BYTES), name, ctl, hdr, text, iov,
    bufAt: Number(ffi.getRawPointer(buf)),
    hdrAt: ffi.getRawPointer(hdr), v6At: ffi.getRawPointer(name) + 8n, textAt: ffi.getRawPointer(text),
  };
}

/** Where the next recvmsg() writes (its length stays BUF_BYTES): an address below 2^53 as two 32-bit halves. */
function setIovBase(at) {
  rx.iov.writeUInt32LE(at % 0x100000000, 0);
  rx.iov.writeUInt32LE(Math.floor(at / 0x100000000), 4);
}

/** Turns UDP_GRO on or off on fd; true when the kernel took it. */
function setGro(l, fd, on) {
  const v = Buffer.alloc(4);
  v.writeInt32LE(on ? 1 : 0, 0);
  return l.fn.setsockopt(fd, SOL_UDP, UDP_GRO, l.ffi.getRawPointer(v), 4) === 0;
}

/**
 * A GRO receiver for a bound node:dgram socket, or null where it is not
 * available (node:dgram then receives as before). deliver(data, address, port,
 * segment, lent) gets every message in order: one datagram or a run of them
 * (all `segment` bytes long but the last, which may be shorter; `segment` is
 * data.length for a single datagram). `data` is a buffer of its own, or, with
 * `lent` true, a view of the receiver's lending area (below).
 * stop() hands receiving back to node:dgram, or, with `closing`, ends it before
 * the socket closes. `datagrams` and `calls` count what came through here,
 * `lent` the messages read straight into the lending area.
 *
 * Lending (docs/BRIDGE.md "Under Node: GRO receives through node:ffi"): a
 * consumer that copies what it keeps out before it lets go of it (the wasm
 * bridge copies into the heap when the program reads) need not get a buffer of
 * its own per message. While `lender()` says it holds nothing delivered earlier
 * (returns true), a wake-up's messages are read by the kernel straight into one
 * area kept for the receiver, one after the other, and handed over as views of
 * it (`lent`); the next wake-up reuses the area only if lender() says so again,
 * and otherwise reads as before. That saves an allocation, its zeroing and a
 * copy per message, and the garbage.
 */
export function groReceiver(socket, deliver, lender) {
  const l = nativeLib(), u = uvPoll();
  if (!l || !u) return null;
  const handle = dgramHandle(socket);
  const fd = handleFd(handle);
  if (fd < 0 || typeof handle.recvStop !== 'function' || typeof handle.recvStart !== 'function') return null;
  if (!rx) setUp(l.ffi);
  if (!setGro(l, fd, true)) return null;
  const pollFd = l.fn.dup(fd);
  if (pollFd < 0) { setGro(l, fd, false); return null; }
  const pollMem = Buffer.alloc(u.handleSize); // the uv_poll_t, alive until its close callback
  const pollAt = l.ffi.getRawPointer(pollMem);
  // The lending area, made on first use; its address as a Number (exact: user addresses are below 2^47).
  let lend = null, lendAt = 0;
  // The last source address and its text (a server hears the same few peers).
  let lastA = -1, lastB = 0, lastC = 0, lastD = 0, lastScope = 0, lastFam = 0, lastText = '';
  function sourceText(fam) {
    const n = rx.name;
    if (fam === AF_INET) {
      const a = n.readUInt32LE(4);
      if (lastFam === AF_INET && a === lastA) return lastText;
      lastFam = AF_INET; lastA = a;
      lastText = `${n[4]}.${n[5]}.${n[6]}.${n[7]}`;
      return lastText;
    }
    const a = n.readUInt32LE(8), b = n.readUInt32LE(12), c = n.readUInt32LE(16), d = n.readUInt32LE(20), scope = n.readUInt32LE(24);
    if (lastFam === AF_INET6 && a === lastA && b === lastB && c === lastC && d === lastD && scope === lastScope) return lastText;
    // libuv's formatting, as node:dgram's (uv_inet_ntop, then "%<interface>" for a link-local address with a scope).
    if (u.inetNtop(AF_INET6, rx.v6At, rx.textAt, 64n) !== 0) return null;
    let text = l.ffi.toString(rx.textAt);
    if (scope !== 0 && n[8] === 0xfe && (n[9] & 0xc0) === 0x80) {
      const ifname = u.ifIndexToName(scope, rx.textAt);
      text += '%' + (ifname ? l.ffi.toString(rx.textAt) : String(scope));
    }
    lastFam = AF_INET6; lastA = a; lastB = b; lastC = c; lastD = d; lastScope = scope; lastText = text;
    return text;
  }
  const receiver = {
    on: true, calls: 0, datagrams: 0, lent: 0,
    stop(closing) {
      if (!receiver.on) return;
      receiver.on = false;
      // uv_poll_stop and uv_close take the descriptor out of epoll at once (only the close
      // callback comes later), so the dup() closes now: the port is free when this returns.
      u.stop(pollAt);
      u.close(pollAt, closeCb);
      l.fn.close(pollFd);
      if (!closing) {
        setGro(l, fd, false);
        try { handle.recvStart(); } catch {}
      }
    },
  };
  // What the kernel queued: read until empty (MAX_READS at most; libuv reports the rest).
  function onReadable(status) {
    if (!receiver.on) return;
    if (status < 0) { receiver.stop(false); return; }
    const { hdr, ctl } = rx;
    // Into the lending area only while the consumer holds none of it; `used` bytes of it are handed over.
    let lending = false, used = 0;
    if (lender && lender()) {
      if (!lend) {
        const area = Buffer.alloc(LEND_BYTES);
        lend = new Uint8Array(area.buffer, area.byteOffset, LEND_BYTES);   // plain views, as rx.bytes'
        lendAt = Number(l.ffi.getRawPointer(area));
      }
      lending = true;
    }
    for (let i = 0; i < MAX_READS && receiver.on; i++) {
      hdr.writeUInt32LE(28, 8);             // msg_namelen
      hdr.writeUInt32LE(64, 40);            // msg_controllen (its high half stays 0)
      // A whole message must fit where it is read: the next BUF_BYTES of the area, or rx's buffer.
      const inLend = lending && LEND_BYTES - used >= BUF_BYTES;
      setIovBase(inLend ? lendAt + used : rx.bufAt);
      const n = l.fn.recvmsg(fd, rx.hdrAt, MSG_DONTWAIT);
      if (n < 0) {
        const e = l.errno();
        if (e === EINTR) continue;
        if (e !== EAGAIN) receiver.errors = (receiver.errors || 0) + 1; // e.g. a queued ICMP error: that call only
        break;
      }
      if (hdr.readInt32LE(48) & MSG_TRUNC) continue; // cannot happen with a 64 KiB buffer; never deliver a cut datagram
      let seg = n;
      // The kernel's cmsg (udp_cmsg_recv): SOL_UDP / UDP_GRO / int segment size, present when a run was kept together.
      if (hdr.readUInt32LE(40) >= 20 && ctl.readInt32LE(8) === SOL_UDP && ctl.readInt32LE(12) === UDP_GRO) seg = ctl.readInt32LE(16);
      const fam = rx.name.readUInt16LE(0);
      const host = fam === AF_INET || fam === AF_INET6 ? sourceText(fam) : null;
      if (host === null) continue;
      const port = rx.name.readUInt16BE(2);
      receiver.calls++;
      if (seg <= 0 || seg > n) seg = n;
      receiver.datagrams += seg > 0 ? Math.ceil(n / seg) : 1;
      if (inLend) {
        receiver.lent++;
        deliver(lend.subarray(used, used + n), host, port, seg, true);
        used += n;
      } else {
        deliver(rx.bytes.slice(0, n), host, port, seg, false);
      }
    }
  }
  // libuv calls the poll callback outside of any Node callback scope, where
  // nothing runs the microtasks the delivered datagrams queue (a waiting wasm
  // program resumes in one): the reading happens in an immediate, which Node
  // runs in this same loop iteration (its check phase follows the poll phase)
  // and follows with a microtask checkpoint.
  let pending = false, lastStatus = 0;
  const readNow = () => { pending = false; onReadable(lastStatus); };
  const safeReadable = (_h, status) => {
    try {
      lastStatus = status;
      if (!pending) { pending = true; setImmediate(readNow); }
    } catch {}
  };
  let readCb = null, closeCb = null;
  function onClosed() {
    void pollMem; // libuv used the handle's memory until now
    // Never unregister a callback from inside itself: after this one returns.
    setImmediate(() => { u.uncallback(readCb); u.uncallback(closeCb); });
  }
  try {
    readCb = u.callback({ arguments: ['pointer', 'int32', 'int32'], return: 'void' }, safeReadable);
    closeCb = u.callback({ arguments: ['pointer'], return: 'void' }, () => { try { onClosed(); } catch {} });
    if (u.init(u.loop, pollAt, pollFd) !== 0) throw new Error('uv_poll_init');
    if (u.start(pollAt, UV_READABLE, readCb) !== 0) { u.close(pollAt, closeCb); l.fn.close(pollFd); receiver.on = false; setGro(l, fd, false); return null; }
  } catch {
    if (readCb) u.uncallback(readCb);
    if (closeCb) u.uncallback(closeCb);
    l.fn.close(pollFd);
    setGro(l, fd, false);
    return null;
  }
  handle.recvStop();
  return receiver;
}
