/**
 * The lookup experiment behind `npm run sim`: build a network of N nodes, let it settle, then
 * run lookups for random keys from random live nodes while churn goes on, and compare every
 * answer with the oracle's true r closest live nodes.
 */
import { REFRESH_INTERVAL_MS, REPLICATION } from '../dht/constants.ts';
import { idToHex } from '../lib/id.ts';
import { hopLimit } from '../dht/router.ts';
import { Simulation } from './simulation.ts';

export interface ExperimentOptions {
  nodes: number;
  lookups: number;
  /** Fraction of live nodes leaving per hour. */
  churn: number;
  /** Simulated hours over which the lookups are spread (churn runs throughout). */
  hours: number;
  seed: number;
  /** Disjoint first hops per lookup. */
  paths?: number;
  latencyMs?: number;
  loss?: number;
  /** Growth rate of the network while it is built, per hour (arrivals = rate x live nodes). */
  growthPerHour?: number;
  /** Simulated time between the last arrival and the first lookup. */
  settleMs?: number;
  /** Ed25519 for every signature (SimOptions.realSignatures); the result must not change. */
  realSignatures?: boolean;
}

export interface Summary {
  median: number;
  p95: number;
}

export interface ExperimentResult {
  nodes: number;
  lookups: number;
  churn: number;
  hours: number;
  seed: number;
  trueClosestFraction: number;
  failedLookups: number;
  /**
   * Why inexact lookups were inexact: a departed node in the answer, or a live one missing.
   * `closestKnew` counts those where the key's true closest node had the true set among its
   * channels when the answer came (so the route ended short of it); the rest it lacked too.
   */
  inexact: { withDeparted: number; missingNewcomer: number; missingSettled: number; closestKnew: number };
  messagesPerLookup: Summary;
  hops: Summary;
  maxHopsSeen: number;
  hopLimit: number;
  latencyMs: Summary;
  maxLatencyMs: number;
  maxConnectionsCreated: number;
  /** Sessions whose budget reached CONNECTION_CAP (it refused them more), of `sessions` in all. */
  sessionsAtCap: number;
  sessions: number;
  /** Requests and offers honest nodes refused for capacity (Simulation.refusedForCapacity): 0. */
  honestRefused: number;
  channelsPerNode: Summary;
  departures: number;
  heapPerNodeKiB: number;
  /** Wall time of the whole run, building the network included. */
  wallMs: number;
  /** Wall time of the lookup phase alone (churn and upkeep run meanwhile; teardown not included). */
  lookupWallMs: number;
}

export interface Tracked {
  messages: number;
  hops: number;
}

export async function runExperiment(o: ExperimentOptions): Promise<ExperimentResult> {
  const wallStart = performance.now();
  const heapBefore = heapUsed();
  const sim = new Simulation({ seed: o.seed, churnPerHour: o.churn, latencyMedianMs: o.latencyMs ?? 50, lossRate: o.loss ?? 0, realSignatures: o.realSignatures ?? false });
  await sim.grow(o.nodes, o.growthPerHour, o.settleMs);
  const heapPerNodeKiB = (heapUsed() - heapBefore) / sim.live.size / 1024;

  const lookupStart = performance.now();
  const tracked = new Map<string, Tracked>();
  const replies = new Map<string, Tracked>();
  sim.network.options.onFrame = (from, to, text) => countFrame(tracked, replies, from, to, text);

  const results: Array<{ ok: boolean; failed: boolean; latency: number; t: Tracked }> = [];
  const inexact = { withDeparted: 0, missingNewcomer: 0, missingSettled: 0, closestKnew: 0 };
  const inFlight: Promise<void>[] = [];
  const spacing = (o.hours * 3_600_000) / o.lookups;
  const lookupRandom = sim.random.fork();
  for (let i = 0; i < o.lookups; i++) {
    const from = sim.randomLive(lookupRandom);
    const key = lookupRandom.bytes(20);
    const keyHex = idToHex(key);
    const t: Tracked = { messages: 0, hops: 0 };
    tracked.set(keyHex, t);
    const started = sim.clock.now();
    inFlight.push(
      from.node.lookup(key, o.paths ?? 2).then(
        (res): void => {
          const truth = sim.closestLive(key, REPLICATION);
          const ok = truth.length === res.nodes.length && truth.every((h, j) => res.nodes[j] === h);
          if (!ok) {
            // A newcomer is a node that joined less than one refresh period ago.
            const missing = truth.filter((h) => !res.nodes.includes(h));
            const newest = Math.max(...missing.map((h) => sim.live.get(h)!.joinedAt));
            if (res.nodes.some((h) => !sim.live.has(h))) inexact.withDeparted++;
            else if (sim.clock.now() - newest < REFRESH_INTERVAL_MS) inexact.missingNewcomer++;
            else inexact.missingSettled++;
            const view = sim.live.get(truth[0]!)!.node.closestTo(key, REPLICATION).map((n) => n.hex);
            if (view.length === truth.length && view.every((h, j) => truth[j] === h)) inexact.closestKnew++;
          }
          results.push({ ok, failed: res.answered === 0, latency: sim.clock.now() - started, t });
        },
        (): void => void results.push({ ok: false, failed: true, latency: sim.clock.now() - started, t }),
      ),
    );
    await sim.run(spacing);
  }
  await sim.until(Promise.all(inFlight), 30_000);
  const lookupWallMs = Math.round(performance.now() - lookupStart);
  const channels = [...sim.live.values()].map((s) => s.node.neighbours().length);
  const maxConnectionsCreated = sim.maxConnectionsCreated();
  const sessionsAtCap = sim.sessionsAtCap();
  const sessions = sim.sessionCount;
  const honestRefused = sim.refusedForCapacity();
  const estimated = hopLimit(sim.live.size);
  sim.close();
  return {
    nodes: o.nodes,
    lookups: o.lookups,
    churn: o.churn,
    hours: o.hours,
    seed: o.seed,
    trueClosestFraction: results.filter((r) => r.ok).length / o.lookups,
    failedLookups: results.filter((r) => r.failed).length,
    inexact,
    messagesPerLookup: summarize(results.map((r) => r.t.messages)),
    hops: summarize(results.map((r) => r.t.hops)),
    maxHopsSeen: Math.max(0, ...results.map((r) => r.t.hops)),
    hopLimit: estimated,
    latencyMs: summarize(results.map((r) => r.latency)),
    maxLatencyMs: Math.max(0, ...results.map((r) => r.latency)),
    maxConnectionsCreated,
    sessionsAtCap,
    sessions,
    honestRefused,
    channelsPerNode: summarize(channels),
    departures: sim.departures,
    heapPerNodeKiB: Math.round(heapPerNodeKiB * 10) / 10,
    wallMs: Math.round(performance.now() - wallStart),
    lookupWallMs,
  };
}

