import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LazyMap } from './lazy-map.ts';

describe('LazyMap', () => {
  it('answers as empty before anything is set', () => {
    const m = new LazyMap<string, number>();
    expect(m.size).toBe(0);
    expect(m.get('a')).toBeUndefined();
    expect(m.has('a')).toBe(false);
    expect(m.delete('a')).toBe(false);
    expect([...m]).toEqual([]);
    expect([...m.keys()]).toEqual([]);
    expect([...m.values()]).toEqual([]);
  });

  it('behaves like a Map under any sequence of sets and deletes', () => {
    const op = fc.oneof(
      fc.record({ set: fc.integer({ min: 0, max: 9 }), value: fc.integer() }),
      fc.record({ del: fc.integer({ min: 0, max: 9 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const lazy = new LazyMap<number, number>();
        const real = new Map<number, number>();
        for (const o of ops) {
          if ('set' in o) {
            expect(lazy.set(o.set, o.value)).toBe(lazy);
            real.set(o.set, o.value);
          } else {
            expect(lazy.delete(o.del)).toBe(real.delete(o.del));
          }
          expect(lazy.size).toBe(real.size);
        }
        expect([...lazy]).toEqual([...real]);
        expect([...lazy.entries()]).toEqual([...real.entries()]);
        expect([...lazy.keys()]).toEqual([...real.keys()]);
        expect([...lazy.values()]).toEqual([...real.values()]);
        for (let k = 0; k < 10; k++) {
          expect(lazy.has(k)).toBe(real.has(k));
          expect(lazy.get(k)).toBe(real.get(k));
        }
      }),
    );
  });
});
