/**
 * The user layer (ARCHITECTURE.md, "A message's path"): a registered name, contacts
 * with pinned keys, conversations, and messages that reach their recipient whether it is online
 * or not. It runs on a joined node's chat services (services.ts) and persists through the node's
 * Store.
 *
 * Sending: every message is committed to the outbox before anything is sent. An attempt routes
 * DELIVER to the recipient's id; a signed receipt in reply means "delivered". Otherwise it routes
 * MAILBOX_STORE there (never to the recipient itself): the node closest to it commits the
 * envelope and copies it to its nearest, and "stored" shows once STORED_QUORUM holders did.
 * Entries stay in the outbox until a receipt arrives, and each session stores them again.
 *
 * Receiving: a DELIVER routed here is committed (message, seen id, conversation) in one batch
 * before its receipt is signed. Messages handed over by holders (a fetch at start and every
 * MAILBOX_CHECK_INTERVAL_MS, or a holder's push) are answered with signed tombstones, which
 * delete them at the holders, and with receipts sealed in an envelope of their own back to their
 * sender, which travels like any message: the sender may be long gone by then.
 *
 * This file is the facade the app and the simulator use. The state and its commits are in
 * chat-book.ts, sending in outbox.ts, receiving in inbox.ts, the types and disk checks in
 * chat-model.ts.
 */
import { ChatBook } from './chat-book.ts';
import { contactFromRecord, isProfile, withoutUndefined, recipientOf, type ChatEvents, type ChatMessage, type ChatOptions, type Contact, type Conversation, type OutboxEntry, type Profile } from './chat-model.ts';
import { TimerSet } from '../lib/clock.ts';
import { MAILBOX_CHECK_INTERVAL_MS, MAX_MESSAGE_BODY_BYTES, RECORD_REPUBLISH_MS } from './constants.ts';
import type { Identity } from '../lib/crypto.ts';
import { fromBase64Url, utf8Encode } from '../lib/encoding.ts';
import { idEquals, type NodeId } from '../lib/id.ts';
import { ErrorCode, PeerchatError, errorCode } from '../lib/errors.ts';
import { Inbox } from './inbox.ts';
import { createEnvelope } from './messages.ts';
import type { Handler, NodeContext } from '../dht/context.ts';
import { Outbox, resealOldEntries } from './outbox.ts';
import type { RecordService } from './record-service.ts';
import { createRecord, normalizeUsername, recordKey, usernameOrThrow } from './records.ts';
import type { GroupView } from './group-chat.ts';
import type { MessageRequest } from './requests.ts';
import { safetyNumber } from './safety-number.ts';
import { lookup, trustAfterLookup } from './senders.ts';
import type { ChatServices } from './services.ts';
import type { StoreOp } from '../lib/store.ts';

/** What a user's chat runs on: a node and the name holders serveChat added to it. */
export type ChatHost = Pick<ChatServices, 'node' | 'records'>;

export type { ChatEvents, ChatMessage, ChatOptions, Contact, Conversation, MessageStatus, Via } from './chat-model.ts';
export type { MessageRequest } from './requests.ts';
export type { GroupView } from './group-chat.ts';

const PUBLISH_RETRY_MS = 30_000;
/**
 * Name lookups a group's making or an admin's Add runs at once: each is mostly waiting on round
 * trips, and 31 in a row kept the user waiting the sum of them.
 */
const LOOKUPS_AT_ONCE = 4;

export class Chat {
  private readonly book: ChatBook;
  private readonly outbox: Outbox;
  private readonly inbox: Inbox;
  private readonly timers: TimerSet;
  /** Set when most of the name's holders keep another key's record for our name. */
  nameLost = false;
  private nameKey: NodeId | undefined;

  readonly node: NodeContext;
  private readonly records: RecordService;

