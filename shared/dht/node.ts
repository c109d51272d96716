/**
 * A Kademlia node on a WebRTC-shaped overlay. It owns the routing table, the channels and the
 * handler table; routing decisions come from router.ts, structural ones from the routing table,
 * and upkeep (join, repair, refresh) from maintenance.ts. Everything from the world (transport,
 * clock, randomness, storage, crypto, bootstrap) is handed in, so the same class runs in a tab,
 * in Node, and ten thousand times over in the simulator.
 */
import { ConnectionBudget, KeyedTokenBuckets, REFUSED_METHOD_PREFIX, RequestLimits } from './budget.ts';
import { Channels, type Peer } from './channels.ts';
import type { Clock } from '../lib/clock.ts';
import { Ticker } from '../lib/ticker.ts';
import {
  DIRECT_TIMEOUT_MS,
  FAR_CHANNELS_PER_BUCKET,
  FORWARD_RATE_PER_NEIGHBOUR_PER_S,
  LOOKUP_TIMEOUT_MS,
  MAX_MISSED_REPLIES,
  MAX_HOPS,
  MAX_ROUTE_AVOIDS,
  REPLICATION,
  SEND_ROOM_POLL_MS,
  SIGNAL_ROUTE_TRIES,
  SIGNAL_TRY_TIMEOUT_MS,
} from './constants.ts';
import { verifiedIds, type ContactWire } from './contacts.ts';
import { webCryptoOps, type CryptoOps } from '../lib/crypto.ts';
import { toBase64Url } from '../lib/encoding.ts';
import { ErrorCode, PeerchatError, errorCode, isPeerchatError } from '../lib/errors.ts';
import { bucketIndex, compareDistance, idFromHex, idToHex, type NodeId } from '../lib/id.ts';
import { traceLookup, type LookupTrace } from './lookup-trace.ts';
import { Maintenance } from './maintenance.ts';
import type { Method, RequestBodyOf, RequestFrame, ResponseBody, ResponseBodyOf, Route } from './protocol.ts';
import type { Random } from '../lib/random.ts';
import { closestNeighbour, closestSet, decideRoute, estimateNetworkSize, firstHops, hopLimit, type Neighbour } from './router.ts';
import { RoutingTable, type Contact } from './routing-table.ts';
import { checkSignal, SeenSignatures, signSignal } from './signal-auth.ts';
import { rememberedNeighbours, saveRoutingSnapshot } from './routing-snapshot.ts';
import type { Reply } from './rpc.ts';
import { Stats } from '../lib/stats.ts';
import { MemoryStore, type Store } from '../lib/store.ts';
import { MAX_SIGNALS_PER_BATCH, type SignalPath, type SignalPayload, type SignalReply } from '../lib/transport.ts';
import type { Handler, HandlerContext, LookupResult, NodeService, RouteOptions, ServiceHost } from './context.ts';
import type { Bootstrap, NodeConfig, NodeOptions } from './options.ts';

export type { Bootstrap, BootstrapPeers, NodeConfig, NodeOptions } from './options.ts';
export type { LookupTrace, TraceHop } from './lookup-trace.ts';
export type { Handler, LookupResult, NodeContext, NodeService, RouteOptions, ServiceHost } from './context.ts';

/** An own request waiting for room at its neighbour (KademliaNode.send). */
interface WaitingSend {
  start: number;
  timeoutMs: number;
  /** Called with the time left to wait for the answer. */
  resolve: (msLeft: number) => void;
  reject: (err: PeerchatError) => void;
}

export class KademliaNode implements ServiceHost {
  readonly id: NodeId;
  readonly hex: string;
  readonly self: Neighbour;
  /** How answers name this node (contacts.ts). */
  readonly selfContact: ContactWire;
  readonly table: RoutingTable;
  readonly stats = new Stats();
  readonly channels: Channels;
  readonly budget: ConnectionBudget;
  readonly config: NodeConfig;
  readonly clock: Clock;
  /** Every upkeep timer of the node and its services, on one clock timer (lib/ticker.ts). */
  readonly ticker: Ticker;
  readonly random: Random;
  readonly ops: CryptoOps;
  readonly store: Store;
  readonly bootstrap: Bootstrap | undefined;
  readonly maintenance: Maintenance;
  private readonly handlers = new Map<Method, Handler>();
  private readonly services: NodeService[] = [];
  private readonly forwardLimits = new KeyedTokenBuckets(FORWARD_RATE_PER_NEIGHBOUR_PER_S / 1000, FORWARD_RATE_PER_NEIGHBOUR_PER_S);
  /** Every request a neighbour sends passes these first (budget.ts RequestLimits). */
  private readonly requestLimits = new RequestLimits();
  /** Own requests waiting for room at their neighbour (send, pumpSends), by neighbour, in order. */
  private readonly sendQueues = new Map<string, WaitingSend[]>();
  /** Signatures of the routed SIGNALs accepted lately: a repeat is a replay. */
  private readonly seenSignals = new SeenSignatures();
  private closed = false;

