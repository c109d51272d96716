/**
 * The holder's side of offline delivery (ARCHITECTURE.md, "A message's path"). A MAILBOX_STORE routed to a
 * recipient's id arrives at the node closest to it; that node commits the envelope, copies it
 * to its nearest neighbours to the recipient, and answers with its own signed ack and those of
 * the copies. The returning recipient proves to each holder that it owns the mailbox
 * (MAILBOX_FETCH, bound to that holder and used once) and is handed its entries, then signs
 * tombstones (MAILBOX_ACK) that delete them. Everything is committed to the store before the
 * answer that depends on it is sent.
 *
 * What a holder takes (the rules in ARCHITECTURE.md): entries only for recipients it is among
 * the r + MAILBOX_CLOSENESS_SLACK closest to by its own table; keyed by envelope hash, so copies
 * that differ are different entries; within quotas per recipient and per neighbour, evicting
 * the largest holder's oldest rather than refusing (mailbox-quotas.ts). Tombstones only for an
 * entry it holds (or held) for the recipient whose key signed them, or handed on by a fellow
 * holder, checked cheaply before any signature; capped.
 *
 * Holders copy entries and tombstones to every node that becomes one of the r closest to the
 * recipient (when it appears as a neighbour, and on the periodic recheck), so they outlive the
 * holders that leave. A holder with a channel to the recipient hands it its entries at once
 * (DELIVER, direct): the recipient answers them with tombstones, as it does a fetch.
 */
import {
  MAILBOX_CLOSENESS_SLACK, MAILBOX_HOLDER_BYTES, MAILBOX_MAX_TOMBSTONES, MAILBOX_PER_NEIGHBOUR_BYTES, MAILBOX_PER_RECIPIENT_BYTES,
  MAILBOX_RETENTION_MS, MAILBOX_TOMBSTONES_PER_RECIPIENT,
} from './constants.ts';
import { fromBase64Url } from '../lib/encoding.ts';
import { ErrorCode, isPeerchatError, quietError, type PeerchatError } from '../lib/errors.ts';
import { idFromHex, idToHex, nodeIdFromSigningKey } from '../lib/id.ts';
import { inNearSubtree } from './holder-search.ts';
import { inClosestSet } from '../dht/router.ts';
import { LazyMap } from '../lib/lazy-map.ts';
import { envelopeHash, envelopeHeaderOk, FETCH_FRESH_MS, fetchIsFresh, verifyFetch, verifyTombstone } from './messages.ts';
import type { NodeContext, NodeService, Peer } from '../dht/context.ts';
import { TimerSet } from '../lib/clock.ts';
import type { RequestBodyOf, ResponseBodyOf } from '../dht/protocol.ts';
import type { EnvelopeWire, HolderAckWire, TombstoneWire } from './wire.ts';
import { fetchReply, ServedFetches } from './mailbox-fetch.ts';
import type { StoreOp } from '../lib/store.ts';
import { signHolderAck } from './holder-acks.ts';
import { QuotaLedger } from './mailbox-quotas.ts';
import { loadHeld, SELF, type HeldEntry, type HeldTombstone } from './mailbox-disk.ts';
import { PushQueue } from './push-queue.ts';
import { MAX_TOMBSTONES_PER_ACK } from './wire.ts';

export type { HeldEntry } from './mailbox-disk.ts';

/** How long a node that (re)started waits before it pushes held entries to a recipient. */
const JOIN_SETTLE_MS = 2 * 60_000;

/** Bytes an entry counts against the holder's quotas: its JSON size (ASCII: one byte a char). */
function entryBytes(e: EnvelopeWire): number {
  return JSON.stringify(e).length;
}

/** Tombstones signed by one recipient, on their way to one neighbour in one MAILBOX_ACK. */
interface TombstoneBatch {
  key: string;
  n: number;
  items: TombstoneWire[];
}

