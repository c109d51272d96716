import { describe, expect, it } from 'vitest';
import { runExperiment } from './experiment.ts';

// Seeded and deterministic: a failure here replays exactly with the same seed (npm run sim).
describe('lookups in a simulated network', () => {
  it('at N = 1,000 with no churn, at least 99.5% of lookups return the true 8 closest live nodes', { timeout: 10 * 60_000 }, async () => {
    const r = await runExperiment({ nodes: 1000, lookups: 400, churn: 0, hours: 0.25, seed: 101 });
    expect(r.trueClosestFraction).toBeGreaterThanOrEqual(0.995);
    expect(r.failedLookups).toBe(0);
    expect(r.maxHopsSeen).toBeLessThanOrEqual(r.hopLimit);
    expect(r.messagesPerLookup.median).toBeLessThanOrEqual(24);
    // The per-neighbour request limits and the offer limits never refuse honest traffic.
    expect(r.honestRefused).toBe(0);
  });

  // The same at 30% churn per hour is in connection-cap.test.ts: one N = 1,000 network under
  // churn for both, rather than two (the second cost CI about 100 s of a core).
});
