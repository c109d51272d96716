import { describe, expect, it } from 'vitest';
import {
  createIdentity,
  createSeeds,
  exportIdentity,
  helloPayload,
  importIdentity,
  open,
  seal,
  webCryptoOps,
  type StoredIdentity,
} from './crypto.ts';
import { fromBase64Url, toBase64Url, utf8Decode, utf8Encode } from './encoding.ts';
import { isPeerchatError } from './errors.ts';
import { idToHex, nodeIdFromSigningKey } from './id.ts';
import { SeededRandom } from './random.ts';

const ops = webCryptoOps;
const data = utf8Encode('hello over the overlay');

describe('identity', () => {
  it('is the same for the same seed and different for another seed', async () => {
    const a = await createIdentity(new SeededRandom(7));
    const b = await createIdentity(new SeededRandom(7));
    const c = await createIdentity(new SeededRandom(8));
    expect(a.signingPublic).toEqual(b.signingPublic);
    expect(a.agreementPublic).toEqual(b.agreementPublic);
    expect(idToHex(a.nodeId)).toBe(idToHex(b.nodeId));
    expect(a.signingPublic).not.toEqual(c.signingPublic);
    expect(a.signingPublic).toHaveLength(32);
    expect(a.agreementPublic).toHaveLength(32);
  });

  it('has a node id that its signing key and id nonce make, with the work', async () => {
    const identity = await createIdentity(new SeededRandom(1));
    expect(identity.nodeId).toEqual(nodeIdFromSigningKey(identity.signingPublic, identity.idNonce));
    expect(identity.nodeId).toHaveLength(20);
  });

  it('matches the RFC 8032 and RFC 7748 test vectors', async () => {
    const hex = (h: string) => Uint8Array.from(h.match(/../g)!, (b) => parseInt(b, 16));
    // RFC 8032 section 7.1 TEST 1 (Ed25519) and RFC 7748 section 6.1 Alice (X25519).
    const stored: StoredIdentity = {
      v: 1,
      signingSeed: toBase64Url(hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60')),
      agreementSeed: toBase64Url(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')),
    };
    const identity = (await importIdentity(stored))!;
    expect(idToHex(identity.signingPublic)).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    expect(idToHex(identity.agreementPublic)).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(idToHex(await ops.sign(identity, new Uint8Array(0)))).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
  });

  it('survives export and import with the same keys and node id', async () => {
    const identity = await createIdentity(new SeededRandom(3));
    const stored = await exportIdentity(identity);
    const restored = await importIdentity(JSON.parse(JSON.stringify(stored)) as StoredIdentity);
    expect(restored).not.toBeNull();
    expect(restored!.nodeId).toEqual(identity.nodeId);
    expect(restored!.signingPublic).toEqual(identity.signingPublic);
    expect(restored!.agreementPublic).toEqual(identity.agreementPublic);
    const signature = await ops.sign(restored!, data);
    expect(await ops.verify(identity.signingPublic, signature, data)).toBe(true);
  });

  it('refuses malformed stored identities without throwing', async () => {
    const good = await exportIdentity(await createIdentity(new SeededRandom(4)));
    const bad: unknown[] = [
      null,
      'nope',
      { ...good, v: 2 },
      { ...good, signingSeed: good.signingSeed.slice(1) },
      { ...good, agreementSeed: good.agreementSeed + 'AA' },
      { ...good, signingSeed: 'not base64url!' },
      { ...good, agreementSeed: 17 },
    ];
    for (const stored of bad) expect(await importIdentity(stored as StoredIdentity)).toBeNull();
  });
});

describe('signatures', () => {
  it('verify accepts a signature by the key that made it', async () => {
    const identity = await createIdentity(new SeededRandom(10));
    const signature = await ops.sign(identity, data);
    expect(signature).toHaveLength(64);
    expect(await ops.verify(identity.signingPublic, signature, data)).toBe(true);
  });

  it('verify rejects tampered data, another key and a tampered signature', async () => {
    const identity = await createIdentity(new SeededRandom(11));
    const other = await createIdentity(new SeededRandom(12));
    const signature = await ops.sign(identity, data);
    const tampered = data.slice();
    tampered[0]! ^= 1;
    const badSignature = signature.slice();
    badSignature[10]! ^= 0x80;
    expect(await ops.verify(identity.signingPublic, signature, tampered)).toBe(false);
    expect(await ops.verify(other.signingPublic, signature, data)).toBe(false);
    expect(await ops.verify(identity.signingPublic, badSignature, data)).toBe(false);
  });

  it('verify returns false, never throws, for garbage keys and wrong lengths', async () => {
    const identity = await createIdentity(new SeededRandom(13));
    const signature = await ops.sign(identity, data);
    const cases: [Uint8Array, Uint8Array][] = [
      [new Uint8Array(32).fill(0xff), signature], // not a curve point
      [new Uint8Array(32), signature],
      [identity.signingPublic.slice(0, 31), signature],
      [new Uint8Array(33), signature],
      [identity.signingPublic, signature.slice(0, 63)],
      [identity.signingPublic, new Uint8Array(65)],
      [identity.signingPublic, new Uint8Array(0)],
    ];
    for (const [key, sig] of cases) expect(await ops.verify(key, sig, data)).toBe(false);
    // A bad key must not poison the cache for the good one.
    expect(await ops.verify(identity.signingPublic, signature, data)).toBe(true);
  });

  it('verify stays correct when more keys pass through than the cache holds', async () => {
    const identity = await createIdentity(new SeededRandom(14));
    const signature = await ops.sign(identity, data);
    expect(await ops.verify(identity.signingPublic, signature, data)).toBe(true);
    const random = new SeededRandom(15);
    await Promise.all(Array.from({ length: 1100 }, () => ops.verify(random.bytes(32), signature, data)));
    expect(await ops.verify(identity.signingPublic, signature, data)).toBe(true);
  });
});

describe('HELLO', () => {
  const fpA = 'sha-256 AA:BB:CC';
  const fpB = 'sha-256 11:22:33';

  it('verifies when both sides agree on whose fingerprint is whose', async () => {
    const a = await createIdentity(new SeededRandom(20));
    const signature = await ops.sign(a, helloPayload(fpA, fpB));
    // B checks A's HELLO over (A's fingerprint, B's fingerprint).
    expect(await ops.verify(a.signingPublic, signature, helloPayload(fpA, fpB))).toBe(true);
    expect(utf8Decode(helloPayload(fpA, fpB))).toBe(`peerchat-hello-v1\n${fpA}\n${fpB}`);
  });

  it('fails when a relay swapped the fingerprints', async () => {
    const a = await createIdentity(new SeededRandom(21));
    const signature = await ops.sign(a, helloPayload(fpA, fpB));
    expect(await ops.verify(a.signingPublic, signature, helloPayload(fpB, fpA))).toBe(false);
    expect(await ops.verify(a.signingPublic, signature, helloPayload(fpA, 'sha-256 66:66:66'))).toBe(false);
  });
});

describe('sealing', () => {
  const header = utf8Encode('{"from":"a","to":"b","sentAt":1}');
  const body = utf8Encode('meet at noon');

  async function sealed() {
    const recipient = await createIdentity(new SeededRandom(30));
    const box = await seal(recipient.agreementPublic, body, header, new SeededRandom(31));
    return { recipient, box };
  }

  it('round-trips for the recipient', async () => {
    const { recipient, box } = await sealed();
    expect(box.ephemeralPublic).toHaveLength(32);
    expect(box.nonce).toHaveLength(12);
    expect(box.ciphertext).toHaveLength(body.length + 16);
    expect(await open(recipient, box.ephemeralPublic, box.nonce, box.ciphertext, header)).toEqual(body);
  });

  it('is deterministic for a seeded random', async () => {
    const { box } = await sealed();
    const { box: again } = await sealed();
    expect(again).toEqual(box);
  });

  it('fails to open with a tampered header, ciphertext, nonce or ephemeral key', async () => {
    const { recipient, box } = await sealed();
    const flip = (bytes: Uint8Array, i: number) => {
      const copy = bytes.slice();
      copy[i]! ^= 1;
      return copy;
    };
    const { ephemeralPublic: e, nonce: n, ciphertext: c } = box;
    expect(await open(recipient, e, n, c, flip(header, 3))).toBeNull();
    expect(await open(recipient, e, n, flip(c, 0), header)).toBeNull();
    expect(await open(recipient, e, n, flip(c, c.length - 1), header)).toBeNull();
    expect(await open(recipient, e, flip(n, 0), c, header)).toBeNull();
    expect(await open(recipient, flip(e, 0), n, c, header)).toBeNull();
  });

  it('fails to open for anyone but the recipient', async () => {
    const { box } = await sealed();
    const stranger = await createIdentity(new SeededRandom(32));
    expect(await open(stranger, box.ephemeralPublic, box.nonce, box.ciphertext, header)).toBeNull();
  });

  it('open returns null, never throws, for malformed inputs', async () => {
    const { recipient, box } = await sealed();
    const { ephemeralPublic: e, nonce: n, ciphertext: c } = box;
    expect(await open(recipient, e.slice(0, 31), n, c, header)).toBeNull();
    expect(await open(recipient, e, n.slice(0, 11), c, header)).toBeNull();
    expect(await open(recipient, e, n, c.slice(0, 15), header)).toBeNull();
    expect(await open(recipient, new Uint8Array(32), n, c, header)).toBeNull(); // low-order point
  });

  it('refuses to seal to a low-order or wrongly sized key', async () => {
    const random = new SeededRandom(33);
    // 0 and 1 are low-order points: the shared secret would be all zeros.
    const lowOrder = [new Uint8Array(32), Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0))];
    for (const key of lowOrder) {
      await expect(seal(key, body, header, random)).rejects.toSatisfy((err) => isPeerchatError(err));
    }
    await expect(seal(new Uint8Array(31), body, header, random)).rejects.toSatisfy((err) => isPeerchatError(err));
  });

  it('seals an empty body', async () => {
    const recipient = await createIdentity(new SeededRandom(34));
    const box = await seal(recipient.agreementPublic, new Uint8Array(0), header, new SeededRandom(35));
    expect(await open(recipient, box.ephemeralPublic, box.nonce, box.ciphertext, header)).toEqual(new Uint8Array(0));
  });
});