export class MailboxService implements NodeService {
  /** By envelope hash. */
  private readonly entries = new LazyMap<string, HeldEntry>();
  private readonly tombstones = new LazyMap<string, HeldTombstone>();
  /**
   * Tombstones an ack in progress accepted and is writing, by envelope hash, to its recipient:
   * fellow holders hand the same ones on at once, and each must not be taken twice.
   */
  private readonly committing = new Map<string, string>();
  /** Made on first use: most nodes of a large simulation never hold anything. */
  private entryQuota: QuotaLedger | null = null;
  private tombstoneQuota: QuotaLedger | null = null;
  /** Fetches served, until they go stale: a repeat is refused. */
  private readonly served = new ServedFetches();
  /** Until then (JOIN_SETTLE_MS after start) nothing is pushed to a recipient: see onNeighbour. */
  private settledAt = 0;
  /** Neighbours known to have an entry or its tombstone (by envelope hash), so copies are not repeated. */
  private readonly pushedTo = new LazyMap<string, Set<string>>();
  /**
   * Neighbours that refused a copy (by envelope hash): not close by their own table, they would
   * refuse it again, so they are not asked again. Kept apart from pushedTo, which hand-off reads
   * as "has a copy".
   */
  private readonly refusedBy = new LazyMap<string, Set<string>>();
  private readonly timers: TimerSet;
  /** Copies on their way to neighbours, paced below what each admits (push-queue.ts). */
  private readonly pushes: PushQueue;
  /** Tombstones waiting for `flushTombstones`, by neighbour, then by the recipient that signed them. */
  private readonly tombstoneBatches = new Map<string, Map<string, TombstoneBatch>>();

  constructor(private readonly node: NodeContext) {
    this.timers = new TimerSet(node.ticker);
    this.pushes = new PushQueue(node);
    node.handle('MAILBOX_STORE', (b, ctx) => this.onStore(b, ctx));
    node.handle('MAILBOX_FETCH', (b) => this.onFetch(b));
    node.handle('MAILBOX_ACK', (b, ctx) => {
      node.stats.count('mailbox-ack-requests');
      return this.onAck(b, ctx.from);
    });
  }

  get size(): number {
    return this.entries.size;
  }

  /** Restores what this node held before; what does not fit is dropped and counted (mailbox-disk.ts). */
  async load(): Promise<void> {
    const now = this.node.clock.now();
    this.settledAt = now + JOIN_SETTLE_MS;
    const loaded = await loadHeld(this.node.store, now, this.node.stats);
    // Whatever no longer fits the quotas goes too, oldest first, as when it arrived.
    for (const [h, held] of loaded.entries) {
      for (const k of this.entryLedger().plan(held.envelope.to, held.from, entryBytes(held.envelope)) ?? []) {
        loaded.ops.push({ type: 'delete', table: 'mailbox', key: k });
        this.forget(k);
      }
      this.remember(h, held);
    }
    for (const [, held] of loaded.tombstones) {
      for (const k of this.tombstoneLedger().plan(held.tombstone.to, held.tombstone.to, 1) ?? []) {
        loaded.ops.push({ type: 'delete', table: 'tombstones', key: k });
        this.dropTombstone(k);
      }
      this.keepTombstone(held);
    }
    if (loaded.ops.length > 0) await this.node.store.batch(loaded.ops);
  }

  /** Whether this holder has an entry with message id `id` (tests and debugging; a scan). */
  holds(id: string): boolean {
    for (const h of this.entries.values()) if (h.envelope.id === id) return true;
    return false;
  }

  /** Whether this holder has the entry with envelope hash `h`. */
  holdsHash(h: string): boolean {
    return this.entries.has(h);
  }

  /** Bytes of entries held, in all or handed over by one neighbour (tests, the quotas' effect). */
  heldBytes(from?: string): number {
    if (!this.entryQuota) return 0;
    return from === undefined ? this.entryQuota.total : this.entryQuota.neighbourSize(from);
  }

