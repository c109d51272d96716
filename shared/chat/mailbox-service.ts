/**
 * The holder's side of offline delivery (ARCHITECTURE.md, "A message's path"). A MAILBOX_STORE routed to a
 * recipient's id arrives at the node closest to it; that node commits the envelope, copies it
 * to its nearest neighbours to the recipient, and answers how many holders committed it. The
 * returning recipient proves it owns the mailbox (MAILBOX_FETCH) and is handed its entries, then
 * signs tombstones (MAILBOX_ACK) that delete them. Everything is committed to the store before
 * the answer that depends on it is sent.
 *
 * Holders copy entries and tombstones to every node that becomes one of the r closest to the
 * recipient (when it appears as a neighbour, and on the periodic recheck), so they outlive the
 * holders that leave. A holder with a channel to the recipient hands it its entries at once
 * (DELIVER, direct): the recipient answers them with tombstones, as it does a fetch.
 */
import { MAILBOX_HOLDER_BYTES, MAILBOX_PER_SENDER, MAILBOX_RETENTION_MS } from './constants.ts';
import { MAX_FRAME_BYTES } from '../dht/constants.ts';
import { fromBase64Url } from '../lib/encoding.ts';
import { ErrorCode, PeerchatError } from '../lib/errors.ts';
import { idFromHex } from '../lib/id.ts';
import { LazyMap } from '../lib/lazy-map.ts';
import { envelopeHeaderOk, verifyFetch, verifyStatement } from './messages.ts';
import type { NodeContext, NodeService, Peer } from '../dht/context.ts';
import { TimerSet } from '../lib/clock.ts';
import { parseRequestBody, type RequestBodyOf, type ResponseBodyOf } from '../dht/protocol.ts';
import { MAX_FETCH_ENTRIES, type EnvelopeWire, type TombstoneWire } from './wire.ts';
import type { StoreOp } from '../lib/store.ts';

/** What a holder persists per entry: the envelope and when this holder got it. */
export interface HeldEntry {
  envelope: EnvelopeWire;
  receivedAt: number;
}

interface HeldTombstone {
  tombstone: TombstoneWire;
  /** The recipient's signing key (base64url), which the next holder checks it against. */
  key: string;
  receivedAt: number;
}

/** How long a node that (re)started waits before it pushes held entries to a recipient. */
const JOIN_SETTLE_MS = 2 * 60_000;

/** Room left in a fetch reply for the frame's own fields around the entries. */
const FETCH_FRAME_OVERHEAD = 512;

/** Bytes an entry counts against the holder's quota: its JSON size (ASCII: one byte a char). */
function entryBytes(e: EnvelopeWire): number {
  return JSON.stringify(e).length;
}

export class MailboxService implements NodeService {
  private readonly entries = new LazyMap<string, HeldEntry>();
  private readonly tombstones = new LazyMap<string, HeldTombstone>();
  /** Entries held per "from>to" pair, for the per-sender cap. */
  private readonly perPair = new LazyMap<string, number>();
  private bytes = 0;
  /** Until then (JOIN_SETTLE_MS after start) nothing is pushed to a recipient: see onNeighbour. */
  private settledAt = 0;
  /** Neighbours known to have an entry or tombstone (by message id), so copies are not repeated. */
  private readonly pushedTo = new LazyMap<string, Set<string>>();
  private readonly timers: TimerSet;

  constructor(private readonly node: NodeContext) {
    this.timers = new TimerSet(node.ticker);
    node.handle('MAILBOX_STORE', (b, ctx) => this.onStore(b, ctx));
    node.handle('MAILBOX_FETCH', (b) => this.onFetch(b));
    node.handle('MAILBOX_ACK', (b) => this.onAck(b));
  }

  get size(): number {
    return this.entries.size;
  }

  /** Restores what this node held before; what does not parse is dropped and counted. */
  async load(): Promise<void> {
    const now = this.node.clock.now();
    this.settledAt = now + JOIN_SETTLE_MS;
    for (const [id, held] of await this.node.store.entries<HeldEntry>('mailbox')) {
      if (!isHeldEntry(held) || held.envelope.id !== id || held.receivedAt + MAILBOX_RETENTION_MS <= now) {
        this.node.stats.count('mailbox-dropped-from-disk');
        continue;
      }
      this.remember(held);
    }
    for (const [id, held] of await this.node.store.entries<HeldTombstone>('tombstones')) {
      if (held?.tombstone?.id === id && typeof held.key === 'string' && held.receivedAt + MAILBOX_RETENTION_MS > now) this.tombstones.set(id, held);
    }
  }

