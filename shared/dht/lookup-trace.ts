/**
 * A lookup whose path can be drawn (the Network panel's): the walk a routed FIND_NODE takes,
 * made one hop at a time from here so that every hop and its time are seen. A routed request
 * shows its sender only its first hop and the answer (recursive Kademlia: the hops between
 * forward it and say nothing), so here each hop is asked itself for its closest set to the key,
 * directly when it is a neighbour and else routed to its id, and the next hop is the closest it
 * names that is closer to the key than itself: the neighbour it would forward a routed request
 * to. A hop that names none closer is where a routed request arrives. A diagnostic: it costs
 * about h²/2 forwards for a path of h hops where a routed lookup costs h, so nothing but the
 * panel's button runs it. Bounded: at most TRACE_MAX_HOPS hops on each path.
 */
import { ErrorCode, PeerchatError, isPeerchatError } from '../lib/errors.ts';
import { compareDistance, idFromHex, idToHex, type NodeId } from '../lib/id.ts';
import type { Clock } from '../lib/clock.ts';
import type { ContactWire } from './contacts.ts';
import type { Peer, RouteOptions } from './context.ts';
import type { RequestBodyOf, ResponseBodyOf } from './protocol.ts';
import { closestSet, firstHops, type Neighbour } from './router.ts';

/** Hops one path of a traced lookup may take (a routed request's limit is far higher: MAX_HOPS). */
export const TRACE_MAX_HOPS = 12;
/** How long one hop has to answer before the path is given up there. */
export const TRACE_HOP_TIMEOUT_MS = 4_000;

export type HopOutcome = 'answered' | 'timeout' | 'failed';

export interface TraceHop {
  /** The path (0-based, one per disjoint first hop) and the hop on it (1: a neighbour of this node). */
  path: number;
  hop: number;
  hex: string;
  /** Milliseconds since the lookup began when it answered, or when it was given up on. */
  ms: number;
  outcome: HopOutcome;
  /** Asked through the overlay, routed to its id (its answer is taken as its own), not over a channel. */
  routed: boolean;
}

export interface LookupTrace {
  key: string;
  /** The r closest to the key among this node and every node the hops named (its channels when no hop was taken). */
  nodes: string[];
  /** Paths that reached the hop where a routed request arrives. */
  arrived: number;
  paths: number;
  hops: TraceHop[];
  ms: number;
}

/** What the walk uses of its node (KademliaNode). */
export interface TraceHost {
  readonly hex: string;
  readonly self: Neighbour;
  readonly clock: Clock;
  readonly replication: number;
  neighbours(): Peer[];
  peer(hex: string): Peer | undefined;
  direct(peer: Peer, method: 'FIND_NODE', body: RequestBodyOf<'FIND_NODE'>, timeoutMs?: number): Promise<ResponseBodyOf<'FIND_NODE'>>;
  routeFromHere(method: 'FIND_NODE', body: RequestBodyOf<'FIND_NODE'>, key: NodeId, paths?: number, opts?: RouteOptions): Promise<ResponseBodyOf<'FIND_NODE'>[]>;
  contactIds(contacts: readonly ContactWire[], answeredBy?: Peer): string[];
}

/** Walks toward key over `paths` disjoint first hops, one hop at a time, and times each hop. */
export async function traceLookup(host: TraceHost, key: NodeId, paths: number): Promise<LookupTrace> {
  const started = host.clock.now();
  const hops: TraceHop[] = [];
  const named = new Map<string, Neighbour>();
  // Only neighbours closer to the key than this node: with none, a routed lookup answers here.
  const first = firstHops(key, host.neighbours(), paths).filter((n) => compareDistance(key, n.id, host.self.id) < 0);
  const ends = await Promise.all(first.map((n, path) => walk(host, key, n, path, started, hops, named)));
  const nodes = closestSet(key, host.self, first.length === 0 ? host.neighbours() : named.values(), host.replication).map((n) => n.hex);
  hops.sort((a, b) => a.path - b.path || a.hop - b.hop);
  return { key: idToHex(key), nodes, arrived: first.length === 0 ? 1 : ends.filter(Boolean).length, paths: first.length, hops, ms: Math.round(host.clock.now() - started) };
}

/** One path: true when it reached a hop that names none closer to the key than itself. */
async function walk(host: TraceHost, key: NodeId, first: Neighbour, path: number, started: number, hops: TraceHop[], named: Map<string, Neighbour>): Promise<boolean> {
  const target = idToHex(key);
  const seen = new Set([host.hex]);
  let at = first;
  for (let hop = 1; hop <= TRACE_MAX_HOPS; hop++) {
    seen.add(at.hex);
    const peer = host.peer(at.hex);
    const entry: TraceHop = { path, hop, hex: at.hex, ms: 0, outcome: 'answered', routed: !peer };
    hops.push(entry);
    let ids: string[];
    try {
      ids = await ask(host, at, peer, target);
    } catch (err) {
      entry.outcome = isPeerchatError(err, ErrorCode.Timeout) ? 'timeout' : 'failed';
      return false;
    } finally {
      entry.ms = Math.round(host.clock.now() - started);
    }
    let next: Neighbour | null = null;
    for (const hex of ids) {
      const n = named.get(hex) ?? { id: idFromHex(hex)!, hex };
      named.set(hex, n);
      if (!seen.has(hex) && compareDistance(key, n.id, (next ?? at).id) < 0) next = n;
    }
    if (!next) return true;
    at = next;
  }
  return false;
}

/** A hop's closest set to the key: over its channel, or routed to its id. */
async function ask(host: TraceHost, at: Neighbour, peer: Peer | undefined, target: string): Promise<string[]> {
  if (peer) return host.contactIds((await host.direct(peer, 'FIND_NODE', { target }, TRACE_HOP_TIMEOUT_MS)).nodes, peer);
  let why: unknown = new PeerchatError(ErrorCode.NoRoute, 'No path answered');
  const failed = (err: unknown) => (why = err);
  const [a] = await host.routeFromHere('FIND_NODE', { target }, at.id, 1, { leave: true, timeoutMs: TRACE_HOP_TIMEOUT_MS, failed });
  if (!a) throw why;
  return host.contactIds(a.nodes);
}