  get tombstoneCount(): number {
    return this.tombstones.size;
  }

  /** Whether this holder keeps the tombstone for envelope hash `h`. */
  hasTombstone(h: string): boolean {
    return this.tombstones.has(h);
  }

  private async onStore(b: RequestBodyOf<'MAILBOX_STORE'>, ctx: { routed: boolean; from: Peer | null }): Promise<ResponseBodyOf<'MAILBOX_STORE'>> {
    const { node } = this;
    const e = b.envelope;
    const now = node.clock.now();
    if (!envelopeHeaderOk(e)) throw this.refuse('bad-header', ErrorCode.BadRequest, 'Envelope header is malformed');
    // The cheap check first: junk for ids far from here costs a table lookup, nothing more.
    if (!this.amNear(e.to)) throw this.refuse('not-close', ErrorCode.Rejected, 'This node is not among the closest to that recipient');
    const h = envelopeHash(e);
    // Fetched already (a tombstone): storing again changes nothing, and the copier learns so.
    // A tombstone naming another recipient than the envelope with its hash is a forgery's.
    const tombstone = this.tombstones.get(h);
    if (tombstone && tombstone.tombstone.to !== e.to) await this.dropForeignTombstone(h);
    else if (tombstone) return { stored: true, acks: [await this.ack(h, e.to)], ack: { key: tombstone.key, n: tombstone.n, tombstones: [tombstone.tombstone] } };
    const fresh = !this.entries.has(h);
    if (fresh) await this.admit(h, { envelope: e, receivedAt: now, from: ctx.from?.hex ?? SELF });
    const acks = [await this.ack(h, e.to)];
    // The first holder (where the routed store arrived) copies to its nearest to the recipient.
    if (ctx.routed && b.copies > 0) acks.push(...(await this.copy(e, h, b.copies)));
    const recipient = node.peer(e.to);
    if (ctx.routed && fresh && recipient) this.pushToRecipient(recipient, [e]);
    return { stored: true, acks };
  }

  /** Commits an entry, and the evictions that make room for it, in one batch. */
  private async admit(h: string, held: HeldEntry): Promise<void> {
    const e = held.envelope;
    const evict = this.entryLedger().plan(e.to, held.from, entryBytes(e));
    if (evict === null) throw this.refuse('too-large', ErrorCode.BadRequest, 'That envelope is larger than a holder keeps');
    const ops: StoreOp[] = [{ type: 'put', table: 'mailbox', key: h, value: held }];
    for (const k of evict) ops.push({ type: 'delete', table: 'mailbox', key: k });
    await this.node.store.batch(ops);
    for (const k of evict) this.forget(k);
    if (evict.length > 0) this.node.stats.count('mailbox-evicted', evict.length);
    this.remember(h, held);
    this.node.stats.count('mailbox-stored');
  }

  private ack(h: string, to: string): Promise<HolderAckWire> {
    return signHolderAck(this.node, h, to);
  }

  /** Copies to the `n` neighbours closest to the recipient; the acks of those that committed it. */
  private async copy(e: EnvelopeWire, h: string, n: number): Promise<HolderAckWire[]> {
    const { node } = this;
    const key = idFromHex(e.to)!;
    const targets = node.closestTo(key, n + 2).filter((x) => x.hex !== node.hex && x.hex !== e.to).slice(0, n) as Peer[];
    const sent = this.pushedTo.get(h) ?? new Set<string>();
    this.pushedTo.set(h, sent);
    for (const p of targets) sent.add(p.hex);
    const replies = await Promise.allSettled(targets.map((p) => node.direct(p, 'MAILBOX_STORE', { envelope: e, copies: 0 })));
    const acks: HolderAckWire[] = [];
    const known: Promise<unknown>[] = [];
    replies.forEach((r, i) => {
      const p = targets[i]!;
      if (r.status === 'fulfilled' && r.value.stored) {
        // Each copy speaks for itself only; the sender checks the signature.
        const own = r.value.acks.find((a) => a.holder === p.hex);
        if (own) acks.push(own);
        // A neighbour holds its tombstone: the recipient has it already, so no copy here either.
        if (r.value.ack) known.push(this.onAck(r.value.ack, p));
        return;
      }
      node.stats.count('mailbox-copy-failed');
      sent.delete(p.hex);
    });
    await Promise.allSettled(known);
    return acks;
  }

