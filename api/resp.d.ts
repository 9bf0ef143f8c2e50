// Types for api/resp.js (the RESP2 Redis client over Direct Sockets TCP).
import { Emitter, SocketIWAError } from './direct_sockets_api.js';

export declare class RedisReplyError extends SocketIWAError { reply: string; }
export declare class RedisProtocolError extends SocketIWAError {}

export declare class RespParser {
  constructor(onReply: (reply: any) => void, opts?: { maxBulkBytes?: number });
  maxBulkBytes: number;
  push(chunk: Uint8Array): void;
}

export declare function encodeCommand(args: Array<string | number | Uint8Array | ArrayBufferView | ArrayBuffer>): Uint8Array;

export interface RedisClientOptions {
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  db?: number;
  connectTimeoutMs?: number;
  reconnect?: false | { minDelayMs?: number; maxDelayMs?: number };
  maxBulkBytes?: number;
}

/** Events of a RedisClient. */
export interface RedisClientEvents {
  ready(): void;
  reconnecting(info: { attempt: number; delayMs: number }): void;
  /** A lost connection (SocketIWAError, code ECONNRESET or the socket's), a protocol error, or what a subscriber's listener threw. */
  error(err: Error): void;
  end(): void;
}

/** Events: ready, reconnecting ({attempt, delayMs}), error, end. */
export declare class RedisClient extends Emitter<RedisClientEvents> {
  constructor(opts?: RedisClientOptions);
  readonly options: RedisClientOptions;
  readonly isReady: boolean;
  duplicate(overrides?: RedisClientOptions): RedisClient;
  connect(): Promise<this>;
  command(...args: Array<string | number | Uint8Array>): Promise<any>;
  publish(channel: string, message: string | Uint8Array): Promise<number>;
  numsub(channel: string): Promise<number>;
  subscribe(channel: string, listener: (message: Uint8Array, channel: string) => void): Promise<void>;
  psubscribe(pattern: string, listener: (message: Uint8Array, channel: string) => void): Promise<void>;
  unsubscribe(channel: string, listener?: Function): Promise<void>;
  punsubscribe(pattern: string, listener?: Function): Promise<void>;
  quit(): Promise<void>;
  close(): Promise<void>;
}

export declare function createRedisClient(opts?: RedisClientOptions): Promise<RedisClient>;
