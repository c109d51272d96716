/**
 * The user layer (DESIGN.md "What a user does" and "Messages"): a registered name, contacts
 * with pinned keys, conversations, and messages that reach their recipient whether it is online
 * or not. It runs on a joined KademliaNode and persists through the node's Store.
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
 */
import { MAILBOX_CHECK_INTERVAL_MS, MAX_MESSAGE_BODY_BYTES, OUTBOX_FAIL_AFTER, OUTBOX_RETRY_MS, RECORD_REPUBLISH_MS, REPLICATION, SEEN_RETENTION_MS, STORED_QUORUM } from './constants.ts';
import type { TimerHandle } from './clock.ts';
import type { Identity } from './crypto.ts';
import { fromBase64Url, toBase64Url, utf8Encode } from './encoding.ts';
import { ErrorCode, PeerchatError, errorCode } from './errors.ts';
import { idFromHex, idToHex, nodeIdFromSigningKey } from './id.ts';
import { createEnvelope, MAX_RECEIPTS_PER_ENVELOPE, openEnvelope, signFetch, signStatement, verifyStatement, type Recipient } from './messages.ts';
import type { KademliaNode, RouteOptions } from './node.ts';
import { MAX_TOMBSTONES_PER_ACK, parseRequestBody, type EnvelopeWire, type TombstoneWire } from './protocol.ts';
import { createRecord, normalizeUsername, type UserRecord } from './records.ts';
import type { StoreOp } from './store.ts';

export type MessageStatus = 'queued' | 'sent' | 'stored' | 'delivered' | 'failed';

export interface ChatMessage {
  id: string;
  /** The other user's name: which conversation it belongs to. */
  peer: string;
  /** True for messages this user wrote. */
  out: boolean;
  text: string;
  /** The sender's clock; strictly increasing per sender, so it orders a sender's messages. */
  sentAt: number;
  /** Sender's side: where the message is. */
  status?: MessageStatus;
  /** Sender's side, with status "failed": why, in words for the user. */
  error?: string;
  /** Recipient's side: when it arrived here. */
  receivedAt?: number;
  /** Recipient's side: signed by a key other than the one pinned for `peer`. */
  keyMismatch?: boolean;
}

export interface Contact {
  name: string;
  nodeId: string;
  /** Pinned keys, base64url. */
  signingKey: string;
  agreementKey: string;
  addedAt: number;
  /** Set when a record or a message showed another key for this name; never silently accepted. */
  warning?: string;
}

export interface Conversation {
  peer: string;
  unread: number;
  lastAt: number;
}

export interface ChatOptions {
  events?: ChatEvents;
  /**
   * Settles when the node has joined: network work (publish, fetch, resend) waits for it, so
   * a tab can show its history before the network is there.
   */
  ready?: Promise<unknown>;
}

/** How an envelope reached its recipient. */
export type Via = 'deliver' | 'push' | 'fetch';

/** What the simulator's experiments watch; the UI uses subscribe(). */
export interface ChatEvents {
  /** A message was committed and shown here for the first time. */
  shown?(message: ChatMessage): void;
  /** A message already shown was handed over again: routed by its sender, pushed by a holder, or fetched. */
  duplicate?(id: string, via: Via): void;
}

interface Profile {
  name: string;
  registeredAt: number;
  /** The last record seq signed; each publish signs the next one. */
  seq: number;
}

interface OutboxEntry {
  envelope: EnvelopeWire;
  kind: 'text' | 'receipts';
  /** The recipient's name and signing key (base64url), which its receipts must verify against. */
  peer: string;
  recipientKey: string;
  /** Consecutive attempts that reached nobody. */
  misses: number;
}

/** Routed to this node's own id, never answered by itself: how a recipient reaches its holders. */
const TO_MY_HOLDERS: RouteOptions = { leave: true, avoidSelf: true };
/** Fetch rounds per mailbox check: each takes what one reply frame holds. */
const MAX_FETCH_ROUNDS = 16;
const FETCH_RETRY_MS = 10_000;
const PUBLISH_RETRY_MS = 30_000;
/** Tombstones and receipts for messages handed over together go out together. */
const ANSWER_DELAY_MS = 200;

