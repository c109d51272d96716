/**
 * Sending: attempts for what sits in the outbox (texts and receipt batches), what each outcome
 * does to the message's status, and the retry timers. An attempt routes DELIVER to the
 * recipient's id; without a valid receipt it routes MAILBOX_STORE to the nodes closest to it,
 * and counts the distinct holders whose signed acks verify (holder-acks.ts). When the node
 * closest to the recipient brings too few (it lied, or is failing), stores routed to ids near
 * the recipient reach other holders in the same attempt.
 */
import type { ChatBook } from './chat-book.ts';
import { recipientOf, withoutUndefined, type OldOutboxEntry, type OutboxEntry } from './chat-model.ts';
import type { TimerHandle } from '../lib/clock.ts';
import { OUTBOX_FAIL_AFTER, OUTBOX_RETRY_MS, STORED_QUORUM } from './constants.ts';
import { MAX_ROUTE_AVOIDS } from '../dht/constants.ts';
import type { Identity } from '../lib/crypto.ts';
import { fromBase64Url } from '../lib/encoding.ts';
import { errorCode } from '../lib/errors.ts';
import { idFromHex } from '../lib/id.ts';
import { createEnvelope, envelopeHash, verifyReceipt } from './messages.ts';
import type { StoreOp } from '../lib/store.ts';
import { closeRadiusBits, keysNear, tallyAcks, type AckTally } from './holder-acks.ts';
import type { EnvelopeWire, HolderAckWire } from './wire.ts';

export class Outbox {
  private readonly inFlight = new Set<string>();
  private readonly retryTimers = new Map<string, TimerHandle>();

  constructor(private readonly book: ChatBook) {}

  /**
   * Texts not yet acknowledged by their recipient: a group text once, however many members'
   * copies wait (receipt batches and group changes are not counted).
   */
  get size(): number {
    let n = 0;
    const groupTexts = new Set<string>();
    for (const e of this.book.outbox.values()) {
      if (e.kind !== 'text') continue;
      if (e.of === undefined) n++;
      else groupTexts.add(e.of);
    }
    return n + groupTexts.size;
  }

  /** Attempts every entry, without waiting for any. */
  attemptAll(): void {
    for (const id of this.book.outbox.keys()) void this.attempt(id);
  }

  /** The user's retry of a failed message: attempts it now, with its miss count reset. */
  async retry(id: string): Promise<void> {
    // A group message: each member's copy still in the outbox.
    const copies = [...this.book.outbox].filter(([, e]) => e.of === id);
    for (const [copyId, copy] of copies) {
      copy.misses = 0;
      await this.book.setCopyStatus(id, copy.peer, 'queued');
      void this.attempt(copyId);
    }
    if (copies.length > 0) return;
    const entry = this.book.outbox.get(id);
    if (!entry) return;
    entry.misses = 0;
    await this.book.setStatus(id, 'queued');
    await this.attempt(id);
  }

  /** One attempt for one outbox entry: DELIVER, else MAILBOX_STORE; then what the outcome says. */
  async attempt(id: string): Promise<void> {
    const { book } = this;
    const entry = book.outbox.get(id);
    if (!entry || book.closed || book.node.isClosed || this.inFlight.has(id)) return;
    this.inFlight.add(id);
    const timer = this.retryTimers.get(id);
    if (timer) book.node.ticker.clearTimeout(timer);
    this.retryTimers.delete(id);
    try {
      const outcome = await this.tryToSend(id, entry);
      if (outcome === 'delivered') return await this.acknowledged(id);
      if (outcome === 'stored') return await this.stored(id);
      await this.missed(id, entry, outcome === 'nobody');
    } catch (err) {
      book.node.stats.count(`chat-attempt-crashed-${errorCode(err)}`);
      await this.missed(id, entry, true).catch(() => {});
    } finally {
      this.inFlight.delete(id);
    }
  }

