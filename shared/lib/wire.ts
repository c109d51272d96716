/**
 * What every Peerchat wire format shares: the steps that turn untrusted text into a plain JSON
 * object (size first, then JSON.parse, never a throw), and the valibot scalars the schemas are
 * built from. The DHT's frames (dht/protocol.ts), the chat layer's bodies (chat/wire.ts) and the
 * signal server's messages (signal/protocol.ts) build on these.
 */
import * as v from 'valibot';

/** Stop at the first issue: a dropped frame needs no full list of what was wrong with it. */
export const FAST = { abortEarly: true, abortPipeEarly: true } as const;

const encoder = new TextEncoder();
let scratch = new Uint8Array(0);

/**
 * True when `text` is over `maxBytes` in UTF-8. A UTF-16 unit takes 1 to 3 bytes, so most
 * texts are decided by their length alone; the rest are encoded into a reused scratch buffer,
 * which stops at the limit. Lone surrogates count as U+FFFD (3 bytes), as a data channel or a
 * WebSocket would send them.
 */
export function exceedsUtf8Bytes(text: string, maxBytes: number): boolean {
  if (text.length * 3 <= maxBytes) return false;
  if (text.length > maxBytes) return true;
  if (scratch.length < maxBytes) scratch = new Uint8Array(maxBytes);
  return encoder.encodeInto(text, scratch.subarray(0, maxBytes)).read < text.length;
}

export type TextDropReason = 'not-text' | 'too-large' | 'not-json' | 'bad-shape';
export type JsonObjectResult = { ok: true; value: Record<string, unknown> } | { ok: false; reason: TextDropReason };

/** Untrusted text to a JSON object: checks the type and size before parsing. Never throws. */
export function parseJsonObject(text: unknown, maxBytes: number): JsonObjectResult {
  if (typeof text !== 'string') return { ok: false, reason: 'not-text' };
  if (exceedsUtf8Bytes(text, maxBytes)) return { ok: false, reason: 'too-large' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not-json' }; // SyntaxError, or RangeError on absurd nesting
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'bad-shape' };
  return { ok: true, value: value as Record<string, unknown> };
}

/** A schema's output, or null for anything that does not fit. Never throws. */
export function parseWith<T>(schema: v.GenericSchema<unknown, T>, value: unknown): T | null {
  try {
    const parsed = v.safeParse(schema, value, FAST);
    return parsed.success ? parsed.output : null;
  } catch {
    return null; // schemas do not throw on JSON values; this is the last guard
  }
}

// ---- Scalars -------------------------------------------------------------------------------

export const int = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));

export const U32 = int(0, 0xffff_ffff);
/** The nonce that gives a signing key its node id (lib/id.ts): sent beside the key. */
export const IdNonce = U32;
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
export const B64_ANY = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$/;

export const B64Key = b64Exact(32);
export const B64Sig = b64Exact(64);
export const B64Nonce = b64Exact(12);

/**
 * `{}` that is really an object: strictObject alone accepts `[]` (an array has no extra keys).
 * Bodies with required keys reject arrays through their missing keys.
 */
export const Empty = v.pipe(
  v.custom<Record<string, never>>((x) => typeof x === 'object' && x !== null && !Array.isArray(x)),
  v.strictObject({}),
);

/** Largest `retryMs` / `busyMs` any Peerchat protocol carries: one hour. */
export const MAX_RETRY_MS = 3_600_000;
export const RetryMs = int(0, MAX_RETRY_MS);
