/**
 * Issue 14 at CI size for the signal server: 2,000 random and mutated frames of each client
 * message type through parseClientMessage and a real Hub, half on sockets only challenged, half
 * on welcomed ones; and of each server message type through the tab's parser. `npm run fuzz` runs 100,000 of each (bench/results/fuzz.json).
 */
import { describe, expect, it } from 'vitest';
import { runSignalFuzz, type SignalFuzzReport } from './fuzz.ts';

const FRAMES = 2_000;
const TYPES = ['hello', 'peers', 'signal', 'signal-reply', 'ping', 'ice', 'is-tab'];

describe('the signal server fed hostile frames', () => {
  let report: SignalFuzzReport;

  it(`survives ${FRAMES} random and mutated frames of each client type with no exception, and still welcomes a tab`, async () => {
    report = await runSignalFuzz({ frames: FRAMES, seed: 14 });
    expect(report.exceptionSamples).toEqual([]);
    expect(report.exceptions).toBe(0);
    expect(report.invariants).toEqual({ welcomesHonestTab: true, handsOutPeers: true, answersIsTab: true, listenerStillSignedIn: true });
    expect(Object.keys(report.types)).toEqual(TYPES);
    for (const type of TYPES) expect(report.types[type]!.frames, type).toBe(FRAMES);
    for (const [type, t] of Object.entries(report.serverTypes)) {
      expect(t.frames, type).toBe(FRAMES);
      expect(t.parsed['ok'], type).toBeGreaterThan(50);
    }
    expect(Object.keys(report.serverTypes)).toHaveLength(10);
  }, 120_000);

  it('drops bad frames by reason and serves the good ones', () => {
    for (const type of TYPES) {
      const t = report.types[type]!;
      expect(t.parsed['ok'], type).toBeGreaterThan(50);
      for (const reason of ['bad-shape', 'not-json', 'unknown-type', 'too-large']) expect(t.rejects[reason], `${type} ${reason}`).toBeGreaterThan(10);
    }
    expect(report.types['hello']!.rejects['bad-signature']).toBeGreaterThan(0);
    expect(report.types['peers']!.rejects['not-authenticated']).toBeGreaterThan(0);
    expect(report.types['is-tab']!.rejects['not-authenticated']).toBeGreaterThan(0);
    expect(report.types['signal']!.relays['delivered']).toBeGreaterThan(10);
  });
});
