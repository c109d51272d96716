import { describe, expect, it } from 'vitest';
import { MAX_SIGNALS_PER_BATCH } from '../lib/transport.ts';
import { Simulation } from './simulation.ts';

describe('signaling a host that gathers many ICE candidates', () => {
  it('carries them over several exchanges, so every dial through the overlay still opens', { timeout: 60_000 }, async () => {
    // 40 candidates: with the offer, almost three batches' worth.
    const iceCandidates = 40;
    expect(iceCandidates + 1).toBeGreaterThan(2 * MAX_SIGNALS_PER_BATCH);
    const sim = new Simulation({ seed: 9, iceCandidates });
    let oversized = 0;
    sim.network.options.onFrame = (_from, _to, text) => {
      const f = JSON.parse(text) as { t: string; m?: string; b?: { data?: string | null } };
      if (f.t === 'req' && f.m === 'SIGNAL' && f.b?.data && (JSON.parse(f.b.data) as string[]).length > MAX_SIGNALS_PER_BATCH) oversized++;
    };
    const nodes = await sim.grow(12);
    await sim.run(10 * 60_000);

    expect(oversized).toBe(0);
    const count = (name: string) => nodes.reduce((n, s) => n + s.node.stats.get(name), 0);
    expect(count('route-failed-BAD_REQUEST')).toBe(0);
    expect(count('dial-failed-NO_ROUTE')).toBe(0);
    // Most channels were signaled through the overlay, in batches.
    expect(count('dials-via-overlay')).toBeGreaterThan(count('dials-via-bootstrap'));
    for (const s of nodes) expect(s.node.neighbours().length).toBe(11);
    sim.close();
  });
});
