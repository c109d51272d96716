/**
 * Wire schemas: one valibot schema per message body, and a table per direction keyed by method
 * (as js-libp2p kad-dht keys its handlers). `protocol.ts` builds parse and encode on these.
 *
 * Every object is strict: a frame with a key we do not know is dropped, never trimmed, so two
 * implementations cannot silently disagree about what a signed or routed message meant.
 */
import * as v from 'valibot';
import { MAX_HOPS } from './constants.ts';
import { MAX_MESSAGE_BODY_BYTES, USERNAME_PATTERN } from '../chat/constants.ts';

/** Largest `retryMs` of BUSY and `busyMs` of a SIGNAL reply: one hour. */
export const MAX_RETRY_MS = 3_600_000;
/** Largest time budget a routed request may carry. */
export const MAX_ROUTE_BUDGET_MS = 60_000;
/** Node ids in one FIND_NODE / FIND_VALUE reply. */
export const MAX_NODES_PER_REPLY = 32;
/** Characters of SDP / ICE text in one SIGNAL request or reply. */
export const MAX_SIGNAL_DATA_CHARS = 16_384;
export const MAX_SIGNAL_CONN_CHARS = 64;
/** Copies a MAILBOX_STORE asks its receiver to make, and holders it may report. */
export const MAX_MAILBOX_COPIES = 8;
export const MAX_MAILBOX_HOLDERS = 64;
/** Entries in one MAILBOX_FETCH reply (the frame limit usually bites first: see protocol.ts). */
export const MAX_FETCH_ENTRIES = 64;
/** Tombstones in one MAILBOX_ACK. */
export const MAX_TOMBSTONES_PER_ACK = 256;
export const MAX_ERROR_CODE_CHARS = 32;
export const MAX_ERROR_MSG_CHARS = 256;
/** Sealed body bytes: the body, the AES-GCM tag, and room for padding and an inner header. */
export const MAX_CIPHERTEXT_BYTES = MAX_MESSAGE_BODY_BYTES + 16 + 1024;
/** Base64url characters of the largest ciphertext (no padding). */
export const MAX_CIPHERTEXT_CHARS = Math.ceil((MAX_CIPHERTEXT_BYTES * 4) / 3);

// ---- Scalars -------------------------------------------------------------------------------

const int = (min: number, max: number) =>
  v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));

export const U32 = int(0, 0xffff_ffff);
/** Milliseconds since the epoch. */
export const Time = int(0, Number.MAX_SAFE_INTEGER);
export const Hex40 = v.pipe(v.string(), v.regex(/^[0-9a-f]{40}$/));
export const Hex32 = v.pipe(v.string(), v.regex(/^[0-9a-f]{32}$/));

/**
 * Base64url of exactly `bytes` bytes, unpadded and canonical: the unused low bits of the last
 * character must be zero, so one byte string has one spelling (no malleable signatures or keys).
 */
function b64Exact(bytes: number) {
  const chars = Math.ceil((bytes * 4) / 3);
  const last = ['[A-Za-z0-9_-]', '[AQgw]', '[AEIMQUYcgkosw048]'][bytes % 3]!;
  const pattern = new RegExp(`^[A-Za-z0-9_-]{${chars - 1}}${last}$`);
  return v.pipe(v.string(), v.length(chars), v.regex(pattern));
}
/** Any canonical unpadded base64url: groups of 4, then an optional 2- or 3-character tail. */
const B64_ANY = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$/;

export const B64Key = b64Exact(32);
export const B64Sig = b64Exact(64);
export const B64Nonce = b64Exact(12);
export const B64Ciphertext = v.pipe(v.string(), v.maxLength(MAX_CIPHERTEXT_CHARS), v.regex(B64_ANY));

export const Username = v.pipe(v.string(), v.regex(USERNAME_PATTERN));
const ConnId = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(MAX_SIGNAL_CONN_CHARS),
  v.regex(/^[A-Za-z0-9_-]+$/),
);
const SignalData = v.pipe(v.string(), v.maxLength(MAX_SIGNAL_DATA_CHARS));
const RetryMs = int(0, MAX_RETRY_MS);
const NodeList = v.pipe(v.array(Hex40), v.maxLength(MAX_NODES_PER_REPLY));

/**
 * `{}` that is really an object: strictObject alone accepts `[]` (an array has no extra keys).
 * Bodies with required keys reject arrays through their missing keys.
 */
export const Empty = v.pipe(
  v.custom<Record<string, never>>((x) => typeof x === 'object' && x !== null && !Array.isArray(x)),
  v.strictObject({}),
);

// ---- Records -------------------------------------------------------------------------------

export const UserRecordWire = v.strictObject({
  name: Username,
  signingKey: B64Key,
  agreementKey: B64Key,
  registeredAt: Time,
  seq: U32,
  expiresAt: Time,
  sig: B64Sig,
});

export const EnvelopeWire = v.strictObject({
  id: Hex32,
  from: Hex40,
  to: Hex40,
  sentAt: Time,
  epk: B64Key,
  nonce: B64Nonce,
  ct: B64Ciphertext,
  sig: B64Sig,
});

