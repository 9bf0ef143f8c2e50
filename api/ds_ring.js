// A single-producer single-consumer ring of datagrams in a SharedArrayBuffer,
// between the page's thread and the I/O worker of api/ds_worker.js
// (docs/BRIDGE.md "Direct Sockets in an I/O worker"). One thread only pushes,
// the other only takes; the two positions live in an Int32Array shared by both
// and are published with Atomics, so a taker never sees an entry before its bytes.
//
// An entry: u32 total (its bytes, header included, a multiple of 4), u16 port,
// u8 address length, u8 0, u32 segment size (0: one datagram; else a run of
// datagrams of that size, the last one shorter), u32 payload length, the address
// (ASCII), the payload. An entry never wraps: when one does not fit before the end,
// a u32 0xffffffff marks the rest of the ring unused and the entry starts at 0.
// One byte of the ring always stays free, so head === tail means empty.

const HDR = 16;
const WRAP = 0xffffffff;

export class Ring {
  /**
   * @param {Int32Array} ctl shared control words
   * @param {number} headIdx index in ctl of the taker's position
   * @param {number} tailIdx index in ctl of the pusher's position
   * @param {Uint8Array} data the ring's bytes (shared; length a multiple of 4)
   */
  constructor(ctl, headIdx, tailIdx, data) {
    if (data.byteLength % 4) throw new RangeError('ring size must be a multiple of 4');
    this.ctl = ctl; this.h = headIdx; this.t = tailIdx; this.data = data;
    this.dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.cap = data.byteLength;
    this.lastAddr = ''; this.lastAddrBytes = new Uint8Array(0);
  }

  /** Bytes an entry of this address and payload length takes. */
  static size(addrLen, len) { return (HDR + addrLen + len + 3) & ~3; }

  /** The largest payload one entry can hold. */
  maxPayload() { return this.cap / 2 - HDR - 64; }

  /**
   * Pushes one entry (a datagram, or a run of `seg`-byte datagrams) of `bytes` for
   * address:port. Returns false (nothing written) when the ring has no room.
   */
  push(addr, port, seg, bytes) {
    const a = this.#addrBytes(addr);
    const total = Ring.size(a.length, bytes.length);
    const head = Atomics.load(this.ctl, this.h);
    let tail = this.ctl[this.t];
    let at;
    if (tail >= head) {
      if (total <= this.cap - tail - (head === 0 ? 4 : 0)) at = tail;
      else if (total < head) { this.dv.setUint32(tail, WRAP, true); at = 0; }
      else return false;
    } else if (total < head - tail) at = tail;
    else return false;
    const dv = this.dv;
    dv.setUint32(at, total, true);
    dv.setUint16(at + 4, port, true);
    dv.setUint8(at + 6, a.length);
    dv.setUint8(at + 7, 0);
    dv.setUint32(at + 8, seg, true);
    dv.setUint32(at + 12, bytes.length, true);
    this.data.set(a, at + HDR);
    this.data.set(bytes, at + HDR + a.length);
    tail = at + total;
    if (tail === this.cap) tail = 0;
    Atomics.store(this.ctl, this.t, tail);
    return true;
  }

  /** Whether an entry waits. */
  empty() { return Atomics.load(this.ctl, this.t) === this.ctl[this.h]; }

  /**
   * Calls fn(addr, port, seg, view) for every entry waiting, oldest first; `view` is a
   * view of the ring, valid only during the call. Returns how many there were. The
   * space is given back once all were taken.
   */
  take(fn) {
    const tail = Atomics.load(this.ctl, this.t);
    let head = this.ctl[this.h], n = 0;
    const dv = this.dv;
    while (head !== tail) {
      const total = dv.getUint32(head, true);
      if (total === WRAP) { head = 0; continue; }
      const addrLen = dv.getUint8(head + 6);
      const len = dv.getUint32(head + 12, true);
      const addr = this.#addrText(head + HDR, addrLen);
      fn(addr, dv.getUint16(head + 4, true), dv.getUint32(head + 8, true), this.data.subarray(head + HDR + addrLen, head + HDR + addrLen + len));
      n++;
      head += total;
      if (head === this.cap) head = 0;
    }
    Atomics.store(this.ctl, this.h, head);
    return n;
  }

  // A server answers few peers: the last address is kept in both forms.
  #addrBytes(addr) {
    if (addr === this.lastAddr) return this.lastAddrBytes;
    const s = String(addr ?? '');
    const b = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 127) throw new TypeError(`address ${JSON.stringify(s)} is not ASCII`);
      b[i] = c;
    }
    if (b.length > 255) throw new RangeError('address longer than 255 characters');
    this.lastAddr = s; this.lastAddrBytes = b;
    return b;
  }

  #addrText(at, len) {
    const last = this.lastAddrBytes;
    if (last.length === len) {
      let same = true;
      for (let i = 0; i < len; i++) if (this.data[at + i] !== last[i]) { same = false; break; }
      if (same) return this.lastAddr;
    }
    let s = '';
    for (let i = 0; i < len; i++) s += String.fromCharCode(this.data[at + i]);
    this.lastAddr = s; this.lastAddrBytes = this.data.slice(at, at + len);
    return s;
  }
}
