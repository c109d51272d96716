/**
 * Groups under churn (ARCHITECTURE.md, "Groups"; issue 16's simulator line) at a size CI can
 * afford; the full-size run (200 users in 40 groups of 3 to 32) is `npm run test:full-size`, its
 * numbers in the README.
 */
import { describe, expect, it } from 'vitest';
import { runGroupExperiment } from './group-experiment.ts';
import { expectGroupDelivery } from './property-checks.ts';

describe('groups under churn', () => {
  it('every member gets every group text once, within 2 minutes of being online for it, through absences, adds and removals', { timeout: 15 * 60_000 }, async () => {
    const r = await runGroupExperiment({ nodes: 40, users: 20, groups: 5, minGroupSize: 3, maxGroupSize: 12, churn: 0.3, seed: 1, texts: 40, changes: 4, spreadHours: 2, maxAbsenceHours: 24 });
    expectGroupDelivery(r, { copiesToAbsent: 60, changes: 3 });
    expect(r.failures).toEqual({});
  });
});
