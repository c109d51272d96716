/**
 * The seam between the DHT and whatever runs on it. A service (the chat layer's record and
 * mailbox holders, the user's chat) is handed a NodeContext: the node's view of the overlay and
 * the seams it was built with, and nothing of its internals (routing table, channels, budget,
 * upkeep). The node knows services only as NodeService hooks. ARCHITECTURE.md draws the layers.
 */
import type { Clock } from '../lib/clock.ts';
import type { CryptoOps } from '../lib/crypto.ts';
import type { NodeId } from '../lib/id.ts';
import type { Random } from '../lib/random.ts';
import type { Stats } from '../lib/stats.ts';
import type { Store } from '../lib/store.ts';
import type { ContactWire } from './contacts.ts';
import type { Peer } from './link.ts';
import type { Method, RequestBodyOf, ResponseBodyOf } from './protocol.ts';
import type { Neighbour } from './router.ts';

export type { Peer } from './link.ts';
export type { Neighbour } from './router.ts';

/** Where a request that reached this node came from. */
export interface HandlerContext {
  /** The neighbour that handed it over; null when this node sent it to itself. */
  from: Peer | null;
  routed: boolean;
  /** The routed key, for a routed request. */
  key: NodeId | null;
}

/** Handles a request that arrived here (direct, or routed and this node is the closest). */
export type Handler<M extends Method = Method> = (body: RequestBodyOf<M>, ctx: HandlerContext) => Promise<ResponseBodyOf<M>>;

export interface RouteOptions {
  /** Send it into the network even when no neighbour is closer (signals to another node). */
  leave?: boolean;
  /** Ask the network not to deliver it back here (a lookup of this node's own id). */
  avoidSelf?: boolean;
  /** Ask the network not to deliver it to this node (a mailbox store avoids its recipient). */
  avoid?: string;
  /**
   * Neighbours not to use as first hops: a path that came back with an answer that cannot be
   * right is tried again through another (chat/record-service.ts asks of one holder).
   */
  notVia?: ReadonlySet<string>;
  /**
   * Nodes no hop may forward it to (Route.v, at most MAX_ROUTE_AVOIDS): ones that answered an
   * earlier try in the target's place. Honest hops route around them.
   */
  avoidAll?: ReadonlySet<string>;
  /**
   * A node to reach first, then on toward the key (Route.w): one with a channel to the target
   * that greedy paths from here do not pass. Implies `leave`.
   */
  via?: string;
  /** How long to wait for the answer (LOOKUP_TIMEOUT_MS unless said; hops get 500 ms less). */
  timeoutMs?: number;
  /** Told why each path that brought no answer failed (the failures are counted as well). */
  failed?: (err: unknown) => void;
}

export interface LookupResult {
  nodes: string[];
  /** Replies that came back, of the paths started. */
  answered: number;
}

export interface NodeContext {
  readonly id: NodeId;
  readonly hex: string;
  readonly clock: Clock;
  /**
   * The node's upkeep clock (lib/ticker.ts): periodic and retry work goes here, on the node's
   * one timer, and stops when the node closes. Request timeouts stay on `clock`.
   */
  readonly ticker: Clock;
  readonly random: Random;
  readonly ops: CryptoOps;
  readonly store: Store;
  readonly stats: Stats;
  /** r: names and mailboxes live at the r closest nodes to their key. */
  readonly replication: number;
  readonly isClosed: boolean;
  /** Open DHT channels. */
  neighbours(): Peer[];
  /** The open channel to a node, if there is one. */
  peer(hex: string): Peer | undefined;
  /**
   * A node short of channels reaches past the ones it has: it asks the bootstrap service for
   * `n` random settled nodes and dials, through the service, those it has no channel to. True
   * when the service named `n` (the network is larger than `n` + 1 nodes) or could not answer;
   * false when it named fewer, or there is no service.
   */
  anchor(n: number): Promise<boolean>;
  /**
   * How many nodes the bootstrap service counts in the network, as it said at most
   * CENSUS_MAX_AGE_MS ago (asked again when older); null when there is no service or it does
   * not say. Liars can raise it only by holding more of the service's sockets.
   */
  networkSize(): Promise<number | null>;
  /**
   * Nodes the bootstrap service last named at random from its settled tabs (with the count
   * networkSize asks for, or any other `peers` answer): a path started through one does not
   * depend on this node's channels, which liars may have chosen. Empty without a service.
   */
  strangers(): readonly string[];
  /**
   * Whether a tab with this id is connected to the bootstrap service now; null when it cannot
   * say (none, an older one, or it is degraded). The service's word, like its count: a peer's
   * cannot say it, since liars would say it of the honest nodes they hide.
   */
  isTab(hex: string): Promise<boolean | null>;
  /**
   * Dials a node through the bootstrap service, past every channel: true when a channel to it
   * is open after (it was already, or the dial opened one). False with no service, at the
   * connection cap, or when the dial did not open.
   */
  reachViaServer(hex: string): Promise<boolean>;
  /** The r closest to key among this node and its open channels. */
  closestTo(key: NodeId, r?: number): Neighbour[];
  /** The same, as an answer names them (FIND_VALUE's `nodes`): self-certifying contacts (contacts.ts). */
  closestContacts(key: NodeId, r?: number): ContactWire[];
  /** A request to a neighbour; a neighbour that keeps missing replies is dropped. */
  direct<M extends Method>(peer: Peer, method: M, body: RequestBodyOf<M>, timeoutMs?: number): Promise<ResponseBodyOf<M>>;
  /** A request routed toward key over `paths` disjoint first hops: the replies that came back. */
  routeFromHere<M extends Method>(method: M, body: RequestBodyOf<M>, key: NodeId, paths?: number, opts?: RouteOptions): Promise<ResponseBodyOf<M>[]>;
  /** The node's signing key (raw Ed25519): with `idNonce` it makes the node's id (lib/id.ts). */
  readonly signingKey: Uint8Array;
  readonly idNonce: number;
  /**
   * Signs `data` with the node's key, for statements a service makes as this node (a holder's
   * ack). The caller puts its own domain tag first, so no statement passes for another.
   */
  sign(data: Uint8Array): Promise<Uint8Array>;
  /** Serves a method (one handler each); the DHT serves PING, FIND_NODE and SIGNAL itself. */
  handle<M extends Method>(method: M, handler: Handler<M>): void;
  /** Stops serving `method`, if `handler` is still the one serving it. */
  unhandle<M extends Method>(method: M, handler: Handler<M>): void;
}

/**
 * What a node tells the services added to it, in the order they were added. Each hook is
 * optional; `close()` must release every timer the service started.
 */
export interface NodeService {
  /** Restores what the service holds from the store; runs before the node joins. */
  load?(): Promise<void>;
  /** A channel opened. */
  onNeighbour?(peer: Peer): void;
  /** Periodic upkeep, after the node refreshed its neighbourhood. */
  recheck?(): Promise<void>;
  close?(): void;
}

/** A node services can be added to: what serveChat and the like are handed. */
export interface ServiceHost extends NodeContext {
  addService(service: NodeService): void;
}
