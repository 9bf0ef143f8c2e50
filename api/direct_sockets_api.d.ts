// Type declarations for api/direct_sockets_api.js (checked against the
// implementation by tests/js/types.test.js).

export type BinaryType = 'arraybuffer' | 'uint8array' | 'blob';
export type Protocol = 'raw' | 'websocket' | 'socket.io';
export type BinaryData = ArrayBuffer | ArrayBufferView;
export type Listener = (...args: any[]) => void;
/** Events of an untyped Emitter: any name, any arguments. */
export type EventMap = Record<string, Listener>;
/** A received binary payload, as `binaryType` says ('arraybuffer' | 'uint8array' | 'blob'). */
export type BinaryMessage = ArrayBuffer | Uint8Array | Blob;

/** Error raised by Socket.IWA; `code` is stable (EACCES, ECONNREFUSED, ETIMEDOUT, ERR_*). */
export declare class SocketIWAError extends Error {
  constructor(code: string, message: string, extra?: { cause?: unknown; closeCode?: number });
  code: string;
  /** WebSocket close code for protocol errors. */
  closeCode?: number;
  /** permissions-policy feature missing (assertPermissions). */
  feature?: string;
  /** Manifest field that grants the missing feature (assertPermissions). */
  manifestField?: string;
}

/**
 * on / off / once / emit event bus. `Events` maps each event name to its
 * listener's signature, so handlers are typed per event (subclasses below).
 */
export declare class Emitter<Events extends object = EventMap> {
  on<K extends keyof Events & string>(event: K, fn: Events[K]): this;
  addListener<K extends keyof Events & string>(event: K, fn: Events[K]): this;
  once<K extends keyof Events & string>(event: K, fn: Events[K]): this;
  off<K extends keyof Events & string>(event: K, fn?: Events[K]): this;
  removeListener<K extends keyof Events & string>(event: K, fn?: Events[K]): this;
  removeAllListeners(event?: keyof Events & string): this;
  listenerCount(event: keyof Events & string): number;
  /** A copy of the listeners of `event`, once() wrappers included. */
  rawListeners<K extends keyof Events & string>(event: K): Function[];
  /** A copy of the listeners of `event`. */
  listeners<K extends keyof Events & string>(event: K): Events[K][];
  /** Dispatch to local listeners only. */
  emitLocal(event: string, ...args: any[]): boolean;
  emit(event: string, ...args: any[]): any;
}

export declare const CONNECTING: 0;
export declare const OPEN: 1;
export declare const CLOSING: 2;
export declare const CLOSED: 3;
export declare const VERSION: string;
export declare const PROTOCOLS: readonly Protocol[];

export interface UDPOptions {
  localAddress?: string;
  localPort?: number;
  remoteAddress?: string;
  remotePort?: number;
  /** 'udp6' binds '::' when no localAddress is given. */
  type?: 'udp4' | 'udp6';
  ipv6?: boolean;
  ipv6Only?: boolean;
  allowAddressSharing?: boolean;
  reuseAddr?: boolean;
  multicastAllowAddressSharing?: boolean;
  multicastTimeToLive?: number;
  ttl?: number;
  multicastLoopback?: boolean;
  loopback?: boolean;
  sendBufferSize?: number;
  receiveBufferSize?: number;
  dnsQueryType?: 'ipv4' | 'ipv6';
  binaryType?: BinaryType;
}

export interface RemoteInfo { address: string; port: number; family: 'IPv4' | 'IPv6'; size: number; }

export interface MulticastHelper {
  join(group: string, options?: { sourceAddress?: string }): Promise<void>;
  leave(group: string, options?: { sourceAddress?: string }): Promise<void>;
  joinSourceSpecific(source: string, group: string): Promise<void>;
  leaveSourceSpecific(source: string, group: string): Promise<void>;
  readonly joinedGroups: readonly string[];
  /** Whether source-specific joins work here (feature-detected; Chromium needs SourceSpecificMulticastInDirectSockets). */
  readonly supportsSourceSpecific: boolean;
}

/** Events of a UDPConnection. */
export interface UDPEvents {
  /** A datagram; `data` follows binaryType. */
  message(data: BinaryMessage, rinfo: RemoteInfo): void;
  error(err: SocketIWAError): void;
  close(): void;
  drain(): void;
}

