/**
 * The contract every SignalBackend keeps, as one vitest suite (STYLE habit 6): memory.test.ts
 * runs it against MemoryBackend, and a networked backend's test file runs it against that one.
 * It drives one backend as one process's hub would, with recording tabs in place of sockets.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SeededRandom, type Random } from '../../shared/lib/random.ts';
import { SETTLED_TAB_MS } from '../limits.ts';
import type { DeliverResult, LocalTab, SignalBackend } from './backend.ts';

/**
 * Returns a fresh backend with no tab registered, timing registrations by `now` and settling
 * them after SETTLED_TAB_MS; the suite closes it after each test.
 */
export type MakeBackend = (random: Random, now: () => number) => SignalBackend | Promise<SignalBackend>;

/** A LocalTab that keeps what reached it; `busy` makes it refuse, as a tab not reading would. */
export class RecordingTab implements LocalTab {
  readonly frames: string[] = [];
  replacedCalls = 0;
  busy = false;

  constructor(readonly id: string) {}

  deliver(frame: string): DeliverResult {
    if (this.busy) return 'busy';
    this.frames.push(frame);
    return 'delivered';
  }

  replaced(): void {
    this.replacedCalls++;
  }
}

/** A node id, as the hub passes them: 40 lowercase hex digits. */
const nodeId = (i: number) => i.toString(16).padStart(40, '0');
const FRAME = '{"type":"signal","from":"ab","to":"cd","rid":1,"payload":{"conn":"c","data":[]}}';

