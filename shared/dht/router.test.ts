import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HOP_BUDGET_MARGIN_MS, MAX_HOPS } from './constants.ts';
import { ID_BYTES } from '../lib/id.ts';
import { compareDistance, idToHex, sortByDistance, type NodeId } from '../lib/id.ts';
import { SeededRandom } from '../lib/random.ts';
import {
  closestNeighbour,
  closestSet,
  decideRoute,
  inClosestSet,
  estimateNetworkSize,
  firstHops,
  hopLimit,
  type Neighbour,
  type RouteState,
} from './router.ts';

// Property runs replay exactly (STYLE: tests are deterministic); change the seed to explore.
fc.configureGlobal({ seed: 0x5eed });

const anyId = fc.uint8Array({ minLength: ID_BYTES, maxLength: ID_BYTES });
const node = (id: NodeId): Neighbour => ({ id, hex: idToHex(id) });
/** An id whose last byte is `n` and the rest zero: distance to the zero key is n. */
function at(n: number): Neighbour {
  const id = new Uint8Array(ID_BYTES);
  id[ID_BYTES - 1] = n;
  return node(id);
}
const KEY = at(0).id;
const route = (over: Partial<RouteState> = {}): RouteState => ({ key: KEY, hops: 1, maxHops: 10, budgetMs: 5_000, ...over });
/** The distinct neighbours (by hex), without self. */
function distinct(self: NodeId, ids: NodeId[]): Neighbour[] {
  const byHex = new Map(ids.map((id) => [idToHex(id), node(id)]));
  byHex.delete(idToHex(self));
  return [...byHex.values()];
}

describe('decideRoute', () => {
  it('forwards to the neighbour closest to the key when it is closer than self', () => {
    const d = decideRoute(at(50).id, route(), [at(70), at(9), at(30), at(60)]);
    expect(d).toEqual({ action: 'forward', to: at(9), next: route({ hops: 2, budgetMs: 5_000 - HOP_BUDGET_MARGIN_MS }) });
  });

  it('arrives when no neighbour is strictly closer than self, or there are none', () => {
    expect(decideRoute(at(5).id, route(), [at(6), at(200)])).toEqual({ action: 'arrived' });
    expect(decideRoute(at(5).id, route(), [])).toEqual({ action: 'arrived' });
    // A neighbour exactly as close as self is not closer.
    expect(decideRoute(at(5).id, route(), [at(5)])).toEqual({ action: 'arrived' });
  });

  it('skips excluded neighbours and arrives when only excluded ones are closer', () => {
    const neighbours = [at(3), at(4), at(100)];
    const d = decideRoute(at(50).id, route(), neighbours, new Set([at(3).hex]));
    expect(d.action === 'forward' && d.to.hex).toBe(at(4).hex);
    expect(decideRoute(at(50).id, route(), neighbours, new Set([at(3).hex, at(4).hex]))).toEqual({ action: 'arrived' });
  });

  it('never delivers to route.avoid, the origin of a lookup of its own id', () => {
    const neighbours = [at(1), at(2), at(90)];
    const d = decideRoute(at(50).id, route({ avoid: at(1).hex }), neighbours);
    expect(d.action === 'forward' && d.to.hex).toBe(at(2).hex);
    expect(d.action === 'forward' && d.next.avoid).toBe(at(1).hex);
    expect(decideRoute(at(50).id, route({ avoid: at(1).hex }), [at(1), at(90)])).toEqual({ action: 'arrived' });
  });

  it('drops a message that would exceed its hop limit, and forwards one that reaches it exactly', () => {
    const self = at(50).id;
    expect(decideRoute(self, route({ hops: 10, maxHops: 10 }), [at(1)])).toEqual({ action: 'drop', reason: 'hop-limit' });
    const d = decideRoute(self, route({ hops: 9, maxHops: 10 }), [at(1)]);
    expect(d.action === 'forward' && d.next.hops).toBe(10);
  });

  it('answers a message that has arrived even at its hop limit or with no budget left', () => {
    expect(decideRoute(at(1).id, route({ hops: 10, maxHops: 10, budgetMs: 0 }), [at(2)])).toEqual({ action: 'arrived' });
  });

  it('takes HOP_BUDGET_MARGIN_MS off the budget per hop and drops when nothing would be left', () => {
    const self = at(50).id;
    const d = decideRoute(self, route({ budgetMs: HOP_BUDGET_MARGIN_MS + 1 }), [at(1)]);
    expect(d.action === 'forward' && d.next.budgetMs).toBe(1);
    expect(decideRoute(self, route({ budgetMs: HOP_BUDGET_MARGIN_MS }), [at(1)])).toEqual({ action: 'drop', reason: 'budget' });
    expect(decideRoute(self, route({ budgetMs: 0 }), [at(1)])).toEqual({ action: 'drop', reason: 'budget' });
  });

  it('leaves the incoming route untouched', () => {
    const r = route({ avoid: at(77).hex });
    const copy = { ...r };
    decideRoute(at(50).id, r, [at(1)]);
    expect(r).toEqual(copy);
  });

  it('forwards to the closest allowed neighbour exactly when it is strictly closer than self', () => {
    fc.assert(
      fc.property(anyId, anyId, fc.array(anyId, { maxLength: 30 }), fc.nat(), (self, key, ids, skip) => {
        const neighbours = distinct(self, ids);
        const exclude = new Set(neighbours.filter((_, i) => (i + skip) % 3 === 0).map((n) => n.hex));
        const allowed = sortByDistance(key, neighbours.filter((n) => !exclude.has(n.hex)), (n) => n.id);
        const d = decideRoute(self, { key, hops: 0, maxHops: MAX_HOPS, budgetMs: 10_000 }, neighbours, exclude);
        const best = allowed[0];
        if (best && compareDistance(key, best.id, self) < 0) {
          expect(d.action === 'forward' && d.to.hex).toBe(best.hex);
        } else {
          expect(d).toEqual({ action: 'arrived' });
        }
      }),
    );
  });
});

