// Native peers shared by the Node and IWA suites (node:net / node:dgram).
import dgram from 'node:dgram';
import net from 'node:net';

/** The probe's byte pattern (src/main.rs `pattern`). */
export function probePattern(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = ((i * 31) ^ (i >> 8)) & 0xff;
  return b;
}

/** A TCP server that sends `bytes` of the probe pattern to each client. */
export async function patternServer(bytes, host = '127.0.0.1') {
  const server = net.createServer((s) => { s.on('error', () => {}); s.end(probePattern(bytes)); });
  await new Promise((r) => server.listen(0, host, r));
  return { port: server.address().port, close: () => new Promise((r) => server.close(r)) };
}

/**
 * A UDP echo peer answering "re:<msg>". With `noise`, a second socket first
 * sends "noise" to the sender, which a connect()ed probe must not see.
 */
export async function udpReplyPeer({ noise = false, echoRaw = false } = {}) {
  const sock = dgram.createSocket('udp4');
  const noiseSock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  await new Promise((r) => noiseSock.bind(0, '127.0.0.1', r));
  sock.on('message', (m, rinfo) => {
    if (noise) noiseSock.send('noise', rinfo.port, rinfo.address);
    setTimeout(() => sock.send(echoRaw ? m : Buffer.concat([Buffer.from('re:'), m]), rinfo.port, rinfo.address), noise ? 20 : 0);
  });
  return { port: sock.address().port, close: () => { sock.close(); noiseSock.close(); } };
}
