/**
 * Issue 14 at CI size: 2,000 random and mutated frames of each kind (each method's requests and
 * replies, HELLO, errors, random text, frames before HELLO) through a live node's channel, parser
 * and handlers. `npm run fuzz` runs 100,000 of each (bench/results/fuzz.json).
 */
import { describe, expect, it } from 'vitest';
import { methods } from '../dht/protocol.ts';
import { runDhtFuzz, type DhtFuzzReport } from './fuzz.ts';

const FRAMES = 2_000;

describe('a live node fed hostile frames of every kind', () => {
  let report: DhtFuzzReport;

  it(`survives ${FRAMES} random and mutated frames of each kind with no exception, and still serves`, async () => {
    report = await runDhtFuzz({ frames: FRAMES, seed: 14, preHelloSessions: 8 });
    expect(report.exceptionSamples).toEqual([]);
    expect(report.exceptions).toBe(0);
    expect(report.invariants).toEqual({ recordStillHeld: true, mailStillHeld: true, answersHonestPing: true, foundByLookup: true });
    const kinds = [...methods().flatMap((m) => [`req:${m}`, `res:${m}`]), 'err', 'hello', 'random', 'pre-hello'];
    for (const kind of kinds) expect(report.kinds[kind]?.frames, kind).toBe(FRAMES);
  }, 120_000);

  it('reaches past the parser: each method sees bodies it accepts and bodies it drops, counted by reason', () => {
    for (const m of methods()) {
      const req = report.kinds[`req:${m}`]!;
      expect(req.parsed['ok-req'], m).toBeGreaterThan(50);
      expect(req.counters['drop-bad-body'], m).toBeGreaterThan(50);
      expect(req.counters['drop-not-json'], m).toBeGreaterThan(50);
      const res = report.kinds[`res:${m}`]!;
      expect(res.parsed['body-ok'], m).toBeGreaterThan(50);
      if (m !== 'PING') expect(res.counters['drop-bad-reply-body'], m).toBeGreaterThan(10);
    }
    expect(report.kinds['hello']!.counters['drop-duplicate-hello']).toBeGreaterThan(50);
    const early = report.kinds['pre-hello']!.counters;
    expect(early['drop-unauthenticated']).toBeGreaterThan(0);
    expect(early['hello-rejected']).toBeGreaterThan(0);
    expect(report.kinds['random']!.counters['drop-too-large']).toBeGreaterThan(50);
  });
});
