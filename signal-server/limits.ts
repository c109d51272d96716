/**
 * The signal server's limits, with units in their names, and the per-address limit on new ids.
 * The server is public and bootstrap-only, so every limit is sized for honest tabs that send a
 * hello, one or two `peers` requests and a few signals, then sit idle for hours.
 */
import { TokenBucket } from '../shared/dht/budget.ts';
import { MAX_SIGNAL_FRAME_BYTES } from '../shared/signal/protocol.ts';

export interface Limits {
  /** ws `maxPayload`: a larger frame closes the socket with 1009. */
  maxFrameBytes: number;
  /** Per-connection token bucket: sustained messages per second and burst. */
  messagesPerSecond: number;
  messageBurst: number;
  /** Ids not seen from one remote address within the last minute, per minute (burst the same). */
  newIdsPerMinutePerAddress: number;
  /** Time from open to a verified hello. */
  handshakeTimeoutMs: number;
  /** ws ping period; a socket that has not ponged by the next tick is terminated. */
  heartbeatMs: number;
  /** Open sockets (authenticated or not); the next upgrade gets 503. */
  maxConnections: number;
  /** A relay to a socket with more than this queued gets BUSY instead (a slow or stuck tab). */
  maxBufferedBytes: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxFrameBytes: MAX_SIGNAL_FRAME_BYTES,
  messagesPerSecond: 20,
  messageBurst: 40,
  newIdsPerMinutePerAddress: 30,
  handshakeTimeoutMs: 10_000,
  heartbeatMs: 30_000,
  maxConnections: 5_000,
  maxBufferedBytes: 256 * 1024,
};

const MINUTE_MS = 60_000;

/**
 * Counts node ids per remote address so one machine cannot mint ids by the thousand (a Sybil
 * cheap in keys is still bounded in rate). An id seen from the address within the last minute is
 * not new, so a tab that reloads 60 times costs one token, not 60. Behind a reverse proxy every
 * tab shares the proxy's address: raise the limit there, or read the proxy's header (not done).
 */
export class NewIdLimiter {
  private readonly byAddress = new Map<string, { bucket: TokenBucket; seen: Map<string, number> }>();

  constructor(private readonly perMinute: number) {}

  /** Whether `id` may authenticate from `address` at `now`; records it when it may. */
  admit(address: string, id: string, now: number): boolean {
    let entry = this.byAddress.get(address);
    if (!entry) {
      entry = { bucket: new TokenBucket(this.perMinute / MINUTE_MS, this.perMinute, now), seen: new Map() };
      this.byAddress.set(address, entry);
    }
    const seenAt = entry.seen.get(id);
    if (seenAt !== undefined && now - seenAt < MINUTE_MS) {
      entry.seen.set(id, now);
      return true;
    }
    if (!entry.bucket.take(now)) return false;
    entry.seen.set(id, now);
    return true;
  }

  /** Forgets addresses whose bucket is full and ids older than a minute; called on the heartbeat. */
  prune(now: number): void {
    for (const [address, entry] of this.byAddress) {
      for (const [id, at] of entry.seen) if (now - at >= MINUTE_MS) entry.seen.delete(id);
      if (entry.seen.size === 0 && entry.bucket.isFull(now)) this.byAddress.delete(address);
    }
  }
}
