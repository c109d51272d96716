/**
 * The connection budget. Chromium lets one renderer create only 500 RTCPeerConnections in its
 * life, closed ones included, and each costs setup time, so a node spends connections like
 * money: a token bucket paces creation, CONNECTION_CAP bounds it, and past the cap a tab short of
 * peers is told to move to a fresh process (the twin URL). Pure: the owner does the I/O.
 */
import {
  CONNECTION_CAP,
  CONNECTION_TOKEN_BURST,
  CONNECTION_TOKENS_PER_HOUR,
  MAX_REQUESTS_IN_FLIGHT_PER_NEIGHBOUR,
  MAX_SENDS_IN_FLIGHT_PER_NEIGHBOUR,
  MIN_PEERS_TO_STAY,
  NEAR_CONNECTION_TOKEN_BURST,
  NEAR_CONNECTION_TOKENS_PER_HOUR,
  OFFER_BURST,
  OFFER_BURST_PER_SOURCE,
  OFFERS_PER_HOUR,
  OFFERS_PER_SOURCE_PER_HOUR,
  REQUEST_BURST_PER_NEIGHBOUR,
  REQUESTS_PER_NEIGHBOUR_PER_S,
  SEND_BURST_PER_NEIGHBOUR,
  SENDS_PER_NEIGHBOUR_PER_S,
} from './constants.ts';

const HOUR_MS = 3_600_000;

export interface BudgetOptions {
  /** Connections created so far in this process's life (survives reloads in a browser). */
  created(): number;
  now(): number;
  tokensPerHour?: number;
  burst?: number;
  cap?: number;
}

/**
 * Whether a tab should move to a fresh renderer process (its twin URL): it created all the
 * connections it may and has too few channels left to work (a page that just loaded has none,
 * so a reload past the cap moves at once, before it tries connections it may not make).
 */
export function shouldMove(created: number, livePeers: number, cap = CONNECTION_CAP): boolean {
  return created >= cap && livePeers < MIN_PEERS_TO_STAY;
}

export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly ratePerMs: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.updatedAt = now;
  }

  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  take(now: number, n = 1): boolean {
    this.refill(now);
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** Whether the bucket is full at `now`, and so the same as a new one. Changes nothing. */
  isFull(now: number): boolean {
    return this.tokens + Math.max(0, now - this.updatedAt) * this.ratePerMs >= this.burst;
  }

  /** Gives back a token taken for something that turned out free; never past the burst. */
  refund(now: number): void {
    this.refill(now);
    this.tokens = Math.min(this.burst, this.tokens + 1);
  }

  /** Milliseconds until one token is available. */
  waitMs(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) / this.ratePerMs);
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.updatedAt);
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.ratePerMs);
    this.updatedAt = now;
  }
}

/** How long KeyedTokenBuckets may hold full buckets before it looks for them again. */
export const KEYED_BUCKETS_SWEEP_MS = 10_000;
/** Fewer buckets than this wait for KEYED_BUCKETS_SWEEP_MS; more are swept when they double. */
export const KEYED_BUCKETS_SWEEP_MIN = 64;

/**
 * One token bucket per key (a neighbour, say), all with the same rate and burst. A full bucket
 * behaves exactly like a new one, so full buckets are dropped: most keys stay far below the
 * rate, and a node keeps only the few that came near it instead of one bucket per neighbour.
 * They are dropped by a sweep, not on every take (take is called for every request a node
 * receives and sends, and a sweep on each made that cost grow with the neighbours): at most
 * KEYED_BUCKETS_SWEEP_MS apart, and sooner when the map has doubled since the last sweep (and
 * holds at least KEYED_BUCKETS_SWEEP_MIN), so a sweep's cost is paid for by the new keys that
 * made it, and keys rotated through the map hold at most twice what the last sweep kept.
 */
export class KeyedTokenBuckets {
  private readonly buckets = new Map<string, TokenBucket>();
  private sweptAt = -Infinity;
  private sweepAtSize = KEYED_BUCKETS_SWEEP_MIN;

  constructor(
    private readonly ratePerMs: number,
    private readonly burst: number,
  ) {}

  /**
   * Buckets held: every key that is not full, and full ones the next sweep will drop (at most
   * max(KEYED_BUCKETS_SWEEP_MIN, twice what the last sweep kept)).
   */
  get size(): number {
    return this.buckets.size;
  }

