import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_MESSAGE_BODY_BYTES } from './constants.ts';
import { createIdentity, open, seal, webCryptoOps as ops, type Identity } from '../lib/crypto.ts';
import { fromBase64Url, toBase64Url } from '../lib/encoding.ts';
import { idToHex } from '../lib/id.ts';
import { createEnvelope, envelopeHash, envelopeHeaderBytes, FETCH_FRESH_MS, openEnvelope, signFetch, signReceipt, signTombstone, verifyFetch, verifyReceipt, verifyTombstone } from './messages.ts';
import { MAX_CIPHERTEXT_CHARS, type EnvelopeWire } from './wire.ts';
import { SeededRandom } from '../lib/random.ts';

let alice: Identity;
let bob: Identity;
let eve: Identity;
const NOW = 1_700_000_000_000;

beforeAll(async () => {
  const random = new SeededRandom(77);
  [alice, bob, eve] = [await createIdentity(random), await createIdentity(random), await createIdentity(random)];
});

const toBob = () => ({ nodeId: bob.nodeId, agreementKey: bob.agreementPublic });
const envelope = (text = 'hello bob', random = new SeededRandom(1)) => createEnvelope(alice, 'alice', toBob(), text, NOW, random, ops);

/** Flips one base64url character of a field, keeping it well formed. */
function flip(b64: string): string {
  const bytes = fromBase64Url(b64)!;
  bytes[bytes.length - 1]! ^= 1;
  return toBase64Url(bytes);
}

