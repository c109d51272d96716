/**
 * One shared NodeId and one shared hex string per id value, process-wide. The simulator runs
 * thousands of nodes in one process, and each holds the ids of its ~30 neighbours, parsed from
 * the wire: without sharing, every holder pays ~230 bytes for the Uint8Array and ~60 for the hex.
 * Ids are values that the engine never mutates, so sharing the objects changes nothing but
 * memory. Entries are weak: an id that nothing holds any more is forgotten. (A browser tab runs
 * one node, so there it saves little, and costs as little.)
 */
import { idFromHex, type NodeId } from '../lib/id.ts';

interface Entry {
  /** The shared string; also the key it is filed under. */
  readonly hex: string;
  readonly id: WeakRef<NodeId>;
}

const entries = new Map<string, Entry>();
const forget = new FinalizationRegistry<string>((hex) => {
  if (entries.get(hex)?.id.deref() === undefined) entries.delete(hex);
});

/** The shared id for this hex; null when it is not a valid id (untrusted input). */
export function internId(hex: string): NodeId | null {
  const known = entries.get(hex)?.id.deref();
  if (known) return known;
  const id = idFromHex(hex);
  if (id) {
    entries.set(hex, { hex, id: new WeakRef(id) });
    forget.register(id, hex);
  }
  return id;
}

/** The shared string equal to `hex`, once internId has seen that id; else `hex` itself. */
export function internHex(hex: string): string {
  const entry = entries.get(hex);
  return entry?.id.deref() ? entry.hex : hex;
}