  take(key: string, now: number): boolean {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(this.ratePerMs, this.burst, now);
      this.buckets.set(key, bucket);
    }
    const ok = bucket.take(now);
    if (this.buckets.size >= this.sweepAtSize || now - this.sweptAt >= KEYED_BUCKETS_SWEEP_MS) this.sweep(now);
    return ok;
  }

  delete(key: string): void {
    this.buckets.delete(key);
  }

  /**
   * A bucket full at `now` is still full at any later take, so dropping it then or now gives
   * the same answers. (Were the clock to step back, a bucket kept gives no more than a new one.)
   */
  private sweep(now: number): void {
    // The bucket just used is not full (a take leaves at most burst - 1), so it stays.
    for (const [k, b] of this.buckets) if (b.isFull(now)) this.buckets.delete(k);
    this.sweptAt = now;
    this.sweepAtSize = Math.max(KEYED_BUCKETS_SWEEP_MIN, 2 * this.buckets.size);
  }
}

/** Why an inbound offer was refused; counted as `offer-limited-<reason>`. */
export type OfferRefusal = 'source' | 'total';

/**
 * Inbound offers (signaling that would make this node create a connection), per source id and
 * in total. The owner asks after it has authenticated the source (a signed SIGNAL, or the signal
 * server's proof) and before it spends the connection budget, so a forged source spends nothing
 * here and fresh keys, however many, get at most the total.
 */
export class OfferLimits {
  private readonly perSource = new KeyedTokenBuckets(OFFERS_PER_SOURCE_PER_HOUR / HOUR_MS, OFFER_BURST_PER_SOURCE);
  private readonly total: TokenBucket;

  constructor(now: number) {
    this.total = new TokenBucket(OFFERS_PER_HOUR / HOUR_MS, OFFER_BURST, now);
  }

  /** Takes a token for an offer from `sourceHex`; null when it may go on, else why not. */
  take(sourceHex: string, now: number): OfferRefusal | null {
    if (this.total.available(now) < 1) return 'total';
    if (!this.perSource.take(sourceHex, now)) return 'source';
    this.total.take(now);
    return null;
  }

  /** Milliseconds until the total bucket has a token again. */
  waitMs(now: number): number {
    return this.total.waitMs(now);
  }
}

/** Why a neighbour's request was refused; counted as `request-refused-<reason>`. */
export type RequestRefusal = 'rate' | 'in-flight';

/** A refused request is counted by method too: `refused-for-<METHOD>`, `-routed` when routed. */
export const REFUSED_METHOD_PREFIX = 'refused-for-';

/**
 * What each neighbour may ask of a node: a token bucket per neighbour and a cap on its requests
 * being worked on here at once. Every inbound request passes `admit` before any work, and `done`
 * when its reply is sent or it is forwarded. And the mirror image: what this node sends each
 * neighbour, its own requests and those it forwards, is charged to that neighbour (`charge`)
 * under a bucket and cap below the neighbour's own, so an honest node is never answered BUSY.
 */
export class RequestLimits {
  private readonly buckets = new KeyedTokenBuckets(REQUESTS_PER_NEIGHBOUR_PER_S / 1000, REQUEST_BURST_PER_NEIGHBOUR);
  private readonly inFlight = new Map<string, number>();
  /** Requests each neighbour has yet to answer this node (`charge`). */
  private readonly owed = new Map<string, number>();
  private readonly sendBuckets = new KeyedTokenBuckets(SENDS_PER_NEIGHBOUR_PER_S / 1000, SEND_BURST_PER_NEIGHBOUR);

  /** Null when the request may be worked on (it is then in flight until `done`), else why not. */
  admit(peerHex: string, now: number): RequestRefusal | null {
    const busy = this.inFlight.get(peerHex) ?? 0;
    if (busy >= MAX_REQUESTS_IN_FLIGHT_PER_NEIGHBOUR) return 'in-flight';
    if (!this.buckets.take(peerHex, now)) return 'rate';
    this.inFlight.set(peerHex, busy + 1);
    return null;
  }

  done(peerHex: string): void {
    decrement(this.inFlight, peerHex);
  }

  /** The neighbour's channel closed: its buckets go (requests still in flight end with `done`). */
  forget(peerHex: string): void {
    this.buckets.delete(peerHex);
    this.sendBuckets.delete(peerHex);
  }

