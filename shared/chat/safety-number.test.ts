import { describe, expect, it } from 'vitest';
import { safetyNumber } from './safety-number.ts';

const key = (seed: number) => Uint8Array.from({ length: 32 }, (_, i) => (seed * 31 + i * 7) & 0xff);

describe('safety number', () => {
  it('is the same on both sides: the order of the two keys does not matter', () => {
    expect(safetyNumber(key(1), key(2))).toEqual(safetyNumber(key(2), key(1)));
  });

  it('changes when either key changes', () => {
    const both = safetyNumber(key(1), key(2)).join(' ');
    expect(safetyNumber(key(3), key(2)).join(' ')).not.toBe(both);
    expect(safetyNumber(key(1), key(3)).join(' ')).not.toBe(both);
    const flipped = key(2);
    flipped[31]! ^= 1;
    expect(safetyNumber(key(1), flipped).join(' ')).not.toBe(both);
  });

  it('is 12 groups of 5 digits, and stable across versions for the same keys', () => {
    const groups = safetyNumber(key(1), key(2));
    expect(groups).toHaveLength(12);
    for (const g of groups) expect(g).toMatch(/^\d{5}$/);
    // Pinned: a change here changes every user's number, which must be a deliberate new version.
    expect(groups.join(' ')).toMatchInlineSnapshot(`"76909 62061 00760 01125 06405 07477 84000 85636 42839 23115 00217 47429"`);
  });
});