describe('closestNeighbour', () => {
  it('is null when every neighbour is excluded or avoided', () => {
    expect(closestNeighbour(KEY, [])).toBeNull();
    expect(closestNeighbour(KEY, [at(1), at(2)], new Set([at(1).hex]), at(2).hex)).toBeNull();
  });
});

describe('firstHops', () => {
  it('returns up to `paths` distinct neighbours, closest first, even ones farther than self', () => {
    expect(firstHops(KEY, [at(40), at(7), at(90), at(8)], 2)).toEqual([at(7), at(8)]);
    expect(firstHops(KEY, [at(40), at(7)], 5)).toEqual([at(7), at(40)]);
    expect(firstHops(KEY, [at(40), at(7)], 0)).toEqual([]);
    expect(firstHops(KEY, [], 2)).toEqual([]);
  });

  it('equals the first `paths` of a brute-force sort', () => {
    fc.assert(
      fc.property(anyId, anyId, fc.array(anyId, { maxLength: 30 }), fc.integer({ min: 0, max: 5 }), (self, key, ids, paths) => {
        const neighbours = distinct(self, ids);
        const hops = firstHops(key, neighbours, paths);
        expect(new Set(hops.map((n) => n.hex)).size).toBe(hops.length);
        expect(hops.map((n) => n.hex)).toEqual(
          sortByDistance(key, [...neighbours], (n) => n.id)
            .slice(0, paths)
            .map((n) => n.hex),
        );
      }),
    );
  });
});

describe('inClosestSet', () => {
  it('says of self, each neighbour and a stranger whether closestSet lists it', () => {
    const small = fc.integer({ min: 0, max: 63 }).map((n) => at(n).id);
    const someId = fc.oneof(anyId, small);
    fc.assert(
      fc.property(someId, someId, fc.array(someId, { maxLength: 30 }), someId, fc.integer({ min: 0, max: 12 }), (self, key, ids, stranger, r) => {
        const neighbours = distinct(self, ids);
        const listed = new Set(closestSet(key, node(self), neighbours, r).map((n) => n.hex));
        for (const c of [node(self), ...neighbours, node(stranger)]) {
          expect(inClosestSet(key, node(self), neighbours, c, r)).toBe(listed.has(c.hex));
        }
      }),
    );
  });
});