export function backendContract(name: string, makeBackend: MakeBackend): void {
  describe(`SignalBackend contract: ${name}`, () => {
    const open: SignalBackend[] = [];
    /** The fake clock every backend of the suite times registrations by (ms). */
    let now = 1_700_000_000_000;
    const settle = () => (now += SETTLED_TAB_MS);
    afterEach(async () => {
      for (const b of open.splice(0)) await b.close();
    });
    async function fresh(seed = 1): Promise<SignalBackend> {
      const b = await makeBackend(new SeededRandom(seed), () => now);
      open.push(b);
      return b;
    }
    async function registered(b: SignalBackend, count: number, first = 1): Promise<RecordingTab[]> {
      const tabs = Array.from({ length: count }, (_, i) => new RecordingTab(nodeId(first + i)));
      for (const tab of tabs) await b.register(tab);
      return tabs;
    }
    const ids = (tabs: RecordingTab[]) => tabs.map((tab) => tab.id);

    it('relays a frame unchanged to the registered tab and answers not-found for any other id', async () => {
      const b = await fresh();
      const [tab] = await registered(b, 1);
      expect(await b.relay(tab!.id, FRAME)).toBe('delivered');
      expect(tab!.frames).toEqual([FRAME]);
      expect(await b.relay(nodeId(99), FRAME)).toBe('not-found');
    });

    it('answers busy when the tab refuses, and the frame does not arrive', async () => {
      const b = await fresh();
      const [tab] = await registered(b, 1);
      tab!.busy = true;
      expect(await b.relay(tab!.id, FRAME)).toBe('busy');
      expect(tab!.frames).toEqual([]);
    });

    it('forgets an unregistered tab: relays miss it and it is never handed out again', async () => {
      const b = await fresh();
      const [asker, gone, stays] = await registered(b, 3);
      await b.unregister(gone!);
      expect(await b.relay(gone!.id, FRAME)).toBe('not-found');
      expect(gone!.frames).toEqual([]);
      expect(await b.pickPeers(asker!.id, 8)).toEqual([stays!.id]);
    });

    it('lets a second registration of an id replace the first, which hears of it once and gets nothing more', async () => {
      const b = await fresh();
      const [asker, old] = await registered(b, 2);
      const reloaded = new RecordingTab(old!.id);
      await b.register(reloaded);
      expect([old!.replacedCalls, reloaded.replacedCalls]).toEqual([1, 0]);
      // The old socket closing afterwards must not take the new registration with it.
      await b.unregister(old!);
      expect(await b.relay(old!.id, FRAME)).toBe('delivered');
      expect([old!.frames, reloaded.frames]).toEqual([[], [FRAME]]);
      expect(await b.pickPeers(asker!.id, 8)).toEqual([old!.id]);
    });

    it('counts the registered tabs: a second registration of an id is one tab, an unregistered one none', async () => {
      const b = await fresh();
      expect(await b.live()).toBe(0);
      const [, second, third] = await registered(b, 3);
      expect(await b.live()).toBe(3);
      await b.register(new RecordingTab(second!.id));
      expect(await b.live()).toBe(3);
      await b.unregister(third!);
      expect(await b.live()).toBe(2);
    });

    it('says a registered id is a tab, and an unknown or unregistered one is not', async () => {
      const b = await fresh();
      const [asker, gone, stays] = await registered(b, 3);
      await b.unregister(gone!);
      expect(await b.isTab(stays!.id)).toBe(true);
      expect(await b.isTab(asker!.id)).toBe(true); // a tab asking about itself
      expect(await b.isTab(gone!.id)).toBe(false);
      expect(await b.isTab(nodeId(99))).toBe(false);
    });

    it('keeps saying an id is a tab when a second registration replaced the first and the first unregisters', async () => {
      const b = await fresh();
      const [old] = await registered(b, 1);
      await b.register(new RecordingTab(old!.id));
      await b.unregister(old!);
      expect(await b.isTab(old!.id)).toBe(true);
    });

    it('hands out up to n registered ids, each once and never the asker', async () => {
      const b = await fresh();
      expect(await b.pickPeers(nodeId(1), 8)).toEqual([]);
      const [asker, ...others] = await registered(b, 5);
      const three = await b.pickPeers(asker!.id, 3);
      expect(three).toHaveLength(3);
      expect(new Set(three).size).toBe(3);
      for (const id of three) expect(others.map((t) => t.id)).toContain(id);
      expect(new Set(await b.pickPeers(asker!.id, 8))).toEqual(new Set(others.map((t) => t.id)));
    });

    it('still bootstraps a young network: the second tab ever gets the first, though neither is settled', async () => {
      const b = await fresh();
      const [first, second] = await registered(b, 2);
      expect(await b.pickPeers(second!.id, 8)).toEqual([first!.id]);
      expect(await b.pickPeers(first!.id, 8)).toEqual([second!.id]);
    });

    it('draws from settled tabs first, and fills up from unsettled ones only when too few are settled', async () => {
      const b = await fresh();
      const [asker, ...old] = await registered(b, 4);
      settle();
      const young = await registered(b, 4, 10);
      for (let i = 0; i < 10; i++) {
        const two = await b.pickPeers(asker!.id, 2);
        expect(two).toHaveLength(2);
        for (const id of two) expect(ids(old)).toContain(id);
      }
      const five = await b.pickPeers(asker!.id, 5);
      expect(new Set(five.slice(0, 3))).toEqual(new Set(ids(old)));
      for (const id of five.slice(3)) expect(ids(young)).toContain(id);
      expect(new Set(five).size).toBe(5);
    });

    it('starts settling over when an id registers again, as a reconnect does', async () => {
      const b = await fresh();
      const [asker, stays, reconnects] = await registered(b, 3);
      settle();
      now += 1_000;
      await b.register(new RecordingTab(reconnects!.id));
      for (let i = 0; i < 5; i++) expect(await b.pickPeers(asker!.id, 1)).toEqual([stays!.id]);
      now += SETTLED_TAB_MS - 1;
      expect(await b.pickPeers(asker!.id, 1)).toEqual([stays!.id]);
      now += 1;
      expect(new Set(await b.pickPeers(asker!.id, 2))).toEqual(new Set([stays!.id, reconnects!.id]));
    });

    it('first peers are drawn from settled tabs, so ids that reconnect before every join are not handed out', async () => {
      const b = await fresh();
      const honest = await registered(b, 30);
      settle();
      const attackers = [nodeId(0xa1), nodeId(0xa2)];
      const handedOut = new Map<string, number>();
      for (let join = 0; join < 60; join++) {
        for (const id of attackers) await b.register(new RecordingTab(id)); // reconnect just before the join
        const newcomer = new RecordingTab(nodeId(0x1000 + join));
        await b.register(newcomer);
        for (const id of await b.pickPeers(newcomer.id, 2)) handedOut.set(id, (handedOut.get(id) ?? 0) + 1);
        now += 10_000; // a join every 10 s: the attackers' ids never stay registered 2 minutes
      }
      expect(attackers.map((id) => handedOut.get(id) ?? 0)).toEqual([0, 0]);
      // Joins are all served from settled tabs: the 30 honest ones, then newcomers as they settle.
      expect([...handedOut.values()].reduce((a, c) => a + c, 0)).toBe(120);
      for (const id of handedOut.keys()) expect(ids(honest).includes(id) || BigInt(`0x${id}`) >= 0x1000n).toBe(true);
    });

    it('spreads first peers uniformly over the settled tabs instead of handing out the same ones', async () => {
      const b = await fresh(7);
      const [asker, ...settled] = await registered(b, 31);
      settle();
      const counts = new Map<string, number>();
      const picks = 300;
      for (let i = 0; i < picks; i++) {
        for (const id of await b.pickPeers(asker!.id, 2)) counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      // 600 draws over 30 tabs: 20 each on average. Every tab is drawn, none far from its share.
      expect(counts.size).toBe(settled.length);
      expect(Math.min(...counts.values())).toBeGreaterThanOrEqual(8);
      expect(Math.max(...counts.values())).toBeLessThanOrEqual(36);
    });

    it('draws differently under different seeds: the draw is random, not an order', async () => {
      const firstPicks = new Set<string>();
      for (let seed = 1; seed <= 10; seed++) {
        const b = await fresh(seed);
        const [asker] = await registered(b, 8);
        settle();
        firstPicks.add((await b.pickPeers(asker!.id, 1))[0]!);
      }
      expect(firstPicks.size).toBeGreaterThan(2);
    });

    it('answers calls in the order they were made, as a tab matches its peers answers by order', async () => {
      const b = await fresh();
      const [asker, target, leaving] = await registered(b, 3);
      const order: number[] = [];
      const calls: Promise<unknown>[] = [
        b.pickPeers(asker!.id, 1),
        b.relay(target!.id, FRAME),
        b.pickPeers(asker!.id, 2),
        b.unregister(leaving!),
        b.isTab(leaving!.id),
        b.pickPeers(asker!.id, 8),
      ];
      await Promise.all(calls.map((call, i) => call.then(() => order.push(i))));
      expect(order).toEqual([0, 1, 2, 3, 4, 5]);
      expect(await calls[4]).toBe(false);
    });

    it('closes idempotently, and refuses calls after close instead of reaching a tab', async () => {
      const b = await fresh();
      const [asker, tab] = await registered(b, 2);
      await b.close();
      await expect(b.close()).resolves.toBeUndefined();
      await expect(b.relay(tab!.id, FRAME)).rejects.toThrow();
      await expect(b.pickPeers(asker!.id, 1)).rejects.toThrow();
      await expect(b.live()).rejects.toThrow();
      await expect(b.isTab(tab!.id)).rejects.toThrow();
      await expect(b.register(new RecordingTab(nodeId(9)))).rejects.toThrow();
      expect(tab!.frames).toEqual([]);
    });
  });
}
