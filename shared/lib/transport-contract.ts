/**
 * The contract every Transport keeps, as one vitest suite (STYLE habit 6): run it against
 * MemoryNetwork here and against real WebRTC elsewhere. It never assumes a clock: it waits by
 * calling the fixture's `settle()` until what it expects has happened, so a fake-clock twin
 * settles in one call and a real-time transport in a few.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, isPeerchatError } from './errors.ts';
import { MAX_FRAME_BYTES, type Connection, type Transport } from './transport.ts';

export interface TransportFixture {
  /** Two endpoints that can reach each other. The suite closes both after each test. */
  a: Transport;
  b: Transport;
  /** Lets pending work run (timers, I/O, microtasks). Called repeatedly while the suite waits. */
  settle(): Promise<void>;
  /** Releases whatever else the fixture started. */
  dispose?(): void | Promise<void>;
}

export interface TransportFixtureOptions {
  /** Lifetime creation cap the fixture must give endpoint `a`; unset means its usual cap. */
  creationCap?: number;
}

export interface TransportContractOptions {
  /** Most settle() calls one wait may take before the test fails. Default 50. */
  maxSettles?: number;
  /** Says what a signal string is, for the checks that care; without it they are skipped. */
  signalKind?(data: string): 'offer' | 'answer' | 'other';
}

export type MakeTransportPair = (options: TransportFixtureOptions) => TransportFixture | Promise<TransportFixture>;

/** One connection and everything it reported. */
interface Probe {
  conn: Connection;
  signals: string[];
  opens: number;
  messages: string[];
  closes: string[];
  /** Where this probe's signals go as they are emitted (set by link()). */
  forward: ((data: string) => void) | null;
}

function probe(transport: Transport, initiator: boolean, onOpen?: (conn: Connection) => void): Probe {
  const p: Probe = { conn: null as unknown as Connection, signals: [], opens: 0, messages: [], closes: [], forward: null };
  p.conn = transport.create(initiator, {
    signal: (data) => {
      p.signals.push(data);
      p.forward?.(data);
    },
    open: () => {
      p.opens++;
      onOpen?.(p.conn);
    },
    message: (frame) => void p.messages.push(frame),
    close: (reason) => void p.closes.push(reason),
  });
  return p;
}

/** Delivers each probe's signals, past and future, to the other one. */
function link(x: Probe, y: Probe): void {
  x.forward = (data) => y.conn.signal(data);
  y.forward = (data) => x.conn.signal(data);
  for (const d of x.signals) y.conn.signal(d);
  for (const d of y.signals) x.conn.signal(d);
}

const GARBAGE_SIGNALS = [
  'not json at all',
  '',
  'null',
  '42',
  '[]',
  '{}',
  '{"type":"answer"}',
  '{"type":"offer","sdp":"v=0 this is not a session description"}',
];