describe('message envelopes', () => {
  it('opens for the recipient with the text, the sender’s name, key and clock from inside the seal', async () => {
    const e = await envelope('héllo 👋 bob');
    expect(Object.keys(e).sort()).toEqual(['ct', 'epk', 'id', 'nonce', 'to', 'v']);
    expect(e.v).toBe(2);
    expect(e.to).toBe(idToHex(bob.nodeId));
    const opened = await openEnvelope(bob, e, NOW, ops);
    expect(opened).toEqual({
      ok: true,
      message: {
        id: e.id,
        from: idToHex(alice.nodeId),
        fromName: 'alice',
        fromKey: alice.signingPublic,
        fromAgreementKey: alice.agreementPublic,
        sentAt: NOW,
        content: { kind: 'text', text: 'héllo 👋 bob' },
      },
    });
  });

  it('shows holders and relays no sender id, key, name or time: the sender is sealed in', async () => {
    const e = await envelope('hi');
    const json = JSON.stringify(e);
    for (const secret of [idToHex(alice.nodeId), toBase64Url(alice.signingPublic), toBase64Url(alice.agreementPublic), 'alice', String(NOW), 'hi']) {
      expect(json).not.toContain(secret);
    }
    // The sender's name is padded inside: a longer name does not make a longer envelope.
    const long = await createEnvelope(alice, 'a'.repeat(32), toBob(), 'hi', NOW, new SeededRandom(1), ops);
    expect(long.ct.length).toBe(e.ct.length);
  });

  it('carries receipts, sealed like text, and refuses an empty or oversized batch', async () => {
    const ids = [await envelope('a'), await envelope('b', new SeededRandom(2))].map((e) => e.id);
    const e = await createEnvelope(bob, 'bob', { nodeId: alice.nodeId, agreementKey: alice.agreementPublic }, { kind: 'receipts', ids }, NOW, new SeededRandom(7), ops);
    const opened = await openEnvelope(alice, e, NOW, ops);
    expect(opened.ok && opened.message.content).toEqual({ kind: 'receipts', ids });
    const to = { nodeId: alice.nodeId, agreementKey: alice.agreementPublic };
    await expect(createEnvelope(bob, 'bob', to, { kind: 'receipts', ids: [] }, NOW, new SeededRandom(7), ops)).rejects.toThrow(/1 to 1024 receipts/);
    await expect(createEnvelope(bob, 'bob', to, { kind: 'receipts', ids: ['nope'] }, NOW, new SeededRandom(7), ops)).rejects.toThrow(/Not a message id/);
  });

  it('carries a group’s texts and membership changes, and refuses a change that is not well formed', async () => {
    const group = 'ab'.repeat(16);
    const text = await createEnvelope(alice, 'alice', toBob(), { kind: 'group-text', group, text: 'hi all' }, NOW, new SeededRandom(8), ops);
    const openedText = await openEnvelope(bob, text, NOW, ops);
    expect(openedText.ok && openedText.message.content).toEqual({ kind: 'group-text', group, text: 'hi all' });
    const member = (who: Identity, name: string) => ({ name, nodeId: idToHex(who.nodeId), signingKey: toBase64Url(who.signingPublic), agreementKey: toBase64Url(who.agreementPublic), addedAt: NOW });
    const snapshot = { id: group, name: 'Trip', version: 1, creator: toBase64Url(alice.signingPublic), admins: [toBase64Url(alice.signingPublic)], members: [member(alice, 'alice'), member(bob, 'bob')] };
    const change = await createEnvelope(alice, 'alice', toBob(), { kind: 'group-change', change: { kind: 'snapshot', snapshot } }, NOW, new SeededRandom(9), ops);
    const openedChange = await openEnvelope(bob, change, NOW, ops);
    expect(openedChange.ok && openedChange.message.content).toEqual({ kind: 'group-change', change: { kind: 'snapshot', snapshot } });
    const bad = { kind: 'snapshot' as const, snapshot: { ...snapshot, admins: [toBase64Url(eve.signingPublic)] } };
    await expect(createEnvelope(alice, 'alice', toBob(), { kind: 'group-change', change: bad }, NOW, new SeededRandom(9), ops)).rejects.toThrow(/group change/);
    await expect(createEnvelope(alice, 'alice', toBob(), { kind: 'group-text', group, text: 'x'.repeat(MAX_MESSAGE_BODY_BYTES) }, NOW, new SeededRandom(9), ops)).rejects.toThrow(/KiB/);
  });

  it('is the same envelope for the same seeded randomness, and a new id and seal otherwise', async () => {
    expect(await envelope('x', new SeededRandom(5))).toEqual(await envelope('x', new SeededRandom(5)));
    const [a, b] = [await envelope('x', new SeededRandom(5)), await envelope('x', new SeededRandom(6))];
    expect(a.id).not.toBe(b.id);
    expect(a.epk).not.toBe(b.epk);
  });

  it('keeps a given id (an old-format message sealed again) and refuses one that is not an id', async () => {
    const id = 'ab'.repeat(16);
    const e = await createEnvelope(alice, 'alice', toBob(), 'again', NOW, new SeededRandom(5), ops, id);
    expect(e.id).toBe(id);
    expect((await openEnvelope(bob, e, NOW, ops)).ok).toBe(true);
    await expect(createEnvelope(alice, 'alice', toBob(), 'again', NOW, new SeededRandom(5), ops, 'AB'.repeat(16))).rejects.toThrow(/Not a message id/);
  });

  it('hides the text from everyone but the recipient', async () => {
    const e = await envelope('secret');
    expect(JSON.stringify(e)).not.toContain('secret');
    expect(await openEnvelope(eve, { ...e, to: idToHex(eve.nodeId) }, NOW, ops)).toEqual({ ok: false, reason: 'undecryptable' });
    expect(await openEnvelope(eve, e, NOW, ops)).toEqual({ ok: false, reason: 'not-for-us' });
  });

  it('refuses a tampered outer header or ciphertext, and ciphertexts swapped between headers', async () => {
    const e = await envelope();
    const other = await envelope('other', new SeededRandom(9));
    const tampered: Array<[string, EnvelopeWire]> = [
      ['id', { ...e, id: other.id }],
      ['epk', { ...e, epk: other.epk }],
      ['nonce', { ...e, nonce: flip(e.nonce) }],
      ['ct', { ...e, ct: flip(e.ct) }],
      ['swapped ct', { ...e, ct: other.ct }],
      ['swapped header', { ...other, ct: e.ct }],
    ];
    for (const [field, t] of tampered) expect(await openEnvelope(bob, t, NOW, ops), field).toEqual({ ok: false, reason: 'undecryptable' });
    expect(await openEnvelope(bob, { ...e, to: idToHex(eve.nodeId) }, NOW, ops)).toEqual({ ok: false, reason: 'not-for-us' });
  });

  it('refuses a message re-sealed to another recipient by one that opened it (surreptitious forwarding)', async () => {
    // Bob opens Alice's message to him and seals her signed body, as it was, for Eve: with Eve
    // as the recipient, and with the header Alice signed (Bob's id as the recipient).
    const e = await envelope('for bob only');
    const { ct: _ct, ...header } = e;
    const plain = (await open(bob, fromBase64Url(e.epk)!, fromBase64Url(e.nonce)!, fromBase64Url(e.ct)!, envelopeHeaderBytes(header)))!;
    const forward = async (to: string): Promise<EnvelopeWire> => {
      const sealed = await seal(eve.agreementPublic, plain, (epk, nonce) => envelopeHeaderBytes({ ...header, to, epk: toBase64Url(epk), nonce: toBase64Url(nonce) }), new SeededRandom(11));
      return { ...header, to, epk: toBase64Url(sealed.ephemeralPublic), nonce: toBase64Url(sealed.nonce), ct: toBase64Url(sealed.ciphertext) };
    };
    expect(await openEnvelope(eve, await forward(idToHex(eve.nodeId)), NOW, ops)).toEqual({ ok: false, reason: 'bad-signature' });
    expect(await openEnvelope(eve, await forward(e.to), NOW, ops)).toEqual({ ok: false, reason: 'not-for-us' });
    // Keeping Alice's epk and nonce does not help either: Eve's key opens nothing sealed to Bob's.
    expect(await openEnvelope(eve, { ...e, to: idToHex(eve.nodeId) }, NOW, ops)).toEqual({ ok: false, reason: 'undecryptable' });
  });

  it('refuses a body whose sealed-in key did not sign it, and names the sender by the key that did', async () => {
    // Eve claims Alice's name: she can, but the sender id is the hash of Eve's own key.
    const claimed = await createEnvelope(eve, 'alice', toBob(), 'I am alice', NOW, new SeededRandom(3), ops);
    const opened = await openEnvelope(bob, claimed, NOW, ops);
    expect(opened.ok && opened.message.from).toBe(idToHex(eve.nodeId));
    expect(opened.ok && opened.message.fromKey).toEqual(eve.signingPublic);
    // Eve puts Alice's key into a body she signed herself: the signature does not verify.
    const e = await createEnvelope({ ...eve, signingPublic: alice.signingPublic, idNonce: alice.idNonce }, 'alice', toBob(), 'I am alice', NOW, new SeededRandom(3), ops);
    expect(await openEnvelope(bob, e, NOW, ops)).toEqual({ ok: false, reason: 'bad-signature' });
    // With her own id nonce beside Alice's key, the sender id it makes carries no work.
    const noWork = await createEnvelope({ ...eve, signingPublic: alice.signingPublic }, 'alice', toBob(), 'I am alice', NOW, new SeededRandom(3), ops);
    expect(await openEnvelope(bob, noWork, NOW, ops)).toEqual({ ok: false, reason: 'bad-sender-work' });
  });

  it('refuses a message whose sealed-in sender is its recipient', async () => {
    const e = await createEnvelope(bob, 'bob', toBob(), 'note to self', NOW, new SeededRandom(4), ops);
    expect(await openEnvelope(bob, e, NOW, ops)).toEqual({ ok: false, reason: 'from-self' });
  });

  it('rejects messages dated far in the future (the sealed-in clock)', async () => {
    const e = await createEnvelope(alice, 'alice', toBob(), 'from the future', NOW + 2 * 3600_000, new SeededRandom(4), ops);
    expect(await openEnvelope(bob, e, NOW, ops)).toEqual({ ok: false, reason: 'bad-times' });
  });

  it('carries up to 16 KiB of text and refuses more with a clear error', async () => {
    const max = 'a'.repeat(MAX_MESSAGE_BODY_BYTES);
    const e = await envelope(max);
    expect(e.ct.length).toBeLessThanOrEqual(MAX_CIPHERTEXT_CHARS);
    const opened = await openEnvelope(bob, e, NOW, ops);
    expect(opened.ok && opened.message.content.kind === 'text' && opened.message.content.text.length).toBe(MAX_MESSAGE_BODY_BYTES);
    await expect(envelope(max + 'a')).rejects.toThrow(/at most 16 KiB/);
  });
});

