/**
 * The tab's node on the network, as the UI sees it: starts and stops the peer node main.ts
 * built, samples it into NetworkState, saves its routing snapshot, runs the panel's lookups, and
 * keeps the tab under Chromium's connection cap by moving it to its twin URL (web/net/tab.ts
 * says what the count means; this decides when to act on it).
 *
 * It sits in src/ beside session.ts, not in net/: like session.ts it binds part of the engine to
 * a state mirror, and net/ stays free of Svelte state so Node tests and benches load it as is.
 * It only writes NetworkState's plain fields, so tests hand it a plain object.
 */
import type { Clock, TimerHandle } from '../../shared/lib/clock.ts';
import { ID_BITS, ID_BYTES } from '../../shared/lib/id.ts';
import type { Random } from '../../shared/lib/random.ts';
import type { PeerNode } from '../net/peer-node.ts';
import type { SignalClientState } from '../net/signal-client.ts';
import { shouldMove } from '../../shared/dht/budget.ts';
import { waitingForOthers } from './cold-start.ts';
import { failedAttempts, noPeersMessage } from './reachability.ts';
import { loadCreated, moveToTwin, saveCreated, twinMoves, variantOf, type PageLocation, type Variant } from '../net/tab.ts';
import type { NetworkState, RingView } from '../state/network.svelte.ts';

/** How often the panel's numbers (and the twin-URL check) are refreshed: cheap reads. */
export const SAMPLE_MS = 500;
/** The periodic backup of who this tab was connected to, for a quicker rejoin. */
export const ROUTING_SNAPSHOT_MS = 30_000;
/** Paths a panel or console lookup starts on: two disjoint ones, like the lookups that matter. */
export const LOOKUP_PATHS = 2;

export interface NetworkControllerOptions {
  net: NetworkState;
  /** sessionStorage: the connection count and twin moves must survive reloads and moves. */
  tabStorage: Storage;
  location: PageLocation;
  /** now() in ms since the page loaded (performance.now()), for joinedMs and lookup times. */
  clock: Clock;
  random: Random;
}

export class NetworkController {
  private readonly variant: Variant;
  private count: number;
  private peer: PeerNode | null = null;
  private tick: TimerHandle | null = null;
  private snapshotAt = 0;
  private joinedAt: number | null = null;
  /** Since when the tab has had no peer (null while it has one). */
  private aloneSince: number | null = null;
  /** Failed attempts counted when the tab last had a peer: those after it are news. */
  private failedBefore = 0;
  /** Connections created when the tab last had a peer (for the cold-start notice). */
  private createdBefore = 0;
  private moving = false;
  private closed = false;
  /** Where the signed-in user's mail and name live (Chat.holders); null while signed out. */
  private holders: () => { mailbox: string[]; record: string[] } | null = () => null;
  /** The ring last shown, as text: it is replaced only when this changes. */
  private ringShown = '';

  constructor(private readonly o: NetworkControllerOptions) {
    this.variant = variantOf(o.location.pathname);
    this.count = loadCreated(o.tabStorage, this.variant);
    o.net.created = this.count;
    o.net.twinMoves = twinMoves(o.tabStorage);
  }

  /** Connections this renderer process has created, this page's included. */
  get created(): number {
    return this.count;
  }

  get twinMoves(): number {
    return twinMoves(this.o.tabStorage);
  }

  /** This tab is the only node online and waits for another (cold-start.ts). */
  get waitingForOthers(): boolean {
    return this.o.net.waitingForOthers;
  }

  /** Milliseconds from page load to the end of the join; null until then. */
  get joinedMs(): number | null {
    return this.joinedAt;
  }

  /**
   * Moves to the twin URL at once when this process's budget is already spent (a page that
   * just loaded has no peers): true if it moved, and the caller builds nothing.
   */
  moveIfSpent(): boolean {
    if (!shouldMove(this.count, 0)) return false;
    this.moveNow();
    return true;
  }

  /** For createPeerNode's onCreated: the transport created a connection. */
  readonly onCreated = (): void => {
    this.count++;
    this.o.net.created = this.count;
    saveCreated(this.o.tabStorage, this.variant, this.count);
    // The count is saved first: whatever happens next, the new page knows where it stands. The
    // move waits for the transport to finish creating this connection (we are inside its call).
    this.o.clock.setTimeout(() => this.maybeMove(), 0);
  };

  readonly onSignalState = (state: SignalClientState, detail: string): void => {
    this.o.net.signal = state;
    this.o.net.signalDetail = detail;
  };

  /** For the ring: who holds the signed-in user's mail and name, read on every sample. */
  watchHolders(source: () => { mailbox: string[]; record: string[] } | null): void {
    this.holders = source;
  }

  /** The user saved ICE settings: the panel shows what new connections will now use. */
  iceSettingsChanged(): void {
    if (this.peer) this.onIceUrls(this.peer.iceUrls());
  }

  /** For createPeerNode's onIceUrls: the URLs only, the panel never sees a credential. */
  readonly onIceUrls = (urls: string[]): void => {
    this.o.net.iceServers = urls;
  };

