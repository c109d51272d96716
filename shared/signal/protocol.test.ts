import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SignalPayload, SignalReply } from '../lib/transport.ts';
import { ErrorCode } from '../lib/errors.ts';
import {
  encodeSignalMessage,
  MAX_ICE_SERVERS,
  MAX_ICE_TTL_S,
  MAX_ICE_URL_CHARS,
  MAX_ICE_URLS,
  MAX_SERVER_FRAME_BYTES,
  MAX_SIGNAL_FRAME_BYTES,
  parseClientMessage,
  parseServerMessage,
  signalAuthPayload,
  type ClientMessage,
  type ClientMessageOf,
  type ServerMessage,
  type ServerMessageOf,
} from './protocol.ts';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const KEY = 'A'.repeat(43);
const SIG = 'A'.repeat(86);

const CLIENT: ClientMessage[] = [
  { type: 'hello', key: KEY, n: 7, id: A, sig: SIG },
  { type: 'peers', n: 8 },
  { type: 'signal', to: B, rid: 1, payload: { conn: 'c-1', data: ['v=0', 'candidate'] } },
  { type: 'signal-reply', to: A, rid: 1, reply: { data: [] } },
  { type: 'signal-reply', to: A, rid: 2, reply: { busyMs: 500 } },
  { type: 'ping' },
  { type: 'ice' },
  { type: 'is-tab', id: B, rid: 4_294_967_295 },
];
const TURN_ENTRY = { urls: ['turn:t.example:3478?transport=udp', 'turns:t.example:5349'], username: `1796000600:${A}`, credential: 'x'.repeat(27) + '=' };
const SERVER: ServerMessage[] = [
  { type: 'challenge', nonce: KEY },
  { type: 'welcome' },
  { type: 'features', names: ['is-tab', 'something-newer'] },
  { type: 'features', names: [] },
  { type: 'peers', ids: [A, B] },
  { type: 'peers', ids: [], live: 4_294_967_295 },
  { type: 'signal', from: A, to: B, rid: 4_294_967_295, payload: { conn: 'x', data: ['sdp'] } },
  { type: 'signal-reply', from: B, to: A, rid: 0, reply: { busyMs: 0 } },
  { type: 'error', code: ErrorCode.NotFound, rid: 3, msg: 'that node is not connected' },
  { type: 'error', code: ErrorCode.Busy },
  { type: 'pong' },
  { type: 'is-tab', rid: 0, id: A, tab: true },
  { type: 'is-tab', rid: 9, id: B, tab: false },
  { type: 'ice', servers: [] },
  { type: 'ice', servers: [{ urls: ['stun:s.example:3478', 'stuns:s.example'] }] },
  { type: 'ice', servers: [{ urls: ['stun:s.example'] }, TURN_ENTRY], ttlS: 43_200 },
];

