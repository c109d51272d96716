/**
 * Time, handed to the engine from outside. Real code gets `systemClock`; tests and the simulator
 * get a `FakeClock` they advance by hand, so nothing waits on wall time.
 */
import TinyQueue from 'tinyqueue';

export type TimerHandle = { readonly __timer: unique symbol };

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /**
   * A clock that keeps fractions of a millisecond (FakeClock: simulated latencies are not
   * whole) offers its exact time and timers by deadline, so a Ticker that multiplexes timers
   * fires them at exactly the instants they would have had on their own.
   */
  exactNow?(): number;
  setTimeoutAt?(fn: () => void, at: number): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms) as unknown as TimerHandle,
  clearTimeout: (h) => globalThis.clearTimeout(h as unknown as ReturnType<typeof setTimeout>),
};

/**
 * Timers one object owns: each is forgotten once it fires, and clear() cancels the rest. The
 * set is made on first use: every simulated node owns a few of these, most of them idle, and
 * an empty Set costs V8 about 180 bytes.
 */
export class TimerSet {
  private handles: Set<TimerHandle> | null = null;
  constructor(private readonly clock: Clock) {}

  set(fn: () => void, ms: number): void {
    const handle = this.clock.setTimeout(() => {
      this.handles?.delete(handle);
      fn();
    }, ms);
    (this.handles ??= new Set()).add(handle);
  }

  clear(): void {
    if (!this.handles) return;
    for (const h of this.handles) this.clock.clearTimeout(h);
    this.handles = null;
  }
}

interface Timer {
  at: number;
  seq: number;
  fn: (() => void) | null;
}

/** Earlier time first, then creation order: a total order, so any heap pops the same sequence. */
function byTimeThenSeq(a: Timer, b: Timer): number {
  return a.at - b.at || a.seq - b.seq;
}

/**
 * A clock whose time moves only when told. Timers fire in (time, creation order) order, so a
 * run is reproducible. The simulator keeps millions of timers, in a binary heap (tinyqueue):
 * cancelled ones stay in it, marked, until they reach the top.
 */
export class FakeClock implements Clock {
  private time: number;
  private seq = 0;
  private readonly heap = new TinyQueue<Timer>([], byTimeThenSeq);
  private live = 0;

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  /** Whole milliseconds, as Date.now(); timers keep fractional times for ordering. */
  now(): number {
    return Math.floor(this.time);
  }

  exactNow(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.setTimeoutAt(fn, this.time + Math.max(0, ms));
  }

  setTimeoutAt(fn: () => void, at: number): TimerHandle {
    const timer: Timer = { at: Math.max(this.time, at), seq: this.seq++, fn };
    this.heap.push(timer);
    this.live++;
    return timer as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    const timer = handle as unknown as Timer;
    if (timer && timer.fn) {
      timer.fn = null;
      this.live--;
    }
  }

  /** Timers still pending. */
  get pending(): number {
    return this.live;
  }

  /** Time of the next pending timer, or null. */
  nextAt(): number | null {
    return this.next()?.at ?? null;
  }

  /** Runs the earliest timer due at or before `until`; returns false when there is none. */
  runNext(until = Infinity): boolean {
    const top = this.next();
    if (!top || top.at > until) return false;
    this.heap.pop();
    this.time = Math.max(this.time, top.at);
    const fn = top.fn!;
    top.fn = null;
    this.live--;
    fn();
    return true;
  }

  /** Advances time by ms, firing every timer that falls due, including ones they schedule. */
  advance(ms: number): void {
    this.advanceTo(this.time + ms);
  }

  /** Advances time to exactly `until` (never backwards), firing every timer due by then. */
  advanceTo(until: number): void {
    while (this.runNext(until));
    this.time = Math.max(this.time, until);
  }

  /** The earliest pending timer, once the cancelled ones above it are dropped. */
  private next(): Timer | undefined {
    let top = this.heap.peek();
    while (top && top.fn === null) {
      this.heap.pop();
      top = this.heap.peek();
    }
    return top;
  }
}
