import { describe, expect, it } from 'vitest';
import { createIdentity } from '../lib/crypto.ts';
import { toBase64Url } from '../lib/encoding.ts';
import { idToHex, nodeIdFromSigningKey } from '../lib/id.ts';
import { SeededRandom } from '../lib/random.ts';
import { Stats } from '../lib/stats.ts';
import { contactHex, verifiedIds } from './contacts.ts';

async function someone(seed: number) {
  const identity = await createIdentity(new SeededRandom(seed));
  return { identity, contact: { key: toBase64Url(identity.signingPublic), n: identity.idNonce } };
}

/** A nonce for `key` that lacks the network's work (15 of 16 do, at the tests' 4 bits). */
function nonceWithoutWork(key: Uint8Array): number {
  let n = 0;
  while (nodeIdFromSigningKey(key, n) !== null) n++;
  return n;
}

describe('contacts in answers', () => {
  it('a contact names the id its key and nonce make, never another', async () => {
    const { identity, contact } = await someone(1);
    expect(contactHex(contact)).toBe(idToHex(identity.nodeId));
    const stats = new Stats();
    expect(verifiedIds([contact, contact], stats)).toEqual({ ids: [idToHex(identity.nodeId), idToHex(identity.nodeId)], bad: 0 });
    expect(stats.snapshot('contact-')).toEqual({});
  });

  it('a contact whose nonce lacks the work is dropped and counted', async () => {
    const a = await someone(1);
    const b = await someone(2);
    const made = { key: b.contact.key, n: nonceWithoutWork(b.identity.signingPublic) };
    const stats = new Stats();
    const { ids, bad } = verifiedIds([made, a.contact, made], stats);
    expect(ids).toEqual([idToHex(a.identity.nodeId)]);
    expect(bad).toBe(2);
    expect(stats.get('contact-drop-bad-work')).toBe(2);
  });

  it('a key that is not 32 bytes makes no id', () => {
    expect(contactHex({ key: 'AAAA', n: 0 })).toBeNull();
  });
});
