// Media over multicast UDP: packet format, a generated audio stream (sine
// PCM) and a test-pattern video stream chunked to fit datagrams, plus the
// receiver-side statistics (loss, reordering, RFC 3550 interarrival jitter).
//
// Packet (big-endian), 28-byte header then payload:
//   0  'SIWA' magic          4  stream id (u32)     8  sequence (u32, per stream)
//   12 frame index (u32)     16 chunk index (u16)   18 chunk count (u16)
//   20 media timestamp, ms since stream start (f64)

export const MAGIC = 0x53495741; // 'SIWA'
export const HEADER = 28;
export const STREAM = Object.freeze({ AUDIO: 1, VIDEO: 2 });
export const AUDIO = Object.freeze({ sampleRate: 48000, frameMs: 20, hz: 440 });
export const VIDEO = Object.freeze({ width: 160, height: 120, fps: 10, chunk: 1200 });

/** Encode one packet. */
export function encodePacket({ stream, seq, frame, chunk, chunks, timestampMs }, payload) {
  const out = new Uint8Array(HEADER + payload.byteLength);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC); dv.setUint32(4, stream); dv.setUint32(8, seq >>> 0); dv.setUint32(12, frame >>> 0);
  dv.setUint16(16, chunk); dv.setUint16(18, chunks); dv.setFloat64(20, timestampMs);
  out.set(payload, HEADER);
  return out;
}

/** Decode one packet; null when it is not ours. */
export function decodePacket(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (b.byteLength < HEADER) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getUint32(0) !== MAGIC) return null;
  return {
    stream: dv.getUint32(4), seq: dv.getUint32(8), frame: dv.getUint32(12),
    chunk: dv.getUint16(16), chunks: dv.getUint16(18), timestampMs: dv.getFloat64(20),
    payload: b.subarray(HEADER),
  };
}

/** One 20 ms frame of 16-bit mono sine PCM. */
export function audioFrame(index) {
  const n = (AUDIO.sampleRate * AUDIO.frameMs) / 1000;
  const pcm = new Int16Array(n);
  for (let i = 0; i < n; i++) pcm[i] = Math.round(12000 * Math.sin((2 * Math.PI * AUDIO.hz * (index * n + i)) / AUDIO.sampleRate));
  return new Uint8Array(pcm.buffer);
}

/** One grey-scale test-pattern frame (moving bars), width*height bytes. */
export function videoFrame(index) {
  const { width, height } = VIDEO;
  const px = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) px[y * width + x] = (((x + index * 4) >> 4) & 1) ? 235 : ((y >> 3) & 1) ? 128 : 16;
  return px;
}

/** Split a frame into packets. */
export function packetize(stream, frame, timestampMs, data, seqRef, chunkSize) {
  const chunks = Math.max(1, Math.ceil(data.byteLength / chunkSize));
  const out = [];
  for (let c = 0; c < chunks; c++) {
    out.push(encodePacket({ stream, seq: seqRef.next++, frame, chunk: c, chunks, timestampMs }, data.subarray(c * chunkSize, (c + 1) * chunkSize)));
  }
  return out;
}

/**
 * Receiver statistics for one stream: packets, loss, reordering, duplicate,
 * RFC 3550 interarrival jitter (ms), frames complete / incomplete.
 */
export class StreamStats {
  constructor(stream) {
    this.stream = stream;
    this.packets = 0; this.duplicates = 0; this.reordered = 0;
    this.firstSeq = null; this.maxSeq = null;
    this.jitterMs = 0; this.lastTransit = null;
    this.frames = new Map(); // frame -> {got:Set, chunks}
    this.framesComplete = 0;
    this.seen = new Set();
  }

  /** Account one packet that arrived at `arrivalMs` (receiver clock, ms since its stream start). */
  add(p, arrivalMs) {
    if (this.seen.has(p.seq)) { this.duplicates++; return; }
    this.seen.add(p.seq);
    if (this.seen.size > 100000) this.seen = new Set([...this.seen].slice(-50000));
    this.packets++;
    if (this.firstSeq === null) { this.firstSeq = p.seq; this.maxSeq = p.seq; }
    if (p.seq < this.maxSeq) this.reordered++;
    else this.maxSeq = p.seq;
    if (p.seq < this.firstSeq) this.firstSeq = p.seq;
    const transit = arrivalMs - p.timestampMs;
    if (this.lastTransit !== null) this.jitterMs += (Math.abs(transit - this.lastTransit) - this.jitterMs) / 16;
    this.lastTransit = transit;
    let f = this.frames.get(p.frame);
    if (!f) { f = { got: new Set(), chunks: p.chunks }; this.frames.set(p.frame, f); }
    f.got.add(p.chunk);
    if (f.got.size === f.chunks) { this.framesComplete++; this.frames.delete(p.frame); }
    if (this.frames.size > 256) { const oldest = this.frames.keys().next().value; this.frames.delete(oldest); this.framesDropped = (this.framesDropped || 0) + 1; }
  }

  /** Snapshot for display. */
  report() {
    const expected = this.firstSeq === null ? 0 : this.maxSeq - this.firstSeq + 1;
    const lost = Math.max(0, expected - this.packets);
    return {
      stream: this.stream === STREAM.AUDIO ? 'audio' : this.stream === STREAM.VIDEO ? 'video' : String(this.stream),
      packets: this.packets, expected, lost, lossPct: expected ? (100 * lost) / expected : 0,
      reordered: this.reordered, duplicates: this.duplicates, jitterMs: this.jitterMs,
      framesComplete: this.framesComplete, framesIncomplete: (this.framesDropped || 0),
    };
  }
}