  /** A valid receipt: the message is delivered and leaves the outbox, in one commit. */
  async acknowledged(id: string): Promise<void> {
    const { book } = this;
    const entry = book.outbox.get(id);
    if (!entry) return;
    const ops: StoreOp[] = [{ type: 'delete', table: 'outbox', key: id }];
    const message = book.messages.get(id);
    const updated = message && { ...message, status: 'delivered' as const, error: undefined };
    if (updated) ops.push({ type: 'put', table: 'messages', key: id, value: withoutUndefined(updated) });
    // A member's copy of a group text: that member's status in the message.
    if (entry.of !== undefined) ops.push(...book.copyUpdate(entry.of, entry.peer, 'delivered'));
    await book.node.store.batch(ops);
    book.outbox.delete(id);
    if (updated) book.messages.set(id, withoutUndefined(updated));
    book.changed();
  }

  close(): void {
    for (const t of this.retryTimers.values()) this.book.node.ticker.clearTimeout(t);
    this.retryTimers.clear();
  }

  private async tryToSend(id: string, entry: OutboxEntry): Promise<'delivered' | 'stored' | 'partly' | 'nobody'> {
    const { node } = this.book;
    if (node.neighbours().length === 0) return 'nobody';
    const message = this.book.messages.get(id);
    if (message && (message.status === 'queued' || message.status === 'failed')) await this.book.setStatus(id, 'sent');
    if (entry.of !== undefined) await this.book.setCopyStatus(entry.of, entry.peer, 'sent');
    const to = idFromHex(entry.envelope.to)!;
    const [delivered] = await node.routeFromHere('DELIVER', { envelope: entry.envelope }, to, 1, { leave: true }).catch(() => []);
    const key = fromBase64Url(entry.recipientKey);
    if (delivered && key && delivered.receipt.id === id && (await verifyReceipt(delivered.receipt, entry.envelope.to, key, node.ops))) {
      node.stats.count('chat-delivered-direct');
      return 'delivered';
    }
    const holders = await this.store(entry.envelope, entry.misses > 0 ? 2 : 1);
    node.stats.sample('chat-store-holders', holders);
    if (holders >= STORED_QUORUM) return 'stored';
    return holders > 0 ? 'partly' : 'nobody';
  }

  /**
   * Stores an envelope with the nodes closest to its recipient; returns how many distinct
   * holders signed for it. `paths` disjoint first hops (two after a miss, in case the first
   * hop's side of the network is the broken one).
   */
  private async store(envelope: EnvelopeWire, paths: number): Promise<number> {
    const { node } = this.book;
    const to = idFromHex(envelope.to)!;
    const h = envelopeHash(envelope);
    const radius = closeRadiusBits(node.id, node.closestTo(node.id, node.replication + 1), node.replication);
    const avoid = { leave: true, avoid: envelope.to };
    const replies = await node.routeFromHere('MAILBOX_STORE', { envelope, copies: node.replication - 1 }, to, paths, avoid);
    const tally = await this.tally(replies, h, envelope.to, radius);
    if (tally.holders.size >= STORED_QUORUM || radius === null) return tally.holders.size;
    // Too few: each store routed to an id near the recipient arrives at another node near it.
    // Every hop goes around the holders that signed already (Route.v): they have it, and one
    // that lied (acked and dropped, copying to no one) may be the nearest node to each of
    // those ids too, or this node's first hop toward all of them, and it would end every path.
    node.stats.count('chat-store-spread');
    const keys = keysNear(to, radius, node.replication, node.random);
    const around = { ...avoid, avoidAll: new Set([...tally.holders].slice(0, MAX_ROUTE_AVOIDS)) };
    const more = await Promise.all(keys.map((k) => node.routeFromHere('MAILBOX_STORE', { envelope, copies: 0 }, k, 1, around).catch(() => [])));
    const extra = await this.tally(more.flat(), h, envelope.to, radius);
    for (const holder of extra.holders) tally.holders.add(holder);
    return tally.holders.size;
  }

