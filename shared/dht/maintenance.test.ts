/**
 * Upkeep's per-peer dial backoff on a fake clock, with a stand-in for the node: how soon a peer
 * whose dial failed is dialed again, from the overlay (learn) and from the bootstrap service.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../lib/clock.ts';
import { ErrorCode, PeerchatError } from '../lib/errors.ts';
import { ID_BYTES, idToHex } from '../lib/id.ts';
import { SeededRandom } from '../lib/random.ts';
import { Stats } from '../lib/stats.ts';
import { NEAR_ONLY_CONNECTIONS_LEFT } from './constants.ts';
import { ANCHOR_INTERVAL_MS, CENSUS_MAX_AGE_MS, CENSUS_PEERS, CENSUS_WAIT_MS, DIAL_BACKOFF_MS, ICE_BACKOFF_MS, Maintenance, type UpkeepHost } from './maintenance.ts';
import type { Peer } from './channels.ts';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

type Outcome = 'ice' | 'timeout' | 'ok' | 'last-connection' | 'busy';

/**
 * A node with no channel (or `channels` of them), whose every dial ends as `outcome()` says;
 * `dials` records them. A BUSY peer says to retry in 2 s.
 */
function setup(o: { bootstrapPeers?: string[]; live?: number; farOnly?: boolean; channels?: number } = {}) {
  const clock = new FakeClock(0);
  const random = new SeededRandom(3);
  const self = random.bytes(ID_BYTES);
  const peer = idToHex(random.bytes(ID_BYTES));
  const dials: { hex: string; at: number }[] = [];
  const channels = Array.from({ length: o.channels ?? 0 }, () => {
    const id = random.bytes(ID_BYTES);
    return { id, hex: idToHex(id) } as unknown as Peer;
  });
  const asked: number[] = [];
  const peers = (_self: string, n: number) => {
    asked.push(n);
    return Promise.resolve({ ids: o.bootstrapPeers!.slice(0, n), ...(o.live === undefined ? {} : { live: o.live }) });
  };
  let outcome: Outcome = 'ice';
  let left = 100;
  const dial = vi.fn((hex: string) => {
    dials.push({ hex, at: clock.now() });
    if (outcome === 'ok') return Promise.resolve({ hex } as unknown as Peer);
    if (outcome === 'last-connection') {
      left = 0; // an inbound connection took the last one just before this dial
      return Promise.reject(new PeerchatError(ErrorCode.BudgetExhausted, 'Out of connection budget'));
    }
    if (outcome === 'busy') return Promise.reject(new PeerchatError(ErrorCode.Busy, 'Peer is busy; retry in 2000 ms', 2 * SECOND));
    return Promise.reject(outcome === 'ice' ? new PeerchatError(ErrorCode.IceFailed, 'ice failed') : new PeerchatError(ErrorCode.Timeout, 'No channel'));
  });
  const host = {
    id: self,
    hex: idToHex(self),
    config: { replication: 8, farChannelsPerBucket: 1, maxDhtChannels: 48, bootstrapPeers: 3 },
    clock,
    ticker: clock,
    random,
    stats: new Stats(),
    bootstrap: o.bootstrapPeers ? { peers, exchange: () => Promise.resolve({ data: [] }) } : undefined,
    // Every candidate is in the near subtree, so each one learned is dialed unless backed off
    // (`farOnly`: none is, and each is in an empty far bucket).
    table: { nearBoundary: () => (o.farOnly ? -1 : 159), connectedIn: () => 0, bucket: () => [], wanted: () => [] },
    channels: { peers: new Map<string, Peer>(), connecting: () => false, dial },
    budget: { canCreate: () => true, retryAfterMs: () => MINUTE, left: () => left },
    neighbours: () => channels,
    closestTo: () => [],
    estimatedSize: () => 2,
    overlayPath: () => () => Promise.resolve({ data: [] }),
    recheckServices: () => Promise.resolve(),
  } as unknown as UpkeepHost;
  const maintenance = new Maintenance(host);
  const learnEvery = async (periodMs: number, forMs: number) => {
    for (const end = clock.now() + forMs; clock.now() < end; ) {
      maintenance.learn([{ id: random.bytes(ID_BYTES), hex: peer }]);
      await flush();
      clock.advance(periodMs);
    }
  };
  const gaps = () => dials.slice(1).map((d, i) => d.at - dials[i]!.at);
  return {
    clock, random, host, maintenance, peer, dials, gaps, learnEvery, asked,
    setOutcome: (next: Outcome) => (outcome = next),
    setLeft: (n: number) => (left = n),
  };
}

let running: Maintenance | null = null;
afterEach(() => running?.close());

