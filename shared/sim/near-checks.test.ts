import { describe, expect, it } from 'vitest';
import { bucketIndex } from '../lib/id.ts';
import { Simulation, type SimNode } from './simulation.ts';

const MINUTE = 60_000;

/** Calls `seen` for every FIND_NODE of a's own id that a sends: to whom, and whether routed. */
function watchSelfQueries(sim: Simulation, a: SimNode, seen: (to: string, routed: boolean) => void): void {
  sim.network.options.onFrame = (from, to, text) => {
    if (from !== a.name) return;
    const f = JSON.parse(text) as { t: string; m?: string; r?: unknown; b?: { target?: string } };
    if (f.t === 'req' && f.m === 'FIND_NODE' && f.b?.target === a.node.hex) seen(to, f.r !== undefined);
  };
}

/**
 * Rounds of "who is near me" questions a node asks: each near check and each refresh sends one
 * direct FIND_NODE of its own id to its nearest neighbour (routed ones carry `r`).
 */
function countRounds(sim: Simulation, a: SimNode): { rounds: number; at: number[]; routedAt: number[] } {
  const out = { rounds: 0, at: [] as number[], routedAt: [] as number[] };
  watchSelfQueries(sim, a, (to, routed) => {
    const nearest = a.node.closestTo(a.node.id, 2)[1];
    if (routed) out.routedAt.push(sim.clock.now());
    else if (nearest && sim.live.get(nearest.hex)?.name === to) {
      out.rounds++;
      out.at.push(sim.clock.now());
    }
  });
  return out;
}

describe('near checks', () => {
  it('slow down to one per 4 minutes in a quiet neighbourhood and speed up when it changes', { timeout: 120_000 }, async () => {
    const sim = new Simulation({ seed: 7 });
    await sim.grow(40);
    await sim.run(60 * MINUTE);
    const a = sim.randomLive();

    // Quiet hour: near checks every 4 minutes (3.6 to 4.4 with jitter) plus 5 to 7 refreshes;
    // every 2 minutes, as before, would be 30 checks.
    const quiet = countRounds(sim, a);
    await sim.run(60 * MINUTE);
    expect(quiet.rounds).toBeGreaterThanOrEqual(13 + 5);
    expect(quiet.rounds).toBeLessThanOrEqual(17 + 7);

    // Right after a near check (a round without a routed lookup beside it: not a refresh), the
    // next is 4 minutes away. A loses its nearest neighbour: the repair finds it again at once,
    // and the near checks come back to every 2 minutes (at most 2.2 with jitter).
    const watch = countRounds(sim, a);
    const isNearCheck = (t: number) => !watch.routedAt.some((r) => Math.abs(r - t) < 1_000);
    while (!watch.at.some(isNearCheck)) await sim.run(1_000);
    const nearest = a.node.closestTo(a.node.id, 2)[1]!;
    const busy = countRounds(sim, a);
    const changed = sim.clock.now();
    a.node.channels.peers.get(nearest.hex)!.close();
    await sim.run(7 * MINUTE);
    expect(a.node.channels.peers.has(nearest.hex)).toBe(true);
    const after = busy.at.map((t) => (t - changed) / MINUTE);
    expect(after[0]).toBeLessThan(0.1); // the repair
    expect(after[1]).toBeGreaterThan(0.1);
    expect(after[1]).toBeLessThanOrEqual(2.2);
    sim.close();
  });
});

describe('a near check', () => {
  it('asks its three nearest neighbours and the nearest one across its near subtree', { timeout: 120_000 }, async () => {
    // Measured at N = 2,000: every lookup that missed a settled node missed one in the closest
    // node's boundary bucket, which never dialed it (that node's own near subtree is smaller)
    // and which its nearest neighbours, all on its own side, did not know either.
    const sim = new Simulation({ seed: 11 });
    await sim.grow(120);
    const r = 8;
    const a = [...sim.live.values()].find((s) => {
      const boundary = s.node.table.nearBoundary(r);
      const nearest = s.node.closestTo(s.node.id, 4).slice(1);
      return nearest.every((n) => bucketIndex(s.node.id, n.id) < boundary);
    })!;
    expect(a).toBeDefined();
    const boundary = a.node.table.nearBoundary(r);
    const nearest = a.node.closestTo(a.node.id, 4).slice(1).map((n) => n.hex);
    const across = a.node
      .closestTo(a.node.id, 100)
      .find((n) => bucketIndex(a.node.id, n.id) === boundary)!;
    expect(across).toBeDefined();

    const asked: string[] = [];
    watchSelfQueries(sim, a, (to, routed) => {
      if (!routed) asked.push([...sim.live.values()].find((s) => s.name === to)!.node.hex);
    });
    await sim.until(a.node.maintenance.checkNear());
    expect(asked.sort()).toEqual([...nearest, across.hex].sort());
    sim.close();
  });
});
