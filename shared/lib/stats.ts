const SAMPLES_KEPT = 256;

/** Named counters: drops by reason, channels made, records refused. Cheap enough for hot paths. */
export class Stats {
  private readonly counters = new Map<string, number>();
  /** Created on the first sample: most nodes of a simulation never take one. */
  private samplesByName: Map<string, number[]> | undefined;

  count(name: string, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  get(name: string): number {
    return this.counters.get(name) ?? 0;
  }

  /** Keeps the last SAMPLES_KEPT values of a measurement (connection setup times, say). */
  sample(name: string, value: number): void {
    const list = (this.samplesByName ??= new Map()).get(name) ?? [];
    if (list.length >= SAMPLES_KEPT) list.shift();
    list.push(value);
    this.samplesByName.set(name, list);
  }

  samples(name: string): readonly number[] {
    return this.samplesByName?.get(name) ?? [];
  }

  /** Counters whose name starts with `prefix`, as a plain object. */
  snapshot(prefix = ''): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of [...this.counters].sort(([a], [b]) => (a < b ? -1 : 1))) if (k.startsWith(prefix)) out[k] = v;
    return out;
  }
}
