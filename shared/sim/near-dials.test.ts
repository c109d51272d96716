import { describe, expect, it } from 'vitest';
import { Simulation } from './simulation.ts';

describe('a node whose far dials spent the connection tokens', () => {
  it('still dials the peers of its own neighbourhood, from their own bucket', { timeout: 60_000 }, async () => {
    const sim = new Simulation({ seed: 41 });
    await sim.grow(40);
    const a = sim.randomLive();
    const near = a.node.closestTo(a.node.id, 2)[1]!;
    while (a.node.budget.take()); // as far dials would
    expect(a.node.budget.canCreate()).toBe(false);

    // A loses its channel to its nearest neighbour and finds it again by asking around.
    a.node.channels.peers.get(near.hex)!.close();
    expect(a.node.channels.peers.has(near.hex)).toBe(false);
    const dialed = a.node.stats.get('channels-dialed-ok');
    await sim.until(a.node.maintenance.checkNear());
    expect(a.node.stats.get('dial-failed-BUDGET_EXHAUSTED')).toBe(0);
    expect(a.node.stats.get('channels-dialed-ok')).toBe(dialed + 1);
    expect(a.node.channels.peers.has(near.hex)).toBe(true);
    sim.close();
  });
});