  constructor(readonly options: NodeOptions) {
    this.id = options.identity.nodeId;
    this.hex = idToHex(this.id);
    this.self = { id: this.id, hex: this.hex };
    this.selfContact = { key: toBase64Url(options.identity.signingPublic), n: options.identity.idNonce };
    this.clock = options.clock;
    this.ticker = new Ticker(this.clock);
    this.random = options.random;
    this.ops = options.ops ?? webCryptoOps;
    this.store = options.store ?? new MemoryStore();
    this.bootstrap = options.bootstrap;
    this.config = {
      replication: REPLICATION,
      farChannelsPerBucket: FAR_CHANNELS_PER_BUCKET,
      maxDhtChannels: 48,
      bootstrapPeers: 3,
      ...options.config,
    };
    this.table = new RoutingTable(this.id);
    const before = options.createdBefore ?? (() => 0);
    this.budget = new ConnectionBudget({
      created: () => before() + options.transport.created,
      now: () => this.clock.now(),
      ...(options.connectionCap !== undefined ? { cap: options.connectionCap } : {}),
    });
    this.channels = new Channels({
      identity: options.identity,
      ops: this.ops,
      transport: options.transport,
      clock: this.clock,
      random: this.random,
      budget: this.budget,
      stats: this.stats,
      onPeer: (peer) => this.onPeer(peer),
      onPeerClosed: (peer, reason, byUs) => this.onPeerClosed(peer, reason, byUs),
      onRequest: (peer, req, reply) => void this.onRequest(peer, req, reply),
    });
    this.maintenance = new Maintenance(this);
    this.handle('PING', async () => ({}));
    // Twice r: a node refreshing its own neighbourhood needs its whole near subtree, which can
    // hold more than r nodes (measured: r alone left 7% of lookups inexact at N = 500).
    this.handle('FIND_NODE', async (b) => ({ nodes: this.closestContacts(idFromHex(b.target)!, 2 * this.config.replication) }));
    this.handle('SIGNAL', (b, ctx) => this.onSignalRequest(b, ctx));
  }

  get signingKey(): Uint8Array {
    return this.options.identity.signingPublic;
  }

  get idNonce(): number {
    return this.options.identity.idNonce;
  }

  /** Signs as this node (NodeContext.sign): callers domain-separate what they sign. */
  sign(data: Uint8Array): Promise<Uint8Array> {
    return this.ops.sign(this.options.identity, data);
  }

  /** Serves a method; the chat layer adds its own (DELIVER, MAILBOX_*, STORE, FIND_VALUE). */
  handle<M extends Method>(method: M, handler: Handler<M>): void {
    this.handlers.set(method, handler as unknown as Handler);
  }

  /** Stops serving `method`, if `handler` is still the one serving it. */
  unhandle<M extends Method>(method: M, handler: Handler<M>): void {
    if (this.handlers.get(method) === (handler as unknown as Handler)) this.handlers.delete(method);
  }

  /**
   * Adds a service that lives on this node (before start()): it is loaded before the join, told
   * of every new channel, rechecked with the periodic upkeep and closed with the node.
   */
  addService(service: NodeService): void {
    this.services.push(service);
  }

  /** Joins the overlay through the bootstrap service and starts upkeep. */
  async start(): Promise<void> {
    for (const s of this.services) await s.load?.();
    const remembered = await rememberedNeighbours(this.store, this.clock.now(), this.hex);
    if (remembered.length > 0) this.stats.count('join-remembered', remembered.length);
    await this.maintenance.join(remembered);
  }

