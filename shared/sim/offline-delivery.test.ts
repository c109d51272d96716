/**
 * ARCHITECTURE.md property 2 in a churning simulated network, at a size CI can afford (the full-size
 * run is `npm run test:full-size`; its numbers are in the README).
 */
import { describe, expect, it } from 'vitest';
import { runChatExperiment } from './chat-experiment.ts';
import { expectOfflineDelivery } from './property-checks.ts';

describe('offline delivery under churn', () => {
  it('messages reach recipients back from absences of up to 3 days within 2 minutes, with the sender gone and half the network gone once, each shown once, none pushed again after its tombstone', { timeout: 15 * 60_000 }, async () => {
    const r = await runChatExperiment({ nodes: 60, users: 20, churn: 0.3, seed: 11, scenarios: 8, spreadHours: 2, maxAbsenceHours: 72, massDeparture: 0.5 });
    expectOfflineDelivery(r, { messages: 10, massDeparted: 25 });
    expect(r.scenariosFailed).toBe(0);
    // The receipts, sealed back to senders who were away, reach them too.
    expect(r.receiptsAtSender).toBe(r.offlineMessages);
    // Chat traffic too stays within the per-neighbour request and the offer limits.
    expect(r.honestRefused).toBe(0);
  });
});