describe("upkeep's dial backoff", () => {
  it('redials a peer ICE could not reach after 30 s, then doubling to 10 minutes, with jitter', async () => {
    const t = setup();
    running = t.maintenance;
    // Asked to dial it every 5 s for an hour, as lookups and near checks would name it.
    await t.learnEvery(5 * SECOND, 60 * MINUTE);
    const gaps = t.gaps();
    for (const [i, gap] of gaps.entries()) {
      const base = Math.min(DIAL_BACKOFF_MS, ICE_BACKOFF_MS * 2 ** i);
      expect(gap).toBeGreaterThanOrEqual(0.75 * base);
      expect(gap).toBeLessThanOrEqual(1.25 * base + 5 * SECOND);
    }
    expect(gaps[0]).toBeLessThanOrEqual(45 * SECOND);
    // 30 s, 1, 2, 4, 8 min and then every 10: about 10 dials in the hour, not 720.
    expect(t.dials.length).toBeGreaterThanOrEqual(8);
    expect(t.dials.length).toBeLessThanOrEqual(12);
    expect(t.host.stats.get('dial-failed-ICE_FAILED')).toBe(t.dials.length);
  });

  it('starts the ICE backoff over once a dial to the peer succeeds', async () => {
    const t = setup();
    running = t.maintenance;
    await t.learnEvery(5 * SECOND, 4 * MINUTE); // four failures: the next wait is about 4 minutes
    expect(t.dials.length).toBe(4);
    t.setOutcome('ok');
    await t.learnEvery(5 * SECOND, 6 * MINUTE);
    expect(t.dials.length).toBeGreaterThan(4);
    const okUntil = t.dials.length;
    t.setOutcome('ice');
    await t.learnEvery(5 * SECOND, 2 * MINUTE);
    // The first dial after the success fails at ICE and starts a new series: 30 s again.
    const after = t.dials.slice(okUntil);
    expect(after.length).toBeGreaterThanOrEqual(2);
    expect(after[1]!.at - after[0]!.at).toBeLessThanOrEqual(45 * SECOND);
  });

  it('keeps the flat 10-minute backoff for other failures, drawing no randomness for it', async () => {
    const t = setup();
    running = t.maintenance;
    t.setOutcome('timeout');
    const float = vi.spyOn(t.random, 'float');
    await t.learnEvery(5 * SECOND, 35 * MINUTE);
    expect(t.gaps().every((gap) => gap >= DIAL_BACKOFF_MS && gap <= DIAL_BACKOFF_MS + 5 * SECOND)).toBe(true);
    expect(t.dials.length).toBe(4);
    expect(float).not.toHaveBeenCalled();
  });

  it.each([
    { channels: 2, short: true },
    { channels: 3, short: false },
  ])('redials a BUSY peer when it said to only while short of channels ($channels channels)', async ({ channels, short }) => {
    const t = setup({ channels });
    running = t.maintenance;
    t.setOutcome('busy');
    // Named every 5 s, as lookups would name it.
    await t.learnEvery(5 * SECOND, 2 * MINUTE);
    if (short) {
      // A reloaded tab whose peers still count its last page's offers: each says 2 s, and the
      // peer is dialed at the first chance after that (the connection budget paces the rest).
      expect(t.gaps().every((gap) => gap === 5 * SECOND)).toBe(true);
      expect(t.dials.length).toBe(24);
      expect(t.host.stats.get('busy-retry-soon')).toBe(24);
    } else {
      expect(t.dials.length).toBe(1);
      expect(t.host.stats.get('busy-retry-soon')).toBe(0);
    }
  });

  it('skips a first peer ICE could not reach when a node short of channels asks the bootstrap service again', async () => {
    const peer = idToHex(new SeededRandom(9).bytes(ID_BYTES));
    const t = setup({ bootstrapPeers: [peer] });
    running = t.maintenance;
    void t.maintenance.join();
    for (let i = 0; i < 10 * 60; i++) {
      await flush();
      t.clock.advance(SECOND);
    }
    // The retries come after 2, 4, 8, 16 s...; the peer is dialed only once its backoff ends.
    const gaps = t.gaps();
    expect(gaps.length).toBeGreaterThanOrEqual(3);
    expect(gaps[0]).toBeGreaterThanOrEqual(0.75 * ICE_BACKOFF_MS);
    expect(gaps[1]).toBeGreaterThanOrEqual(0.75 * 2 * ICE_BACKOFF_MS);
    expect(t.host.stats.get('bootstrap-dial-failed-ICE_FAILED')).toBe(t.dials.length);
  });

  it('still redials a first peer through the bootstrap service at once after other failures', async () => {
    const peer = idToHex(new SeededRandom(9).bytes(ID_BYTES));
    const t = setup({ bootstrapPeers: [peer] });
    running = t.maintenance;
    t.setOutcome('timeout');
    void t.maintenance.join();
    for (let i = 0; i < 30; i++) {
      await flush();
      t.clock.advance(SECOND);
    }
    expect(t.gaps()[0]).toBeLessThan(5 * SECOND);
  });
});

