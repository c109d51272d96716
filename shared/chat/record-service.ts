/**
 * User records in the DHT (ARCHITECTURE.md, "Names"): holders verify, choose by the first-come
 * rule, persist before acknowledging, replicate to the r closest and push to closer nodes they
 * meet; owners publish and re-read to learn whether the name is theirs.
 */
import { JOIN_REREAD_DELAY_MS } from './constants.ts';
import { ErrorCode, PeerchatError } from '../lib/errors.ts';
import { idEquals, idToHex, type NodeId } from '../lib/id.ts';
import { LazyMap } from '../lib/lazy-map.ts';
import type { NodeContext, NodeService, Peer } from '../dht/context.ts';
import { TimerSet } from '../lib/clock.ts';
import type { RequestBodyOf, ResponseBodyOf } from '../dht/protocol.ts';
import type { UserRecordWire } from './wire.ts';
import { chooseRecord, recordFromWire, recordKey, recordToWire, verifyRecord, type UserRecord } from './records.ts';

interface Held {
  record: UserRecord;
  key: NodeId;
  /** Neighbours known to hold this exact record, so pushes are not repeated. */
  pushedTo: Set<string>;
}

/** Records a holder keeps at most: bounds what strangers can make it store. */
const MAX_HELD_RECORDS = 10_000;

export type PublishResult = { status: 'ok'; holders: number } | { status: 'taken'; by: UserRecord };

export class RecordService implements NodeService {
  private readonly held = new LazyMap<string, Held>();
  private readonly timers: TimerSet;
  /** Publishes waiting to read their name back: close() fails them instead of leaving them hanging. */
  private waiting: Set<(err: PeerchatError) => void> | null = null;

  constructor(private readonly node: NodeContext) {
    this.timers = new TimerSet(node.ticker);
    node.handle('STORE', (b, ctx) => this.onStore(b, ctx));
    node.handle('FIND_VALUE', (b) => this.onFindValue(b));
  }

  get size(): number {
    return this.held.size;
  }

  /** Restores held records from the store; what fails to parse or verify is dropped and counted. */
  async load(): Promise<void> {
    const { node } = this;
    for (const [keyHex, wire] of await node.store.entries<UserRecordWire>('records')) {
      const record = recordFromWire(wire);
      const ok = record && (await verifyRecord(record, node.clock.now(), node.ops)) === 'ok';
      if (!record || !ok) {
        node.stats.count('record-dropped-from-disk');
        continue;
      }
      this.held.set(keyHex, { record, key: recordKey(record.name), pushedTo: new Set() });
    }
  }

  /** The unexpired record this node holds for a name key, if any. */
  get(keyHex: string): UserRecord | undefined {
    const h = this.held.get(keyHex);
    return h && h.record.expiresAt > this.node.clock.now() ? h.record : undefined;
  }

  /**
   * Publishes the owner's record at the r closest nodes, waits JOIN_REREAD_DELAY_MS, and reads
   * it back: the name is ours only if what the closest nodes now hold is our record.
   */
  async publish(record: UserRecord): Promise<PublishResult> {
    const { node } = this;
    const key = recordKey(record.name);
    const stored = await node.routeFromHere('STORE', { record: recordToWire(record) }, key, 2);
    if (stored.length === 0) throw new PeerchatError(ErrorCode.NoRoute, 'Could not reach the nodes that hold names; check the connection and retry.');
    await this.wait(JOIN_REREAD_DELAY_MS);
    const found = await this.resolve(record.name);
    if (found && !idEquals(found.signingKey, record.signingKey)) return { status: 'taken', by: found };
    if (!found) throw new PeerchatError(ErrorCode.NoRoute, 'The record did not read back; retry.');
    return { status: 'ok', holders: stored.filter((s) => s.stored).length };
  }

  /**
   * Resolves a name through two disjoint paths; the first-come rule picks between answers. Null
   * means the closest nodes answered and none holds the name; no answer at all throws NoRoute.
   */
  async resolve(name: string): Promise<UserRecord | null> {
    const { node } = this;
    const key = recordKey(name);
    const answers = await node.routeFromHere('FIND_VALUE', { key: idToHex(key) }, key, 2);
    if (answers.length === 0) throw new PeerchatError(ErrorCode.NoRoute, 'Could not reach the nodes that hold names; check the connection and retry.');
    let best: UserRecord | undefined;
    for (const a of answers) {
      const record = a.record ? recordFromWire(a.record) : null;
      if (!record || record.name !== name) continue;
      if ((await verifyRecord(record, node.clock.now(), node.ops)) !== 'ok') {
        node.stats.count('record-rejected-in-answer');
        continue;
      }
      if ((chooseRecord(best, record, node.clock.now())) === 'replace') best = record;
    }
    return best ?? null;
  }

