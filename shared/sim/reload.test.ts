import { describe, expect, it } from 'vitest';
import { Simulation, type SimNode } from './simulation.ts';

/**
 * A tab that reloads comes back as the same node before its peers have heard its old channels
 * close (a page's close does not always reach them). Each peer then holds a channel, often
 * younger than a connect timeout, to a process that is gone, and the new process dials it.
 */
describe('a node that reloads before its peers notice', () => {
  it('gets every channel back within seconds, reload after reload: a peer PINGs its young channel, hears nothing and lets the new one in', { timeout: 60_000 }, async () => {
    const sim = new Simulation({ seed: 21 });
    const nodes = await sim.grow(8);
    await sim.run(2 * 60_000);
    let tab: SimNode = nodes[7]!;
    const others = nodes.slice(0, 7);
    expect(tab.node.neighbours().length).toBe(7);
    const count = (name: string) => others.reduce((n, s) => n + s.node.stats.get(name), 0);
    for (let reload = 1; reload <= 6; reload++) {
      sim.leave(tab, { silently: true });
      tab = await sim.spawn(tab.identity, { churn: false });
      // Without the probe each young channel's peer answered BUSY until it was 15 s old, and
      // the node took 16 to 29 s to get all 7 back (seed 21); with it, 2 to 7 s.
      await sim.run(10_000);
      expect(tab.node.neighbours().length, `neighbours after reload ${reload}`).toBe(7);
      // Every peer kept one channel to it: the live one.
      for (const s of others) expect(s.node.neighbours().some((p) => p.hex === tab.node.hex)).toBe(true);
    }
    // From the second reload on, the old channels were 10 s old: the probe is what let them go.
    expect(count('channel-probe-unanswered')).toBeGreaterThanOrEqual(5 * 7);
    expect(count('busy-crossed-dial')).toBe(0);
    expect(tab.node.stats.get('dial-failed-BUSY') + tab.node.stats.get('bootstrap-dial-failed-BUSY')).toBe(0);
    sim.close();
  });

  it('keeps a young channel that answers the PING: a second dial from its peer crossed ours, and is told when to retry', async () => {
    const sim = new Simulation({ seed: 22 });
    const a = await sim.spawn();
    await sim.run(1_000);
    const b = await sim.spawn();
    await sim.until(b.started);
    const channel = b.node.channels.peers.get(a.node.hex)!;
    expect(channel).toBeDefined();
    const reply = await sim.until(b.node.channels.handleSignal(a.node.hex, { conn: 'f'.repeat(16), data: [] }));
    expect(reply).toEqual({ busyMs: expect.any(Number) });
    const busyMs = (reply as { busyMs: number }).busyMs;
    expect(busyMs).toBeGreaterThanOrEqual(1_000);
    expect(busyMs).toBeLessThanOrEqual(15_000);
    expect(b.node.stats.get('busy-crossed-dial')).toBe(1);
    expect(b.node.stats.get('channel-probe-unanswered')).toBe(0);
    expect(b.node.channels.peers.get(a.node.hex)).toBe(channel);
    sim.close();
  });
});
