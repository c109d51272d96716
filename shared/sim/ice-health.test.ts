/**
 * Connection health on a seeded network whose ICE can fail between chosen pairs: what a node
 * counts when ICE fails, stalls or drops a channel, and how it gets the channel back.
 */
import { describe, expect, it } from 'vitest';
import { CONNECT_TIMEOUT_MS } from '../dht/constants.ts';
import { ErrorCode, isPeerchatError } from '../lib/errors.ts';
import { ICE_CHECK_TIMEOUT_MS, type IceOutcome } from '../lib/transport.ts';
import { Simulation, type SimNode } from './simulation.ts';

/** A settled network of 8 and two of its nodes with a channel between them. */
async function connectedPair(seed: number) {
  const sim = new Simulation({ seed });
  await sim.grow(8);
  const nodes = [...sim.live.values()];
  const a = nodes[0]!;
  const b = nodes.find((n) => a.node.channels.peers.has(n.node.hex))!;
  return { sim, a, b };
}

/** ICE between `a` and `b` (either direction) ends as `outcome`; every other pair connects. */
function iceBetween(sim: Simulation, a: SimNode, b: SimNode, outcome: IceOutcome): { pairs: number } {
  const seen = { pairs: 0 };
  sim.network.options.ice = (from, to) => {
    if (!((from === a.name && to === b.name) || (from === b.name && to === a.name))) return 'connects';
    seen.pairs++;
    return outcome;
  };
  return seen;
}

const count = (s: SimNode, name: string) => s.node.stats.get(name);

describe('connection health', () => {
  it('counts an ICE failure once per connection, at both ends, and the dial fails with ICE_FAILED', { timeout: 30_000 }, async () => {
    const { sim, a, b } = await connectedPair(21);
    const seen = iceBetween(sim, a, b, 'fails');
    a.node.channels.peers.get(b.node.hex)!.close();
    await sim.run(100);
    const dial = a.node.channels.dial(b.node.hex, a.node.overlayPath(b.node.hex), 'needed').catch((err: unknown) => err);
    const err = await sim.until(dial);
    expect(isPeerchatError(err, ErrorCode.IceFailed)).toBe(true);
    expect((err as Error).message).toBe('ice failed');
    await sim.run(30_000);
    // Each attempt between them is two connections, one at each end: each counted once.
    expect(seen.pairs).toBeGreaterThanOrEqual(1);
    expect(count(a, 'ice-failed') + count(b, 'ice-failed')).toBe(2 * seen.pairs);
    expect(a.node.channels.peers.has(b.node.hex)).toBe(false);
    sim.close();
  });

  it('names a stuck ICE check before the connect timeout, and counts it once at each end', { timeout: 30_000 }, async () => {
    const { sim, a, b } = await connectedPair(22);
    const seen = iceBetween(sim, a, b, 'stuck');
    a.node.channels.peers.get(b.node.hex)!.close();
    await sim.run(100);
    const started = sim.clock.now();
    const dial = a.node.channels.dial(b.node.hex, a.node.overlayPath(b.node.hex), 'needed').catch((err: unknown) => err);
    const err = await sim.until(dial);
    const took = sim.clock.now() - started;
    expect((err as Error).message).toBe('ice checking timed out');
    expect(isPeerchatError(err, ErrorCode.IceFailed)).toBe(true);
    expect(took).toBeGreaterThanOrEqual(ICE_CHECK_TIMEOUT_MS);
    expect(took).toBeLessThan(CONNECT_TIMEOUT_MS);
    await sim.run(60_000);
    expect(count(a, 'ice-checking-timeout') + count(b, 'ice-checking-timeout')).toBe(2 * seen.pairs);
    sim.close();
  });

  it('replaces a channel ICE lost through the overlay within seconds, counting the loss once', { timeout: 30_000 }, async () => {
    const { sim, a, b } = await connectedPair(23);
    const before = { overlay: count(a, 'dials-via-overlay') + count(b, 'dials-via-overlay'), bootstrap: count(a, 'dials-via-bootstrap') };
    a.transport.disconnectFrom(b.name);
    expect(a.node.channels.peers.has(b.node.hex)).toBe(false);
    // Repair comes a second after the loss; the next near check or refresh is minutes away.
    await sim.run(10_000);
    expect(a.node.channels.peers.has(b.node.hex)).toBe(true);
    expect(b.node.channels.peers.has(a.node.hex)).toBe(true);
    expect(count(a, 'ice-disconnected')).toBe(1);
    expect(count(b, 'ice-disconnected')).toBe(1);
    expect(count(a, 'channel-lost-ice-disconnected')).toBe(1);
    // Redialed with a routed SIGNAL, not through the signal server.
    expect(count(a, 'dials-via-overlay') + count(b, 'dials-via-overlay')).toBeGreaterThan(before.overlay);
    expect(count(a, 'dials-via-bootstrap')).toBe(before.bootstrap);
    sim.close();
  });
});