export class Chat {
  private readonly contacts = new Map<string, Contact>();
  private readonly messages = new Map<string, ChatMessage>();
  private readonly conversations = new Map<string, Conversation>();
  private readonly outbox = new Map<string, OutboxEntry>();
  /** Message ids shown here, with when: a message handed over twice shows once. */
  private readonly seen = new Map<string, number>();
  private readonly inFlight = new Set<string>();
  private readonly retryTimers = new Map<string, TimerHandle>();
  private readonly listeners = new Set<() => void>();
  /** Held messages to answer: tombstones to the holders, receipts to each sender. */
  private pendingTombstones: string[] = [];
  private readonly pendingReceipts = new Map<string, { name: string; key: Uint8Array; agreementKey: Uint8Array; ids: string[] }>();
  private answerTimer: TimerHandle | null = null;
  private timers: TimerHandle[] = [];
  private checking: Promise<void> | null = null;
  private lastSentAt = 0;
  private closed = false;
  /** Set when the closest nodes hold another key's record for our name. */
  nameLost = false;

  private constructor(
    readonly node: KademliaNode,
    readonly identity: Identity,
    private profile: Profile,
    private readonly events: ChatEvents = {},
  ) {
    node.handle('DELIVER', async (b, ctx) => {
      const e = b.envelope;
      if (e.to !== node.hex) throw new PeerchatError(ErrorCode.NotFound, 'That user is not at this node');
      // Routed here by its sender, or pushed by a holder (which wants a tombstone).
      const held = !ctx.routed;
      const result = await this.receive(e, held ? 'push' : 'deliver');
      if (result === 'bad') throw new PeerchatError(ErrorCode.Rejected, 'The envelope did not open or verify');
      const receipt = await signStatement('receipt', this.identity, e.id, node.clock.now(), node.ops);
      if (!held) return { receipt };
      // The holder that pushed it gets the tombstone in reply; the other holders a routed ack.
      this.answerLater(e.id);
      const tombstone = await signStatement('tombstone', this.identity, e.id, node.clock.now(), node.ops);
      return { receipt, ack: { key: toBase64Url(this.identity.signingPublic), tombstones: [tombstone] } };
    });
  }

  get name(): string {
    return this.profile.name;
  }

  /**
   * Claims `rawName` for this node's identity: publishes the signed record at the nodes closest
   * to the name, reads it back after JOIN_REREAD_DELAY_MS, and fails with NameTaken when another
   * key holds it. The node must have joined.
   */
  static async register(node: KademliaNode, identity: Identity, rawName: string, options: ChatOptions = {}): Promise<Chat> {
    const name = normalizeUsername(rawName);
    if (name === null) throw new PeerchatError(ErrorCode.InvalidName, 'A username is 3 to 32 characters of a-z, 0-9, _ and -.');
    if (node.neighbours().length === 0) throw new PeerchatError(ErrorCode.NoRoute, 'No peers yet: wait until the network panel shows connected peers, then join.');
    const now = node.clock.now();
    const profile: Profile = { name, registeredAt: now, seq: 1 };
    const record = await createRecord(identity, node.ops, { name, registeredAt: now, seq: 1, now });
    const result = await node.records.publish(record);
    if (result.status === 'taken') throw new PeerchatError(ErrorCode.NameTaken, `The username “${name}” is taken. Pick another.`);
    await node.store.put('meta', 'profile', profile);
    const chat = new Chat(node, identity, profile, options.events);
    chat.begin(false);
    return chat;
  }

  /** The user saved in the node's store, signed in again; null when this identity never joined. */
  static async open(node: KademliaNode, identity: Identity, options: ChatOptions = {}): Promise<Chat | null> {
    const profile = await node.store.get<Profile>('meta', 'profile');
    if (!isProfile(profile)) return null;
    const chat = new Chat(node, identity, profile, options.events);
    await chat.load();
    const ready = options.ready ?? Promise.resolve();
    void ready.then(
      () => chat.begin(true),
      () => chat.begin(true),
    );
    return chat;
  }

  /** Called on every change the UI shows; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Conversations, the most recent first. */
  conversationList(): Conversation[] {
    return [...this.conversations.values()].sort((a, b) => b.lastAt - a.lastAt || (a.peer < b.peer ? -1 : 1));
  }

  /** One conversation's messages in sent order (each sender's clock only moves forward). */
  messagesWith(peer: string): ChatMessage[] {
    const out: ChatMessage[] = [];
    for (const m of this.messages.values()) if (m.peer === peer) out.push({ ...m });
    return out.sort((a, b) => a.sentAt - b.sentAt || (a.id < b.id ? -1 : 1));
  }

