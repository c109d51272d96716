/**
 * What a KademliaNode is built from: the world's seams, the bootstrap service and the
 * tunables. Kept apart from node.ts so that upkeep (maintenance.ts) can name them without
 * importing the node.
 */
import type { Clock } from '../lib/clock.ts';
import type { CryptoOps, Identity } from '../lib/crypto.ts';
import type { Random } from '../lib/random.ts';
import type { Store } from '../lib/store.ts';
import type { SignalPayload, SignalReply, Transport } from '../lib/transport.ts';

/**
 * A bootstrap service's answer to `peers`: the ids, and how many nodes it has in all (`live`,
 * its registered tabs), when it says. The count is the service's, not any peer's: a node takes
 * the network's density from it where its own channels could be skewed (NodeContext.networkSize).
 */
export interface BootstrapPeers {
  ids: string[];
  live?: number;
}

/** How a node finds its first peers: the signal server, or the simulator's stand-in for it. */
export interface Bootstrap {
  /** Up to n live nodes other than `self`, drawn at random (settled ones first). */
  peers(self: string, n: number): Promise<BootstrapPeers>;
  /** Carries a signaling batch from `from` to `to` and returns `to`'s reply. */
  exchange(from: string, to: string, payload: SignalPayload): Promise<SignalReply>;
  /** Whether a tab with this id is connected to the service now (rejects when it cannot say). */
  isTab?(id: string): Promise<boolean>;
}

export interface NodeConfig {
  replication: number;
  farChannelsPerBucket: number;
  /** Channels beyond which offers from nodes we do not need are refused. */
  maxDhtChannels: number;
  /**
   * First peers asked of the bootstrap service. The first that opens is signaled through the
   * server; the rest, and every later channel, through the overlay, so the server relays little.
   */
  bootstrapPeers: number;
}

export interface NodeOptions {
  identity: Identity;
  transport: Transport;
  clock: Clock;
  random: Random;
  ops?: CryptoOps;
  store?: Store;
  bootstrap?: Bootstrap;
  /** Connections created in this process's life before this node (a browser persists it). */
  createdBefore?: () => number;
  /**
   * Connections this node may create in its life (CONNECTION_CAP: Chromium's per-process
   * limit, less a margin). A headless node in Node.js has no such limit and passes Infinity;
   * the token buckets still pace it.
   */
  connectionCap?: number;
  config?: Partial<NodeConfig>;
}

