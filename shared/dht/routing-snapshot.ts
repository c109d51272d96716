/**
 * Which nodes a node had channels to, saved so that after a reload it dials them again along
 * with what its join lookup finds (the browser saves every 30 s). What is read back is disk,
 * so untrusted: checked, filtered and bounded.
 */
import { isValidIdHex } from '../lib/id.ts';
import type { Store } from '../lib/store.ts';
import { K_BUCKET_SIZE } from './constants.ts';

interface RoutingSnapshot {
  at: number;
  nodes: string[];
}

/** A snapshot older than this names nodes that have most likely moved on. */
const ROUTING_SNAPSHOT_MAX_AGE_MS = 30 * 60_000;

export async function saveRoutingSnapshot(store: Store, now: number, neighbours: readonly string[]): Promise<void> {
  const snapshot: RoutingSnapshot = { at: now, nodes: [...neighbours] };
  await store.put('routing', 'snapshot', snapshot);
}

/** The saved neighbours, if the snapshot is recent enough to be worth dialing. */
export async function rememberedNeighbours(store: Store, now: number, selfHex: string): Promise<string[]> {
  const s = await store.get<RoutingSnapshot>('routing', 'snapshot');
  if (typeof s !== 'object' || s === null || !Number.isSafeInteger(s.at) || !Array.isArray(s.nodes)) return [];
  if (now - s.at > ROUTING_SNAPSHOT_MAX_AGE_MS) return [];
  return s.nodes.filter((h): h is string => isValidIdHex(h) && h !== selfHex).slice(0, 4 * K_BUCKET_SIZE);
}