/** UDP socket with dgram-style helpers. Events: message (data, rinfo), error, close, drain. */
export declare class UDPConnection extends Emitter<UDPEvents> {
  private constructor();
  readonly multicast: MulticastHelper;
  readonly mode: 'connected' | 'bound';
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly readyState: number;
  binaryType: BinaryType;
  readonly bufferedAmount: number;
  address(): { address: string; port: number; family: 'IPv4' | 'IPv6' };
  send(data: string | BinaryData | Blob | Array<string | BinaryData | Blob>, callback?: (err: Error | null) => void): Promise<void>;
  send(data: string | BinaryData | Blob | Array<string | BinaryData | Blob>, port: number, address?: string, callback?: (err: Error | null) => void): Promise<void>;
  send(data: string | BinaryData | Blob, offset: number, length: number, port?: number, address?: string, callback?: (err: Error | null) => void): Promise<void>;
  addMembership(group: string, iface?: string): Promise<void>;
  dropMembership(group: string, iface?: string): Promise<void>;
  addSourceSpecificMembership(source: string, group: string, iface?: string): Promise<void>;
  dropSourceSpecificMembership(source: string, group: string, iface?: string): Promise<void>;
  setMulticastTTL(ttl: number): Promise<void>;
  setMulticastLoopback(flag: boolean): Promise<void>;
  close(): Promise<void>;
}

/** Events of a RawTCPConnection. */
export interface RawTCPEvents {
  open(): void;
  connect(): void;
  /** Bytes as they arrived; follows binaryType. */
  message(data: BinaryMessage): void;
  end(): void;
  drain(): void;
  error(err: SocketIWAError): void;
  close(hadError: boolean): void;
  disconnect(reason: 'transport error' | 'transport close'): void;
}

/** Raw TCP connection. Events: open, connect, message (data), end, drain, error, close. */
export declare class RawTCPConnection extends Emitter<RawTCPEvents> {
  private constructor();
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  localAddress: string | undefined;
  localPort: number | undefined;
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: BinaryType;
  /** Server-side connections only: room helpers. */
  id?: string;
  join?(...rooms: string[]): this;
  leave?(room: string): this;
  send(data: string | BinaryData): boolean;
  write(data: string | BinaryData): boolean;
  close(): Promise<void>;
  destroy(): void;
}

/** Events of a WebSocketConnection. */
export interface WebSocketEvents {
  open(): void;
  connect(): void;
  /** Text arrives as a string (isBinary false); binary follows binaryType. */
  message(data: string | BinaryMessage, isBinary: boolean): void;
  ping(data: Uint8Array): void;
  pong(data: Uint8Array): void;
  drain(): void;
  error(err: SocketIWAError): void;
  close(code: number, reason: string, wasClean: boolean): void;
  disconnect(reason: string, code: number): void;
}

/** WebSocket (RFC 6455) connection. Events: open, connect, message (data, isBinary), ping, pong, drain, error, close (code, reason, wasClean). */
export declare class WebSocketConnection extends Emitter<WebSocketEvents> {
  private constructor();
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: BinaryType;
  localAddress?: string;
  localPort?: number;
  /** 'websocket' or 'socket.io' (the mode this connection serves). */
  protocol?: Protocol;
  /** Client side: headers of the server's 101 response. */
  responseHeaders?: Record<string, string>;
  /** Negotiated extensions, e.g. 'permessage-deflate; server_no_context_takeover', or ''. */
  readonly extensions: string;
  wasClean?: boolean;
  /** Server side: the upgrade request (over HTTP/3 also its `url`). */
  request?: { path: string; query: Record<string, string>; headers: Record<string, string>; url?: string };
  id?: string;
  join?(...rooms: string[]): this;
  leave?(room: string): this;
  feed(bytes: Uint8Array): void;
  send(data: string | BinaryData, options?: { fragmentSize?: number; binary?: boolean }): boolean;
  ping(data?: string | BinaryData): void;
  pong(data?: string | BinaryData): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
}

/** Socket.IO client-side disconnect reasons. */
export type ClientDisconnectReason = 'io server disconnect' | 'io client disconnect' | 'transport close' | 'transport error' | 'ping timeout' | 'parse error';
/** Socket.IO server-side disconnect reasons. */
export type ServerDisconnectReason = 'client namespace disconnect' | 'server namespace disconnect' | 'transport close' | 'transport error' | 'ping timeout' | 'parse error' | 'server shutting down' | 'forced close';
/** connect_error: the server's refusal message; `data` is what its middleware attached. */
export type ConnectError = SocketIWAError & { data?: unknown };

/** Events of a SocketIOClient: the lifecycle ones are typed, any other name is a peer's event. */
export interface SocketIOClientEvents {
  connect(): void;
  open(): void;
  connect_error(err: ConnectError): void;
  disconnect(reason: ClientDisconnectReason): void;
  /** Given up for good: after disconnect(), a final reason, or reconnect_failed ('reconnect failed'). */
  close(reason: ClientDisconnectReason | 'reconnect failed'): void;
  error(err: SocketIWAError): void;
  drain(): void;
  ping(): void;
  reconnect_attempt(attempt: number): void;
  reconnect(attempts: number): void;
  reconnect_error(err: SocketIWAError): void;
  reconnect_failed(): void;
  [event: string]: (...args: any[]) => void;
}

/** Events of a ServerSocket: lifecycle typed, any other name is a peer's event. */
export interface ServerSocketEvents {
  disconnecting(reason: ServerDisconnectReason): void;
  disconnect(reason: ServerDisconnectReason): void;
  close(reason: ServerDisconnectReason): void;
  [event: string]: (...args: any[]) => void;
}