describe('anchoring: a node short of channels reaches past them through the bootstrap service', () => {
  const ids = (n: number, seed: number) => Array.from({ length: n }, () => idToHex(new SeededRandom(seed++).bytes(ID_BYTES)));

  it('dials the r random nodes the service names through the server, skipping its channels, once per interval', async () => {
    const named = ids(8, 40);
    const t = setup({ bootstrapPeers: named, channels: 3 });
    running = t.maintenance;
    (t.host.channels.peers as Map<string, Peer>).set(named[0]!, { hex: named[0] } as unknown as Peer);
    t.setOutcome('ok');
    expect(await t.maintenance.anchor(8)).toBe(true);
    await flush();
    expect(t.dials.map((d) => d.hex)).toEqual(named.slice(1));
    expect(t.host.stats.get('dials-via-bootstrap')).toBe(7);
    expect(t.host.stats.get('anchor-dials')).toBe(7);
    // Within the interval: the same answer, no second round of dials.
    t.clock.advance(ANCHOR_INTERVAL_MS - 1);
    expect(await t.maintenance.anchor(8)).toBe(true);
    await flush();
    expect(t.dials).toHaveLength(7);
    t.clock.advance(1);
    expect(await t.maintenance.anchor(8)).toBe(true);
    await flush();
    expect(t.dials).toHaveLength(14);
  });

  it('says the network is no larger than r + 1 nodes when the service names fewer than r, and dials none', async () => {
    const t = setup({ bootstrapPeers: ids(5, 60), channels: 5 });
    running = t.maintenance;
    expect(await t.maintenance.anchor(8)).toBe(false);
    await flush();
    expect(t.dials).toHaveLength(0);
  });

  it('a service that does not answer cannot say the network is small', async () => {
    const t = setup({ channels: 2 });
    (t.host as { bootstrap: unknown }).bootstrap = { peers: () => Promise.reject(new PeerchatError(ErrorCode.Timeout, 'no answer')), exchange: () => Promise.resolve({ data: [] }) };
    running = t.maintenance;
    expect(await t.maintenance.anchor(8)).toBe(true);
    expect(t.host.stats.get('bootstrap-failed-TIMEOUT')).toBe(1);
    expect(t.dials).toHaveLength(0);
  });
});

