/**
 * Receiving: envelopes routed here by their sender (DELIVER), pushed by a holder or fetched
 * from the holders, each committed before it is answered. Held ones are answered with signed
 * tombstones, which delete them at the holders, and with receipts sealed in an envelope of their
 * own back to their sender, which travels through the outbox like any message: the sender may
 * be long gone by then. A text from a sender the user never started or accepted a conversation
 * with waits in message requests, capped, without a receipt until the user accepts it
 * (requests.ts; decided in `place`, once the message opened and verified).
 */
import type { ChatBook } from './chat-book.ts';
import type { ChatEvents, ChatMessage, OutboxEntry, Via } from './chat-model.ts';
import { TimerSet, type TimerHandle } from '../lib/clock.ts';
import type { Identity } from '../lib/crypto.ts';
import { fromBase64Url, toBase64Url } from '../lib/encoding.ts';
import { ErrorCode, PeerchatError } from '../lib/errors.ts';
import { compareDistance, idEquals, idFromHex, idToHex, type NodeId } from '../lib/id.ts';
import { inNearSubtree } from './holder-search.ts';
import { createEnvelope, envelopeHash, MAX_RECEIPTS_PER_ENVELOPE, openEnvelope, signFetch, signReceipt, signTombstone, type OpenedMessage } from './messages.ts';
import type { Handler, Peer, RouteOptions } from '../dht/context.ts';
import { verifiedIds } from '../dht/contacts.ts';
import type { Outbox } from './outbox.ts';
import { type RequestBodyOf, type ResponseBodyOf } from '../dht/protocol.ts';
import { MAX_TOMBSTONES_PER_ACK, type EnvelopeWire, type TombstoneWire } from './wire.ts';
import { MAILBOX_CLOSENESS_SLACK, MAX_BLOCKED_SENDERS } from './constants.ts';
import type { StoreOp } from '../lib/store.ts';
import { arrival } from './senders.ts';
import { destination, withMessage, type MessageRequest } from './requests.ts';
import { GroupChat } from './group-chat.ts';

/** Routed to this node's own id, never answered by itself: how a recipient reaches its holders. */
const TO_MY_HOLDERS: RouteOptions = { leave: true, avoidSelf: true };
/** Fetch rounds per mailbox check: each takes what one reply frame holds. */
const MAX_FETCH_ROUNDS = 16;
/** How soon a mailbox check that reached no holder is tried again. */
export const FETCH_RETRY_MS = 10_000;
/** Tombstones and receipts for messages handed over together go out together. */
const ANSWER_DELAY_MS = 200;

/** Receipts owed to one sender, for the held messages it sent. */
interface OwedReceipts {
  name: string;
  key: Uint8Array;
  agreementKey: Uint8Array;
  ids: string[];
}

/** Who wrote a verified message: the name it claims, and the keys its signature proves. */
interface Sender {
  name: string;
  nodeId: string;
  /** base64url */
  signingKey: string;
  agreementKey: string;
}

function senderOf(m: OpenedMessage): Sender {
  return { name: m.fromName, nodeId: m.from, signingKey: toBase64Url(m.fromKey), agreementKey: toBase64Url(m.fromAgreementKey) };
}

/**
 * What became of an envelope: shown in a conversation, seen before, not opened or verified, put
 * in (or already in) message requests, or dropped as requests.ts says.
 */
type Received = 'shown' | 'seen' | 'bad' | 'request' | 'dropped' | 'pending';

/** The answer a signed-out node gives: a stranger learns no more than that (requests.ts). */
function notServed(): PeerchatError {
  return new PeerchatError(ErrorCode.UnknownMethod, 'DELIVER is not served by this node');
}

/** An opened text whose signature verified. */
interface VerifiedText {
  id: string;
  sender: Sender;
  sentAt: number;
  text: string;
}

export class Inbox {
  /** Held messages to answer (by envelope hash): tombstones to the holders, receipts to each sender. */
  private pendingTombstones: string[] = [];
  private readonly pendingReceipts = new Map<string, OwedReceipts>();
  private answerTimer: TimerHandle | null = null;
  private readonly timers: TimerSet;
  private checking: Promise<void> | null = null;
  /** Groups (group-chat.ts): their changes and texts arrive here. */
  readonly groups: GroupChat;

