import { describe, expect, it } from 'vitest';
import { Simulation } from './simulation.ts';

const MINUTE = 60_000;

describe("a node's upkeep", () => {
  it('runs on its ticker, and none of it runs once the node has left', { timeout: 60_000 }, async () => {
    const sim = new Simulation({ seed: 5 });
    await sim.grow(12);
    await sim.run(20 * MINUTE);
    const a = sim.randomLive();
    // At least the next refresh and the next near check are waiting, on the node's one timer.
    expect(a.node.ticker.pending).toBeGreaterThanOrEqual(2);
    expect(a.node.ticker.nextAt()).not.toBeNull();

    sim.leave(a);
    expect(a.node.ticker.pending).toBe(0);
    expect(a.node.ticker.nextAt()).toBeNull();
    let sent = 0;
    sim.network.options.onFrame = (from) => {
      if (from === a.name) sent++;
    };
    const counters = a.node.stats.snapshot();
    await sim.run(60 * MINUTE);
    expect(sent).toBe(0);
    expect(a.node.stats.snapshot()).toEqual(counters);
    sim.close();
  });
});
