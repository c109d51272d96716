import { afterEach, describe, expect, it } from 'vitest';
import { askNonce } from '../chat/answer-proofs.ts';
import { recordKey } from '../chat/records.ts';
import { firstHops } from '../dht/router.ts';
import { idFromHex, idToHex } from '../lib/id.ts';
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

  it('an overlay dial whose SIGNAL a first hop swallows goes again around that hop and connects', async () => {
    sim = new Simulation({ seed: 21 });
    const nodes = await sim.grow(80);
    const from = nodes[5]!;
    const target = nodes.find((n) => n !== from && !from.node.peer(n.node.hex))!;
    const [hop] = firstHops(idFromHex(target.node.hex)!, from.node.neighbours(), 1);
    // The greedy first hop toward the target drops every SIGNAL it is asked to pass on, and
    // answers nothing (as a liar does): the dial's first path is lost.
    const dropper = sim.live.get(hop!.hex)!;
    const honest = dropper.node.channels.onRequest.bind(dropper.node.channels);
    let swallowed = 0;
    dropper.node.channels.onRequest = (peer, req, reply) => {
      if (req.m === 'SIGNAL') return void swallowed++;
      honest(peer, req, reply);
    };
    await sim.until(from.node.channels.dial(target.node.hex, from.node.overlayPath(target.node.hex)));
    expect(swallowed).toBeGreaterThan(0);
    expect(from.node.stats.get('signal-route-again')).toBeGreaterThan(0);
    expect(from.node.peer(target.node.hex)).toBeDefined();
  });
});