interface SocketIOEndpoint extends Emitter<any> {
  id: string | undefined;
  connected: boolean;
  ackTimeoutMs: number;
  readonly nsp: string;
  /** Send a named event; a trailing function receives the acknowledgement. */
  emit(event: string, ...args: any[]): this;
  /** Send and await the acknowledgement; trailing `{ timeoutMs }` option; rejects with code ETIMEDOUT. */
  emitWithAck(event: string, ...args: any[]): Promise<any>;
  timeout(ms: number): this;
  send(...args: any[]): this;
}

/** Socket.IO client socket for one namespace. Events: connect, connect_error, disconnect (reason), error, close, drain, ping, and named events. */
export declare class SocketIOClient extends Emitter<SocketIOClientEvents> implements SocketIOEndpoint {
  private constructor();
  id: string | undefined;
  connected: boolean;
  ackTimeoutMs: number;
  readonly nsp: string;
  auth: object | ((cb: (data: object) => void) => void | Promise<object>) | undefined;
  ready: Promise<SocketIOClient>;
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  localAddress: string | undefined;
  localPort: number | undefined;
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: BinaryType;
  /** The current transport: a WebSocketConnection, or the HTTP long-polling fallback. */
  readonly transport: WebSocketConnection | Emitter;
  readonly transportName: 'websocket' | 'polling';
  readonly pingInterval: number;
  readonly pingTimeout: number;
  /** Whether a reconnection is under way. */
  readonly reconnecting: boolean;
  /** Packets emitted while disconnected, sent on the next connect. */
  readonly sendBuffer: number;
  engineId?: string;
  emit(event: string, ...args: any[]): this;
  emitWithAck(event: string, ...args: any[]): Promise<any>;
  timeout(ms: number): this;
  send(...args: any[]): this;
  disconnect(): this;
  close(): this;
  /** Connect again after disconnect() or reconnect_failed (stock socket.connect()). */
  connect(): Promise<this>;
  open(): Promise<this>;
}

export interface BroadcastOperator {
  to(room: string | string[]): BroadcastOperator;
  in(room: string | string[]): BroadcastOperator;
  except(room: string | string[]): BroadcastOperator;
  emit(event: string, ...args: any[]): boolean;
  send(data: string | BinaryData): number;
  members(): any[];
  /** Socket.IO: only this server's sockets. */
  readonly local: BroadcastOperator;
  readonly volatile: BroadcastOperator;
  /** Socket.IO: acknowledgement timeout (ms) for emit(..., cb) / emitWithAck. */
  timeout(ms: number): BroadcastOperator;
  /** Socket.IO: one acknowledgement per selected client (every server); rejects ETIMEDOUT with err.responses. */
  emitWithAck(event: string, ...args: any[]): Promise<any[]>;
  compress(on: boolean): BroadcastOperator;
  /** Socket.IO: the selected sockets on every server (RemoteSocket for other servers'). */
  fetchSockets(): Promise<Array<ServerSocket | RemoteSocket>>;
  socketsJoin(room: string | string[]): void;
  socketsLeave(room: string | string[]): void;
  disconnectSockets(close?: boolean): void;
}

/** A socket on another server of a Socket.IO cluster (from fetchSockets()). */
export interface RemoteSocket {
  id: string;
  handshake: Record<string, any>;
  rooms: Set<string>;
  data: any;
  emit(event: string, ...args: any[]): boolean;
  join(room: string | string[]): void;
  leave(room: string | string[]): void;
  disconnect(close?: boolean): this;
}

/** Socket.IO adapter (api/rooms.js Adapter; api/adapter_redis.js for a Redis cluster). */
export interface SocketIOAdapter {
  addAll(id: string, rooms: Iterable<string>): void;
  del(id: string, room: string): void;
  delAll(id: string): void;
  socketRooms(id: string): Set<string>;
  broadcast(packet: { type: number; data: any[]; nsp?: string }, opts: { rooms: Set<string>; except: Set<string>; flags: Record<string, any> }): void;
  fetchSockets(opts: { rooms: Set<string>; except: Set<string>; flags?: Record<string, any> }): Promise<any[]>;
  addSockets(opts: object, rooms: string[]): void;
  delSockets(opts: object, rooms: string[]): void;
  disconnectSockets(opts: object, close: boolean): void;
  serverSideEmit(args: any[]): void;
  serverCount?(): Promise<number>;
  init?(): void;
  close?(): void;
}