  private constructor(
    host: ChatHost,
    readonly identity: Identity,
    private profile: Profile,
    events: ChatEvents = {},
  ) {
    const { node } = host;
    this.node = node;
    this.records = host.records;
    this.book = new ChatBook(node);
    this.timers = new TimerSet(node.ticker);
    this.outbox = new Outbox(this.book);
    this.inbox = new Inbox(this.book, this.outbox, identity, profile.name, events);
    node.handle('DELIVER', this.onDeliver);
  }

  private readonly onDeliver: Handler<'DELIVER'> = (b, ctx) => this.inbox.deliver(b, ctx);

  get name(): string {
    return this.profile.name;
  }

  /**
   * Claims `rawName` for this node's identity: publishes the signed record at the nodes closest
   * to the name, reads it back after JOIN_REREAD_DELAY_MS, and fails with NameTaken when most of
   * the name's holders keep another key (or they disagree). The node must have joined.
   */
  static async register(host: ChatHost, identity: Identity, rawName: string, options: ChatOptions = {}): Promise<Chat> {
    const { node } = host;
    const name = usernameOrThrow(rawName);
    if (node.neighbours().length === 0) throw new PeerchatError(ErrorCode.NoRoute, 'No peers yet: wait until the network panel shows connected peers, then join.');
    // Asked before storing: a name most of its holders keep for another key is taken. The
    // holders' contest window (records.ts chooseRecord) is for two Joins at once, not for a
    // second Join in a name's first minute, which would otherwise win on a lower hash.
    const held = await host.records.resolution(name);
    if (held.status === 'found' && !idEquals(held.record.signingKey, identity.signingPublic)) throw taken(name);
    if (held.status === 'contested') throw contested(name);
    const now = node.clock.now();
    const profile: Profile = { name, registeredAt: now, seq: 1 };
    const record = await createRecord(identity, node.ops, { name, registeredAt: now, seq: 1, now });
    const result = await host.records.publish(record);
    if (result.status === 'taken') throw taken(name);
    if (result.status === 'contested') throw contested(name);
    await node.store.put('meta', 'profile', profile);
    const chat = new Chat(host, identity, profile, options.events);
    chat.begin(false);
    return chat;
  }

  /** The user saved in the node's store, signed in again; null when this identity never joined. */
  static async open(host: ChatHost, identity: Identity, options: ChatOptions = {}): Promise<Chat | null> {
    const profile = await host.node.store.get<Profile>('meta', 'profile');
    if (!isProfile(profile)) return null;
    const chat = new Chat(host, identity, profile, options.events);
    await chat.book.load();
    await resealOldEntries(chat.book, identity, profile.name);
    const ready = options.ready ?? Promise.resolve();
    void ready.then(
      () => chat.begin(true),
      () => chat.begin(true),
    );
    return chat;
  }

  /** Called on every change the UI shows; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.book.listeners.add(listener);
    return () => this.book.listeners.delete(listener);
  }

  /** Conversations, the most recent first. */
  conversationList(): Conversation[] {
    return [...this.book.conversations.values()].sort((a, b) => b.lastAt - a.lastAt || (a.peer < b.peer ? -1 : 1));
  }

  /** One conversation's messages in sent order (each sender's clock only moves forward). */
  messagesWith(peer: string): ChatMessage[] {
    const out: ChatMessage[] = [];
    for (const m of this.book.messages.values()) if (m.peer === peer && m.group === undefined) out.push({ ...m });
    return out.sort((a, b) => a.sentAt - b.sentAt || (a.id < b.id ? -1 : 1));
  }

  /** Message requests (requests.ts), the oldest first. */
  requests(): MessageRequest[] {
    return [...this.book.requests.values()].sort((a, b) => a.firstAt - b.firstAt || (a.key < b.key ? -1 : 1)).map((r) => structuredClone(r));
  }

  /**
   * Accepts a message request: its messages move into a conversation with the name it claims
   * (an unverified contact until the user looks the name up, senders.ts), and their senders get
   * their receipts. Returns the conversation's name, null when no request has that key.
   */
  acceptRequest(key: string): Promise<string | null> {
    return this.inbox.accept(key);
  }

