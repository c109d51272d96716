import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConnectionBudget, KEYED_BUCKETS_SWEEP_MIN, KEYED_BUCKETS_SWEEP_MS, KeyedTokenBuckets, OfferLimits, RequestLimits, TokenBucket, shouldMove } from './budget.ts';
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
  REQUEST_BURST_PER_NEIGHBOUR,
  REQUESTS_PER_NEIGHBOUR_PER_S,
  SEND_BURST_PER_NEIGHBOUR,
  SENDS_PER_NEIGHBOUR_PER_S,
} from './constants.ts';
import { FakeClock } from '../lib/clock.ts';
import { createIdentity } from '../lib/crypto.ts';
import { SeededRandom } from '../lib/random.ts';
import { MemoryNetwork } from '../lib/transport.ts';
import { KademliaNode } from './node.ts';

const HOUR_MS = 3_600_000;

describe('KeyedTokenBuckets', () => {
  it('limits each key as its own token bucket would', () => {
    const buckets = new KeyedTokenBuckets(1 / 1_000, 2);
    const alone = new TokenBucket(1 / 1_000, 2, 0);
    const times = [0, 0, 0, 500, 999, 1_000, 1_001, 1_700, 4_000, 4_000, 4_000];
    expect(times.map((t) => buckets.take('a', t))).toEqual(times.map((t) => alone.take(t)));
    expect(buckets.take('b', 4_000)).toBe(true);
  });

  it('gives every key the answers of a bucket of its own that is never dropped', () => {
    // Few keys and short steps, so keys come back soon after a sweep; long steps make sweeps.
    const dt = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 2 * KEYED_BUCKETS_SWEEP_MS }));
    const step = fc.record({ key: fc.integer({ min: 0, max: 4 }), dt });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 300 }), (steps) => {
        const buckets = new KeyedTokenBuckets(1 / 1_000, 2);
        const own = new Map<string, TokenBucket>();
        let now = 0;
        for (const { key, dt } of steps) {
          now += dt;
          const k = String(key);
          if (!own.has(k)) own.set(k, new TokenBucket(1 / 1_000, 2, now));
          expect(buckets.take(k, now)).toBe(own.get(k)!.take(now));
        }
      }),
    );
  });

  it('drops full buckets at the next sweep, at most KEYED_BUCKETS_SWEEP_MS apart', () => {
    const buckets = new KeyedTokenBuckets(1 / 1_000, 2);
    buckets.take('a', 0);
    buckets.take('b', 500);
    expect(buckets.size).toBe(2);
    buckets.take('c', 1_200);
    expect(buckets.size).toBe(3); // 'a' is full again, but kept until the sweep
    buckets.take('c', KEYED_BUCKETS_SWEEP_MS);
    expect(buckets.size).toBe(1);
    buckets.delete('c');
    expect(buckets.size).toBe(0);
  });

  it('holds a bounded map while an attacker rotates 100,000 keys through it', () => {
    // One new key every 10 ms, each full again 1 s later: at most 101 are not full at once.
    const buckets = new KeyedTokenBuckets(1 / 1_000, 2);
    let most = 0;
    for (let i = 0; i < 100_000; i++) {
      buckets.take(`key-${i}`, i * 10);
      most = Math.max(most, buckets.size);
    }
    expect(most).toBeGreaterThanOrEqual(101);
    expect(most).toBeLessThanOrEqual(Math.max(KEYED_BUCKETS_SWEEP_MIN, 2 * 101));
  });

  it('sweeps a map that doubled at once, before KEYED_BUCKETS_SWEEP_MS', () => {
    const buckets = new KeyedTokenBuckets(1 / 1_000, 2);
    for (let i = 0; i < KEYED_BUCKETS_SWEEP_MIN - 1; i++) buckets.take(`key-${i}`, 0);
    expect(buckets.size).toBe(KEYED_BUCKETS_SWEEP_MIN - 1);
    buckets.take('last', 1_000);
    expect(buckets.size).toBe(1);
  });
});

