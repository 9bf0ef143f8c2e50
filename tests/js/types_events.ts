// Compiled (not run) by tests/js/types.test.js with `tsc --noEmit --strict`:
// per-event handler types and the `socket-iwa/node` declarations, imported
// through the package's own "exports" (self-reference), as a user would.
import SocketIWA, { createTCP, createTCPServer, type RemoteInfo, type SocketIWAError, type ServerSocket } from 'socket-iwa';
import directSockets, { install, UDPSocket, TCPSocket, TCPServerSocket, MulticastController, type UDPMessage } from 'socket-iwa/node';

async function events(): Promise<void> {
  const udp = await SocketIWA.createUDP({ localAddress: '127.0.0.1' });
  udp.on('message', (data: Uint8Array, rinfo: RemoteInfo) => { console.log(data.byteLength, rinfo.address, rinfo.port, rinfo.family); });
  udp.on('message', (data, rinfo) => { const d: ArrayBuffer | Uint8Array | Blob = data; const p: number = rinfo.port; void d; void p; });
  udp.once('error', (err: SocketIWAError) => console.log(err.code));
  udp.off('close');

  const ws = await createTCP('127.0.0.1', 8080, { protocol: 'websocket', perMessageDeflate: true });
  ws.on('message', (data, isBinary) => { if (!isBinary && typeof data === 'string') console.log(data.length); });
  ws.on('close', (code: number, reason: string, wasClean: boolean) => console.log(code, reason, wasClean));
  const ext: string = ws.extensions;
  void ext;

  const sio = await createTCP('127.0.0.1', 3000, {
    protocol: 'socket.io', reconnectionAttempts: 5, reconnectionDelay: 500, randomizationFactor: 0.2,
    transports: ['websocket', 'polling'], auth: (cb) => cb({ token: 'fresh' }),
  });
  sio.on('connect_error', (err) => console.log(err.message, err.code, err.data));
  sio.on('disconnect', (reason) => { if (reason === 'io server disconnect') console.log('kicked'); });
  sio.on('reconnect_attempt', (n: number) => console.log(n));
  sio.on('reconnect', (n) => { const k: number = n; void k; });
  sio.on('chat', (text: string, from: { id: string }) => console.log(text, from.id)); // a peer event: any payload
  const t: 'websocket' | 'polling' = sio.transportName;
  void t;
  await sio.connect();

  const server = await createTCPServer('127.0.0.1', { protocol: 'socket.io' });
  server.on('connection', (socket: ServerSocket) => { socket.on('disconnect', (reason) => console.log(reason)); });
  const wsServer = await createTCPServer('127.0.0.1', { protocol: 'websocket' });
  wsServer.on('connection', (conn, request) => { conn.send('hi'); console.log(request?.path); });
  const raw = await createTCPServer();
  raw.on('connection', (conn) => { conn.on('message', (b) => console.log(b)); });

  install(globalThis);
  const g = install({});
  const u: UDPSocket = new g.UDPSocket({ localAddress: '127.0.0.1' });
  const info = await u.opened;
  const reader = info.readable.getReader();
  const { value } = await reader.read();
  const m: UDPMessage | undefined = value;
  if (m) console.log(m.data.byteLength, m.remoteAddress, m.remotePort);
  const writer = info.writable.getWriter();
  await writer.write({ data: new Uint8Array(1), remoteAddress: '127.0.0.1', remotePort: 9 });
  const mc: MulticastController | undefined = info.multicastController;
  if (mc) { await mc.joinGroup('239.1.1.1', { sourceAddress: '10.0.0.1' }); const groups: readonly string[] = mc.joinedGroups; void groups; }
  const flag: boolean = MulticastController.supportsSourceSpecific;
  void flag;
  const tcp = new TCPSocket('127.0.0.1', 80, { noDelay: true, keepAliveDelay: 1000 });
  const ti = await tcp.opened;
  await ti.writable.getWriter().write(new Uint8Array(4));
  const srv = new directSockets.TCPServerSocket('127.0.0.1', { localPort: 0, backlog: 8 });
  const si = await srv.opened;
  const accepted = await si.readable.getReader().read();
  if (accepted.value) { const a: TCPSocket = accepted.value; await a.close(); }
  await new TCPServerSocket('::1').close();
}
void events;

// createHttp3Server's typed 'webtransport' sessions (docs/JS_SERVERS.md).
async function webtransportSessions(): Promise<void> {
  const server = await SocketIWA.createHttp3Server('127.0.0.1', { port: 0, fetch: () => new Response('x') });
  server.on('webtransport', async (session) => {
    const u: string = session.url; const port: number = session.remotePort; void u; void port;
    await session.ready;
    session.closed.then(({ closeCode, reason }) => console.log(closeCode + 1, reason.length));
    const incoming = session.incomingBidirectionalStreams.getReader();
    const next = await incoming.read();
    if (!next.done) await next.value.readable.pipeTo(next.value.writable);
    const w = (await session.createUnidirectionalStream()).getWriter();
    await w.write(new Uint8Array(1));
    await w.abort(new SocketIWA.WebTransportError('ERR_APP', 'x', { streamErrorCode: 1 }));
    const max: number = session.datagrams.maxDatagramSize; void max;
    session.close({ closeCode: 1, reason: 'bye' });
  });
  server.on('error', (e) => console.log(e.code));
}
void webtransportSessions;
