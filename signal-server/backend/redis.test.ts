/**
 * RedisBackend against a real redis-server (test-redis.ts): the contract every backend keeps,
 * then what only a networked backend does, with two backends on one Redis standing in for two
 * signal-server processes, and a Redis that goes away and comes back.
 */
import { createClient, type RedisClientType } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SeededRandom } from '../../shared/lib/random.ts';
import { encodeSignalMessage } from '../../shared/signal/protocol.ts';
import { SETTLED_TAB_MS } from '../limits.ts';
import { startRedis, until, type TestRedis } from '../test-redis.ts';
import { backendContract, RecordingTab } from './contract.ts';
import { RedisBackend, type RedisBackendOptions } from './redis.ts';
import { samplePayload } from '../../shared/signal/test-signals.ts';

let redis: TestRedis;
let prefixes = 0;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

/** Each contract test gets keys of its own on the shared Redis. */
backendContract('RedisBackend', (random, now) => RedisBackend.connect({ url: redis.url, random, now, prefix: `contract${++prefixes}:`, log: () => {} }));

const nodeId = (i: number) => i.toString(16).padStart(40, '0');
const signal = (from: string, to: string) => encodeSignalMessage({ type: 'signal', from, to, rid: 7, payload: samplePayload('c') });

describe('RedisBackend across processes', () => {
  const open: RedisBackend[] = [];
  afterEach(async () => {
    for (const b of open.splice(0)) await b.close();
  });
  /** Two backends sharing a prefix: two signal-server processes on one Redis. */
  async function processes(count: number, options: Partial<RedisBackendOptions> = {}): Promise<RedisBackend[]> {
    const prefix = `cross${++prefixes}:`;
    for (let i = 0; i < count; i++) open.push(await RedisBackend.connect({ url: redis.url, random: new SeededRandom(i + 1), prefix, log: () => {}, ...options }));
    return open.slice(-count);
  }

  it('relays a frame from one process to a tab on the other, says busy and not-found as that tab would, and knows it is a tab', async () => {
    const [a, b] = await processes(2);
    const onB = new RecordingTab(nodeId(2));
    await b!.register(onB);
    const frame = signal(nodeId(1), onB.id);
    expect(await a!.relay(onB.id, frame)).toBe('delivered');
    expect(onB.frames).toEqual([frame]);
    onB.busy = true;
    expect(await a!.relay(onB.id, frame)).toBe('busy');
    expect(await a!.relay(nodeId(3), signal(nodeId(1), nodeId(3)))).toBe('not-found');
    expect(await a!.isTab(onB.id)).toBe(true);
    expect(await a!.isTab(nodeId(3))).toBe(false);
    await b!.unregister(onB);
    expect(await a!.relay(onB.id, frame)).toBe('not-found');
    expect(await a!.isTab(onB.id)).toBe(false);
    expect(onB.frames).toEqual([frame]);
  });

  it('draws the settled tabs of both processes, and a reconnect to the other process starts settling over', async () => {
    let now = 1_700_000_000_000;
    const [a, b] = await processes(2, { now: () => now });
    const tabs = [1, 2, 3, 4, 5].map((i) => new RecordingTab(nodeId(i)));
    for (const [i, tab] of tabs.entries()) await (i % 2 === 0 ? a! : b!).register(tab);
    now += SETTLED_TAB_MS;
    expect(new Set(await b!.pickPeers(nodeId(1), 8))).toEqual(new Set(tabs.slice(1).map((t) => t.id)));
    await a!.register(new RecordingTab(nodeId(2))); // was on b
    for (let i = 0; i < 5; i++) expect(new Set(await b!.pickPeers(nodeId(1), 3))).toEqual(new Set([nodeId(3), nodeId(4), nodeId(5)]));
    expect((await b!.pickPeers(nodeId(1), 4))[3]).toBe(nodeId(2));
  });

  it('tells a tab on one process once that the same id registered on another, and relays reach the new one', async () => {
    const [a, b] = await processes(2);
    const old = new RecordingTab(nodeId(2));
    await a!.register(old);
    const moved = new RecordingTab(nodeId(2));
    await b!.register(moved);
    await until('the old tab hears it was replaced', () => old.replacedCalls === 1);
    await a!.unregister(old); // its socket closing must not take the new registration with it
    const frame = signal(nodeId(1), old.id);
    expect(await a!.relay(old.id, frame)).toBe('delivered');
    expect([old.frames, moved.frames, old.replacedCalls, moved.replacedCalls]).toEqual([[], [frame], 1, 0]);
    expect(await a!.pickPeers(nodeId(1), 8)).toEqual([old.id]);
  });

  it('forgets the tabs of a process that died: relays miss them and they are not handed out', async () => {
    // The expiry is 10 heartbeats, so a loaded machine's late timer does not expire a live tab.
    const [a, dying] = await processes(2, { timings: { presenceTtlMs: 1_000, heartbeatMs: 100 } });
    const onA = new RecordingTab(nodeId(1));
    await a!.register(onA);
    await dying!.register(new RecordingTab(nodeId(2)));
    await dying!.register(new RecordingTab(nodeId(3)));
    await dying!.close(); // gone without unregistering, as a killed process is
    // A relay finds no one listening on the dead process's channel and forgets that tab at once;
    // the other expires with its presence.
    expect(await a!.relay(nodeId(2), signal(nodeId(1), nodeId(2)))).toBe('not-found');
    await until('the dead process has expired', async () => (await a!.pickPeers(nodeId(9), 8)).length === 1);
    expect(await a!.pickPeers(nodeId(9), 8)).toEqual([onA.id]);
  });

  it('keeps its own tabs registered past the expiry by refreshing them', async () => {
    const [a, b] = await processes(2, { timings: { presenceTtlMs: 600, heartbeatMs: 50 } });
    const tab = new RecordingTab(nodeId(2));
    await b!.register(tab);
    const since = Date.now();
    await until('three expiries have passed', () => Date.now() - since > 1_800);
    expect(await a!.relay(tab.id, signal(nodeId(1), tab.id))).toBe('delivered');
  });
});

