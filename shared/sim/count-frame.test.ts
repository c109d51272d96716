import { describe, expect, it } from 'vitest';
import { idToHex } from '../id.ts';
import { countFrame, type Tracked } from './experiment.ts';
import { Simulation } from './simulation.ts';

/** What countFrame did before it read frames without parsing them: parse every one. */
function countByParsing(tracked: Map<string, Tracked>, replies: Map<string, Tracked>, from: string, to: string, text: string): void {
  const frame = JSON.parse(text) as { t: string; id?: number; r?: { k: string; h: number } };
  if (frame.t === 'req' && frame.r) {
    const t = tracked.get(frame.r.k);
    if (!t) return;
    t.messages++;
    t.hops = Math.max(t.hops, frame.r.h);
    replies.set(`${to}>${from}#${frame.id}`, t);
  } else if (frame.t === 'res' || frame.t === 'err') {
    const t = replies.get(`${from}>${to}#${frame.id}`);
    if (!t) return;
    t.messages++;
    replies.delete(`${from}>${to}#${frame.id}`);
  }
}

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
      countByParsing(slow.tracked, slow.replies, from, to, text);
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
