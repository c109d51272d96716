/**
 * Pure decisions behind the group screens (GroupHeader.svelte, MessageLog.svelte): which members'
 * keys this user's own lookups confirmed, and how typed usernames split. Session calls them;
 * they know nothing of the Chat or of Svelte. What an admin's "Add people" looks up is
 * group-add.ts, loaded with that form only.
 */
import type { ChatMessage, Contact } from '../../shared/chat/chat-model.ts';

/** Usernames typed into one box, separated by commas or spaces (New group's Members, Add people). */
export function typedNames(text: string): string[] {
  return text.split(/[\s,]+/).filter((n) => n !== '');
}

/**
 * Whether this user's own lookup of `name` confirmed `key`: its contact for the name pins that
 * key and a record resolved to it. Otherwise the name is the group admin's word only.
 */
export function confirmedKey(contact: Contact | undefined, key: string): boolean {
  return contact !== undefined && contact.signingKey === key && contact.trust === 'verified';
}

/** One sender of received group messages: the name the group gave it and the key that signed. */
export function senderId(m: Pick<ChatMessage, 'peer' | 'fromKey'>): string {
  // A space is in neither a username nor base64url.
  return `${m.peer} ${m.fromKey ?? ''}`;
}

/**
 * The senders (senderId) of the received messages whose key no lookup of their name confirmed:
 * each sender's contact is checked once, however many messages it wrote.
 */
export function unconfirmedSenders(messages: readonly ChatMessage[], contactOf: (name: string) => Contact | undefined): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const m of messages) {
    if (m.out) continue;
    const id = senderId(m);
    if (seen.has(id)) continue;
    seen.add(id);
    if (m.fromKey === undefined || !confirmedKey(contactOf(m.peer), m.fromKey)) out.push(id);
  }
  return out;
}
