/**
 * One node's upkeep on one timer. Every service's periodic and retry work (refresh, near checks,
 * repair, republishing, mailbox fetches, message retries) is a task on the node's Ticker; the
 * ticker keeps a single clock timer armed at the earliest task's deadline and, when it fires,
 * runs every task due by then. Closing the ticker stops all of a node's upkeep at once, and
 * nothing scheduled after that runs.
 *
 * Why a deadline and not a fixed period: a tick every second would wake every idle node every
 * second (10,000 simulated nodes: 36 million wake-ups an hour, where upkeep needs about one per
 * node every few minutes), would round every deadline up to the period, and browsers throttle a
 * hidden tab's timers to once a minute anyway. Firing at the earliest deadline costs one timer
 * per node and moves nothing: the seeded simulations replay frame for frame as they did with a
 * timer per task (ticker.test.ts checks the instants and the order against the clock's own).
 *
 * The ticker is a Clock, so a service written against `clock.setTimeout` moves onto it by being
 * handed the ticker; I/O timeouts (a request's reply, a channel's setup) stay on the node's clock.
 */
import type { Clock, TimerHandle } from './clock.ts';

interface Task {
  at: number;
  seq: number;
  fn: (() => void) | null;
  next: Task | null;
}

export class Ticker implements Clock {
  /**
   * Live tasks as a list, earliest deadline first, then scheduling order. A node has a handful
   * (refresh, near check, a few retries): a list beats a heap, and costs no array (measured:
   * an array held a simulated node's two tasks in 176 bytes).
   */
  private first: Task | null = null;
  private count = 0;
  private seq = 0;
  /** The clock timer and the deadline it is armed for (Infinity when none). */
  private armed: TimerHandle | null = null;
  private armedAt = Infinity;
  private firing = false;
  private closed = false;

  constructor(private readonly clock: Clock) {}

  now(): number {
    return this.clock.now();
  }

  /** Runs fn once, `ms` from now, unless cleared or the ticker closes first. */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    // NaN counts as no delay (as with setTimeout); a NaN deadline would stall every task after it.
    const task: Task = { at: this.clockTime() + (ms > 0 ? ms : 0), seq: this.seq++, fn, next: null };
    if (this.closed) {
      task.fn = null;
      return task as unknown as TimerHandle;
    }
    this.insert(task);
    // Inside a firing the ticker arms once, after every due task ran.
    if (!this.firing && task.at < this.armedAt) this.arm(task.at);
    return task as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    const task = handle as unknown as Task;
    if (!task?.fn || !this.remove(task)) return;
    task.fn = null;
    // The clock timer follows the earliest live task, so the clock never wakes for nothing (a
    // simulation batches what falls due together: a stray wake-up would change its steps).
    if (this.firing || task.at !== this.armedAt) return;
    const next = this.first;
    if (!next) this.disarm();
    else if (next.at !== this.armedAt) this.arm(next.at);
  }

  /** Tasks still to run. */
  get pending(): number {
    return this.count;
  }

  /** The earliest deadline, or null when nothing is scheduled. */
  nextAt(): number | null {
    return this.first?.at ?? null;
  }

  /** Cancels every task; later setTimeouts are ignored. */
  close(): void {
    this.closed = true;
    this.disarm();
    for (let t = this.first; t; t = t.next) t.fn = null;
    this.first = null;
    this.count = 0;
  }

  private readonly fire = (): void => {
    const due = this.armedAt;
    // Tasks scheduled by the ones running now wait for the next firing, even with no delay.
    const before = this.seq;
    this.armed = null;
    this.armedAt = Infinity;
    this.firing = true;
    try {
      for (let task = this.first; task && task.at <= due && task.seq < before; task = this.first) {
        this.first = task.next;
        task.next = null; // a handle kept after firing holds nothing of the list
        this.count--;
        const fn = task.fn!;
        task.fn = null;
        fn();
      }
    } finally {
      this.firing = false;
      const next = this.first;
      if (next && !this.closed) this.arm(next.at);
    }
  };

  /** After every task due no later, so ties keep scheduling order. */
  private insert(task: Task): void {
    this.count++;
    if (!this.first || this.first.at > task.at) {
      task.next = this.first;
      this.first = task;
      return;
    }
    let prev = this.first;
    while (prev.next && prev.next.at <= task.at) prev = prev.next;
    task.next = prev.next;
    prev.next = task;
  }

  /** Unlinks a task; false when it is not in this ticker's list. */
  private remove(task: Task): boolean {
    if (this.first === task) {
      this.first = task.next;
    } else {
      let prev = this.first;
      while (prev && prev.next !== task) prev = prev.next;
      if (!prev) return false;
      prev.next = task.next;
    }
    task.next = null;
    this.count--;
    return true;
  }

  private arm(at: number): void {
    if (this.armed) this.clock.clearTimeout(this.armed);
    this.armedAt = at;
    this.armed = this.clock.setTimeoutAt ? this.clock.setTimeoutAt(this.fire, at) : this.clock.setTimeout(this.fire, at - this.clockTime());
  }

  private disarm(): void {
    if (this.armed) this.clock.clearTimeout(this.armed);
    this.armed = null;
    this.armedAt = Infinity;
  }

  private clockTime(): number {
    return this.clock.exactNow ? this.clock.exactNow() : this.clock.now();
  }
}