  /** Drops a message request and blocks its key: its later messages are dropped at once. */
  blockRequest(key: string): Promise<void> {
    return this.inbox.block(key);
  }

  contact(name: string): Contact | undefined {
    const c = this.book.contacts.get(name);
    return c && { ...c };
  }

  /**
   * Where this user's mail and name live, as this node's channels tell: the r closest to its
   * node id (this node aside: mail is stored around its recipient) and the r closest to its
   * name's key (recordKey), this node among them if it is. Cheap reads, for the Network panel.
   */
  holders(): { mailbox: string[]; record: string[] } {
    const { node } = this;
    const r = node.replication;
    this.nameKey ??= recordKey(this.name);
    return {
      mailbox: node.closestTo(node.id, r + 1).filter((n) => n.hex !== node.hex).slice(0, r).map((n) => n.hex),
      record: node.closestTo(this.nameKey, r).map((n) => n.hex),
    };
  }

  /** Messages not yet acknowledged by their recipient (tests and the debug handle). */
  get outboxSize(): number {
    return this.outbox.size;
  }

  /**
   * FindUser: resolves the name's record through the DHT (the record most of the name's holders
   * keep; holders that disagree are "User not found"), verifies it and pins its keys. A pinned
   * contact whose record now shows another key keeps its old key and gets a warning. A contact
   * made by a message (unverified) is confirmed, or re-pinned to the record's key when the
   * record contradicts it (senders.ts).
   */
  async findUser(rawName: string): Promise<Contact> {
    const { book } = this;
    const name = usernameOrThrow(rawName);
    if (name === this.name) throw new PeerchatError(ErrorCode.BadRequest, 'That is you: find another user to chat with.');
    const record = await this.records.resolve(name);
    if (!record) throw new PeerchatError(ErrorCode.NotFound, `User not found: nobody holds the name “${name}”.`);
    const pinned = book.contacts.get(name);
    const found = contactFromRecord(record, this.node.clock.now());
    const outcome = lookup(pinned, found.signingKey);
    if (outcome === 'key-change') {
      await book.warn(pinned!, `“${name}” is now registered with a different key than the one you chatted with. It may be someone else.`);
    } else if (outcome === 'new-contact') {
      book.contacts.set(name, found);
      await this.node.store.batch([{ type: 'put', table: 'contacts', key: name, value: found }, ...book.touchConversation(name, found.addedAt, 0)]);
      book.changed();
    } else if (outcome === 'confirmed') {
      await book.putContact({ ...pinned!, trust: trustAfterLookup(pinned!.signingKey, this.incomingFrom(name)) });
    } else if (outcome === 'contradicted') {
      await this.contradicted(pinned!, found);
    }
    const now = book.contacts.get(name)!;
    // The pinned key at another id: its owner moved to an id that costs work (lib/id.ts).
    if (now.signingKey === found.signingKey && now.nodeId !== found.nodeId) await book.putContact({ ...now, nodeId: found.nodeId });
    // Looking a name up starts the conversation: a request its record's key wrote joins it.
    const waiting = book.requests.get(found.signingKey);
    if (waiting?.name === name) await this.inbox.accept(waiting.key);
    return { ...book.contacts.get(name)! };
  }

  /**
   * The record says `claimed` was not its name's key: the contact is pinned to the record's keys
   * (so replies reach the name's owner), and the messages the other key signed keep that key, so
   * they show as not from the name.
   */
  private async contradicted(claimed: Contact, found: Contact): Promise<void> {
    const { book } = this;
    const ops: StoreOp[] = [];
    for (const m of book.messages.values()) {
      // Messages stored before fromKey was are the pinned key's, unless flagged then.
      if (m.out || m.peer !== claimed.name || m.group !== undefined || m.fromKey !== undefined || m.keyMismatch) continue;
      const updated = { ...m, fromKey: claimed.signingKey };
      book.messages.set(m.id, updated);
      ops.push({ type: 'put', table: 'messages', key: m.id, value: updated });
    }
    const contact = withoutUndefined({ ...found, addedAt: claimed.addedAt, trust: trustAfterLookup(found.signingKey, this.incomingFrom(claimed.name)), warning: undefined });
    await book.putContact(contact, ops);
  }

