/**
 * What the DHT fuzzer (sim/fuzz.ts) records per kind of frame: how many it sent, what
 * parseFrame made of each, what the victim's counters moved by, exceptions, and wall time.
 */
import { parseFrame, parseResponseBody, type Method } from '../dht/protocol.ts';
import type { Stats } from '../lib/stats.ts';
import type { ExceptionTrap } from './fuzz-gen.ts';

export interface KindReport {
  frames: number;
  exceptions: number;
  /** parseFrame's verdicts: `ok-<type>` or the drop reason (replies: `body-ok` / `body-bad` too). */
  parsed: Record<string, number>;
  /** What the victim's counters moved by while this kind was fed (drops, refusals, routing). */
  counters: Record<string, number>;
  wallMs: number;
}

export class FuzzLedger {
  readonly kinds: Record<string, KindReport> = {};
  private readonly started = new Map<string, { at: number; before: Record<string, number> }>();

  constructor(
    private readonly trap: ExceptionTrap,
    private readonly stats: Stats,
  ) {}

  get frames(): number {
    return Object.values(this.kinds).reduce((n, k) => n + k.frames, 0);
  }

  begin(kind: string): void {
    this.trap.kind = kind;
    this.kinds[kind] ??= { frames: 0, exceptions: 0, parsed: {}, counters: {}, wallMs: 0 };
    this.started.set(kind, { at: performance.now(), before: this.stats.snapshot() });
  }

  /** One frame sent: parsed here too, and for a reply to `replyTo`, its body checked. */
  count(kind: string, text: string, replyTo?: string): void {
    const k = this.kinds[kind]!;
    k.frames++;
    let verdict: string;
    try {
      const parsed = parseFrame(text);
      verdict = parsed.ok ? `ok-${parsed.frame.t}` : parsed.reason;
      if (parsed.ok && parsed.frame.t === 'res' && replyTo) {
        verdict = parseResponseBody(replyTo as Method, parsed.frame.b) === null ? 'body-bad' : 'body-ok';
      }
    } catch (err) {
      this.trap.record(err, text);
      verdict = 'threw';
    }
    k.parsed[verdict] = (k.parsed[verdict] ?? 0) + 1;
  }

  /** Something the fuzzer itself did (a reconnect, a refused session). */
  note(kind: string, what: string): void {
    const counters = this.kinds[kind]!.counters;
    counters[what] = (counters[what] ?? 0) + 1;
  }

  end(kind: string): void {
    const k = this.kinds[kind]!;
    const { at, before } = this.started.get(kind)!;
    for (const [name, v] of Object.entries(this.stats.snapshot())) {
      if (v !== (before[name] ?? 0)) k.counters[name] = v - (before[name] ?? 0);
    }
    k.exceptions = (this.trap.byKind.get(kind) ?? 0) + (k.counters['handler-crashed'] ?? 0);
    k.wallMs = Math.round(performance.now() - at);
  }
}