  /** Whether this holder has the entry (tests and the UI's debugging view). */
  holds(id: string): boolean {
    return this.entries.has(id);
  }

  private async onStore(b: RequestBodyOf<'MAILBOX_STORE'>, ctx: { routed: boolean; from: Peer | null }): Promise<ResponseBodyOf<'MAILBOX_STORE'>> {
    const { node } = this;
    const e = b.envelope;
    const now = node.clock.now();
    if (!envelopeHeaderOk(e, now)) throw this.refuse('bad-header', ErrorCode.BadRequest, 'Envelope header is malformed or dated in the future');
    // Fetched already (a tombstone) or held already: storing again changes nothing.
    const tombstone = this.tombstones.get(e.id);
    if (tombstone) return { stored: true, holders: 1, ack: { key: tombstone.key, tombstones: [tombstone.tombstone] } };
    const existing = this.entries.get(e.id);
    if (existing && JSON.stringify(existing.envelope) !== JSON.stringify(e)) {
      throw this.refuse('id-clash', ErrorCode.Rejected, 'Another envelope holds that id');
    }
    if (!existing) {
      if ((this.perPair.get(pairKey(e)) ?? 0) >= MAILBOX_PER_SENDER) {
        throw this.refuse('sender-quota', ErrorCode.Busy, `This holder keeps at most ${MAILBOX_PER_SENDER} entries per sender per recipient`);
      }
      if (this.bytes + entryBytes(e) > MAILBOX_HOLDER_BYTES) throw this.refuse('holder-full', ErrorCode.Busy, 'This holder is full');
      const held: HeldEntry = { envelope: e, receivedAt: now };
      await node.store.put('mailbox', e.id, held);
      this.remember(held);
      node.stats.count('mailbox-stored');
    }
    // The first holder (where the routed store arrived) copies to its nearest to the recipient.
    let holders = 1;
    if (ctx.routed && b.copies > 0) holders += await this.copy(e, b.copies);
    const recipient = node.peer(e.to);
    if (ctx.routed && !existing && recipient) this.pushToRecipient(recipient, [e]);
    return { stored: true, holders };
  }

  /** Copies to the `n` neighbours closest to the recipient; how many committed it. */
  private async copy(e: EnvelopeWire, n: number): Promise<number> {
    const { node } = this;
    const key = idFromHex(e.to)!;
    const targets = node.closestTo(key, n + 1).filter((x) => x.hex !== node.hex).slice(0, n) as Peer[];
    const sent = this.pushedTo.get(e.id) ?? new Set<string>();
    this.pushedTo.set(e.id, sent);
    for (const p of targets) sent.add(p.hex);
    const replies = await Promise.allSettled(targets.map((p) => node.direct(p, 'MAILBOX_STORE', { envelope: e, copies: 0 })));
    let stored = 0;
    let ack: RequestBodyOf<'MAILBOX_ACK'> | undefined;
    replies.forEach((r, i) => {
      if (r.status === 'fulfilled' && r.value.stored) {
        ack ??= r.value.ack;
        return void stored++;
      }
      node.stats.count('mailbox-copy-failed');
      sent.delete(targets[i]!.hex);
    });
    // A neighbour holds its tombstone: the recipient has it already, so no copy here either.
    if (ack) await this.onAck(ack);
    return stored;
  }

  private async onFetch(b: RequestBodyOf<'MAILBOX_FETCH'>): Promise<ResponseBodyOf<'MAILBOX_FETCH'>> {
    const { node } = this;
    if (!(await verifyFetch(b, node.clock.now(), node.ops))) throw this.refuse('bad-fetch', ErrorCode.Rejected, 'Fetch not signed by the mailbox owner, or stale');
    const out: EnvelopeWire[] = [];
    let budget = MAX_FRAME_BYTES - FETCH_FRAME_OVERHEAD;
    let more = false;
    // Oldest first: the recipient shows messages in the order they were sent.
    const mine = [...this.entries.values()].filter((h) => h.envelope.to === b.owner).sort((x, y) => x.envelope.sentAt - y.envelope.sentAt);
    for (const held of mine) {
      const size = entryBytes(held.envelope) + 1;
      if (out.length >= MAX_FETCH_ENTRIES || size > budget) {
        more = true;
        break;
      }
      out.push(held.envelope);
      budget -= size;
    }
    node.stats.count('mailbox-fetched', out.length);
    return { entries: out, more };
  }

