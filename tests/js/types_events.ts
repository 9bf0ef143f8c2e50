// Compiled (not run) by tests/js/types.test.js with `tsc --noEmit --strict`:
// per-event handler types and the `socket-iwa/node` declarations, imported
// through the package's own "exports" (self-reference), as a user would.
import SocketIWA, { createTCP, createTCPServer, type RemoteInfo, type SocketIWAError, type ServerSocket } from 'socket-iwa';
import { createRedisClient } from 'socket-iwa/resp';
import { createAdapter, type RedisAdapter } from 'socket-iwa/redis';
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
  // A wrong handler signature does not compile (tsc reports an unused @ts-expect-error otherwise):
  // @ts-expect-error the 'connection' of a Socket.IO server hands over a ServerSocket, not a string
  server.on('connection', (socket: string) => console.log(socket));
  // @ts-expect-error a UDP 'message' handler's second parameter is a RemoteInfo
  udp.on('message', (data, rinfo: string) => console.log(rinfo));

  const h3 = await SocketIWA.createHttp3Server('127.0.0.1', { fetch: (req) => new Response(req.url) });
  h3.on('error', (err) => { const code: string = err.code; console.log(code, err.message); });
  h3.once('close', () => console.log('closed'));
  // @ts-expect-error an HTTP/3 server's 'error' carries a SocketIWAError, not a number
  h3.on('error', (err: number) => console.log(err));
  const hash: Uint8Array = h3.certificateHashes[0].value;
  void hash;

  const redis = await createRedisClient({ host: '127.0.0.1', port: 6379 });
  redis.on('reconnecting', ({ attempt, delayMs }) => console.log(attempt + delayMs));
  redis.on('error', (err) => console.log(err.message));
  // The Redis adapter has every SocketIOAdapter method (declared once) and its own.
  const adapter: RedisAdapter = createAdapter(redis, redis.duplicate())(server.of('/'));
  adapter.addAll('id', ['room']);
  const rooms: Set<string> = adapter.socketRooms('id');
  const servers: number = await adapter.serverCount();
  void rooms; void servers;
  // @ts-expect-error 'reconnecting' hands over { attempt, delayMs }
  redis.on('reconnecting', (info: { attempts: string }) => console.log(info.attempts));
  const h3ws = await SocketIWA.createHttp3Server('127.0.0.1', { fetch: () => new Response('x'), websocket: { maxPayload: 1 << 20, perMessageDeflate: false } });
  h3ws.on('websocket', (conn, request) => { conn.on('message', (data, isBinary) => conn.send(isBinary ? 'bin' : String(data))); console.log(request.url, request.query.room, conn.request?.path); });

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

async function h3Storage(): Promise<void> {
  const h3 = await SocketIWA.createHttp3Server('127.0.0.1', { storage: '/var/lib/app/socket-iwa', renewBefore: 3_600_000, fetch: () => new Response('ok') });
  h3.on('certificate', (hashes) => { const v: Uint8Array = hashes[0].value; const a: 'sha-256' = hashes[0].algorithm; void v; void a; });
  await SocketIWA.createHttp3Server('127.0.0.1', { storage: false, fetch: () => new Response('ok') });
}
void h3Storage;
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
// createQuicServer's typed 'connection' (docs/JS_SERVERS.md, "Raw QUIC servers").
async function quicConnections(): Promise<void> {
  const qs = await SocketIWA.createQuicServer('127.0.0.1', { port: 0, alpn: ['myproto'], storage: false, sendSockets: 4 });
  const offered: string[] = qs.alpn; void offered;
  qs.on('connection', async (conn) => {
    const alpn: string = conn.alpn; void alpn;
    conn.closed.then(({ closeCode, reason }) => console.log(closeCode + 1, reason.length));
    const s = await conn.createBidirectionalStream();
    await s.readable.pipeTo(s.writable);
    conn.close({ closeCode: 7, reason: 'bye' });
  });
  qs.on('error', (e) => console.log(e.code));
  await qs.close();
}
void quicConnections;
