import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ID_BYTES } from '../lib/id.ts';
import { K_BUCKET_SIZE } from './constants.ts';
import { bucketIndex, compareDistance, idToHex, type NodeId } from '../lib/id.ts';
import { SeededRandom } from '../lib/random.ts';
import { RoutingTable, type Contact } from './routing-table.ts';

// Property runs replay exactly (STYLE: tests are deterministic); change the seed to explore.
fc.configureGlobal({ seed: 0x5eed });

const anyId = fc.uint8Array({ minLength: ID_BYTES, maxLength: ID_BYTES });
const SELF: NodeId = new Uint8Array(ID_BYTES);

/** A random id that falls in bucket `i` as seen from `self`. */
function idInBucket(self: NodeId, i: number, random: SeededRandom): NodeId {
  const bit = 159 - i; // position of the first differing bit, 0 = most significant
  const id = random.bytes(ID_BYTES);
  for (let b = 0; b < bit; b++) {
    const mask = 0x80 >> (b & 7);
    id[b >> 3] = (id[b >> 3]! & ~mask) | (self[b >> 3]! & mask);
  }
  const mask = 0x80 >> (bit & 7);
  id[bit >> 3] = (id[bit >> 3]! & ~mask) | (~self[bit >> 3]! & mask);
  return id;
}

/** Fills bucket i with `count` fresh contacts, first seen at now, now + 1, ... */
function fill(table: RoutingTable, i: number, count: number, random: SeededRandom, now = 0): Contact[] {
  const out: Contact[] = [];
  while (out.length < count) {
    const r = table.add(idInBucket(table.self, i, random), now + out.length);
    if (r.status === 'added') out.push(r.contact);
  }
  return out;
}

function bruteClosest(all: readonly Contact[], target: NodeId, n: number): string[] {
  return [...all]
    .sort((a, b) => compareDistance(target, a.id, b.id))
    .slice(0, Math.max(0, n))
    .map((c) => c.hex);
}

function prefer(a: Contact, b: Contact): number {
  if (a.connected !== b.connected) return a.connected ? -1 : 1;
  return a.firstSeen - b.firstSeen;
}

describe('RoutingTable.add', () => {
  it('adds a new contact as first and last seen now, not connected, with no misses', () => {
    const table = new RoutingTable(SELF);
    const id = idInBucket(SELF, 100, new SeededRandom(1));
    const r = table.add(id, 1234);
    expect(r.status).toBe('added');
    if (r.status !== 'added') return;
    expect(r.contact).toMatchObject({ hex: idToHex(id), firstSeen: 1234, lastSeen: 1234, missed: 0, connected: false });
    expect(table.size).toBe(1);
    expect(table.has(idToHex(id))).toBe(true);
    expect(table.get(idToHex(id))).toBe(r.contact);
    expect(table.bucket(100)).toEqual([r.contact]);
  });

  it('updates a known contact in place: last seen moves, first seen stays, misses reset', () => {
    const table = new RoutingTable(SELF);
    const id = idInBucket(SELF, 100, new SeededRandom(1));
    const first = table.add(id, 10);
    table.miss(idToHex(id));
    const again = table.add(id.slice(), 50);
    expect(again.status).toBe('updated');
    if (again.status !== 'updated' || first.status !== 'added') return;
    expect(again.contact).toBe(first.contact);
    expect(again.contact).toMatchObject({ firstSeen: 10, lastSeen: 50, missed: 0 });
    expect(table.size).toBe(1);
  });

  it('refuses to add its own id', () => {
    const table = new RoutingTable(SELF);
    expect(() => table.add(SELF.slice(), 0)).toThrow();
    expect(table.size).toBe(0);
  });

  it('reports a full bucket of k = 20 with its oldest contact and does not add the newcomer', () => {
    const random = new SeededRandom(2);
    const table = new RoutingTable(SELF);
    expect(table.k).toBe(K_BUCKET_SIZE);
    const contacts = fill(table, 150, K_BUCKET_SIZE, random);
    const newcomer = idInBucket(SELF, 150, random);
    const r = table.add(newcomer, 999);
    expect(r).toEqual({ status: 'full', oldest: contacts[0] });
    expect(table.size).toBe(K_BUCKET_SIZE);
    expect(table.has(idToHex(newcomer))).toBe(false);
    // A full bucket elsewhere does not stop other buckets from growing.
    expect(table.add(idInBucket(SELF, 151, random), 1000).status).toBe('added');
  });

  it('names the oldest disconnected contact of a full bucket before any connected one', () => {
    const random = new SeededRandom(3);
    const table = new RoutingTable(SELF, 4);
    const [c0, c1, c2, c3] = fill(table, 120, 4, random);
    table.setConnected(c0!.hex, true);
    table.setConnected(c2!.hex, true);
    expect(table.add(idInBucket(SELF, 120, random), 10)).toEqual({ status: 'full', oldest: c1 });
    table.setConnected(c1!.hex, true);
    expect(table.add(idInBucket(SELF, 120, random), 10)).toEqual({ status: 'full', oldest: c3 });
    table.setConnected(c3!.hex, true);
    // All connected: the least recently seen.
    expect(table.add(idInBucket(SELF, 120, random), 10)).toEqual({ status: 'full', oldest: c0 });
  });

  it('lets the owner evict the oldest after a failed ping and add the newcomer', () => {
    const random = new SeededRandom(4);
    const table = new RoutingTable(SELF, 3);
    fill(table, 140, 3, random);
    const newcomer = idInBucket(SELF, 140, random);
    const full = table.add(newcomer, 10);
    if (full.status !== 'full') throw new Error('expected a full bucket');
    table.remove(full.oldest.hex);
    const r = table.add(newcomer, 11);
    expect(r.status).toBe('added');
    expect(table.bucket(140).map((c) => c.hex).at(-1)).toBe(idToHex(newcomer));
  });
});