export function transportContract(name: string, makePair: MakeTransportPair, options: TransportContractOptions = {}): void {
  const maxSettles = options.maxSettles ?? 50;

  describe(`Transport contract: ${name}`, () => {
    const fixtures: TransportFixture[] = [];
    afterEach(async () => {
      for (const fx of fixtures.splice(0)) {
        fx.a.close();
        fx.b.close();
        await fx.settle();
        await fx.dispose?.();
      }
    });

    async function fixture(o: TransportFixtureOptions = {}): Promise<TransportFixture> {
      const fx = await makePair(o);
      fixtures.push(fx);
      return fx;
    }

    async function until(fx: TransportFixture, what: string, done: () => boolean): Promise<void> {
      for (let i = 0; i < maxSettles && !done(); i++) await fx.settle();
      if (!done()) throw new Error(`${what} did not happen within ${maxSettles} settle() calls`);
    }

    /** A few more settles, to catch events that must not happen. */
    async function quiet(fx: TransportFixture): Promise<void> {
      for (let i = 0; i < 3; i++) await fx.settle();
    }

    /** Opens a connection from transport `from` to `to`; returns [initiator, answerer]. */
    async function connected(fx: TransportFixture, from = fx.a, to = fx.b): Promise<[Probe, Probe]> {
      const answerer = probe(to, false);
      const initiator = probe(from, true);
      link(initiator, answerer);
      await until(fx, 'both ends opening', () => initiator.opens > 0 && answerer.opens > 0);
      return [initiator, answerer];
    }

    it('has the initiator emit an offer by itself while the answerer waits to be fed', async () => {
      const fx = await fixture();
      const initiator = probe(fx.a, true);
      const answerer = probe(fx.b, false);
      expect(initiator.conn.initiator).toBe(true);
      expect(answerer.conn.initiator).toBe(false);
      await until(fx, 'an offer', () => initiator.signals.length > 0);
      await quiet(fx);
      expect(answerer.signals).toEqual([]);
      if (options.signalKind) expect(options.signalKind(initiator.signals[0]!)).toBe('offer');
    });

    it("answers an offer fed to the answerer's signal()", async () => {
      const fx = await fixture();
      const initiator = probe(fx.a, true);
      const answerer = probe(fx.b, false);
      await until(fx, 'an offer', () => initiator.signals.length > 0);
      for (const d of initiator.signals) answerer.conn.signal(d);
      await until(fx, 'an answer', () => answerer.signals.length > 0);
      if (options.signalKind) expect(answerer.signals.map(options.signalKind)).toContain('answer');
    });

    it('opens both ends exactly once after the signals are exchanged', async () => {
      const fx = await fixture();
      const [initiator, answerer] = await connected(fx);
      await quiet(fx);
      expect([initiator.opens, answerer.opens]).toEqual([1, 1]);
      expect([initiator.closes, answerer.closes]).toEqual([[], []]);
    });

    it('delivers frames in order and intact, both ways, up to MAX_FRAME_BYTES', async () => {
      const fx = await fixture();
      const [initiator, answerer] = await connected(fx);
      const frames = Array.from({ length: 200 }, (_, i) => `frame ${i} ${'é✓'.repeat(i % 7)}`);
      frames.push('x'.repeat(MAX_FRAME_BYTES));
      for (const f of frames) expect(initiator.conn.send(f)).toBe(true);
      for (const f of frames.slice(0, 50)) expect(answerer.conn.send(`back ${f}`)).toBe(true);
      await until(fx, 'every frame arriving', () => answerer.messages.length >= frames.length && initiator.messages.length >= 50);
      expect(answerer.messages).toEqual(frames);
      expect(initiator.messages).toEqual(frames.slice(0, 50).map((f) => `back ${f}`));
    });

    it('delivers a frame sent the moment one end opens, whenever the other end opens', async () => {
      // A real peer sends HELLO from its open handler; the other end's open may come later
      // (simple-peer reports it after a stats round trip), and the frame must not be lost.
      const fx = await fixture();
      const answerer = probe(fx.b, false, (conn) => conn.send('hello from the answerer'));
      const initiator = probe(fx.a, true, (conn) => conn.send('hello from the initiator'));
      link(initiator, answerer);
      await until(fx, 'both first frames arriving', () => initiator.messages.length > 0 && answerer.messages.length > 0);
      expect(answerer.messages).toEqual(['hello from the initiator']);
      expect(initiator.messages).toEqual(['hello from the answerer']);
    });

    it('refuses to send before the connection is open and after it closed', async () => {
      const fx = await fixture();
      const initiator = probe(fx.a, true);
      const answerer = probe(fx.b, false);
      expect(initiator.conn.send('too early')).toBe(false);
      expect(answerer.conn.send('too early')).toBe(false);
      link(initiator, answerer);
      await until(fx, 'both ends opening', () => initiator.opens > 0 && answerer.opens > 0);
      initiator.conn.close();
      expect(initiator.conn.send('too late')).toBe(false);
      await until(fx, 'the peer closing', () => answerer.closes.length > 0);
      expect(answerer.conn.send('too late')).toBe(false);
      await quiet(fx);
      expect(answerer.messages).toEqual([]);
    });

    for (const side of ['initiator', 'answerer'] as const) {
      it(`closes the other end when the ${side} closes, calling each close handler once`, async () => {
        const fx = await fixture();
        const [initiator, answerer] = await connected(fx);
        const [closer, other] = side === 'initiator' ? [initiator, answerer] : [answerer, initiator];
        closer.conn.close();
        await until(fx, 'both ends closing', () => closer.closes.length > 0 && other.closes.length > 0);
        closer.conn.close();
        other.conn.close();
        await quiet(fx);
        expect(closer.closes).toHaveLength(1);
        expect(other.closes).toHaveLength(1);
        for (const reason of [...closer.closes, ...other.closes]) expect(typeof reason).toBe('string');
      });
    }

    it('calls each close handler once when both ends close at the same moment', async () => {
      const fx = await fixture();
      const [initiator, answerer] = await connected(fx);
      initiator.conn.close();
      answerer.conn.close();
      await quiet(fx);
      expect([initiator.closes.length, answerer.closes.length]).toEqual([1, 1]);
    });

    it('closes every connection of a transport when the transport closes, open or still signaling', async () => {
      const fx = await fixture();
      const [i1, a1] = await connected(fx);
      const [i2, a2] = await connected(fx);
      const [i3, a3] = await connected(fx, fx.b, fx.a);
      const pending = probe(fx.a, true);
      fx.a.close();
      fx.a.close();
      await until(fx, 'every connection closing', () =>
        [i1, a1, i2, a2, a3, i3, pending].every((p) => p.closes.length > 0),
      );
      await quiet(fx);
      for (const p of [i1, a1, i2, a2, a3, i3, pending]) expect(p.closes).toHaveLength(1);
      expect(() => probe(fx.a, true)).toThrow();
    });

    it('knows no fingerprints before signaling, and each end knows the other after', async () => {
      const fx = await fixture();
      const initiator = probe(fx.a, true);
      const answerer = probe(fx.b, false);
      for (const p of [initiator, answerer]) {
        expect(p.conn.localFingerprint()).toBeNull();
        expect(p.conn.remoteFingerprint()).toBeNull();
      }
      link(initiator, answerer);
      await until(fx, 'both ends opening', () => initiator.opens > 0 && answerer.opens > 0);
      const fpA = initiator.conn.localFingerprint();
      const fpB = answerer.conn.localFingerprint();
      expect(typeof fpA).toBe('string');
      expect(typeof fpB).toBe('string');
      expect(fpA).not.toBe(fpB);
      expect(answerer.conn.remoteFingerprint()).toBe(fpA);
      expect(initiator.conn.remoteFingerprint()).toBe(fpB);
    });

    it('closes, without throwing, a connection fed garbage signaling data', async () => {
      const fx = await fixture();
      const victims: Probe[] = [];
      for (const garbage of GARBAGE_SIGNALS) {
        const answerer = probe(fx.b, false);
        expect(() => answerer.conn.signal(garbage)).not.toThrow();
        victims.push(answerer);
      }
      const initiator = probe(fx.a, true);
      await until(fx, 'an offer', () => initiator.signals.length > 0);
      expect(() => initiator.conn.signal('{"type":"answer","sdp":"garbage"}')).not.toThrow();
      victims.push(initiator);
      await until(fx, 'every fed connection closing', () => victims.every((p) => p.closes.length > 0));
      for (const v of victims) expect(() => v.conn.signal('more garbage')).not.toThrow();
      await quiet(fx);
      for (const v of victims) expect(v.closes).toHaveLength(1);
    });

    it('counts every connection it creates', async () => {
      const fx = await fixture();
      const before = fx.a.created;
      const p = probe(fx.a, true);
      probe(fx.a, false);
      expect(fx.a.created).toBe(before + 2);
      p.conn.close();
      expect(fx.a.created).toBe(before + 2);
    });

    it('throws BUDGET_EXHAUSTED on the create past its lifetime cap, even after closing the others', async () => {
      const cap = 3;
      const fx = await fixture({ creationCap: cap });
      const made = Array.from({ length: cap }, (_, i) => probe(fx.a, i % 2 === 0));
      for (const p of made) p.conn.close();
      await quiet(fx);
      let caught: unknown = null;
      try {
        probe(fx.a, true);
      } catch (err) {
        caught = err;
      }
      expect(isPeerchatError(caught, ErrorCode.BudgetExhausted), String(caught)).toBe(true);
      expect(fx.a.created).toBe(cap);
      // The cap is per endpoint.
      expect(() => probe(fx.b, true)).not.toThrow();
    });
  });
}
