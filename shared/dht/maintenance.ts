/**
 * Upkeep of a node's channels: join through the bootstrap service, keep a channel to every node
 * of the near subtree and to one node per far bucket, repair when a neighbour leaves, refresh
 * every REFRESH_INTERVAL_MS. Connections are the scarce resource (Chromium's lifetime cap), so
 * nothing here dials a node it does not need, and far channels prefer long-lived peers.
 */
import type { ConnectionBudget } from './budget.ts';
import type { Channels, Peer } from './channels.ts';
import type { Clock, TimerHandle } from '../lib/clock.ts';
import { MIN_PEERS_TO_STAY, NEAR_CHECK_INTERVAL_MS, NEAR_CHECK_MAX_INTERVAL_MS, NEAR_ONLY_CONNECTIONS_LEFT, REFRESH_INTERVAL_MS, REPAIR_DELAY_MS } from './constants.ts';
import { errorCode, ErrorCode, isPeerchatError } from '../lib/errors.ts';
import { compareDistance, ID_BITS, ID_BYTES, randomIdInBucket, type NodeId } from '../lib/id.ts';
import { LazyMap } from '../lib/lazy-map.ts';
import type { Random } from '../lib/random.ts';
import type { Stats } from '../lib/stats.ts';
import type { ContactWire } from './contacts.ts';
import type { LookupResult, RouteOptions } from './context.ts';
import { planDials } from './dial-plan.ts';
import type { Method, RequestBodyOf, ResponseBodyOf } from './protocol.ts';
import type { Bootstrap, BootstrapPeers, NodeConfig } from './options.ts';
import type { Neighbour } from './router.ts';
import type { RoutingTable } from './routing-table.ts';
import type { SignalPath } from '../lib/transport.ts';

/** Nearest neighbours asked directly for their view of this node's neighbourhood at refresh. */
const NEAR_SOURCES = 3;
/**
 * A peer whose dial failed is not dialed again for this long. A node short of channels (fewer
 * than MIN_PEERS_TO_STAY) waits only as long as a BUSY peer said, at least SHORT_RETRY_MS: a
 * tab that reloads finds its peers still counting its last page's offers (budget.ts
 * OfferLimits), and they tell it when they will take the next.
 */
export const DIAL_BACKOFF_MS = 10 * 60_000;
/**
 * A peer ICE could not reach (dial-failed ICE_FAILED) waits this long before the next dial,
 * doubling with each further ICE failure up to DIAL_BACKOFF_MS, with ±25% jitter, and starts
 * over once a dial to it succeeds. Such a peer may become reachable soon after a change at
 * either end (a network switch, new ICE servers or credentials), so the first retries come
 * sooner than after other failures; one that keeps failing costs a connection per 10 minutes.
 */
export const ICE_BACKOFF_MS = 30_000;
const MAX_BACKOFF_ENTRIES = 256;
/** Candidates tried in turn for one empty far bucket (a busy peer answers BUSY). */
const FAR_DIAL_TRIES = 3;
const SHORT_RETRY_MS = 2_000;
const SHORT_RETRY_MAX_MS = 60_000;
/** At most one anchoring (Maintenance.anchor) per this long; a call within it dials nothing. */
export const ANCHOR_INTERVAL_MS = 30_000;
/**
 * How long the bootstrap service's count of nodes (networkSize) is used before it is asked
 * again. A network changes size over hours (a community's tabs close at night), and a count
 * from before it shrank gives a radius too narrow for a name's holders.
 */
export const CENSUS_MAX_AGE_MS = 10 * 60_000;
/**
 * How long networkSize waits for the service's answer before it goes on with what it knew: a
 * name lookup waits for it, and must not wait out a signal server that is down.
 */
export const CENSUS_WAIT_MS = 2_000;
/**
 * Random nodes a census ask (networkSize) asks the service for: besides its count, they are the
 * strangers a name lookup starts paths from (NodeContext.strangers).
 */
export const CENSUS_PEERS = 3;

/**
 * What upkeep uses of its node. It reads the routing table and decides; the node alone
 * changes the table (Kademlia's bucket-full rule included).
 */