describe('receipts and tombstones', () => {
  it('verify against the recipient’s key, and not against anyone else’s', async () => {
    const r = await signReceipt(bob, 'ab'.repeat(16), NOW, ops);
    expect(r.to).toBe(idToHex(bob.nodeId));
    expect(await verifyReceipt(r, idToHex(bob.nodeId), bob.signingPublic, ops)).toBe(true);
    expect(await verifyReceipt(r, idToHex(bob.nodeId), eve.signingPublic, ops)).toBe(false);
    expect(await verifyReceipt({ ...r, id: 'cd'.repeat(16) }, idToHex(bob.nodeId), bob.signingPublic, ops)).toBe(false);
    expect(await verifyReceipt({ ...r, at: NOW + 1 }, idToHex(bob.nodeId), bob.signingPublic, ops)).toBe(false);
    const h = envelopeHash(await envelope());
    const t = await signTombstone(bob, h, NOW, ops);
    expect(t.to).toBe(idToHex(bob.nodeId));
    expect(await verifyTombstone(t, bob.signingPublic, bob.idNonce, ops)).toBe(true);
    expect(await verifyTombstone(t, eve.signingPublic, eve.idNonce, ops)).toBe(false);
    expect(await verifyTombstone({ ...t, h: envelopeHash(await envelope('other')) }, bob.signingPublic, bob.idNonce, ops)).toBe(false);
    expect(await verifyTombstone({ ...t, at: NOW + 1 }, bob.signingPublic, bob.idNonce, ops)).toBe(false);
  });

  it('cannot pass a receipt off as a tombstone or the other way round', async () => {
    // The same 32 bytes as a receipt's subject and a tombstone's: only the tags differ.
    const subject = toBase64Url(new Uint8Array(32).fill(9));
    const receipt = await signReceipt(bob, subject, NOW, ops);
    const tombstone = await signTombstone(bob, subject, NOW, ops);
    expect(await verifyTombstone({ h: subject, to: receipt.to, at: NOW, sig: receipt.sig }, bob.signingPublic, bob.idNonce, ops)).toBe(false);
    expect(await verifyReceipt({ id: subject, to: tombstone.to, at: NOW, sig: tombstone.sig }, idToHex(bob.nodeId), bob.signingPublic, ops)).toBe(false);
  });
});

