/**
 * Minimal ambient types for the untyped `bittorrent-dht` package (v11), covering
 * only what bench/reference-bittorrent-dht.ts uses. Underscored members are
 * internals of bittorrent-dht / k-rpc / k-rpc-socket / k-bucket (read from their source).
 */
declare module 'bittorrent-dht' {
  import { EventEmitter } from 'node:events';
  import type { Socket } from 'node:dgram';

  export interface DhtContact {
    id: Buffer;
    host: string;
    port: number;
    token?: Buffer | null;
  }

  export interface KrpcMessage {
    q: string;
    a: Record<string, unknown>;
  }

  export interface KrpcReply {
    r?: { id?: Buffer; nodes?: Buffer; token?: Buffer; [key: string]: unknown };
    [key: string]: unknown;
  }

  /** k-bucket's KBucket (used for routing tables and per-lookup result tables). */
  export interface KBucket {
    closest(id: Uint8Array, n?: number): DhtContact[];
    count(): number;
    toArray(): DhtContact[];
  }

  /** k-rpc-socket's RPC: one UDP socket plus request bookkeeping. */
  export interface KrpcSocket extends EventEmitter {
    inflight: number;
    timeout: number;
    socket: Socket;
  }

  /** k-rpc's RPC: routing table + iterative `_closest` lookup. */
  export interface Krpc extends EventEmitter {
    id: Buffer;
    k: number;
    concurrency: number;
    nodes: KBucket;
    socket: KrpcSocket;
    pending: unknown[];
    populate(target: Buffer, message: KrpcMessage, cb: (err: Error | null, n?: number) => void): void;
    closest(
      target: Buffer,
      message: KrpcMessage,
      visit: ((reply: KrpcReply, peer: { address?: string; host?: string; port: number }) => boolean | void) | null,
      cb: (err: Error | null, n?: number) => void,
    ): void;
  }

  export interface DhtOptions {
    nodeId?: Buffer | string;
    bootstrap?: false | string[] | Array<{ host: string; port: number }>;
    /** k-rpc: max queries in flight per node (Kademlia alpha); default 16. */
    concurrency?: number;
    /** k-rpc: bucket size / lookup width; default 20. */
    k?: number;
    /** k-rpc-socket: use this UDP socket instead of creating one. */
    socket?: Socket;
    /** k-rpc-socket: per-query timeout in ms; default 2000. */
    timeout?: number;
  }

  export default class DHT extends EventEmitter {
    constructor(opts?: DhtOptions);
    nodeId: Buffer;
    nodes: KBucket;
    listening: boolean;
    destroyed: boolean;
    _rpc: Krpc;
    /** Result tables of finished lookups, keyed by target hex (responders that gave a token). */
    _tables: { get(hex: string): KBucket | undefined };
    addNode(node: { id?: Buffer | string; host: string; port: number }): void;
    listen(port?: number, address?: string, onlistening?: () => void): void;
    address(): { address: string; family: string; port: number };
    lookup(infoHash: Buffer | string, cb?: (err: Error | null, n?: number) => void): () => void;
    _closest(
      target: Buffer,
      message: KrpcMessage,
      onmessage: ((reply: KrpcReply, peer: { address?: string; host?: string; port: number }) => boolean | void) | null,
      cb: (err: Error | null, n?: number) => void,
    ): void;
    destroy(cb?: () => void): void;
  }
}
