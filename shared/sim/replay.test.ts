import { describe, expect, it } from 'vitest';
import { runChatExperiment } from './chat-experiment.ts';
import { runExperiment } from './experiment.ts';

/** Everything a run reports except what the host measures (wall time, heap). */
function simulated<T extends { wallMs: number }>(result: T): Omit<T, 'wallMs' | 'lookupWallMs' | 'heapPerNodeKiB'> {
  const { wallMs: _w, lookupWallMs: _l, heapPerNodeKiB: _h, ...rest } = result as T & { lookupWallMs?: number; heapPerNodeKiB?: number };
  return rest;
}

// Every random draw is seeded, time is the fake clock, and crypto settles in the order it was
// asked for, so a seed replays to the same frame and a failing seeded test can be rerun and
// debugged as it failed. This catches anything that reads real time, Math.random or the order
// in which host work completes.
describe('a seeded simulation', () => {
  it('replays a lookup run under churn exactly', { timeout: 5 * 60_000 }, async () => {
    const options = { nodes: 60, lookups: 40, churn: 0.3, hours: 0.5, seed: 7 };
    const first = await runExperiment(options);
    expect(first.departures).toBeGreaterThan(5);
    expect(simulated(await runExperiment(options))).toEqual(simulated(first));
  });

  it('replays a chat run with offline delivery exactly', { timeout: 5 * 60_000 }, async () => {
    const options = { nodes: 30, users: 8, churn: 0.3, seed: 5, scenarios: 3, spreadHours: 1, maxAbsenceHours: 2, massDeparture: 0 };
    const first = await runChatExperiment(options);
    expect(first.offlineMessages).toBeGreaterThan(0);
    expect(simulated(await runChatExperiment(options))).toEqual(simulated(first));
  });
});