  private async onAck(b: RequestBodyOf<'MAILBOX_ACK'>): Promise<ResponseBodyOf<'MAILBOX_ACK'>> {
    const { node } = this;
    const key = fromBase64Url(b.key)!; // the schema admitted exactly 32 bytes
    const now = node.clock.now();
    const ops: StoreOp[] = [];
    const accepted: TombstoneWire[] = [];
    let known = 0;
    for (const t of b.tombstones) {
      // Known already: acknowledged, and not spread again (that would echo between holders).
      if (this.tombstones.has(t.id)) {
        known++;
        continue;
      }
      if (!(await verifyStatement('tombstone', t, key, node.ops))) {
        node.stats.count('mailbox-drop-bad-tombstone');
        continue;
      }
      const held = this.entries.get(t.id);
      // A tombstone only deletes what was addressed to its signer.
      if (held && held.envelope.to !== t.to) {
        node.stats.count('mailbox-drop-foreign-tombstone');
        continue;
      }
      ops.push({ type: 'put', table: 'tombstones', key: t.id, value: { tombstone: t, key: b.key, receivedAt: now } satisfies HeldTombstone });
      if (held) ops.push({ type: 'delete', table: 'mailbox', key: t.id });
      accepted.push(t);
    }
    await node.store.batch(ops);
    for (const t of accepted) {
      // Committed by a concurrent ack too: that one spreads it.
      if (this.tombstones.has(t.id)) continue;
      const held: HeldTombstone = { tombstone: t, key: b.key, receivedAt: now };
      this.tombstones.set(t.id, held);
      this.forget(t.id);
      // The other holders learn of it the way they learn of entries: from whoever has it.
      for (const p of node.neighbours()) this.pushIfClose(held, p);
    }
    return { accepted: known + accepted.length };
  }

  /**
   * A new neighbour among the r closest to a recipient gets what is held for that recipient; a
   * recipient gets what is held for it.
   */
  onNeighbour(peer: Peer): void {
    const forPeer: EnvelopeWire[] = [];
    for (const h of this.entries.values()) {
      if (h.envelope.to !== peer.hex) this.pushIfClose(h, peer);
      else if (this.amClosest(h.envelope.to)) forPeer.push(h.envelope);
    }
    for (const t of this.tombstones.values()) this.pushIfClose(t, peer);
    if (forPeer.length === 0) return;
    // A copy may be stale: fetched while this node was away (restored from disk), or handed on
    // by a holder the tombstone never reached. So the closest holders are asked first, and
    // their replies carry any tombstone; what is still held then goes to the recipient.
    const go = () =>
      void this.confirmWithClosest(forPeer).then(() => {
        const still = this.node.peer(peer.hex);
        if (still) this.pushToRecipient(still, forPeer.filter((e) => this.entries.has(e.id)));
      });
    // A node that just (re)joined waits until its channels are back, so there is someone to ask.
    const wait = this.settledAt - this.node.clock.now();
    if (wait <= 0) return go();
    this.timers.set(go, wait);
  }

  /** Cancels the pushes waiting for the node to settle. */
  close(): void {
    this.timers.clear();
  }

  /** Offers entries to the current closest holders; their replies carry any tombstone. */
  private async confirmWithClosest(envelopes: EnvelopeWire[]): Promise<void> {
    const { node } = this;
    const asks: Promise<unknown>[] = [];
    for (const e of envelopes) {
      for (const n of node.closestTo(idFromHex(e.to)!)) {
        const p = node.peer(n.hex);
        if (!p || n.hex === e.to) continue;
        asks.push(node.direct(p, 'MAILBOX_STORE', { envelope: e, copies: 0 }).then((res) => res.ack && this.onAck(res.ack)));
      }
    }
    await Promise.allSettled(asks);
  }

  /**
   * Whether this node is among the r closest to a recipient (the recipient itself aside). Only
   * those push to it: the recipient's tombstones spread among them, while a farther holder that
   * never heard of one would hand over a message already shown.
   */
  private amClosest(toHex: string): boolean {
    const closest = this.node.closestTo(idFromHex(toHex)!, this.node.replication + 1);
    return closest.filter((n) => n.hex !== toHex).slice(0, this.node.replication).some((n) => n.hex === this.node.hex);
  }

  /** Hands entries to their online recipient, oldest first; it answers each with a tombstone. */
  private pushToRecipient(peer: Peer, envelopes: EnvelopeWire[]): void {
    const { node } = this;
    for (const envelope of [...envelopes].sort((a, b) => a.sentAt - b.sentAt)) {
      node
        .direct(peer, 'DELIVER', { envelope })
        .then((res) => {
          node.stats.count('mailbox-pushed');
          return res.ack && this.onAck(res.ack);
        })
        .catch(() => node.stats.count('mailbox-push-failed'));
    }
  }