describe('RedisBackend and what other processes publish (they may be buggy)', () => {
  let backend: RedisBackend;
  let publisher: RedisClientType;
  beforeAll(async () => {
    backend = await RedisBackend.connect({ url: redis.url, random: new SeededRandom(1), prefix: 'bus:', log: () => {} });
    publisher = createClient({ url: redis.url }) as RedisClientType;
    await publisher.connect();
  });
  afterAll(async () => {
    await backend?.close();
    publisher?.destroy();
  });

  it('drops relays that are not a signal for the tab they name, and malformed messages, and keeps serving', async () => {
    const tab = new RecordingTab(nodeId(2));
    await backend.register(tab);
    const channel = `bus:proc:${backend.process}`;
    const relay = (to: string, frame: string) => JSON.stringify({ k: 'relay', rid: 1, from: 'ab'.repeat(8), to, frame });
    const forged = [
      relay(tab.id, signal(nodeId(1), nodeId(3))), // a frame addressed to another tab
      relay(tab.id, '{"type":"welcome"}'), // not a relayed signal
      relay(tab.id, 'x'.repeat(40_000)),
      JSON.stringify({ k: 'replaced', id: tab.id, owner: 'not an owner' }),
      JSON.stringify({ k: 'replaced', id: tab.id, owner: `${'cd'.repeat(8)}/1` }), // not its registration
      '{"k":"relay"',
      'x'.repeat(100_000),
    ];
    for (const message of forged) await publisher.publish(channel, message);
    const good = signal(nodeId(1), tab.id);
    await publisher.publish(channel, relay(tab.id, good));
    await until('the good relay arrives', () => tab.frames.length > 0);
    expect(tab.frames).toEqual([good]);
    expect(tab.replacedCalls).toBe(0);
  });

  it('tells a tab it was replaced at the next heartbeat when the notice never came', async () => {
    const beating = await RedisBackend.connect({ url: redis.url, random: new SeededRandom(2), prefix: 'quiet:', log: () => {}, timings: { heartbeatMs: 50 } });
    try {
      const tab = new RecordingTab(nodeId(4));
      await beating.register(tab);
      await publisher.set(`quiet:tab:${tab.id}`, `${'ef'.repeat(8)}/1`); // another process, silently
      await until('the tab hears it', () => tab.replacedCalls === 1);
      expect(await beating.relay(tab.id, signal(nodeId(1), tab.id))).toBe('not-found'); // that process is not listening
      expect(tab.frames).toEqual([]);
    } finally {
      await beating.close();
    }
  });
});