  private incomingFrom(peer: string): ChatMessage[] {
    return [...this.book.messages.values()].filter((m) => !m.out && m.peer === peer && m.group === undefined);
  }

  /** The safety number of this user and a contact (safety-number.ts), null for a stranger. */
  safetyNumber(peer: string): string[] | null {
    const contact = this.book.contacts.get(peer);
    const key = contact && fromBase64Url(contact.signingKey);
    return key ? safetyNumber(this.identity.signingPublic, key) : null;
  }

  /**
   * Sends `text` to a contact: sealed, signed and committed to the outbox before anything goes
   * out, then attempted in the background. Resolves with the message as first shown ("queued").
   */
  async send(peer: string, text: string): Promise<ChatMessage> {
    const { book, node } = this;
    const contact = book.contacts.get(peer);
    if (!contact) throw new PeerchatError(ErrorCode.NotFound, `Find “${peer}” before sending to them.`);
    if (text.trim() === '') throw new PeerchatError(ErrorCode.BadRequest, 'Type a message first.');
    if (utf8Encode(text).length > MAX_MESSAGE_BODY_BYTES) throw new PeerchatError(ErrorCode.BadRequest, `A message is at most ${MAX_MESSAGE_BODY_BYTES / 1024} KiB; split it.`);
    const sentAt = Math.max(node.clock.now(), book.lastSentAt + 1);
    book.lastSentAt = sentAt;
    const envelope = await createEnvelope(this.identity, this.name, recipientOf(contact), text, sentAt, node.random, node.ops);
    const message: ChatMessage = { id: envelope.id, peer, out: true, text, sentAt, status: 'queued' };
    const entry: OutboxEntry = { envelope, kind: 'text', peer, recipientKey: contact.signingKey, misses: 0 };
    await node.store.batch([
      { type: 'put', table: 'messages', key: message.id, value: message },
      { type: 'put', table: 'outbox', key: message.id, value: entry },
      ...book.touchConversation(peer, sentAt, 0),
    ]);
    book.messages.set(message.id, message);
    book.outbox.set(message.id, entry);
    book.changed();
    void this.outbox.attempt(message.id);
    return { ...message };
  }

  // ---- Groups (group-chat.ts) ----------------------------------------------------------------

  /** The groups this user is in or is invited to, the most recent first. */
  groups(): GroupView[] {
    return this.inbox.groups.list();
  }

  /** A group's messages in sent order. */
  messagesIn(group: string): ChatMessage[] {
    return this.inbox.groups.messagesIn(group);
  }

  /**
   * Makes a group of this user and `memberNames`, each looked up first (Find user's rules: a
   * name nobody holds fails the whole group, before anything is sent). Returns its id.
   */
  async createGroup(name: string, memberNames: string[]): Promise<string> {
    return this.inbox.groups.create(name, await this.lookUpAll(memberNames));
  }

  /** An admin adds members (looked up first) and removes members by name. */
  async changeGroupMembers(group: string, add: string[], remove: string[]): Promise<void> {
    await this.inbox.groups.changeMembers(group, await this.lookUpAll(add), remove);
  }

  sendToGroup(group: string, text: string): Promise<ChatMessage> {
    return this.inbox.groups.send(group, text);
  }

  leaveGroup(group: string): Promise<void> {
    return this.inbox.groups.leave(group);
  }

  acceptGroup(group: string): Promise<void> {
    return this.inbox.groups.accept(group);
  }

  markGroupRead(group: string): Promise<void> {
    return this.inbox.groups.markRead(group);
  }