  contact(name: string): Contact | undefined {
    const c = this.contacts.get(name);
    return c && { ...c };
  }

  /** Messages not yet acknowledged by their recipient (tests and the debug handle). */
  get outboxSize(): number {
    let n = 0;
    for (const e of this.outbox.values()) if (e.kind === 'text') n++;
    return n;
  }

  /**
   * FindUser: resolves the name's record through the DHT, verifies it and pins its keys. A pinned
   * contact whose record now shows another key keeps its old key and gets a warning.
   */
  async findUser(rawName: string): Promise<Contact> {
    const name = normalizeUsername(rawName);
    if (name === null) throw new PeerchatError(ErrorCode.InvalidName, 'A username is 3 to 32 characters of a-z, 0-9, _ and -.');
    if (name === this.name) throw new PeerchatError(ErrorCode.BadRequest, 'That is you: find another user to chat with.');
    const record = await this.node.records.resolve(name);
    if (!record) throw new PeerchatError(ErrorCode.NotFound, `User not found: nobody holds the name “${name}”.`);
    const pinned = this.contacts.get(name);
    const found = contactFromRecord(record, this.node.clock.now());
    if (pinned && pinned.signingKey !== found.signingKey) {
      await this.warn(pinned, `“${name}” is now registered with a different key than the one you chatted with. It may be someone else.`);
      return { ...this.contacts.get(name)! };
    }
    if (!pinned) {
      this.contacts.set(name, found);
      await this.node.store.batch([{ type: 'put', table: 'contacts', key: name, value: found }, ...this.touchConversation(name, found.addedAt, 0)]);
      this.changed();
    }
    return { ...this.contacts.get(name)! };
  }

  /**
   * Sends `text` to a contact: sealed, signed and committed to the outbox before anything goes
   * out, then attempted in the background. Resolves with the message as first shown ("queued").
   */
  async send(peer: string, text: string): Promise<ChatMessage> {
    const contact = this.contacts.get(peer);
    if (!contact) throw new PeerchatError(ErrorCode.NotFound, `Find “${peer}” before sending to them.`);
    if (text.trim() === '') throw new PeerchatError(ErrorCode.BadRequest, 'Type a message first.');
    if (utf8Encode(text).length > MAX_MESSAGE_BODY_BYTES) throw new PeerchatError(ErrorCode.BadRequest, `A message is at most ${MAX_MESSAGE_BODY_BYTES / 1024} KiB; split it.`);
    const { node } = this;
    const sentAt = Math.max(node.clock.now(), this.lastSentAt + 1);
    this.lastSentAt = sentAt;
    const envelope = await createEnvelope(this.identity, this.name, recipientOf(contact), text, sentAt, node.random, node.ops);
    const message: ChatMessage = { id: envelope.id, peer, out: true, text, sentAt, status: 'queued' };
    const entry: OutboxEntry = { envelope, kind: 'text', peer, recipientKey: contact.signingKey, misses: 0 };
    await node.store.batch([
      { type: 'put', table: 'messages', key: message.id, value: message },
      { type: 'put', table: 'outbox', key: message.id, value: entry },
      ...this.touchConversation(peer, sentAt, 0),
    ]);
    this.messages.set(message.id, message);
    this.outbox.set(message.id, entry);
    this.changed();
    void this.attempt(message.id);
    return { ...message };
  }

  /** The user's retry of a failed message: attempts it now, with its miss count reset. */
  async retry(id: string): Promise<void> {
    const entry = this.outbox.get(id);
    if (!entry) return;
    entry.misses = 0;
    await this.setStatus(id, 'queued');
    await this.attempt(id);
  }

  /** Marks a conversation read. */
  async markRead(peer: string): Promise<void> {
    const c = this.conversations.get(peer);
    if (!c || c.unread === 0) return;
    c.unread = 0;
    await this.node.store.put('conversations', peer, c);
    this.changed();
  }

  /** Asks this user's holders for held messages (also done at start and periodically). */
  checkMailbox(): Promise<void> {
    this.checking ??= this.fetchHeld().finally(() => (this.checking = null));
    return this.checking;
  }

  close(): void {
    this.closed = true;
    for (const t of [...this.timers, ...this.retryTimers.values()]) this.node.clock.clearTimeout(t);
    if (this.answerTimer) this.node.clock.clearTimeout(this.answerTimer);
    this.timers = [];
    this.retryTimers.clear();
    this.listeners.clear();
  }