describe('TokenBucket', () => {
  it('starts full and lets a burst through, then refuses', () => {
    const bucket = new TokenBucket(1 / 1_000, 3, 0);
    expect(bucket.available(0)).toBe(3);
    expect([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, true, false]);
  });

  it('refills at its rate and never beyond its burst', () => {
    const bucket = new TokenBucket(1 / 1_000, 3, 0);
    for (let i = 0; i < 3; i++) bucket.take(0);
    expect(bucket.take(999)).toBe(false);
    expect(bucket.take(1_000)).toBe(true);
    expect(bucket.available(2_500)).toBeCloseTo(1.5);
    expect(bucket.available(1_000_000)).toBe(3);
  });

  it('takes several tokens at once only when all are there', () => {
    const bucket = new TokenBucket(1 / 1_000, 5, 0);
    expect(bucket.take(0, 4)).toBe(true);
    expect(bucket.take(0, 2)).toBe(false);
    expect(bucket.available(0)).toBe(1);
  });

  it('says how long until the next token', () => {
    const bucket = new TokenBucket(1 / 1_000, 1, 0);
    expect(bucket.waitMs(0)).toBe(0);
    bucket.take(0);
    expect(bucket.waitMs(0)).toBe(1_000);
    expect(bucket.waitMs(400)).toBe(600);
    expect(bucket.waitMs(1_000)).toBe(0);
  });

  it('ignores a clock that steps backwards', () => {
    const bucket = new TokenBucket(1 / 1_000, 2, 10_000);
    bucket.take(10_000);
    bucket.take(10_000);
    expect(bucket.available(5_000)).toBe(0);
    expect(bucket.available(6_000)).toBe(1);
  });
});

