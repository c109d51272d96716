import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeClock, type Clock, type TimerHandle } from './clock.ts';
import { Ticker } from './ticker.ts';

/** A clock with whole-millisecond time only, as a browser's: no exactNow, no setTimeoutAt. */
function plainClock(clock: FakeClock): Clock {
  return { now: () => clock.now(), setTimeout: (fn, ms) => clock.setTimeout(fn, ms), clearTimeout: (h) => clock.clearTimeout(h) };
}

type Op = { delay: number; cancelAfter: number | null; child: number | null };

/**
 * Schedules the same tasks on `timers` (a ticker or the clock itself): each records when it
 * ran, may cancel an earlier one and may schedule a child. Returns the log.
 */
function drive(clock: FakeClock, timers: Clock, ops: Op[]): string[] {
  const log: string[] = [];
  const handles: TimerHandle[] = [];
  ops.forEach((op, i) => {
    handles.push(
      timers.setTimeout(() => {
        log.push(`${i}@${clock.exactNow()}`);
        if (op.child !== null) timers.setTimeout(() => log.push(`${i}.child@${clock.exactNow()}`), op.child);
      }, op.delay),
    );
    if (op.cancelAfter !== null && op.cancelAfter < handles.length) timers.clearTimeout(handles[op.cancelAfter]!);
  });
  clock.advance(10_000);
  return log;
}

describe('Ticker', () => {
  it('fires every task at the instant and in the order a timer of its own would', () => {
    const delay = fc.oneof(fc.integer({ min: 0, max: 500 }), fc.double({ min: 0, max: 500, noNaN: true }));
    const op = fc.record({ delay, cancelAfter: fc.option(fc.nat(30)), child: fc.option(delay) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), fc.double({ min: 0, max: 1, noNaN: true }), (ops, start) => {
        const alone = new FakeClock(1_000 + start);
        const ticked = new FakeClock(1_000 + start);
        expect(drive(ticked, new Ticker(ticked), ops)).toEqual(drive(alone, alone, ops));
      }),
    );
  });

  it('keeps one clock timer, armed at the earliest task', () => {
    const clock = new FakeClock(0);
    const ticker = new Ticker(clock);
    const ran: number[] = [];
    for (const ms of [300, 100, 200, 100]) ticker.setTimeout(() => ran.push(clock.now()), ms);
    expect(ticker.pending).toBe(4);
    expect(clock.pending).toBe(1);
    expect(clock.nextAt()).toBe(100);
    clock.advance(150);
    expect(ran).toEqual([100, 100]);
    expect(clock.pending).toBe(1);
    expect(clock.nextAt()).toBe(200);
    clock.advance(1_000);
    expect(ran).toEqual([100, 100, 200, 300]);
    expect(clock.pending).toBe(0);
  });

  it('moves its timer when the earliest task is cancelled, so the clock never wakes for nothing', () => {
    const clock = new FakeClock(0);
    const ticker = new Ticker(clock);
    const first = ticker.setTimeout(() => {}, 100);
    const second = ticker.setTimeout(() => {}, 400);
    ticker.clearTimeout(first);
    expect(clock.nextAt()).toBe(400);
    ticker.clearTimeout(second);
    expect(clock.nextAt()).toBeNull();
    expect(ticker.pending).toBe(0);
  });

  it('runs a task scheduled with no delay inside a firing at the next firing, after it', () => {
    const clock = new FakeClock(0);
    const ticker = new Ticker(clock);
    const order: string[] = [];
    ticker.setTimeout(() => {
      order.push('a');
      ticker.setTimeout(() => order.push('a.now'), 0);
      clock.setTimeout(() => order.push('clock'), 0);
    }, 10);
    ticker.setTimeout(() => order.push('b'), 10);
    clock.advance(10);
    expect(order).toEqual(['a', 'b', 'clock', 'a.now']);
  });

  it('stops everything at close and ignores what is scheduled after', () => {
    const clock = new FakeClock(0);
    const ticker = new Ticker(clock);
    const ran: string[] = [];
    ticker.setTimeout(() => ran.push('before'), 100);
    ticker.close();
    ticker.setTimeout(() => ran.push('after'), 50);
    clock.advance(1_000);
    expect(ran).toEqual([]);
    expect(clock.pending).toBe(0);
    expect(ticker.pending).toBe(0);
  });

  it('runs the rest of the tasks due with it when one throws', () => {
    const clock = new FakeClock(0);
    const ticker = new Ticker(clock);
    const ran: string[] = [];
    ticker.setTimeout(() => {
      throw new Error('boom');
    }, 10);
    ticker.setTimeout(() => ran.push('next'), 10);
    expect(() => clock.advance(10)).toThrow('boom');
    clock.advance(0);
    expect(ran).toEqual(['next']);
  });

  it('runs a task with a NaN delay at once, and never one with an infinite delay, without stalling the rest', () => {
    const clock = new FakeClock(0);
    const ticker = new Ticker(clock);
    const ran: string[] = [];
    ticker.setTimeout(() => ran.push('never'), Infinity);
    ticker.setTimeout(() => ran.push('nan'), NaN);
    ticker.setTimeout(() => ran.push('later'), 20);
    clock.advance(1_000);
    expect(ran).toEqual(['nan', 'later']);
    expect(ticker.pending).toBe(1);
  });

  it('works on a clock of whole milliseconds (a tab)', () => {
    const clock = new FakeClock(0);
    const ticker = new Ticker(plainClock(clock));
    const ran: number[] = [];
    ticker.setTimeout(() => ran.push(clock.now()), 250);
    ticker.setTimeout(() => ran.push(clock.now()), 50);
    clock.advance(300);
    expect(ran).toEqual([50, 250]);
    expect(clock.pending).toBe(0);
  });
});
