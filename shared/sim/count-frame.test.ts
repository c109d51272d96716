import { describe, expect, it } from 'vitest';
import { idToHex } from '../lib/id.ts';
import { countFrame, countParsed, type Tracked } from './experiment.ts';
import { Simulation } from './simulation.ts';

describe("the sim's per-lookup frame count", () => {
  it('counts exactly the frames that parsing every frame counts, while upkeep and joins go on', { timeout: 120_000 }, async () => {
    const sim = new Simulation({ seed: 11, churnPerHour: 0.3 });
    await sim.grow(80);
    const fast = { tracked: new Map<string, Tracked>(), replies: new Map<string, Tracked>() };
    const slow = { tracked: new Map<string, Tracked>(), replies: new Map<string, Tracked>() };
    let frames = 0;
    sim.network.options.onFrame = (from, to, text) => {
      frames++;
      countFrame(fast.tracked, fast.replies, from, to, text);
      countParsed(slow.tracked, slow.replies, from, to, text);
    };
    const lookups: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      const key = sim.random.bytes(20);
      for (const side of [fast, slow]) side.tracked.set(idToHex(key), { messages: 0, hops: 0 });
      lookups.push(sim.randomLive().node.lookup(key, 2).catch(() => null));
      await sim.run(20_000);
    }
    await sim.until(Promise.all(lookups), 30_000);
    sim.close();

    const counted = [...fast.tracked.values()];
    expect([...slow.tracked.values()]).toEqual(counted);
    expect(counted.filter((t) => t.messages >= 4 && t.hops >= 1).length).toBeGreaterThan(30);
    // Most frames were upkeep and joins, which both leave alone.
    expect(frames).toBeGreaterThan(10 * counted.reduce((sum, t) => sum + t.messages, 0));
  });
});
