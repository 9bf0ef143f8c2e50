// Type declarations for node/direct-sockets.js (`socket-iwa/node`): the Direct
// Sockets API (https://wicg.github.io/direct-sockets/) implemented on Node's
// net/dgram, as a browser exposes it to an Isolated Web App. Checked against
// the implementation by tests/js/types.test.js.

export type DnsQueryType = 'ipv4' | 'ipv6';

export interface UDPSocketOptions {
  /** Connected mode (with remotePort). */
  remoteAddress?: string;
  remotePort?: number;
  /** Bound mode: an IP literal; datagrams then carry their own destination. */
  localAddress?: string;
  localPort?: number;
  sendBufferSize?: number;
  receiveBufferSize?: number;
  dnsQueryType?: DnsQueryType;
  ipv6Only?: boolean;
  multicastAllowAddressSharing?: boolean;
  multicastTimeToLive?: number;
  multicastLoopback?: boolean;
}

/** One datagram: `data`, plus the peer in bound mode. */
export interface UDPMessage {
  data: Uint8Array;
  remoteAddress?: string;
  remotePort?: number;
}

/** What a UDPSocket writes: bytes (an ArrayBuffer or a view) and, in bound mode, the destination. */
export interface UDPMessageInit {
  data: ArrayBuffer | ArrayBufferView;
  remoteAddress?: string;
  remotePort?: number;
}

export interface UDPSocketOpenInfo {
  readable: ReadableStream<UDPMessage>;
  writable: WritableStream<UDPMessageInit>;
  localAddress: string;
  localPort: number;
  remoteAddress?: string;
  remotePort?: number;
  /** Bound mode: multicast group membership. */
  multicastController?: MulticastController;
}

export declare class UDPSocket {
  constructor(options: UDPSocketOptions);
  readonly opened: Promise<UDPSocketOpenInfo>;
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

export interface TCPSocketOptions {
  noDelay?: boolean;
  /** At least 1000 ms; enables keep-alive. */
  keepAliveDelay?: number;
  sendBufferSize?: number;
  receiveBufferSize?: number;
  dnsQueryType?: DnsQueryType;
}

export interface TCPSocketOpenInfo {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<ArrayBuffer | ArrayBufferView>;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
}

export declare class TCPSocket {
  constructor(remoteAddress: string, remotePort: number, options?: TCPSocketOptions);
  readonly opened: Promise<TCPSocketOpenInfo>;
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

export interface TCPServerSocketOptions {
  localPort?: number;
  backlog?: number;
  ipv6Only?: boolean;
}

export interface TCPServerSocketOpenInfo {
  /** Accepted connections, each a TCPSocket already connected. */
  readable: ReadableStream<TCPSocket>;
  localAddress: string;
  localPort: number;
}

export declare class TCPServerSocket {
  constructor(localAddress: string, options?: TCPServerSocketOptions);
  readonly opened: Promise<TCPServerSocketOpenInfo>;
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

export interface MulticastMembershipOptions {
  /** Source-specific multicast (this implementation honours it; see supportsSourceSpecific). */
  sourceAddress?: string;
  interfaceAddress?: string;
}

/** Reached through `(await udp.opened).multicastController`; not constructible. */
export declare class MulticastController {
  private constructor();
  /** Non-standard: true here (Node honours sourceAddress). */
  static readonly supportsSourceSpecific: boolean;
  /** Joined groups (source-specific ones as "source@group"). */
  readonly joinedGroups: readonly string[];
  joinGroup(ipAddress: string, options?: MulticastMembershipOptions): Promise<undefined>;
  leaveGroup(ipAddress: string, options?: MulticastMembershipOptions): Promise<undefined>;
}

export interface DirectSocketsGlobals {
  UDPSocket: typeof UDPSocket;
  TCPSocket: typeof TCPSocket;
  TCPServerSocket: typeof TCPServerSocket;
  MulticastController: typeof MulticastController;
}

/** Define the four constructors on `target` (default globalThis) where missing (or always, with force). */
export declare function install<T extends object = typeof globalThis>(target?: T, options?: { force?: boolean }): T & DirectSocketsGlobals;

/** Non-standard: how this process's UDP sockets sent, summed over all of them: GSO runs (one sendmsg each), the
 *  datagrams in them, the runs read in place from the sender's memory (the wasm heap), and datagrams sent one at a
 *  time through node:dgram (emscripten/run-node.mjs prints it with SOCKET_IWA_NODE_UDP_STATS=1). */
export declare function udpSendTotals(): { gsoRuns: number; gsoDatagrams: number; inPlaceRuns: number; singleDatagrams: number };

declare const directSockets: DirectSocketsGlobals & { install: typeof install };
export default directSockets;
