import { describe, expect, it } from 'vitest';
import { createIdentity, webCryptoOps, type Identity } from '../lib/crypto.ts';
import { toBase64Url } from '../lib/encoding.ts';
import { idToHex } from '../lib/id.ts';
import { SeededRandom } from '../lib/random.ts';
import { answerIsFrom, askNonce, signAnswer } from './answer-proofs.ts';
import type { AckSigner } from './holder-acks.ts';
import { createRecord, recordKey, recordToWire } from './records.ts';

const signer = (identity: Identity): AckSigner => ({
  hex: idToHex(identity.nodeId),
  signingKey: identity.signingPublic,
  idNonce: identity.idNonce,
  sign: (data) => webCryptoOps.sign(identity, data),
});

describe('signed FIND_VALUE answers', () => {
  it('a node that answers an ask routed to a holder does not cast that holder’s vote, nor change the nodes it names', async () => {
    const random = new SeededRandom(31);
    const [owner, mallory, holder, nearby] = await Promise.all([1, 2, 3, 4].map((s) => createIdentity(new SeededRandom(s))));
    const now = 1_800_000_000_000;
    const key = idToHex(recordKey('carol'));
    const honest = recordToWire(await createRecord(owner!, webCryptoOps, { name: 'carol', registeredAt: now, seq: 1, now }));
    const lie = recordToWire(await createRecord(mallory!, webCryptoOps, { name: 'carol', registeredAt: now, seq: 1, now }));
    const holderHex = idToHex(holder!.nodeId);
    const nonce = askNonce(random);

    // The nodes each answer names as the name's closest: contacts (key and id nonce).
    const contact = (i: Identity) => ({ key: toBase64Url(i.signingPublic), n: i.idNonce });
    const nodes = [contact(holder!), contact(nearby!), contact(owner!)];
    const madeUp = [contact(mallory!), contact(nearby!)];

    // The holder's own answer is its vote.
    const proof = await signAnswer(signer(holder!), key, nonce, honest, nodes);
    expect(await answerIsFrom(holderHex, key, nonce, honest, nodes, proof, webCryptoOps)).toBe(true);
    // So is its "I keep nothing".
    expect(await answerIsFrom(holderHex, key, nonce, null, [], await signAnswer(signer(holder!), key, nonce, null, []), webCryptoOps)).toBe(true);

    // A node on the route answers in the holder's place, with its own proof or with none.
    const byNearby = await signAnswer(signer(nearby!), key, nonce, lie, nodes);
    expect(await answerIsFrom(holderHex, key, nonce, lie, nodes, byNearby, webCryptoOps)).toBe(false);
    expect(await answerIsFrom(holderHex, key, nonce, lie, nodes, undefined, webCryptoOps)).toBe(false);
    // ... or claims the holder's id and key on its own signature.
    expect(await answerIsFrom(holderHex, key, nonce, lie, nodes, { ...byNearby, holder: holderHex, key: proof.key, n: proof.n }, webCryptoOps)).toBe(false);
    // ... or swaps the record under the holder's real proof.
    expect(await answerIsFrom(holderHex, key, nonce, lie, nodes, proof, webCryptoOps)).toBe(false);
    // ... or relays the holder's answer with other nodes named in it (made-up ones, whose
    // silence would then be charged to the holder), or the same ones in another order.
    expect(await answerIsFrom(holderHex, key, nonce, honest, madeUp, proof, webCryptoOps)).toBe(false);
    expect(await answerIsFrom(holderHex, key, nonce, honest, [...nodes, madeUp[0]!], proof, webCryptoOps)).toBe(false);
    expect(await answerIsFrom(holderHex, key, nonce, honest, [...nodes].reverse(), proof, webCryptoOps)).toBe(false);
    expect(await answerIsFrom(holderHex, key, nonce, honest, [{ ...nodes[0]!, n: nodes[0]!.n + 1 }, ...nodes.slice(1)], proof, webCryptoOps)).toBe(false);
    // ... or replays the holder's answer to an earlier ask, or one about another name.
    expect(await answerIsFrom(holderHex, key, askNonce(random), honest, nodes, proof, webCryptoOps)).toBe(false);
    expect(await answerIsFrom(holderHex, idToHex(recordKey('dave')), nonce, honest, nodes, proof, webCryptoOps)).toBe(false);
  });
});