/** Server-side Socket.IO socket. Events: disconnecting, disconnect (reason), close, and named events. */
export declare class ServerSocket extends Emitter<ServerSocketEvents> implements SocketIOEndpoint {
  private constructor();
  id: string;
  connected: boolean;
  ackTimeoutMs: number;
  readonly nsp: string;
  namespace: Namespace;
  /** The Engine.IO session carrying this socket. */
  conn: { id: string; ws: WebSocketConnection; close(reason: string): void };
  handshake: { auth: object; query: Record<string, string>; headers: Record<string, string>; address: string; port: number; time: string };
  data: Record<string, any>;
  readonly rooms: Set<string>;
  readonly readyState: number;
  readonly bufferedAmount: number;
  readonly broadcast: BroadcastOperator;
  emit(event: string, ...args: any[]): this;
  emitWithAck(event: string, ...args: any[]): Promise<any>;
  timeout(ms: number): this;
  send(...args: any[]): this;
  join(...rooms: string[]): this;
  leave(room: string): this;
  to(room: string | string[]): BroadcastOperator;
  in(room: string | string[]): BroadcastOperator;
  disconnect(close?: boolean): this;
  close(): this;
}

/** Events of a Namespace. */
export interface NamespaceEvents {
  connection(socket: ServerSocket): void;
  connect(socket: ServerSocket): void;
  error(err: SocketIWAError): void;
  close(): void;
}

/** Socket.IO namespace. Events: connection (socket). */
export declare class Namespace extends Emitter<NamespaceEvents> {
  private constructor();
  name: string;
  server: any;
  registry: any;
  sockets: Map<string, ServerSocket>;
  adapter: SocketIOAdapter;
  /** Where serverSideEmit from other servers is dispatched (the TCPServer for "/"). */
  serverSideTarget?: Emitter;
  use(fn: (socket: ServerSocket, next: (err?: Error) => void) => void): this;
  to(room: string | string[]): BroadcastOperator;
  in(room: string | string[]): BroadcastOperator;
  except(room: string | string[]): BroadcastOperator;
  emit(event: string, ...args: any[]): any;
  readonly local: BroadcastOperator;
  timeout(ms: number): BroadcastOperator;
  fetchSockets(): Promise<Array<ServerSocket | RemoteSocket>>;
  socketsJoin(room: string | string[]): void;
  socketsLeave(room: string | string[]): void;
  disconnectSockets(close?: boolean): void;
  serverSideEmit(event: string, ...args: any[]): boolean;
  serverSideEmitWithAck(event: string, ...args: any[]): Promise<any[]>;
}

/** What a server's 'connection' hands over, per protocol. */
export type ServerConnection<P extends Protocol = Protocol> = P extends 'socket.io' ? ServerSocket : P extends 'websocket' ? WebSocketConnection : RawTCPConnection;
/** A WebSocket upgrade request as the server saw it. */
export interface UpgradeRequest { path: string; query: Record<string, string>; headers: Record<string, string> }

/** Events of a TCPServer in mode P. */
export interface TCPServerEvents<P extends Protocol = Protocol> {
  connection(conn: ServerConnection<P>, request?: UpgradeRequest): void;
  connect(conn: ServerConnection<P>, request?: UpgradeRequest): void;
  error(err: SocketIWAError): void;
  clientError(err: SocketIWAError, conn?: WebSocketConnection): void;
  close(): void;
  listening(): void;
}

/** Listening server. Events: connection (conn), error, clientError, close. */
export declare class TCPServer<P extends Protocol = Protocol> extends Emitter<TCPServerEvents<P>> {
  private constructor();
  readonly protocol: P;
  readonly address: string;
  readonly port: number;
  readonly readyState: number;
  readonly clients: Set<ServerConnection<P>>;
  /** Upper bound on open connections (option maxConnections). */
  readonly maxConnections: number;
  /** Connections open at the TCP level, handshaking ones included. */
  readonly connectionCount: number;
  of(name: string): Namespace;
  to(room: string | string[]): BroadcastOperator;
  in(room: string | string[]): BroadcastOperator;
  except(room: string | string[]): BroadcastOperator;
  emit(event: string, ...args: any[]): any;
  broadcast(data: string | BinaryData): number;
  /** Socket.IO cluster helpers for namespace "/" (see Namespace). */
  readonly local: BroadcastOperator;
  timeout(ms: number): BroadcastOperator;
  fetchSockets(): Promise<Array<ServerSocket | RemoteSocket>>;
  socketsJoin(room: string | string[]): void;
  socketsLeave(room: string | string[]): void;
  disconnectSockets(close?: boolean): void;
  serverSideEmit(event: string, ...args: any[]): boolean;
  serverSideEmitWithAck(event: string, ...args: any[]): Promise<any[]>;
  close(): Promise<void>;
}

