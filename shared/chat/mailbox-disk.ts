/**
 * What a holder reads back from its store at start (mailbox-service.ts `load`). Disk is
 * untrusted too: every row is checked against the wire schemas, and what does not fit, has
 * expired or is in an older layout is dropped (and deleted) with a counted reason, never thrown.
 *
 * Layouts: entries are keyed by envelope hash and remember the neighbour that handed them over.
 * Rows of the first layout (keyed by message id, no neighbour) are moved under their hash and
 * charged to "disk"; tombstones of the first layout (signed over a message id, not a hash)
 * cannot be converted and are dropped: at worst a holder hands a message over again, and the
 * recipient shows it once (seen ids).
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
import { TombstoneWire, type EnvelopeWire } from './wire.ts';

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
    const held = heldEntry(row);
    if (!held || held.receivedAt + MAILBOX_RETENTION_MS <= now) {
      drop('mailbox', key, 'mailbox-dropped-from-disk');
      continue;
    }
    const h = envelopeHash(held.envelope);
    if (key !== h) {
      // The first layout kept entries under their message id.
      if (key !== held.envelope.id) {
        drop('mailbox', key, 'mailbox-dropped-from-disk');
        continue;
      }
      out.ops.push({ type: 'delete', table: 'mailbox', key }, { type: 'put', table: 'mailbox', key: h, value: held });
      stats.count('mailbox-moved-on-disk');
    }
    out.entries.push([h, held]);
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

/** A held entry in either layout, as the current one (an old row is charged to FROM_DISK). */
function heldEntry(v: unknown): HeldEntry | null {
  const h = v as Partial<HeldEntry> | null;
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
