/**
 * Many engine nodes in one process: a fake clock, a seeded random source, the in-memory network
 * with WebRTC's constraints (setup time, per-node creation cap, channels that die with either
 * end), a stand-in for the signal server, churn, and an oracle that knows every live node.
 */
import { FakeClock } from '../lib/clock.ts';
import { createIdentity, type Identity } from '../lib/crypto.ts';
import { compareDistance, idToHex, setIdWorkBits, type NodeId } from '../lib/id.ts';
import { ErrorCode, PeerchatError } from '../lib/errors.ts';
import type { MailboxService } from '../chat/mailbox-service.ts';
import type { RecordService } from '../chat/record-service.ts';
import { serveChat } from '../chat/services.ts';
import { CONNECTION_CAP } from '../dht/constants.ts';
import { REFUSED_METHOD_PREFIX } from '../dht/budget.ts';
import { KademliaNode, type Bootstrap, type NodeConfig } from '../dht/node.ts';
import { SeededRandom, type Random } from '../lib/random.ts';
import { MemoryStore, type Store } from '../lib/store.ts';
import { MemoryNetwork, type MemoryTransport } from '../lib/transport.ts';
import { IdealSignatures } from './ideal-signatures.ts';
import { nodeCryptoOps } from './node-crypto-ops.ts';
import { OrderedOps } from './ordered-ops.ts';

export interface SimOptions {
  seed: number;
  /** Median one-way latency between two nodes, ms. */
  latencyMedianMs?: number;
  /** Chance a frame needs one retransmission (channels are reliable, so loss is delay). */
  lossRate?: number;
  /** Fraction of live nodes that leave per hour; each departure brings an arrival. */
  churnPerHour?: number;
  /** Of arrivals, the fraction that are earlier identities coming back (the rest are new). */
  returnFraction?: number;
  creationCap?: number;
  /** ICE candidates each connection end trickles (MemoryNetworkOptions.iceCandidates). */
  iceCandidates?: number;
  nodeConfig?: Partial<NodeConfig>;
  /**
   * Ed25519 for every signature instead of the ideal scheme (ideal-signatures.ts), which makes
   * the same accept/refuse decisions at a fraction of the CPU.
   */
  realSignatures?: boolean;
  /**
   * Work bits every id must carry (lib/id.ts ID_WORK_BITS in a real network). The simulator
   * makes thousands of identities, so it uses SIM_ID_WORK_BITS: the rule is checked as in a tab,
   * at 16 hashes per identity instead of 32,768. Process-wide, as it is one network.
   */
  idWorkBits?: number;
  /**
   * Called with each node spawned, before its first frame: the adversary simulation makes some
   * of them lie and watches the rest (adversary-experiment.ts).
   */
  onSpawn?: (sim: SimNode) => void;
}

export const SIM_ID_WORK_BITS = 4;

export interface SimNode {
  readonly node: KademliaNode;
  /** The names and mail it holds for others, as every node does. */
  readonly records: RecordService;
  readonly mailbox: MailboxService;
  readonly identity: Identity;
  readonly transport: MemoryTransport;
  readonly joinedAt: number;
  readonly name: string;
  /** Settles when the node's join is done (rejects if it failed). */
  readonly started: Promise<void>;
}

const SERVER = 'signal-server';
/** Timers this close together fire before pending async work is awaited (see step()). */
const BATCH_MS = 1;
const SERVER_ACCESS_MS = 10;

export class Simulation {
  readonly clock = new FakeClock();
  readonly random: SeededRandom;
  readonly ops: OrderedOps;
  readonly network: MemoryNetwork;
  readonly live = new Map<string, SimNode>();
  /** Connections created by sessions that have ended, for the lifetime-cap property. */
  maxCreatedByEnded = 0;
  /** Ended sessions that created CONNECTION_CAP connections: the per-process cap bound them. */
  private atCapByEnded = 0;
  /**
   * Ended sessions' refusals for capacity (refusalCounts): by the limit that refused them
   * (REFUSED_COUNTERS) and by method (`refused-for-`), summed over the sessions.
   */
  private readonly refusedByEnded: Record<string, number> = {};
  departures = 0;
  private readonly liveList: string[] = [];
  private readonly access = new Map<string, number>();
  private readonly offline: Identity[] = [];
  /** Each identity's storage, kept while it is away, as a tab's IndexedDB outlives the tab. */
  private readonly stores = new Map<string, Store>();
  private sessions = 0;
  private readonly bootstrap: Bootstrap;
  private readonly options: Required<Omit<SimOptions, 'nodeConfig' | 'onSpawn'>> & Pick<SimOptions, 'nodeConfig' | 'onSpawn'>;