export interface TCPOptions {
  protocol?: Protocol;
  /** WebSocket path (default '/'), Socket.IO path (default '/socket.io/'). */
  path?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  namespace?: string;
  /** Socket.IO auth payload, or a function called on every (re)connection attempt: (cb) => cb(payload). */
  auth?: object | ((cb: (data: object) => void) => void | Promise<object>);
  /** Socket.IO transports to try, in order (default ['websocket', 'polling']: polling when the upgrade fails). */
  transports?: Array<'websocket' | 'polling'>;
  /** Socket.IO: reconnect automatically after a lost connection (default true). */
  reconnection?: boolean;
  /** Socket.IO: attempts before reconnect_failed (default Infinity). */
  reconnectionAttempts?: number;
  /** Socket.IO: first delay (ms, default 1000), doubled per attempt. */
  reconnectionDelay?: number;
  /** Socket.IO: largest delay (ms, default 5000). */
  reconnectionDelayMax?: number;
  /** Socket.IO: jitter 0..1 (default 0.5). */
  randomizationFactor?: number;
  /** Socket.IO: packets emit() may buffer while disconnected (default 10000); beyond: ERR_SOCKETIO_BUFFER_FULL. */
  sendBufferLimit?: number;
  ackTimeoutMs?: number;
  connectTimeoutMs?: number;
  closeTimeoutMs?: number;
  binaryType?: BinaryType;
  maxPayload?: number;
  /** Offer permessage-deflate (RFC 7692) in the WebSocket handshake (default true). */
  perMessageDeflate?: boolean;
  fragmentSize?: number;
  highWaterMark?: number;
  noDelay?: boolean;
  keepAliveDelay?: number;
  sendBufferSize?: number;
  receiveBufferSize?: number;
  dnsQueryType?: 'ipv4' | 'ipv6';
}

export interface TCPServerOptions {
  port?: number;
  protocol?: Protocol;
  path?: string;
  backlog?: number;
  ipv6Only?: boolean;
  pingInterval?: number;
  pingTimeout?: number;
  maxPayload?: number;
  ackTimeoutMs?: number;
  closeTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  /** Limits (docs/JS_LIMITS.md); 0 disables one. */
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  messageTimeoutMs?: number;
  maxConnections?: number;
  maxBufferedAmount?: number;
  maxServerBufferedAmount?: number;
  /** Socket.IO: largest message on any transport (default 1e6, like socket.io). */
  maxHttpBufferSize?: number;
  maxNestingDepth?: number;
  /** Socket.IO: a session must join a namespace within this time (default 45000, like socket.io). */
  connectTimeoutMs?: number;
  /** Socket.IO long-polling CORS: allowed origins ('*', true, one or a list) and credentials. */
  cors?: { origin: '*' | true | string | string[]; credentials?: boolean };
  /** Socket.IO adapter factory, e.g. createAdapter(pub, sub) from api/adapter_redis.js (default: in memory). */
  adapter?: (namespace: Namespace) => SocketIOAdapter;
  binaryType?: BinaryType;
  /** Accept a client's permessage-deflate (RFC 7692) offer (default true). */
  perMessageDeflate?: boolean;
  fragmentSize?: number;
  highWaterMark?: number;
}

export declare function createUDP(options?: UDPOptions): Promise<UDPConnection>;
export declare function createMulticastSocket(options?: UDPOptions): Promise<UDPConnection>;
export declare function createMulticastController(target?: UDPConnection | UDPOptions | object): Promise<{ controller: MulticastHelper | any; socket: any }>;
export declare function createTCP(host: string, port: number, options?: TCPOptions & { protocol?: 'raw' }): Promise<RawTCPConnection>;
export declare function createTCP(host: string, port: number, options: TCPOptions & { protocol: 'websocket' }): Promise<WebSocketConnection>;
export declare function createTCP(host: string, port: number, options: TCPOptions & { protocol: 'socket.io' }): Promise<SocketIOClient>;
export declare function createTCPServer<P extends Protocol = 'raw'>(host?: string, options?: TCPServerOptions & { protocol?: P }): Promise<TCPServer<P>>;

/** Options of createHttp3Server (docs/JS_SERVERS.md). */
export interface Http3ServerOptions {
  /** UDP port; 0 (default) = ephemeral, `server.port` tells which. */
  port?: number;
  /** Answers each request (the runtime's own Request / Response classes). */
  fetch(request: Request): Response | Promise<Response>;
  /** PEM certificate chain and private key, used as given and never stored; default: an ECDSA P-256
   *  certificate valid 13 days, generated once, kept in `storage`, renewed a day before it expires. */
  certificate?: { cert: string; key: string };
  /** Where the generated certificate, the session-ticket key and the 0-RTT anti-replay register are kept
   *  (docs/JS_SERVERS.md): default OPFS `socket-iwa/` in a browser, `~/.socket-iwa/` under Node; a directory
   *  path (Node; inside OPFS in a browser); `false` = memory only (new certificate and ticket key each start). */
  storage?: false | string;
  /** For tests: renew the generated certificate this many milliseconds before it expires (default one day). */
  renewBefore?: number;
  /** Directory (URL or path relative to this module) holding socket-iwa-server.js and its .wasm; default: found next to api/. */
  wasmDir?: string | URL;
  /** WebSockets over HTTP/3 (`on('websocket')`, docs/JS_SERVERS.md). */
  websocket?: Http3WebSocketOptions;
  /** In a browser: send through this many UDPSockets sharing the server's port (1-8, default 1), that many
   *  datagrams in flight instead of Chromium's one. Turns address sharing on for the port (other apps of the
   *  browser profile could bind it too). Under Node no extra socket is opened (sends there do not queue one at a
   *  time), but the port still gets address sharing (SO_REUSEADDR). docs/JS_SERVERS.md. */
  sendSockets?: number;
}