  constructor(
    private readonly book: ChatBook,
    private readonly outbox: Outbox,
    private readonly identity: Identity,
    /** This user's name, which receipts sealed back to a sender carry. */
    private readonly name: string,
    private readonly events: ChatEvents,
  ) {
    this.timers = new TimerSet(book.node.ticker);
    this.groups = new GroupChat(book, outbox, identity, name, events, (sender, id) => {
      this.oweReceipts(sender, [id]);
      this.answerSoon();
    });
  }

  /** The DELIVER handler: an envelope routed here by its sender, or pushed by a holder. */
  async deliver(b: RequestBodyOf<'DELIVER'>, ctx: Parameters<Handler<'DELIVER'>>[1]): Promise<ResponseBodyOf<'DELIVER'>> {
    const { node } = this.book;
    const e = b.envelope;
    if (e.to !== node.hex) throw new PeerchatError(ErrorCode.NotFound, 'That user is not at this node');
    // Routed here by its sender, or pushed by a holder (which wants a tombstone).
    const held = !ctx.routed;
    const result = await this.receive(e, held ? 'push' : 'deliver');
    if (result === 'bad') throw new PeerchatError(ErrorCode.Rejected, 'The envelope did not open or verify');
    // A group text that waits for its group's change: not acknowledged, so its sender stores it
    // (or its holder keeps it) until this node can show it (group-chat.ts).
    if (result === 'pending') throw notServed();
    if (result === 'request' || result === 'dropped') {
      // No receipt for a stranger; a holder's copy is still tombstoned, so it is not pushed again.
      if (held) this.answerLater(envelopeHash(e));
      throw notServed();
    }
    const receipt = await signReceipt(this.identity, e.id, node.clock.now(), node.ops);
    if (!held) return { receipt };
    // The holder that pushed it gets the tombstone in reply; the other holders a routed ack.
    const h = envelopeHash(e);
    this.answerLater(h);
    const tombstone = await signTombstone(this.identity, h, node.clock.now(), node.ops);
    return { receipt, ack: { key: toBase64Url(this.identity.signingPublic), n: this.identity.idNonce, tombstones: [tombstone] } };
  }

  /** Asks this user's holders for held messages; a check already running is joined, not repeated. */
  checkMailbox(): Promise<void> {
    this.checking ??= this.fetchHeld().finally(() => (this.checking = null));
    return this.checking;
  }

  close(): void {
    this.timers.clear();
    if (this.answerTimer) this.book.node.ticker.clearTimeout(this.answerTimer);
    this.answerTimer = null;
  }

  /**
   * Opens, checks and commits one envelope addressed here. One shown in a conversation that a
   * holder handed over (pushed or fetched) gets a receipt sealed back to its sender. Returns
   * what became of it.
   */
  private async receive(e: EnvelopeWire, via: Via): Promise<Received> {
    const { book } = this;
    const { node } = book;
    if (this.alreadySeen(e.id, via)) return 'seen';
    if (book.requestIds.has(e.id)) {
      node.stats.count('chat-duplicate-request');
      return 'request';
    }
    const opened = await openEnvelope(this.identity, e, node.clock.now(), node.ops);
    if (!opened.ok) {
      node.stats.count(`chat-drop-${opened.reason}`);
      return 'bad';
    }
    // Another copy may have been committed while this one was opening.
    if (book.seen.has(e.id)) return 'seen';
    if (book.requestIds.has(e.id)) return 'request';
    const m = opened.message;
    const now = node.clock.now();
    if (m.content.kind === 'receipts') {
      // Receipts for nothing in the outbox (a stranger's, or late) are dropped: nothing stored.
      const ids = m.content.ids.filter((id) => {
        const entry = book.outbox.get(id);
        return (entry?.kind === 'text' || entry?.kind === 'group-change') && entry.envelope.to === m.from;
      });
      if (ids.length === 0) {
        node.stats.count('chat-drop-receipts-unexpected');
        return 'dropped';
      }
      book.seen.set(e.id, now);
      await node.store.put('seen', e.id, now);
      for (const id of ids) {
        node.stats.count('chat-delivered-by-receipt');
        await this.outbox.acknowledged(id);
      }
      return 'shown';
    }
    if (m.content.kind === 'group-change' || m.content.kind === 'group-text') {
      const h = envelopeHash(e);
      // One that waits (for its group, or the change that adds its writer) is taken later: a
      // held copy's tombstone goes out then.
      const placed = () => {
        if (via !== 'deliver') this.answerLater(h);
      };
      if (m.content.kind === 'group-change') return this.groups.receiveChange(e.id, senderOf(m), m.content.change, m.sentAt, now, placed);
      return this.groups.receiveText({ id: e.id, sender: senderOf(m), sentAt: m.sentAt, group: m.content.group, text: m.content.text }, via !== 'deliver', now, placed);
    }
    return this.place({ id: e.id, sender: senderOf(m), sentAt: m.sentAt, text: m.content.text }, via, now);
  }

