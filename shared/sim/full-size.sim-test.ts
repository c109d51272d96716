/**
 * The issue-sized simulations of offline delivery and long absences: 1,000 nodes, 200 users,
 * 30% of nodes leaving per hour, absences up to 3 days with one 50% mass departure, and names
 * whose owners have been away 29 days; 200 users in 40 groups of 3 to 32; and a day of churn
 * against the connection budget. They take many hours of wall time, so `npm test` runs the same
 * checks at CI size (offline-delivery.test.ts, group-delivery.test.ts, names.test.ts,
 * connection-cap.test.ts) and
 * these run on demand: `npm run test:full-size` (vitest.full-size.config.ts; the file is not
 * named *.test.ts, so `npm test` does not pick it up).
 */
import { describe, expect, it } from 'vitest';
import { CONNECTION_CAP } from '../dht/constants.ts';
import { runChatExperiment } from './chat-experiment.ts';
import { runExperiment } from './experiment.ts';
import { runGroupExperiment } from './group-experiment.ts';
import { runNamesExperiment } from './names-experiment.ts';
import { expectGroupDelivery, expectNamesResolve, expectOfflineDelivery } from './property-checks.ts';

const HOUR = 3_600_000;

describe('at full size', () => {
  // About 13 minutes on one core (CI ran it in npm test until 2026-12-07: 775-845 s).
  it('with 30% of nodes leaving per hour, no node creates more than 450 connections in 24 simulated hours', { timeout: 2 * HOUR }, async () => {
    const r = await runExperiment({ nodes: 1000, lookups: 240, churn: 0.3, hours: 24, seed: 103 });
    console.log(JSON.stringify(r));
    // The budget refuses connections at CONNECTION_CAP (400) created, so the property holds by
    // construction; what is measured is demand. The nodes there from the start (25.6 h with the
    // network's growth) created 334-345, and one of the ~11,000 sessions reached the cap (400)
    // in the run of 2026-12-05: at most one session in 10,000 meets the cap, and lookups stay
    // exact around it.
    expect(r.maxConnectionsCreated).toBeLessThanOrEqual(CONNECTION_CAP);
    expect(r.sessionsAtCap * 10_000).toBeLessThanOrEqual(r.sessions);
    expect(r.departures).toBeGreaterThan(7000);
    expect(r.trueClosestFraction).toBeGreaterThanOrEqual(0.99);
    expect(r.honestRefused).toBe(0);
  });

  // About 14 to 18 hours on one core (README, "Offline delivery and names under churn").
  it('offline messages reach recipients back from up to 3 days away within 2 minutes, once, never pushed after their tombstone', { timeout: 24 * HOUR }, async () => {
    const r = await runChatExperiment({ nodes: 1000, users: 200, churn: 0.3, seed: 1, scenarios: 200, spreadHours: 24, maxAbsenceHours: 72, massDeparture: 0.5, progress: (line) => console.error(line) });
    console.log(JSON.stringify(r));
    expectOfflineDelivery(r, { messages: 100, massDeparted: 400 });
  });

  // Issue 16's line: 200 users in 40 groups of 3 to 32 members, absences up to 3 days.
  it('group texts reach every member within 2 minutes of being online for them, once, through absences of up to 3 days', { timeout: 24 * HOUR }, async () => {
    const r = await runGroupExperiment({ nodes: 1000, users: 200, groups: 40, minGroupSize: 3, maxGroupSize: 32, churn: 0.3, seed: 1, texts: 400, changes: 40, spreadHours: 24, maxAbsenceHours: 72, progress: (line) => console.error(line) });
    console.log(JSON.stringify(r));
    expectGroupDelivery(r, { copiesToAbsent: 1000, changes: 30 });
  });

  it('a name whose owner has been away 29 days resolves for at least 99% of lookups', { timeout: 12 * HOUR }, async () => {
    const r = await runNamesExperiment({ nodes: 1000, names: 20, churn: 0.3, days: 29, lookups: 400, seed: 1 });
    console.log(JSON.stringify(r));
    expectNamesResolve(r);
  });
});