describe('signal protocol', () => {
  it('round trips every client and server message through encode and parse', () => {
    for (const m of CLIENT) expect(parseClientMessage(encodeSignalMessage(m))).toEqual({ ok: true, message: m });
    for (const m of SERVER) expect(parseServerMessage(encodeSignalMessage(m))).toEqual({ ok: true, message: m });
  });

  it('never throws on random strings and JSON values, and returns a value or a drop reason', () => {
    const text = fc.oneof(fc.string(), fc.json(), fc.anything().map((x) => JSON.stringify(x) ?? ''));
    fc.assert(
      fc.property(text, (s) => {
        for (const r of [parseClientMessage(s), parseServerMessage(s)]) {
          expect(r.ok || ['not-json', 'unknown-type', 'bad-shape', 'too-large'].includes(r.reason)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('accepts mutated real messages only when they still fit the schema', () => {
    const message = fc.constantFrom(...CLIENT, ...SERVER);
    const junk = fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.string()), fc.double());
    fc.assert(
      fc.property(message, fc.string(), junk, (m, key, value) => {
        const text = JSON.stringify({ ...m, [key]: value });
        expect(() => [parseClientMessage(text), parseServerMessage(text)]).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });

  it('drops frames that are too large before parsing, non-strings, and unknown types', () => {
    const big = JSON.stringify({ type: 'ping', pad: 'x'.repeat(MAX_SIGNAL_FRAME_BYTES) });
    expect(parseClientMessage(big)).toEqual({ ok: false, reason: 'too-large' });
    expect(parseClientMessage('é'.repeat(MAX_SIGNAL_FRAME_BYTES / 2 + 1))).toEqual({ ok: false, reason: 'too-large' });
    expect(parseClientMessage(new Uint8Array(3))).toEqual({ ok: false, reason: 'not-text' });
    expect(parseClientMessage('{"type":"welcome"}')).toEqual({ ok: false, reason: 'unknown-type' });
    expect(parseClientMessage('{"type":"__proto__"}')).toEqual({ ok: false, reason: 'unknown-type' });
    expect(parseServerMessage('[]')).toEqual({ ok: false, reason: 'bad-shape' });
  });

  it('drops messages with extra keys, out-of-range counts and non-canonical keys', () => {
    expect(parseClientMessage('{"type":"ping","x":1}')).toMatchObject({ ok: false, reason: 'bad-shape' });
    expect(parseClientMessage('{"type":"peers","n":9}')).toMatchObject({ ok: false, reason: 'bad-shape' });
    expect(parseClientMessage('{"type":"peers","n":0}')).toMatchObject({ ok: false, reason: 'bad-shape' });
    const hello = { type: 'hello', key: 'A'.repeat(42) + 'B', id: A, sig: SIG };
    expect(parseClientMessage(JSON.stringify(hello))).toMatchObject({ ok: false, reason: 'bad-shape' });
    const upper = { type: 'signal', to: B.toUpperCase(), rid: 1, payload: { conn: 'c', data: [] } };
    expect(parseClientMessage(JSON.stringify(upper))).toMatchObject({ ok: false, reason: 'bad-shape' });
  });

  it('drops ice frames with a bad scheme, too many or too long URLs, or a bad lifetime', () => {
    const ice = (servers: unknown, extra: Record<string, unknown> = {}) => parseServerMessage(JSON.stringify({ type: 'ice', servers, ...extra }));
    const bad = { ok: false, reason: 'bad-shape' };
    expect(ice([{ urls: ['http://s.example'] }])).toEqual(bad);
    expect(ice([{ urls: ['javascript:alert(1)'] }])).toEqual(bad);
    expect(ice([{ urls: ['stun:a b'] }])).toEqual(bad);
    expect(ice([{ urls: [] }])).toEqual(bad);
    expect(ice([{ urls: 'stun:s.example' }])).toEqual(bad);
    expect(ice([{ urls: Array.from({ length: MAX_ICE_URLS + 1 }, (_, i) => `stun:s${i}.example`) }])).toEqual(bad);
    expect(ice([{ urls: [`stun:${'s'.repeat(MAX_ICE_URL_CHARS)}`] }])).toEqual(bad);
    expect(ice(Array.from({ length: MAX_ICE_SERVERS + 1 }, () => ({ urls: ['stun:s.example'] })))).toEqual(bad);
    expect(ice([{ ...TURN_ENTRY, username: 'u'.repeat(129) }])).toEqual(bad);
    expect(ice([{ ...TURN_ENTRY, extra: 1 }])).toEqual(bad);
    for (const ttlS of [0, -1, 1.5, MAX_ICE_TTL_S + 1, '600']) expect(ice([TURN_ENTRY], { ttlS })).toEqual(bad);
    expect(parseClientMessage('{"type":"ice","servers":[]}')).toEqual(bad);
    const huge = JSON.stringify({ type: 'ice', servers: [{ urls: ['stun:s'] }], pad: 'x'.repeat(MAX_SERVER_FRAME_BYTES) });
    expect(parseServerMessage(huge)).toEqual({ ok: false, reason: 'too-large' });
  });

  it('drops is-tab frames without a canonical id, a u32 rid or a boolean answer, and long feature lists', () => {
    const bad = { ok: false, reason: 'bad-shape' };
    for (const ask of [{ id: A.toUpperCase(), rid: 1 }, { id: A.slice(1), rid: 1 }, { id: A, rid: -1 }, { id: A, rid: 2 ** 32 }, { id: A }, { id: A, rid: 1, tab: true }]) {
      expect(parseClientMessage(JSON.stringify({ type: 'is-tab', ...ask }))).toEqual(bad);
    }
    for (const answer of [{ rid: 1, id: A, tab: 'yes' }, { rid: 1, id: A, tab: 1 }, { rid: 1, id: A }, { rid: 1, tab: true }]) {
      expect(parseServerMessage(JSON.stringify({ type: 'is-tab', ...answer }))).toEqual(bad);
    }
    const features = (names: unknown) => parseServerMessage(JSON.stringify({ type: 'features', names }));
    expect(features(Array.from({ length: 17 }, (_, i) => `f${i}`))).toEqual(bad);
    expect(features(['x'.repeat(33)])).toEqual(bad);
    expect(features('is-tab')).toEqual(bad);
    // A tab sends neither features nor an answer; a server never takes them from one.
    expect(parseClientMessage(JSON.stringify({ type: 'features', names: [] }))).toEqual({ ok: false, reason: 'unknown-type' });
  });

  it('signs a payload that names this protocol and the nonce', () => {
    expect(new TextDecoder().decode(signalAuthPayload('abc'))).toBe('peerchat-signal-v1\nabc');
  });

  it('carries the engine Bootstrap payload and reply types unchanged', () => {
    // Compile-time: the browser client hands these straight to and from Node's Bootstrap.
    const payload: SignalPayload = {} as ClientMessageOf<'signal'>['payload'];
    const reply: SignalReply = {} as ServerMessageOf<'signal-reply'>['reply'];
    const back: ClientMessageOf<'signal-reply'>['reply'] = {} as SignalReply;
    expect([payload, reply, back]).toHaveLength(3);
  });
});