  private async onFetch(b: RequestBodyOf<'MAILBOX_FETCH'>): Promise<ResponseBodyOf<'MAILBOX_FETCH'>> {
    const { node } = this;
    const now = node.clock.now();
    // Bound to one holder, fresh, used once: checked before the signature, which costs.
    if (b.holder !== node.hex) throw this.refuse('fetch-other-holder', ErrorCode.Rejected, 'This fetch was signed for another holder');
    if (!fetchIsFresh(b, now)) throw this.refuse('fetch-stale', ErrorCode.Rejected, 'This fetch is stale; sign a new one');
    if (this.served.has(b.owner, b.nonce)) throw this.refuse('fetch-replayed', ErrorCode.Rejected, 'This fetch was used already');
    if (!(await verifyFetch(b, now, node.ops))) throw this.refuse('bad-fetch', ErrorCode.Rejected, 'Fetch not signed by the mailbox owner, or stale');
    if (this.served.has(b.owner, b.nonce)) throw this.refuse('fetch-replayed', ErrorCode.Rejected, 'This fetch was used already');
    this.served.remember(b.owner, b.nonce, b.at + FETCH_FRESH_MS, now);
    // Oldest received first: a holder knows nothing of when they were sent.
    const held = [...(this.entryQuota?.forRecipient(b.owner) ?? [])].map((h) => this.entries.get(h)!);
    const mine = held.sort((x, y) => x.receivedAt - y.receivedAt).map((x) => x.envelope);
    const reply = fetchReply(mine, entryBytes);
    node.stats.count('mailbox-fetched', reply.entries.length);
    return reply;
  }

  /**
   * Tombstones from the recipient, or handed on by a fellow holder (`from`). The cheap checks
   * come first (signed by the key of the recipient they name, held here, or from a fellow
   * holder); a signature is checked only for a tombstone this holder will keep, and the first
   * that fails ends the ack: an honest recipient signs every one.
   */
  private async onAck(b: RequestBodyOf<'MAILBOX_ACK'>, from: Peer | null): Promise<ResponseBodyOf<'MAILBOX_ACK'>> {
    const { node } = this;
    const key = fromBase64Url(b.key)!; // the schema admitted exactly 32 bytes
    const signerId = nodeIdFromSigningKey(key, b.n);
    if (!signerId) {
      node.stats.count('mailbox-drop-ack-bad-work');
      return { accepted: 0 };
    }
    const signer = idToHex(signerId);
    const now = node.clock.now();
    const fellow = from !== null && this.isFellowHolder(signer, from.hex);
    const accepted: TombstoneWire[] = [];
    let known = 0;
    for (const t of b.tombstones) {
      const held = this.entries.get(t.h);
      // A tombstone only speaks for the mailbox of the key that signed it.
      if (t.to !== signer || (held && held.envelope.to !== t.to)) {
        node.stats.count('mailbox-drop-foreign-tombstone');
        continue;
      }
      // Known already, or being written by another ack: acknowledged, and not spread again
      // (that would echo between holders).
      if (this.tombstones.get(t.h)?.tombstone.to === t.to || this.committing.get(t.h) === t.to) {
        known++;
        continue;
      }
      if (!held && !fellow) {
        node.stats.count('mailbox-drop-tombstone-not-held');
        continue;
      }
      if (this.committing.has(t.h)) {
        // Another recipient's tombstone for the same id is being written: one of them lies.
        node.stats.count('mailbox-drop-tombstone-contested');
        continue;
      }
      this.committing.set(t.h, t.to);
      if (!(await verifyTombstone(t, key, b.n, node.ops))) {
        this.committing.delete(t.h);
        node.stats.count('mailbox-drop-bad-tombstone');
        break;
      }
      accepted.push(t);
    }
    try {
      await this.commitTombstones(accepted, b.key, b.n, now);
    } finally {
      for (const t of accepted) this.committing.delete(t.h);
    }
    node.stats.count('mailbox-tombstones-accepted', accepted.length);
    return { accepted: known + accepted.length };
  }