  // ---- Start --------------------------------------------------------------------------------

  /** Restores everything from the store; what does not parse is dropped and counted. */
  private async load(): Promise<void> {
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
    for (const [peer, c] of await node.store.entries<Conversation>('conversations')) {
      if (isConversation(c) && c.peer === peer) this.conversations.set(peer, c);
      else drop('conversation');
    }
    for (const [id, e] of await node.store.entries<OutboxEntry>('outbox')) {
      if (isOutboxEntry(e) && e.envelope.id === id) this.outbox.set(id, e);
      else drop('outbox');
    }
    const expired: StoreOp[] = [];
    for (const [id, at] of await node.store.entries<number>('seen')) {
      if (Number.isSafeInteger(at) && at + SEEN_RETENTION_MS > now) this.seen.set(id, at);
      else expired.push({ type: 'delete', table: 'seen', key: id });
    }
    await node.store.batch(expired);
  }

  /** Starts the background work: publish, mailbox checks, and every unacknowledged message. */
  private begin(publishNow: boolean): void {
    if (this.closed) return;
    const { clock } = this.node;
    const every = (ms: number, fn: () => void) => {
      const tick = () => {
        // A node that left takes its user with it (the simulator closes nodes, not users).
        if (this.node.isClosed) return this.close();
        fn();
        this.timers.push(clock.setTimeout(tick, ms));
      };
      this.timers.push(clock.setTimeout(tick, ms));
    };
    if (publishNow) void this.publish();
    every(RECORD_REPUBLISH_MS, () => void this.publish());
    every(MAILBOX_CHECK_INTERVAL_MS, () => void this.checkMailbox());
    // The sender stores again each session until a receipt arrives; receipts that came while
    // it was away are fetched first, so what they acknowledge is not sent again.
    void this.checkMailbox().finally(() => {
      for (const id of this.outbox.keys()) void this.attempt(id);
    });
  }

  /** Re-signs the record with the next seq and stores it at the name's closest nodes. */
  private async publish(): Promise<void> {
    if (this.closed) return;
    const { node } = this;
    const profile = { ...this.profile, seq: this.profile.seq + 1 };
    try {
      // The seq is committed before the record that carries it leaves, so none is signed twice.
      await node.store.put('meta', 'profile', profile);
      this.profile = profile;
      const record = await createRecord(this.identity, node.ops, { name: profile.name, registeredAt: profile.registeredAt, seq: profile.seq, now: node.clock.now() });
      const result = await node.records.publish(record);
      const lost = result.status === 'taken';
      if (lost !== this.nameLost) {
        this.nameLost = lost;
        this.changed();
      }
    } catch (err) {
      node.stats.count(`chat-publish-failed-${errorCode(err)}`);
      if (!this.closed) this.timers.push(node.clock.setTimeout(() => void this.publish(), PUBLISH_RETRY_MS));
    }
  }

  // ---- Sending ------------------------------------------------------------------------------

  /** One attempt for one outbox entry: DELIVER, else MAILBOX_STORE; then what the outcome says. */
  private async attempt(id: string): Promise<void> {
    const entry = this.outbox.get(id);
    if (!entry || this.closed || this.node.isClosed || this.inFlight.has(id)) return;
    this.inFlight.add(id);
    const timer = this.retryTimers.get(id);
    if (timer) this.node.clock.clearTimeout(timer);
    this.retryTimers.delete(id);
    try {
      const outcome = await this.tryToSend(id, entry);
      if (outcome === 'delivered') return await this.acknowledged(id);
      if (outcome === 'stored') return await this.stored(id);
      await this.missed(id, entry, outcome === 'nobody');
    } catch (err) {
      this.node.stats.count(`chat-attempt-crashed-${errorCode(err)}`);
      await this.missed(id, entry, true).catch(() => {});
    } finally {
      this.inFlight.delete(id);
    }
  }