describe('RedisBackend when Redis goes away and comes back', () => {
  let own: TestRedis;
  const open: RedisBackend[] = [];
  beforeAll(async () => {
    own = await startRedis();
  });
  afterAll(async () => {
    for (const b of open) await b.close();
    await own?.stop();
  });

  it('serves its own tabs alone while Redis is down, says so once, and puts them back when it returns', async () => {
    const lines: string[][] = [[], []];
    let now = 1_700_000_000_000;
    for (const i of [0, 1]) open.push(await RedisBackend.connect({ url: own.url, random: new SeededRandom(i + 1), now: () => now, prefix: 'down:', log: (line) => lines[i]!.push(line), timings: { heartbeatMs: 100 } }));
    const [a, b] = open;
    const [a1, a2] = [new RecordingTab(nodeId(1)), new RecordingTab(nodeId(2))];
    await a!.register(a1);
    await b!.register(new RecordingTab(nodeId(3)));
    expect([a!.state(), b!.state()]).toEqual(['ok', 'ok']);

    await own.stop(); // nothing saved: it comes back empty
    await until('both processes notice', () => a!.state() === 'degraded' && b!.state() === 'degraded');
    now += SETTLED_TAB_MS;
    await a!.register(a2);
    expect(await a!.relay(a2.id, signal(nodeId(1), a2.id))).toBe('delivered');
    expect(await a!.relay(nodeId(3), signal(nodeId(1), nodeId(3)))).toBe('not-found'); // on b
    expect(new Set(await a!.pickPeers(nodeId(9), 8))).toEqual(new Set([a1.id, a2.id]));
    // Its own tabs are connected for sure; whether b's is, or any other id, it cannot say.
    expect([await a!.isTab(a1.id), await a!.isTab(a2.id)]).toEqual([true, true]);
    await expect(a!.isTab(nodeId(3))).rejects.toThrow(/unreachable/);
    await expect(a!.isTab(nodeId(9))).rejects.toThrow(/unreachable/);

    await own.start();
    await until('both processes are back', () => a!.state() === 'ok' && b!.state() === 'ok', 15_000);
    expect(await b!.relay(a2.id, signal(nodeId(3), a2.id))).toBe('delivered'); // registered while down
    expect([await b!.isTab(a2.id), await a!.isTab(nodeId(3)), await a!.isTab(nodeId(9))]).toEqual([true, true, false]);
    expect(new Set(await b!.pickPeers(nodeId(9), 8))).toEqual(new Set([a1.id, a2.id, nodeId(3)]));
    // Put back with the times they registered at: the two registered before the outage are
    // settled, the one registered during it is not.
    for (let i = 0; i < 5; i++) expect(new Set(await b!.pickPeers(nodeId(9), 2))).toEqual(new Set([a1.id, nodeId(3)]));
    const where = `redis://127.0.0.1:${own.port}`;
    expect(lines[0]).toEqual([`Redis unreachable at ${where}: relaying locally`, `Redis at ${where} is back: relaying across processes again`]);
  });

  it('starts degraded when Redis is not there, and joins it when it comes', async () => {
    await own.stop();
    const lines: string[] = [];
    const late = await RedisBackend.connect({ url: own.url, random: new SeededRandom(3), prefix: 'late:', log: (line) => lines.push(line), timings: { connectWaitMs: 200 } });
    open.push(late);
    expect(late.state()).toBe('degraded');
    await own.start();
    await until('it joins', () => late.state() === 'ok', 15_000);
    expect(lines).toHaveLength(2);
  });
});