  private async commitTombstones(accepted: TombstoneWire[], key: string, n: number, now: number): Promise<void> {
    const { node } = this;
    const ledger = this.tombstoneLedger();
    const ops: StoreOp[] = [];
    const evicted: string[] = [];
    for (const t of accepted) {
      ops.push({ type: 'put', table: 'tombstones', key: t.h, value: { tombstone: t, key, n, receivedAt: now } satisfies HeldTombstone });
      if (this.entries.has(t.h)) ops.push({ type: 'delete', table: 'mailbox', key: t.h });
      for (const k of ledger.plan(t.to, t.to, 1) ?? []) {
        ops.push({ type: 'delete', table: 'tombstones', key: k });
        evicted.push(k);
      }
    }
    if (ops.length === 0) return;
    await node.store.batch(ops);
    for (const k of evicted) this.dropTombstone(k);
    if (evicted.length > 0) node.stats.count('mailbox-tombstone-evicted', evicted.length);
    for (const t of accepted) {
      // Committed by a concurrent ack too: that one spreads it.
      if (this.tombstones.get(t.h)?.tombstone.to === t.to) continue;
      this.dropTombstone(t.h);
      const held: HeldTombstone = { tombstone: t, key, n, receivedAt: now };
      this.forget(t.h);
      this.keepTombstone(held);
      // The other holders learn of it the way they learn of entries: from whoever has it.
      this.pushToClose(t.h, held, node.neighbours());
    }
    this.flushTombstones();
  }

  /**
   * A new neighbour among the r closest to a recipient gets what is held for that recipient; a
   * recipient gets what is held for it.
   */
  onNeighbour(peer: Peer): void {
    const forPeer: [string, EnvelopeWire][] = [];
    for (const [h, held] of this.entries) {
      if (held.envelope.to !== peer.hex) this.pushToClose(h, held, [peer]);
      else forPeer.push([h, held.envelope]);
    }
    for (const [h, t] of this.tombstones) this.pushToClose(h, t, [peer]);
    this.flushTombstones();
    if (forPeer.length === 0 || !this.amClosest(peer.hex)) return;
    // A copy may be stale: fetched while this node was away (restored from disk), or handed on
    // by a holder the tombstone never reached. So the closest holders are asked first, and
    // their replies carry any tombstone; what is still held then goes to the recipient.
    const go = (): void =>
      void this.confirmWithClosest(forPeer.map(([, e]) => e)).then(() => {
        const still = this.node.peer(peer.hex);
        if (still) this.pushToRecipient(still, forPeer.filter(([h]) => this.entries.has(h)).map(([, e]) => e));
      });
    // A node that just (re)joined waits until its channels are back, so there is someone to ask,
    // and asks again then whether it is among the closest: just back, it knew too few to tell.
    const wait = this.settledAt - this.node.clock.now();
    if (wait <= 0) return go();
    this.timers.set(() => {
      if (this.amClosest(peer.hex)) go();
    }, wait);
  }

  /** Cancels the pushes waiting for the node to settle. */
  close(): void {
    this.timers.clear();
    this.pushes.close();
  }

