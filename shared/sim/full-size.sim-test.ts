/**
 * The issue-sized simulations of offline delivery and long absences: 1,000 nodes, 200 users,
 * 30% of nodes leaving per hour, absences up to 3 days with one 50% mass departure, and names
 * whose owners have been away 29 days. They take many hours of wall time, so
 * `npm test` runs the same checks at CI size (offline-delivery.test.ts, names.test.ts) and
 * these run on demand: `npm run test:full-size` (vitest.full-size.config.ts; the file is not
 * named *.test.ts, so `npm test` does not pick it up).
 */
import { describe, it } from 'vitest';
import { runChatExperiment } from './chat-experiment.ts';
import { runNamesExperiment } from './names-experiment.ts';
import { expectNamesResolve, expectOfflineDelivery } from './property-checks.ts';

const HOUR = 3_600_000;

describe('at full size', () => {
  // About 14 to 18 hours on one core (README, "Offline delivery and names under churn").
  it('offline messages reach recipients back from up to 3 days away within 2 minutes, once, never pushed after their tombstone', { timeout: 24 * HOUR }, async () => {
    const r = await runChatExperiment({ nodes: 1000, users: 200, churn: 0.3, seed: 1, scenarios: 200, spreadHours: 24, maxAbsenceHours: 72, massDeparture: 0.5, progress: (line) => console.error(line) });
    console.log(JSON.stringify(r));
    expectOfflineDelivery(r, { messages: 100, massDeparted: 400 });
  });

  it('a name whose owner has been away 29 days resolves for at least 99% of lookups', { timeout: 12 * HOUR }, async () => {
    const r = await runNamesExperiment({ nodes: 1000, names: 20, churn: 0.3, days: 29, lookups: 400, seed: 1 });
    console.log(JSON.stringify(r));
    expectNamesResolve(r);
  });
});
