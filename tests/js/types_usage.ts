// Compiled (not run) by tests/js/types.test.js with `tsc --noEmit --strict`:
// the README's usage must type-check against api/direct_sockets_api.d.ts, and
// misuse must not (see the @ts-expect-error lines).
import SocketIWA, { createTCP, SocketIWAError, type UDPConnection, type RemoteInfo } from '../../api/direct_sockets_api.js';

async function readme(): Promise<void> {
  const udp: UDPConnection = await SocketIWA.createMulticastSocket({ localAddress: '0.0.0.0', localPort: 5000, multicastTimeToLive: 8 });
  udp.on('message', (data: ArrayBuffer, rinfo: RemoteInfo) => { console.log('datagram', rinfo.address, rinfo.port, data); });
  await udp.addMembership('239.10.10.10');
  await udp.send('hello lan', 5000, '239.10.10.10');
  await udp.send(new Uint8Array(8), 2, 4, 5000, '239.10.10.10');
  await udp.multicast.join('239.1.1.1', { sourceAddress: '10.0.0.1' });
  const groups: readonly string[] = udp.multicast.joinedGroups;
  void groups;

  const server = await SocketIWA.createTCPServer('127.0.0.1', { port: 3000, protocol: 'socket.io', cors: { origin: '*' } });
  server.on('connection', (socket) => { socket.join('lobby'); });
  server.to('lobby').emit('chat', { text: 'hi' });
  server.of('/admin').use((socket, next) => next(socket.handshake.auth ? undefined : new Error('no')));

  const sio = await createTCP('127.0.0.1', 3000, { protocol: 'socket.io', namespace: '/admin', auth: { token: 't' } });
  const reply: unknown = await sio.emitWithAck('question', { n: 1 }, { timeoutMs: 2000 });
  void reply;
  sio.timeout(100).emit('x', 1, (err: Error | null) => { void err; });

  const ws = await createTCP('127.0.0.1', 8080, { protocol: 'websocket', path: '/chat' });
  ws.binaryType = 'arraybuffer';
  const ok: boolean = ws.send(new Uint8Array(4));
  void ok;
  ws.close(1000, 'bye');

  const raw = await createTCP('127.0.0.1', 7);
  raw.send('bytes');

  const report = await SocketIWA.assertPermissions({ multicast: true });
  const where: 'browser' | 'node' = report.runtime;
  void where;
  try { await createTCP('127.0.0.1', 1); } catch (e) { if (e instanceof SocketIWAError) console.log(e.code); }

  // @ts-expect-error binaryType is a closed set
  ws.binaryType = 'text';
  // @ts-expect-error protocol is a closed set
  await createTCP('127.0.0.1', 1, { protocol: 'smtp' });
  // @ts-expect-error port must be a number
  await createTCP('127.0.0.1', '80');
}
void readme;

// createQuicServer + createQuic (docs/JS_SERVERS.md "QUIC clients"): 0-RTT with a saved session.
async function quic(): Promise<void> {
  const qs = await SocketIWA.createQuicServer('127.0.0.1', { alpn: ['myproto'] });
  qs.on('connection', (conn) => {
    const alpn: string = conn.alpn;
    void alpn;
    void conn.incomingBidirectionalStreams.pipeTo(new WritableStream({ write: ({ readable, writable }) => readable.pipeTo(writable) }));
  });
  const first = await SocketIWA.createQuic('127.0.0.1', qs.port, { alpn: ['myproto'], serverCertificateHashes: qs.certificateHashes });
  await first.ready;
  const saved = first.session;
  first.close({ closeCode: 0, reason: 'bye' });
  const again = await SocketIWA.createQuic('127.0.0.1', qs.port, { alpn: ['myproto'], serverCertificateHashes: qs.certificateHashes, session: saved });
  const early: 'none' | 'pending' | 'accepted' | 'rejected' = again.earlyData;
  void early;
  const { writable } = await again.createBidirectionalStream();
  await writable.getWriter().write(new TextEncoder().encode('hi'));
  const info = await again.closed;
  const code: number = info.closeCode;
  void code;
  // @ts-expect-error alpn is required
  await SocketIWA.createQuic('127.0.0.1', 1, { serverCertificateHashes: qs.certificateHashes });
  // @ts-expect-error earlyData is read-only
  again.earlyData = 'none';
  await qs.close();
}
void quic;