  /** Offers entries to the current closest holders; their replies carry any tombstone. */
  private async confirmWithClosest(envelopes: EnvelopeWire[]): Promise<void> {
    const { node } = this;
    const asks: Promise<unknown>[] = [];
    for (const e of envelopes) {
      for (const n of node.closestTo(idFromHex(e.to)!)) {
        const p = node.peer(n.hex);
        if (!p || n.hex === e.to) continue;
        // Paced with the other copies to that neighbour: a returning recipient's holders may
        // confirm hundreds of entries at once.
        const ask = async (peer: Peer) => {
          const res = await node.direct(peer, 'MAILBOX_STORE', { envelope: e, copies: 0 });
          if (res.ack) await this.onAck(res.ack, peer);
        };
        asks.push(this.pushes.push(n.hex, ask, () => {}));
      }
    }
    await Promise.allSettled(asks);
  }

  /** The r + slack nodes closest to a recipient by this node's table, the recipient aside. */
  private nearSet(toHex: string, r: number): string[] {
    // One more than r: the recipient itself may be among them.
    return this.node.closestTo(idFromHex(toHex)!, r + 1).filter((n) => n.hex !== toHex).slice(0, r).map((n) => n.hex);
  }

  /** Whether this node may hold for a recipient: among the r + slack closest to it, by its own table. */
  private amNear(toHex: string): boolean {
    return this.nearSet(toHex, this.node.replication + MAILBOX_CLOSENESS_SLACK).includes(this.node.hex);
  }

  /** Whether `peerHex` and this node are both among the r + slack closest to a recipient. */
  private isFellowHolder(toHex: string, peerHex: string): boolean {
    const near = this.nearSet(toHex, this.node.replication + MAILBOX_CLOSENESS_SLACK);
    return near.includes(this.node.hex) && near.includes(peerHex);
  }

  /**
   * Whether this node is among the r closest to a recipient (the recipient itself aside). Only
   * those push to it: the recipient's tombstones spread among them, while a farther holder that
   * never heard of one would hand over a message already shown.
   *
   * By its own table, and only for a recipient inside its near subtree (holder-search.ts
   * inNearSubtree), where that table is complete. Outside it the table holds one channel per
   * bucket, so it puts this node among the r closest to anyone there. Such a node, holding a
   * copy from when it was near, pushed it to the recipient 37 minutes after it was shown, when
   * a channel opened between them (60 nodes, half of them gone at once, in a build where nodes
   * short of channels dialed random peers from the bootstrap service; README "Adversaries").
   */
  private amClosest(toHex: string): boolean {
    const { node } = this;
    if (!this.nearSet(toHex, node.replication).includes(node.hex)) return false;
    return inNearSubtree(node.id, node.neighbours(), node.replication)(idFromHex(toHex)!);
  }

  /**
   * Hands entries to their online recipient in the order given (callers pass them oldest
   * received first); it answers each with a tombstone.
   */
  private pushToRecipient(peer: Peer, envelopes: EnvelopeWire[]): void {
    const { node } = this;
    for (const envelope of envelopes) {
      node
        .direct(peer, 'DELIVER', { envelope })
        .then((res) => {
          node.stats.count('mailbox-pushed');
          return res.ack && this.onAck(res.ack, peer);
        })
        .catch(() => node.stats.count('mailbox-push-failed'));
    }
  }

  /** Periodic: drop what has expired, copy the rest to the current r closest that lack it. */
  async recheck(): Promise<void> {
    const { node } = this;
    const now = node.clock.now();
    const ops: StoreOp[] = [];
    for (const [h, e] of this.entries) {
      if (e.receivedAt + MAILBOX_RETENTION_MS > now) continue;
      ops.push({ type: 'delete', table: 'mailbox', key: h });
      this.forget(h);
    }
    for (const [h, t] of this.tombstones) {
      if (t.receivedAt + MAILBOX_RETENTION_MS > now) continue;
      ops.push({ type: 'delete', table: 'tombstones', key: h });
      this.dropTombstone(h);
    }
    await node.store.batch(this.handOff(ops));
    const neighbours = node.neighbours();
    for (const [h, held] of [...this.entries, ...this.tombstones]) this.pushToClose(h, held, neighbours);
    this.flushTombstones();
  }

