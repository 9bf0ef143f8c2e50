// Runs in the IWA: a SocketIWA Socket.IO server that acks every 'ping'.
import SocketIWA from '/api/direct_sockets_api.js';

export async function start() {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io' });
  server.on('connection', (s) => s.on('ping', (x, ack) => ack(x)));
  globalThis.__benchServer = server;
  return server.port;
}

export async function stop() { await globalThis.__benchServer.close(); return true; }