/**
 * Counts a frame against the lookup whose key it routes, and the replies that retrace it.
 * Called for every frame the network carries, upkeep included (millions at N = 10,000), so it
 * reads the route key or reply id straight off the text and parses only frames it counts.
 */
export function countFrame(tracked: Map<string, Tracked>, replies: Map<string, Tracked>, from: string, to: string, text: string): void {
  if (tracked.size === 0) return;
  if (text.startsWith(REQUEST_PREFIX)) {
    // The route goes last (rpc.ts), and a quote inside a string value is escaped, so this
    // finds the route's key and nothing else.
    const at = text.lastIndexOf(ROUTE_KEY);
    if (at < 0 || !tracked.has(text.slice(at + ROUTE_KEY.length, at + ROUTE_KEY.length + 40))) return;
  } else if (text.startsWith(RESPONSE_PREFIX) || text.startsWith(ERROR_PREFIX)) {
    const idEnd = text.indexOf(',', RESPONSE_PREFIX.length);
    if (!replies.has(`${from}>${to}#${text.slice(RESPONSE_PREFIX.length, idEnd)}`)) return;
  }
  countParsed(tracked, replies, from, to, text);
}

/** countFrame without its shortcut: parses every frame. What the shortcut must agree with. */
export function countParsed(tracked: Map<string, Tracked>, replies: Map<string, Tracked>, from: string, to: string, text: string): void {
  const frame = JSON.parse(text) as { t: string; id?: number; r?: { k: string; h: number } };
  if (frame.t === 'req' && frame.r) {
    const t = tracked.get(frame.r.k);
    if (!t) return;
    t.messages++;
    t.hops = Math.max(t.hops, frame.r.h);
    replies.set(`${to}>${from}#${frame.id}`, t);
  } else if (frame.t === 'res' || frame.t === 'err') {
    const k = `${from}>${to}#${frame.id}`;
    const t = replies.get(k);
    if (!t) return;
    t.messages++;
    replies.delete(k);
  }
}

/** How encodeFrame's JSON.stringify begins each kind of frame (both ids are integers). */
const REQUEST_PREFIX = '{"t":"req","id":';
const RESPONSE_PREFIX = '{"t":"res","id":';
const ERROR_PREFIX = '{"t":"err","id":';
const ROUTE_KEY = '"r":{"k":"';

/** Runs `run`, then whatever it asked to stop when the run ends (a progress timer), however it ends. */
export async function withStops<T>(run: (stops: Array<() => void>) => Promise<T>): Promise<T> {
  const stops: Array<() => void> = [];
  try {
    return await run(stops);
  } finally {
    for (const stop of stops) stop();
  }
}

/**
 * A line of progress to `progress` about once a minute of wall time, for runs that take hours:
 * `line()` says where the run is, and the wall time so far is added. A wall-clock timer that only
 * reads state, so it does not change the simulation's course; its stop is pushed onto `stops`.
 */
export function progressTicker(progress: ((line: string) => void) | undefined, stops: Array<() => void>, line: () => string): void {
  if (!progress) return;
  const wallStart = performance.now();
  const ticker = setInterval(() => progress(`${line()}; ${Math.round((performance.now() - wallStart) / 1000)} s of wall time`), PROGRESS_WALL_MS);
  ticker.unref();
  stops.push(() => clearInterval(ticker));
}

const PROGRESS_WALL_MS = 60_000;

export function summarize(values: number[]): Summary {
  return { median: quantile(values, 0.5), p95: quantile(values, 0.95) };
}

/** The value at quantile q (nearest rank, rounded to 0.1); 0 for no values. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10;
}

function heapUsed(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return (globalThis as { process?: { memoryUsage(): { heapUsed: number } } }).process?.memoryUsage().heapUsed ?? 0;
}
