// RFC 6455 framing: encode frames and parse them incrementally, validating
// everything a peer could get wrong (reserved bits, opcodes, masking, control
// frame rules, lengths). Violations throw WsProtocolError with the close code
// the connection must be closed with.

export const OPCODE = Object.freeze({ CONTINUATION: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa });

/** A protocol violation: `closeCode` is the RFC 6455 status to close with. */
export class WsProtocolError extends Error {
  constructor(closeCode, message) {
    super(message);
    this.name = 'WsProtocolError';
    this.closeCode = closeCode;
    this.code = closeCode === 1009 ? 'ERR_WS_MESSAGE_TOO_BIG' : closeCode === 1007 ? 'ERR_WS_INVALID_UTF8' : 'ERR_WS_PROTOCOL';
  }
}

/**
 * Encode one frame.
 * @param {number} opcode
 * @param {Uint8Array} payload
 * @param {{fin?: boolean, mask?: boolean, rsv1?: boolean}} [opts] rsv1: "compressed" (permessage-deflate)
 * @returns {Uint8Array}
 */
export function encodeFrame(opcode, payload, { fin = true, mask = false, rsv1 = false } = {}) {
  const len = payload.byteLength;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = 2 + ext + (mask ? 4 : 0);
  const out = new Uint8Array(head + len);
  out[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  out[1] = (mask ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  const dv = new DataView(out.buffer);
  if (ext === 2) dv.setUint16(2, len);
  else if (ext === 8) dv.setBigUint64(2, BigInt(len));
  if (mask) {
    const key = new Uint8Array(4);
    crypto.getRandomValues(key);
    out.set(key, 2 + ext);
    for (let i = 0; i < len; i++) out[head + i] = payload[i] ^ key[i & 3];
  } else {
    out.set(payload, head);
  }
  return out;
}

/** Incremental frame parser for one direction of one connection. */
export class FrameParser {
  /**
   * @param {{expectMasked: boolean, maxPayload: number, onFrame: (f: {fin: boolean, opcode: number, payload: Uint8Array, rsv1: boolean}) => void, allowRsv1?: boolean}} opts
   *   allowRsv1: permessage-deflate was negotiated (RSV1 marks a compressed message's first frame)
   */
  constructor({ expectMasked, maxPayload, onFrame, allowRsv1 = false }) {
    this.expectMasked = expectMasked;
    this.allowRsv1 = allowRsv1;
    this.maxPayload = maxPayload;
    this.onFrame = onFrame;
    this.parts = [];
    this.have = 0;
    this.need = 2;
    this.dead = false;
  }

  /**
   * Feed bytes; calls onFrame per complete frame; throws WsProtocolError.
   * Bytes are only joined once enough have arrived for the next step, so a
   * large frame arriving in many chunks is copied once, not once per chunk.
   */
  push(chunk) {
    if (this.dead) return;
    this.parts.push(chunk);
    this.have += chunk.byteLength;
    if (this.have < this.need) return;
    const buf = this.parts.length === 1 ? this.parts[0] : concatParts(this.parts, this.have);
    this.parts = [];
    this.have = 0;
    let off = 0;
    let need = 2;
    try {
      for (;;) {
        const avail = buf.byteLength - off;
        if (avail < 2) { need = 2; break; }
        const b0 = buf[off], b1 = buf[off + 1];
        const fin = (b0 & 0x80) !== 0;
        const opcode = b0 & 0x0f;
        const rsv1 = (b0 & 0x40) !== 0;
        if (b0 & 0x30 || (rsv1 && !this.allowRsv1)) throw new WsProtocolError(1002, 'RSV bits set without a negotiated extension');
        if (!(opcode <= 2 || (opcode >= 8 && opcode <= 10))) throw new WsProtocolError(1002, `reserved opcode 0x${opcode.toString(16)}`);
        if (rsv1 && (opcode === 0 || opcode >= 8)) throw new WsProtocolError(1002, 'RSV1 set on a continuation or control frame');
        const masked = (b1 & 0x80) !== 0;
        if (masked !== this.expectMasked) throw new WsProtocolError(1002, masked ? 'server frames must not be masked' : 'client frames must be masked');
        let len = b1 & 0x7f;
        let p = off + 2;
        if (opcode >= 8) {
          if (!fin) throw new WsProtocolError(1002, 'fragmented control frame');
          if (len > 125) throw new WsProtocolError(1002, 'control frame payload longer than 125 bytes');
        }
        if (len === 126) {
          if (buf.byteLength - p < 2) { need = 4; break; }
          len = (buf[p] << 8) | buf[p + 1];
          if (len < 126) throw new WsProtocolError(1002, 'non-minimal length encoding');
          p += 2;
        } else if (len === 127) {
          if (buf.byteLength - p < 8) { need = 10; break; }
          const dv = new DataView(buf.buffer, buf.byteOffset + p, 8);
          const big = dv.getBigUint64(0);
          if (big >> 63n) throw new WsProtocolError(1002, 'payload length has the most significant bit set');
          if (big > BigInt(this.maxPayload)) throw new WsProtocolError(1009, `frame of ${big} bytes exceeds maxPayload ${this.maxPayload}`);
          len = Number(big);
          if (len < 65536) throw new WsProtocolError(1002, 'non-minimal length encoding');
          p += 8;
        }
        if (len > this.maxPayload) throw new WsProtocolError(1009, `frame of ${len} bytes exceeds maxPayload ${this.maxPayload}`);
        const keyLen = masked ? 4 : 0;
        if (buf.byteLength - p < keyLen + len) { need = p - off + keyLen + len; break; }
        let payload;
        if (masked) {
          const key = [buf[p], buf[p + 1], buf[p + 2], buf[p + 3]];
          p += 4;
          payload = new Uint8Array(len);
          for (let i = 0; i < len; i++) payload[i] = buf[p + i] ^ key[i & 3];
        } else {
          payload = buf.slice(p, p + len);
        }
        off = p + len;
        this.onFrame({ fin, opcode, payload, rsv1 });
        if (this.dead) return;
      }
    } catch (err) {
      this.dead = true;
      throw err;
    }
    if (off < buf.byteLength) { const rest = buf.subarray(off); this.parts = [rest]; this.have = rest.byteLength; }
    this.need = need;
  }
}

function concatParts(parts, total) {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.byteLength; }
  return out;
}

/** Is `code` a status a peer may send in a close frame? */
export function isValidCloseCode(code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}
