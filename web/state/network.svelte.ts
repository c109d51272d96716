/**
 * The Network panel's view of this tab's node, as Svelte 5 state. The engine knows nothing of
 * Svelte: src/network-controller.ts samples the node into this object (cheap reads, twice a
 * second) and the components render it.
 */
import type { SignalClientState } from '../net/signal-client.ts';

export type Phase = 'starting' | 'joining' | 'joined' | 'failed';

/** One hop of a lookup's path, in the order walked (shared/dht/lookup-trace.ts). */
export interface HopView {
  /** 0-based; one path per disjoint first hop. */
  path: number;
  /** 1: a neighbour of this node. */
  hop: number;
  hex: string;
  /** Since the lookup began: when it answered, or was given up on. */
  ms: number;
  outcome: 'answered' | 'timeout' | 'failed';
}

export interface LookupView {
  key: string;
  nodes: string[];
  /** Paths that reached the closest nodes, of `paths` started. */
  answered: number;
  paths: number;
  ms: number;
  hops: HopView[];
}

/** What the id ring draws besides the lookup (components/NetworkRing.svelte). */
export interface RingView {
  /** The live peers (open channels), sorted. */
  peers: string[];
  /** Leading bits the near subtree shares with this node; null while the table is empty. */
  nearBits: number | null;
  /** Where the signed-in user's mail and name live (empty signed out). */
  mailbox: string[];
  record: string[];
}

export class NetworkState {
  nodeId = $state<string | null>(null);
  phase = $state<Phase>('starting');
  problem = $state<string | null>(null);
  /** The browser's word on whether it has a network (navigator.onLine and its events). */
  online = $state(true);
  peers = $state(0);
  /** The routing table: contacts known and the buckets they fill. */
  contacts = $state(0);
  buckets = $state(0);
  signal = $state<SignalClientState>('connecting');
  signalDetail = $state('');
  /** URLs of the ICE servers new connections use (never credentials); empty: host candidates only. */
  iceServers = $state<string[]>([]);
  /** Why no peer could be reached, once the tab has been alone a while (reachability.ts). */
  noPeers = $state<string | null>(null);
  /** The first node of an empty network: it waits for a second tab or node (cold-start.ts). */
  waitingForOthers = $state(false);
  created = $state(0);
  twinMoves = $state(0);
  /** Replaced whole, and only when something in it changed. */
  ring = $state.raw<RingView>({ peers: [], nearBits: null, mailbox: [], record: [] });
  lookup = $state.raw<LookupView | null>(null);
  lookupBusy = $state(false);
  lookupError = $state<string | null>(null);
}
