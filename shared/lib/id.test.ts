import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ID_BYTES } from './id.ts';
import {
  endsWithZeroBits,
  findIdNonce,
  ID_WORK_BITS,
  idWorkBits,
  keyMakesId,
  legacyNodeId,
  searchIdNonce,
  bucketIndex,
  closestHexes,
  compareBytes,
  compareDistance,
  idEquals,
  idFromHex,
  idToHex,
  isValidIdHex,
  nodeIdFromSigningKey,
  randomId,
  sha256,
  sortByDistance,
  userKey,
  xorDistance,
  type NodeId,
} from './id.ts';
import { SeededRandom } from './random.ts';

// Property runs replay exactly (STYLE: tests are deterministic); change the seed to explore.
fc.configureGlobal({ seed: 0x5eed });

const anyId = fc.uint8Array({ minLength: ID_BYTES, maxLength: ID_BYTES });
const zero = (): NodeId => new Uint8Array(ID_BYTES);
/** An id equal to `base` with bit `bit` (0 = most significant) flipped. */
function flipBit(base: NodeId, bit: number): NodeId {
  const out = base.slice();
  out[bit >> 3] = out[bit >> 3]! ^ (0x80 >> (bit & 7));
  return out;
}
async function webCryptoPrefix(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', Uint8Array.from(bytes))).slice(0, ID_BYTES);
}

/** Hashes tried, over nonces of one key, until an id with `c` bits of work starts with the b bits of `prefix`. */
function grind(key: Uint8Array, prefix: number, b: number, c: number): number {
  for (let n = 0; ; n++) {
    const id = nodeIdFromSigningKey(key, n, c);
    if (id && id[0]! >> (8 - b) === prefix) return n + 1;
  }
}