  private async lookUpAll(rawNames: string[]): Promise<Contact[]> {
    const names = [...new Set(rawNames.map((n) => normalizeUsername(n) ?? n))].filter((n) => n !== this.name);
    // A few at once (each lookup is mostly waiting on round trips), in the order given; the first
    // failure stops the rest from starting.
    const found: Contact[] = [];
    let next = 0;
    let failed = false;
    const lookUp = async (): Promise<void> => {
      while (!failed && next < names.length) {
        const i = next++;
        try {
          found[i] = await this.findUser(names[i]!);
        } catch (err) {
          failed = true;
          throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(LOOKUPS_AT_ONCE, names.length) }, lookUp));
    return found;
  }

  /** The user's retry of a failed message: attempts it now, with its miss count reset. */
  retry(id: string): Promise<void> {
    return this.outbox.retry(id);
  }

  /** Marks a conversation read. */
  async markRead(peer: string): Promise<void> {
    const c = this.book.conversations.get(peer);
    if (!c || c.unread === 0) return;
    c.unread = 0;
    await this.node.store.put('conversations', peer, c);
    this.book.changed();
  }

  /** Asks this user's holders for held messages (also done at start and periodically). */
  checkMailbox(): Promise<void> {
    return this.inbox.checkMailbox();
  }

  close(): void {
    this.book.closed = true;
    this.timers.clear();
    this.outbox.close();
    this.inbox.close();
    this.book.listeners.clear();
    // A closed chat takes no more messages: senders get an error and fall back to the mailbox.
    this.node.unhandle('DELIVER', this.onDeliver);
  }

  /** Starts the background work: publish, mailbox checks, and every unacknowledged message. */
  private begin(publishNow: boolean): void {
    if (this.book.closed) return;
    const every = (ms: number, fn: () => void) => {
      const tick = () => {
        // A node that left takes its user with it (the simulator closes nodes, not users).
        if (this.node.isClosed) return this.close();
        fn();
        this.timers.set(tick, ms);
      };
      this.timers.set(tick, ms);
    };
    if (publishNow) void this.publish();
    every(RECORD_REPUBLISH_MS, () => void this.publish());
    every(MAILBOX_CHECK_INTERVAL_MS, () => void this.checkMailbox());
    // The sender stores again each session until a receipt arrives; receipts that came while
    // it was away are fetched first, so what they acknowledge is not sent again.
    void this.checkMailbox().finally(() => this.outbox.attemptAll());
  }

  /** Re-signs the record with the next seq and stores it at the name's closest nodes. */
  private async publish(): Promise<void> {
    if (this.book.closed) return;
    const { node } = this;
    const profile = { ...this.profile, seq: this.profile.seq + 1 };
    try {
      // The seq is committed before the record that carries it leaves, so none is signed twice.
      await node.store.put('meta', 'profile', profile);
      this.profile = profile;
      const record = await createRecord(this.identity, node.ops, { name: profile.name, registeredAt: profile.registeredAt, seq: profile.seq, now: node.clock.now() });
      const result = await this.records.publish(record);
      // Holders that disagree are no verdict: the name is not reported lost, and read again soon.
      if (result.status === 'contested') throw new PeerchatError(ErrorCode.NotFound, 'The nodes that hold the name disagree.');
      const lost = result.status === 'taken';
      if (lost !== this.nameLost) {
        this.nameLost = lost;
        this.book.changed();
      }
    } catch (err) {
      node.stats.count(`chat-publish-failed-${errorCode(err)}`);
      if (!this.book.closed) this.timers.set(() => void this.publish(), PUBLISH_RETRY_MS);
    }
  }
}

function taken(name: string): PeerchatError {
  return new PeerchatError(ErrorCode.NameTaken, `The username “${name}” is taken. Pick another.`);
}

function contested(name: string): PeerchatError {
  return new PeerchatError(ErrorCode.NameTaken, `The username “${name}” may be taken: the nodes that hold it disagree. Pick another, or retry in a minute.`);
}
