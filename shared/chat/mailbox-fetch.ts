/**
 * The holder's side of MAILBOX_FETCH that needs no store (mailbox-service.ts `onFetch`): which
 * fetches it served, so a repeat is refused, and what one reply carries.
 */
import { MAILBOX_REMEMBERED_FETCHES } from './constants.ts';
import { MAX_FRAME_BYTES } from '../dht/constants.ts';
import type { ResponseBodyOf } from '../dht/protocol.ts';
import { LazyMap } from '../lib/lazy-map.ts';
import { MAX_FETCH_ENTRIES, type EnvelopeWire } from './wire.ts';

/** Room left in a fetch reply for the frame's own fields around the entries. */
const FETCH_FRAME_OVERHEAD = 512;

/**
 * Fetches served, by owner and nonce, until they go stale. Past MAILBOX_REMEMBERED_FETCHES the
 * oldest are forgotten first: a replay then needs that many fresh signed fetches at this
 * holder within five minutes, and is still bound to this holder.
 */
export class ServedFetches {
  private readonly until = new LazyMap<string, number>();

  has(owner: string, nonce: string): boolean {
    return this.until.has(`${owner} ${nonce}`);
  }

  remember(owner: string, nonce: string, until: number, now: number): void {
    for (const [k, t] of this.until) {
      if (t > now && this.until.size < MAILBOX_REMEMBERED_FETCHES) break;
      this.until.delete(k);
    }
    this.until.set(`${owner} ${nonce}`, until);
  }
}

/**
 * Entries in the order given (the holder's: oldest received first; when they were sent is
 * sealed), as many as one frame holds.
 */
export function fetchReply(envelopes: EnvelopeWire[], sizeOf: (e: EnvelopeWire) => number): ResponseBodyOf<'MAILBOX_FETCH'> {
  const out: EnvelopeWire[] = [];
  let budget = MAX_FRAME_BYTES - FETCH_FRAME_OVERHEAD;
  for (const e of envelopes) {
    const size = sizeOf(e) + 1;
    if (out.length >= MAX_FETCH_ENTRIES || size > budget) return { entries: out, more: true };
    out.push(e);
    budget -= size;
  }
  return { entries: out, more: false };
}
