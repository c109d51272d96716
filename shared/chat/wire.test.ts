import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { MAX_FRAME_BYTES, MAX_HOPS } from '../dht/constants.ts';
import { ErrorCode, isPeerchatError } from '../lib/errors.ts';
import * as v from 'valibot';
import {
  encodeFrame,
  methods,
  registerMethods,
  errorFrame,
  exceedsFrameLimit,
  hello,
  MAX_NODES_PER_REPLY,
  parseFrame,
  parseRequestBody,
  parseResponseBody,
  request,
  response,
  type Frame,
  type Method,
  type ParseResult,
  type RequestBodyOf,
  type RequestFrame,
  type ResponseBodyOf,
  type Route,
} from '../dht/protocol.ts';
import { MAX_CIPHERTEXT_CHARS, type EnvelopeWire, type HolderAckWire, type ReceiptWire, type TombstoneWire, type UserRecordWire } from './wire.ts';

// ---- Valid examples ------------------------------------------------------------------------

/** The DHT's methods and the chat layer's, which importing ./wire.ts registered. */
const METHODS_ALL = methods();

function b64(bytes: number, fill = 7): string {
  const raw = String.fromCharCode(...Array.from({ length: bytes }, (_, i) => (i * 31 + fill) & 255));
  return btoa(raw).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
const hex = (chars: number, digit = 'a') => digit.repeat(chars);

const KEY = b64(32);
const SIG = b64(64);
const ID_A = hex(40, 'a');
const ID_B = hex(40, 'b');

const record: UserRecordWire = {
  name: 'alice_01',
  signingKey: KEY,
  agreementKey: b64(32, 9),
  registeredAt: 1_700_000_000_000,
  seq: 3,
  expiresAt: 1_702_592_000_000,
  sig: SIG,
};
const envelope: EnvelopeWire = {
  v: 2,
  id: hex(32, 'c'),
  to: ID_B,
  epk: b64(32, 1),
  nonce: b64(12),
  ct: b64(100),
};
/** The first envelope format: sender, clock and signature in the clear. */
const oldEnvelope = { id: hex(32, 'c'), from: ID_A, to: ID_B, sentAt: 1_700_000_000_123, epk: b64(32, 1), nonce: b64(12), ct: b64(100), sig: SIG };
const tombstone: TombstoneWire = { h: KEY, to: ID_B, at: 1_700_000_000_999, sig: SIG };
const receipt: ReceiptWire = { id: hex(32, 'c'), to: ID_B, at: 1_700_000_000_999, sig: SIG };
const holderAck: HolderAckWire = { holder: ID_A, key: KEY, n: 7, sig: SIG };
const route: Route = { k: ID_B, h: 2, max: 20, ms: 8_000 };

const EXAMPLES: { [M in Method]: { req: RequestBodyOf<M>; res: ResponseBodyOf<M> } } = {
  PING: { req: {}, res: {} },
  FIND_NODE: { req: { target: ID_B }, res: { nodes: [{ key: KEY, n: 7 }, { key: KEY, n: 0 }] } },
  FIND_VALUE: { req: { key: ID_B }, res: { record, nodes: [{ key: KEY, n: 7 }] } },
  STORE: { req: { record }, res: { stored: false, record: null } },
  MAILBOX_STORE: { req: { envelope, copies: 8 }, res: { stored: true, acks: [holderAck, holderAck] } },
  MAILBOX_FETCH: {
    req: { owner: ID_B, key: KEY, n: 7, holder: ID_A, nonce: b64(12, 7), at: 1_700_000_000_000, sig: SIG },
    res: { entries: [envelope, envelope], more: false },
  },
  MAILBOX_ACK: { req: { key: KEY, n: 7, tombstones: [tombstone] }, res: { accepted: 1 } },
  DELIVER: { req: { envelope }, res: { receipt, ack: { key: KEY, n: 7, tombstones: [tombstone] } } },
  SIGNAL: {
    req: { from: ID_A, to: ID_B, conn: 'c0nn_-1', data: 'v=0\r\no=- 1 2 IN IP4 0.0.0.0', key: KEY, n: 7, at: 1_700_000_000_000, sig: SIG },
    res: { data: null, busyMs: 60_000 },
  },
};

function reqFrame(m: Method, b: unknown = EXAMPLES[m].req, extra: object = {}): string {
  return JSON.stringify({ t: 'req', id: 42, m, b, ...extra });
}
function reject(text: string): Extract<ParseResult, { ok: false }> {
  const result = parseFrame(text);
  if (result.ok) throw new Error(`expected a drop: ${text.slice(0, 120)}`);
  return result;
}
function expectBadBody(m: Method, b: unknown): void {
  expect(reject(reqFrame(m, b))).toEqual({ ok: false, reason: 'bad-body', id: 42 });
}
function expectBadResponse(m: Method, b: unknown): void {
  expect(parseResponseBody(m, b)).toBeNull();
}

const VALID_FRAMES: Frame[] = [
  hello(KEY, 7, SIG),
  errorFrame(7, ErrorCode.UnknownMethod, 'no such method: FOO'),
  ...METHODS_ALL.map((m, i) => request(i, m, EXAMPLES[m].req as never, i % 2 ? route : undefined)),
  ...METHODS_ALL.map((m, i) => response(i, EXAMPLES[m].res)),
];

// ---- Round trips ---------------------------------------------------------------------------

describe('the method table', () => {
  it('holds the DHT\'s three methods and the six the chat layer registers', () => {
    expect(METHODS_ALL).toEqual(['PING', 'FIND_NODE', 'SIGNAL', 'FIND_VALUE', 'STORE', 'MAILBOX_STORE', 'MAILBOX_FETCH', 'MAILBOX_ACK', 'DELIVER']);
  });

  it('refuses a second registration of a method with other schemas', () => {
    expect(() => registerMethods({ PING: { req: v.strictObject({}), res: v.strictObject({}) } })).toThrow(/registered twice/);
    expect(parseFrame(reqFrame('PING', {})).ok).toBe(true);
  });
});

describe('round trips', () => {
  it.each(METHODS_ALL)('a %s request survives encode then parse unchanged, direct and routed', (m) => {
    const body = EXAMPLES[m].req as never;
    for (const frame of [request(9, m, body), request(9, m, body, route)]) {
      const parsed = parseFrame(encodeFrame(frame));
      expect(parsed).toEqual({ ok: true, frame });
      expect(parseRequestBody(m, frame.b)).toEqual(EXAMPLES[m].req);
    }
  });

  it.each(METHODS_ALL)('a %s response survives encode, parse and parseResponseBody unchanged', (m) => {
    const frame = response(1234, EXAMPLES[m].res);
    const parsed = parseFrame(encodeFrame(frame));
    expect(parsed).toEqual({ ok: true, frame });
    if (!parsed.ok || parsed.frame.t !== 'res') throw new Error('expected a response');
    expect(parseResponseBody(m, parsed.frame.b)).toEqual(EXAMPLES[m].res);
  });

  it('hello and err frames survive encode then parse unchanged', () => {
    const err = errorFrame(0xffff_ffff, ErrorCode.BadRequest, '');
    for (const frame of [hello(KEY, 7, SIG), err]) {
      expect(parseFrame(encodeFrame(frame))).toEqual({ ok: true, frame });
    }
  });

  it('the largest allowed values of every bounded field are accepted', () => {
    const big = { ...envelope, ct: b64(16_384 + 16 + 1024) };
    expect(big.ct.length).toBe(MAX_CIPHERTEXT_CHARS);
    expect(parseFrame(encodeFrame(request(0xffff_ffff, 'DELIVER', { envelope: big }))).ok).toBe(true);
    const nodes = Array.from({ length: 32 }, () => ({ key: KEY, n: 0xffff_ffff }));
    expect(parseResponseBody('FIND_NODE', { nodes })).toEqual({ nodes });
    // 32 contacts with a record and a proof stay far below the frame limit.
    const findValue = { record, nodes, proof: holderAck };
    expect(JSON.stringify(response(1, findValue)).length).toBeLessThan(4_096);
    expect(parseResponseBody('FIND_VALUE', findValue)).toEqual(findValue);
    const tombstones = Array.from({ length: 256 }, () => tombstone);
    expect(parseFrame(encodeFrame(request(1, 'MAILBOX_ACK', { key: KEY, n: 7, tombstones }))).ok).toBe(true);
    const r = { k: ID_A, h: MAX_HOPS, max: MAX_HOPS, ms: 60_000 };
    expect(parseFrame(encodeFrame(request(1, 'PING', {}, r))).ok).toBe(true);
    const signal = { ...EXAMPLES.SIGNAL.req, data: 'x'.repeat(16_384), conn: 'c'.repeat(64) };
    expect(parseFrame(reqFrame('SIGNAL', signal)).ok).toBe(true);
  });

  it('a parsed request narrows its body type by method', () => {
    const parsed = parseFrame(reqFrame('FIND_NODE'));
    if (!parsed.ok || parsed.frame.t !== 'req' || parsed.frame.m !== 'FIND_NODE') throw new Error('bad');
    expectTypeOf(parsed.frame.b).toEqualTypeOf<{ target: string }>();
    expectTypeOf<RequestFrame['m']>().toEqualTypeOf<Method>();
    expectTypeOf(parseResponseBody('STORE', {})).toEqualTypeOf<ResponseBodyOf<'STORE'> | null>();
    expect(parsed.frame.b.target).toBe(ID_B);
  });
});

// ---- Field violations ----------------------------------------------------------------------

describe('contacts in answers', () => {
  it('a FIND_NODE or FIND_VALUE answer naming bare ids (the old shape) is refused whole', () => {
    expect(parseResponseBody('FIND_NODE', { nodes: [ID_A] })).toBeNull();
    expect(parseResponseBody('FIND_VALUE', { record: null, nodes: [ID_A] })).toBeNull();
  });

  it('a contact with an id beside its key, a bad nonce or a non-canonical key is refused', () => {
    for (const c of [{ key: KEY, n: 7, id: ID_A }, { key: KEY, n: -1 }, { key: KEY, n: 2 ** 32 }, { key: KEY.slice(0, -1) + 'B', n: 7 }, { key: KEY }]) {
      expect(parseResponseBody('FIND_NODE', { nodes: [c] }), JSON.stringify(c)).toBeNull();
    }
  });

  it('an answer with more contacts than MAX_NODES_PER_REPLY is refused', () => {
    const nodes = Array.from({ length: MAX_NODES_PER_REPLY + 1 }, () => ({ key: KEY, n: 7 }));
    expect(parseResponseBody('FIND_NODE', { nodes })).toBeNull();
  });
});

describe('envelope versions', () => {
  it('an old-format envelope (sender in the clear) is dropped as old-version, not opened', () => {
    for (const m of ['DELIVER', 'MAILBOX_STORE'] as const) {
      const b = m === 'DELIVER' ? { envelope: oldEnvelope } : { envelope: oldEnvelope, copies: 1 };
      expect(reject(reqFrame(m, b))).toEqual({ ok: false, reason: 'old-version', id: 42 });
    }
    // Another version number, or none, is junk like any other.
    expectBadBody('DELIVER', { envelope: { ...envelope, v: 1 } });
    expectBadBody('DELIVER', { envelope: { ...envelope, v: 3 } });
    const { v: _v, ...unversioned } = envelope;
    expectBadBody('DELIVER', { envelope: unversioned });
    expectBadResponse('MAILBOX_FETCH', { entries: [oldEnvelope], more: false });
  });
});

describe('field violations', () => {
  it('ids of the wrong hex length or in uppercase are rejected', () => {
    expectBadBody('FIND_NODE', { target: hex(39) });
    expectBadBody('FIND_NODE', { target: hex(41) });
    expectBadBody('FIND_NODE', { target: hex(40, 'A') });
    expectBadBody('FIND_NODE', { target: hex(40, 'g') });
    expectBadBody('DELIVER', { envelope: { ...envelope, id: hex(31, 'c') } });
    expectBadBody('DELIVER', { envelope: { ...envelope, id: hex(32, 'C') } });
    expectBadResponse('FIND_NODE', { nodes: [ID_A, hex(40, 'F')] });
  });

  it('more than 32 nodes in a reply are rejected', () => {
    expectBadResponse('FIND_NODE', { nodes: Array.from({ length: 33 }, () => ID_A) });
    expectBadResponse('FIND_VALUE', { record: null, nodes: Array.from({ length: 33 }, () => ID_A) });
  });

  it('a route with more hops taken than its limit, or out of range, is a bad shape with the id', () => {
    for (const r of [
      { ...route, h: 21, max: 20 },
      { ...route, max: 0, h: 0 },
      { ...route, max: MAX_HOPS + 1 },
      { ...route, ms: 60_001 },
      { ...route, ms: -1 },
      { ...route, k: hex(40, 'B') },
      { ...route, extra: 1 },
      { k: ID_A, h: 0, max: 1 },
    ]) {
      expect(reject(reqFrame('PING', {}, { r }))).toEqual({ ok: false, reason: 'bad-shape', id: 42 });
    }
    expect(reject(reqFrame('PING', {}, { r: null })).reason).toBe('bad-shape');
  });

  it('an extra key anywhere drops the frame instead of being trimmed', () => {
    expect(reject(reqFrame('PING', {}, { x: 1 })).reason).toBe('bad-shape');
    expectBadBody('PING', { x: 1 });
    expectBadBody('STORE', { record: { ...record, admin: true } });
    expectBadBody('DELIVER', { envelope: { ...envelope, extra: '' } });
    expectBadBody('DELIVER', { envelope: { ...envelope, from: ID_A } });
    expectBadBody('DELIVER', { envelope: { ...envelope, sentAt: 1 } });
    expect(reject(JSON.stringify({ ...hello(KEY, 7, SIG), v: 2 })).reason).toBe('bad-shape');
    expect(reject(JSON.stringify({ ...errorFrame(1, ErrorCode.Busy, 'x'), why: 'x' })).reason).toBe('bad-shape');
    expectBadResponse('SIGNAL', { data: null, busy: 1 });
  });

  it('__proto__ and constructor keys are extra keys, not prototype tricks', () => {
    expect(reject('{"t":"hello","key":"'+KEY+'","sig":"'+SIG+'","__proto__":{"x":1}}').reason).toBe('bad-shape');
    expect(reject('{"t":"err","id":1,"code":"BUSY","msg":"","constructor":1}').reason).toBe('bad-shape');
    expect(reject('{"t":"req","id":1,"m":"PING","b":{"__proto__":null}}').reason).toBe('bad-body');
    expect(reject('{"t":"req","id":1,"m":"__proto__","b":{}}').reason).toBe('unknown-method');
    expect(reject('{"t":"toString","id":1}').reason).toBe('bad-shape');
    expect(parseResponseBody('toString' as Method, {})).toBeNull();
  });

  it('a negative, fractional, too large or non-numeric id is rejected and not echoed', () => {
    for (const id of ['-1', '1.5', '4294967296', '"1"', 'null', '1e400', '-0.0001']) {
      const text = `{"t":"req","id":${id},"m":"PING","b":{}}`;
      expect(reject(text)).toEqual({ ok: false, reason: 'bad-shape' });
    }
    expect(reject(JSON.stringify(errorFrame(-1, ErrorCode.Busy, ''))).reason).toBe('bad-shape');
    expect(reject(JSON.stringify(response(0.5, {}))).reason).toBe('bad-shape');
  });

  it('non-integer and out-of-range numbers in bodies are rejected', () => {
    expectBadBody('MAILBOX_STORE', { envelope, copies: 9 });
    expectBadBody('MAILBOX_STORE', { envelope, copies: 1.5 });
    expectBadBody('STORE', { record: { ...record, seq: -1 } });
    expectBadBody('STORE', { record: { ...record, registeredAt: 2 ** 53 } });
    expectBadBody('MAILBOX_FETCH', { ...EXAMPLES.MAILBOX_FETCH.req, at: '1700000000000' });
    expectBadResponse('MAILBOX_STORE', { stored: true, holders: 3, acks: [] });
    expectBadResponse('MAILBOX_STORE', { stored: true, acks: Array.from({ length: 10 }, () => holderAck) });
    expectBadResponse('MAILBOX_STORE', { stored: true, acks: [{ ...holderAck, key: KEY.slice(1) }] });
    expectBadBody('MAILBOX_FETCH', { ...EXAMPLES.MAILBOX_FETCH.req, holder: undefined });
    expectBadBody('MAILBOX_FETCH', { ...EXAMPLES.MAILBOX_FETCH.req, nonce: b64(16) });
    expectBadBody('MAILBOX_ACK', { key: KEY, tombstones: [{ ...tombstone, h: hex(32, 'c') }] });
    expectBadResponse('MAILBOX_ACK', { accepted: 257 });
    expectBadResponse('SIGNAL', { data: null, busyMs: 3_600_001 });
    // BUSY was a frame of its own, parsed and never sent: a busy peer answers SIGNAL with busyMs.
    expect(reject(JSON.stringify({ t: 'busy', retryMs: 1 })).reason).toBe('bad-shape');
  });

  it('signal data of 16385 characters and bad connection ids are rejected', () => {
    const ok = EXAMPLES.SIGNAL.req;
    expectBadBody('SIGNAL', { ...ok, data: 'x'.repeat(16_385) });
    expectBadBody('SIGNAL', { ...ok, conn: '' });
    expectBadBody('SIGNAL', { ...ok, conn: 'c'.repeat(65) });
    expectBadBody('SIGNAL', { ...ok, conn: 'a b' });
    expectBadResponse('SIGNAL', { data: 'x'.repeat(16_385) });
    expectBadResponse('SIGNAL', { busyMs: 5 });
  });

  it('base64 fields of the wrong length, alphabet, padding or spelling are rejected', () => {
    expect(KEY).toHaveLength(43);
    expect(SIG).toHaveLength(86);
    expect(b64(12)).toHaveLength(16);
    expect(reject(JSON.stringify(hello(KEY.slice(1), 7, SIG))).reason).toBe('bad-shape');
    expect(reject(JSON.stringify(hello(KEY + 'A', 7, SIG))).reason).toBe('bad-shape');
    expect(reject(JSON.stringify(hello(KEY, 7, SIG.slice(0, 85) + '+'))).reason).toBe('bad-shape');
    expect(reject(JSON.stringify(hello(KEY + '=', 7, SIG))).reason).toBe('bad-shape');
    // 'B' differs from 'A' only in bits that 32 bytes do not use: same bytes, second spelling.
    expect(reject(JSON.stringify(hello(KEY.slice(0, 42) + 'B', 7, SIG))).reason).toBe('bad-shape');
    expectBadBody('DELIVER', { envelope: { ...envelope, nonce: b64(13) } });
    expectBadBody('DELIVER', { envelope: { ...envelope, ct: b64(99) + 'A' } }); // 4n+1 chars: no byte string
    expectBadBody('DELIVER', { envelope: { ...envelope, ct: b64(100).replace(/.$/, '/') } });
    expectBadBody('DELIVER', { envelope: { ...envelope, ct: b64(16_384 + 16 + 1024 + 1) } });
  });

  it('usernames outside [a-z0-9_-]{3,32} are rejected', () => {
    for (const name of ['ab', 'Alice', 'a'.repeat(33), 'al ice', 'alé']) {
      expectBadBody('STORE', { record: { ...record, name } });
    }
  });

  it('ack lists must hold 1 to 256 tombstones and fetch replies at most 64 entries', () => {
    expectBadBody('MAILBOX_ACK', { key: KEY, tombstones: [] });
    expectBadBody('MAILBOX_ACK', { tombstones: [tombstone] });
    expectBadBody('MAILBOX_ACK', { key: KEY, tombstones: Array.from({ length: 257 }, () => tombstone) });
    expectBadResponse('MAILBOX_FETCH', { entries: Array.from({ length: 65 }, () => envelope), more: true });
  });

  it('error frames need an uppercase code of 1 to 32 characters and a message of at most 256', () => {
    for (const code of ['', 'bad', 'A'.repeat(33), 'BAD-REQUEST']) {
      expect(reject(JSON.stringify({ t: 'err', id: 1, code, msg: '' })).reason).toBe('bad-shape');
    }
    const long = { t: 'err', id: 1, code: 'X', msg: 'm'.repeat(257) };
    expect(reject(JSON.stringify(long)).reason).toBe('bad-shape');
    expect(errorFrame(1, ErrorCode.BadRequest, 'm'.repeat(1000)).msg).toHaveLength(256);
  });

  it('missing keys, wrong types and arrays in place of objects are rejected', () => {
    expect(reject('{"t":"req","id":1,"m":"PING"}')).toEqual({ ok: false, reason: 'bad-shape', id: 1 });
    expectBadBody('PING', []);
    expectBadBody('PING', null);
    expectBadBody('FIND_NODE', {});
    expectBadResponse('PING', []);
    expectBadResponse('STORE', { stored: 1, record: null });
    expect(reject('{"t":"res","id":1,"b":[]}').reason).toBe('bad-shape');
    expect(reject('{"t":"res","id":1,"b":"x"}').reason).toBe('bad-shape');
    expect(reject('[{"t":"res","id":1,"b":{}}]').reason).toBe('bad-shape');
    expect(reject('"hello"').reason).toBe('bad-shape');
    expect(reject('null').reason).toBe('bad-shape');
  });
});

// ---- Drop reasons --------------------------------------------------------------------------

describe('drop reasons', () => {
  it('an unknown method gives unknown-method with the id, so the caller can answer it', () => {
    expect(reject('{"t":"req","id":77,"m":"FIND_PEERS","b":{}}')).toEqual({
      ok: false,
      reason: 'unknown-method',
      id: 77,
    });
    expect(reject('{"t":"req","id":-7,"m":"FIND_PEERS","b":{}}')).toEqual({ ok: false, reason: 'bad-shape' });
    expect(reject('{"t":"req","id":8,"m":"ping","b":{}}').id).toBe(8);
  });

  it('input that is not a string is not-text and broken JSON is not-json', () => {
    for (const input of [undefined, null, 1, {}, new Uint8Array(4), new ArrayBuffer(8)]) {
      expect(parseFrame(input)).toEqual({ ok: false, reason: 'not-text' });
    }
    for (const text of ['', '{', '{"t":"busy",}', "{'t':'busy'}", 'NaN', '\u0000']) {
      expect(parseFrame(text)).toEqual({ ok: false, reason: 'not-json' });
    }
  });

  it('frames over 64 KiB are too-large before any JSON parsing, counting UTF-8 bytes', () => {
    const valid = JSON.stringify(request(1, 'SIGNAL', { ...EXAMPLES.SIGNAL.req, data: '€'.repeat(16_384) }));
    const bytes = new TextEncoder().encode(valid).length;
    const exact = valid + ' '.repeat(MAX_FRAME_BYTES - bytes);
    expect(exact.length * 3).toBeGreaterThan(MAX_FRAME_BYTES); // the exact count is needed
    expect(parseFrame(exact).ok).toBe(true);
    expect(parseFrame(exact + ' ')).toEqual({ ok: false, reason: 'too-large' });
    // Not JSON at all, yet too-large: the size is checked first.
    expect(parseFrame('{'.repeat(MAX_FRAME_BYTES + 1))).toEqual({ ok: false, reason: 'too-large' });
    expect(parseFrame('é'.repeat(MAX_FRAME_BYTES / 2 + 1))).toEqual({ ok: false, reason: 'too-large' });
    expect(parseFrame('😀'.repeat(MAX_FRAME_BYTES / 4 + 1))).toEqual({ ok: false, reason: 'too-large' });
    expect(exceedsFrameLimit('\ud800'.repeat(Math.ceil(MAX_FRAME_BYTES / 3) + 1))).toBe(true);
  });

  it('encodeFrame refuses to build a frame over 64 KiB with a BadRequest error', () => {
    const big = { ...envelope, ct: b64(16_384 + 16 + 1024) };
    const frame = response(1, { entries: [big, big, big], more: true });
    let thrown: unknown;
    try {
      encodeFrame(frame);
    } catch (err) {
      thrown = err;
    }
    expect(isPeerchatError(thrown, ErrorCode.BadRequest)).toBe(true);
    expect(() => encodeFrame(response(1, { entries: [big, big], more: true }))).not.toThrow();
  });
});

// ---- Never throws --------------------------------------------------------------------------

/** Applies random edits: flip a bit of a character, delete one, or insert one. */
const edit = fc.record({
  op: fc.constantFrom('flip', 'delete', 'insert'),
  at: fc.nat(),
  bit: fc.integer({ min: 0, max: 15 }),
  ch: fc.oneof(
    fc.constantFrom(...'{}[]":,-.0123456789eEtfnu\\ '),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  ),
});
function mutate(text: string, edits: { op: string; at: number; bit: number; ch: string }[]): string {
  let out = text;
  for (const e of edits) {
    const i = out.length === 0 ? 0 : e.at % out.length;
    if (e.op === 'delete') out = out.slice(0, i) + out.slice(i + 1);
    else if (e.op === 'insert') out = out.slice(0, i) + e.ch + out.slice(i);
    else out = out.slice(0, i) + String.fromCharCode(out.charCodeAt(i) ^ (1 << e.bit)) + out.slice(i + 1);
  }
  return out;
}

/**
 * A parse either drops or yields a frame that encodes and parses back to itself. A reply's body
 * is raw JSON until parseResponseBody checks it (1e999 there is Infinity, re-encoded as null), so
 * for replies the same holds for every method's view of the body.
 */
function checkTotal(input: unknown): void {
  const result = parseFrame(input);
  if (!result.ok) return;
  if (result.frame.t !== 'res') {
    expect(parseFrame(encodeFrame(result.frame))).toEqual(result);
    return;
  }
  for (const m of METHODS_ALL) {
    const body = parseResponseBody(m, result.frame.b);
    if (body !== null) expect(parseResponseBody(m, JSON.parse(JSON.stringify(body)))).toEqual(body);
  }
}

describe('parseFrame never throws', () => {
  const utf16Unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

  it('on arbitrary strings, including lone surrogates', () => {
    fc.assert(fc.property(fc.string(), checkTotal), { numRuns: 1500 });
    fc.assert(fc.property(fc.string({ unit: 'binary' }), checkTotal), { numRuns: 1500 });
    fc.assert(fc.property(fc.string({ unit: utf16Unit }), checkTotal), { numRuns: 1000 });
  });

  it('on arbitrary JSON values and stringified arbitrary values', () => {
    fc.assert(fc.property(fc.json(), checkTotal), { numRuns: 1500 });
    fc.assert(fc.property(fc.anything(), (x) => checkTotal(JSON.stringify(x))), { numRuns: 1500 });
  });

  it('on frame-shaped objects with arbitrary fields', () => {
    const shaped = fc.record(
      {
        t: fc.constantFrom('hello', 'req', 'res', 'err', 'busy', '__proto__'),
        id: fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.jsonValue()),
        m: fc.oneof(fc.constantFrom(...METHODS_ALL, 'constructor', 'hasOwnProperty'), fc.string()),
        b: fc.oneof(fc.constantFrom(...METHODS_ALL.map((m) => EXAMPLES[m].req)), fc.jsonValue()),
        r: fc.oneof(fc.constant(route), fc.jsonValue()),
      },
      { requiredKeys: ['t'] },
    );
    fc.assert(fc.property(shaped, (x) => checkTotal(JSON.stringify(x))), { numRuns: 2000 });
  });

  it('on valid frames with random characters flipped, deleted or inserted', () => {
    const encoded = VALID_FRAMES.map(encodeFrame);
    const mutated = fc
      .tuple(fc.constantFrom(...encoded), fc.array(edit, { minLength: 1, maxLength: 6 }))
      .map(([text, edits]) => mutate(text, edits));
    fc.assert(fc.property(mutated, checkTotal), { numRuns: 3000 });
  });

  it('on a 64 KiB frame of the slowest shapes, which still parses in one pass', () => {
    const pad = (s: string) => s + ' '.repeat(MAX_FRAME_BYTES - new TextEncoder().encode(s).length);
    const big = { ...envelope, ct: b64(16_384 + 16 + 1024) };
    const fetch = pad(encodeFrame(response(1, { entries: [big, big], more: true })));
    const parsed = parseFrame(fetch);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok || parsed.frame.t !== 'res') throw new Error('expected a reply');
    expect(parseResponseBody('MAILBOX_FETCH', parsed.frame.b)).not.toBeNull();
    const numbers = `{"t":"res","id":1,"b":{"nodes":[${'1,'.repeat(32_000)}1]}}`;
    const nested = '['.repeat(32_000) + ']'.repeat(32_000);
    const nestedObjects = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
    const badCt = reqFrame('DELIVER', { envelope: { ...big, ct: big.ct.slice(0, -1) + '=' } });
    const padded = pad('{"t":"req","id":1,"m":"PING","b":{}}');
    for (const text of [numbers, nested, nestedObjects, badCt, padded]) {
      expect(exceedsFrameLimit(text)).toBe(false);
      checkTotal(text);
    }
    expect(parseResponseBody('FIND_NODE', JSON.parse(numbers).b)).toBeNull();
  });
});
