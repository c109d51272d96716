import { describe, expect, it } from 'vitest';
import { SEEN_SIGNALS_MAX, SIGNAL_FRESH_MS } from './constants.ts';
import { checkSignal, precheckSignal, SeenSignatures, signSignal } from './signal-auth.ts';
import { createIdentity, webCryptoOps, type CryptoOps } from '../lib/crypto.ts';
import { toBase64Url } from '../lib/encoding.ts';
import { idToHex } from '../lib/id.ts';
import { nonceWithoutWork } from '../lib/test-ids.ts';
import { SeededRandom } from '../lib/random.ts';

const T0 = 1_700_000_000_000;

/** Counts verifications, to show the cheap checks refuse before the signature is looked at. */
function countingOps(): CryptoOps & { verifies: number } {
  const ops = {
    ...webCryptoOps,
    verifies: 0,
    verify(key: Uint8Array, sig: Uint8Array, data: Uint8Array) {
      ops.verifies++;
      return webCryptoOps.verify(key, sig, data);
    },
  };
  return ops;
}

async function setup() {
  const random = new SeededRandom(7);
  const sender = await createIdentity(random);
  const receiver = await createIdentity(random);
  const other = await createIdentity(random);
  const to = idToHex(receiver.nodeId);
  const body = await signSignal(sender, to, 'c1', '["offer"]', T0, webCryptoOps);
  return { sender, receiver, other, to, body };
}

describe('signed SIGNAL', () => {
  it('accepts a SIGNAL signed by the key whose hash is its from, once', async () => {
    const { to, body } = await setup();
    const seen = new SeenSignatures();
    expect(await checkSignal(body, to, T0 + 1_000, seen, webCryptoOps)).toBeNull();
    expect(await checkSignal(body, to, T0 + 2_000, seen, webCryptoOps)).toBe('replayed');
  });

  it('refuses a SIGNAL whose signed fields were changed', async () => {
    const { to, body, other } = await setup();
    const ops = countingOps();
    for (const changed of [{ conn: 'c2' }, { data: '["other"]' }, { at: T0 + 1 }]) {
      expect(await checkSignal({ ...body, ...changed }, to, T0, new SeenSignatures(), ops)).toBe('bad-sig');
    }
    // Readdressed: refused by whoever it is sent to.
    const otherHex = idToHex(other.nodeId);
    expect(await checkSignal({ ...body, to: otherHex }, otherHex, T0, new SeenSignatures(), ops)).toBe('bad-sig');
    expect(ops.verifies).toBe(4);
  });

  it('refuses with the cheap checks, before any signature is verified', async () => {
    const { to, body, other } = await setup();
    const ops = countingOps();
    const seen = new SeenSignatures();
    expect(await checkSignal(body, idToHex(other.nodeId), T0, seen, ops)).toBe('not-for-us');
    expect(await checkSignal({ ...body, key: toBase64Url(other.signingPublic), n: other.idNonce }, to, T0, seen, ops)).toBe('key-not-from');
    expect(await checkSignal({ ...body, key: 'AAAA' }, to, T0, seen, ops)).toBe('bad-key');
    expect(await checkSignal(body, to, T0 + SIGNAL_FRESH_MS + 1, seen, ops)).toBe('stale');
    expect(await checkSignal(body, to, T0 - SIGNAL_FRESH_MS - 1, seen, ops)).toBe('stale');
    expect(ops.verifies).toBe(0);
  });

  it('refuses a SIGNAL whose id nonce does not carry the work, before its signature (bad-work)', async () => {
    const { to, body, sender } = await setup();
    const ops = countingOps();
    const lazy = { ...body, n: nonceWithoutWork(sender.signingPublic) };
    expect(await checkSignal(lazy, to, T0, new SeenSignatures(), ops)).toBe('bad-work');
    expect(ops.verifies).toBe(0);
    expect(await checkSignal(body, to, T0, new SeenSignatures(), ops)).toBeNull();
  });

  it('remembers a signature for as long as its time can pass the window, and no longer', () => {
    const seen = new SeenSignatures();
    seen.add('a', T0);
    seen.add('b', T0 + 1_000);
    expect(seen.has('a', T0 + 2 * SIGNAL_FRESH_MS - 1)).toBe(true);
    expect(seen.has('a', T0 + 2 * SIGNAL_FRESH_MS)).toBe(false);
    expect(seen.size).toBe(1);
  });

  it('refuses new SIGNALs while the memory of seen ones is full, rather than forget one', async () => {
    const { to, body } = await setup();
    const seen = new SeenSignatures(2);
    seen.add('a', T0);
    seen.add('b', T0);
    expect(precheckSignal(body, to, T0, seen)).toBe('seen-full');
    expect(precheckSignal(body, to, T0 + 2 * SIGNAL_FRESH_MS, seen)).toBe('stale');
    expect(SEEN_SIGNALS_MAX).toBeGreaterThan(100);
  });
});