  /**
   * Entries this node no longer needs to hold: r neighbours are closer to the recipient, and
   * each of them took a copy from here. Dropping them keeps holders to the closest nodes, which
   * are the ones the recipient's tombstones reach; a far copy would be handed over again.
   */
  private handOff(ops: StoreOp[]): StoreOp[] {
    const { node } = this;
    for (const [h, e] of this.entries) {
      const closest = node.closestTo(idFromHex(e.envelope.to)!).filter((n) => n.hex !== e.envelope.to);
      const sent = this.pushedTo.get(h);
      if (!sent || closest.some((n) => n.hex === node.hex || !sent.has(n.hex))) continue;
      ops.push({ type: 'delete', table: 'mailbox', key: h });
      this.forget(h);
      node.stats.count('mailbox-handed-off');
    }
    return ops;
  }

  /**
   * Copies an entry (MAILBOX_STORE) to those of `peers` among the r closest to its recipient,
   * or a tombstone (MAILBOX_ACK) to those among the r + slack closest (as far as a holder may
   * be), and not known to have it. Never to the recipient itself: it is handed its messages
   * when it fetches, not made their holder. Entries go through the paced queue one by one;
   * tombstones wait in a batch per neighbour and recipient until `flushTombstones`. The closest
   * set is worked out once per item, and only when several neighbours lack it; a new channel
   * alone (onNeighbour, once per item held) is ranked without building it.
   */
  private pushToClose(h: string, held: HeldEntry | HeldTombstone, peers: readonly Peer[]): void {
    const { node } = this;
    const to = 'envelope' in held ? held.envelope.to : held.tombstone.to;
    const sent = this.pushedTo.get(h);
    const refused = this.refusedBy.get(h);
    const lacking = peers.filter((p) => p.hex !== to && !sent?.has(p.hex) && !refused?.has(p.hex));
    if (lacking.length === 0) return;
    const reach = node.replication + ('envelope' in held ? 0 : MAILBOX_CLOSENESS_SLACK);
    const key = idFromHex(to)!;
    const close = lacking.length > 1 ? new Set(node.closestTo(key, reach).map((n) => n.hex)) : null;
    for (const peer of lacking) {
      if (!(close ? close.has(peer.hex) : inClosestSet(key, node, node.neighbours(), peer, reach))) continue;
      this.markPushed(h, peer.hex);
      if ('envelope' in held) void this.pushes.push(peer.hex, (p) => this.sendEntry(p, h, held.envelope), () => this.unmarkPushed(h, peer.hex));
      else this.batchTombstone(peer.hex, h, held);
    }
  }

  private async sendEntry(peer: Peer, h: string, envelope: EnvelopeWire): Promise<void> {
    const { node } = this;
    let res: ResponseBodyOf<'MAILBOX_STORE'>;
    try {
      res = await node.direct(peer, 'MAILBOX_STORE', { envelope, copies: 0 });
    } catch (err) {
      node.stats.count('mailbox-copy-failed');
      if (isPeerchatError(err, ErrorCode.Rejected)) this.noteRefused(h, peer.hex);
      return this.unmarkPushed(h, peer.hex);
    }
    node.stats.count('mailbox-copied');
    // The neighbour knew it was fetched: this copy is stale too.
    if (res.ack) await this.onAck(res.ack, peer).catch(() => node.stats.count('mailbox-ack-failed'));
  }

  private batchTombstone(peerHex: string, h: string, held: HeldTombstone): void {
    const byKey = this.tombstoneBatches.get(peerHex) ?? new Map<string, TombstoneBatch>();
    this.tombstoneBatches.set(peerHex, byKey);
    const signer = `${held.key}.${held.n}`;
    const batch = byKey.get(signer) ?? { key: held.key, n: held.n, items: [] };
    byKey.set(signer, batch);
    batch.items.push(held.tombstone);
  }

