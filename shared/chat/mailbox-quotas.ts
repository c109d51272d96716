/**
 * What a holder keeps, by whom it was handed over and for whom, and what it evicts to make
 * room (ARCHITECTURE.md, "Rules the code keeps"). Pure data: the mailbox service asks `plan`
 * which entries must go before a new one fits, commits that, then tells the ledger.
 *
 * Three limits, each enforced by evicting, never by refusing: a neighbour over its share loses
 * its own oldest entry; a recipient over its share loses the oldest entry of the neighbour that
 * handed over most for it; a full holder loses the oldest entry of the neighbour that handed
 * over most in all. A flooding neighbour so only ever replaces what it brought, and honest
 * traffic from others is taken. The same ledger counts tombstones, grouped by recipient.
 */

export interface QuotaLimits {
  perNeighbour: number;
  perRecipient: number;
  total: number;
}

interface Item {
  to: string;
  from: string;
  size: number;
}

/** Items of one group, oldest first (a Set keeps insertion order), and their size. */
class Group {
  readonly keys = new Set<string>();
  size = 0;
}

class Groups {
  readonly map = new Map<string, Group>();

  add(name: string, key: string, size: number): void {
    let g = this.map.get(name);
    if (!g) this.map.set(name, (g = new Group()));
    g.keys.add(key);
    g.size += size;
  }

  remove(name: string, key: string, size: number): void {
    const g = this.map.get(name);
    if (!g?.keys.delete(key)) return;
    g.size -= size;
    if (g.keys.size === 0) this.map.delete(name);
  }
}

export class QuotaLedger {
  private readonly items = new Map<string, Item>();
  private readonly byNeighbour = new Groups();
  private readonly byRecipient = new Groups();
  /** Per recipient, by neighbour: which neighbour's entries a full recipient loses first. */
  private readonly byPair = new Map<string, Groups>();
  private used = 0;

  constructor(private readonly limits: QuotaLimits) {}

  get total(): number {
    return this.used;
  }

  get count(): number {
    return this.items.size;
  }

  has(key: string): boolean {
    return this.items.has(key);
  }

  /** Keys held for a recipient, oldest first. */
  forRecipient(to: string): Iterable<string> {
    return this.byRecipient.map.get(to)?.keys ?? [];
  }

  /** Size held for a recipient, and from a neighbour. */
  recipientSize(to: string): number {
    return this.byRecipient.map.get(to)?.size ?? 0;
  }

  neighbourSize(from: string): number {
    return this.byNeighbour.map.get(from)?.size ?? 0;
  }

  add(key: string, to: string, from: string, size: number): void {
    if (this.items.has(key)) return;
    this.items.set(key, { to, from, size });
    this.byNeighbour.add(from, key, size);
    this.byRecipient.add(to, key, size);
    let pairs = this.byPair.get(to);
    if (!pairs) this.byPair.set(to, (pairs = new Groups()));
    pairs.add(from, key, size);
    this.used += size;
  }

  remove(key: string): void {
    const it = this.items.get(key);
    if (!it) return;
    this.items.delete(key);
    this.byNeighbour.remove(it.from, key, it.size);
    this.byRecipient.remove(it.to, key, it.size);
    const pairs = this.byPair.get(it.to);
    pairs?.remove(it.from, key, it.size);
    if (pairs?.map.size === 0) this.byPair.delete(it.to);
    this.used -= it.size;
  }

  /**
   * The keys to evict, in order, before an item of `size` for `to` from `from` fits. Empty when
   * it fits already; null when it can never fit (larger than a limit on its own).
   */
  plan(to: string, from: string, size: number): string[] | null {
    const { limits } = this;
    if (size > limits.perNeighbour || size > limits.perRecipient || size > limits.total) return null;
    const out: string[] = [];
    const gone = new Set<string>();
    const less = new Map<string, number>();
    const sizeOf = (prefix: string, name: string, g: Group | undefined) => (g?.size ?? 0) - (less.get(prefix + name) ?? 0);
    const evict = (g: Group | undefined): boolean => {
      const key = g && first(g.keys, gone);
      if (key === undefined) return false;
      const it = this.items.get(key)!;
      gone.add(key);
      out.push(key);
      for (const k of [`n:${it.from}`, `r:${it.to}`, `p:${it.to}|${it.from}`, 't:']) less.set(k, (less.get(k) ?? 0) + it.size);
      return true;
    };
    while (sizeOf('n:', from, this.byNeighbour.map.get(from)) + size > limits.perNeighbour) {
      if (!evict(this.byNeighbour.map.get(from))) break;
    }
    while (sizeOf('r:', to, this.byRecipient.map.get(to)) + size > limits.perRecipient) {
      const pairs = this.byPair.get(to);
      if (!pairs || !evict(this.largest(`p:${to}|`, pairs, sizeOf))) break;
    }
    while (this.used - (less.get('t:') ?? 0) + size > limits.total) {
      if (!evict(this.largest('n:', this.byNeighbour, sizeOf))) break;
    }
    return out;
  }

  /** The group with the most left in it after the planned evictions. */
  private largest(prefix: string, groups: Groups, sizeOf: (prefix: string, name: string, g: Group) => number): Group | undefined {
    let best: Group | undefined;
    let bestSize = 0;
    for (const [name, g] of groups.map) {
      const s = sizeOf(prefix, name, g);
      if (s > bestSize) [best, bestSize] = [g, s];
    }
    return best;
  }
}

function first(keys: Set<string>, skip: Set<string>): string | undefined {
  for (const k of keys) if (!skip.has(k)) return k;
  return undefined;
}
