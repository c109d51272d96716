/**
 * The user's state in memory (contacts, messages, conversations, outbox, seen ids), restored
 * from the node's store, with the small commits the facade, the outbox and the inbox share.
 */
import { isContact, isConversation, isMessage, isOldOutboxEntry, isOutboxEntry, isStoredGroup, withoutUndefined, type ChatMessage, type Contact, type Conversation, type MessageStatus, type OldOutboxEntry, type OutboxEntry, type StoredGroup } from './chat-model.ts';
import { MAX_BLOCKED_SENDERS, MAX_MESSAGE_REQUESTS, SEEN_RETENTION_MS } from './constants.ts';
import { isBlockedAt, isMessageRequest, type MessageRequest } from './requests.ts';
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
  /** Message requests by the signing key that wrote them (requests.ts), and their message ids. */
  readonly requests = new Map<string, MessageRequest>();
  readonly requestIds = new Set<string>();
  /** Signing keys the user blocked, with when; the oldest go past MAX_BLOCKED_SENDERS. */
  readonly blocked = new Map<string, number>();
  /** Groups by id (group-chat.ts): their changes, and their conversations' state. */
  readonly groups = new Map<string, StoredGroup>();
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
    await this.loadRequests();
    for (const [id, g] of await node.store.entries<StoredGroup>('groups')) {
      if (isStoredGroup(g, id)) this.groups.set(id, g);
      else drop('group');
    }
    const expired: StoreOp[] = [];
    for (const [id, at] of await node.store.entries<number>('seen')) {
      if (Number.isSafeInteger(at) && at + SEEN_RETENTION_MS > now) this.seen.set(id, at);
      else expired.push({ type: 'delete', table: 'seen', key: id });
    }
    await node.store.batch(expired);
  }

  /** Requests and blocked keys; past their caps (disk edited by hand) the rest are ignored. */
  private async loadRequests(): Promise<void> {
    const drop = (what: string) => this.node.stats.count(`chat-dropped-from-disk-${what}`);
    for (const [key, r] of await this.node.store.entries<MessageRequest>('requests')) {
      if (!isMessageRequest(r) || r.key !== key || this.requests.size >= MAX_MESSAGE_REQUESTS) drop('request');
      else this.addRequest(r);
    }
    const blocked: Array<[string, number]> = [];
    for (const [key, at] of await this.node.store.entries<unknown>('blocked')) {
      if (isBlockedAt(at)) blocked.push([key, at]);
      else drop('blocked');
    }
    // The newest are kept, oldest first in the map, so the next block evicts the oldest.
    const kept = blocked.sort(([, a], [, b]) => b - a).slice(0, MAX_BLOCKED_SENDERS).reverse();
    for (const [key, at] of kept) this.blocked.set(key, at);
  }

  /** Puts a request in memory (committed by the caller). */
  addRequest(r: MessageRequest): void {
    this.requests.set(r.key, r);
    for (const m of r.messages) this.requestIds.add(m.id);
  }

  /** Takes a request out of memory (its delete committed by the caller). */
  removeRequest(key: string): MessageRequest | undefined {
    const r = this.requests.get(key);
    this.requests.delete(key);
    for (const m of r?.messages ?? []) this.requestIds.delete(m.id);
    return r;
  }

  /** Whether the user started or accepted a conversation with `name` (requests.ts). */
  isKnown(name: string): boolean {
    return this.contacts.has(name) && this.conversations.has(name);
  }

  /** Contacts stored before trust was get it from how they were made (senders.ts, storedTrust). */
  private settleStoredTrust(): void {
    const incoming = new Map<string, ChatMessage[]>();
    for (const m of this.messages.values()) if (!m.out && m.group === undefined) incoming.set(m.peer, [...(incoming.get(m.peer) ?? []), m]);
    for (const [name, c] of this.contacts) {
      if (!c.trust) this.contacts.set(name, { ...c, trust: storedTrust(c, incoming.get(name) ?? []) });
    }
  }

  /**
   * A member's copy of a group message changed status: the message's copies and its status
   * (groupStatus) change in memory now, and the ops returned commit them. In memory first: the
   * copies' attempts run at once, and each must see the others' changes (read, await, write
   * would lose all but the last).
   */
  copyUpdate(of: string, member: string, status: MessageStatus, error?: string): StoreOp[] {
    const message = this.messages.get(of);
    const was = message?.copies?.[member];
    if (!message?.copies || was === undefined || was === 'delivered' || was === status) return [];
    // "stored" is not taken back by a later attempt that found fewer holders.
    if (was === 'stored' && (status === 'sent' || status === 'failed')) return [];
    const copies = { ...message.copies, [member]: status };
    const overall = groupStatus(copies);
    const updated = withoutUndefined({ ...message, copies, status: overall, error: overall === 'failed' ? error : undefined });
    this.messages.set(of, updated);
    this.changed();
    return [{ type: 'put', table: 'messages', key: of, value: updated }];
  }

  async setCopyStatus(of: string, member: string, status: MessageStatus, error?: string): Promise<void> {
    const ops = this.copyUpdate(of, member, status, error);
    if (ops.length > 0) await this.node.store.batch(ops);
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

/**
 * A group message's status from its copies': delivered when every member's is, stored when
 * every one is held (or delivered), failed when one failed, sent once any went out.
 */
export function groupStatus(copies: Record<string, MessageStatus>): MessageStatus {
  const all = Object.values(copies);
  if (all.every((s) => s === 'delivered')) return 'delivered';
  if (all.every((s) => s === 'stored' || s === 'delivered')) return 'stored';
  if (all.includes('failed')) return 'failed';
  return all.some((s) => s !== 'queued') ? 'sent' : 'queued';
}
