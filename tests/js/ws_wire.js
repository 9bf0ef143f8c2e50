// Wire capture for WebSocket tests: a loopback TCP proxy that forwards bytes
// unchanged and parses the WebSocket frames crossing it each way (after the
// HTTP upgrade), so a test can check what really travels: RSV1 (compressed,
// RFC 7692) and each frame's payload length.
import net from 'node:net';

/** A frame parser fed with one direction's bytes; pushes {fin, rsv1, opcode, masked, length, tail} to `list`. */
function frameParser(list) {
  let buf = Buffer.alloc(0);
  let inHandshake = true;
  return (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    if (inHandshake) {
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      buf = buf.subarray(i + 4);
      inHandshake = false;
    }
    for (;;) {
      if (buf.length < 2) return;
      let len = buf[1] & 0x7f, off = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      const masked = !!(buf[1] & 0x80);
      const mask = masked ? buf.subarray(off, off + 4) : null;
      if (masked) off += 4;
      if (buf.length < off + len) return;
      // last (up to) 4 payload bytes, unmasked
      const tail = [];
      for (let j = Math.max(0, len - 4); j < len; j++) tail.push(buf[off + j] ^ (mask ? mask[j & 3] : 0));
      list.push({ fin: !!(buf[0] & 0x80), rsv1: !!(buf[0] & 0x40), opcode: buf[0] & 0x0f, masked, length: len, tail });
      buf = buf.subarray(off + len);
    }
  };
}

/**
 * Start a capturing proxy to 127.0.0.1:`port`. Returns {port, frames: {up, down}, bytes: {up, down}, close()}:
 * up = client -> server, down = server -> client.
 */
export async function frameCapture(port) {
  const frames = { up: [], down: [] };
  const bytes = { up: 0, down: 0 };
  const server = net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    const parseUp = frameParser(frames.up), parseDown = frameParser(frames.down);
    down.on('data', (d) => { bytes.up += d.length; parseUp(d); up.write(d); });
    up.on('data', (d) => { bytes.down += d.length; parseDown(d); down.write(d); });
    up.on('end', () => down.end()); down.on('end', () => up.end());
    up.on('error', () => down.destroy()); down.on('error', () => up.destroy());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, frames, bytes, close: () => server.close() };
}

/** Data frames (text, binary, continuation) of a capture direction. */
export const dataFrames = (list) => list.filter((f) => f.opcode <= 2);