export interface UpkeepHost {
  readonly id: NodeId;
  readonly hex: string;
  readonly config: NodeConfig;
  readonly clock: Clock;
  /** Where upkeep's timers go: the node's one timer (lib/ticker.ts). */
  readonly ticker: Clock;
  readonly random: Random;
  readonly stats: Stats;
  readonly bootstrap: Bootstrap | undefined;
  readonly table: Pick<RoutingTable, 'nearBoundary' | 'connectedIn' | 'bucket' | 'wanted' | 'size'>;
  readonly channels: Pick<Channels, 'peers' | 'connecting' | 'dial'>;
  readonly budget: Pick<ConnectionBudget, 'canCreate' | 'retryAfterMs' | 'left'>;
  neighbours(): Peer[];
  closestTo(key: NodeId, r?: number): Neighbour[];
  /** Verified ids of an answer's contacts; `answeredBy` a neighbour asked directly (node.ts). */
  contactIds(contacts: readonly ContactWire[], answeredBy?: Peer): string[];
  estimatedSize(): number;
  direct<M extends Method>(peer: Peer, method: M, body: RequestBodyOf<M>): Promise<ResponseBodyOf<M>>;
  routeFromHere<M extends Method>(method: M, body: RequestBodyOf<M>, key: NodeId, paths?: number, opts?: RouteOptions): Promise<ResponseBodyOf<M>[]>;
  lookup(key: NodeId, paths?: number): Promise<LookupResult>;
  overlayPath(targetHex: string): SignalPath;
  /** The services' share of the periodic upkeep. */
  recheckServices(): Promise<void>;
}

export class Maintenance {
  private refreshTimer: TimerHandle | null = null;
  private repairTimer: TimerHandle | null = null;
  private nearTimer: TimerHandle | null = null;
  /** When the pending near check fires, and the wait before the one after it. */
  private nearDue = 0;
  private nearInterval = NEAR_CHECK_INTERVAL_MS;
  /** A hash of the r nearest channels as of the last look, to notice when they change. */
  private nearKey = 0;
  private shortTimer: TimerHandle | null = null;
  private shortRetries = 0;
  /** Far buckets with a dial in progress (a handful at most: an array costs less than a Set). */
  private readonly farDials: number[] = [];
  /** Peers whose dial failed recently, and until when not to dial them again. */
  private readonly backoff = new LazyMap<string, number>();
  /** Of those, the ones ICE could not reach, with how many times in a row it failed. */
  private readonly iceFailures = new LazyMap<string, number>();
  /** The connection cap was reached: upkeep dials nothing more (said once in stats). */
  private stoppedAtCap = false;
  private closed = false;
  /** When the last anchoring asked the bootstrap service, and what it answered. */
  private anchored: { at: number; larger: Promise<boolean> } | null = null;
  /** The bootstrap service's last count of nodes and when it was heard (networkSize). */
  private census: { at: number; live: number | null } | null = null;
  private censusAsk: Promise<number | null> | null = null;
  /** The ids the service's last `peers` answer named (strangers). */
  private lastNamed: readonly string[] = [];

  constructor(private readonly node: UpkeepHost) {}

  /** Joins: first peers, then the neighbourhood, with `remembered` neighbours dialed too. */
  async join(remembered: string[] = []): Promise<void> {
    await this.topUp();
    await this.refresh(remembered);
    this.scheduleRefresh();
    this.scheduleNearCheck();
    this.scheduleShortRetry();
  }

  /**
   * A node short of channels (fewer than MIN_PEERS_TO_STAY: the first of a network, or its
   * first peers were busy) looks again, backing off 2 s, 4 s, ... up to a minute: through the
   * bootstrap service while it has none, and in its neighbourhood, where a BUSY peer whose
   * retry time has passed is dialed again (noteFailure).
   */
  private scheduleShortRetry(): void {
    if (!this.short()) {
      this.shortRetries = 0;
      return;
    }
    if (this.closed || this.shortTimer || !this.node.bootstrap) return;
    const delay = Math.min(SHORT_RETRY_MAX_MS, SHORT_RETRY_MS * 2 ** this.shortRetries++) * (0.75 + 0.5 * this.node.random.float());
    this.shortTimer = this.node.ticker.setTimeout(() => {
      this.shortTimer = null;
      void this.topUp()
        .then(() => this.refresh())
        .finally(() => this.scheduleShortRetry());
    }, delay);
  }