  /**
   * A verified text, after opening: into its conversation, into message requests, or dropped
   * and counted with nothing stored (requests.ts decides).
   */
  private async place(t: VerifiedText, via: Via, now: number): Promise<Received> {
    const { book } = this;
    const key = t.sender.signingKey;
    const where = destination({ known: book.isKnown(t.sender.name), blocked: book.blocked.has(key), request: book.requests.get(key), requests: book.requests.size });
    if (where === 'conversation') return this.show(t, via, now);
    if (where === 'request') return this.toRequest(t, now);
    book.node.stats.count(`chat-request-${where}`);
    return 'dropped';
  }

  /** Commits a text to its conversation (message, seen id, contact, conversation) and shows it. */
  private async show(t: VerifiedText, via: Via, now: number): Promise<Received> {
    const held = via !== 'deliver';
    const { book } = this;
    const { node } = book;
    const ops: StoreOp[] = [{ type: 'put', table: 'seen', key: t.id, value: now }];
    const keyMismatch = this.pinSender(t.sender, now, ops);
    const message: ChatMessage = { id: t.id, peer: t.sender.name, out: false, text: t.text, sentAt: t.sentAt, receivedAt: now, fromKey: t.sender.signingKey };
    if (keyMismatch) message.keyMismatch = true;
    ops.push({ type: 'put', table: 'messages', key: t.id, value: message }, ...book.touchConversation(t.sender.name, t.sentAt, 1));
    book.seen.set(t.id, now);
    await node.store.batch(ops);
    book.messages.set(t.id, message);
    node.stats.count(held ? 'chat-received-held' : 'chat-received-direct');
    this.events.shown?.({ ...message });
    if (held) this.oweReceipts(t.sender, [t.id]);
    book.changed();
    return 'shown';
  }

  /** Adds a text to its sender's request (made here for a first one), within the caps. */
  private async toRequest(t: VerifiedText, now: number): Promise<Received> {
    const { book } = this;
    const s = t.sender;
    const had = book.requests.get(s.signingKey);
    // The key is who the request is from: later messages keep the name it claimed first.
    const message: ChatMessage = { id: t.id, peer: had?.name ?? s.name, out: false, text: t.text, sentAt: t.sentAt, receivedAt: now, fromKey: s.signingKey };
    const r: MessageRequest = had
      ? withMessage(had, message)
      : { key: s.signingKey, name: s.name, nodeId: s.nodeId, agreementKey: s.agreementKey, firstAt: now, messages: [message] };
    // In memory first: a copy arriving while this commits finds it, and the caps count it.
    book.addRequest(r);
    await book.node.store.put('requests', r.key, r);
    book.node.stats.count('chat-request-stored');
    this.events.request?.(structuredClone(r));
    book.changed();
    return 'request';
  }

