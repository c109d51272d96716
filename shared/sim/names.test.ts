/**
 * ARCHITECTURE.md property 3's long absence in a churning simulated network, at a size CI can afford
 * (the full-size run is `npm run test:full-size`; its numbers are in the README).
 */
import { describe, it } from 'vitest';
import { runNamesExperiment } from './names-experiment.ts';
import { expectNamesResolve } from './property-checks.ts';

describe('names while their owners are away', () => {
  it('a name whose owner has been away 29 days still resolves for at least 99% of lookups', { timeout: 20 * 60_000 }, async () => {
    const r = await runNamesExperiment({ nodes: 24, names: 6, churn: 0.3, days: 29, lookups: 150, seed: 12 });
    expectNamesResolve(r);
  });
});
