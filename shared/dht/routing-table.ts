/**
 * Kademlia k-buckets as a pure data structure. It decides nothing that needs I/O: when a bucket
 * is full it says which contact is the oldest, and the owner pings it and reports back
 * (Holepunch's kademlia-routing-table does the same). It also answers the overlay's one
 * structural question: which contacts deserve an open channel.
 */
import { ID_BITS } from '../lib/id.ts';
import { K_BUCKET_SIZE } from './constants.ts';
import { bucketIndex, compareDistance, idToHex, type NodeId } from '../lib/id.ts';
import { internHex } from './id-intern.ts';

export interface Contact {
  readonly id: NodeId;
  readonly hex: string;
  /** When this contact first answered us: a proxy for uptime, since old peers tend to stay. */
  readonly firstSeen: number;
  lastSeen: number;
  /** Replies missed in a row. */
  missed: number;
  /** Whether an authenticated channel to it is open right now. */
  connected: boolean;
}

export type AddResult =
  | { status: 'added'; contact: Contact }
  | { status: 'updated'; contact: Contact }
  /** The bucket is full: ping `oldest`; if it fails to answer, remove it and add again. */
  | { status: 'full'; oldest: Contact };

export class RoutingTable {
  /**
   * Every contact, least recently seen first. A bucket is the contacts here that fall in it, in
   * this order. One list, without an array per bucket or a Map by hex, keeps a table small,
   * which matters when the simulator holds ten thousand of them: a table holds a few dozen
   * contacts, and a Map of 33 of them cost 1.8 KiB, 6% of a simulated node.
   */
  private readonly byRecency: Contact[] = [];

  constructor(
    readonly self: NodeId,
    readonly k: number = K_BUCKET_SIZE,
  ) {}

  get size(): number {
    return this.byRecency.length;
  }

  get(hex: string): Contact | undefined {
    for (const c of this.byRecency) if (c.hex === hex) return c;
    return undefined;
  }

  has(hex: string): boolean {
    return this.get(hex) !== undefined;
  }

  all(): Contact[] {
    return [...this.byRecency];
  }

  /** For display: contacts known, and how many buckets hold at least one. */
  summary(): { contacts: number; buckets: number } {
    return { contacts: this.size, buckets: this.bucketSizes().filter((n) => n > 0).length };
  }

  /** Contacts in bucket i, least recently seen first. */
  bucket(i: number): readonly Contact[] {
    return this.byRecency.filter((c) => this.bucketOf(c) === i);
  }

  /**
   * Records that `id` answered us at `now`. Known contacts move to the tail (most recent);
   * new ones are appended unless the bucket is full.
   */
  add(id: NodeId, now: number): AddResult {
    const hex = internHex(idToHex(id));
    const known = this.get(hex);
    if (known) {
      this.touch(known, now);
      return { status: 'updated', contact: known };
    }
    const i = bucketIndex(this.self, id);
    if (i < 0) throw new Error('A node cannot add itself to its routing table');
    const bucket = this.bucket(i);
    if (bucket.length >= this.k) {
      // Prefer evicting a contact without a channel: it costs nothing to lose.
      const idle = bucket.find((c) => !c.connected);
      return { status: 'full', oldest: idle ?? bucket[0]! };
    }
    const contact: Contact = { id, hex, firstSeen: now, lastSeen: now, missed: 0, connected: false };
    this.byRecency.push(contact);
    return { status: 'added', contact };
  }

  /** The contact answered: it becomes the most recently seen of its bucket. */
  touch(contact: Contact, now: number): void {
    contact.lastSeen = now;
    contact.missed = 0;
    const list = this.byRecency;
    const at = list.indexOf(contact);
    if (at < 0) return;
    // Shifting in place, rather than splice and push, never grows the list's backing store.
    for (let j = at; j < list.length - 1; j++) list[j] = list[j + 1]!;
    list[list.length - 1] = contact;
  }

  /** Counts a missed reply; returns how many in a row. */
  miss(hex: string): number {
    const c = this.get(hex);
    if (!c) return 0;
    return ++c.missed;
  }

  remove(hex: string): Contact | undefined {
    const at = this.byRecency.findIndex((c) => c.hex === hex);
    return at < 0 ? undefined : this.byRecency.splice(at, 1)[0];
  }

  setConnected(hex: string, connected: boolean): void {
    const c = this.get(hex);
    if (c) c.connected = connected;
  }

