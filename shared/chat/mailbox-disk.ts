/**
 * What a holder reads back from its store at start (mailbox-service.ts `load`). Disk is
 * untrusted too: every row is checked against the wire schemas, and what does not fit, has
 * expired or is in an older layout is dropped (and deleted) with a counted reason, never thrown.
 *
 * Layouts: entries are keyed by envelope hash and remember the neighbour that handed them over
 * (an entry without one is charged to "disk"). Entries holding a first-format envelope (the
 * sender's id, clock and signature in the clear, whatever key they were stored under) cannot be
 * converted: a holder cannot re-seal what it cannot read, and no recipient opens that format
 * any more. They are dropped and counted (mailbox-dropped-old-format); their senders keep them
 * in their outboxes and store them again in the new format (chat-model.ts, outbox upgrade).
 * Tombstones of the first layout (signed over a message id, not a hash) cannot be converted and
 * are dropped: at worst a holder hands a message over again, and the recipient shows it once
 * (seen ids).
 */
import { MAILBOX_RETENTION_MS } from './constants.ts';
import { fromBase64Url } from '../lib/encoding.ts';
import { isIdNonce } from '../lib/id.ts';
import { KEY_BYTES } from '../lib/crypto.ts';
import { parseRequestBody } from '../dht/protocol.ts';
import { envelopeHash } from './messages.ts';
import type { Stats } from '../lib/stats.ts';
import type { Store, StoreOp, StoreTable } from '../lib/store.ts';
import { parseWith } from '../lib/wire.ts';
import * as v from 'valibot';
import { OldEnvelopeWire, TombstoneWire, type EnvelopeWire } from './wire.ts';

/** What a holder persists per entry. */
export interface HeldEntry {
  envelope: EnvelopeWire;
  /** When this holder got it. */
  receivedAt: number;
  /** The neighbour (node id hex) that handed it over, SELF or FROM_DISK: whose quota it uses. */
  from: string;
}

export interface HeldTombstone {
  tombstone: TombstoneWire;
  /** The recipient's signing key (base64url) and id nonce, which the next holder checks it against. */
  key: string;
  n: number;
  receivedAt: number;
}

/** Quota owners that are not a neighbour: a store this node routed to itself, an old row. */
export const SELF = 'self';
export const FROM_DISK = 'disk';

export interface Loaded {
  entries: [string, HeldEntry][];
  tombstones: [string, HeldTombstone][];
  /** Deletes of dropped rows and moves of old ones, for one batch. */
  ops: StoreOp[];
}

export async function loadHeld(store: Store, now: number, stats: Stats): Promise<Loaded> {
  const out: Loaded = { entries: [], tombstones: [], ops: [] };
  const drop = (table: StoreTable, key: string, reason: string) => {
    stats.count(reason);
    out.ops.push({ type: 'delete', table, key });
  };
  for (const [key, row] of await store.entries<unknown>('mailbox')) {
    if (isOldFormat(row)) {
      drop('mailbox', key, 'mailbox-dropped-old-format');
      continue;
    }
    const held = heldEntry(row);
    if (!held || held.receivedAt + MAILBOX_RETENTION_MS <= now || key !== envelopeHash(held.envelope)) {
      drop('mailbox', key, 'mailbox-dropped-from-disk');
      continue;
    }
    out.entries.push([key, held]);
  }
  for (const [key, row] of await store.entries<unknown>('tombstones')) {
    const held = heldTombstone(row);
    if (!held || held.tombstone.h !== key || held.receivedAt + MAILBOX_RETENTION_MS <= now) {
      drop('tombstones', key, 'mailbox-tombstone-dropped-from-disk');
      continue;
    }
    out.tombstones.push([key, held]);
  }
  // Oldest first, as they arrived: the quotas evict in that order.
  out.entries.sort((a, b) => a[1].receivedAt - b[1].receivedAt);
  out.tombstones.sort((a, b) => a[1].receivedAt - b[1].receivedAt);
  return out;
}

/** Whether a row holds an envelope of the first format. */
function isOldFormat(row: unknown): boolean {
  return typeof row === 'object' && row !== null && v.is(OldEnvelopeWire, (row as { envelope?: unknown }).envelope);
}

/** A held entry (one without a neighbour is charged to FROM_DISK). */
function heldEntry(row: unknown): HeldEntry | null {
  const h = row as Partial<HeldEntry> | null;
  if (typeof h !== 'object' || h === null || !Number.isSafeInteger(h.receivedAt)) return null;
  if (parseRequestBody('DELIVER', { envelope: h.envelope }) === null) return null;
  const from = typeof h.from === 'string' && h.from.length <= 40 ? h.from : FROM_DISK;
  return { envelope: h.envelope!, receivedAt: h.receivedAt!, from };
}

function heldTombstone(v: unknown): HeldTombstone | null {
  const h = v as Partial<HeldTombstone> | null;
  if (typeof h !== 'object' || h === null || !Number.isSafeInteger(h.receivedAt) || typeof h.key !== 'string') return null;
  const tombstone = parseWith(TombstoneWire, h.tombstone);
  // One kept from before ids cost work has no id nonce: it names an old address, so it goes.
  if (!tombstone || fromBase64Url(h.key)?.length !== KEY_BYTES || !isIdNonce(h.n)) return null;
  return { tombstone, key: h.key, n: h.n, receivedAt: h.receivedAt! };
}