describe('closestSet', () => {
  it('includes self when it is among the r closest, sorted closest first', () => {
    expect(closestSet(KEY, at(5), [at(9), at(2), at(30), at(7)], 3)).toEqual([at(2), at(5), at(7)]);
    expect(closestSet(KEY, at(5), [], 3)).toEqual([at(5)]);
  });

  it('leaves self out when r neighbours are closer, and never lists self twice', () => {
    expect(closestSet(KEY, at(50), [at(1), at(2), at(3)], 2)).toEqual([at(1), at(2)]);
    expect(closestSet(KEY, at(5), [at(5), at(6)], 3)).toEqual([at(5), at(6)]);
  });

  it('is the r closest of self and neighbours by brute force', () => {
    fc.assert(
      fc.property(anyId, anyId, fc.array(anyId, { maxLength: 30 }), fc.integer({ min: 1, max: 12 }), (self, key, ids, r) => {
        const neighbours = distinct(self, ids);
        const expected = sortByDistance(key, [node(self), ...neighbours], (n) => n.id).slice(0, r);
        expect(closestSet(key, node(self), neighbours, r).map((n) => n.hex)).toEqual(expected.map((n) => n.hex));
      }),
    );
  });
});

describe('estimateNetworkSize', () => {
  /** Estimates from the 8 nearest of `selves` nodes of a random network of n ids. */
  function estimates(n: number, selves: number, seed: number): number[] {
    const random = new SeededRandom(seed);
    const ids = Array.from({ length: n }, () => node(random.bytes(ID_BYTES)));
    const out: number[] = [];
    for (let s = 0; s < selves; s++) {
      const self = ids[random.int(n)]!;
      const others = ids.filter((x) => x !== self);
      const nearest = firstHops(self.id, others, 8);
      out.push(estimateNetworkSize(self.id, nearest));
    }
    return out;
  }

  // One estimate from 8 neighbours is a Gamma(8) draw: about 6% of nodes land outside a factor
  // of 2 however good the code is, so the test asks that of most nodes and of the median.
  for (const n of [100, 1_000, 10_000]) {
    it(`is within a factor of 2 of the truth for most nodes of a random network of ${n} ids`, () => {
      const all = estimates(n, 41, n).sort((a, b) => a - b);
      const within = all.filter((e) => e > n / 2 && e < n * 2);
      expect(within.length / all.length).toBeGreaterThanOrEqual(0.85);
      const median = all[20]!;
      expect(median).toBeGreaterThan(n / 1.3);
      expect(median).toBeLessThan(n * 1.3);
    });
  }

  it('is 1 for a lone node and never less than the nodes it can see', () => {
    const self = at(0).id;
    expect(estimateNetworkSize(self, [])).toBe(1);
    // Very far neighbours still mean at least themselves and self.
    const far = [node(new Uint8Array(ID_BYTES).fill(0xff)), node(new Uint8Array(ID_BYTES).fill(0xfe))];
    expect(estimateNetworkSize(self, far)).toBe(3);
  });

  it('grows as the nearest neighbours get closer', () => {
    const self = at(0).id;
    const near = (shift: number) => Array.from({ length: 8 }, (_, i) => {
      const id = new Uint8Array(ID_BYTES);
      id[shift] = 0x10 + i;
      return node(id);
    });
    const wide = estimateNetworkSize(self, near(0));
    const narrow = estimateNetworkSize(self, near(1));
    expect(narrow).toBeGreaterThan(wide);
    // One byte closer is 256 times the density.
    expect(narrow / wide).toBeCloseTo(256, 0);
  });
});

describe('hopLimit', () => {
  it('is ceil(2 log2 N + 4)', () => {
    expect(hopLimit(0)).toBe(6);
    expect(hopLimit(1)).toBe(6);
    expect(hopLimit(2)).toBe(6);
    expect(hopLimit(3)).toBe(8);
    expect(hopLimit(1_000)).toBe(24);
    expect(hopLimit(10_000)).toBe(31);
    expect(hopLimit(2 ** 20)).toBe(44);
  });

  it('is capped at MAX_HOPS', () => {
    expect(hopLimit(2 ** 21)).toBe(MAX_HOPS);
    expect(hopLimit(1e12)).toBe(MAX_HOPS);
    expect(hopLimit(Infinity)).toBe(MAX_HOPS);
  });

  it('never decreases as the network grows', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 30 }), fc.integer({ min: 0, max: 2 ** 30 }), (n, extra) => {
        expect(hopLimit(n + extra)).toBeGreaterThanOrEqual(hopLimit(n));
        expect(hopLimit(n)).toBe(Math.min(MAX_HOPS, Math.ceil(2 * Math.log2(Math.max(2, n)) + 4)));
      }),
    );
  });
});