describe('ConnectionBudget', () => {
  function budget(over: Partial<{ cap: number; burst: number; tokensPerHour: number }> = {}) {
    const clock = new FakeClock();
    let created = 0;
    const b = new ConnectionBudget({ created: () => created, now: () => clock.now(), ...over });
    return {
      clock,
      b,
      setCreated: (n: number) => {
        created = n;
      },
    };
  }

  it('defaults to the constants: a burst of CONNECTION_TOKEN_BURST, refilled at CONNECTION_TOKENS_PER_HOUR', () => {
    const { clock, b } = budget();
    for (let i = 0; i < CONNECTION_TOKEN_BURST; i++) expect(b.take()).toBe(true);
    expect(b.take()).toBe(false);
    clock.advance(HOUR_MS / CONNECTION_TOKENS_PER_HOUR);
    expect(b.take()).toBe(true);
    expect(b.take()).toBe(false);
  });

  it('paces only the near dials that fail: one that opens its channel gets its token back; a needed peer is only capped', () => {
    const { clock, b, setCreated } = budget();
    for (let i = 0; i < CONNECTION_TOKEN_BURST; i++) expect(b.take()).toBe(true);
    expect(b.canCreate()).toBe(false);
    // Far dials spent the shared bucket: the neighbourhood still gets its channels, as many as
    // it needs while they open.
    for (let i = 0; i < 3 * NEAR_CONNECTION_TOKEN_BURST; i++) {
      expect(b.take('near')).toBe(true);
      b.nearDialSucceeded();
    }
    // Made-up ids fail: each keeps its token, and then near dials wait like any other, however
    // many were started at once.
    for (let i = 0; i < NEAR_CONNECTION_TOKEN_BURST; i++) expect(b.take('near')).toBe(true);
    expect(b.take('near')).toBe(false);
    clock.advance(HOUR_MS / NEAR_CONNECTION_TOKENS_PER_HOUR);
    expect(b.take('near')).toBe(true);
    expect(b.take('needed')).toBe(true);
    setCreated(CONNECTION_CAP);
    expect(b.take('needed')).toBe(false);
    expect(b.take('near')).toBe(false);
  });

  it('lets near dials fall back on the shared bucket once theirs is spent, and refunds no more than a full bucket', () => {
    const { b } = budget();
    for (let i = 0; i < NEAR_CONNECTION_TOKEN_BURST + CONNECTION_TOKEN_BURST; i++) expect(b.take('near')).toBe(true);
    expect(b.take('near')).toBe(false);
    expect(b.take()).toBe(false);
    for (let i = 0; i < 2 * NEAR_CONNECTION_TOKEN_BURST; i++) b.nearDialSucceeded();
    for (let i = 0; i < NEAR_CONNECTION_TOKEN_BURST; i++) expect(b.take('near')).toBe(true);
    expect(b.take('near')).toBe(false);
  });

  it('caps connections at CONNECTION_CAP, whatever the tokens or the urgency', () => {
    const { b, setCreated } = budget();
    setCreated(CONNECTION_CAP - 1);
    expect(b.canCreate()).toBe(true);
    setCreated(CONNECTION_CAP);
    expect(b.canCreate()).toBe(false);
    expect(b.take()).toBe(false);
    expect(b.take('near')).toBe(false);
    expect(b.take('needed')).toBe(false);
  });

  it('refuses when out of tokens, and a canCreate question spends nothing', () => {
    const { b } = budget({ burst: 2 });
    expect(b.canCreate()).toBe(true);
    expect(b.canCreate()).toBe(true);
    expect(b.take()).toBe(true);
    expect(b.take()).toBe(true);
    expect(b.canCreate()).toBe(false);
    expect(b.take()).toBe(false);
    expect(b.take('needed')).toBe(true);
  });

  it('does not spend a token on a refusal for the cap', () => {
    const { b, setCreated } = budget({ burst: 1, cap: 100 });
    setCreated(100);
    expect(b.take()).toBe(false);
    setCreated(99);
    expect(b.take()).toBe(true);
  });

  it('tells a refused peer to wait at least a second, and until the next token', () => {
    const { clock, b } = budget({ burst: 1, tokensPerHour: 60 });
    expect(b.retryAfterMs()).toBe(1_000);
    b.take();
    expect(b.retryAfterMs()).toBe(60_000);
    clock.advance(59_500);
    expect(b.retryAfterMs()).toBe(1_000);
  });

  it('moves to a fresh process only when its connections are spent and too few peers are left', () => {
    const { b, setCreated } = budget();
    setCreated(CONNECTION_CAP - 1);
    expect(b.shouldMove(0)).toBe(false);
    expect(b.created).toBe(CONNECTION_CAP - 1);
    setCreated(CONNECTION_CAP);
    expect(b.shouldMove(MIN_PEERS_TO_STAY)).toBe(false);
    expect(b.shouldMove(MIN_PEERS_TO_STAY - 1)).toBe(true);
    expect(shouldMove(CONNECTION_CAP, 0)).toBe(true);
    expect(shouldMove(CONNECTION_CAP - 1, 0)).toBe(false);
  });
});

describe('a node’s lifetime connection cap', () => {
  async function nodeWith(connectionCap?: number) {
    const clock = new FakeClock();
    const random = new SeededRandom(7);
    const transport = new MemoryNetwork({ clock, random }).endpoint('a');
    const identity = await createIdentity(random);
    return new KademliaNode({ identity, transport, clock, random, createdBefore: () => CONNECTION_CAP, ...(connectionCap === undefined ? {} : { connectionCap }) });
  }

  it('is CONNECTION_CAP for a tab, and its owner may lift it (a headless node passes Infinity)', async () => {
    const tab = await nodeWith();
    expect(tab.budget.take('needed')).toBe(false);
    const headless = await nodeWith(Infinity);
    expect(headless.budget.take('needed')).toBe(true);
    expect(headless.budget.canCreate()).toBe(true);
    tab.close();
    headless.close();
  });
});

