import { describe, expect, it } from 'vitest';
import type { Peer } from '../dht/context.ts';
import { MAX_REQUESTS_IN_FLIGHT_PER_NEIGHBOUR, REQUEST_BURST_PER_NEIGHBOUR, REQUESTS_PER_NEIGHBOUR_PER_S } from '../dht/constants.ts';
import { RequestLimits } from '../dht/budget.ts';
import { FakeClock } from '../lib/clock.ts';
import { Stats } from '../lib/stats.ts';
import { PUSH_BURST, PUSHES_IN_FLIGHT_PER_NEIGHBOUR, PUSHES_PER_S } from './constants.ts';
import { PushQueue } from './push-queue.ts';

/** A queue over a fake clock whose neighbours answer each copy `replyMs` after it starts. */
function harness(replyMs = 80) {
  const clock = new FakeClock();
  const stats = new Stats();
  const present = new Set(['a', 'b']);
  const queue = new PushQueue({ clock, ticker: clock, stats, peer: (hex) => (present.has(hex) ? ({ hex } as Peer) : undefined) });
  const limits = new RequestLimits();
  const log = { started: [] as number[], inFlight: 0, maxInFlight: 0, refused: 0, dropped: 0 };
  const push = (hex: string) =>
    queue.push(
      hex,
      () => {
        // The neighbour's own admission (dht/budget.ts): what it would answer BUSY.
        if (limits.admit(hex, clock.now())) log.refused++;
        log.started.push(clock.now());
        log.maxInFlight = Math.max(log.maxInFlight, ++log.inFlight);
        return new Promise<void>((resolve) =>
          clock.setTimeout(() => {
            log.inFlight--;
            limits.done(hex);
            resolve();
          }, replyMs),
        );
      },
      () => log.dropped++,
    );
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      for (let i = 0; i < 5; i++) await Promise.resolve();
    }
  };
  return { clock, stats, present, queue, log, push, run };
}

describe('copies to one neighbour are paced below what it admits', () => {
  it('the limits are under half of what a node admits from one neighbour', () => {
    expect(PUSHES_IN_FLIGHT_PER_NEIGHBOUR * 2).toBeLessThanOrEqual(MAX_REQUESTS_IN_FLIGHT_PER_NEIGHBOUR);
    expect(PUSH_BURST * 2).toBeLessThanOrEqual(REQUEST_BURST_PER_NEIGHBOUR);
    expect(PUSHES_PER_S * 2).toBeLessThanOrEqual(REQUESTS_PER_NEIGHBOUR_PER_S);
  });

  it('500 copies at once: never more than the cap in flight, the bucket paces them, none refused, all sent', async () => {
    const h = harness();
    const done = Array.from({ length: 500 }, () => h.push('a'));
    await h.run(60_000);
    await Promise.all(done);
    expect(h.log.started).toHaveLength(500);
    expect(h.log.maxInFlight).toBe(PUSHES_IN_FLIGHT_PER_NEIGHBOUR);
    expect(h.log.refused).toBe(0);
    // In any second after the burst, no more than the rate (plus one token of rounding).
    const start = h.log.started[0]!;
    const inSecond = (s: number) => h.log.started.filter((t) => t >= start + s * 1000 && t < start + (s + 1) * 1000).length;
    expect(inSecond(0)).toBeLessThanOrEqual(PUSH_BURST + PUSHES_PER_S);
    for (let s = 5; s < 40; s++) expect(inSecond(s)).toBeLessThanOrEqual(PUSHES_PER_S + 1);
    expect(h.queue.waiting).toBe(0);
  });

  it('a lane that went idle keeps its bucket: a second burst right after the first is paced', async () => {
    const h = harness(1);
    await Promise.all([...Array.from({ length: PUSH_BURST }, () => h.push('a')), h.run(200)]);
    const firstEnd = h.clock.now();
    const second = Array.from({ length: PUSH_BURST }, () => h.push('a'));
    await h.run(1000);
    expect(h.log.started.filter((t) => t >= firstEnd).length).toBeLessThanOrEqual(PUSHES_PER_S + 1);
    await h.run(10_000);
    await Promise.all(second);
    expect(h.log.started).toHaveLength(2 * PUSH_BURST);
  });

  it('one neighbour\'s backlog does not hold up another\'s copies', async () => {
    const h = harness();
    const many = Array.from({ length: 200 }, () => h.push('a'));
    let bDone = false;
    void h.push('b').then(() => (bDone = true));
    await h.run(200);
    expect(bDone).toBe(true);
    await h.run(30_000);
    await Promise.all(many);
  });

  it('copies waiting for a neighbour that left are dropped (and said so), not sent', async () => {
    const h = harness();
    const all = Array.from({ length: 100 }, () => h.push('a'));
    await h.run(100);
    const sent = h.log.started.length;
    h.present.delete('a');
    await h.run(2_000);
    await Promise.all(all);
    expect(h.log.started.length).toBe(sent);
    expect(h.log.dropped).toBe(100 - sent);
    expect(h.stats.get('mailbox-push-dropped-gone')).toBe(100 - sent);
  });

  it('closing drops everything waiting and sends nothing more', async () => {
    const h = harness();
    const all = Array.from({ length: 100 }, () => h.push('a'));
    await h.run(50);
    const sent = h.log.started.length;
    h.queue.close();
    await h.run(5_000);
    await Promise.all(all);
    expect(h.log.started.length).toBe(sent);
    expect(h.log.dropped).toBe(100 - sent);
  });
});