  /** A new neighbour that is among the r closest to a held record's key gets a copy. */
  onNeighbour(peer: Peer): void {
    for (const h of this.held.values()) this.pushIfClose(h, peer);
  }

  private wait(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      (this.waiting ??= new Set()).add(reject);
      this.timers.set(() => {
        this.waiting?.delete(reject);
        resolve();
      }, ms);
    });
  }

  /** Cancels a publish's wait to read its name back: that publish fails with CLOSED. */
  close(): void {
    this.timers.clear();
    for (const fail of this.waiting ?? []) fail(new PeerchatError(ErrorCode.Closed, 'The node closed before the name was read back.'));
    this.waiting = null;
  }

  /** Periodic: drop expired records, copy the rest to the current r closest that lack them. */
  async recheck(): Promise<void> {
    const now = this.node.clock.now();
    for (const [keyHex, h] of this.held) {
      if (h.record.expiresAt <= now) {
        this.held.delete(keyHex);
        await this.node.store.delete('records', keyHex);
        continue;
      }
      for (const p of this.node.neighbours()) this.pushIfClose(h, p);
    }
  }

  private pushIfClose(h: Held, peer: Peer): void {
    if (h.pushedTo.has(peer.hex)) return;
    if (!this.node.closestTo(h.key).some((n) => n.hex === peer.hex)) return;
    h.pushedTo.add(peer.hex);
    this.node.direct(peer, 'STORE', { record: recordToWire(h.record) }).catch(() => h.pushedTo.delete(peer.hex));
  }

  private async onStore(b: RequestBodyOf<'STORE'>, ctx: { routed: boolean; key: NodeId | null }): Promise<ResponseBodyOf<'STORE'>> {
    const { node } = this;
    const record = recordFromWire(b.record);
    if (!record) throw this.reject('record-malformed', 'Malformed record');
    const key = recordKey(record.name);
    const keyHex = idToHex(key);
    if (ctx.key && idToHex(ctx.key) !== keyHex) throw this.reject('record-wrong-key', 'Record routed to the wrong key');
    // Holders push the same record to each other all the time: the very record held already
    // was checked when it came, and changes nothing. Anything else is checked in full.
    const current = this.held.get(keyHex);
    if (current && sameRecord(current.record, record)) return { stored: true, record: b.record };
    const check = await verifyRecord(record, node.clock.now(), node.ops);
    if (check !== 'ok') throw this.reject(`record-${check}`, `Record rejected: ${check}`);
    // Another STORE may have replaced what was held while the signature was checked.
    if (chooseRecord(this.held.get(keyHex)?.record, record, node.clock.now()) === 'replace') {
      if (!current && this.held.size >= MAX_HELD_RECORDS) throw this.reject('record-over-quota', 'Holder is full');
      await node.store.put('records', keyHex, recordToWire(record));
      const h: Held = { record, key, pushedTo: new Set() };
      this.held.set(keyHex, h);
      node.stats.count('record-stored');
      if (ctx.routed) for (const p of node.neighbours()) this.pushIfClose(h, p);
    }
    const kept = this.held.get(keyHex)!.record;
    return { stored: idEquals(kept.signature, record.signature), record: recordToWire(kept) };
  }

  private async onFindValue(b: RequestBodyOf<'FIND_VALUE'>): Promise<ResponseBodyOf<'FIND_VALUE'>> {
    const record = this.get(b.key);
    const key = this.held.get(b.key)?.key;
    const nodes = key ? this.node.closestTo(key).map((n) => n.hex) : [];
    return { record: record ? recordToWire(record) : null, nodes };
  }

  private reject(reason: string, message: string): PeerchatError {
    this.node.stats.count(reason);
    return new PeerchatError(ErrorCode.Rejected, message);
  }
}

function sameRecord(a: UserRecord, b: UserRecord): boolean {
  return (
    a.name === b.name && a.registeredAt === b.registeredAt && a.seq === b.seq && a.expiresAt === b.expiresAt &&
    idEquals(a.signingKey, b.signingKey) && idEquals(a.agreementKey, b.agreementKey) && idEquals(a.signature, b.signature)
  );
}