  /** Starts sampling and joins the network; resolves once the node has joined. */
  async start(peer: PeerNode): Promise<void> {
    if (this.closed || this.peer) throw new Error('NetworkController.start: call once, before close()');
    const { net, clock } = this.o;
    this.peer = peer;
    net.nodeId = peer.node.hex;
    this.snapshotAt = clock.now();
    this.schedule();
    net.phase = 'joining';
    await peer.start();
    this.joinedAt = Math.round(clock.now());
    net.phase = 'joined';
    this.sample();
  }

  /** The tab could not start: the panel says why instead of staying blank. */
  fail(reason: string): void {
    this.o.net.phase = 'failed';
    this.o.net.problem = reason;
  }

  /**
   * The panel's "Look up a random ID": walked over two paths one hop at a time (the engine's
   * traceLookup), so the panel can show each hop and its time.
   */
  async lookupRandom(): Promise<void> {
    const { net, random } = this.o;
    if (!this.peer || net.lookupBusy) return;
    net.lookupBusy = true;
    net.lookupError = null;
    try {
      const t = await this.peer.node.traceLookup(random.bytes(ID_BYTES), LOOKUP_PATHS);
      if (t.paths > 0 && t.arrived === 0) net.lookupError = 'No path answered: the network may be partitioned. Try again in a moment.';
      const hops = t.hops.map(({ path, hop, hex, ms, outcome }) => ({ path, hop, hex, ms, outcome }));
      net.lookup = { key: t.key, nodes: t.nodes, answered: t.arrived, paths: t.paths, ms: t.ms, hops };
    } catch (err) {
      net.lookupError = `Lookup failed: ${String(err)}`;
    } finally {
      net.lookupBusy = false;
    }
  }

  /** Stops the timers and the node. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.tick) this.o.clock.clearTimeout(this.tick);
    this.tick = null;
    this.peer?.close();
  }

  /** One tick drives both the sampling and the routing snapshot. */
  private schedule(): void {
    this.tick = this.o.clock.setTimeout(() => {
      this.tick = null;
      if (this.closed) return;
      this.sample();
      this.maybeSnapshot();
      if (!this.closed) this.schedule();
    }, SAMPLE_MS);
  }

  private sample(): void {
    if (!this.peer || this.closed) return;
    const { net } = this.o;
    const node = this.peer.node;
    const peers = node.neighbours().map((p) => p.hex);
    net.peers = peers.length;
    this.sampleRing(peers);
    const table = node.table.summary();
    net.contacts = table.contacts;
    net.buckets = table.buckets;
    this.sampleReachability(net.peers);
    this.maybeMove();
  }

  /** The ring's peers, near subtree and holders: assigned only when they changed. */
  private sampleRing(peers: string[]): void {
    const node = this.peer!.node;
    const boundary = node.table.nearBoundary(node.replication);
    const held = this.holders();
    const ring: RingView = { peers: peers.sort(), nearBits: boundary < 0 ? null : ID_BITS - 1 - boundary, mailbox: held?.mailbox ?? [], record: held?.record ?? [] };
    const text = JSON.stringify(ring);
    if (text === this.ringShown) return;
    this.ringShown = text;
    this.o.net.ring = ring;
  }

  /**
   * Says why no peer could be reached once the tab has been alone a while, or that it is the
   * first of the network and waits for another; both gone with a peer.
   */
  private sampleReachability(peers: number): void {
    const peer = this.peer!;
    const now = this.o.clock.now();
    const failed = failedAttempts(peer.node);
    const created = peer.node.stats.get('connections-created');
    if (peers > 0) {
      this.aloneSince = null;
      this.failedBefore = failed;
      this.createdBefore = created;
    } else {
      this.aloneSince ??= now;
    }
    const joined = this.o.net.phase === 'joined';
    const aloneMs = this.aloneSince === null ? 0 : now - this.aloneSince;
    this.o.net.noPeers = noPeersMessage({ joined, peers, aloneMs, failedAttempts: failed - this.failedBefore, iceUrls: peer.iceUrls() });
    this.o.net.waitingForOthers = waitingForOthers({ joined, signal: this.o.net.signal, peers, aloneMs, attempts: created - this.createdBefore });
  }

  private maybeSnapshot(): void {
    const node = this.peer?.node;
    if (!node || this.o.clock.now() - this.snapshotAt < ROUTING_SNAPSHOT_MS) return;
    this.snapshotAt = this.o.clock.now();
    void node.saveRoutingSnapshot().catch(() => node.stats.count('routing-snapshot-failed'));
  }

  private maybeMove(): void {
    if (this.moving || this.closed || !this.peer || !shouldMove(this.count, this.peer.node.neighbours().length)) return;
    try {
      this.close();
    } finally {
      this.moveNow();
    }
  }

  private moveNow(): void {
    this.moving = true;
    moveToTwin(this.o.tabStorage, this.o.location);
  }
}