describe('RoutingTable.touch, miss, remove, setConnected', () => {
  it('touch makes a contact the most recently seen of its bucket and clears its misses', () => {
    const table = new RoutingTable(SELF);
    const [a, b, c] = fill(table, 90, 3, new SeededRandom(5));
    table.miss(a!.hex);
    table.miss(a!.hex);
    table.touch(a!, 77);
    expect(table.bucket(90)).toEqual([b, c, a]);
    expect(a).toMatchObject({ lastSeen: 77, missed: 0 });
    // Touching the tail keeps the order.
    table.touch(a!, 78);
    expect(table.bucket(90)).toEqual([b, c, a]);
  });

  it('a full bucket names someone else once its oldest has been touched', () => {
    const random = new SeededRandom(6);
    const table = new RoutingTable(SELF, 2);
    const [a, b] = fill(table, 60, 2, random);
    table.touch(a!, 5);
    expect(table.add(idInBucket(SELF, 60, random), 6)).toEqual({ status: 'full', oldest: b });
  });

  it('miss counts missed replies in a row and returns 0 for a stranger', () => {
    const table = new RoutingTable(SELF);
    const [a] = fill(table, 10, 1, new SeededRandom(7));
    expect(table.miss(a!.hex)).toBe(1);
    expect(table.miss(a!.hex)).toBe(2);
    expect(table.miss('f'.repeat(40))).toBe(0);
  });

  it('remove forgets the contact everywhere and returns it; unknown ids return undefined', () => {
    const random = new SeededRandom(8);
    const table = new RoutingTable(SELF);
    const [a, b] = fill(table, 30, 2, random);
    const [far] = fill(table, 159, 1, random);
    expect(table.highestBucket()).toBe(159);
    expect(table.remove(a!.hex)).toBe(a);
    expect(table.has(a!.hex)).toBe(false);
    expect(table.get(a!.hex)).toBeUndefined();
    expect(table.bucket(30)).toEqual([b]);
    expect(table.all()).not.toContain(a);
    expect(table.size).toBe(2);
    expect(table.remove(a!.hex)).toBeUndefined();
    table.remove(far!.hex);
    expect(table.highestBucket()).toBe(30);
    table.remove(b!.hex);
    expect(table.bucket(30)).toEqual([]);
    expect(table.highestBucket()).toBe(-1);
    expect(table.size).toBe(0);
  });

  it('setConnected flags a known contact and ignores unknown ones', () => {
    const table = new RoutingTable(SELF);
    const [a] = fill(table, 10, 1, new SeededRandom(9));
    table.setConnected(a!.hex, true);
    expect(table.get(a!.hex)!.connected).toBe(true);
    table.setConnected(a!.hex, false);
    expect(table.get(a!.hex)!.connected).toBe(false);
    expect(() => table.setConnected('e'.repeat(40), true)).not.toThrow();
  });
});