describe('OfferLimits', () => {
  it('holds each source to its bucket and all sources together to the total', () => {
    const limits = new OfferLimits(0);
    const fromOne = Array.from({ length: OFFER_BURST_PER_SOURCE + 1 }, () => limits.take('a', 0));
    expect(fromOne.filter((r) => r === null)).toHaveLength(OFFER_BURST_PER_SOURCE);
    expect(fromOne.at(-1)).toBe('source');
    const fresh = Array.from({ length: OFFER_BURST }, (_, i) => limits.take(`k${i}`, 0));
    expect(fresh.filter((r) => r === null)).toHaveLength(OFFER_BURST - OFFER_BURST_PER_SOURCE);
    expect(fresh.at(-1)).toBe('total');
    // The total refills at OFFERS_PER_HOUR.
    expect(limits.take('late', HOUR_MS / OFFERS_PER_HOUR)).toBeNull();
    expect(limits.take('later', HOUR_MS / OFFERS_PER_HOUR)).toBe('total');
  });
});

describe('RequestLimits', () => {
  it('admits a neighbour\'s burst, then its rate, and caps what it has in flight', () => {
    const limits = new RequestLimits();
    let admitted = 0;
    for (let i = 0; i < REQUEST_BURST_PER_NEIGHBOUR + 10; i++) {
      const r = limits.admit('a', 0);
      if (r === null) {
        admitted++;
        limits.done('a');
      } else expect(r).toBe('rate');
    }
    expect(admitted).toBe(REQUEST_BURST_PER_NEIGHBOUR);
    expect(limits.admit('a', 1_000 / REQUESTS_PER_NEIGHBOUR_PER_S)).toBeNull();
    // Another neighbour has its own bucket.
    for (let i = 0; i < MAX_REQUESTS_IN_FLIGHT_PER_NEIGHBOUR; i++) expect(limits.admit('b', 0)).toBeNull();
    expect(limits.admit('b', 0)).toBe('in-flight');
    limits.done('b');
    expect(limits.admit('b', 0)).toBeNull();
  });

  it('charges forwarded requests to the next hop, up to the send cap, apart from what neighbours send', () => {
    const limits = new RequestLimits();
    for (let i = 0; i < MAX_SENDS_IN_FLIGHT_PER_NEIGHBOUR; i++) expect(limits.charge('liar', 0, 'forwarded')).toBe(true);
    expect(limits.charge('liar', 0, 'forwarded')).toBe(false);
    // Another hop, and the liar's own requests, have accounts of their own.
    expect(limits.charge('other', 0, 'forwarded')).toBe(true);
    expect(limits.admit('liar', 0)).toBeNull();
    limits.settled('liar');
    expect(limits.charge('liar', 0, 'forwarded')).toBe(true);
  });

  it('sends a neighbour no more than it admits: own requests stop at the send bucket, forwarded ones do not', () => {
    expect(MAX_SENDS_IN_FLIGHT_PER_NEIGHBOUR).toBeLessThan(MAX_REQUESTS_IN_FLIGHT_PER_NEIGHBOUR);
    expect(SEND_BURST_PER_NEIGHBOUR).toBeLessThan(REQUEST_BURST_PER_NEIGHBOUR);
    expect(SENDS_PER_NEIGHBOUR_PER_S).toBeLessThan(REQUESTS_PER_NEIGHBOUR_PER_S);
    const limits = new RequestLimits();
    let sent = 0;
    while (limits.charge('peer', 0, 'own')) {
      limits.settled('peer');
      sent++;
    }
    expect(sent).toBe(SEND_BURST_PER_NEIGHBOUR);
    // A forwarded request still goes (the bucket does not hold it back), up to the cap.
    expect(limits.charge('peer', 0, 'forwarded')).toBe(true);
    // A token a second later at the send rate, and the receiving side admits all of it.
    expect(limits.charge('peer', 1_000 / SENDS_PER_NEIGHBOUR_PER_S, 'own')).toBe(true);
    const receiver = new RequestLimits();
    for (let i = 0; i < sent + 2; i++) {
      expect(receiver.admit('me', 0)).toBeNull();
      receiver.done('me');
    }
  });
});
