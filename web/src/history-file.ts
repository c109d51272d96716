/**
 * "Download history": the user's conversations as JSON, to keep or read elsewhere. Unlike the
 * identity file it holds no key and is not encrypted, so the button says so. Messages come in
 * the order the conversation shows them; a message from a key other than the contact's pinned
 * one is marked, as the conversation marks it.
 */
import type { ChatMessage, Contact, Conversation } from '../../shared/chat/chat.ts';

/** What the history needs of a Chat (shared/chat/chat.ts). */
export interface HistorySource {
  readonly name: string;
  conversationList(): Conversation[];
  messagesWith(peer: string): ChatMessage[];
  contact(name: string): Contact | undefined;
}

export interface HistoryFile {
  fileName: string;
  text: string;
}

export function historyFile(chat: HistorySource, now: number): HistoryFile {
  const conversations = chat.conversationList().map((c) => {
    const contact = chat.contact(c.peer);
    return {
      with: c.peer,
      // The key the conversation is pinned to, and whether a lookup of the name confirmed it.
      signingKey: contact?.signingKey ?? null,
      verified: contact?.trust === 'verified',
      messages: chat.messagesWith(c.peer).map((m) => ({
        id: m.id,
        from: m.out ? chat.name : c.peer,
        to: m.out ? c.peer : chat.name,
        text: m.text,
        sentAt: new Date(m.sentAt).toISOString(),
        ...(m.receivedAt !== undefined ? { receivedAt: new Date(m.receivedAt).toISOString() } : {}),
        ...(m.out ? { status: m.status ?? 'queued' } : {}),
        ...(m.keyMismatch ? { notFromPinnedKey: true } : {}),
      })),
    };
  });
  const text = JSON.stringify({ peerchat: 'history', version: 1, user: chat.name, exportedAt: new Date(now).toISOString(), conversations }, null, 2);
  const day = new Date(now).toISOString().slice(0, 10);
  return { fileName: `peerchat-${chat.name}-history-${day}.json`, text };
}
