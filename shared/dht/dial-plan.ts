/**
 * Which of the nodes a lookup or a neighbour named deserve a dial: a pure decision over the
 * routing table and the candidates, tested without a network (dial-plan.test.ts). Upkeep
 * (maintenance.ts) carries the plan out. Connections are the scarce resource (Chromium's
 * lifetime cap), so nothing is planned that the overlay does not need.
 */
import { bucketIndex, compareDistance, idFromHex, type NodeId } from '../lib/id.ts';
import type { Neighbour } from './router.ts';
import type { RoutingTable } from './routing-table.ts';

export interface DialPlanInput {
  self: NodeId;
  selfHex: string;
  /** r: the near subtree holds at least this many. */
  replication: number;
  farChannelsPerBucket: number;
  table: Pick<RoutingTable, 'nearBoundary' | 'connectedIn' | 'size'>;
  /** Candidates as named (hex; duplicates, self and garbage allowed). */
  candidates: readonly string[];
  /** Whether a candidate needs no dial: a channel is open or being set up. */
  busy(hex: string): boolean;
  /** Whether a candidate's last dial failed recently. */
  backedOff(hex: string): boolean;
  /** Far buckets that have a dial in progress. */
  farDialing: readonly number[];
}

export interface DialPlan {
  /** Every candidate in the near subtree, nearest first: all of them are dialed. */
  near: string[];
  /** Per far bucket lacking channels, its candidates nearest first: tried in turn until one opens. */
  far: { bucket: number; candidates: Neighbour[] }[];
}

export function planDials(o: DialPlanInput): DialPlan {
  const candidates = usable(o);
  const plan: DialPlan = { near: [], far: [] };
  if (candidates.length === 0) return plan;
  candidates.sort((a, b) => compareDistance(o.self, a.id, b.id));
  // A table that holds r proven nodes sets the near subtree's boundary alone: candidates are
  // only named, and a liar grinds made-up ids deep in a victim's subtree, which counted in would
  // push the victim's real near nodes outside it (to be dialed as far ones, or not at all). A
  // table short of r (a newcomer) has no boundary of its own yet: it takes the one it would
  // have with the candidates in it, and what falls outside that is a far candidate.
  const boundary = o.table.size >= o.replication ? o.table.nearBoundary(o.replication) : o.table.nearBoundary(o.replication, candidates);
  const far = new Map<number, Neighbour[]>();
  for (const c of candidates) {
    const bucket = bucketIndex(o.self, c.id);
    if (bucket <= boundary) plan.near.push(c.hex);
    else if (!o.farDialing.includes(bucket) && o.table.connectedIn(bucket) < o.farChannelsPerBucket) {
      far.set(bucket, [...(far.get(bucket) ?? []), c]);
    }
  }
  for (const [bucket, list] of far) plan.far.push({ bucket, candidates: list });
  return plan;
}

/** Parsed, distinct candidates that are not this node, not connected and not backed off. */
function usable(o: DialPlanInput): Neighbour[] {
  const out: Neighbour[] = [];
  const seen = new Set<string>();
  for (const hex of o.candidates) {
    if (hex === o.selfHex || seen.has(hex) || o.busy(hex) || o.backedOff(hex)) continue;
    seen.add(hex);
    const id = idFromHex(hex);
    if (id) out.push({ id, hex });
  }
  return out;
}
