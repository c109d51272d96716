/**
 * The user's state in memory (contacts, messages, conversations, outbox, seen ids), restored
 * from the node's store, with the small commits the facade, the outbox and the inbox share.
 */
import { isContact, isConversation, isMessage, isOldOutboxEntry, isOutboxEntry, withoutUndefined, type ChatMessage, type Contact, type Conversation, type MessageStatus, type OldOutboxEntry, type OutboxEntry } from './chat-model.ts';
import { SEEN_RETENTION_MS } from './constants.ts';
import type { NodeContext } from '../dht/context.ts';
import { storedTrust } from './senders.ts';
import type { StoreOp } from '../lib/store.ts';

export class ChatBook {
  readonly contacts = new Map<string, Contact>();
  readonly messages = new Map<string, ChatMessage>();
  readonly conversations = new Map<string, Conversation>();
  readonly outbox = new Map<string, OutboxEntry>();
  /** Outbox entries of the first envelope format, from disk, until outbox.ts resealOldEntries. */
  readonly oldOutbox = new Map<string, OldOutboxEntry>();
  /** Message ids shown here, with when: a message handed over twice shows once. */
  readonly seen = new Map<string, number>();
  readonly listeners = new Set<() => void>();
  lastSentAt = 0;
  closed = false;

  constructor(readonly node: NodeContext) {}

  /** Restores everything from the store; what does not parse is dropped and counted. */
  async load(): Promise<void> {
    const { node } = this;
    const now = node.clock.now();
    const drop = (what: string) => node.stats.count(`chat-dropped-from-disk-${what}`);
    for (const [name, c] of await node.store.entries<Contact>('contacts')) {
      if (isContact(c) && c.name === name) this.contacts.set(name, c);
      else drop('contact');
    }
    for (const [id, m] of await node.store.entries<ChatMessage>('messages')) {
      if (!isMessage(m) || m.id !== id) {
        drop('message');
        continue;
      }
      this.messages.set(id, m);
      if (m.out) this.lastSentAt = Math.max(this.lastSentAt, m.sentAt);
    }
    this.settleStoredTrust();
    for (const [peer, c] of await node.store.entries<Conversation>('conversations')) {
      if (isConversation(c) && c.peer === peer) this.conversations.set(peer, c);
      else drop('conversation');
    }
    for (const [id, e] of await node.store.entries<OutboxEntry>('outbox')) {
      if (isOutboxEntry(e) && e.envelope.id === id) this.outbox.set(id, e);
      else if (isOldOutboxEntry(e) && e.envelope.id === id) this.oldOutbox.set(id, e);
      else drop('outbox');
    }
    const expired: StoreOp[] = [];
    for (const [id, at] of await node.store.entries<number>('seen')) {
      if (Number.isSafeInteger(at) && at + SEEN_RETENTION_MS > now) this.seen.set(id, at);
      else expired.push({ type: 'delete', table: 'seen', key: id });
    }
    await node.store.batch(expired);
  }

  /** Contacts stored before trust was get it from how they were made (senders.ts, storedTrust). */
  private settleStoredTrust(): void {
    const incoming = new Map<string, ChatMessage[]>();
    for (const m of this.messages.values()) if (!m.out) incoming.set(m.peer, [...(incoming.get(m.peer) ?? []), m]);
    for (const [name, c] of this.contacts) {
      if (!c.trust) this.contacts.set(name, { ...c, trust: storedTrust(c, incoming.get(name) ?? []) });
    }
  }

  async setStatus(id: string, status: MessageStatus, error?: string): Promise<void> {
    const message = this.messages.get(id);
    if (!message || message.status === 'delivered' || (message.status === status && message.error === error)) return;
    // "stored" is not taken back by a later attempt that found fewer holders.
    if (message.status === 'stored' && (status === 'sent' || status === 'failed')) return;
    const updated = withoutUndefined({ ...message, status, error });
    await this.node.store.put('messages', id, updated);
    this.messages.set(id, updated);
    this.changed();
  }

  /** Commits a changed contact, with `ops` in the same batch. */
  async putContact(contact: Contact, ops: StoreOp[] = []): Promise<void> {
    await this.node.store.batch([...ops, { type: 'put', table: 'contacts', key: contact.name, value: contact }]);
    this.contacts.set(contact.name, contact);
    this.changed();
  }

  async warn(contact: Contact, warning: string): Promise<void> {
    if (contact.warning === warning) return;
    const updated = { ...contact, warning };
    await this.node.store.put('contacts', contact.name, updated);
    this.contacts.set(contact.name, updated);
    this.changed();
  }

  /** The conversation's new last activity (and unread count), as ops to commit with the change. */
  touchConversation(peer: string, at: number, unread: number): StoreOp[] {
    const c = this.conversations.get(peer) ?? { peer, unread: 0, lastAt: 0 };
    const updated = { peer, unread: c.unread + unread, lastAt: Math.max(c.lastAt, at) };
    this.conversations.set(peer, updated);
    return [{ type: 'put', table: 'conversations', key: peer, value: updated }];
  }

  changed(): void {
    for (const l of this.listeners) {
      try {
        l();
      } catch {
        this.node.stats.count('chat-listener-crashed');
      }
    }
  }
}
