import { describe, expect, it } from 'vitest';
import { MAX_HOPS, REPLICATION } from '../dht/constants.ts';
import { hopLimit } from '../dht/router.ts';
import { Simulation, type SimNode } from './simulation.ts';

/** The hop limits `from` puts on the routed requests it starts, read off the frames it sends. */
async function hopLimitSent(sim: Simulation, from: SimNode): Promise<number[]> {
  // A key next to one of its neighbours, so that the lookup leaves the node.
  const key = from.node.neighbours()[0]!.id.slice();
  key[19]! ^= 1;
  const limits: number[] = [];
  sim.network.options.onFrame = (sender, _to, text) => {
    const frame = JSON.parse(text) as { t: string; r?: { h: number; max: number } };
    if (sender === from.name && frame.t === 'req' && frame.r?.h === 1) limits.push(frame.r.max);
  };
  await sim.until(from.node.lookup(key, 2));
  sim.network.options.onFrame = undefined;
  expect(limits.length).toBeGreaterThanOrEqual(2); // both paths of the lookup, and any dial it led to
  return [...new Set(limits)];
}

describe('the hop limit a node puts on its routes', () => {
  it('comes from its estimate of the network once it has its r nearest, and is the ceiling before', { timeout: 60_000 }, async () => {
    const sim = new Simulation({ seed: 31 });
    await sim.grow(60);
    const settled = sim.randomLive();
    expect(settled.node.neighbours().length).toBeGreaterThan(REPLICATION);
    const estimated = hopLimit(settled.node.estimatedSize());
    expect(estimated).toBeLessThan(MAX_HOPS);
    expect(await hopLimitSent(sim, settled)).toEqual([estimated]);

    // Left with two channels (as a newcomer is), its nearest say nothing about the network's
    // size: a limit sized from them would stop routes that a 10,000-node network needs.
    const lonely = sim.randomLive();
    for (const p of lonely.node.neighbours().slice(2)) p.close();
    expect(lonely.node.neighbours()).toHaveLength(2);
    expect(await hopLimitSent(sim, lonely)).toEqual([MAX_HOPS]);
    sim.close();
  });
});
