/**
 * The embedded backend: one process, every tab in a Map. Relays are a direct call on the
 * target's LocalTab, and "least recently handed out" is a sequence number per tab.
 */
import { ErrorCode, PeerchatError } from '../../shared/lib/errors.ts';
import type { Random } from '../../shared/lib/random.ts';
import type { DeliverResult, LocalTab, SignalBackend } from './backend.ts';

interface Entry {
  tab: LocalTab;
  /** When this tab was last handed out, as a sequence number; 0 = never. */
  handedSeq: number;
}

export class MemoryBackend implements SignalBackend {
  private readonly tabs = new Map<string, Entry>();
  private handSeq = 0;
  private closed = false;

  /** `random` breaks ties between tabs handed out equally long ago. */
  constructor(private readonly random: Random) {}

  async register(tab: LocalTab): Promise<void> {
    this.checkOpen();
    const previous = this.tabs.get(tab.id);
    // Set first, so the older tab's unregister (its socket closing) leaves the new one in place.
    this.tabs.set(tab.id, { tab, handedSeq: 0 });
    previous?.tab.replaced();
  }

  async unregister(tab: LocalTab): Promise<void> {
    this.checkOpen();
    if (this.tabs.get(tab.id)?.tab === tab) this.tabs.delete(tab.id);
  }

  /** Ties (most often "never handed out") go by scan order from a random start. */
  async pickPeers(askerId: string, n: number): Promise<string[]> {
    this.checkOpen();
    const all = [...this.tabs.values()];
    const start = all.length === 0 ? 0 : this.random.int(all.length);
    const picked: Entry[] = [];
    for (let i = 0; i < all.length; i++) {
      const entry = all[(start + i) % all.length]!;
      if (entry.tab.id === askerId) continue;
      let at = picked.length;
      while (at > 0 && picked[at - 1]!.handedSeq > entry.handedSeq) at--;
      if (at < n) {
        picked.splice(at, 0, entry);
        if (picked.length > n) picked.pop();
      }
    }
    for (const entry of picked) entry.handedSeq = ++this.handSeq;
    return picked.map((entry) => entry.tab.id);
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
