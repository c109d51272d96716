import { describe, expect, it } from 'vitest';
import { createIdentity, webCryptoOps } from '../lib/crypto.ts';
import { SeededRandom } from '../lib/random.ts';
import { nodeCryptoOps } from './node-crypto-ops.ts';

describe("the simulator's synchronous Ed25519", () => {
  it('makes the same signatures as WebCrypto and agrees with it on every verify', async () => {
    const random = new SeededRandom(21);
    const identities = await Promise.all([1, 2, 3].map((s) => createIdentity(new SeededRandom(s))));
    let checked = 0;
    for (let i = 0; i < 60; i++) {
      const signer = identities[i % identities.length]!;
      const data = random.bytes(random.int(300));
      const signature = await nodeCryptoOps.sign(signer, data);
      expect(signature).toEqual(await webCryptoOps.sign(signer, data));
      const badSignature = signature.slice();
      badSignature[random.int(64)]! ^= 1 << random.int(8);
      const badData = data.length > 0 ? data.slice() : new Uint8Array(1);
      badData[random.int(badData.length)]! ^= 1;
      const cases: Array<[Uint8Array, Uint8Array, Uint8Array]> = [
        [signer.signingPublic, signature, data],
        [signer.signingPublic, badSignature, data],
        [signer.signingPublic, signature, badData],
        [identities[(i + 1) % identities.length]!.signingPublic, signature, data],
        [random.bytes(32), signature, data], // mostly not a curve point
        [new Uint8Array(32), signature, data],
        [signer.signingPublic.slice(0, 31), signature, data],
        [signer.signingPublic, signature.slice(0, 63), data],
      ];
      for (const [key, sig, bytes] of cases) {
        expect(await nodeCryptoOps.verify(key, sig, bytes)).toBe(await webCryptoOps.verify(key, sig, bytes));
        checked++;
      }
      expect(await nodeCryptoOps.verify(signer.signingPublic, signature, data)).toBe(true);
    }
    expect(checked).toBe(480);
  });

  it('settles before the next macrotask, so a seeded run does not depend on thread timing', async () => {
    const identity = await createIdentity(new SeededRandom(5));
    let settled = false;
    void nodeCryptoOps.sign(identity, new Uint8Array([1, 2, 3])).then(() => (settled = true));
    await Promise.resolve();
    await Promise.resolve();
    expect(settled).toBe(true);
  });
});