describe('RoutingTable.closest', () => {
  it('equals a brute-force sort by distance for random tables, targets and n', () => {
    fc.assert(
      fc.property(
        anyId,
        fc.array(anyId, { maxLength: 60 }),
        anyId,
        fc.integer({ min: 0, max: 70 }),
        (self, ids, target, n) => {
          const table = new RoutingTable(self);
          ids.forEach((id, t) => {
            if (bucketIndex(self, id) >= 0) table.add(id, t);
          });
          expect(table.closest(target, n).map((c) => c.hex)).toEqual(bruteClosest(table.all(), target, n));
        },
      ),
    );
  });

  it('returns only contacts that pass the filter', () => {
    const random = new SeededRandom(10);
    const table = new RoutingTable(SELF);
    for (let i = 0; i < 40; i++) table.add(random.bytes(ID_BYTES), i);
    for (const c of table.all()) if (c.firstSeen % 2 === 0) table.setConnected(c.hex, true);
    const target = random.bytes(ID_BYTES);
    const connected = table.closest(target, 8, (c) => c.connected);
    expect(connected.map((c) => c.hex)).toEqual(bruteClosest(table.all().filter((c) => c.connected), target, 8));
  });
});

describe('RoutingTable.nearBoundary', () => {
  function layered(): RoutingTable {
    const random = new SeededRandom(11);
    const table = new RoutingTable(SELF);
    // bucket -> contacts: 0:1, 1:2, 3:4, 7:5, 10:3
    for (const [i, n] of [[0, 1], [1, 2], [3, 4], [7, 5], [10, 3]] as const) fill(table, i, n, random);
    return table;
  }

  it('takes whole buckets from the nearest until at least r contacts are in', () => {
    const table = layered();
    expect(table.nearBoundary(1)).toBe(0);
    expect(table.nearBoundary(3)).toBe(1);
    expect(table.nearBoundary(4)).toBe(3);
    expect(table.nearBoundary(7)).toBe(3);
    expect(table.nearBoundary(8)).toBe(7);
    expect(table.nearBoundary(12)).toBe(7);
    expect(table.nearBoundary(13)).toBe(10);
  });

  it('is the highest bucket when the table holds fewer than r, and -1 when it is empty', () => {
    expect(layered().nearBoundary(100)).toBe(10);
    expect(new RoutingTable(SELF).nearBoundary(8)).toBe(-1);
  });
});