  constructor(options: SimOptions) {
    this.options = { latencyMedianMs: 50, lossRate: 0, churnPerHour: 0, returnFraction: 0.5, creationCap: 500, iceCandidates: 0, realSignatures: false, idWorkBits: SIM_ID_WORK_BITS, ...options };
    this.ops = new OrderedOps(this.options.realSignatures ? nodeCryptoOps : new IdealSignatures(nodeCryptoOps));
    setIdWorkBits(this.options.idWorkBits);
    this.random = new SeededRandom(options.seed);
    const latency = (a: string, b: string) => this.accessMs(a) + this.accessMs(b);
    this.network = new MemoryNetwork({
      clock: this.clock,
      random: this.random.fork(),
      latencyMs: latency,
      // ICE checks and the DTLS handshake: about two round trips, plus local work.
      setupMs: (a, b) => 25 + 4 * latency(a, b),
      lossRate: this.options.lossRate,
      retransmitMs: 250,
      creationCap: this.options.creationCap,
      iceCandidates: this.options.iceCandidates,
    });
    this.bootstrap = this.makeBootstrap();
  }

  /**
   * Starts a node (a new identity unless one is given). Its join runs as the clock advances.
   * `churn: false` exempts it from churn: an experiment decides when it leaves.
   */
  async spawn(identity?: Identity, { churn = true }: { churn?: boolean } = {}): Promise<SimNode> {
    const id = identity ?? (await this.ops.track(createIdentity(this.random.fork())));
    const name = `s${this.sessions++}`;
    const transport = this.network.endpoint(name);
    const hex = idToHex(id.nodeId);
    const store = this.stores.get(hex) ?? new MemoryStore();
    this.stores.set(hex, store);
    const node = new KademliaNode({
      identity: id,
      transport,
      clock: this.clock,
      random: this.random.fork(),
      ops: this.ops,
      store,
      bootstrap: this.bootstrap,
      config: this.options.nodeConfig,
    });
    if (this.live.has(node.hex)) throw new Error('That identity is already live');
    const { records, mailbox } = serveChat(node);
    const started = node.start();
    started.catch(() => node.stats.count('join-failed'));
    const sim: SimNode = { node, records, mailbox, identity: id, transport, joinedAt: this.clock.now(), name, started };
    this.live.set(node.hex, sim);
    this.liveList.push(node.hex);
    if (churn && this.options.churnPerHour > 0) this.scheduleDeparture(sim);
    this.options.onSpawn?.(sim);
    return sim;
  }

  /**
   * The node leaves abruptly, as a closed tab: every channel it had dies. `silently`: no close
   * reaches its peers either (a reload or crash whose close was lost), so their ends stay open.
   */
  leave(sim: SimNode, { silently = false }: { silently?: boolean } = {}): void {
    if (this.live.get(sim.node.hex) !== sim) return;
    this.live.delete(sim.node.hex);
    const i = this.liveList.indexOf(sim.node.hex);
    this.liveList[i] = this.liveList[this.liveList.length - 1]!;
    this.liveList.pop();
    this.maxCreatedByEnded = Math.max(this.maxCreatedByEnded, sim.transport.created);
    if (sim.transport.created >= CONNECTION_CAP) this.atCapByEnded++;
    addCounts(this.refusedByEnded, refusalCounts(sim.node));
    if (silently) sim.transport.vanish();
    sim.node.close();
    sim.transport.close();
    this.access.delete(sim.name);
    this.departures++;
  }

  /** Advances simulated time by ms, letting every async step (crypto included) finish in order. */
  async run(ms: number): Promise<void> {
    const until = this.clock.now() + ms;
    while (await this.step(until));
    this.clock.advanceTo(until);
  }

