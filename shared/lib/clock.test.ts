import { describe, expect, it } from 'vitest';
import { FakeClock, TimerSet } from './clock.ts';

describe('FakeClock', () => {
  it('starts at the given time and moves only when advanced', () => {
    const clock = new FakeClock(1_000);
    expect(clock.now()).toBe(1_000);
    clock.advance(250);
    expect(clock.now()).toBe(1_250);
  });

  it('fires timers in time order, and timers due together in creation order', () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('c@30'), 30);
    clock.setTimeout(() => fired.push('a@10'), 10);
    clock.setTimeout(() => fired.push('b1@20'), 20);
    clock.setTimeout(() => fired.push('b2@20'), 20);
    clock.setTimeout(() => fired.push('b3@20'), 20);
    clock.advance(100);
    expect(fired).toEqual(['a@10', 'b1@20', 'b2@20', 'b3@20', 'c@30']);
  });

  it('keeps creation order among many timers due at once', () => {
    const clock = new FakeClock(0);
    const fired: number[] = [];
    for (let i = 0; i < 200; i++) clock.setTimeout(() => fired.push(i), 7 * (i % 3));
    clock.advance(20);
    const expected = [0, 1, 2].flatMap((r) => Array.from({ length: 200 }, (_, i) => i).filter((i) => i % 3 === r));
    expect(fired).toEqual(expected);
  });

  it('fires a timer exactly at its time, with now() reading that time', () => {
    const clock = new FakeClock(0);
    const seen: number[] = [];
    clock.setTimeout(() => seen.push(clock.now()), 40);
    clock.advance(39);
    expect(seen).toEqual([]);
    clock.advance(1);
    expect(seen).toEqual([40]);
  });

  it('treats a negative delay as zero', () => {
    const clock = new FakeClock(0);
    let fired = false;
    clock.setTimeout(() => (fired = true), -5);
    expect(clock.nextAt()).toBe(0);
    clock.advance(0);
    expect(fired).toBe(true);
  });

  it('never fires a cleared timer, and clearing twice or after firing is harmless', () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    const a = clock.setTimeout(() => fired.push('a'), 10);
    const b = clock.setTimeout(() => fired.push('b'), 10);
    clock.clearTimeout(a);
    clock.clearTimeout(a);
    expect(clock.pending).toBe(1);
    clock.advance(10);
    clock.clearTimeout(b);
    expect(fired).toEqual(['b']);
    expect(clock.pending).toBe(0);
  });

  it('runs timers that timers schedule within the same advance, and leaves later ones', () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    clock.setTimeout(() => {
      fired.push(`outer@${clock.now()}`);
      clock.setTimeout(() => fired.push(`inner@${clock.now()}`), 5);
      clock.setTimeout(() => fired.push(`now@${clock.now()}`), 0);
      clock.setTimeout(() => fired.push(`late@${clock.now()}`), 100);
    }, 10);
    clock.advance(50);
    expect(fired).toEqual(['outer@10', 'now@10', 'inner@15']);
    expect(clock.now()).toBe(50);
    expect(clock.pending).toBe(1);
    expect(clock.nextAt()).toBe(110);
  });

  it('lets a timer cancel a later one', () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    const later = clock.setTimeout(() => fired.push('later'), 20);
    clock.setTimeout(() => clock.clearTimeout(later), 10);
    clock.advance(100);
    expect(fired).toEqual([]);
    expect(clock.pending).toBe(0);
  });

  it('reports the next pending time and count, skipping cleared timers', () => {
    const clock = new FakeClock(0);
    expect(clock.nextAt()).toBeNull();
    expect(clock.pending).toBe(0);
    const first = clock.setTimeout(() => {}, 5);
    clock.setTimeout(() => {}, 9);
    expect(clock.pending).toBe(2);
    expect(clock.nextAt()).toBe(5);
    clock.clearTimeout(first);
    expect(clock.pending).toBe(1);
    expect(clock.nextAt()).toBe(9);
    clock.advance(9);
    expect(clock.nextAt()).toBeNull();
  });

  it('runNext runs one due timer at a time and stops at the limit', () => {
    const clock = new FakeClock(0);
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(1), 10);
    clock.setTimeout(() => fired.push(2), 20);
    expect(clock.runNext(15)).toBe(true);
    expect(clock.now()).toBe(10);
    expect(clock.runNext(15)).toBe(false);
    expect(clock.runNext()).toBe(true);
    expect(clock.runNext()).toBe(false);
    expect(fired).toEqual([1, 2]);
  });

  it('stays in order across thousands of timers set at random times', () => {
    const clock = new FakeClock(0);
    const fired: Array<[number, number]> = [];
    let x = 12345;
    for (let i = 0; i < 5_000; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      const at = x % 1_000;
      clock.setTimeout(() => fired.push([clock.now(), i]), at);
    }
    clock.advance(1_000);
    expect(fired).toHaveLength(5_000);
    for (let i = 1; i < fired.length; i++) {
      const [t0, s0] = fired[i - 1]!;
      const [t1, s1] = fired[i]!;
      if (t0 > t1 || (t0 === t1 && s0 > s1)) throw new Error(`timer ${s1}@${t1} fired after ${s0}@${t0}`);
    }
  });
});

describe('TimerSet', () => {
  it('forgets timers once they fire, and clear() cancels only those still pending', () => {
    const clock = new FakeClock();
    const timers = new TimerSet(clock);
    const fired: string[] = [];
    timers.set(() => fired.push('a'), 10);
    timers.set(() => fired.push('b'), 20);
    clock.advanceTo(clock.now() + 15);
    timers.clear();
    clock.advanceTo(clock.now() + 100);
    expect(fired).toEqual(['a']);
    // A set emptied by firing and clearing holds nothing that could fire later.
    timers.set(() => fired.push('c'), 5);
    clock.advanceTo(clock.now() + 5);
    expect(fired).toEqual(['a', 'c']);
  });
});
