/**
 * Time, handed to the engine from outside. Real code gets `systemClock`; tests and the simulator
 * get a `FakeClock` they advance by hand, so nothing waits on wall time.
 */
export type TimerHandle = { readonly __timer: unique symbol };

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms) as unknown as TimerHandle,
  clearTimeout: (h) => globalThis.clearTimeout(h as unknown as ReturnType<typeof setTimeout>),
};

/** Timers one object owns: each is forgotten once it fires, and clear() cancels the rest. */
export class TimerSet {
  private readonly handles = new Set<TimerHandle>();
  constructor(private readonly clock: Clock) {}

  set(fn: () => void, ms: number): void {
    const handle = this.clock.setTimeout(() => {
      this.handles.delete(handle);
      fn();
    }, ms);
    this.handles.add(handle);
  }

  clear(): void {
    for (const h of this.handles) this.clock.clearTimeout(h);
    this.handles.clear();
  }
}

interface Timer {
  at: number;
  seq: number;
  fn: (() => void) | null;
}

/**
 * A clock whose time moves only when told. Timers fire in (time, creation order) order, so a
 * run is reproducible. Backed by a binary heap: the simulator keeps millions of timers.
 */
export class FakeClock implements Clock {
  private time: number;
  private seq = 0;
  private heap: Timer[] = [];
  private live = 0;

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  /** Whole milliseconds, as Date.now(); timers keep fractional times for ordering. */
  now(): number {
    return Math.floor(this.time);
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { at: this.time + Math.max(0, ms), seq: this.seq++, fn };
    this.push(timer);
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
    this.dropCancelled();
    return this.heap.length > 0 ? this.heap[0]!.at : null;
  }

  /** Runs the earliest timer due at or before `until`; returns false when there is none. */
  runNext(until = Infinity): boolean {
    this.dropCancelled();
    const top = this.heap[0];
    if (!top || top.at > until) return false;
    this.pop();
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

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0]!.fn === null) this.pop();
  }

  private less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(t: Timer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Timer | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