/** Options of the WebSockets an Http3Server accepts (RFC 9220). */
export interface Http3WebSocketOptions {
  /** Largest message accepted, bytes (default 16 MiB); a larger one closes with 1009. */
  maxPayload?: number;
  /** Negotiate permessage-deflate when the client offers it (default true). */
  perMessageDeflate?: boolean;
  /** How binary messages are delivered (default 'arraybuffer'). */
  binaryType?: BinaryType;
  /** Outgoing bytes at which send() returns false and the peer's frames stop being read (default 1 MiB). */
  highWaterMark?: number;
  /** Outgoing bytes past which the WebSocket is reset with an ENOBUFS error (default 64 MiB). */
  maxBufferedAmount?: number;
}

/** The Extended CONNECT request of a WebSocket over HTTP/3 (also `ws.request`). */
export interface Http3WebSocketRequest {
  /** The :path without its query. */
  path: string;
  query: Record<string, string>;
  /** Request header fields, lower-case names (pseudo-headers left out). */
  headers: Record<string, string>;
  /** 'https://' + :authority + :path. */
  url: string;
}

export interface Http3ServerEvents {
  /** A handler or listener that threw (ERR_HANDLER_THREW), returned a non-Response (ERR_HTTP_INVALID_RESPONSE), or a failed body (ERR_HTTP_BODY). */
  error(err: SocketIWAError): void;
  /** A WebSocket over HTTP/3 (RFC 9220): the connection object createTCPServer({ protocol: 'websocket' }) gives. No listener: 501. */
  websocket(ws: WebSocketConnection, request: Http3WebSocketRequest): void;
  /** The certificate was renewed: new handshakes present it; these are the new `certificateHashes`. */
  certificate(hashes: { algorithm: 'sha-256'; value: Uint8Array }[]): void;
  close(): void;
  /** Extended CONNECT with :protocol = webtransport, any path (without a listener: 404). A throwing listener closes the session (code 0x102). */
  webtransport(session: WebTransportSession): void | Promise<void>;
}

/** An error of a WebTransport session or stream (W3C WebTransportError-like), always with `code`. */
export declare class WebTransportError extends SocketIWAError {
  constructor(code: string, message: string, extra?: { source?: 'stream' | 'session'; streamErrorCode?: number | null; cause?: unknown });
  readonly source: 'stream' | 'session';
  /** The application code of a RESET_STREAM / STOP_SENDING, null when none. WebTransport sessions: 0..2^32-1
   *  (null for an HTTP/3 code outside the WebTransport range). QUIC connections (createQuicServer, createQuic):
   *  the 62-bit QUIC code, exact to 2^53-1 (larger ones the nearest number). As an abort/cancel reason it is sent
   *  when an integer within that range (0..2^32-1, or 0..2^53-1 on a QUIC connection), else 0 is sent. */
  readonly streamErrorCode: number | null;
}

export interface WebTransportCloseInfo {
  closeCode: number;
  reason: string;
}

export interface WebTransportBidiStream {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array | ArrayBufferView | ArrayBuffer>;
}

/** The datagram duplex of a session (bounded queues; docs/JS_SERVERS.md). */
export interface WebTransportDatagrams {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array | ArrayBufferView | ArrayBuffer>;
  /** Largest payload the peer accepts; larger writes are dropped (droppedOutgoing). */
  readonly maxDatagramSize: number;
  /** Incoming datagrams dropped (oldest first) because the reader fell 128 behind. */
  readonly droppedIncoming: number;
  readonly droppedOutgoing: number;
}

/** What WebTransport sessions and raw QUIC connections share: the W3C WebTransport object's streams and datagrams. */
export interface StreamSession {
  /** The peer's address on the connection's current path: it changes when the peer migrates or its NAT rebinds. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly ready: Promise<void>;
  /** Resolves with the close code and reason (either side's); rejects (code ECONNRESET) when the connection is lost. */
  readonly closed: Promise<WebTransportCloseInfo>;
  readonly datagrams: WebTransportDatagrams;
  readonly incomingBidirectionalStreams: ReadableStream<WebTransportBidiStream>;
  readonly incomingUnidirectionalStreams: ReadableStream<ReadableStream<Uint8Array>>;
  /** Waits while the peer's stream limit is reached (until its MAX_STREAMS); rejects only when the session or connection closes first. */
  createBidirectionalStream(): Promise<WebTransportBidiStream>;
  createUnidirectionalStream(): Promise<WritableStream<Uint8Array | ArrayBufferView | ArrayBuffer>>;
}

