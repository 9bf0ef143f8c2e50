// Compiled (not run) by scripts/test.d/55-npm-pack.sh inside the fresh project
// with `tsc --noEmit --strict`: the declarations come from the installed
// tarball (node_modules/socket-iwa), so this checks what a user gets.
// Every documented event handler is typed; a wrong signature does not compile
// (the @ts-expect-error lines: tsc fails on an unused one).
import SocketIWA, { type RemoteInfo, type ServerSocket, type SocketIWAError } from 'socket-iwa';
import { install, UDPSocket } from 'socket-iwa/node';
import { createRedisClient } from 'socket-iwa/resp';

export async function consumer(): Promise<void> {
  install(globalThis);
  const tcp = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'raw' });
  tcp.on('connection', (conn) => { conn.on('message', (data) => console.log(data)); conn.on('close', (hadError: boolean) => console.log(hadError)); });
  tcp.on('error', (err: SocketIWAError) => console.log(err.code));
  // @ts-expect-error a raw TCP connection's 'close' says whether it had an error (boolean)
  tcp.on('connection', (conn) => conn.on('close', (code: string) => console.log(code)));

  const udp = await SocketIWA.createUDP({ localAddress: '127.0.0.1' });
  udp.on('message', (data, rinfo: RemoteInfo) => console.log(data, rinfo.address, rinfo.port));
  // @ts-expect-error a UDP 'message' handler's second parameter is a RemoteInfo
  udp.on('message', (data, rinfo: number) => console.log(data, rinfo));

  const io = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io' });
  io.on('connection', (socket: ServerSocket) => {
    socket.on('disconnect', (reason) => { if (reason === 'transport close') console.log(socket.id); });
    socket.on('chat', (text: string) => socket.emit('chat', text));  // a peer event: the user types it
  });
  // @ts-expect-error a Socket.IO server's 'connection' hands over a ServerSocket
  io.on('connection', (socket: number) => console.log(socket));

  const client = await SocketIWA.createTCP('127.0.0.1', io.port, { protocol: 'socket.io' });
  client.on('connect_error', (err) => console.log(err.code, err.data));
  client.on('reconnect_attempt', (attempt) => console.log(attempt + 1));
  // @ts-expect-error 'disconnect' hands over a reason string
  client.on('disconnect', (reason: number) => console.log(reason));

  const h3 = await SocketIWA.createHttp3Server('127.0.0.1', { fetch: (request) => new Response(request.url) });
  h3.on('error', (err) => console.log(err.code, err.message));
  // @ts-expect-error an HTTP/3 server's 'error' carries a SocketIWAError
  h3.on('error', (err: string) => console.log(err));
  const pin: Uint8Array = h3.certificateHashes[0].value;
  void pin;

  const redis = await createRedisClient({ port: 6379 });
  redis.on('reconnecting', ({ attempt, delayMs }) => console.log(attempt, delayMs));

  const info = await new UDPSocket({ localAddress: '127.0.0.1' }).opened;
  const port: number = info.localPort;
  void port;
}
