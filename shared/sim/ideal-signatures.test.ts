import { describe, expect, it } from 'vitest';
import { createIdentity, webCryptoOps } from '../lib/crypto.ts';
import { SeededRandom } from '../lib/random.ts';
import { runChatExperiment, type ChatExperimentResult } from './chat-experiment.ts';
import { IdealSignatures } from './ideal-signatures.ts';
import { nodeCryptoOps } from './node-crypto-ops.ts';

describe("the simulator's ideal signatures", () => {
  it('accept exactly what Ed25519 accepts: the signer, unchanged, and nothing else', async () => {
    const random = new SeededRandom(22);
    const ideal = new IdealSignatures(nodeCryptoOps);
    const [a, b, stranger] = await Promise.all([1, 2, 3].map((s) => createIdentity(new SeededRandom(s))));
    await ideal.sign(b!, new Uint8Array([0])); // b has a MAC key too: a's signature must not pass as b's
    for (let i = 0; i < 40; i++) {
      const data = random.bytes(1 + random.int(300));
      const signature = await ideal.sign(a!, data);
      expect(signature.length).toBe(64);
      expect(await ideal.sign(a!, data)).toEqual(signature); // deterministic, so seeded runs replay
      expect(await ideal.verify(a!.signingPublic, signature, data)).toBe(true);

      const flipped = signature.slice();
      flipped[random.int(64)]! ^= 1 << random.int(8);
      const otherData = data.slice();
      otherData[random.int(otherData.length)]! ^= 1;
      expect(await ideal.verify(a!.signingPublic, flipped, data)).toBe(false);
      expect(await ideal.verify(a!.signingPublic, signature, otherData)).toBe(false);
      expect(await ideal.verify(b!.signingPublic, signature, data)).toBe(false);
      expect(await ideal.verify(stranger!.signingPublic, signature, data)).toBe(false);
      expect(await ideal.verify(a!.signingPublic, signature.slice(0, 63), data)).toBe(false);
      // A stranger who never signed here cannot make a signature as a: a MAC under its own key.
      expect(await ideal.verify(a!.signingPublic, await ideal.sign(stranger!, data), data)).toBe(false);

      // Real Ed25519 signatures made elsewhere still verify, and still fail when tampered with.
      const real = await webCryptoOps.sign(a!, data);
      expect(await ideal.verify(a!.signingPublic, real, data)).toBe(true);
      expect(await ideal.verify(stranger!.signingPublic, await webCryptoOps.sign(stranger!, data), data)).toBe(true);
      expect(await ideal.verify(a!.signingPublic, real, otherData)).toBe(false);
    }
    expect(ideal.confirmed).toBe(40);
  });

  it('leave a simulation exactly as Ed25519 leaves it: same deliveries, receipts and failures', { timeout: 300_000 }, async () => {
    const options = { nodes: 30, users: 8, churn: 0.3, seed: 5, scenarios: 6, spreadHours: 1, maxAbsenceHours: 3, massDeparture: 0.5 };
    const withoutWall = ({ wallMs: _wall, realSignatures: _real, ...rest }: ChatExperimentResult) => rest;
    const ideal = await runChatExperiment(options);
    const real = await runChatExperiment({ ...options, realSignatures: true });
    expect(ideal.offlineMessages).toBeGreaterThanOrEqual(3);
    expect(ideal.deliveredWithin2Min).toBeGreaterThan(0);
    expect(withoutWall(ideal)).toEqual(withoutWall(real));
  });
});
