// Socket.IWA JavaScript API: WebSocket + Socket.IO + dgram ergonomics on the
// Direct Sockets API (Isolated Web Apps; Node.js through node/direct-sockets.js).
//
//   import SocketIWA from './api/direct_sockets_api.js';
//   const server = await SocketIWA.createTCPServer('127.0.0.1', { port: 3000, protocol: 'socket.io' });
//   server.on('connection', (socket) => socket.on('ping', (x, ack) => ack(x)));

import { createUDP, createMulticastSocket, createMulticastController, UDPConnection } from './udp.js';
import { createTCP, PROTOCOLS } from './tcp.js';
import { createTCPServer, TCPServer } from './server.js';
import { permissions, assertPermissions, FEATURES } from './permissions.js';
import { SocketIWAError } from './errors.js';
import { Emitter } from './emitter.js';
import { WebSocketConnection, CONNECTING, OPEN, CLOSING, CLOSED } from './websocket.js';
import { SocketIOClient } from './socketio_client.js';
import { ServerSocket, Namespace } from './socketio.js';
import { RawTCPConnection } from './raw.js';
import { createHttp3Server, Http3Server } from './h3_server.js';
import { WebTransportError } from './quic_streams.js';
import { createQuicServer, QuicServer } from './quic_server.js';
import { createQuic } from './quic_client.js';

/** Package version. */
export const VERSION = '0.1.0';

const SocketIWA = Object.freeze({
  VERSION,
  PROTOCOLS,
  CONNECTING, OPEN, CLOSING, CLOSED,
  createUDP,
  createTCP,
  createTCPServer,
  createHttp3Server,
  createQuicServer,
  createQuic,
  createMulticastSocket,
  createMulticastController,
  permissions,
  assertPermissions,
  FEATURES,
  SocketIWAError,
  WebTransportError,
});

export {
  createUDP, createTCP, createTCPServer, createHttp3Server, Http3Server, createQuicServer, QuicServer, createQuic, createMulticastSocket, createMulticastController,
  permissions, assertPermissions, FEATURES, PROTOCOLS, SocketIWAError, WebTransportError, Emitter,
  UDPConnection, TCPServer, WebSocketConnection, SocketIOClient, ServerSocket, Namespace, RawTCPConnection,
  CONNECTING, OPEN, CLOSING, CLOSED,
};
export default SocketIWA;
