import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.ts';
import { SeededRandom } from './random.ts';
import { transportContract } from './transport-contract.ts';
import { closeCounter, DtlsCloseReason, ICE_CHECK_TIMEOUT_MS, IceCloseReason, iceCounter, isIceFailure, MAX_SIGNAL_BATCH_CHARS, MAX_SIGNALS_PER_BATCH, MemoryNetwork, takeBatch, type Connection, type MemoryNetworkOptions, type Transport } from './transport.ts';

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

transportContract(
  'MemoryNetwork',
  ({ creationCap }) => {
    const clock = new FakeClock();
    const network = new MemoryNetwork({
      clock,
      random: new SeededRandom(1),
      latencyMs: () => 20,
      setupMs: () => 300,
      ...(creationCap === undefined ? {} : { creationCap }),
    });
    return {
      a: network.endpoint('a'),
      b: network.endpoint('b'),
      settle: async () => {
        clock.advance(1_000);
        await flushMicrotasks();
      },
    };
  },
  { signalKind: (data) => {
    try {
      const type = (JSON.parse(data) as { type?: unknown }).type;
      return type === 'offer' || type === 'answer' ? type : 'other';
    } catch {
      return 'other';
    }
  } },
);

// ---- What the simulator relies on beyond the contract --------------------------------------

interface Ends {
  clock: FakeClock;
  network: MemoryNetwork;
  a: Transport;
  b: Transport;
  initiator: Connection;
  answerer: Connection;
  log: string[];
}

/** A pair whose signals travel instantly, a on endpoint "a"; everything it reports goes to `log`. */
function pair(options: Partial<MemoryNetworkOptions> = {}): Ends {
  const clock = new FakeClock(0);
  const network = new MemoryNetwork({ clock, random: new SeededRandom(2), ...options });
  const log: string[] = [];
  const ends: Partial<Ends> = { clock, network, log, a: network.endpoint('a'), b: network.endpoint('b') };
  const events = (who: string, peer: () => Connection) => ({
    signal: (d: string) => peer().signal(d),
    open: () => log.push(`${who} open @${clock.now()}`),
    message: (f: string) => log.push(`${who} got ${f} @${clock.now()}`),
    close: (reason: string) => log.push(`${who} closed (${reason}) @${clock.now()}`),
  });
  ends.answerer = ends.b!.create(false, events('B', () => ends.initiator!));
  ends.initiator = ends.a!.create(true, events('A', () => ends.answerer!));
  return ends as Ends;
}

describe('MemoryNetwork', () => {
  it('opens both ends setupMs after the answer reaches the initiator', () => {
    const { clock, log } = pair({ setupMs: () => 500 });
    clock.advance(499);
    expect(log).toEqual([]);
    clock.advance(1);
    expect(log).toEqual(['A open @500', 'B open @500']);
  });

  it('delays each frame by the link latency', () => {
    const { clock, initiator, log } = pair({ latencyMs: (from) => (from === 'a' ? 40 : 10) });
    clock.advance(0);
    log.length = 0;
    initiator.send('hi');
    clock.advance(39);
    expect(log).toEqual([]);
    clock.advance(1);
    expect(log).toEqual(['B got hi @40']);
  });

  it('keeps frames in order when some are lost and retransmitted', () => {
    const { clock, initiator, answerer, log } = pair({ lossRate: 0.5, retransmitMs: 200, latencyMs: () => 5 });
    clock.advance(0);
    for (let i = 0; i < 50; i++) initiator.send(`m${i}`);
    clock.advance(10_000);
    const got = log.filter((l) => l.startsWith('B got')).map((l) => l.split(' ')[2]);
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    expect(answerer.send('still open')).toBe(true);
  });

  it('delivers frames sent just before a close ahead of the close', () => {
    const { clock, initiator, log } = pair({ latencyMs: () => 30 });
    clock.advance(0);
    log.length = 0;
    initiator.send('last words');
    initiator.close();
    clock.advance(100);
    expect(log).toEqual(['A closed (closed locally) @0', 'B got last words @30', 'B closed (peer closed) @30']);
  });

  it('shows every frame to onFrame and counts it', () => {
    const seen: string[] = [];
    const { clock, network, initiator, answerer } = pair({ onFrame: (from, to, frame) => seen.push(`${from}>${to}:${frame}`) });
    clock.advance(0);
    initiator.send('one');
    answerer.send('two');
    expect(seen).toEqual(['a>b:one', 'b>a:two']);
    expect(network.framesSent).toBe(2);
  });

  it('closes the channel on the other side one latency after an endpoint leaves', () => {
    const { clock, a, log } = pair({ latencyMs: () => 25 });
    clock.advance(0);
    expect(log).toEqual(['A open @0', 'B open @0']);
    a.close();
    clock.advance(100);
    expect(log.slice(2)).toEqual(['A closed (closed locally) @0', 'B closed (peer closed) @25']);
  });

  it('does not open a connection whose peer closed during setup', () => {
    const { clock, answerer, log } = pair({ setupMs: () => 500, latencyMs: () => 100 });
    clock.advance(200);
    answerer.close();
    clock.advance(1_000);
    expect(log.filter((l) => l.includes('open'))).toEqual([]);
    expect(log).toEqual(['B closed (closed locally) @200', 'A closed (peer closed) @300']);
  });
});