  /**
   * Runs until `promise` settles and returns it; rejects when `limitMs` of simulated time pass
   * first. (It returned the promise still pending, and its caller then waited for ever: nothing
   * advances the clock while a test awaits. A test with 16 users hung so, silently, until its
   * timeout: one user's join took longer than the default minute.)
   */
  async until<T>(promise: Promise<T>, limitMs = 60_000): Promise<T> {
    let done = false;
    void promise.finally(() => (done = true)).catch(() => {});
    const end = this.clock.now() + limitMs;
    while (!done && (await this.step(end)));
    // What settled in the last step has run its callbacks after one more turn.
    if (!done) await new Promise<void>((resolve) => setImmediate(resolve));
    if (!done) throw new Error(`Simulation.until: not settled within ${limitMs} simulated ms`);
    return promise;
  }

  /**
   * One step: let pending async work finish, then fire every timer due within BATCH_MS of the
   * earliest. Signatures settle at once (IdealSignatures, nodeCryptoOps); what still runs on the
   * thread pool (identity creation, sealing) resolves in FIFO order, so runs replay exactly.
   * Batching saves a macrotask per timer. False when nothing is due.
   */
  private async step(until: number): Promise<boolean> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.ops.pending > 0) {
      await this.ops.idle();
      return true;
    }
    const first = this.clock.nextAt();
    if (first === null || first > until) return false;
    const last = Math.min(until, first + BATCH_MS);
    while (this.clock.runNext(last));
    return true;
  }

  /**
   * Grows the network to n nodes as invitations would: arrivals in proportion to its size
   * (`growthPerHour` x live nodes per hour; a flash crowd of n nodes in a minute would spend
   * every node's connection tokens at once), then lets it settle. Returns the nodes it spawned
   * that are still live (holding the departed ones would keep every closed node in memory).
   */
  async grow(n: number, growthPerHour = 1.5, settleMs = 15 * 60_000): Promise<SimNode[]> {
    const nodes: SimNode[] = [];
    for (let i = 0; i < n; i++) {
      nodes.push(await this.spawn());
      await this.run(3_600_000 / (growthPerHour * Math.max(10, nodes.length)));
    }
    await this.run(settleMs);
    return nodes.filter((s) => this.live.get(s.node.hex) === s);
  }

  /** The true r closest live nodes to key, closest first. */
  closestLive(key: NodeId, r: number): string[] {
    const best: SimNode[] = [];
    for (const s of this.live.values()) {
      if (best.length === r && compareDistance(key, s.node.id, best[r - 1]!.node.id) >= 0) continue;
      let i = best.length;
      while (i > 0 && compareDistance(key, s.node.id, best[i - 1]!.node.id) < 0) i--;
      best.splice(i, 0, s);
      if (best.length > r) best.pop();
    }
    return best.map((s) => s.node.hex);
  }

  randomLive(random: Random = this.random): SimNode {
    return this.live.get(this.liveList[random.int(this.liveList.length)]!)!;
  }

  /** Most connections any session (live or ended) has created. */
  maxConnectionsCreated(): number {
    let max = this.maxCreatedByEnded;
    for (const s of this.live.values()) max = Math.max(max, s.transport.created);
    return max;
  }

  /** Sessions (live or ended) whose connection budget reached its lifetime cap. */
  sessionsAtCap(): number {
    let n = this.atCapByEnded;
    for (const s of this.live.values()) if (s.transport.created >= CONNECTION_CAP) n++;
    return n;
  }

  /** Sessions started so far, live or ended. */
  get sessionCount(): number {
    return this.sessions;
  }

  /**
   * Requests and offers every session (live or ended) refused for capacity: a neighbour over its
   * request bucket or in-flight cap, over the forwarding rate, or offers over the offer limits.
   * An honest network must never hit these (the issue's `honestRefused`).
   */
  refusedForCapacity(): number {
    let n = 0;
    for (const count of Object.values(this.refusedByCounter())) n += count;
    return n;
  }

  /** refusedForCapacity by counter, the zero ones left out. */
  refusedByCounter(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const name of REFUSED_COUNTERS) {
      let n = this.refusedByEnded[name] ?? 0;
      for (const s of this.live.values()) n += s.node.stats.get(name);
      if (n > 0) out[name] = n;
    }
    return out;
  }

  /** Requests refused for capacity, by method (`-routed` when routed): which requests hit a limit. */
  refusedByMethod(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, n] of Object.entries(this.refusedByEnded)) if (k.startsWith(REFUSED_METHOD_PREFIX)) out[k] = n;
    for (const s of this.live.values()) addCounts(out, s.node.stats.snapshot(REFUSED_METHOD_PREFIX));
    return Object.fromEntries(Object.entries(out).map(([k, n]) => [k.slice(REFUSED_METHOD_PREFIX.length), n]));
  }

  close(): void {
    for (const s of [...this.live.values()]) this.leave(s);
  }

  private accessMs(name: string): number {
    if (name === SERVER) return SERVER_ACCESS_MS;
    let ms = this.access.get(name);
    if (ms === undefined) {
      // Log-normal access latency: half of the median one-way latency each side, sigma 0.5.
      const z = Math.sqrt(-2 * Math.log(1 - this.random.float())) * Math.cos(2 * Math.PI * this.random.float());
      ms = (this.options.latencyMedianMs / 2) * Math.exp(0.5 * z);
      this.access.set(name, ms);
    }
    return ms;
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms));
  }

  private makeBootstrap(): Bootstrap {
    return {
      peers: async (self, n) => {
        const out = new Set<string>();
        const want = Math.min(n, this.liveList.length - 1);
        for (let tries = 0; out.size < want && tries < 10 * n; tries++) {
          const hex = this.liveList[this.random.int(this.liveList.length)]!;
          if (hex !== self) out.add(hex);
        }
        // The signal server counts its registered tabs, liars' included.
        return { ids: [...out], live: this.liveList.length };
      },
      // The signal server's is-tab query (signal-server/hub.ts): liars' tabs are tabs too.
      isTab: async (id) => {
        await this.delay(SERVER_ACCESS_MS);
        return this.live.has(id);
      },
      exchange: async (from, to, payload) => {
        const fromSim = this.live.get(from);
        const target = this.live.get(to);
        if (!fromSim) return { busyMs: 60_000 };
        if (!target) {
          // As the signal server answers a relay to a node it has no socket for (signal-server/hub.ts).
          await this.delay(2 * (this.accessMs(fromSim.name) + SERVER_ACCESS_MS));
          throw new PeerchatError(ErrorCode.NotFound, 'That node is not connected to the server');
        }
        await this.delay(this.accessMs(fromSim.name) + SERVER_ACCESS_MS + this.accessMs(target.name));
        const reply = await target.node.handleSignal(from, payload);
        await this.delay(this.accessMs(target.name) + SERVER_ACCESS_MS + this.accessMs(fromSim.name));
        return reply;
      },
    };
  }

  /**
   * Heavy-tailed sessions: Weibull with shape 0.5 (P2P measurements find 0.3-0.6) and mean
   * 1/churn hours, so the live population loses `churn` of itself per hour.
   */
  private scheduleDeparture(sim: SimNode): void {
    const meanMs = 3_600_000 / this.options.churnPerHour;
    const u = 1 - this.random.float();
    const sessionMs = (meanMs / 2) * Math.log(u) ** 2;
    this.clock.setTimeout(() => {
      if (this.live.get(sim.node.hex) !== sim) return;
      this.leave(sim);
      this.offline.push(sim.identity);
      // Someone arrives in its place within minutes: a returning user or a new one.
      const returning = this.random.float() < this.options.returnFraction && this.offline.length > 1;
      const next = returning ? this.offline.splice(this.random.int(this.offline.length - 1), 1)[0] : undefined;
      this.clock.setTimeout(() => void this.spawn(next), 60_000 + this.random.float() * 240_000);
    }, sessionMs);
  }
}

/** The counters of refusals for capacity (dht/node.ts, dht/channels.ts). */
export const REFUSED_COUNTERS = ['request-refused-rate', 'request-refused-in-flight', 'forward-rate-limited', 'offer-limited-source', 'offer-limited-total'];

export function refusedCount(node: KademliaNode): number {
  let n = 0;
  for (const name of REFUSED_COUNTERS) n += node.stats.get(name);
  return n;
}

/** What Simulation keeps of a node's counters when its session ends: its refusals for capacity. */
function refusalCounts(node: KademliaNode): Record<string, number> {
  const out = node.stats.snapshot(REFUSED_METHOD_PREFIX);
  for (const name of REFUSED_COUNTERS) out[name] = node.stats.get(name);
  return out;
}

/** Adds `counts` into `into`, name by name. */
function addCounts(into: Record<string, number>, counts: Record<string, number>): void {
  for (const [k, n] of Object.entries(counts)) into[k] = (into[k] ?? 0) + n;
}