  private short(): boolean {
    return this.node.neighbours().length < MIN_PEERS_TO_STAY;
  }

  /**
   * With no channel at all (joining, the first tab of a network, or every neighbour gone) the
   * overlay cannot be reached from here: ask the bootstrap service for first peers again.
   */
  private async topUp(): Promise<void> {
    const { node } = this;
    const boot = node.bootstrap;
    if (!boot || this.closed || node.neighbours().length > 0 || this.atCap()) return;
    let peers: string[];
    try {
      peers = this.heard(await boot.peers(node.hex, node.config.bootstrapPeers));
    } catch (err) {
      node.stats.count(`bootstrap-failed-${errorCode(err)}`);
      return;
    }
    // Through the server one at a time until a channel opens; the others are reached through
    // that channel (routed SIGNAL), so the server relays one connection per join, not three.
    // A peer ICE could not reach just now waits out its backoff: another signaling path would
    // not help. Other failures (no route, busy) say nothing of a dial through the server.
    const now = node.clock.now();
    const queue = peers.filter((hex) => this.worthDialingViaServer(hex, now));
    while (queue.length > 0 && node.neighbours().length === 0 && !this.closed) {
      await this.dialViaServer(queue.shift()!);
    }
    await Promise.allSettled(queue.map(async (hex) => (await this.dial(hex)) || this.dialViaServer(hex)));
  }

  /**
   * NodeContext.anchor: asks the bootstrap service for `n` random settled nodes and dials,
   * through it, those this node has no channel to. Unlike the overlay's dials, these do not pass
   * through the channels it has, which may all be liars' (record-service.ts untilJudgeable).
   * Once per ANCHOR_INTERVAL_MS; a call within it gets the last answer and dials nothing.
   */
  anchor(n: number): Promise<boolean> {
    const { node } = this;
    const boot = node.bootstrap;
    if (!boot || this.closed) return Promise.resolve(false);
    const now = node.clock.now();
    if (this.anchored && now - this.anchored.at < ANCHOR_INTERVAL_MS) return this.anchored.larger;
    const larger = boot.peers(node.hex, n).then(
      (answer) => {
        const peers = this.heard(answer);
        if (peers.length < n) return false;
        const now = node.clock.now();
        const fresh = peers.filter((hex) => this.worthDialingViaServer(hex, now));
        if (fresh.length > 0 && !this.closed && !this.atCap()) {
          node.stats.count('anchor-dials', fresh.length);
          void Promise.allSettled(fresh.map((hex) => this.dialViaServer(hex)));
        }
        return true;
      },
      (err: unknown) => {
        node.stats.count(`bootstrap-failed-${errorCode(err)}`);
        return true;
      },
    );
    this.anchored = { at: now, larger };
    return larger;
  }

  /**
   * NodeContext.networkSize: the count of nodes the bootstrap service gave with its last answer
   * (join, top-up, anchoring), asked for again with a one-peer `peers` when older than
   * CENSUS_MAX_AGE_MS. A service that cannot answer is asked again after ANCHOR_INTERVAL_MS;
   * meanwhile the last count stands, and so it does for a caller the answer keeps waiting
   * more than CENSUS_WAIT_MS.
   */
  networkSize(): Promise<number | null> {
    const { node } = this;
    const boot = node.bootstrap;
    const now = node.clock.now();
    const known = this.census?.live ?? null;
    if (!boot || this.closed || (this.census && now - this.census.at < CENSUS_MAX_AGE_MS)) return Promise.resolve(known);
    const asked = this.askCensus(boot);
    return new Promise((resolve) => {
      const timer = node.ticker.setTimeout(() => resolve(known), CENSUS_WAIT_MS);
      void asked.then((live) => {
        node.ticker.clearTimeout(timer);
        resolve(live);
      });
    });
  }

