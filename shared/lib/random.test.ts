import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SeededRandom, shuffle } from './random.ts';

// Property runs replay exactly (STYLE: tests are deterministic); change the seed to explore.
fc.configureGlobal({ seed: 0x5eed });

const draw = (r: SeededRandom, n = 20) => Array.from({ length: n }, () => r.u32());

describe('SeededRandom', () => {
  it('gives the same sequence for the same seed and another for another seed', () => {
    expect(draw(new SeededRandom(42))).toEqual(draw(new SeededRandom(42)));
    expect(draw(new SeededRandom(42))).not.toEqual(draw(new SeededRandom(43)));
    expect(new SeededRandom(7).bytes(33)).toEqual(new SeededRandom(7).bytes(33));
  });

  it('forks a child whose draws leave the parent sequence unchanged', () => {
    const p1 = new SeededRandom(9);
    const p2 = new SeededRandom(9);
    const c1 = p1.fork();
    const c2 = p2.fork();
    draw(c1, 100);
    expect(draw(p1)).toEqual(draw(p2));
    // Forks replay too, and a child does not echo its parent.
    expect(draw(c2, 100)).not.toEqual(draw(new SeededRandom(9), 100));
    const q1 = new SeededRandom(9).fork();
    expect(draw(q1)).toEqual(draw(new SeededRandom(9).fork()));
  });

  it('forks children that differ from one another', () => {
    const parent = new SeededRandom(3);
    const a = parent.fork();
    const b = parent.fork();
    expect(draw(a)).not.toEqual(draw(b));
  });

  it('forks 200,000 children without two alike: a fork gets 64 bits of seed', () => {
    // With 32 bits, about 5 pairs among 200,000 would collide; a simulation gives every new
    // identity a fork, so a collision was a duplicate identity.
    const parent = new SeededRandom(1);
    const seen = new Set<string>();
    for (let i = 0; i < 200_000; i++) {
      const child = parent.fork();
      seen.add(`${child.u32()}:${child.u32()}:${child.u32()}`);
    }
    expect(seen.size).toBe(200_000);
  });

  it('draws integers in [0, n)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 1_000_000 }), (seed, n) => {
        const r = new SeededRandom(seed);
        for (let i = 0; i < 20; i++) {
          const x = r.int(n);
          if (!Number.isInteger(x) || x < 0 || x >= n) throw new Error(`int(${n}) gave ${x}`);
        }
      }),
    );
  });

  it('draws every value of a small range about equally often', () => {
    const r = new SeededRandom(1);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 20_000; i++) counts[r.int(10)]!++;
    for (const c of counts) {
      expect(c).toBeGreaterThan(1_800);
      expect(c).toBeLessThan(2_200);
    }
  });

  it('draws floats in [0, 1)', () => {
    const r = new SeededRandom(5);
    let min = 1;
    let max = 0;
    for (let i = 0; i < 10_000; i++) {
      const x = r.float();
      min = Math.min(min, x);
      max = Math.max(max, x);
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    expect(min).toBeLessThan(0.01);
    expect(max).toBeGreaterThan(0.99);
  });

  it('returns exactly as many bytes as asked, including lengths that are not a multiple of 4', () => {
    const r = new SeededRandom(11);
    for (const n of [0, 1, 2, 3, 4, 5, 19, 20, 33]) {
      const b = r.bytes(n);
      expect(b).toBeInstanceOf(Uint8Array);
      expect(b).toHaveLength(n);
    }
    // Not all zero: every byte of a long draw is used.
    const long = r.bytes(4_000);
    expect(new Set(long).size).toBe(256);
  });

  it('puts random bits in the tail of a draw whose length is not a multiple of 4', () => {
    let zeros = 0;
    for (let seed = 0; seed < 200; seed++) if (new SeededRandom(seed).bytes(3)[2] === 0) zeros++;
    expect(zeros).toBeLessThan(10);
  });
});

describe('shuffle', () => {
  it('returns a permutation of its input, in place', () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), fc.integer(), (items, seed) => {
        const copy = items.slice();
        const out = shuffle(copy, new SeededRandom(seed));
        expect(out).toBe(copy);
        expect([...out].sort((a, b) => a - b)).toEqual([...items].sort((a, b) => a - b));
      }),
    );
  });

  it('is the same for the same seed and reaches every order of three items', () => {
    expect(shuffle([1, 2, 3, 4, 5, 6], new SeededRandom(8))).toEqual(shuffle([1, 2, 3, 4, 5, 6], new SeededRandom(8)));
    const r = new SeededRandom(2);
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) seen.add(shuffle(['a', 'b', 'c'], r).join(''));
    expect(seen.size).toBe(6);
  });
});