  /** Saves which nodes this one has channels to, for the join after a reload (routing-snapshot.ts). */
  async saveRoutingSnapshot(): Promise<void> {
    await saveRoutingSnapshot(this.store, this.clock.now(), this.neighbours().map((p) => p.hex));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get replication(): number {
    return this.config.replication;
  }

  peer(hex: string): Peer | undefined {
    return this.channels.peers.get(hex);
  }

  /** The services' share of the periodic upkeep, in the order they were added. */
  async recheckServices(): Promise<void> {
    for (const s of this.services) await s.recheck?.();
  }

  /** Open DHT channels, as routing neighbours. */
  neighbours(): Peer[] {
    return [...this.channels.peers.values()];
  }

  /** The r closest to key among this node and its open channels. */
  closestTo(key: NodeId, r = this.config.replication): Neighbour[] {
    return closestSet(key, this.self, this.neighbours(), r);
  }

  /** NodeContext.anchor: upkeep asks the bootstrap service and dials (maintenance.ts). */
  anchor(n: number): Promise<boolean> {
    return this.maintenance.anchor(n);
  }

  /** NodeContext.isTab: the bootstrap service's word, null when it has none to give. */
  isTab(hex: string): Promise<boolean | null> {
    const boot = this.bootstrap;
    if (!boot?.isTab) return Promise.resolve(null);
    return boot.isTab(hex).catch(() => null);
  }

  /** NodeContext.reachViaServer: a dial through the bootstrap service (maintenance.ts). */
  reachViaServer(hex: string): Promise<boolean> {
    return this.maintenance.reachViaServer(hex);
  }

  /** NodeContext.strangers: the ids the bootstrap service last named (maintenance.ts). */
  strangers(): readonly string[] {
    return this.maintenance.strangers();
  }

  /** NodeContext.networkSize: the bootstrap service's last count (maintenance.ts). */
  networkSize(): Promise<number | null> {
    return this.maintenance.networkSize();
  }

  /** closestTo as answers name them: each by the key and id nonce that make its id (contacts.ts). */
  closestContacts(key: NodeId, r = this.config.replication): ContactWire[] {
    const out: ContactWire[] = [];
    for (const n of this.closestTo(key, r)) {
      const c = n === this.self ? this.selfContact : (n as Peer).contact;
      if (c) out.push(c);
    }
    return out;
  }

  /**
   * The ids the contacts of an answer make with the network's work (contacts.ts), failures
   * counted. `answeredBy`: the neighbour that wrote the answer itself (asked directly, not
   * routed), which an honest node never does with a failing contact: its channel is closed.
   */
  contactIds(contacts: readonly ContactWire[], answeredBy?: Peer): string[] {
    const { ids, bad } = verifiedIds(contacts, this.stats);
    if (bad > 0 && answeredBy) {
      this.stats.count('peer-dropped-bad-contacts');
      answeredBy.close();
    }
    return ids;
  }

  estimatedSize(): number {
    return estimateNetworkSize(this.id, this.closestTo(this.id, this.config.replication + 1).slice(1));
  }

  /**
   * Finds the r live nodes closest to key: routed FIND_NODE over `paths` disjoint first hops,
   * answers merged. Never waits for a new connection.
   */
  async lookup(key: NodeId, paths = 1): Promise<LookupResult> {
    const answers = await this.routeFromHere('FIND_NODE', { target: idToHex(key) }, key, paths);
    const seen = new Map<string, Neighbour>([[this.hex, this.self]]);
    for (const a of answers) for (const hex of this.contactIds(a.nodes)) if (!seen.has(hex)) seen.set(hex, { id: idFromHex(hex)!, hex });
    const nodes = [...seen.values()].sort((a, b) => compareDistance(key, a.id, b.id)).slice(0, this.config.replication);
    this.maintenance.learn(nodes);
    return { nodes: nodes.map((n) => n.hex), answered: answers.length };
  }

  /**
   * lookup, walked one hop at a time so that each hop and its time are seen (lookup-trace.ts):
   * the Network panel's, never upkeep's (it costs about h²/2 forwards for h hops).
   */
  traceLookup(key: NodeId, paths = 1): Promise<LookupTrace> {
    return traceLookup(this, key, paths);
  }

  /**
   * Sends a routed request toward key from this node. Resolves with the replies that came back
   * (an empty list when every path failed); handles it here when no neighbour is closer.
   */
  async routeFromHere<M extends Method>(
    method: M,
    body: RequestBodyOf<M>,
    key: NodeId,
    paths = 1,
    opts: RouteOptions = {},
  ): Promise<ResponseBodyOf<M>[]> {
    const avoid = opts.avoidSelf ? this.hex : opts.avoid;
    const neighbours = this.neighbours();
    const { notVia, avoidAll } = opts;
    const usable =
      avoid === undefined && notVia === undefined && avoidAll === undefined
        ? neighbours
        : neighbours.filter((p) => p.hex !== avoid && !notVia?.has(p.hex) && !avoidAll?.has(p.hex));
    // Through a waypoint, the first hops are those toward it; one that is a neighbour is the hop.
    const via = opts.via === undefined || opts.via === this.hex ? undefined : opts.via;
    const viaId = via === undefined ? null : idFromHex(via);
    const hops = viaId ? firstHops(viaId, usable, paths) : firstHops(key, usable, paths);
    const here = hops.length === 0 || (!opts.leave && !viaId && compareDistance(key, hops[0]!.id, this.id) >= 0);
    if (here) return [await this.arrive(method, body, { from: null, routed: true, key })];
    // Sizing the hop limit needs the r nearest: a node with fewer channels (a newcomer, or one
    // recovering) would guess a tiny network, and its joins and dials died at that limit.
    const max = neighbours.length > this.config.replication ? hopLimit(this.estimatedSize()) : MAX_HOPS;
    const timeoutMs = opts.timeoutMs ?? LOOKUP_TIMEOUT_MS;
    const route: Route = { k: idToHex(key), h: 1, max, ms: timeoutMs - 500 };
    if (avoid !== undefined) route.x = avoid;
    if (avoidAll !== undefined && avoidAll.size > 0) route.v = [...avoidAll].slice(0, MAX_ROUTE_AVOIDS);
    if (via !== undefined) route.w = via;
    const settled = await Promise.allSettled(hops.map((p) => this.send(p as Peer, method, body, timeoutMs, route)));
    const out: ResponseBodyOf<M>[] = [];
    for (const s of settled) {
      if (s.status === 'fulfilled') out.push(s.value);
      else {
        this.stats.count(`route-failed-${errorCode(s.reason)}`);
        opts.failed?.(s.reason);
      }
    }
    return out;
  }

  /** Sends a request to a neighbour directly; counts missed replies and drops silent peers. */
  async direct<M extends Method>(peer: Peer, method: M, body: RequestBodyOf<M>, timeoutMs = DIRECT_TIMEOUT_MS): Promise<ResponseBodyOf<M>> {
    try {
      const res = await this.send(peer, method, body, timeoutMs);
      const c = this.table.get(peer.hex);
      if (c) this.table.touch(c, this.clock.now());
      return res;
    } catch (err) {
      if (isPeerchatError(err, ErrorCode.Timeout) && this.table.miss(peer.hex) >= MAX_MISSED_REPLIES) {
        this.stats.count('peer-dropped-unresponsive');
        peer.close();
      }
      throw err;
    }
  }

  /**
   * Sends this node's own request to a neighbour once the neighbour's account has room
   * (budget.ts RequestLimits.charge: under what the neighbour admits, so it is never answered
   * BUSY for a burst of this node's own making: a holder's copies to its fellow holders, a
   * returning tab's dials and lookups through its few first peers). With room and nobody
   * waiting, it goes at once, with no await before it; else it waits its turn (pumpSends), and
   * the wait counts against `timeoutMs`.
   */
  private send<M extends Method>(peer: Peer, method: M, body: RequestBodyOf<M>, timeoutMs: number, route?: Route): Promise<ResponseBodyOf<M>> {
    const go = (ms: number) => peer.rpc.request(method, body, ms, route).finally(() => this.requestLimits.settled(peer.hex));
    const start = this.clock.now();
    let queue = this.sendQueues.get(peer.hex);
    if (queue === undefined && this.requestLimits.charge(peer.hex, start, 'own')) return go(timeoutMs);
    this.stats.count('send-waited');
    if (queue === undefined) {
      this.sendQueues.set(peer.hex, (queue = []));
      this.ticker.setTimeout(() => this.pumpSends(peer.hex), SEND_ROOM_POLL_MS);
    }
    const waiting = queue;
    return new Promise<number>((resolve, reject) => waiting.push({ start, timeoutMs, resolve, reject })).then(go);
  }

  /**
   * The own requests waiting for a neighbour, in the order they were made: those whose time
   * would run out before the next look fail as BUSY, unsent; then as many go as there is room.
   */
  private pumpSends(peerHex: string): void {
    const queue = this.sendQueues.get(peerHex);
    if (!queue) return;
    const now = this.clock.now();
    for (const w of queue.filter((x) => now - x.start + SEND_ROOM_POLL_MS >= x.timeoutMs)) {
      queue.splice(queue.indexOf(w), 1);
      this.stats.count('send-gave-up');
      w.reject(new PeerchatError(ErrorCode.Busy, 'Too many requests waiting for this neighbour'));
    }
    while (queue.length > 0 && this.requestLimits.charge(peerHex, now, 'own')) {
      const w = queue.shift()!;
      w.resolve(w.timeoutMs - (now - w.start));
    }
    if (queue.length === 0) this.sendQueues.delete(peerHex);
    else this.ticker.setTimeout(() => this.pumpSends(peerHex), SEND_ROOM_POLL_MS);
  }

  /**
   * A signaling path to `targetHex` through the overlay: routed SIGNAL requests. A step whose
   * SIGNAL got no answer in time is sent again, newly signed, through another first hop, and no
   * hop may forward it to the lost ones (Route.v); up to SIGNAL_ROUTE_TRIES paths in all for
   * the dial. A node that drops SIGNALs on the one greedy path would otherwise fail every dial
   * through it, and the target is then not dialed again for DIAL_BACKOFF_MS. (At N = 1,000 with
   * one node in ten lying, a returning user's dials to its own neighbourhood failed 16 of 19
   * times; it kept 3 channels, none to the honest nodes holding its mail.)
   */
  overlayPath(targetHex: string): SignalPath {
    const key = idFromHex(targetHex)!;
    const lost = new Set<string>();
    return async (payload) => {
      for (;;) {
        const body = await signSignal(this.options.identity, targetHex, payload.conn, JSON.stringify(payload.data), this.clock.now(), this.ops);
        // The first hop routeFromHere will take: avoidAll keeps it off the lost ones too.
        const hop = closestNeighbour(key, this.neighbours(), lost);
        let silent = false;
        const failed = (err: unknown) => (silent = isPeerchatError(err, ErrorCode.Timeout));
        const [res] = await this.routeFromHere('SIGNAL', body, key, 1, { leave: true, avoidAll: lost, failed, timeoutMs: SIGNAL_TRY_TIMEOUT_MS });
        if (res) {
          if (res.busyMs !== undefined) return { busyMs: res.busyMs };
          return { data: parseSignalBatch(res.data) ?? [] };
        }
        // An answer that says no (the route ended where the target is not) is not sent again.
        if (!silent || hop === null || lost.size + 1 >= SIGNAL_ROUTE_TRIES) throw new PeerchatError(ErrorCode.NoRoute, `No route to ${targetHex.slice(0, 8)}`);
        lost.add(hop.hex);
        this.stats.count('signal-route-again');
      }
    };
  }

  /** Entry point for signaling that reached this node through the signal server. */
  handleSignal(fromHex: string, payload: SignalPayload): Promise<SignalReply> {
    const needed = this.needs(fromHex);
    if (!needed && this.neighbours().length >= this.config.maxDhtChannels) {
      this.stats.count('busy-channel-cap');
      return Promise.resolve({ busyMs: 60_000 });
    }
    return this.channels.handleSignal(fromHex, payload, needed);
  }

  /** Leaves: closes every channel and timer. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.maintenance.close();
    for (const s of this.services) s.close?.();
    this.ticker.close();
    // The ticker no longer pumps: what still waits to be sent is told now.
    for (const queue of this.sendQueues.values()) for (const w of queue) w.reject(new PeerchatError(ErrorCode.ChannelClosed, 'The node closed'));
    this.sendQueues.clear();
    this.channels.close();
  }

  /**
   * Whether a channel from this node is one this node needs: its own near subtree, and one
   * bucket beyond it (that node most likely needs us for its near subtree, as they are not
   * symmetric, and answers for keys there depend on it), or a far bucket it would fill. Such
   * channels are accepted past maxDhtChannels and are not paced by the token bucket.
   */
  private needs(fromHex: string): boolean {
    const id = idFromHex(fromHex);
    if (id === null) return false;
    const r = this.config.replication;
    return bucketIndex(this.id, id) <= this.table.nearBoundary(r) + 1 || this.table.wouldWant(id, r, this.config.farChannelsPerBucket);
  }

  /**
   * A routed SIGNAL that reached this node. Its sender is authenticated (signal-auth.ts) before
   * anything else: a forged or replayed one is dropped with a counted reason, before any
   * connection object exists or any budget is spent.
   */
  private async onSignalRequest(b: RequestBodyOf<'SIGNAL'>, ctx: { routed: boolean }): Promise<ResponseBodyOf<'SIGNAL'>> {
    if (!ctx.routed) throw new PeerchatError(ErrorCode.BadRequest, 'SIGNAL must be routed');
    const refused = await checkSignal(b, this.hex, this.clock.now(), this.seenSignals, this.ops);
    if (refused) {
      this.stats.count(`signal-drop-${refused}`);
      if (refused === 'not-for-us') throw new PeerchatError(ErrorCode.NotFound, 'No such node here');
      throw new PeerchatError(ErrorCode.Rejected, `SIGNAL refused: ${refused}`);
    }
    const data = parseSignalBatch(b.data);
    if (data === null) throw new PeerchatError(ErrorCode.BadRequest, 'Malformed signal batch');
    const reply = await this.handleSignal(b.from, { conn: b.conn, data });
    return 'busyMs' in reply ? { data: null, busyMs: reply.busyMs } : { data: JSON.stringify(reply.data) };
  }

  private onPeer(peer: Peer): void {
    const res = this.table.add(peer.id, this.clock.now());
    if (res.status === 'full') this.bucketFull(res.oldest, peer);
    this.table.setConnected(peer.hex, true);
    for (const s of this.services) s.onNeighbour?.(peer);
    this.maintenance.neighbourhoodMaybeChanged();
  }

  /**
   * A full bucket met a new contact: the table names its oldest, the node pings it and keeps
   * it if it still answers (Kademlia's rule), else tells the table to take the newcomer.
   */
  private bucketFull(oldest: Contact, newcomer: Peer): void {
    const oldPeer = this.channels.peers.get(oldest.hex);
    const check = oldPeer ? this.direct(oldPeer, 'PING', {}).then(() => true, () => false) : Promise.resolve(false);
    void check.then((alive) => {
      if (alive || !this.channels.peers.has(newcomer.hex)) return;
      this.table.remove(oldest.hex);
      this.table.add(newcomer.id, this.clock.now());
      this.table.setConnected(newcomer.hex, true);
    });
  }

  private onPeerClosed(peer: Peer, reason: string, byUs: boolean): void {
    this.forwardLimits.delete(peer.hex);
    this.requestLimits.forget(peer.hex);
    if (this.closed) return;
    this.stats.count(`channel-lost-${reason.replace(/\W+/g, '-')}`);
    // Closed by us (pruned): still a good contact. Lost otherwise: forget it.
    if (byUs) this.table.setConnected(peer.hex, false);
    else this.table.remove(peer.hex);
    this.maintenance.neighbourLost(peer);
    this.maintenance.neighbourhoodMaybeChanged();
  }

  /**
   * Every request a neighbour sends, whatever its method, answered here or forwarded: it passes
   * the neighbour's token bucket and in-flight cap first, and over either is answered BUSY with
   * no work done (counted as request-refused-rate / request-refused-in-flight).
   */
  private async onRequest(peer: Peer, req: RequestFrame, reply: Reply): Promise<void> {
    if (this.closed) return;
    const refused = this.requestLimits.admit(peer.hex, this.clock.now());
    if (refused) {
      this.stats.count(`request-refused-${refused}`);
      // Which requests: what a simulation that finds honest refusals needs to know first.
      this.stats.count(`${REFUSED_METHOD_PREFIX}${req.m}${req.r ? '-routed' : ''}`);
      return reply.error(ErrorCode.Busy, refused === 'rate' ? 'Too many requests; slow down' : 'Too many requests in flight');
    }
    let held = true;
    const release = () => {
      if (held) this.requestLimits.done(peer.hex);
      held = false;
    };
    try {
      await this.serve(peer, req, reply, release);
    } finally {
      release();
    }
  }

  private async serve(peer: Peer, req: RequestFrame, reply: Reply, release: () => void): Promise<void> {
    if (req.r) return this.onRouted(peer, req, req.r, reply, release);
    try {
      reply.ok(await this.arrive(req.m, req.b, { from: peer, routed: false, key: null }));
    } catch (err) {
      this.replyError(reply, err);
    }
  }

  /**
   * A routed request: answered here when this node is the closest, else forwarded. A forwarded
   * request stops counting against `peer`'s in-flight cap and is charged to the next hop until
   * it answers (budget.ts RequestLimits.charge): a liar that swallows what it is given holds its
   * own slots, and one that owes a full cap's worth is routed around.
   */
  private async onRouted(peer: Peer, req: RequestFrame, r: Route, reply: Reply, release: () => void): Promise<void> {
    // Still on the way to a waypoint: routed toward it. At it, the waypoint is done with.
    const waypoint = r.w === this.hex ? undefined : r.w;
    const key = idFromHex(waypoint ?? r.k)!;
    const exclude = new Set([peer.hex, ...(r.v ?? [])]);
    for (;;) {
      const state = { key, hops: r.h, maxHops: r.max, budgetMs: r.ms, avoid: r.x };
      const decision = decideRoute(this.id, state, this.neighbours(), exclude);
      if (decision.action === 'drop') {
        this.stats.count(`route-drop-${decision.reason}`);
        return reply.error(decision.reason === 'hop-limit' ? ErrorCode.HopLimit : ErrorCode.Timeout, `Route ${decision.reason}`);
      }
      // The waypoint is not here and no hop is closer to it: it left, or never was.
      if (decision.action === 'arrived' && waypoint !== undefined) {
        this.stats.count('route-drop-no-waypoint');
        return reply.error(ErrorCode.NoRoute, 'Route waypoint not reachable');
      }
      if (decision.action === 'arrived') {
        try {
          return reply.ok(await this.arrive(req.m, req.b, { from: peer, routed: true, key }));
        } catch (err) {
          return this.replyError(reply, err);
        }
      }
      const { to, next } = decision;
      if (!this.requestLimits.charge(to.hex, this.clock.now(), 'forwarded')) {
        this.stats.count('forward-around-owing');
        exclude.add(to.hex);
        continue;
      }
      if (!this.forwardAllowed(peer.hex)) {
        this.requestLimits.settled(to.hex);
        return reply.error(ErrorCode.Busy, 'Forwarding rate exceeded');
      }
      release();
      const route: Route = { k: r.k, h: next.hops, max: next.maxHops, ms: next.budgetMs, ...(r.x ? { x: r.x } : {}), ...(r.v ? { v: r.v } : {}), ...(waypoint ? { w: waypoint } : {}) };
      let answer: ResponseBody;
      try {
        this.stats.count('forwarded');
        answer = await (to as Peer).rpc.request(req.m, req.b as never, next.budgetMs, route);
      } catch (err) {
        // A neighbour that left mid-route is routed around while time remains.
        if (!isPeerchatError(err, ErrorCode.ChannelClosed)) return this.replyError(reply, err);
        exclude.add(to.hex);
        continue;
      } finally {
        this.requestLimits.settled(to.hex);
      }
      return reply.ok(answer);
    }
  }

  private async arrive<M extends Method>(
    method: M,
    body: RequestBodyOf<M>,
    ctx: HandlerContext,
  ): Promise<ResponseBodyOf<M>> {
    const handler = this.handlers.get(method) as Handler<M> | undefined;
    if (!handler) throw new PeerchatError(ErrorCode.UnknownMethod, `${method} is not served by this node`);
    return handler(body, ctx);
  }

  private forwardAllowed(fromHex: string): boolean {
    if (this.forwardLimits.take(fromHex, this.clock.now())) return true;
    this.stats.count('forward-rate-limited');
    return false;
  }

  private replyError(reply: Reply, err: unknown): void {
    if (err instanceof PeerchatError) return reply.error(err.code, err.message);
    this.stats.count('handler-crashed');
    reply.error(ErrorCode.Rejected, 'Internal error');
  }
}

/** Signal batches travel as a JSON array of strings inside SIGNAL's data field. */
function parseSignalBatch(data: string | null): string[] | null {
  if (data === null) return [];
  try {
    const value: unknown = JSON.parse(data);
    if (Array.isArray(value) && value.length <= MAX_SIGNALS_PER_BATCH && value.every((d) => typeof d === 'string')) return value as string[];
  } catch {
    // fall through: malformed
  }
  return null;
}
