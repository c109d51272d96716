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
  /**
   * Open sockets from one remote address; the next upgrade from it gets 429. Generous, since a
   * household or office shares one address, but one machine cannot take the whole server.
   */
  maxSocketsPerAddress: number;
  /**
   * Sockets from one address that have not proven an id yet: an honest tab proves its id within
   * one round trip, so a few is plenty, and sockets that never authenticate cannot pile up.
   */
  maxUnauthenticatedPerAddress: number;
  /** Time for a request's headers to arrive (slow-loris); Node's default is a minute. */
  headersTimeoutMs: number;
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
  maxSocketsPerAddress: 256,
  maxUnauthenticatedPerAddress: 16,
  headersTimeoutMs: 10_000,
  maxBufferedBytes: 256 * 1024,
};

const MINUTE_MS = 60_000;

/**
 * A tab registered this long without a break is settled, and first peers are drawn from settled
 * tabs (backend.ts pickPeers); a re-register or reconnect of the id starts the time over. Two
 * minutes: an honest tab stays registered for its whole life (hours), so within two minutes of
 * opening it counts like every other, while an id that reconnects before each join it wants to
 * be handed out in never does. Much longer would keep a young network on the unsettled fallback
 * for longer; much shorter would let an attacker settle ids between joins that come minutes apart.
 */
export const SETTLED_TAB_MS = 2 * MINUTE_MS;

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

/** Why an upgrade from an address is refused by the per-address caps, or null to admit it. */
export type AddressRefusal = 'address-sockets' | 'address-unauthenticated';

/**
 * Open and not-yet-authenticated sockets per remote address, for the per-address caps. Behind a
 * reverse proxy every tab shares the proxy's address (README: serve TLS from this process).
 */
export class AddressCounts {
  private readonly byAddress = new Map<string, { open: number; unauthenticated: number }>();

  constructor(private readonly limits: Pick<Limits, 'maxSocketsPerAddress' | 'maxUnauthenticatedPerAddress'>) {}

  /** Null when one more socket from `address` fits under both caps. */
  refusal(address: string): AddressRefusal | null {
    const entry = this.byAddress.get(address);
    if (!entry) return null;
    if (entry.open >= this.limits.maxSocketsPerAddress) return 'address-sockets';
    if (entry.unauthenticated >= this.limits.maxUnauthenticatedPerAddress) return 'address-unauthenticated';
    return null;
  }

  opened(address: string): void {
    const entry = this.byAddress.get(address) ?? { open: 0, unauthenticated: 0 };
    entry.open++;
    entry.unauthenticated++;
    this.byAddress.set(address, entry);
  }

  authenticated(address: string): void {
    const entry = this.byAddress.get(address);
    if (entry) entry.unauthenticated--;
  }

  /** A socket closed; `authenticated` says whether authenticated() was called for it. */
  closed(address: string, authenticated: boolean): void {
    const entry = this.byAddress.get(address);
    if (!entry) return;
    entry.open--;
    if (!authenticated) entry.unauthenticated--;
    if (entry.open <= 0) this.byAddress.delete(address);
  }
}
