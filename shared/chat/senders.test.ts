import { describe, expect, it } from 'vitest';
import type { ChatMessage, Contact } from './chat-model.ts';
import { arrival, lookup, senderTrust, storedTrust, trustAfterLookup } from './senders.ts';

const ERIN = 'E'.repeat(43);
const IMPOSTOR = 'I'.repeat(43);
const contact = (signingKey: string, trust?: Contact['trust']): Contact => ({ name: 'erin', nodeId: '00'.repeat(32), signingKey, agreementKey: signingKey, addedAt: 1_000, ...(trust && { trust }) });
const incoming = (fromKey: string | undefined, receivedAt = 2_000): ChatMessage => ({ id: `m${receivedAt}`, peer: 'erin', out: false, text: 'hi', sentAt: receivedAt, receivedAt, ...(fromKey && { fromKey }) });

describe('senders: a name is the sender’s word until its record says which key owns it', () => {
  it('a first message from a name never looked up makes an unverified contact', () => {
    expect(arrival(undefined, IMPOSTOR)).toBe('first-contact');
    expect(senderTrust(contact(IMPOSTOR, 'unverified'), incoming(IMPOSTOR))).toBe('unverified');
  });

  it('another key for a name a lookup pinned is a key change', () => {
    expect(arrival(contact(ERIN, 'verified'), IMPOSTOR)).toBe('key-change');
    expect(arrival(contact(ERIN, 'mismatch'), IMPOSTOR)).toBe('key-change');
    expect(arrival(contact(ERIN, 'verified'), ERIN)).toBe('pinned-key');
  });

  it('a lookup confirms an unverified contact whose key is the record’s', () => {
    expect(lookup(contact(ERIN, 'unverified'), ERIN)).toBe('confirmed');
    expect(lookup(contact(ERIN, 'verified'), ERIN)).toBe('unchanged');
    expect(lookup(undefined, ERIN)).toBe('new-contact');
    expect(senderTrust(contact(ERIN, 'verified'), incoming(ERIN))).toBe('verified');
  });

  it('a looked-up contact is a mismatch while any of its messages was signed by another key', () => {
    expect(trustAfterLookup(ERIN, [incoming(ERIN), incoming(undefined)])).toBe('verified');
    expect(trustAfterLookup(ERIN, [incoming(ERIN), incoming(IMPOSTOR, 3_000)])).toBe('mismatch');
    expect(trustAfterLookup(ERIN, [{ ...incoming(undefined), keyMismatch: true }])).toBe('mismatch');
    expect(trustAfterLookup(ERIN, [])).toBe('verified');
  });

  it('a lookup that shows another key for a verified contact is a key change, not a re-pin', () => {
    expect(lookup(contact(ERIN, 'verified'), IMPOSTOR)).toBe('key-change');
  });

  it('a message claiming a name from a key that name’s record does not resolve to is never shown as that name’s verified contact, and does not make the real owner’s key a key change', () => {
    // The impostor writes first: unverified, pinned to its key so a reply would reach it.
    const claimed = contact(IMPOSTOR, 'unverified');
    const lie = incoming(IMPOSTOR, 2_000);
    expect(senderTrust(claimed, lie)).toBe('unverified');
    // The real erin writes before the user looked erin up: another claim, not a key change.
    expect(arrival(claimed, ERIN)).toBe('another-claim');
    // The lookup resolves erin to the real key: the contact is re-pinned, trust "mismatch".
    expect(lookup(claimed, ERIN)).toBe('contradicted');
    const repinned = contact(ERIN, 'mismatch');
    expect(senderTrust(repinned, lie)).toBe('mismatch');
    expect(senderTrust(repinned, incoming(ERIN, 3_000))).toBe('verified');
    expect(arrival(repinned, ERIN)).toBe('pinned-key');
  });

  it('contacts stored before trust was: made by a first message is unverified, by Find user verified', () => {
    expect(storedTrust(contact(ERIN), [incoming(undefined, 1_000)])).toBe('unverified');
    expect(storedTrust(contact(ERIN), [incoming(undefined, 5_000)])).toBe('verified');
    expect(storedTrust(contact(ERIN), [])).toBe('verified');
    expect(storedTrust(contact(ERIN, 'mismatch'), [incoming(undefined, 1_000)])).toBe('mismatch');
  });
});
