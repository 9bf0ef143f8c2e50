// Types for api/adapter_redis.js (Socket.IO Redis adapter, @socket.io/redis-adapter 8.x wire format).
import type { Namespace, SocketIOAdapter } from './direct_sockets_api.js';
import type { RedisClient } from './resp.js';

export declare const RequestType: Readonly<Record<'SOCKETS' | 'ALL_ROOMS' | 'REMOTE_JOIN' | 'REMOTE_LEAVE' | 'REMOTE_DISCONNECT' | 'REMOTE_FETCH' | 'SERVER_SIDE_EMIT' | 'BROADCAST' | 'BROADCAST_CLIENT_COUNT' | 'BROADCAST_ACK', number>>;

export interface Parser { encode(value: any): Uint8Array; decode(bytes: Uint8Array): any; }
export declare function msgpackParser(mod: { encode: Function; decode: Function }): Parser;

export interface RedisAdapterOptions {
  key?: string;
  requestsTimeout?: number;
  publishOnSpecificResponseChannel?: boolean;
  parser?: Parser;
  onError?: (err: Error & { code: string }) => void;
}

/** Every SocketIOAdapter method (declared once, in direct_sockets_api.d.ts), plus the Redis ones below. */
export interface RedisAdapter extends SocketIOAdapter {}
export declare class RedisAdapter implements SocketIOAdapter {
  constructor(nsp: Namespace, pubClient: RedisClient, subClient: RedisClient, opts?: RedisAdapterOptions);
  readonly uid: string;
  readonly ready: Promise<void>;
  serverCount(): Promise<number>;
  allRooms(): Promise<Set<string>>;
  close(): void;
}

export declare function createAdapter(pubClient: RedisClient, subClient: RedisClient, opts?: RedisAdapterOptions): (nsp: Namespace) => RedisAdapter;