  /**
   * NodeContext.strangers: the ids the bootstrap service's last `peers` answer named (join,
   * top-up, anchoring, or the census ask networkSize makes), drawn at random from its settled
   * tabs, not through any channel; none without a service.
   */
  strangers(): readonly string[] {
    return this.lastNamed;
  }

  /** One `peers` ask at a time, for its count (networkSize) and CENSUS_PEERS strangers. */
  private askCensus(boot: Bootstrap): Promise<number | null> {
    const { node } = this;
    return (this.censusAsk ??= boot
      .peers(node.hex, CENSUS_PEERS)
      .then(
        (answer) => {
          this.heard(answer);
          return this.census!.live;
        },
        (err: unknown) => {
          node.stats.count(`bootstrap-failed-${errorCode(err)}`);
          this.census = { at: node.clock.now() - CENSUS_MAX_AGE_MS + ANCHOR_INTERVAL_MS, live: this.census?.live ?? null };
          return this.census.live;
        },
      )
      .finally(() => (this.censusAsk = null)));
  }

  /** Notes the count a `peers` answer carries (networkSize) and its ids (strangers); returns them. */
  private heard(answer: BootstrapPeers): string[] {
    const { live } = answer;
    this.census = { at: this.node.clock.now(), live: Number.isSafeInteger(live) && live! > 0 ? live! : null };
    this.lastNamed = answer.ids.filter((hex) => hex !== this.node.hex);
    return answer.ids;
  }

  /** One dial of a first peer through the signal server; true when the channel opened. */
  private async dialViaServer(hex: string): Promise<boolean> {
    const { node } = this;
    const boot = node.bootstrap!;
    node.stats.count('dials-via-bootstrap');
    try {
      await node.channels.dial(hex, (p) => boot.exchange(node.hex, hex, p));
      // Only an ICE backoff starts over here: the others were about the overlay's path.
      if (this.iceFailures.delete(hex)) this.backoff.delete(hex);
      return true;
    } catch (err) {
      node.stats.count(`bootstrap-dial-failed-${errorCode(err)}`);
      if (isPeerchatError(err, ErrorCode.IceFailed)) this.noteFailure(hex, true);
      return false;
    }
  }

  /** NodeContext.reachViaServer. */
  async reachViaServer(hex: string): Promise<boolean> {
    const { node } = this;
    if (node.channels.peers.has(hex)) return true;
    if (!node.bootstrap || this.closed || hex === node.hex || this.atCap()) return false;
    return this.dialViaServer(hex);
  }

  private scheduleNearCheck(): void {
    if (this.closed) return;
    const { node } = this;
    const delay = this.nearInterval * (0.9 + 0.2 * node.random.float());
    this.nearDue = node.clock.now() + delay;
    this.nearTimer = node.ticker.setTimeout(() => {
      this.nearTimer = null;
      this.nearInterval = Math.min(2 * this.nearInterval, NEAR_CHECK_MAX_INTERVAL_MS);
      void this.checkNear().finally(() => this.scheduleNearCheck());
    }, delay);
  }

  /**
   * A channel opened or closed: if the r nearest changed, the neighbourhood is moving, so the
   * near checks go back to their shortest period (and the pending one comes forward).
   */
  neighbourhoodMaybeChanged(): void {
    const { node } = this;
    if (this.closed) return;
    let key = 0;
    for (const n of node.closestTo(node.id, node.config.replication + 1)) {
      key = Math.imul(key ^ ((n.id[16]! << 24) | (n.id[17]! << 16) | (n.id[18]! << 8) | n.id[19]!), 0x01000193);
    }
    key &= 0x3fffffff; // a small integer, which V8 stores without a heap number
    if (key === this.nearKey) return;
    this.nearKey = key;
    this.nearInterval = NEAR_CHECK_INTERVAL_MS;
    if (this.nearTimer && this.nearDue - node.clock.now() > NEAR_CHECK_INTERVAL_MS) {
      node.ticker.clearTimeout(this.nearTimer);
      this.nearTimer = null;
      this.scheduleNearCheck();
    }
  }