export const TombstoneWire = v.strictObject({ id: Hex32, to: Hex40, at: Time, sig: B64Sig });
/** A signed receipt has the tombstone's shape: "message id, to, at", signed by the recipient. */
export const ReceiptWire = TombstoneWire;

// ---- Route ---------------------------------------------------------------------------------

export const Route = v.pipe(
  v.strictObject({
    k: Hex40,
    h: int(0, MAX_HOPS),
    max: int(1, MAX_HOPS),
    ms: int(0, MAX_ROUTE_BUDGET_MS),
    /** A node the request must not be delivered to: the origin, when it asks about its own id. */
    x: v.optional(Hex40),
  }),
  v.check((r) => r.h <= r.max, 'hops taken exceed the hop limit'),
);

// ---- Bodies, one pair per method -----------------------------------------------------------

export const METHODS = [
  'PING',
  'FIND_NODE',
  'FIND_VALUE',
  'STORE',
  'MAILBOX_STORE',
  'MAILBOX_FETCH',
  'MAILBOX_ACK',
  'DELIVER',
  'SIGNAL',
] as const;
export type Method = (typeof METHODS)[number];

/** `key` is the recipient's signing key: holders check each tombstone against it. */
const MailboxAck = v.strictObject({
  key: B64Key,
  tombstones: v.pipe(
    v.array(TombstoneWire),
    v.minLength(1),
    v.maxLength(MAX_TOMBSTONES_PER_ACK),
  ),
});

export const REQUEST_BODIES = {
  PING: Empty,
  FIND_NODE: v.strictObject({ target: Hex40 }),
  FIND_VALUE: v.strictObject({ key: Hex40 }),
  STORE: v.strictObject({ record: UserRecordWire }),
  MAILBOX_STORE: v.strictObject({ envelope: EnvelopeWire, copies: int(0, MAX_MAILBOX_COPIES) }),
  MAILBOX_FETCH: v.strictObject({ owner: Hex40, key: B64Key, at: Time, sig: B64Sig }),
  MAILBOX_ACK: MailboxAck,
  DELIVER: v.strictObject({ envelope: EnvelopeWire }),
  SIGNAL: v.strictObject({ from: Hex40, to: Hex40, conn: ConnId, data: SignalData }),
} as const satisfies { [M in Method]: v.GenericSchema };

export const RESPONSE_BODIES = {
  PING: Empty,
  FIND_NODE: v.strictObject({ nodes: NodeList }),
  FIND_VALUE: v.strictObject({ record: v.nullable(UserRecordWire), nodes: NodeList }),
  /** `record` is what the holder keeps for that name after the STORE, ours or another. */
  STORE: v.strictObject({ stored: v.boolean(), record: v.nullable(UserRecordWire) }),
  /** `ack` comes from a holder that has the message's tombstone: it was fetched already. */
  MAILBOX_STORE: v.strictObject({ stored: v.boolean(), holders: int(0, MAX_MAILBOX_HOLDERS), ack: v.optional(MailboxAck) }),
  MAILBOX_FETCH: v.strictObject({
    entries: v.pipe(v.array(EnvelopeWire), v.maxLength(MAX_FETCH_ENTRIES)),
    more: v.boolean(),
  }),
  MAILBOX_ACK: v.strictObject({ accepted: int(0, MAX_TOMBSTONES_PER_ACK) }),
  /** `ack` answers a holder's push: the tombstone that deletes what it handed over. */
  DELIVER: v.strictObject({ receipt: ReceiptWire, ack: v.optional(MailboxAck) }),
  SIGNAL: v.strictObject({ data: v.nullable(SignalData), busyMs: v.optional(RetryMs) }),
} as const satisfies { [M in Method]: v.GenericSchema };

// ---- Frames --------------------------------------------------------------------------------

export const HelloFrame = v.strictObject({ t: v.literal('hello'), key: B64Key, sig: B64Sig });

/** A request before its body is checked: the body schema depends on `m`, checked second. */
export const RequestHeader = v.strictObject({
  t: v.literal('req'),
  id: U32,
  m: v.string(),
  r: v.optional(Route),
  b: v.unknown(),
});

/** A reply's body is checked by the requester, which alone knows the method it asked. */
export const ResponseFrame = v.strictObject({
  t: v.literal('res'),
  id: U32,
  b: v.custom<unknown>((x) => typeof x === 'object' && x !== null && !Array.isArray(x)),
});

export const ErrorFrame = v.strictObject({
  t: v.literal('err'),
  id: U32,
  code: v.pipe(
    v.string(),
    v.minLength(1),
    v.maxLength(MAX_ERROR_CODE_CHARS),
    v.regex(/^[A-Z_]+$/),
  ),
  msg: v.pipe(v.string(), v.maxLength(MAX_ERROR_MSG_CHARS)),
});

export const BusyFrame = v.strictObject({ t: v.literal('busy'), retryMs: RetryMs });