describe('RoutingTable.wanted', () => {
  it('keeps the whole near set and, per far bucket, connected contacts first, then the longest known', () => {
    const random = new SeededRandom(12);
    const table = new RoutingTable(SELF);
    const near = [...fill(table, 2, 3, random, 0), ...fill(table, 4, 6, random, 0)]; // 9 >= r = 8
    const far = fill(table, 50, 4, random, 100); // first seen 100..103
    const farther = fill(table, 140, 3, random, 200); // first seen 200..202
    table.setConnected(far[2]!.hex, true);

    const one = table.wanted(8, 1);
    expect(new Set(one)).toEqual(new Set([...near, far[2], farther[0]]));
    expect(one).toHaveLength(near.length + 2);

    const two = table.wanted(8, 2);
    expect(new Set(two)).toEqual(new Set([...near, far[2], far[0], farther[0], farther[1]]));
  });

  it('is the whole table when it holds fewer than r contacts', () => {
    const random = new SeededRandom(13);
    const table = new RoutingTable(SELF);
    fill(table, 20, 2, random);
    fill(table, 150, 3, random);
    expect(new Set(table.wanted(8, 1))).toEqual(new Set(table.all()));
  });

  it('always holds buckets up to the boundary whole and min(perFarBucket, size) preferred ones above it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 3 }),
        (seed, r, perFar) => {
          const random = new SeededRandom(seed);
          const table = new RoutingTable(SELF, 6);
          for (let t = 0; t < 60; t++) {
            const r2 = table.add(idInBucket(SELF, random.int(24), random), t);
            if (r2.status === 'added' && random.float() < 0.3) table.setConnected(r2.contact.hex, true);
          }
          const boundary = table.nearBoundary(r);
          const wanted = table.wanted(r, perFar);
          expect(new Set(wanted).size).toBe(wanted.length);
          for (let i = 0; i < 160; i++) {
            const bucket = table.bucket(i);
            const chosen = bucket.filter((c) => wanted.includes(c));
            if (i <= boundary) {
              expect(chosen).toHaveLength(bucket.length);
              continue;
            }
            expect(chosen).toHaveLength(Math.min(perFar, bucket.length));
            for (const c of chosen) for (const u of bucket) if (!chosen.includes(u)) expect(prefer(c, u)).toBeLessThan(0);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('RoutingTable.wouldWant', () => {
  it('wants any newcomer while the table holds fewer than r, but never itself', () => {
    const random = new SeededRandom(14);
    const table = new RoutingTable(SELF);
    fill(table, 3, 2, random);
    expect(table.wouldWant(idInBucket(SELF, 159, random), 8, 1)).toBe(true);
    expect(table.wouldWant(idInBucket(SELF, 1, random), 8, 1)).toBe(true);
    expect(table.wouldWant(SELF.slice(), 8, 1)).toBe(false);
  });

  it('wants a node in the near set, and one in a far bucket only while it has fewer than perFarBucket connected', () => {
    const random = new SeededRandom(15);
    const table = new RoutingTable(SELF);
    fill(table, 5, 8, random); // near set: buckets 0..5
    const far = fill(table, 100, 3, random);
    expect(table.nearBoundary(8)).toBe(5);
    expect(table.wouldWant(idInBucket(SELF, 5, random), 8, 1)).toBe(true);
    expect(table.wouldWant(idInBucket(SELF, 0, random), 8, 1)).toBe(true);

    const newcomer = idInBucket(SELF, 100, random);
    expect(table.wouldWant(newcomer, 8, 1)).toBe(true);
    table.setConnected(far[0]!.hex, true);
    expect(table.wouldWant(newcomer, 8, 1)).toBe(false);
    expect(table.wouldWant(newcomer, 8, 2)).toBe(true);
    table.setConnected(far[1]!.hex, true);
    expect(table.wouldWant(newcomer, 8, 2)).toBe(false);
    // An empty far bucket always has room.
    expect(table.wouldWant(idInBucket(SELF, 120, random), 8, 1)).toBe(true);
  });
});

describe('RoutingTable invariants', () => {
  type Op =
    | { type: 'add'; pick: number; answers: boolean }
    | { type: 'remove'; pick: number }
    | { type: 'touch'; pick: number }
    | { type: 'connect'; pick: number; on: boolean };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ type: fc.constant('add' as const), pick: fc.nat(), answers: fc.boolean() }),
    fc.record({ type: fc.constant('add' as const), pick: fc.nat(), answers: fc.boolean() }),
    fc.record({ type: fc.constant('remove' as const), pick: fc.nat() }),
    fc.record({ type: fc.constant('touch' as const), pick: fc.nat() }),
    fc.record({ type: fc.constant('connect' as const), pick: fc.nat(), on: fc.boolean() }),
  );

  it('never overfills a bucket, files every contact where bucketIndex says, and counts them all', () => {
    fc.assert(
      fc.property(anyId, fc.array(anyId, { minLength: 1, maxLength: 40 }), fc.array(op, { maxLength: 150 }), (self, pool, ops) => {
        const k = 3;
        const table = new RoutingTable(self, k);
        const candidates = pool.filter((id) => bucketIndex(self, id) >= 0);
        if (candidates.length === 0) return;
        let now = 0;
        for (const o of ops) {
          now++;
          const id = candidates[o.pick % candidates.length]!;
          const contact = table.get(idToHex(id));
          if (o.type === 'add') {
            const r = table.add(id, now);
            // The owner pings the oldest; if it does not answer, it is replaced.
            if (r.status === 'full') {
              if (o.answers) table.touch(r.oldest, now);
              else {
                table.remove(r.oldest.hex);
                expect(table.add(id, now).status).toBe('added');
              }
            }
          } else if (o.type === 'remove') table.remove(idToHex(id));
          else if (o.type === 'touch' && contact) table.touch(contact, now);
          else if (o.type === 'connect') table.setConnected(idToHex(id), o.on);

          let sum = 0;
          for (let i = 0; i < 160; i++) {
            const bucket = table.bucket(i);
            sum += bucket.length;
            if (bucket.length > k) throw new Error(`bucket ${i} holds ${bucket.length} > k`);
            bucket.forEach((c, j) => {
              if (bucketIndex(self, c.id) !== i) throw new Error(`${c.hex} filed in bucket ${i}`);
              if (table.get(c.hex) !== c) throw new Error(`${c.hex} is in a bucket but not in the index`);
              // Least recently seen first.
              if (j > 0 && bucket[j - 1]!.lastSeen > c.lastSeen) throw new Error(`bucket ${i} is out of order`);
            });
          }
          expect(table.size).toBe(sum);
          expect(table.all()).toHaveLength(sum);
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('the routing table summary', () => {
  it('counts contacts and the buckets that hold at least one', () => {
    const self = new Uint8Array(20);
    const table = new RoutingTable(self);
    const near = new Uint8Array(20);
    near[19] = 1;
    const far = new Uint8Array(20);
    far[0] = 0x80;
    const far2 = new Uint8Array(20);
    far2[0] = 0xc0;
    for (const id of [near, far, far2]) table.add(id, 0);
    expect(table.summary()).toEqual({ contacts: 3, buckets: 2 });
  });
});