  private async tryToSend(id: string, entry: OutboxEntry): Promise<'delivered' | 'stored' | 'partly' | 'nobody'> {
    const { node } = this;
    if (node.neighbours().length === 0) return 'nobody';
    const message = this.messages.get(id);
    if (message && (message.status === 'queued' || message.status === 'failed')) await this.setStatus(id, 'sent');
    const to = idFromHex(entry.envelope.to)!;
    const [delivered] = await node.routeFromHere('DELIVER', { envelope: entry.envelope }, to, 1, { leave: true }).catch(() => []);
    const key = fromBase64Url(entry.recipientKey);
    if (delivered && key && delivered.receipt.id === id && (await verifyStatement('receipt', delivered.receipt, key, node.ops))) {
      node.stats.count('chat-delivered-direct');
      return 'delivered';
    }
    // Not there (or no valid receipt): the nodes closest to the recipient hold it. A second
    // path after a miss, in case the first hop's side of the network is the broken one.
    const paths = entry.misses > 0 ? 2 : 1;
    const replies = await node.routeFromHere('MAILBOX_STORE', { envelope: entry.envelope, copies: REPLICATION - 1 }, to, paths, { leave: true, avoid: entry.envelope.to });
    const holders = Math.max(0, ...replies.filter((r) => r.stored).map((r) => r.holders));
    node.stats.sample('chat-store-holders', holders);
    if (holders >= STORED_QUORUM) return 'stored';
    return holders > 0 ? 'partly' : 'nobody';
  }

  /** A valid receipt: the message is delivered and leaves the outbox, in one commit. */
  private async acknowledged(id: string): Promise<void> {
    const entry = this.outbox.get(id);
    if (!entry) return;
    const ops: StoreOp[] = [{ type: 'delete', table: 'outbox', key: id }];
    const message = this.messages.get(id);
    const updated = message && { ...message, status: 'delivered' as const, error: undefined };
    if (updated) ops.push({ type: 'put', table: 'messages', key: id, value: withoutUndefined(updated) });
    await this.node.store.batch(ops);
    this.outbox.delete(id);
    if (updated) this.messages.set(id, withoutUndefined(updated));
    this.changed();
  }

  /** Held by a quorum: "stored" for a text; a receipt batch needs nothing more from us. */
  private async stored(id: string): Promise<void> {
    const entry = this.outbox.get(id);
    if (!entry) return;
    if (entry.kind === 'receipts') {
      await this.node.store.delete('outbox', id);
      this.outbox.delete(id);
      return;
    }
    entry.misses = 0;
    await this.setStatus(id, 'stored');
  }

  /** Nobody (or too few) took it: retry later; after OUTBOX_FAIL_AFTER misses, show "failed". */
  private async missed(id: string, entry: OutboxEntry, nobody: boolean): Promise<void> {
    if (!this.outbox.has(id) || this.closed) return;
    if (nobody) entry.misses++;
    if (entry.misses >= OUTBOX_FAIL_AFTER) {
      await this.setStatus(id, 'failed', 'Neither the recipient nor any node that could hold the message was reachable. It keeps retrying; retry now once you have peers.');
    }
    const wait = OUTBOX_RETRY_MS[Math.min(entry.misses, OUTBOX_RETRY_MS.length - 1)]!;
    this.retryTimers.set(id, this.node.clock.setTimeout(() => void this.attempt(id), wait));
  }

  private async setStatus(id: string, status: MessageStatus, error?: string): Promise<void> {
    const message = this.messages.get(id);
    if (!message || message.status === 'delivered' || (message.status === status && message.error === error)) return;
    // "stored" is not taken back by a later attempt that found fewer holders.
    if (message.status === 'stored' && (status === 'sent' || status === 'failed')) return;
    const updated = withoutUndefined({ ...message, status, error });
    await this.node.store.put('messages', id, updated);
    this.messages.set(id, updated);
    this.changed();
  }

  // ---- Receiving ----------------------------------------------------------------------------

