import { afterEach, describe, expect, it } from 'vitest';
import { askNonce } from '../chat/answer-proofs.ts';
import { recordKey } from '../chat/records.ts';
import { closestNeighbour, firstHops } from '../dht/router.ts';
import type { SignalPayload } from '../lib/transport.ts';
import { compareDistance, type NodeId } from '../lib/id.ts';
import { idFromHex, idToHex } from '../lib/id.ts';
import { Simulation, type SimNode } from './simulation.ts';

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

  // Two need all three paths to fit in the dial's connect timeout (each path has 4 s).
  it.each([1, 2])('an overlay dial whose %i greedy first hops swallow its SIGNAL goes around them and connects', async (lost) => {
    sim = new Simulation({ seed: 21 });
    const nodes = await sim.grow(80);
    const from = nodes[5]!;
    const target = nodes.find((n) => n !== from && !from.node.peer(n.node.hex))!;
    // The greedy first hops toward the target drop every SIGNAL they are asked to pass on, and
    // answer nothing (as a liar does): the dial's first paths are lost.
    const hops = firstHops(idFromHex(target.node.hex)!, from.node.neighbours(), lost);
    expect(hops).toHaveLength(lost);
    const swallowed = hops.map((hop) => swallowSignals(sim.live.get(hop.hex)!));
    await sim.until(from.node.channels.dial(target.node.hex, from.node.overlayPath(target.node.hex)));
    for (const count of swallowed) expect(count()).toBeGreaterThan(0);
    expect(from.node.stats.get('signal-route-again')).toBe(lost);
    expect(from.node.peer(target.node.hex)).toBeDefined();
  });

  it('a signaling step sent again, its reply lost on the way, gets the same reply: the dial still opens', async () => {
    sim = new Simulation({ seed: 23 });
    const nodes = await sim.grow(30);
    const from = nodes[4]!;
    const target = nodes.find((n) => n !== from && !from.node.peer(n.node.hex))!;
    const boot = from.node.bootstrap!;
    // Every step that carries signals arrives twice; the first reply is lost (as when a route
    // is slow and the dialer tries another path).
    const twice = async (p: SignalPayload) => {
      if (p.data.length > 0) await boot.exchange(from.node.hex, target.node.hex, p);
      return boot.exchange(from.node.hex, target.node.hex, p);
    };
    const answered = target.node.stats.get('connections-answered');
    await sim.until(from.node.channels.dial(target.node.hex, twice));
    expect(from.node.peer(target.node.hex)).toBeDefined();
    expect(target.node.stats.get('signal-step-again')).toBeGreaterThan(0);
    expect(target.node.stats.get('connections-answered')).toBe(answered + 1);
  });

  it('a request through a waypoint reaches a node the greedy path to it cannot: the waypoint has a channel to it', async () => {
    sim = new Simulation({ seed: 33 });
    const nodes = await sim.grow(80);
    const from = nodes[7]!;
    const target = nodes.find((n) => n !== from && !from.node.peer(n.node.hex))!;
    // Every node on the greedy path to the target swallows whatever is routed through it.
    const path = greedyPath(from, target.node.id).filter((hex) => hex !== target.node.hex);
    expect(path.length).toBeGreaterThan(0);
    for (const hex of path) {
      const liar = sim.live.get(hex)!;
      const honest = liar.node.channels.onRequest.bind(liar.node.channels);
      liar.node.channels.onRequest = (peer, req, reply) => (req.r ? undefined : honest(peer, req, reply));
    }
    // A neighbour of the target whose own greedy path from `from` passes none of them.
    const waypoint = target.node.neighbours().find((p) => !path.includes(p.hex) && greedyPath(from, p.id).every((hex) => !path.includes(hex)));
    expect(waypoint).toBeDefined();
    const key = recordKey('waypoint');
    const answeredBy = async (via?: string) => {
      const nonce = askNonce(from.node.random);
      const [a] = await sim.until(from.node.routeFromHere('FIND_VALUE', { key: idToHex(key), nonce }, target.node.id, 1, { leave: true, via, timeoutMs: 3_000 }));
      return a?.proof?.holder ?? null;
    };
    expect(await answeredBy()).toBeNull();
    expect(await answeredBy(waypoint!.hex)).toBe(target.node.hex);
  });

  it('a route whose waypoint is gone is dropped with a counted reason, not answered elsewhere', async () => {
    sim = new Simulation({ seed: 34 });
    const nodes = await sim.grow(40);
    const from = nodes[3]!;
    const gone = nodes.find((n) => n !== from && !from.node.peer(n.node.hex))!;
    sim.leave(gone);
    await sim.run(5_000);
    const key = recordKey('gone');
    const nonce = askNonce(from.node.random);
    const replies = await sim.until(from.node.routeFromHere('FIND_VALUE', { key: idToHex(key), nonce }, key, 1, { via: gone.node.hex, timeoutMs: 3_000 }));
    expect(replies).toEqual([]);
    expect([...sim.live.values()].reduce((n, s) => n + (s.node.stats.get('route-drop-no-waypoint') ?? 0), 0)).toBe(1);
  });
});

/** Makes `s` drop every SIGNAL it is asked to pass on or answer, unanswered (as a liar does). */
function swallowSignals(s: SimNode): () => number {
  const honest = s.node.channels.onRequest.bind(s.node.channels);
  let swallowed = 0;
  s.node.channels.onRequest = (peer, req, reply) => {
    if (req.m === 'SIGNAL') return void swallowed++;
    honest(peer, req, reply);
  };
  return () => swallowed;
}

/** The hops a routed request from `from` to `key` takes between honest nodes (router.ts decideRoute). */
function greedyPath(from: SimNode, key: NodeId): string[] {
  const out: string[] = [];
  let at = from.node;
  let prev: string | null = null;
  for (;;) {
    const next = closestNeighbour(key, at.neighbours(), new Set(prev ? [prev] : []));
    if (!next || (out.length > 0 && compareDistance(key, next.id, at.id) >= 0)) return out;
    out.push(next.hex);
    prev = at.hex;
    at = sim.live.get(next.hex)!.node;
  }
}