  /**
   * The user accepts a request: its messages move into the claimed name's conversation, the
   * sender's key pinned by senders.ts's rules (an unverified contact when the name is new, a
   * flagged one when a lookup pinned another key), and their receipts go out. Returns the
   * conversation's name, null when there is no such request.
   */
  async accept(key: string): Promise<string | null> {
    const { book } = this;
    const { node } = book;
    const r = book.requests.get(key);
    if (!r) return null;
    const now = node.clock.now();
    const sender: Sender = { name: r.name, nodeId: r.nodeId, signingKey: r.key, agreementKey: r.agreementKey };
    const ops: StoreOp[] = [{ type: 'delete', table: 'requests', key }];
    const keyMismatch = this.pinSender(sender, now, ops);
    const messages = r.messages.map((m) => (keyMismatch ? { ...m, keyMismatch } : m));
    for (const m of messages) ops.push({ type: 'put', table: 'messages', key: m.id, value: m }, { type: 'put', table: 'seen', key: m.id, value: now });
    ops.push(...book.touchConversation(r.name, Math.max(...messages.map((m) => m.sentAt)), messages.length));
    // In memory before the commit, so a message arriving meanwhile finds the conversation.
    book.removeRequest(key);
    for (const m of messages) {
      book.messages.set(m.id, m);
      book.seen.set(m.id, now);
    }
    await node.store.batch(ops);
    node.stats.count('chat-request-accepted');
    for (const m of messages) this.events.shown?.({ ...m });
    this.oweReceipts(sender, messages.map((m) => m.id));
    this.answerSoon();
    book.changed();
    return r.name;
  }

  /**
   * The user blocks a request's key: the request goes, and the key is remembered (the oldest of
   * MAX_BLOCKED_SENDERS forgotten) so its later messages are dropped before anything is stored.
   */
  async block(key: string): Promise<void> {
    const { book } = this;
    const now = book.node.clock.now();
    const ops: StoreOp[] = [{ type: 'delete', table: 'requests', key }, { type: 'put', table: 'blocked', key, value: now }];
    book.removeRequest(key);
    book.blocked.delete(key);
    book.blocked.set(key, now);
    for (const old of book.blocked.keys()) {
      if (book.blocked.size <= MAX_BLOCKED_SENDERS) break;
      book.blocked.delete(old);
      ops.push({ type: 'delete', table: 'blocked', key: old });
    }
    await book.node.store.batch(ops);
    book.node.stats.count('chat-request-blocked');
    book.changed();
  }

  /** True (counted and reported) when the message was shown here already. */
  private alreadySeen(id: string, via: Via): boolean {
    if (!this.book.seen.has(id)) return false;
    this.book.node.stats.count('chat-duplicate');
    this.events.duplicate?.(id, via);
    return true;
  }

  /**
   * The sender's contact, made or flagged here (and its put added to `ops`); senders.ts decides.
   * Returns whether the message is signed by a key other than the one a lookup pinned for its
   * name. Nothing is resolved here: the name is checked when the user looks it up.
   */
  private pinSender(s: Sender, now: number, ops: StoreOp[]): boolean {
    const { signingKey } = s;
    let contact = this.book.contacts.get(s.name);
    const what = arrival(contact, signingKey);
    if (what === 'first-contact') {
      // The name is the sender's word, its key is proven by the signature: unverified.
      contact = { name: s.name, nodeId: s.nodeId, signingKey, agreementKey: s.agreementKey, addedAt: now, trust: 'unverified' };
    } else if (what === 'key-change') {
      contact = { ...contact!, warning: `A message signed with a different key than the one you pinned says it is from “${s.name}”.` };
    } else if (what === 'pinned-key' && contact!.nodeId !== s.nodeId) {
      // The pinned key from another id (which key and id nonce make): its owner moved to an id
      // that costs work (lib/id.ts). Replies go there.
      contact = { ...contact!, nodeId: s.nodeId };
    } else {
      return false;
    }
    ops.push({ type: 'put', table: 'contacts', key: contact.name, value: contact });
    this.book.contacts.set(contact.name, contact);
    return what === 'key-change';
  }

  /** Queues receipts to a sender, sent with the next answer. */
  private oweReceipts(s: Sender, ids: string[]): void {
    const r = this.pendingReceipts.get(s.nodeId) ?? { name: s.name, key: fromBase64Url(s.signingKey)!, agreementKey: fromBase64Url(s.agreementKey)!, ids: [] };
    r.ids.push(...ids);
    this.pendingReceipts.set(s.nodeId, r);
  }