  /**
   * Opens, checks and commits one envelope addressed here. One handed over by a holder (pushed
   * or fetched) gets a receipt sealed back to its sender. Returns what became of it.
   */
  private async receive(e: EnvelopeWire, via: Via): Promise<'new' | 'seen' | 'bad'> {
    const held = via !== 'deliver';
    const { node } = this;
    if (this.seen.has(e.id)) {
      node.stats.count('chat-duplicate');
      this.events.duplicate?.(e.id, via);
      return 'seen';
    }
    const opened = await openEnvelope(this.identity, e, node.clock.now(), node.ops);
    if (!opened.ok) {
      node.stats.count(`chat-drop-${opened.reason}`);
      return 'bad';
    }
    // Another copy may have been committed while this one was opening.
    if (this.seen.has(e.id)) return 'seen';
    const m = opened.message;
    const now = node.clock.now();
    const ops: StoreOp[] = [{ type: 'put', table: 'seen', key: e.id, value: now }];
    if (m.content.kind === 'receipts') {
      this.seen.set(e.id, now);
      await node.store.batch(ops);
      for (const id of m.content.ids) {
        const entry = this.outbox.get(id);
        if (entry?.kind === 'text' && entry.envelope.to === m.from) {
          node.stats.count('chat-delivered-by-receipt');
          await this.acknowledged(id);
        }
      }
      return 'new';
    }
    const signingKey = toBase64Url(m.fromKey);
    let contact = this.contacts.get(m.fromName);
    const keyMismatch = contact !== undefined && contact.signingKey !== signingKey;
    if (!contact) {
      // First contact: the name is the sender's word, its key is proven by the signature.
      contact = { name: m.fromName, nodeId: m.from, signingKey, agreementKey: toBase64Url(m.fromAgreementKey), addedAt: now };
      ops.push({ type: 'put', table: 'contacts', key: contact.name, value: contact });
      this.contacts.set(contact.name, contact);
    } else if (keyMismatch) {
      contact = { ...contact, warning: `A message signed with a different key than the one you pinned says it is from “${m.fromName}”.` };
      ops.push({ type: 'put', table: 'contacts', key: contact.name, value: contact });
      this.contacts.set(contact.name, contact);
    }
    const message: ChatMessage = { id: e.id, peer: m.fromName, out: false, text: m.content.text, sentAt: m.sentAt, receivedAt: now };
    if (keyMismatch) message.keyMismatch = true;
    ops.push({ type: 'put', table: 'messages', key: e.id, value: message }, ...this.touchConversation(m.fromName, m.sentAt, 1));
    this.seen.set(e.id, now);
    await node.store.batch(ops);
    this.messages.set(e.id, message);
    node.stats.count(held ? 'chat-received-held' : 'chat-received-direct');
    this.events.shown?.({ ...message });
    if (held) {
      const r = this.pendingReceipts.get(m.from) ?? { name: m.fromName, key: m.fromKey, agreementKey: m.fromAgreementKey, ids: [] };
      r.ids.push(e.id);
      this.pendingReceipts.set(m.from, r);
    }
    this.changed();
    return 'new';
  }

  /** Fetches everything held for this user, round after round, and answers what it got. */
  private async fetchHeld(): Promise<void> {
    const { node } = this;
    for (let round = 0; round < MAX_FETCH_ROUNDS && !this.closed; round++) {
      const fetch = await signFetch(this.identity, node.clock.now(), node.ops);
      const replies = await node.routeFromHere('MAILBOX_FETCH', fetch, node.id, 2, TO_MY_HOLDERS).catch(() => []);
      if (replies.length === 0) {
        node.stats.count('chat-fetch-unanswered');
        this.timers.push(node.clock.setTimeout(() => void this.checkMailbox(), FETCH_RETRY_MS));
        return;
      }
      const byId = new Map<string, EnvelopeWire>();
      for (const r of replies) for (const e of r.entries) byId.set(e.id, e);
      const entries = [...byId.values()].sort((a, b) => a.sentAt - b.sentAt || (a.id < b.id ? -1 : 1));
      // Whatever was handed over is answered with a tombstone, junk included: it goes away.
      for (const e of entries) {
        if (e.to !== node.hex) continue;
        await this.receive(e, 'fetch');
        this.pendingTombstones.push(e.id);
      }
      await this.answerHeld();
      if (!replies.some((r) => r.more)) return;
    }
  }

  /** Answers held messages after a short pause that gathers the ones handed over together. */
  private answerLater(id: string): void {
    this.pendingTombstones.push(id);
    this.answerTimer ??= this.node.clock.setTimeout(() => {
      this.answerTimer = null;
      void this.answerHeld();
    }, ANSWER_DELAY_MS);
  }

