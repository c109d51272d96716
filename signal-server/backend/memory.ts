/**
 * The embedded backend: one process, every tab in a Map. Relays are a direct call on the
 * target's LocalTab; first peers are drawn at random, settled tabs first (backend.ts pickPeers).
 */
import { ErrorCode, PeerchatError } from '../../shared/lib/errors.ts';
import type { Random } from '../../shared/lib/random.ts';
import { SETTLED_TAB_MS } from '../limits.ts';
import type { DeliverResult, LocalTab, SettleOptions, SignalBackend } from './backend.ts';

interface Entry {
  tab: LocalTab;
  /** When this registration was made: a re-register starts it over. */
  since: number;
}

/**
 * Up to `k` of `items` drawn uniformly at random without replacement (a partial Fisher-Yates
 * shuffle). Reorders `items`.
 */
export function drawAtRandom<T>(items: T[], k: number, random: Random): T[] {
  const count = Math.min(k, items.length);
  for (let i = 0; i < count; i++) {
    const j = i + random.int(items.length - i);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items.slice(0, count);
}

export class MemoryBackend implements SignalBackend {
  private readonly tabs = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly settledMs: number;
  private closed = false;

  /** `random` draws the first peers; `options` time the registrations. */
  constructor(
    private readonly random: Random,
    options: SettleOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.settledMs = options.settledMs ?? SETTLED_TAB_MS;
  }

  async register(tab: LocalTab): Promise<void> {
    this.checkOpen();
    const previous = this.tabs.get(tab.id);
    // Set first, so the older tab's unregister (its socket closing) leaves the new one in place.
    this.tabs.set(tab.id, { tab, since: this.now() });
    previous?.tab.replaced();
  }

  async unregister(tab: LocalTab): Promise<void> {
    this.checkOpen();
    if (this.tabs.get(tab.id)?.tab === tab) this.tabs.delete(tab.id);
  }

  async pickPeers(askerId: string, n: number): Promise<string[]> {
    this.checkOpen();
    const cutoff = this.now() - this.settledMs;
    const settled: string[] = [];
    const unsettled: string[] = [];
    for (const [id, entry] of this.tabs) {
      if (id !== askerId) (entry.since <= cutoff ? settled : unsettled).push(id);
    }
    const picked = drawAtRandom(settled, n, this.random);
    return picked.length < n ? [...picked, ...drawAtRandom(unsettled, n - picked.length, this.random)] : picked;
  }

  async live(): Promise<number> {
    this.checkOpen();
    return this.tabs.size;
  }

  async isTab(id: string): Promise<boolean> {
    this.checkOpen();
    return this.tabs.has(id);
  }

  async relay(to: string, frame: string): Promise<DeliverResult> {
    this.checkOpen();
    return this.tabs.get(to)?.tab.deliver(frame) ?? 'not-found';
  }

  async close(): Promise<void> {
    this.closed = true;
    this.tabs.clear();
  }

  private checkOpen(): void {
    if (this.closed) throw new PeerchatError(ErrorCode.Closed, 'The signal backend is closed; create a new server.');
  }
}
