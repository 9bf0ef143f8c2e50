// MUST NOT compile: tests/js/types.test.js runs `tsc --strict` on this file and
// asserts that tsc reports an error on exactly the lines carrying an "error:" comment.
// Misspelled event payloads, wrong payload types, misspelled event names.
import SocketIWA, { createTCP } from 'socket-iwa';
import { UDPSocket } from 'socket-iwa/node';

async function misuse(): Promise<void> {
  const udp = await SocketIWA.createUDP({ localAddress: '127.0.0.1' });
  udp.on('message', (data, rinfo) => console.log(rinfo.adress)); // error: misspelled payload field
  udp.on('message', (data: string) => console.log(data)); // error: wrong payload type
  udp.on('mesage', () => {}); // error: misspelled event name
  const ws = await createTCP('127.0.0.1', 1, { protocol: 'websocket' });
  ws.on('close', (code: string) => console.log(code)); // error: close code is a number
  const sio = await createTCP('127.0.0.1', 1, { protocol: 'socket.io' });
  sio.on('connect_error', (err) => console.log(err.cod)); // error: misspelled error field
  sio.on('reconnect_attempt', (n: string) => console.log(n)); // error: attempt is a number
  await createTCP('127.0.0.1', 1, { protocol: 'socket.io', reconnectionAttempts: 'many' }); // error: option type
  const h3ws = await SocketIWA.createHttp3Server('127.0.0.1', { fetch: () => new Response('x') });
  h3ws.on('websocket', (conn, request) => console.log(request.pathname)); // error: misspelled request field
  const info = await new UDPSocket({ localAddress: '::1' }).opened;
  console.log(info.localAdress); // error: misspelled open-info field
  const h3e = await SocketIWA.createHttp3Server('127.0.0.1', { fetch: () => new Response('') });
  h3e.on('error', (err) => console.log(err.cod)); // error: misspelled error field
  h3e.on('eror', () => {}); // error: misspelled event name
  const qs = await SocketIWA.createQuicServer('127.0.0.1', { alpn: ['x'] });
  qs.on('connection', (conn) => console.log(conn.apln)); // error: misspelled connection field
  await SocketIWA.createQuicServer('127.0.0.1', { alpn: ['x'], sendSockets: '4' }); // error: option type
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'websocket' });
  server.on('connection', (conn) => conn.emitWithAck('x')); // error: a WebSocket connection is not a Socket.IO socket
}
void misuse;