/** A WebTransport session a client opened on an Http3Server: the W3C WebTransport surface. */
export interface WebTransportSession extends StreamSession {
  /** 'https://host:port/path?query' */
  readonly url: string;
  /** CLOSE_WEBTRANSPORT_SESSION(closeCode, reason); pending reads and writes reject (ERR_WT_SESSION_CLOSED). */
  close(info?: Partial<WebTransportCloseInfo>): void;
}

/** An HTTP/3 server backed by the wasm stack, answering with `options.fetch`. */
export declare class Http3Server extends Emitter<Http3ServerEvents> {
  private constructor();
  readonly port: number;
  readonly address: string;
  /** For `new WebTransport(url, { serverCertificateHashes })`; replaced on renewal ('certificate' event). */
  readonly certificateHashes: { algorithm: 'sha-256'; value: Uint8Array }[];
  /** GOAWAY on every connection, then close; resolves once stopped. */
  close(): Promise<void>;
}

export declare function createHttp3Server(host: string, options: Http3ServerOptions): Promise<Http3Server>;

/** Options of createQuicServer (docs/JS_SERVERS.md, "Raw QUIC servers"). */
export interface QuicServerOptions {
  /** UDP port; 0 (default) = ephemeral, `server.port` tells which. */
  port?: number;
  /** ALPN protocols offered, preference order: 1-255 bytes each, no ',' and no duplicates. A client offering none is refused (TLS alert 120). */
  alpn: string[];
  /** As Http3ServerOptions.certificate. */
  certificate?: { cert: string; key: string };
  /** As Http3ServerOptions.storage. */
  storage?: false | string;
  /** For tests: as Http3ServerOptions.renewBefore. */
  renewBefore?: number;
  /** As Http3ServerOptions.wasmDir. */
  wasmDir?: string | URL;
  /** As Http3ServerOptions.sendSockets. */
  sendSockets?: number;
}

export interface QuicServerEvents {
  /** A client connected with one of the listed ALPNs. A throwing listener closes the connection (application error 1, 'internal error'). */
  connection(conn: QuicConnection): void | Promise<void>;
  /** A 'connection' listener threw (ERR_HANDLER_THREW), or the server's loop died (ERR_SERVER_CRASHED). */
  error(err: SocketIWAError): void;
  /** The certificate was renewed: these are the new `certificateHashes`. */
  certificate(hashes: { algorithm: 'sha-256'; value: Uint8Array }[]): void;
  close(): void;
}

/** One raw QUIC connection (no HTTP/3): a WebTransport session's surface on the whole connection, plus `alpn`.
 *  Stream errors are WebTransportErrors with codes ERR_QUIC_STREAM_RESET / ERR_QUIC_STREAM_STOPPED /
 *  ERR_QUIC_CONNECTION_CLOSED / ECONNRESET (and, for a client's 0-RTT streams, ERR_QUIC_EARLY_DATA_REJECTED);
 *  `streamErrorCode` is the QUIC application code as sent. `closed` resolves with the CONNECTION_CLOSE's code
 *  and reason (either side's; 0 'server closing' on server.close()) and rejects (ECONNRESET) when lost otherwise. */
export interface QuicConnection extends StreamSession {
  /** The negotiated ALPN protocol. */
  readonly alpn: string;
  /** The negotiated TLS cipher suite by its IANA name (e.g. 'TLS_CHACHA20_POLY1305_SHA256');
   *  null until the handshake completed. Which side's order decides: docs/TLS.md "Cipher suites". */
  readonly cipherSuite: string | null;
  /** CONNECTION_CLOSE with application error `closeCode` (0..2^53-1) and `reason` (cut to 1024 bytes). */
  close(info?: Partial<WebTransportCloseInfo>): void;
}

/** A raw QUIC server backed by the wasm stack (`createQuicServer`). */
export declare class QuicServer extends Emitter<QuicServerEvents> {
  private constructor();
  readonly port: number;
  readonly address: string;
  /** The ALPN protocols offered. */
  readonly alpn: string[];
  readonly certificateHashes: { algorithm: 'sha-256'; value: Uint8Array }[];
  /** Closes every connection (CONNECTION_CLOSE, NO_ERROR); resolves once stopped. */
  close(): Promise<void>;
}

export declare function createQuicServer(host: string, options: QuicServerOptions): Promise<QuicServer>;

/** Resumption state of a QUIC client connection (`conn.session`): JSON-serialisable; pass it as `session` next time for 0-RTT. */
export interface QuicResumption {
  version: number;
  /** The ALPN of the connection that got the ticket: 0-RTT only when it is offered again. */
  alpn: string;
  /** wolfSSL session with its ticket (hex DER). */
  tls_session: string;
  /** The server's transport parameters 0-RTT must remember (hex). */
  transport_params: string;
  /** How the server was authenticated ('pin:…', 'ca:…', 'insecure'): resumed only under a verification that is not 'insecure' (or by an insecure client). */
  verification: string;
  /** A NEW_TOKEN address-validation token (hex), when the server sent one. */
  token?: string;
}

