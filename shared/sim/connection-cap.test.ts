import { describe, expect, it } from 'vitest';
import { CHAT_CONNECTION_RESERVE, CONNECTION_REFRESH_AT } from '../constants.ts';
import { runExperiment } from './experiment.ts';

// A day of churn at N = 300 (a day at N = 1,000 runs in `npm run sim`; connections created per
// node depend on churn and channel count, which grows only with log N).
describe('the connection budget over a simulated day', () => {
  it('with 30% of nodes leaving per hour, no node creates more than 450 connections in 24 simulated hours', { timeout: 15 * 60_000 }, async () => {
    const r = await runExperiment({ nodes: 300, lookups: 240, churn: 0.3, hours: 24, seed: 103 });
    // The budget refuses DHT connections at 400 created, so demand must stay below that for
    // the property to say anything: the cap never had to bind.
    expect(r.maxConnectionsCreated).toBeLessThan(CONNECTION_REFRESH_AT - CHAT_CONNECTION_RESERVE);
    expect(r.trueClosestFraction).toBeGreaterThanOrEqual(0.99);
  });
});
