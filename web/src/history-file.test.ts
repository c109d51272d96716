import { describe, expect, it } from 'vitest';
import type { ChatMessage, Contact, Conversation } from '../../shared/chat/chat.ts';
import { historyFile, type HistorySource } from './history-file.ts';

const KEY = 'k'.repeat(43);

function source(): HistorySource {
  const conversations: Conversation[] = [
    { peer: 'bob', unread: 0, lastAt: 3_000 },
    { peer: 'carol', unread: 1, lastAt: 2_000 },
  ];
  const messages: Record<string, ChatMessage[]> = {
    bob: [
      { id: 'a'.repeat(32), peer: 'bob', out: true, text: 'hi bob', sentAt: 1_000, status: 'delivered' },
      { id: 'b'.repeat(32), peer: 'bob', out: false, text: 'hi alice', sentAt: 2_000, receivedAt: 2_500 },
    ],
    carol: [{ id: 'c'.repeat(32), peer: 'carol', out: false, text: 'it is me, carol', sentAt: 1_500, receivedAt: 1_600, keyMismatch: true }],
  };
  const contacts: Record<string, Contact> = { bob: { name: 'bob', nodeId: 'ab'.repeat(20), signingKey: KEY, agreementKey: KEY, addedAt: 1, trust: 'verified' } };
  return { name: 'alice', conversationList: () => conversations, messagesWith: (p) => messages[p] ?? [], contact: (n) => contacts[n] };
}

describe('the history file', () => {
  it('lists each conversation with its messages in order, who wrote each, and what the conversation marks', () => {
    const file = historyFile(source(), Date.UTC(2026, 11, 7, 12));
    expect(file.fileName).toBe('peerchat-alice-history-2026-12-07.json');
    const h = JSON.parse(file.text);
    expect(h).toMatchObject({ peerchat: 'history', version: 1, user: 'alice', exportedAt: '2026-12-07T12:00:00.000Z' });
    expect(h.conversations.map((c: { with: string }) => c.with)).toEqual(['bob', 'carol']);
    expect(h.conversations[0]).toMatchObject({ signingKey: KEY, verified: true });
    expect(h.conversations[0].messages).toEqual([
      { id: 'a'.repeat(32), from: 'alice', to: 'bob', text: 'hi bob', sentAt: '1970-01-01T00:00:01.000Z', status: 'delivered' },
      { id: 'b'.repeat(32), from: 'bob', to: 'alice', text: 'hi alice', sentAt: '1970-01-01T00:00:02.000Z', receivedAt: '1970-01-01T00:00:02.500Z' },
    ]);
    // A contact never looked up has no pinned key to show; a message from another key says so.
    expect(h.conversations[1]).toMatchObject({ signingKey: null, verified: false });
    expect(h.conversations[1].messages[0].notFromPinnedKey).toBe(true);
  });
});
