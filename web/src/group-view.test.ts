import { describe, expect, it } from 'vitest';
import type { ChatMessage, Contact } from '../../shared/chat/chat-model.ts';
import { confirmedKey, senderId, typedNames, unconfirmedSenders } from './group-view.ts';

const KEY_A = 'A'.repeat(43);
const KEY_B = 'B'.repeat(43);

function contact(name: string, signingKey: string, trust: Contact['trust']): Contact {
  return { name, nodeId: '0'.repeat(40), signingKey, agreementKey: KEY_B, addedAt: 1, trust };
}

function received(peer: string, fromKey: string, id = `${peer}-${fromKey}`): ChatMessage {
  return { id, peer, out: false, text: 'hi', sentAt: 1, receivedAt: 2, fromKey, group: 'f'.repeat(32) };
}

describe('typed names', () => {
  it('splits on commas and spaces, however many, and drops the empty ones', () => {
    expect(typedNames(' ben, cat  dan,,eve ')).toEqual(['ben', 'cat', 'dan', 'eve']);
    expect(typedNames(' , ')).toEqual([]);
  });
});

describe('which group senders a lookup confirmed', () => {
  it('confirms a key only when the contact for the name pins it and a record resolved to it', () => {
    expect(confirmedKey(contact('ben', KEY_A, 'verified'), KEY_A)).toBe(true);
    expect(confirmedKey(contact('ben', KEY_A, 'unverified'), KEY_A)).toBe(false);
    expect(confirmedKey(contact('ben', KEY_A, 'mismatch'), KEY_A)).toBe(false);
    expect(confirmedKey(contact('ben', KEY_B, 'verified'), KEY_A)).toBe(false);
    expect(confirmedKey(undefined, KEY_A)).toBe(false);
  });

  it('marks a sender never looked up, and one whose looked-up key is not the key that signed (an admin’s lie)', () => {
    const contacts = new Map([['ben', contact('ben', KEY_A, 'verified')]]);
    const messages = [received('ben', KEY_A), received('cat', KEY_A), received('ben', KEY_B)];
    expect(unconfirmedSenders(messages, (n) => contacts.get(n))).toEqual([senderId(messages[1]!), senderId(messages[2]!)]);
  });

  it('asks for each sender’s contact once, however many messages it wrote, and skips this user’s own', () => {
    const asked: string[] = [];
    const messages = [received('ben', KEY_A, '1'), received('ben', KEY_A, '2'), { ...received('me', KEY_B, '3'), out: true }, received('ben', KEY_A, '4')];
    expect(unconfirmedSenders(messages, (n) => (asked.push(n), undefined))).toEqual([senderId(messages[0]!)]);
    expect(asked).toEqual(['ben']);
  });
});