  /** Tombstones to the holders; receipts, sealed, to each sender through the outbox. */
  private async answerHeld(): Promise<void> {
    const { node } = this;
    const ids = this.pendingTombstones;
    this.pendingTombstones = [];
    const key = toBase64Url(this.identity.signingPublic);
    for (let i = 0; i < ids.length; i += MAX_TOMBSTONES_PER_ACK) {
      const tombstones: TombstoneWire[] = [];
      for (const id of ids.slice(i, i + MAX_TOMBSTONES_PER_ACK)) tombstones.push(await signStatement('tombstone', this.identity, id, node.clock.now(), node.ops));
      const acks = await node.routeFromHere('MAILBOX_ACK', { key, tombstones }, node.id, 2, TO_MY_HOLDERS).catch(() => []);
      if (acks.length === 0) node.stats.count('chat-ack-unanswered');
    }
    const receipts = [...this.pendingReceipts.entries()];
    this.pendingReceipts.clear();
    for (const [from, r] of receipts) {
      for (let i = 0; i < r.ids.length; i += MAX_RECEIPTS_PER_ENVELOPE) {
        const envelope = await createEnvelope(this.identity, this.name, { nodeId: idFromHex(from)!, agreementKey: r.agreementKey }, { kind: 'receipts', ids: r.ids.slice(i, i + MAX_RECEIPTS_PER_ENVELOPE) }, node.clock.now(), node.random, node.ops);
        const entry: OutboxEntry = { envelope, kind: 'receipts', peer: r.name, recipientKey: toBase64Url(r.key), misses: 0 };
        await node.store.put('outbox', envelope.id, entry);
        this.outbox.set(envelope.id, entry);
        void this.attempt(envelope.id);
      }
    }
  }

  // ---- Helpers ------------------------------------------------------------------------------

  private async warn(contact: Contact, warning: string): Promise<void> {
    if (contact.warning === warning) return;
    const updated = { ...contact, warning };
    await this.node.store.put('contacts', contact.name, updated);
    this.contacts.set(contact.name, updated);
    this.changed();
  }

  /** The conversation's new last activity (and unread count), as ops to commit with the change. */
  private touchConversation(peer: string, at: number, unread: number): StoreOp[] {
    const c = this.conversations.get(peer) ?? { peer, unread: 0, lastAt: 0 };
    const updated = { peer, unread: c.unread + unread, lastAt: Math.max(c.lastAt, at) };
    this.conversations.set(peer, updated);
    return [{ type: 'put', table: 'conversations', key: peer, value: updated }];
  }

  private changed(): void {
    for (const l of this.listeners) {
      try {
        l();
      } catch {
        this.node.stats.count('chat-listener-crashed');
      }
    }
  }
}

function recipientOf(c: Contact): Recipient {
  return { nodeId: idFromHex(c.nodeId)!, agreementKey: fromBase64Url(c.agreementKey)! };
}

function contactFromRecord(r: UserRecord, now: number): Contact {
  return {
    name: r.name,
    nodeId: idToHex(nodeIdFromSigningKey(r.signingKey)),
    signingKey: toBase64Url(r.signingKey),
    agreementKey: toBase64Url(r.agreementKey),
    addedAt: now,
  };
}

function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

// ---- Disk is untrusted: shapes this code wrote, checked before use ------------------------

const STATUSES: readonly string[] = ['queued', 'sent', 'stored', 'delivered', 'failed'];
const isTime = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isName = (v: unknown): v is string => typeof v === 'string' && normalizeUsername(v) === v;
const isKey = (v: unknown): boolean => typeof v === 'string' && fromBase64Url(v)?.length === 32;

function isProfile(v: unknown): v is Profile {
  const p = v as Profile | undefined;
  return typeof p === 'object' && p !== null && isName(p.name) && isTime(p.registeredAt) && isTime(p.seq);
}

function isContact(v: unknown): v is Contact {
  const c = v as Contact | undefined;
  return typeof c === 'object' && c !== null && isName(c.name) && idFromHex(c.nodeId) !== null && isKey(c.signingKey) && isKey(c.agreementKey) && isTime(c.addedAt);
}

function isMessage(v: unknown): v is ChatMessage {
  const m = v as ChatMessage | undefined;
  return (
    typeof m === 'object' && m !== null && typeof m.id === 'string' && isName(m.peer) && typeof m.out === 'boolean' &&
    typeof m.text === 'string' && isTime(m.sentAt) && (m.status === undefined || STATUSES.includes(m.status))
  );
}

function isConversation(v: unknown): v is Conversation {
  const c = v as Conversation | undefined;
  return typeof c === 'object' && c !== null && isName(c.peer) && isTime(c.unread) && isTime(c.lastAt);
}

function isOutboxEntry(v: unknown): v is OutboxEntry {
  const e = v as OutboxEntry | undefined;
  return (
    typeof e === 'object' && e !== null && (e.kind === 'text' || e.kind === 'receipts') && isName(e.peer) && isKey(e.recipientKey) &&
    isTime(e.misses) && parseRequestBody('DELIVER', { envelope: e.envelope }) !== null
  );
}
