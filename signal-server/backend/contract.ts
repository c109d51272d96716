/**
 * The contract every SignalBackend keeps, as one vitest suite (STYLE habit 6): memory.test.ts
 * runs it against MemoryBackend, and a networked backend's test file runs it against that one.
 * It drives one backend as one process's hub would, with recording tabs in place of sockets.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SeededRandom, type Random } from '../../shared/lib/random.ts';
import type { DeliverResult, LocalTab, SignalBackend } from './backend.ts';

/** Returns a fresh backend with no tab registered; the suite closes it after each test. */
export type MakeBackend = (random: Random) => SignalBackend | Promise<SignalBackend>;

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
    afterEach(async () => {
      for (const b of open.splice(0)) await b.close();
    });
    async function fresh(seed = 1): Promise<SignalBackend> {
      const b = await makeBackend(new SeededRandom(seed));
      open.push(b);
      return b;
    }
    async function registered(b: SignalBackend, count: number): Promise<RecordingTab[]> {
      const tabs = Array.from({ length: count }, (_, i) => new RecordingTab(nodeId(i + 1)));
      for (const tab of tabs) await b.register(tab);
      return tabs;
    }

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

    it('hands out least recently handed out first, counting what every asker was given', async () => {
      const b = await fresh();
      const [asker, ...others] = await registered(b, 5);
      const first = await b.pickPeers(asker!.id, 2);
      const second = await b.pickPeers(asker!.id, 2);
      expect(new Set([...first, ...second])).toEqual(new Set(others.map((t) => t.id)));
      expect(await b.pickPeers(asker!.id, 1)).toEqual([first[0]]);
      expect(await b.pickPeers(asker!.id, 4)).toEqual([first[1], ...second, first[0]]);
      // The asker itself was never handed out, so another asker gets it before anyone else.
      expect(await b.pickPeers(second[0]!, 1)).toEqual([asker!.id]);
    });

    it('breaks ties at random, so tabs never handed out share the first hand-outs', async () => {
      const firstPicks = new Set<string>();
      for (let seed = 1; seed <= 10; seed++) {
        const b = await fresh(seed);
        const [asker] = await registered(b, 8);
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
        b.pickPeers(asker!.id, 8),
      ];
      await Promise.all(calls.map((call, i) => call.then(() => order.push(i))));
      expect(order).toEqual([0, 1, 2, 3, 4]);
    });

    it('closes idempotently, and refuses calls after close instead of reaching a tab', async () => {
      const b = await fresh();
      const [asker, tab] = await registered(b, 2);
      await b.close();
      await expect(b.close()).resolves.toBeUndefined();
      await expect(b.relay(tab!.id, FRAME)).rejects.toThrow();
      await expect(b.pickPeers(asker!.id, 1)).rejects.toThrow();
      await expect(b.register(new RecordingTab(nodeId(9)))).rejects.toThrow();
      expect(tab!.frames).toEqual([]);
    });
  });
}