  /**
   * Charges a request this node sends to the neighbour it goes to: its own, or one it forwards
   * (charged to the next hop, not to the neighbour that sent it, whose slot is then released
   * with `done`: a hop that swallows requests fills its own account, which the honest
   * neighbours routing through this node never see). False when the neighbour already owes
   * MAX_SENDS_IN_FLIGHT_PER_NEIGHBOUR answers, or, for an own request, when its send bucket
   * is empty: an own request then waits, a forwarded one goes around it. A forwarded request
   * is not held back by the bucket (going around could leave no closer hop, and it would end
   * at the wrong node), but takes its token when there is one, so own requests make way for
   * it. Each true is matched by one `settled` when the neighbour answers, fails or times out.
   */
  charge(nextHex: string, now: number, kind: 'own' | 'forwarded'): boolean {
    const owed = this.owed.get(nextHex) ?? 0;
    if (owed >= MAX_SENDS_IN_FLIGHT_PER_NEIGHBOUR) return false;
    if (!this.sendBuckets.take(nextHex, now) && kind === 'own') return false;
    this.owed.set(nextHex, owed + 1);
    return true;
  }

  settled(nextHex: string): void {
    decrement(this.owed, nextHex);
  }
}

/** One less for `key`; a count that reaches zero leaves the map, so idle peers cost nothing. */
function decrement(counts: Map<string, number>, key: string): void {
  const n = counts.get(key) ?? 0;
  if (n <= 1) counts.delete(key);
  else counts.set(key, n - 1);
}

/** How a connection may spend the budget; see ConnectionBudget.take. */
export type Urgency = 'needed' | 'near' | 'paced';

export class ConnectionBudget {
  private readonly bucket: TokenBucket;
  private readonly nearBucket: TokenBucket;
  private readonly cap: number;

  constructor(private readonly options: BudgetOptions) {
    const perHour = options.tokensPerHour ?? CONNECTION_TOKENS_PER_HOUR;
    this.bucket = new TokenBucket(perHour / HOUR_MS, options.burst ?? CONNECTION_TOKEN_BURST, options.now());
    this.nearBucket = new TokenBucket(NEAR_CONNECTION_TOKENS_PER_HOUR / HOUR_MS, NEAR_CONNECTION_TOKEN_BURST, options.now());
    this.cap = options.cap ?? CONNECTION_CAP;
  }

  /** Whether a paced connection may be created now, without spending anything. */
  canCreate(): boolean {
    return this.underCap() && this.bucket.available(this.options.now()) >= 1;
  }

  /**
   * Spends one token for a connection; false when out of budget.
   * - 'needed': a peer of the node's own near subtree dialing in. Not paced, only capped:
   *   refusing it would break the overlay, and the cap is what the bucket protects. (It cost
   *   the peer a connection too, and its id is proven by HELLO.)
   * - 'near': the node dials its own near subtree. It takes a token from a bucket of its own
   *   (then from the shared one), and gets it back if the channel opens (nearDialSucceeded):
   *   only failed near dials are paced. The candidates come from other nodes' answers, and a
   *   liar could list made-up ids to make a node burn its lifetime connections, but made-up
   *   ids always fail, while real neighbours almost never do. Pacing every near dial left
   *   nodes answering for their neighbourhood without part of it (at N = 10,000 under churn,
   *   98.6% of lookups exact against 99.4% unpaced). Taking the token up front bounds the
   *   dials in flight too, so a burst of made-up ids costs at most the bucket.
   * - 'paced': anything else.
   */
  take(urgency: Urgency = 'paced'): boolean {
    const now = this.options.now();
    return this.underCap() && (urgency === 'needed' || (urgency === 'near' && this.nearBucket.take(now)) || this.bucket.take(now));
  }

  /** A near dial opened its channel: its token goes back (see take). */
  nearDialSucceeded(): void {
    this.nearBucket.refund(this.options.now());
  }

  /** Milliseconds a refused peer should wait before asking again. */
  retryAfterMs(): number {
    return Math.max(1_000, this.bucket.waitMs(this.options.now()));
  }

  get created(): number {
    return this.options.created();
  }

  /** Connections this process may still create before the cap (0 once it is spent). */
  left(): number {
    return Math.max(0, this.cap - this.options.created());
  }

  /** Whether the owner should move to a fresh process (the browser's twin URL) now. */
  shouldMove(livePeers: number): boolean {
    return shouldMove(this.options.created(), livePeers, this.cap);
  }

  private underCap(): boolean {
    return this.options.created() < this.cap;
  }
}