  /** Periodic: drop what has expired, copy the rest to the current r closest that lack it. */
  async recheck(): Promise<void> {
    const { node } = this;
    const now = node.clock.now();
    const ops: StoreOp[] = [];
    for (const [id, h] of this.entries) {
      if (h.receivedAt + MAILBOX_RETENTION_MS > now) continue;
      ops.push({ type: 'delete', table: 'mailbox', key: id });
      this.forget(id);
    }
    for (const [id, t] of this.tombstones) {
      if (t.receivedAt + MAILBOX_RETENTION_MS > now) continue;
      ops.push({ type: 'delete', table: 'tombstones', key: id });
      this.tombstones.delete(id);
      this.pushedTo.delete(id);
    }
    await node.store.batch(this.handOff(ops));
    const neighbours = node.neighbours();
    for (const h of [...this.entries.values(), ...this.tombstones.values()]) for (const p of neighbours) this.pushIfClose(h, p);
  }

  /**
   * Entries this node no longer needs to hold: r neighbours are closer to the recipient, and
   * each of them took a copy from here. Dropping them keeps holders to the closest nodes, which
   * are the ones the recipient's tombstones reach; a far copy would be handed over again.
   */
  private handOff(ops: StoreOp[]): StoreOp[] {
    const { node } = this;
    for (const [id, h] of this.entries) {
      const closest = node.closestTo(idFromHex(h.envelope.to)!).filter((n) => n.hex !== h.envelope.to);
      const sent = this.pushedTo.get(id);
      if (!sent || closest.some((n) => n.hex === node.hex || !sent.has(n.hex))) continue;
      ops.push({ type: 'delete', table: 'mailbox', key: id });
      this.forget(id);
      node.stats.count('mailbox-handed-off');
    }
    return ops;
  }

  /**
   * Copies an entry (MAILBOX_STORE) or a tombstone (MAILBOX_ACK) to a neighbour that is among
   * the r closest to its recipient and not known to have it. Never to the recipient itself: it
   * is handed its messages when it fetches, not made their holder.
   */
  private pushIfClose(h: HeldEntry | HeldTombstone, peer: Peer): void {
    const { node } = this;
    const id = 'envelope' in h ? h.envelope.id : h.tombstone.id;
    const to = 'envelope' in h ? h.envelope.to : h.tombstone.to;
    if (peer.hex === to) return;
    const sent = this.pushedTo.get(id);
    if (sent?.has(peer.hex)) return;
    if (!node.closestTo(idFromHex(to)!).some((n) => n.hex === peer.hex)) return;
    if (sent) sent.add(peer.hex);
    else this.pushedTo.set(id, new Set([peer.hex]));
    const done = 'envelope' in h
      ? node.direct(peer, 'MAILBOX_STORE', { envelope: h.envelope, copies: 0 })
      : node.direct(peer, 'MAILBOX_ACK', { key: h.key, tombstones: [h.tombstone] });
    done.then(
      (res) => {
        node.stats.count('mailbox-copied');
        // The neighbour knew it was fetched: this copy is stale too.
        if ('ack' in res && res.ack) return this.onAck(res.ack);
      },
      () => this.pushedTo.get(id)?.delete(peer.hex),
    ).catch(() => node.stats.count('mailbox-ack-failed'));
  }

  private remember(held: HeldEntry): void {
    const e = held.envelope;
    if (this.entries.has(e.id)) return;
    this.entries.set(e.id, held);
    this.perPair.set(pairKey(e), (this.perPair.get(pairKey(e)) ?? 0) + 1);
    this.bytes += entryBytes(e);
  }

  private forget(id: string): void {
    const held = this.entries.get(id);
    if (!held) return;
    this.entries.delete(id);
    // What was known to have the entry says nothing about its tombstone.
    this.pushedTo.delete(id);
    const k = pairKey(held.envelope);
    const left = (this.perPair.get(k) ?? 1) - 1;
    if (left > 0) this.perPair.set(k, left);
    else this.perPair.delete(k);
    this.bytes -= entryBytes(held.envelope);
  }

  private refuse(reason: string, code: ErrorCode, message: string): PeerchatError {
    this.node.stats.count(`mailbox-refused-${reason}`);
    return new PeerchatError(code, message);
  }
}

function pairKey(e: EnvelopeWire): string {
  return `${e.from}>${e.to}`;
}

/** Disk is untrusted too: a held entry must have the shape this code wrote, checked by the wire schema. */
function isHeldEntry(v: unknown): v is HeldEntry {
  const h = v as HeldEntry | null;
  return typeof h === 'object' && h !== null && Number.isSafeInteger(h.receivedAt) && parseRequestBody('DELIVER', { envelope: h.envelope }) !== null;
}
