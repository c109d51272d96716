import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sha256Sync } from './sha256.ts';

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

describe('sha256Sync', () => {
  it('matches the FIPS 180-2 test vectors', () => {
    const enc = new TextEncoder();
    expect(hex(sha256Sync(enc.encode('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hex(sha256Sync(new Uint8Array(0)))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(sha256Sync(enc.encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('agrees with WebCrypto digest on arbitrary inputs, including every padding boundary', async () => {
    for (let n = 0; n < 130; n++) {
      const data = new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff);
      const expected = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
      expect(hex(sha256Sync(data))).toBe(hex(expected));
    }
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), async (data) => {
        const expected = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
        expect(hex(sha256Sync(data))).toBe(hex(expected));
      }),
      { numRuns: 200 },
    );
  });
});