  /** Sends the tombstones batched since the last flush: up to MAX_TOMBSTONES_PER_ACK a request. */
  private flushTombstones(): void {
    for (const [peerHex, byKey] of this.tombstoneBatches) {
      for (const { key, n, items } of byKey.values()) {
        for (let i = 0; i < items.length; i += MAX_TOMBSTONES_PER_ACK) {
          const tombstones = items.slice(i, i + MAX_TOMBSTONES_PER_ACK);
          const unmark = () => tombstones.forEach((t) => this.unmarkPushed(t.h, peerHex));
          void this.pushes.push(peerHex, (p) => this.sendTombstones(p, { key, n, tombstones }, unmark), unmark);
        }
      }
    }
    this.tombstoneBatches.clear();
  }

  private async sendTombstones(peer: Peer, body: RequestBodyOf<'MAILBOX_ACK'>, unmark: () => void): Promise<void> {
    const { node } = this;
    try {
      await node.direct(peer, 'MAILBOX_ACK', body);
      node.stats.count('mailbox-copied', body.tombstones.length);
    } catch {
      node.stats.count('mailbox-copy-failed');
      unmark();
    }
  }

  private markPushed(h: string, peerHex: string): void {
    const sent = this.pushedTo.get(h);
    if (sent) sent.add(peerHex);
    else this.pushedTo.set(h, new Set([peerHex]));
  }

  private unmarkPushed(h: string, peerHex: string): void {
    this.pushedTo.get(h)?.delete(peerHex);
  }

  private noteRefused(h: string, peerHex: string): void {
    const refused = this.refusedBy.get(h);
    if (refused) refused.add(peerHex);
    else this.refusedBy.set(h, new Set([peerHex]));
  }

  private entryLedger(): QuotaLedger {
    return (this.entryQuota ??= new QuotaLedger({ perNeighbour: MAILBOX_PER_NEIGHBOUR_BYTES, perRecipient: MAILBOX_PER_RECIPIENT_BYTES, total: MAILBOX_HOLDER_BYTES }));
  }

  /** Tombstones are counted per recipient (the "neighbour" of their ledger is the recipient too). */
  private tombstoneLedger(): QuotaLedger {
    return (this.tombstoneQuota ??= new QuotaLedger({ perNeighbour: MAILBOX_TOMBSTONES_PER_RECIPIENT, perRecipient: MAILBOX_TOMBSTONES_PER_RECIPIENT, total: MAILBOX_MAX_TOMBSTONES }));
  }

  private remember(h: string, held: HeldEntry): void {
    if (this.entries.has(h)) return;
    this.entries.set(h, held);
    this.entryLedger().add(h, held.envelope.to, held.from, entryBytes(held.envelope));
  }

  private forget(h: string): void {
    if (!this.entries.delete(h)) return;
    // What was known to have the entry says nothing about its tombstone.
    this.pushedTo.delete(h);
    this.refusedBy.delete(h);
    this.entryQuota?.remove(h);
  }

  private keepTombstone(held: HeldTombstone): void {
    const t = held.tombstone;
    this.tombstones.set(t.h, held);
    this.tombstoneLedger().add(t.h, t.to, t.to, 1);
  }

  private dropTombstone(h: string): void {
    if (!this.tombstones.delete(h)) return;
    this.pushedTo.delete(h);
    this.refusedBy.delete(h);
    this.tombstoneQuota?.remove(h);
  }

  private async dropForeignTombstone(h: string): Promise<void> {
    this.node.stats.count('mailbox-drop-foreign-tombstone');
    await this.node.store.delete('tombstones', h);
    this.dropTombstone(h);
  }

  private refuse(reason: string, code: ErrorCode, message: string): PeerchatError {
    this.node.stats.count(`mailbox-refused-${reason}`);
    return quietError(code, message);
  }
}