describe('envelope hashes', () => {
  it('differ for copies that share an id but differ in any field, so a corrupted copy is another entry', async () => {
    const e = await envelope();
    const h = envelopeHash(e);
    expect(fromBase64Url(h)?.length).toBe(32);
    expect(envelopeHash({ ...e })).toBe(h);
    for (const field of ['epk', 'nonce', 'ct'] as const) expect(envelopeHash({ ...e, [field]: flip(e[field]) })).not.toBe(h);
    expect(envelopeHash({ ...e, id: 'ab'.repeat(16) })).not.toBe(h);
    expect(envelopeHash({ ...e, to: idToHex(eve.nodeId) })).not.toBe(h);
  });
});

describe('mailbox fetches', () => {
  it('are signed for one holder, with a nonce, and verify only as signed', async () => {
    const holder = idToHex(alice.nodeId);
    const f = await signFetch(bob, holder, NOW, new SeededRandom(5), ops);
    expect(f.holder).toBe(holder);
    expect(await verifyFetch(f, NOW, ops)).toEqual(bob.signingPublic);
    expect(await verifyFetch({ ...f, holder: idToHex(eve.nodeId) }, NOW, ops)).toBeNull();
    expect(await verifyFetch({ ...f, nonce: flip(f.nonce) }, NOW, ops)).toBeNull();
    expect(await verifyFetch(f, NOW + FETCH_FRESH_MS + 1, ops)).toBeNull();
    expect((await signFetch(bob, holder, NOW, new SeededRandom(6), ops)).nonce).not.toBe(f.nonce);
  });
});