  /**
   * Looks up the node's own id (routed, so it lands in the neighbourhood even when no near
   * channel is open yet) and connects to the near nodes it lacks, then fills empty far buckets.
   */
  async refresh(extra: readonly string[] = []): Promise<void> {
    const { node } = this;
    if (this.closed || node.neighbours().length === 0) return;
    // The routed lookup finds the neighbourhood from anywhere; asking the nearest neighbours
    // directly too catches nodes of the near subtree that none of them alone reports.
    const [routed, direct] = await Promise.all([
      node.routeFromHere('FIND_NODE', { target: node.hex }, node.id, 2, { leave: true, avoidSelf: true }),
      this.askNearest(),
    ]);
    await this.connectWanted([...routed.flatMap((a) => node.contactIds(a.nodes)), ...direct, ...extra]);
    await this.fillFarBuckets();
  }

  /**
   * The cheap, frequent half of a refresh: the nearest neighbours' views of this node's
   * neighbourhood, straight over open channels. Near subtrees are not symmetric, so a newcomer
   * may not dial every node whose subtree holds it; this finds it within NEAR_CHECK_INTERVAL_MS
   * instead of a full refresh period.
   */
  async checkNear(): Promise<void> {
    if (this.closed || this.node.neighbours().length === 0) return;
    await this.connectWanted(await this.askNearest());
  }

  /**
   * Asks the nearest neighbours, and one neighbour across the near subtree's boundary bucket,
   * for the nodes closest to this one. The boundary bucket is the other half of the near
   * subtree: its nodes have enough neighbours on their own side that most of them never dial
   * this node, and the nearest neighbours, all on this node's side, rarely know them either.
   * A node there knows its side (measured at N = 2,000: every lookup that missed a settled
   * node missed one of these).
   */
  private async askNearest(): Promise<string[]> {
    const { node } = this;
    const sources = node.closestTo(node.id, NEAR_SOURCES + 1).slice(1) as Peer[];
    const across = this.closestConnectedIn(node.table.nearBoundary(node.config.replication));
    if (across && !sources.includes(across)) sources.push(across);
    const answers = await Promise.allSettled(sources.map((p) => node.direct(p, 'FIND_NODE', { target: node.hex })));
    return answers.flatMap((a, i) => (a.status === 'fulfilled' ? node.contactIds(a.value.nodes, sources[i]) : []));
  }

  /** The open channel in `bucket` closest to this node, if any. */
  private closestConnectedIn(bucket: number): Peer | undefined {
    const { node } = this;
    let best: Peer | undefined;
    for (const c of node.table.bucket(bucket)) {
      const p = node.channels.peers.get(c.hex);
      if (p && (!best || compareDistance(node.id, p.id, best.id) < 0)) best = p;
    }
    return best;
  }

  /** Candidates learned from any lookup: dial the ones the overlay needs. */
  learn(nodes: readonly Neighbour[]): void {
    void this.connectWanted(nodes.map((n) => n.hex));
  }

  neighbourLost(_peer: Peer): void {
    if (this.closed || this.repairTimer) return;
    this.repairTimer = this.node.ticker.setTimeout(() => {
      this.repairTimer = null;
      // Only a node left with no channel goes back to the bootstrap service first; the others
      // repair through the overlay at once.
      if (this.node.neighbours().length === 0) void this.topUp().then(() => this.refresh());
      else void this.refresh();
    }, REPAIR_DELAY_MS);
  }

  close(): void {
    this.closed = true;
    const { ticker } = this.node;
    for (const t of [this.refreshTimer, this.repairTimer, this.nearTimer, this.shortTimer]) if (t) ticker.clearTimeout(t);
    this.refreshTimer = this.repairTimer = this.nearTimer = this.shortTimer = null;
  }