describe('MemoryNetwork ICE outcomes', () => {
  it('closes both ends with "ice failed" once setup would have opened them, and opens neither', () => {
    const { clock, log } = pair({ setupMs: () => 500, ice: (from, to) => (from === 'a' && to === 'b' ? 'fails' : 'connects') });
    clock.advance(10_000);
    expect(log).toEqual(['A closed (ice failed) @500', 'B closed (ice failed) @500']);
  });

  it('keeps a stuck pair checking until ICE_CHECK_TIMEOUT_MS after each end was created', () => {
    const { clock, log } = pair({ ice: () => 'stuck' });
    clock.advance(ICE_CHECK_TIMEOUT_MS - 1);
    expect(log).toEqual([]);
    clock.advance(60_000);
    expect(log).toEqual([`A closed (ice checking timed out) @${ICE_CHECK_TIMEOUT_MS}`, `B closed (ice checking timed out) @${ICE_CHECK_TIMEOUT_MS}`]);
  });

  it('closes both ends of an open connection with "ice disconnected" when ICE loses it, and no other', () => {
    const { clock, a, network, log } = pair({ latencyMs: () => 25 });
    const c = network.endpoint('c');
    const other = c.create(true, { signal: () => {}, open: () => {}, message: () => {}, close: (r) => log.push(`C closed (${r})`) });
    clock.advance(0);
    expect(log).toEqual(['A open @0', 'B open @0']);
    (a as ReturnType<MemoryNetwork['endpoint']>).disconnectFrom('b');
    clock.advance(100);
    expect(log.slice(2)).toEqual(['A closed (ice disconnected) @0', 'B closed (ice disconnected) @0']);
    other.close();
  });

  it('names one counter per ICE close reason, and only ICE failures as unreachable', () => {
    expect(['ice failed', 'ice checking timed out', 'ice disconnected', 'peer closed', 'constructor'].map(iceCounter)).toEqual([
      'ice-failed',
      'ice-checking-timeout',
      'ice-disconnected',
      null,
      null,
    ]);
    expect(['ice failed', 'ice checking timed out', 'ice disconnected'].map(isIceFailure)).toEqual([true, true, false]);
  });

  it('names the counters of DTLS refusals beside the ICE ones, and nothing else', () => {
    const reasons = [DtlsCloseReason.BadFingerprint, DtlsCloseReason.CertificateMismatch, IceCloseReason.Failed, 'peer closed'];
    expect(reasons.map(closeCounter)).toEqual(['dtls-bad-fingerprint', 'dtls-certificate-mismatch', 'ice-failed', null]);
  });
});

describe('takeBatch', () => {
  it('takes signals in order, at most a batch of them, and leaves the rest queued', () => {
    const queue = Array.from({ length: 40 }, (_, i) => `s${i}`);
    const batches: string[][] = [];
    while (queue.length > 0) batches.push(takeBatch(queue));
    expect(batches.map((b) => b.length)).toEqual([MAX_SIGNALS_PER_BATCH, MAX_SIGNALS_PER_BATCH, 40 - 2 * MAX_SIGNALS_PER_BATCH]);
    expect(batches.flat()).toEqual(Array.from({ length: 40 }, (_, i) => `s${i}`));
  });

  it('keeps a batch within its characters as JSON, and still moves one signal larger than that', () => {
    const sdp = 'v=0\r\n'.repeat(800); // 4,000 characters, 4,800 as JSON
    const queue = [sdp, sdp, sdp, 'tail'];
    const first = takeBatch(queue);
    expect(first).toHaveLength(2);
    expect(JSON.stringify(first).length).toBeLessThanOrEqual(MAX_SIGNAL_BATCH_CHARS);
    const huge = ['x'.repeat(MAX_SIGNAL_BATCH_CHARS * 2)];
    expect(takeBatch(huge)).toHaveLength(1);
    expect(huge).toEqual([]);
  });
});
