/** Named counters: drops by reason, channels made, records refused. Cheap enough for hot paths. */
export class Stats {
  private readonly counters = new Map<string, number>();

  count(name: string, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  get(name: string): number {
    return this.counters.get(name) ?? 0;
  }

  /** Counters whose name starts with `prefix`, as a plain object. */
  snapshot(prefix = ''): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of [...this.counters].sort(([a], [b]) => (a < b ? -1 : 1))) if (k.startsWith(prefix)) out[k] = v;
    return out;
  }
}
