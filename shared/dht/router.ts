/**
 * Recursive routing decisions (R/Kademlia, Heep 2010), as pure functions of the message and the
 * set of open channels. WebRTC cannot dial a node id, so a request travels hop by hop over
 * channels that are already open; the node that has no neighbour strictly closer to the key is
 * where it arrives, and the reply retraces the path. The node does the I/O; this file decides.
 */
import { HOP_BUDGET_MARGIN_MS, MAX_HOPS, REPLICATION } from './constants.ts';
import { compareDistance, ID_BITS, log2Distance, type NodeId } from '../lib/id.ts';
import { insertSorted } from './routing-table.ts';

export interface Neighbour {
  readonly id: NodeId;
  readonly hex: string;
}

export interface RouteState {
  /** Target key. */
  key: NodeId;
  /** Hops taken so far. */
  hops: number;
  /** Hop limit carried in the message. */
  maxHops: number;
  /** Time budget left, ms. */
  budgetMs: number;
  /** A node never to deliver to (the origin of a lookup of its own id). */
  avoid?: string;
}

export type RouteDecision =
  | { action: 'forward'; to: Neighbour; next: RouteState }
  | { action: 'arrived' }
  | { action: 'drop'; reason: 'hop-limit' | 'budget' };

/**
 * Where a routed message goes next from `self`: to the open neighbour closest to the key if it
 * is strictly closer than self, skipping `exclude` (the hop it came from and neighbours that
 * already failed); otherwise it has arrived.
 */
export function decideRoute(
  self: NodeId,
  route: RouteState,
  neighbours: Iterable<Neighbour>,
  exclude: ReadonlySet<string> = new Set(),
): RouteDecision {
  const best = closestNeighbour(route.key, neighbours, exclude, route.avoid);
  if (!best || compareDistance(route.key, best.id, self) >= 0) return { action: 'arrived' };
  if (route.hops + 1 > route.maxHops) return { action: 'drop', reason: 'hop-limit' };
  const budgetMs = route.budgetMs - HOP_BUDGET_MARGIN_MS;
  if (budgetMs <= 0) return { action: 'drop', reason: 'budget' };
  return { action: 'forward', to: best, next: { ...route, hops: route.hops + 1, budgetMs } };
}

export function closestNeighbour(
  key: NodeId,
  neighbours: Iterable<Neighbour>,
  exclude: ReadonlySet<string> = new Set(),
  avoid?: string,
): Neighbour | null {
  let best: Neighbour | null = null;
  for (const n of neighbours) {
    if (exclude.has(n.hex) || n.hex === avoid) continue;
    if (!best || compareDistance(key, n.id, best.id) < 0) best = n;
  }
  return best;
}

/**
 * First hops of a lookup that starts at `self`: up to `paths` distinct neighbours, closest to
 * the key first. Records and mailboxes use two disjoint first hops so that one bad or departed
 * neighbour cannot hide a key; the second path uses the second-closest neighbour even if it is
 * not closer than self, which still converges since every later hop is greedy.
 */
export function firstHops(key: NodeId, neighbours: Iterable<Neighbour>, paths: number): Neighbour[] {
  const out: Neighbour[] = [];
  for (const n of neighbours) insertSorted(out, n, key, paths);
  return out;
}

/** The r closest to key among self and the neighbours: what an arrived lookup answers. */
export function closestSet(key: NodeId, self: Neighbour, neighbours: Iterable<Neighbour>, r = REPLICATION): Neighbour[] {
  const out: Neighbour[] = [self];
  for (const n of neighbours) if (n.hex !== self.hex) insertSorted(out, n, key, r);
  return out.length > r ? out.slice(0, r) : out;
}

/**
 * Whether `candidate` is in closestSet(key, self, neighbours, r), without building the set: it
 * is self or one of the neighbours, and fewer than r of the others are closer to key. Ids are
 * distinct, so the set is the r closest whatever the order. For callers that ask about one
 * node at a time: a new channel is checked against every item a holder keeps, and building
 * the set for each was 5% of a chat simulation's CPU.
 */
export function inClosestSet(key: NodeId, self: Neighbour, neighbours: Iterable<Neighbour>, candidate: Neighbour, r: number): boolean {
  let present = candidate.hex === self.hex;
  let closer = present || compareDistance(key, self.id, candidate.id) >= 0 ? 0 : 1;
  for (const n of neighbours) {
    if (n.hex === self.hex) continue;
    if (n.hex === candidate.hex) present = true;
    else if (compareDistance(key, n.id, candidate.id) < 0 && ++closer >= r) return false;
  }
  return present && closer < r;
}

/**
 * Estimates the number of nodes from how far away the r-th nearest neighbour is: in a uniform
 * id space, r nodes within distance d means about r * 2^160 / d nodes in all.
 */
export function estimateNetworkSize(self: NodeId, nearest: readonly Neighbour[]): number {
  if (nearest.length === 0) return 1;
  const log2 = log2Distance(self, nearest[nearest.length - 1]!.id);
  if (log2 === -Infinity) return nearest.length + 1;
  return Math.max(nearest.length + 1, Math.round(nearest.length * 2 ** (ID_BITS - log2)));
}

/** The hop limit carried in a new routed message: 2 * log2(N) + 4, capped by MAX_HOPS. */
export function hopLimit(estimatedNodes: number): number {
  return Math.min(MAX_HOPS, Math.ceil(2 * Math.log2(Math.max(2, estimatedNodes)) + 4));
}
