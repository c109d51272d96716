import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromBase64Url, lengthPrefixed, toBase64Url, utf8Decode, utf8Encode } from './encoding.ts';

describe('base64url', () => {
  it('round-trips every byte string', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(fromBase64Url(toBase64Url(bytes))).toEqual(bytes);
      }),
    );
  });

  it('matches the RFC 4648 test vectors without padding', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'Zg'],
      ['fo', 'Zm8'],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg'],
      ['fooba', 'Zm9vYmE'],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [text, encoded] of vectors) {
      expect(toBase64Url(utf8Encode(text))).toBe(encoded);
      expect(fromBase64Url(encoded)).toEqual(utf8Encode(text));
    }
  });

  it('uses - and _ where standard base64 uses + and /', () => {
    expect(toBase64Url(new Uint8Array([0xfb, 0xff]))).toBe('-_8');
  });

  it('never throws on arbitrary strings, and whatever it accepts re-encodes to the same text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom(...'AZaz09-_+/= ') })), (s) => {
        const bytes = fromBase64Url(s);
        if (bytes !== null) expect(toBase64Url(bytes)).toBe(s);
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects padding, the standard alphabet, whitespace, impossible lengths and non-strings', () => {
    for (const bad of ['Zg==', 'Zm8=', '+/8', 'ab/c', 'Zm 9v', 'Zm9v\n', 'A', 'AAAAA']) {
      expect(fromBase64Url(bad)).toBeNull();
    }
    expect(fromBase64Url(42 as unknown as string)).toBeNull();
  });

  it('rejects a last character with non-zero unused bits', () => {
    expect(fromBase64Url('Zg')).toEqual(new Uint8Array([0x66]));
    expect(fromBase64Url('Zh')).toBeNull();
    expect(fromBase64Url('Zm8')).toEqual(utf8Encode('fo'));
    expect(fromBase64Url('Zm9')).toBeNull();
  });
});

describe('utf8', () => {
  it('round-trips every well-formed string, including a leading byte order mark', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (text) => {
        expect(utf8Decode(utf8Encode(text))).toBe(text);
      }),
    );
    expect(utf8Decode(utf8Encode('\ufeffhi'))).toBe('\ufeffhi');
  });

  it('returns null for invalid UTF-8 instead of replacing characters', () => {
    expect(utf8Decode(new Uint8Array([0xff]))).toBeNull();
    expect(utf8Decode(new Uint8Array([0xc3]))).toBeNull(); // truncated sequence
    expect(utf8Decode(new Uint8Array([0xed, 0xa0, 0x80]))).toBeNull(); // encoded surrogate
    expect(utf8Decode(new Uint8Array([0xc0, 0xaf]))).toBeNull(); // overlong '/'
  });
});

describe('concatBytes', () => {
  it('joins parts in order and handles no parts', () => {
    expect(concatBytes(new Uint8Array([1, 2]), new Uint8Array([]), new Uint8Array([3]))).toEqual(
      new Uint8Array([1, 2, 3]),
    );
    expect(concatBytes()).toEqual(new Uint8Array([]));
  });

  it('copies only the visible part of a subarray', () => {
    const backing = new Uint8Array([9, 1, 2, 9]);
    expect(concatBytes(backing.subarray(1, 3))).toEqual(new Uint8Array([1, 2]));
  });
});

describe('lengthPrefixed', () => {
  it('puts the length first as 4 big-endian bytes', () => {
    for (const n of [0, 1, 255, 256, 65_535, 65_536, 70_001]) {
      const out = lengthPrefixed(new Uint8Array(n).fill(7));
      expect(new DataView(out.buffer).getUint32(0)).toBe(n);
      expect(out.length).toBe(4 + n);
      expect(out.subarray(4).every((b) => b === 7)).toBe(true);
    }
  });
});
