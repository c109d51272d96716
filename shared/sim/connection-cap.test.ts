import { describe, expect, it } from 'vitest';
import { CONNECTION_CAP } from '../dht/constants.ts';
import { runExperiment } from './experiment.ts';

// A day of churn at the size, N = 1,000: about 24,000 node-hours and 10,000 departures.
// Under vitest it takes 13-14 minutes of one core (CI: 812 s and 845 s), against 15 minutes
// allowed until now; 20 leave room on a slower machine, and vitest runs the other files beside it.
describe('the connection budget over a simulated day', () => {
  it('with 30% of nodes leaving per hour, no node creates more than 450 connections in 24 simulated hours', { timeout: 20 * 60_000 }, async () => {
    const r = await runExperiment({ nodes: 1000, lookups: 240, churn: 0.3, hours: 24, seed: 103 });
    // The budget refuses connections at CONNECTION_CAP (400) created, so the property holds by
    // construction; what must be measured is demand. Most of a long-lived node's connections
    // are answered ones, newcomers dialing it: the nodes there from the start (25.6 h with the
    // network's growth) created 334-345, and one of the ~11,000 sessions reached the cap (400)
    // in this run (2026-12-05; 356 at most before ids cost work changed every id). So: at most
    // one session in 10,000 meets the cap, and lookups stay exact around it.
    expect(r.maxConnectionsCreated).toBeLessThanOrEqual(CONNECTION_CAP);
    expect(r.sessionsAtCap * 10_000).toBeLessThanOrEqual(r.sessions);
    expect(r.departures).toBeGreaterThan(7000);
    expect(r.trueClosestFraction).toBeGreaterThanOrEqual(0.99);
    // A day of honest churn never meets the request or offer limits.
    expect(r.honestRefused).toBe(0);
  });
});