  /** The n contacts closest to target, closest first (optionally only those passing `filter`). */
  closest(target: NodeId, n: number, filter?: (c: Contact) => boolean): Contact[] {
    const out: Contact[] = [];
    for (const c of this.byRecency) {
      if (filter && !filter(c)) continue;
      insertSorted(out, c, target, n);
    }
    return out;
  }

  /** Index of the highest non-empty bucket, or -1. */
  highestBucket(): number {
    let highest = -1;
    for (const c of this.byRecency) highest = Math.max(highest, this.bucketOf(c));
    return highest;
  }

  /**
   * The near set: every contact in the lowest buckets, taking whole buckets until at least
   * `r` contacts are in. Knowing a whole subtree around itself is what lets a node answer
   * "who are the r closest to key" exactly for any key that routing delivers to it (a node's
   * plain r nearest are not enough: measured 85% exact at N = 1,000 against 100% for this).
   * Returns the index of the last bucket taken (-1 when the table is empty). With `candidates`,
   * the boundary the table would have if they were contacts too (a planner weighing dials).
   */
  nearBoundary(r: number, candidates: readonly { id: NodeId }[] = []): number {
    const sizes = this.bucketSizes();
    for (const c of candidates) {
      const b = bucketIndex(this.self, c.id);
      if (b >= 0) sizes[b]!++;
    }
    let count = 0;
    let highest = -1;
    for (let i = 0; i < ID_BITS; i++) {
      if (sizes[i]! > 0) highest = i;
      count += sizes[i]!;
      if (count >= r) return i;
    }
    return highest;
  }

  /** Contacts in bucket i with an open channel. */
  connectedIn(i: number): number {
    let n = 0;
    for (const c of this.bucket(i)) if (c.connected) n++;
    return n;
  }

  /**
   * Which contacts deserve a channel: the near set, plus up to `perFarBucket` per bucket above
   * it, preferring ones already connected, then the longest known (most likely to stay).
   */
  wanted(r: number, perFarBucket: number): Contact[] {
    const boundary = this.nearBoundary(r);
    const buckets = this.buckets();
    const out: Contact[] = [];
    for (let i = 0; i <= boundary; i++) for (const c of buckets[i] ?? []) out.push(c);
    for (let i = boundary + 1; i < ID_BITS; i++) {
      const bucket = buckets[i];
      if (!bucket) continue;
      const ranked = bucket.sort(preferForFarBucket);
      for (let j = 0; j < Math.min(perFarBucket, ranked.length); j++) out.push(ranked[j]!);
    }
    return out;
  }

  /**
   * Whether a node with this id, if it answered, would deserve a channel: it falls in the near
   * set, or in a far bucket that has fewer than `perFarBucket` connected contacts.
   */
  wouldWant(id: NodeId, r: number, perFarBucket: number): boolean {
    const i = bucketIndex(this.self, id);
    if (i < 0) return false;
    if (i <= this.nearBoundary(r) || this.nearCount(i) < r) return true;
    let connected = 0;
    for (const c of this.byRecency) if (c.connected && this.bucketOf(c) === i) connected++;
    return connected < perFarBucket;
  }

  /** Contacts in buckets 0..i inclusive. */
  private nearCount(i: number): number {
    let count = 0;
    for (const c of this.byRecency) if (this.bucketOf(c) <= i) count++;
    return count;
  }

  private bucketOf(c: Contact): number {
    return bucketIndex(this.self, c.id);
  }

  /** How many contacts each bucket holds, by index. */
  private bucketSizes(): number[] {
    const sizes = new Array<number>(ID_BITS).fill(0);
    for (const c of this.byRecency) sizes[this.bucketOf(c)]!++;
    return sizes;
  }

  /** Every bucket's contacts, least recently seen first, by index (holes for empty ones). */
  private buckets(): Contact[][] {
    const out: Contact[][] = [];
    for (const c of this.byRecency) (out[this.bucketOf(c)] ??= []).push(c);
    return out;
  }
}

function preferForFarBucket(a: Contact, b: Contact): number {
  if (a.connected !== b.connected) return a.connected ? -1 : 1;
  return a.firstSeen - b.firstSeen;
}

/** Inserts c into `out` (sorted by distance to target) keeping at most n items. */
export function insertSorted<T extends { id: NodeId }>(out: T[], c: T, target: NodeId, n: number): void {
  if (n <= 0) return;
  if (out.length === n && compareDistance(target, c.id, out[n - 1]!.id) >= 0) return;
  let i = out.length;
  while (i > 0 && compareDistance(target, c.id, out[i - 1]!.id) < 0) i--;
  out.splice(i, 0, c);
  if (out.length > n) out.pop();
}