describe('hex encoding', () => {
  it('round-trips every id through 40 lowercase hex characters', () => {
    fc.assert(
      fc.property(anyId, (id) => {
        const hex = idToHex(id);
        expect(hex).toMatch(/^[0-9a-f]{40}$/);
        expect(isValidIdHex(hex)).toBe(true);
        expect(idFromHex(hex)).toEqual(id);
      }),
    );
  });

  it('pads small bytes with a leading zero', () => {
    const id = zero();
    id[0] = 0x0a;
    id[19] = 0x01;
    expect(idToHex(id)).toBe('0a' + '00'.repeat(18) + '01');
  });

  it('rejects uppercase, wrong lengths, non-hex characters and non-strings', () => {
    const good = 'ab'.repeat(20);
    expect(idFromHex(good)).not.toBeNull();
    for (const bad of [
      good.toUpperCase(),
      'A' + good.slice(1),
      good.slice(2),
      good + 'ab',
      good.slice(1),
      '',
      'g' + good.slice(1),
      ' ' + good.slice(1),
      good.slice(0, 39) + '\n',
      '0x' + good.slice(2),
    ]) {
      expect(idFromHex(bad), JSON.stringify(bad)).toBeNull();
      expect(isValidIdHex(bad)).toBe(false);
    }
    for (const notString of [null, undefined, 42, {}, ['ab'.repeat(20)], new Uint8Array(20)]) {
      expect(idFromHex(notString as unknown as string)).toBeNull();
      expect(isValidIdHex(notString)).toBe(false);
    }
  });

  it('accepts exactly the strings of 40 lowercase hex digits', () => {
    const hexId = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 40, maxLength: 40 });
    const oneCharOff = fc.tuple(hexId, fc.nat(39), fc.constantFrom(...'AFgG/:`@ \u0660')).map(([h, i, c]) => h.slice(0, i) + c + h.slice(i + 1));
    const nearHex = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEFgz/:`@ \u0660\uff10'), minLength: 38, maxLength: 42 });
    fc.assert(
      fc.property(fc.oneof(hexId, oneCharOff, nearHex, fc.string()), (s) => {
        const valid = /^[0-9a-f]{40}$/.test(s);
        expect(isValidIdHex(s)).toBe(valid);
        expect(idFromHex(s) !== null).toBe(valid);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const id = idFromHex(s);
        expect(id === null || idToHex(id) === s).toBe(true);
      }),
    );
  });
});

describe('bucketIndex', () => {
  it('is 0 when the ids differ only in the last bit', () => {
    expect(bucketIndex(zero(), flipBit(zero(), 159))).toBe(0);
  });

  it('is 159 when the ids differ in the first bit', () => {
    expect(bucketIndex(zero(), flipBit(zero(), 0))).toBe(159);
  });

  it('is -1 for the same id', () => {
    fc.assert(
      fc.property(anyId, (id) => {
        expect(bucketIndex(id, id.slice())).toBe(-1);
      }),
    );
  });

  it('is 159 minus the position of the first differing bit, whatever the later bits', () => {
    fc.assert(
      fc.property(anyId, anyId, fc.integer({ min: 0, max: 159 }), (self, noise, bit) => {
        // Keep the bits before `bit`, flip `bit`, and let the rest be anything.
        const other = self.slice();
        for (let b = bit + 1; b < 160; b++) {
          const mask = 0x80 >> (b & 7);
          other[b >> 3] = (other[b >> 3]! & ~mask) | (noise[b >> 3]! & mask);
        }
        other[bit >> 3] = other[bit >> 3]! ^ (0x80 >> (bit & 7));
        expect(bucketIndex(self, other)).toBe(159 - bit);
        expect(bucketIndex(other, self)).toBe(159 - bit);
      }),
    );
  });
});

describe('XOR distance', () => {
  it('is symmetric', () => {
    fc.assert(
      fc.property(anyId, anyId, (a, b) => {
        expect(xorDistance(a, b)).toEqual(xorDistance(b, a));
      }),
    );
  });

  it('is zero from an id to itself and only to itself', () => {
    fc.assert(
      fc.property(anyId, anyId, (a, b) => {
        expect(xorDistance(a, a)).toEqual(zero());
        expect(compareBytes(xorDistance(a, b), zero()) === 0).toBe(idEquals(a, b));
      }),
    );
  });

  it('composes: d(a, c) is d(a, b) xor d(b, c)', () => {
    fc.assert(
      fc.property(anyId, anyId, anyId, (a, b, c) => {
        expect(xorDistance(a, c)).toEqual(xorDistance(xorDistance(a, b), xorDistance(b, c)));
      }),
    );
  });

  it('compareDistance agrees with comparing the XOR distances as numbers', () => {
    fc.assert(
      fc.property(anyId, anyId, anyId, (target, a, b) => {
        expect(Math.sign(compareDistance(target, a, b))).toBe(
          compareBytes(xorDistance(target, a), xorDistance(target, b)),
        );
      }),
    );
  });

  it('compareDistance agrees on ids that share a long prefix', () => {
    // Random ids almost always differ in the first byte; these differ only late.
    fc.assert(
      fc.property(anyId, fc.integer({ min: 100, max: 159 }), fc.integer({ min: 100, max: 159 }), (t, i, j) => {
        const a = flipBit(t, i);
        const b = flipBit(t, j);
        expect(Math.sign(compareDistance(t, a, b))).toBe(compareBytes(xorDistance(t, a), xorDistance(t, b)));
        expect(Math.sign(compareDistance(t, a, b))).toBe(Math.sign(j - i));
      }),
    );
  });

  it('sortByDistance yields non-decreasing distances to the target', () => {
    fc.assert(
      fc.property(anyId, fc.array(anyId, { maxLength: 40 }), (target, ids) => {
        const sorted = sortByDistance(target, ids.slice(), (id) => id);
        expect(sorted).toHaveLength(ids.length);
        for (let i = 1; i < sorted.length; i++) {
          expect(compareBytes(xorDistance(target, sorted[i - 1]!), xorDistance(target, sorted[i]!))).toBeLessThanOrEqual(0);
        }
      }),
    );
  });

  it('sortByDistance sorts things that carry an id', () => {
    const target = zero();
    const items = [3, 1, 2].map((n) => {
      const id = zero();
      id[19] = n;
      return { name: `n${n}`, id };
    });
    expect(sortByDistance(target, items, (x) => x.id).map((x) => x.name)).toEqual(['n1', 'n2', 'n3']);
  });
});

describe('compareBytes', () => {
  it('orders byte strings as big-endian unsigned numbers, shorter first on a common prefix', () => {
    expect(compareBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(0);
    expect(compareBytes(Uint8Array.of(0, 255), Uint8Array.of(1, 0))).toBe(-1);
    expect(compareBytes(Uint8Array.of(200), Uint8Array.of(13))).toBe(1);
    expect(compareBytes(Uint8Array.of(1), Uint8Array.of(1, 0))).toBe(-1);
    expect(compareBytes(Uint8Array.of(1, 0), Uint8Array.of(1))).toBe(1);
  });
});

describe('sha256', () => {
  it('matches the FIPS 180-2 test vectors', () => {
    const enc = new TextEncoder();
    expect(idToHex(sha256(enc.encode('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(idToHex(sha256(new Uint8Array(0)))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(idToHex(sha256(enc.encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });
});

describe('derived ids', () => {
  // Known answers: every node id and name key on the network depends on these bytes.
  it('nodeIdFromSigningKey and userKey give the ids every other node computes', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    expect(idToHex(nodeIdFromSigningKey(key, 177_734, 16)!)).toBe('a7973580720cb9dcecbafde958fbbb710b4b2703');
    expect(idToHex(legacyNodeId(key))).toBe('630dcd2966c4336691125448bbb25b4ff412a49c');
    expect(idToHex(userKey('alice'))).toBe('dabd1db8d35ab13106274f61f1bf977812cce4f4');
  });

  it('a node id is the first 20 bytes of SHA-256(tag, key, nonce), valid when that hash ends in the work bits', async () => {
    const key = new SeededRandom(1).bytes(32);
    const n = await findIdNonce(key, 12);
    const input = new Uint8Array([...new TextEncoder().encode('peerchat-node-id-v2'), ...key, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
    const full = new Uint8Array(await crypto.subtle.digest('SHA-256', input));
    expect(endsWithZeroBits(full, 12)).toBe(true);
    expect(nodeIdFromSigningKey(key, n, 12)).toEqual(full.slice(0, ID_BYTES));
    expect(nodeIdFromSigningKey(key.slice(), n, 12)).toEqual(full.slice(0, ID_BYTES));
    expect(nodeIdFromSigningKey(new SeededRandom(2).bytes(32), n, 0)).not.toEqual(full.slice(0, ID_BYTES));
    expect(await webCryptoPrefix(key)).toEqual(legacyNodeId(key));
  });

  it('an id nonce that does not carry the work makes no id', () => {
    const key = new SeededRandom(3).bytes(32);
    const good = searchIdNonce(key, 0, 1 << 20, 10)!;
    // The first nonce with 10 bits of work: every one before it has less.
    for (let n = 0; n < good; n++) expect(nodeIdFromSigningKey(key, n, 10)).toBeNull();
    expect(nodeIdFromSigningKey(key, good, 10)).not.toBeNull();
    for (const bad of [-1, 1.5, 2 ** 32, Number.NaN]) expect(nodeIdFromSigningKey(key, bad, 0)).toBeNull();
    expect(nodeIdFromSigningKey(key.slice(1), good, 0)).toBeNull();
    expect(keyMakesId(key, good, nodeIdFromSigningKey(key, good, idWorkBits()) ?? new Uint8Array(ID_BYTES))).toBe(nodeIdFromSigningKey(key, good) !== null);
  });

  it('the network asks 15 bits of work; tests run at fewer (shared/test-setup.ts)', () => {
    expect(ID_WORK_BITS).toBe(15);
    expect(idWorkBits()).toBeLessThan(ID_WORK_BITS);
  });

  it('endsWithZeroBits reads the last bits of the hash, across byte boundaries', () => {
    const h = new Uint8Array(32);
    h[31] = 0b1000_0000;
    expect(endsWithZeroBits(h, 7)).toBe(true);
    expect(endsWithZeroBits(h, 8)).toBe(false);
    h[31] = 0;
    h[30] = 0b0000_0100;
    expect(endsWithZeroBits(h, 10)).toBe(true);
    expect(endsWithZeroBits(h, 11)).toBe(false);
    expect(endsWithZeroBits(h, 0)).toBe(true);
  });

  it('grinding an id with a chosen b-bit prefix costs about 2^(b + c) hashes, not 2^b + 2^c', () => {
    // The attack: a Sybil wants an id whose first b bits are a target's, and must carry c bits of
    // work. Prefix and work bits come from one hash, so each try succeeds with chance 2^-(b+c).
    const GRINDS = 48;
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 4 }), fc.integer({ min: 3, max: 4 }), fc.integer({ min: 0, max: 1e9 }), (b, c, seed) => {
        const random = new SeededRandom(seed);
        let tries = 0;
        for (let g = 0; g < GRINDS; g++) tries += grind(random.bytes(32), random.bytes(1)[0]! >> (8 - b), b, c);
        const mean = tries / GRINDS;
        const multiplicative = 2 ** (b + c);
        expect(mean).toBeGreaterThan(multiplicative / 2.5);
        expect(mean).toBeLessThan(multiplicative * 2.5);
        expect(mean).toBeGreaterThan(1.5 * (2 ** b + 2 ** c));
      }),
      { numRuns: 12 },
    );
  });

  it('userKey hashes "user:" + name and differs from name to name', async () => {
    const alice = userKey('alice');
    expect(alice).toHaveLength(ID_BYTES);
    expect(userKey('alice')).toEqual(alice);
    expect(alice).toEqual(await webCryptoPrefix(new TextEncoder().encode('user:alice')));
    expect(userKey('alicf')).not.toEqual(alice);
  });

  it('randomId takes ID_BYTES bytes from the given source', () => {
    const a = randomId((n) => new SeededRandom(5).bytes(n));
    expect(a).toHaveLength(ID_BYTES);
    expect(randomId((n) => new SeededRandom(5).bytes(n))).toEqual(a);
  });
});

describe('closestHexes', () => {
  it('returns the n ids closest to the key, closest first', () => {
    const key = '00'.repeat(20);
    const ids = ['ff'.repeat(20), '01'.repeat(20), '0f'.repeat(20), '00'.repeat(19) + '01'];
    expect(closestHexes(key, ids, 3)).toEqual(['00'.repeat(19) + '01', '01'.repeat(20), '0f'.repeat(20)]);
    expect(closestHexes(key, ids, 10)).toHaveLength(4);
  });

  it('refuses a key that is not 40 hex digits', () => {
    expect(() => closestHexes('xyz', [], 1)).toThrow();
  });
});