  /**
   * Fetches everything held for this user, round after round, and answers what it got. Each
   * holder gets a fetch signed for it alone: a captured one is no use at another holder, nor
   * twice at the same one.
   */
  private async fetchHeld(): Promise<void> {
    const { node } = this.book;
    let holders = await this.holders();
    // No channel yet (a tab back whose first dial failed, say): its holders push on connect,
    // and this asks again soon instead of at the next periodic check.
    if (holders.length === 0) return this.retrySoon('chat-fetch-no-holders');
    for (let round = 0; round < MAX_FETCH_ROUNDS && !this.book.closed && holders.length > 0; round++) {
      const replies = await Promise.all(holders.map((h) => this.fetchFrom(h)));
      const answered = replies.filter((r) => r !== null);
      if (answered.length === 0) return this.retrySoon('chat-fetch-unanswered');
      // Copies that differ are different entries (a corrupted one and the real one): each is
      // opened, the first that verifies is shown, and all are answered. In the holders' order
      // (when each was sent is inside the seal; the conversation sorts by it).
      const entries = new Map<string, EnvelopeWire>();
      for (const r of answered) for (const e of r.entries) entries.set(envelopeHash(e), e);
      // Whatever was handed over is answered with a tombstone, junk included: it goes away.
      for (const [h, e] of entries) {
        if (e.to !== node.hex) continue;
        node.stats.count('chat-fetched');
        // One that waits for its group's change is tombstoned once it is shown, not before.
        if ((await this.receive(e, 'fetch')) !== 'pending') this.pendingTombstones.push(h);
      }
      // The holders asked get the tombstones too, whether or not this node has a channel to them.
      await this.answerHeld(holders);
      holders = holders.filter((_, i) => replies[i]?.more);
    }
  }

  /** A fetch that reached no holder is counted (`reason`) and tried again in FETCH_RETRY_MS. */
  private retrySoon(reason: string): void {
    this.book.node.stats.count(reason);
    // A chat closed while this fetch was out (its node too, often) retries nothing.
    if (!this.book.closed) this.timers.set(() => void this.checkMailbox(), FETCH_RETRY_MS);
  }

  /**
   * This user's holders: the r + slack nodes closest to its id among its own channels, and as
   * many more from a lookup of its id that are nearer than the farthest of those (which a node
   * with few near channels yet needs). The two are not merged into one closest list: a liar on
   * the lookup's path names made-up ids closer than any real node, and those crowded every
   * real holder out of the list (at N = 1,000 with one node in ten lying, returning users
   * fetched from 8 made-up ids and 2 liars while 10 honest nodes held their mail).
   *
   * Its own channels count only inside its near subtree (holder-search.ts inNearSubtree) once it
   * has one: a node with few channels keeps some far away (upkeep's far buckets, first peers),
   * and those are old holders at best, whose copies were answered elsewhere (60 nodes, half gone
   * at once: a check 10 minutes after a return fetched 3 shown messages from such a channel).
   */
  private async holders(): Promise<NodeId[]> {
    const { node } = this.book;
    const n = node.replication + MAILBOX_CLOSENESS_SLACK;
    const inSubtree = inNearSubtree(node.id, node.neighbours(), node.replication);
    const own = node.closestTo(node.id, n + 1).filter((p) => p.hex !== node.hex && inSubtree(p.id)).slice(0, n);
    const found = new Set([node.hex, ...own.map((p) => p.hex)]);
    const learned: NodeId[] = [];
    const answers = await node.routeFromHere('FIND_NODE', { target: node.hex }, node.id, 2, TO_MY_HOLDERS).catch(() => []);
    for (const a of answers) {
      for (const hex of verifiedIds(a.nodes, node.stats).ids) {
        if (found.has(hex)) continue;
        found.add(hex);
        learned.push(idFromHex(hex)!);
      }
    }
    // Only those nearer than its own n-th nearest channel: a node with its neighbourhood's
    // channels has its holders among them, and farther ones a lookup names are old holders
    // whose copies its first fetch already answered elsewhere (in a 60-node sim, a later check
    // fetched 3 shown messages from nodes ranked 17, 36 and past 40 from the recipient).
    const bound = own.length >= n ? own[n - 1]!.id : null;
    const near = bound === null ? learned : learned.filter((id) => compareDistance(node.id, id, bound) < 0);
    near.sort((a, b) => compareDistance(node.id, a, b));
    return [...own.map((p) => p.id), ...near.slice(0, n)];
  }

