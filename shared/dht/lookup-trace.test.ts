import { describe, expect, it } from 'vitest';
import type { Clock } from '../lib/clock.ts';
import { ErrorCode, PeerchatError } from '../lib/errors.ts';
import { idFromHex, idToHex, type NodeId } from '../lib/id.ts';
import type { ContactWire } from './contacts.ts';
import type { Peer } from './context.ts';
import { traceLookup, TRACE_MAX_HOPS, type TraceHost } from './lookup-trace.ts';

const KEY = idFromHex('0'.repeat(40))!;
/** An id whose distance to KEY is `d` in its first byte: smaller is closer. */
const at = (d: number): string => d.toString(16).padStart(2, '0') + 'ab'.repeat(19);

/**
 * A network as a table: who each node names for the key, and how long it takes to answer.
 * Contacts carry the hex itself as `key` and contactIds reads it back (no id work here).
 */
function host(o: { self: string; neighbours: string[]; names: Record<string, string[]>; slow?: Set<string>; tickMs?: number }): TraceHost & { routedTo: string[] } {
  let now = 0;
  const neighbour = (hex: string) => ({ id: idFromHex(hex)!, hex }) as unknown as Peer;
  const answer = (hex: string) => {
    now += o.tickMs ?? 10;
    if (o.slow?.has(hex)) return Promise.reject(new PeerchatError(ErrorCode.Timeout, 'no reply'));
    return Promise.resolve({ nodes: (o.names[hex] ?? []).map((h) => ({ key: h, n: 0 }) as ContactWire) });
  };
  const routedTo: string[] = [];
  return {
    routedTo,
    hex: o.self,
    self: { id: idFromHex(o.self)!, hex: o.self },
    clock: { now: () => now } as Clock,
    replication: 3,
    neighbours: () => o.neighbours.map(neighbour),
    peer: (hex) => (o.neighbours.includes(hex) ? neighbour(hex) : undefined),
    direct: (peer) => answer(peer.hex),
    routeFromHere: async (_m, _b, key: NodeId, _paths, opts) => {
      const hex = idToHex(key);
      routedTo.push(hex);
      try {
        return [await answer(hex)];
      } catch (err) {
        opts?.failed?.(err);
        return [];
      }
    },
    contactIds: (contacts) => contacts.map((c) => c.key),
  };
}

describe('a traced lookup', () => {
  it('walks to the closer node each hop names, timing each, until a hop names none closer', async () => {
    const h = host({
      self: at(0x80),
      neighbours: [at(0x40), at(0x70)],
      names: { [at(0x40)]: [at(0x40), at(0x20), at(0x30)], [at(0x20)]: [at(0x08), at(0x20)], [at(0x08)]: [at(0x08), at(0x20)] },
    });
    const trace = await traceLookup(h, KEY, 1);
    expect(trace.hops.map((x) => [x.hop, x.hex, x.ms, x.outcome, x.routed])).toEqual([
      [1, at(0x40), 10, 'answered', false],
      [2, at(0x20), 20, 'answered', true],
      [3, at(0x08), 30, 'answered', true],
    ]);
    expect(h.routedTo).toEqual([at(0x20), at(0x08)]);
    expect(trace.arrived).toBe(1);
    expect(trace.nodes).toEqual([at(0x08), at(0x20), at(0x30)]);
    expect(trace.ms).toBe(30);
  });

  it('ends a path at a hop that does not answer, and the other disjoint path still arrives', async () => {
    const h = host({
      self: at(0x80),
      neighbours: [at(0x40), at(0x50)],
      names: { [at(0x40)]: [at(0x10)], [at(0x50)]: [at(0x18)], [at(0x18)]: [at(0x18)] },
      slow: new Set([at(0x10)]),
    });
    const trace = await traceLookup(h, KEY, 2);
    expect(trace.paths).toBe(2);
    expect(trace.hops.map((x) => [x.path, x.hop, x.hex, x.outcome])).toEqual([
      [0, 1, at(0x40), 'answered'],
      [0, 2, at(0x10), 'timeout'],
      [1, 1, at(0x50), 'answered'],
      [1, 2, at(0x18), 'answered'],
    ]);
    expect(trace.arrived).toBe(1);
  });

  it('takes no hop when no neighbour is closer to the key than this node, as a routed lookup answers here', async () => {
    const h = host({ self: at(0x01), neighbours: [at(0x40), at(0x50)], names: {} });
    const trace = await traceLookup(h, KEY, 2);
    expect(trace.hops).toEqual([]);
    expect(trace.arrived).toBe(1);
    expect(trace.nodes).toEqual([at(0x01), at(0x40), at(0x50)]);
  });

  it('stops after TRACE_MAX_HOPS when every hop names a closer id, as a liar naming made-up ones would', async () => {
    const names: Record<string, string[]> = {};
    for (let d = 0xf0; d > 0; d--) names[at(d)] = [at(d - 1)];
    const h = host({ self: at(0xff), neighbours: [at(0xf0)], names });
    const trace = await traceLookup(h, KEY, 1);
    expect(trace.hops).toHaveLength(TRACE_MAX_HOPS);
    expect(trace.arrived).toBe(0);
  });
});
