/**
 * Issue 14: every request a node answers or forwards passes a token bucket and an in-flight cap
 * per neighbour (dht/budget.ts RequestLimits). Before them, one neighbour's 5,000 FIND_NODE were
 * all answered within 105 simulated ms.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FORWARD_RATE_PER_NEIGHBOUR_PER_S, MAX_REQUESTS_IN_FLIGHT_PER_NEIGHBOUR, MAX_SENDS_IN_FLIGHT_PER_NEIGHBOUR, REQUEST_BURST_PER_NEIGHBOUR, REQUESTS_PER_NEIGHBOUR_PER_S, SEND_BURST_PER_NEIGHBOUR, SENDS_PER_NEIGHBOUR_PER_S } from '../dht/constants.ts';
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

describe('forwarded requests', () => {
  it('a next hop that swallows forwarded requests holds its own slots, not its upstream\'s', { timeout: 60_000 }, async () => {
    sim = new Simulation({ seed: 41 });
    const nodes = await sim.grow(6, 6, 5 * 60_000);
    const hop = nodes[0]!;
    const [upstream, liar] = nodes.filter((s) => s !== hop && s.node.peer(hop.node.hex));
    // The liar answers nothing it is given, routed or not.
    liar!.node.channels.onRequest = () => {};
    const toHop = upstream!.node.peer(hop.node.hex)!;
    const route = { k: liar!.node.hex, h: 1, max: 20, ms: 9_000 };
    const send = (n: number) => Array.from({ length: n }, () => toHop.rpc.request('PING', {}, 9_000, route).then(() => 'ok', (e: { code?: string }) => e.code ?? 'error'));
    // Within the upstream's request bucket and the hop's forwarding rate (50 a second), past
    // the in-flight cap: before forwarded requests were charged to the next hop, the last 16
    // and every other request of the upstream's were refused until the liar's timeouts.
    const sent = MAX_REQUESTS_IN_FLIGHT_PER_NEIGHBOUR + 16;
    const routed = send(FORWARD_RATE_PER_NEIGHBOUR_PER_S);
    await sim.run(1_000);
    routed.push(...send(sent - FORWARD_RATE_PER_NEIGHBOUR_PER_S));
    // The upstream's own request right after: answered, its slots are free.
    await expect(sim.until(toHop.rpc.request('FIND_NODE', { target: upstream!.node.hex }, 5_000))).resolves.toMatchObject({ nodes: expect.any(Array) });
    expect(hop.node.stats.get('request-refused-in-flight')).toBe(0);
    // The liar owes a full send cap; the rest went around it.
    expect(hop.node.stats.get('forward-around-owing')).toBe(sent - MAX_SENDS_IN_FLIGHT_PER_NEIGHBOUR);
    const results = await sim.until(Promise.all(routed));
    expect(results.filter((r) => r === ErrorCode.Timeout).length).toBeGreaterThanOrEqual(MAX_SENDS_IN_FLIGHT_PER_NEIGHBOUR);
    expect(results.every((r) => r === 'ok' || r === ErrorCode.Timeout)).toBe(true);
  });
});

describe('a node\'s own bursts', () => {
  it('wait their turn for room at the neighbour instead of being refused: 300 requests at once, none answered BUSY', { timeout: 60_000 }, async () => {
    sim = new Simulation({ seed: 43 });
    const nodes = await sim.grow(6, 6, 5 * 60_000);
    const [asker, asked] = [nodes[1]!, nodes[0]!];
    const peer = asker.node.peer(asked.node.hex)!;
    const BURST = 300;
    const start = sim.clock.now();
    const answeredOrder: number[] = [];
    const ask = (i: number) => asker.node.direct(peer, 'PING', {}, 60_000).then(() => (answeredOrder.push(i), 'ok'), (e: { code?: string }) => e.code ?? 'error');
    const asks = Array.from({ length: BURST }, (_, i) => ask(i));
    // One more, made while the others wait: it waits its turn behind them, not before.
    await sim.run(2_000);
    asks.push(ask(BURST));
    const results = await sim.until(Promise.all(asks));
    expect(results.filter((r) => r === 'ok')).toHaveLength(BURST + 1);
    expect(answeredOrder.at(-1)).toBe(BURST);
    expect(asked.node.stats.snapshot('request-refused-')).toEqual({});
    // Paced at the send bucket: the burst at once, the rest at the send rate.
    const paced = (BURST + 1 - SEND_BURST_PER_NEIGHBOUR) / SENDS_PER_NEIGHBOUR_PER_S;
    expect((sim.clock.now() - start) / 1_000).toBeGreaterThanOrEqual(paced - 1);
    expect(asker.node.stats.get('send-waited')).toBeGreaterThanOrEqual(BURST + 1 - SEND_BURST_PER_NEIGHBOUR);
  });

  it('give up as BUSY, unsent, when no room comes before their timeout', { timeout: 60_000 }, async () => {
    sim = new Simulation({ seed: 43 });
    const nodes = await sim.grow(6, 6, 5 * 60_000);
    const [asker, asked] = [nodes[1]!, nodes[0]!];
    const peer = asker.node.peer(asked.node.hex)!;
    const asks = Array.from({ length: SEND_BURST_PER_NEIGHBOUR + 40 }, () => asker.node.direct(peer, 'PING', {}, 1_000).then(() => 'ok', (e: { code?: string }) => e.code ?? 'error'));
    const results = await sim.until(Promise.all(asks));
    const gaveUp = asker.node.stats.get('send-gave-up');
    expect(gaveUp).toBeGreaterThan(0);
    expect(results.filter((r) => r === ErrorCode.Busy)).toHaveLength(gaveUp);
    expect(asked.node.stats.snapshot('request-refused-')).toEqual({});
  });
});