  /** One holder's entries, with a fetch signed for it alone. */
  private async fetchFrom(holder: NodeId): Promise<ResponseBodyOf<'MAILBOX_FETCH'> | null> {
    const { node } = this.book;
    const fetch = await signFetch(this.identity, idToHex(holder), node.clock.now(), node.random, node.ops);
    return this.toHolder(holder, 'MAILBOX_FETCH', fetch);
  }

  /** A request to one holder: directly over a channel, else routed to its id (where it answers). */
  private async toHolder<M extends 'MAILBOX_FETCH' | 'MAILBOX_ACK'>(holder: NodeId, method: M, body: RequestBodyOf<M>): Promise<ResponseBodyOf<M> | null> {
    const { node } = this.book;
    const peer = node.peer(idToHex(holder));
    if (peer) return node.direct(peer, method, body).catch(() => null);
    const [reply] = await node.routeFromHere(method, body, holder, 1, TO_MY_HOLDERS).catch(() => []);
    return reply ?? null;
  }

  /** Answers held messages after a short pause that gathers the ones handed over together. */
  private answerLater(h: string): void {
    this.pendingTombstones.push(h);
    this.answerSoon();
  }

  private answerSoon(): void {
    this.answerTimer ??= this.book.node.ticker.setTimeout(() => {
      this.answerTimer = null;
      void this.answerHeld();
    }, ANSWER_DELAY_MS);
  }

  /** Tombstones to the holders (and to `asked`); receipts, sealed, to each sender through the outbox. */
  private async answerHeld(asked: NodeId[] = []): Promise<void> {
    const { node } = this.book;
    const hashes = [...new Set(this.pendingTombstones)];
    this.pendingTombstones = [];
    const key = toBase64Url(this.identity.signingPublic);
    for (let i = 0; i < hashes.length; i += MAX_TOMBSTONES_PER_ACK) {
      const tombstones: TombstoneWire[] = [];
      for (const h of hashes.slice(i, i + MAX_TOMBSTONES_PER_ACK)) tombstones.push(await signTombstone(this.identity, h, node.clock.now(), node.ops));
      const body = { key, n: this.identity.idNonce, tombstones };
      // The holders are the nodes closest to this one: its nearest neighbours get the tombstones
      // straight away, and a routed ack reaches the closest nodes it has no channel to.
      const near = node.closestTo(node.id, node.replication + 1).filter((n) => n.hex !== node.hex) as Peer[];
      const far = asked.filter((id) => !near.some((p) => idEquals(p.id, id)));
      const [acks] = await Promise.all([
        node.routeFromHere('MAILBOX_ACK', body, node.id, 2, TO_MY_HOLDERS).catch(() => []),
        Promise.allSettled(near.map((p) => node.direct(p, 'MAILBOX_ACK', body))),
        Promise.allSettled(far.map((id) => this.toHolder(id, 'MAILBOX_ACK', body))),
      ]);
      if (acks.length === 0) node.stats.count('chat-ack-unanswered');
    }
    const receipts = [...this.pendingReceipts.entries()];
    this.pendingReceipts.clear();
    for (const [from, r] of receipts) {
      for (let i = 0; i < r.ids.length; i += MAX_RECEIPTS_PER_ENVELOPE) {
        const envelope = await createEnvelope(this.identity, this.name, { nodeId: idFromHex(from)!, agreementKey: r.agreementKey }, { kind: 'receipts', ids: r.ids.slice(i, i + MAX_RECEIPTS_PER_ENVELOPE) }, node.clock.now(), node.random, node.ops);
        const entry: OutboxEntry = { envelope, kind: 'receipts', peer: r.name, recipientKey: toBase64Url(r.key), misses: 0 };
        await node.store.put('outbox', envelope.id, entry);
        this.book.outbox.set(envelope.id, entry);
        void this.outbox.attempt(envelope.id);
      }
    }
  }
}