describe('stored seeds', () => {
  it('are 32 bytes of base64url', async () => {
    const stored = await exportIdentity(await createIdentity(new SeededRandom(40)));
    expect(stored.v).toBe(1);
    expect(fromBase64Url(stored.signingSeed)).toHaveLength(32);
    expect(fromBase64Url(stored.agreementSeed)).toHaveLength(32);
  });

  it('are what createIdentity draws, in the same order', async () => {
    const identity = await createIdentity(new SeededRandom(41));
    expect({ ...createSeeds(new SeededRandom(41)), n: identity.idNonce }).toEqual(await exportIdentity(identity));
  });

  it('keep their id nonce; seeds from before ids cost work get one found on import, the same every time', async () => {
    const identity = await createIdentity(new SeededRandom(43));
    const stored = await exportIdentity(identity);
    expect(stored.n).toBe(identity.idNonce);
    const { n: _n, ...old } = stored;
    const again = (await importIdentity(old))!;
    expect(again.idNonce).toBe(identity.idNonce);
    expect(again.nodeId).toEqual(identity.nodeId);
    // A stored nonce without the work is not believed: the right one is found instead.
    const bad = (await importIdentity({ ...stored, n: identity.idNonce + 1 }))!;
    expect(bad.nodeId).toEqual(nodeIdFromSigningKey(bad.signingPublic, bad.idNonce));
  });
});

describe('a non-extractable identity', () => {
  it('is the same identity, signs and opens, and its private keys cannot be exported', async () => {
    const seeds = createSeeds(new SeededRandom(42));
    const readable = (await importIdentity(seeds))!;
    const kept = (await importIdentity(seeds, { extractable: false }))!;
    expect(idToHex(kept.nodeId)).toBe(idToHex(readable.nodeId));
    expect(kept.agreementPublic).toEqual(readable.agreementPublic);
    expect([kept.signingPrivate.extractable, kept.agreementPrivate.extractable]).toEqual([false, false]);
    for (const key of [kept.signingPrivate, kept.agreementPrivate]) {
      for (const format of ['jwk', 'pkcs8'] as const) await expect(crypto.subtle.exportKey(format, key)).rejects.toThrow();
    }
    await expect(exportIdentity(kept)).rejects.toThrow();
    expect(await ops.verify(readable.signingPublic, await ops.sign(kept, data), data)).toBe(true);
    const header = utf8Encode('header');
    const box = await seal(kept.agreementPublic, data, header, new SeededRandom(43));
    expect(await open(kept, box.ephemeralPublic, box.nonce, box.ciphertext, header)).toEqual(data);
  });
});