describe('the network’s size, as the bootstrap service counts it', () => {
  const named = Array.from({ length: 8 }, (_, i) => idToHex(new SeededRandom(70 + i).bytes(ID_BYTES)));

  it('is the count the last answer gave, asked for again (CENSUS_PEERS peers) once older than CENSUS_MAX_AGE_MS', async () => {
    const t = setup({ bootstrapPeers: named, live: 1_000, channels: 3 });
    running = t.maintenance;
    expect(await t.maintenance.anchor(8)).toBe(true);
    expect(t.asked).toEqual([8]);
    // Heard with the anchoring's answer: no second ask.
    expect(await t.maintenance.networkSize()).toBe(1_000);
    t.clock.advance(CENSUS_MAX_AGE_MS - 1);
    expect(await t.maintenance.networkSize()).toBe(1_000);
    expect(t.asked).toEqual([8]);
    // Stale: one ask, shared by the reads that want it meanwhile.
    t.clock.advance(1);
    const [a, b] = await Promise.all([t.maintenance.networkSize(), t.maintenance.networkSize()]);
    expect([a, b]).toEqual([1_000, 1_000]);
    expect(t.asked).toEqual([8, CENSUS_PEERS]);
  });

  it('names the last answer’s nodes as strangers, never this node, and none without a service', async () => {
    const ids = named.slice(0, 2);
    const t = setup({ bootstrapPeers: ids, live: 1_000, channels: 3 });
    ids.push(t.host.hex);
    running = t.maintenance;
    expect(t.maintenance.strangers()).toEqual([]);
    expect(await t.maintenance.networkSize()).toBe(1_000);
    expect(t.maintenance.strangers()).toEqual(named.slice(0, 2));
    const none = setup();
    expect(await none.maintenance.networkSize()).toBeNull();
    expect(none.maintenance.strangers()).toEqual([]);
    none.maintenance.close();
  });

  it('is unknown without a service, or from a service that gives no count', async () => {
    const none = setup();
    running = none.maintenance;
    expect(await none.maintenance.networkSize()).toBeNull();
    const older = setup({ bootstrapPeers: named });
    expect(await older.maintenance.networkSize()).toBeNull();
    expect(older.asked).toEqual([CENSUS_PEERS]);
    // It said nothing, which is its answer for CENSUS_MAX_AGE_MS.
    expect(await older.maintenance.networkSize()).toBeNull();
    expect(older.asked).toEqual([CENSUS_PEERS]);
    older.maintenance.close();
  });

  it('keeps the last count while the service does not answer, and asks again after ANCHOR_INTERVAL_MS', async () => {
    const t = setup({ bootstrapPeers: named, live: 500, channels: 3 });
    running = t.maintenance;
    expect(await t.maintenance.networkSize()).toBe(500);
    const boot = t.host.bootstrap as { peers: (self: string, n: number) => Promise<unknown> };
    const working = boot.peers;
    boot.peers = () => Promise.reject(new PeerchatError(ErrorCode.Timeout, 'no answer'));
    t.clock.advance(CENSUS_MAX_AGE_MS);
    expect(await t.maintenance.networkSize()).toBe(500);
    expect(t.host.stats.get('bootstrap-failed-TIMEOUT')).toBe(1);
    t.clock.advance(ANCHOR_INTERVAL_MS - 1);
    expect(await t.maintenance.networkSize()).toBe(500);
    expect(t.host.stats.get('bootstrap-failed-TIMEOUT')).toBe(1);
    boot.peers = working;
    t.clock.advance(1);
    expect(await t.maintenance.networkSize()).toBe(500);
    expect(t.asked).toEqual([CENSUS_PEERS, CENSUS_PEERS]);
  });

  it('does not hold a lookup up past CENSUS_WAIT_MS for a service that is slow to answer', async () => {
    const t = setup({ bootstrapPeers: named, live: 500, channels: 3 });
    running = t.maintenance;
    expect(await t.maintenance.networkSize()).toBe(500);
    const boot = t.host.bootstrap as { peers: (self: string, n: number) => Promise<unknown> };
    let answer: (a: unknown) => void = () => {};
    boot.peers = () => new Promise((resolve) => (answer = resolve));
    t.clock.advance(CENSUS_MAX_AGE_MS);
    let size: number | null | undefined;
    void t.maintenance.networkSize().then((s) => (size = s));
    t.clock.advance(CENSUS_WAIT_MS - 1);
    await flush();
    expect(size).toBeUndefined();
    t.clock.advance(1);
    await flush();
    expect(size).toBe(500);
    // Its late answer still counts, for the next lookup.
    answer({ ids: [], live: 600 });
    await flush();
    expect(await t.maintenance.networkSize()).toBe(600);
  });
});

describe('upkeep at the connection cap', () => {
  it('dials nothing once the cap is spent, and says so once', async () => {
    const t = setup();
    running = t.maintenance;
    t.setLeft(0);
    await t.learnEvery(5 * SECOND, 10 * MINUTE);
    expect(t.dials).toHaveLength(0);
    expect(t.host.stats.get('upkeep-stopped-at-cap')).toBe(1);
  });

  it('does not retry a dial the cap refused', async () => {
    const t = setup();
    running = t.maintenance;
    t.setLeft(1);
    t.setOutcome('last-connection');
    t.maintenance.learn([{ id: t.random.bytes(ID_BYTES), hex: t.peer }]);
    await flush();
    expect(t.dials).toHaveLength(1);
    // A refusal below the cap waits for tokens (retryAfterMs); at the cap nothing is scheduled.
    expect(t.clock.pending).toBe(0);
    expect(t.host.stats.get('upkeep-stopped-at-cap')).toBe(1);
  });

  it('dials only its near subtree with NEAR_ONLY_CONNECTIONS_LEFT connections left', async () => {
    const t = setup({ farOnly: true });
    running = t.maintenance;
    t.setOutcome('timeout');
    t.setLeft(NEAR_ONLY_CONNECTIONS_LEFT + 1);
    t.maintenance.learn([{ id: t.random.bytes(ID_BYTES), hex: t.peer }]);
    await flush();
    expect(t.dials).toHaveLength(1);
    t.setLeft(NEAR_ONLY_CONNECTIONS_LEFT);
    t.maintenance.learn([{ id: t.random.bytes(ID_BYTES), hex: idToHex(t.random.bytes(ID_BYTES)) }]);
    await flush();
    expect(t.dials).toHaveLength(1);
  });
});