  private scheduleRefresh(): void {
    if (this.closed) return;
    const { node } = this;
    const jitter = (node.random.float() - 0.5) * 0.2 * REFRESH_INTERVAL_MS;
    this.refreshTimer = node.ticker.setTimeout(() => {
      this.refreshTimer = null;
      void this.periodic();
    }, REFRESH_INTERVAL_MS + jitter);
  }

  private async periodic(): Promise<void> {
    try {
      if (this.node.neighbours().length === 0) await this.topUp();
      await this.refresh();
      // A random id's neighbourhood: learns of far nodes and heals partitions.
      await this.node.lookup(this.node.random.bytes(ID_BYTES), 1);
      await this.node.recheckServices();
      this.prune();
    } finally {
      this.scheduleRefresh();
    }
  }

  /**
   * Dials the candidates the overlay needs (dial-plan.ts decides): every one in this node's
   * near subtree, and for each far bucket without a channel, candidates from it in turn until
   * one accepts.
   */
  private async connectWanted(hexes: readonly string[]): Promise<void> {
    const { node } = this;
    if (this.atCap()) return;
    const now = node.clock.now();
    const plan = planDials({
      self: node.id,
      selfHex: node.hex,
      replication: node.config.replication,
      farChannelsPerBucket: node.config.farChannelsPerBucket,
      table: node.table,
      candidates: hexes,
      busy: (hex) => node.channels.peers.has(hex) || node.channels.connecting(hex),
      backedOff: (hex) => (this.backoff.get(hex) ?? 0) > now,
      farDialing: this.farDials,
    });
    const dials: Promise<unknown>[] = plan.near.map((hex) => this.dial(hex, true));
    if (!this.nearOnly()) for (const { bucket, candidates } of plan.far) dials.push(this.dialFar(bucket, candidates));
    await Promise.allSettled(dials);
  }

  private async dialFar(bucket: number, list: Neighbour[]): Promise<void> {
    this.farDials.push(bucket);
    try {
      for (const c of list.slice(0, FAR_DIAL_TRIES)) {
        if (this.closed || this.connectedIn(bucket) >= this.node.config.farChannelsPerBucket) return;
        if (await this.dial(c.hex)) return;
      }
    } finally {
      const at = this.farDials.indexOf(bucket);
      if (at >= 0) this.farDials.splice(at, 1);
    }
  }

  /**
   * Dials through the overlay; true when the channel opened. A `near` dial (this node's near
   * subtree) draws on the budget's near bucket first, so that a node that spent its shared
   * tokens on far buckets does not answer for its neighbourhood without part of it.
   */
  private async dial(hex: string, near = false): Promise<boolean> {
    const { node } = this;
    try {
      node.stats.count('dials-via-overlay');
      await node.channels.dial(hex, node.overlayPath(hex), near ? 'near' : 'paced');
      this.dialSucceeded(hex);
      return true;
    } catch (err) {
      node.stats.count(`dial-failed-${errorCode(err)}`);
      // Out of budget: try again when it allows. Any other failed dial may have cost a
      // connection: do not try that peer again for a while.
      if (isPeerchatError(err, ErrorCode.BudgetExhausted)) this.retryWhenBudgetAllows();
      else this.noteFailure(hex, isPeerchatError(err, ErrorCode.IceFailed), isPeerchatError(err, ErrorCode.Busy) ? err.retryMs : undefined);
      return false;
    }
  }

  private dialSucceeded(hex: string): void {
    this.backoff.delete(hex);
    this.iceFailures.delete(hex);
  }

  /**
   * Whether a peer the bootstrap service named is worth a dial through it: no channel to it, none
   * opening, and not waiting out an ICE backoff (another signaling path would not help ICE).
   */
  private worthDialingViaServer(hex: string, now: number): boolean {
    const { channels } = this.node;
    return !channels.peers.has(hex) && !channels.connecting(hex) && !this.iceBackedOff(hex, now);
  }

  /** Whether `hex` is waiting out a backoff that an ICE failure started. */
  private iceBackedOff(hex: string, now: number): boolean {
    return this.iceFailures.has(hex) && (this.backoff.get(hex) ?? 0) > now;
  }

