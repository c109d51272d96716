import { describe, expect, it } from 'vitest';
import { idFromHex, idToHex } from '../lib/id.ts';
import { internHex, internId } from './id-intern.ts';

const HEX = '0123456789abcdef0123456789abcdef01234567';

describe('id interning', () => {
  it('gives every holder of an id the same object, equal to a freshly parsed one', () => {
    const a = internId(HEX);
    const b = internId(`${HEX.slice(0, 20)}${HEX.slice(20)}`);
    expect(a).toBe(b);
    expect(a).toEqual(idFromHex(HEX));
  });

  it('gives back the shared hex string once the id has been interned', () => {
    const id = internId(HEX)!;
    expect(internHex(idToHex(id))).toBe(HEX);
    const unseen = 'ffffffffffffffffffffffffffffffffffffffff';
    expect(internHex(unseen)).toBe(unseen);
  });

  it('refuses what is not an id, as idFromHex does', () => {
    expect(internId('not hex')).toBeNull();
    expect(internId(HEX.toUpperCase())).toBeNull();
  });
});