  /** The holders whose acks verify, counting those that do not. */
  private async tally(replies: { stored: boolean; acks: HolderAckWire[] }[], h: string, to: string, radius: number | null): Promise<AckTally> {
    const { node } = this.book;
    const tally = await tallyAcks(replies.filter((r) => r.stored).flatMap((r) => r.acks), h, to, radius, node.ops);
    if (tally.bad > 0) node.stats.count('chat-holder-ack-bad', tally.bad);
    if (tally.far > 0) node.stats.count('chat-holder-ack-far', tally.far);
    return tally;
  }

  /** Held by a quorum: "stored" for a text; a receipt batch needs nothing more from us. */
  private async stored(id: string): Promise<void> {
    const entry = this.book.outbox.get(id);
    if (!entry) return;
    if (entry.kind === 'receipts') {
      await this.book.node.store.delete('outbox', id);
      this.book.outbox.delete(id);
      return;
    }
    entry.misses = 0;
    await this.book.setStatus(id, 'stored');
    if (entry.of !== undefined) await this.book.setCopyStatus(entry.of, entry.peer, 'stored');
  }

  /** Nobody (or too few) took it: retry later; after OUTBOX_FAIL_AFTER misses, show "failed". */
  private async missed(id: string, entry: OutboxEntry, nobody: boolean): Promise<void> {
    if (!this.book.outbox.has(id) || this.book.closed) return;
    if (nobody) entry.misses++;
    if (entry.misses >= OUTBOX_FAIL_AFTER) {
      const why = 'Neither the recipient nor any node that could hold the message was reachable. It keeps retrying; retry now once you have peers.';
      await this.book.setStatus(id, 'failed', why);
      if (entry.of !== undefined) await this.book.setCopyStatus(entry.of, entry.peer, 'failed', why);
      if (this.book.closed) return;
    }
    const wait = OUTBOX_RETRY_MS[Math.min(entry.misses, OUTBOX_RETRY_MS.length - 1)]!;
    this.retryTimers.set(id, this.book.node.ticker.setTimeout(() => void this.attempt(id), wait));
  }
}

/**
 * Outbox entries written in the first envelope format (the sender's id, clock and signature in
 * the clear), which holders and recipients no longer take. A text is sealed again in the
 * current format from the message the user wrote, with the same id (its receipts name it) and
 * sentAt, for the same contact key; it keeps its place and status. What cannot be sealed again
 * is deleted and counted, never thrown: receipt batches (their ids are sealed for someone else;
 * their sender is told again when it stores its message anew) and texts whose message or
 * contact is gone or re-pinned to another key.
 */
export async function resealOldEntries(book: ChatBook, sender: Identity, senderName: string): Promise<void> {
  const { node } = book;
  const ops: StoreOp[] = [];
  const resealed: [string, OutboxEntry][] = [];
  for (const [id, old] of book.oldOutbox) {
    const envelope = await reseal(book, old, sender, senderName);
    if (envelope) {
      const entry: OutboxEntry = { ...old, envelope };
      ops.push({ type: 'put', table: 'outbox', key: id, value: entry });
      resealed.push([id, entry]);
      node.stats.count('chat-outbox-resealed');
    } else {
      ops.push({ type: 'delete', table: 'outbox', key: id });
      node.stats.count(old.kind === 'receipts' ? 'chat-outbox-old-receipts-dropped' : 'chat-outbox-old-dropped');
    }
  }
  book.oldOutbox.clear();
  if (ops.length === 0) return;
  await node.store.batch(ops);
  for (const [id, entry] of resealed) book.outbox.set(id, entry);
}

async function reseal(book: ChatBook, old: OldOutboxEntry, sender: Identity, senderName: string): Promise<EnvelopeWire | null> {
  if (old.kind !== 'text') return null;
  const message = book.messages.get(old.envelope.id);
  const contact = book.contacts.get(old.peer);
  if (!message?.out || message.peer !== old.peer || !contact || contact.nodeId !== old.envelope.to || contact.signingKey !== old.recipientKey) return null;
  const { node } = book;
  return createEnvelope(sender, senderName, recipientOf(contact), message.text, message.sentAt, node.random, node.ops, old.envelope.id).catch(() => null);
}
