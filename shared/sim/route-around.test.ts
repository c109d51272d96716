import { afterEach, describe, expect, it } from 'vitest';
import { askNonce } from '../chat/answer-proofs.ts';
import { recordKey } from '../chat/records.ts';
import { idToHex } from '../lib/id.ts';
import { Simulation } from './simulation.ts';

let sim: Simulation;
afterEach(() => sim?.close());

describe('routing around nodes (Route.v)', () => {
  it('a routed request is never forwarded to a node its route asks hops to avoid', async () => {
    sim = new Simulation({ seed: 14 });
    const nodes = await sim.grow(80);
    const key = recordKey('around');
    const keyHex = idToHex(key);
    const [closest, second] = sim.closestLive(key, 2);
    const from = nodes.find((n) => n.node.hex !== closest && n.node.hex !== second && !n.node.peer(closest!))!;
    // A FIND_VALUE with a nonce comes back signed by the node it arrived at (answer-proofs.ts).
    const arrivedAt = async (avoidAll?: Set<string>) => {
      const nonce = askNonce(from.node.random);
      const [a] = await sim.until(from.node.routeFromHere('FIND_VALUE', { key: keyHex, nonce }, key, 1, { avoidAll }));
      return a?.proof?.holder;
    };
    expect(await arrivedAt()).toBe(closest);
    // Every honest hop routes around it: the request arrives at the next closest instead.
    expect(await arrivedAt(new Set([closest!]))).toBe(second);
  });
});