  /**
   * Backs off from a peer whose dial failed: DIAL_BACKOFF_MS, or for an ICE failure
   * ICE_BACKOFF_MS doubling per failure in a row (only those draw on the random source, so
   * runs without ICE failures replay as before), or while this node is short of channels, the
   * `retryMs` a BUSY peer gave (at least SHORT_RETRY_MS).
   */
  private noteFailure(hex: string, ice = false, retryMs?: number): void {
    const now = this.node.clock.now();
    if (this.backoff.size >= MAX_BACKOFF_ENTRIES) {
      for (const [k, until] of this.backoff) if (until <= now) this.backoff.delete(k);
      if (this.backoff.size >= MAX_BACKOFF_ENTRIES) this.backoff.delete(this.backoff.keys().next().value!);
    }
    let wait = DIAL_BACKOFF_MS;
    if (ice) {
      const failures = (this.iceFailures.get(hex) ?? 0) + 1;
      if (!this.iceFailures.has(hex) && this.iceFailures.size >= MAX_BACKOFF_ENTRIES) this.iceFailures.delete(this.iceFailures.keys().next().value!);
      this.iceFailures.set(hex, failures);
      wait = Math.min(DIAL_BACKOFF_MS, ICE_BACKOFF_MS * 2 ** (failures - 1)) * (0.75 + 0.5 * this.node.random.float());
    } else if (retryMs !== undefined && this.short()) {
      this.node.stats.count('busy-retry-soon');
      wait = Math.min(DIAL_BACKOFF_MS, Math.max(SHORT_RETRY_MS, retryMs));
    }
    this.backoff.set(hex, now + wait);
  }

  /**
   * Whether the connection cap is spent. Then no dial can succeed again in this process (a tab
   * moves to its twin URL when left short of peers, budget.ts shouldMove), so upkeep stops
   * dialing instead of retrying, and says so once.
   */
  private atCap(): boolean {
    if (this.node.budget.left() > 0) return false;
    if (!this.stoppedAtCap) this.node.stats.count('upkeep-stopped-at-cap');
    this.stoppedAtCap = true;
    return true;
  }

  /** Near the cap, the last connections go to the near subtree only (NEAR_ONLY_CONNECTIONS_LEFT). */
  private nearOnly(): boolean {
    return this.node.budget.left() <= NEAR_ONLY_CONNECTIONS_LEFT;
  }

  private retryWhenBudgetAllows(): void {
    if (this.closed || this.repairTimer || this.atCap()) return;
    this.repairTimer = this.node.ticker.setTimeout(() => {
      this.repairTimer = null;
      void this.refresh();
    }, this.node.budget.retryAfterMs());
  }

  /**
   * Far buckets without a channel, from the top down to where the network is expected to have
   * nodes: a routed lookup of a random id in each such bucket brings candidates from it.
   */
  private async fillFarBuckets(): Promise<void> {
    const { node } = this;
    if (this.nearOnly()) return;
    const r = node.config.replication;
    const boundary = node.table.nearBoundary(r);
    const lowest = Math.max(boundary + 1, ID_BITS - Math.ceil(Math.log2(Math.max(2, node.estimatedSize()))));
    for (let i = ID_BITS - 1; i >= lowest && !this.closed; i--) {
      if (this.connectedIn(i) > 0 || this.farDials.includes(i) || !node.budget.canCreate()) continue;
      await node.lookup(randomIdInBucket(node.id, i, node.random.bytes(ID_BYTES)), 1);
    }
  }

  /** Closes channels this node opened and no longer needs, once it has more than it should. */
  private prune(): void {
    const { node } = this;
    const neighbours = node.neighbours();
    if (neighbours.length <= node.config.maxDhtChannels * 0.75) return;
    const wanted = new Set(node.table.wanted(node.config.replication, node.config.farChannelsPerBucket).map((c) => c.hex));
    for (const p of neighbours) if (p.initiator && !wanted.has(p.hex)) p.close();
  }

  private connectedIn(bucket: number): number {
    return this.node.table.connectedIn(bucket);
  }
}