/** Options of createQuic (docs/JS_SERVERS.md, "QUIC clients"). Verification: one of serverCertificateHashes, ca,
 *  rejectUnauthorized: false; none = the system's roots under Node (a page must give one). */
export interface QuicClientOptions {
  /** ALPN protocols offered, preference order (as QuicServerOptions.alpn). */
  alpn: string[];
  /** Accept exactly a certificate with one of these SHA-256 hashes (as `new WebTransport(url, { serverCertificateHashes })`). */
  serverCertificateHashes?: { algorithm: 'sha-256'; value: ArrayBuffer | ArrayBufferView }[];
  /** PEM root certificates to verify the chain against (and the name: serverName). */
  ca?: string | string[];
  /** false: do not verify the server at all (unsafe; the wasm program warns on stderr). */
  rejectUnauthorized?: boolean;
  /** TLS server name (SNI) and the name the certificate must carry; default: `host`. */
  serverName?: string;
  /** `conn.session` of an earlier connection (or its JSON text): resumes, with 0-RTT when the ticket allows. */
  session?: QuicResumption | string | null;
  /** As Http3ServerOptions.wasmDir (here the folder of socket-iwa-client.js / socket_iwa_client.wasm). */
  wasmDir?: string | URL;
}

/** A QUIC connection this end opened (createQuic). */
export interface QuicClientConnection extends QuicConnection {
  /** 'pending' while 0-RTT is in flight (until `ready`); then 'accepted' or 'rejected' (0-RTT streams fail with
   *  ERR_QUIC_EARLY_DATA_REJECTED). 'none' without 0-RTT. */
  readonly earlyData: 'none' | 'pending' | 'accepted' | 'rejected';
  /** The newest resumption state the server sent; null until its ticket arrives. */
  readonly session: QuicResumption | null;
  /** Moves the connection to a new local UDP socket (new port, new connection ID; RFC 9000 section 9), after the
   *  handshake is confirmed; bound on `localAddress` (an IP address of this host, of the peer's family) or else on
   *  the current local address. Rejects with ERR_QUIC_MIGRATION_FAILED or ERR_QUIC_CONNECTION_CLOSED; a
   *  localAddress that is not an IP address throws ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE. */
  migrate(options?: { localAddress?: string }): Promise<{ localAddress: string; localPort: number }>;
}

/** Opens a QUIC connection. Resolves once streams can be opened: after the handshake, or at once with 0-RTT.
 *  Rejects with ERR_TLS_CERT_INVALID, ERR_QUIC_HANDSHAKE_FAILED or ETIMEDOUT; bad arguments throw TypeErrors with codes. */
export declare function createQuic(host: string, port: number, options: QuicClientOptions): Promise<QuicClientConnection>;

export interface PermissionsReport {
  runtime: 'browser' | 'node';
  isolatedContext: boolean;
  directSockets: boolean;
  tcp: boolean;
  tcpServer: boolean;
  udp: boolean;
  multicast: boolean;
  policy: { directSockets: boolean | null; multicast: boolean | null; localNetwork: boolean | null; crossOriginIsolated: boolean | null };
  localNetwork?: 'granted' | 'prompt' | 'denied' | 'unknown';
}

export interface Permissions {
  readonly directSockets: boolean;
  readonly tcp: boolean;
  readonly tcpServer: boolean;
  readonly udp: boolean;
  readonly multicast: boolean;
  readonly isolatedContext: boolean;
  readonly policy: PermissionsReport['policy'];
  query(): Promise<PermissionsReport>;
  allowsFeature(policyName: string): boolean | null;
}

export declare const permissions: Permissions;
export declare function assertPermissions(need?: { tcp?: boolean; udp?: boolean; tcpServer?: boolean; multicast?: boolean; localNetwork?: boolean }): Promise<PermissionsReport>;
export declare const FEATURES: Readonly<Record<'directSockets' | 'multicast' | 'localNetwork' | 'crossOriginIsolated', { policy: string; grants: string }>>;

export interface SocketIWANamespace {
  readonly VERSION: string;
  readonly PROTOCOLS: readonly Protocol[];
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSING: 2;
  readonly CLOSED: 3;
  createUDP: typeof createUDP;
  createTCP: typeof createTCP;
  createTCPServer: typeof createTCPServer;
  createHttp3Server: typeof createHttp3Server;
  createQuicServer: typeof createQuicServer;
  createQuic: typeof createQuic;
  createMulticastSocket: typeof createMulticastSocket;
  createMulticastController: typeof createMulticastController;
  permissions: Permissions;
  assertPermissions: typeof assertPermissions;
  FEATURES: typeof FEATURES;
  SocketIWAError: typeof SocketIWAError;
  WebTransportError: typeof WebTransportError;
}

declare const SocketIWA: SocketIWANamespace;
export default SocketIWA;
