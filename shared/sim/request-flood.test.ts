/**
 * Issue 14: every request a node answers or forwards passes a token bucket and an in-flight cap
 * per neighbour (dht/budget.ts RequestLimits). Before them, one neighbour's 5,000 FIND_NODE were
 * all answered within 105 simulated ms.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { REQUEST_BURST_PER_NEIGHBOUR, REQUESTS_PER_NEIGHBOUR_PER_S } from '../dht/constants.ts';
import { ErrorCode } from '../lib/errors.ts';
import { Simulation } from './simulation.ts';

const FLOOD = 5_000;

let sim: Simulation;
afterEach(() => sim?.close());

describe('per-neighbour request limits', () => {
  it('a neighbour\'s request flood is held to its bucket', { timeout: 60_000 }, async () => {
    sim = new Simulation({ seed: 41 });
    const nodes = await sim.grow(6, 6, 5 * 60_000);
    const victim = nodes[0]!;
    const [attacker, witness] = nodes.filter((s) => s !== victim && s.node.peer(victim.node.hex));
    const flood = attacker!.node.peer(victim.node.hex)!;
    const honest = witness!.node.peer(victim.node.hex)!;
    const before = { ...victim.node.stats.snapshot('request-refused-') };
    expect(before).toEqual({});

    const start = sim.clock.now();
    const answers: Promise<string>[] = [];
    for (let i = 0; i < FLOOD; i++) {
      answers.push(flood.rpc.request('FIND_NODE', { target: attacker!.node.hex }, 5_000).then(
        () => 'answered',
        (err: { code?: string }) => err.code ?? 'error',
      ));
    }
    // Another neighbour asks at the same moment.
    const witnessAsk = honest.rpc.request('FIND_NODE', { target: witness!.node.hex }, 5_000);
    const results = await sim.until(Promise.all(answers));
    const elapsedS = (sim.clock.now() - start) / 1_000;

    const answered = results.filter((r) => r === 'answered').length;
    const busy = results.filter((r) => r === ErrorCode.Busy).length;
    expect(answered).toBeGreaterThan(0);
    expect(answered).toBeLessThanOrEqual(REQUEST_BURST_PER_NEIGHBOUR + Math.ceil(elapsedS * REQUESTS_PER_NEIGHBOUR_PER_S));
    expect(answered + busy).toBe(FLOOD);
    const refused = victim.node.stats.get('request-refused-rate') + victim.node.stats.get('request-refused-in-flight');
    expect(refused).toBe(busy);
    // The other neighbour is answered, during the flood and after it.
    await expect(sim.until(witnessAsk)).resolves.toMatchObject({ nodes: expect.any(Array) });
    await expect(sim.until(witness!.node.direct(honest, 'PING', {}))).resolves.toEqual({});
    // And the flooder again once its bucket has refilled.
    await sim.run(REQUEST_BURST_PER_NEIGHBOUR / REQUESTS_PER_NEIGHBOUR_PER_S * 1_000);
    await expect(sim.until(attacker!.node.direct(flood, 'PING', {}))).resolves.toEqual({});
  });
});
