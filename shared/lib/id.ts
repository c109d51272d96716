/**
 * 160-bit identifiers and the XOR metric.
 *
 * Ids are raw bytes (Uint8Array of ID_BYTES) inside the engine and lowercase hex on the wire
 * and as map keys. Distances are compared byte by byte, never converted to numbers.
 */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';

export const ID_BITS = 160;
export const ID_BYTES = ID_BITS / 8;

export type NodeId = Uint8Array;

const encoder = new TextEncoder();
const HEX_DIGITS = '0123456789abcdef';
/** Byte -> two lowercase hex chars, and char code -> nibble (-1 for anything but [0-9a-f]). */
const BYTE_HEX = Array.from({ length: 256 }, (_, b) => HEX_DIGITS[b >> 4]! + HEX_DIGITS[b & 15]!);
const NIBBLE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) NIBBLE[HEX_DIGITS.charCodeAt(i)] = i;

// Ids cross the wire as hex and key every map, so these two run on every frame: table lookups
// instead of a regex, toString(16) and parseInt per byte (they were 5% of a simulation's time).

export function idToHex(id: NodeId): string {
  let out = '';
  for (let i = 0; i < id.length; i++) out += BYTE_HEX[id[i]!]!;
  return out;
}

/** Parses 40 lowercase hex chars; returns null for anything else (untrusted input). */
export function idFromHex(hex: string): NodeId | null {
  if (typeof hex !== 'string' || hex.length !== 2 * ID_BYTES) return null;
  const id = new Uint8Array(ID_BYTES);
  for (let i = 0; i < ID_BYTES; i++) {
    const hi = NIBBLE[hex.charCodeAt(2 * i)] ?? -1;
    const lo = NIBBLE[hex.charCodeAt(2 * i + 1)] ?? -1;
    if (hi < 0 || lo < 0) return null;
    id[i] = (hi << 4) | lo;
  }
  return id;
}

export function isValidIdHex(hex: unknown): hex is string {
  return idFromHex(hex as string) !== null;
}

export function idEquals(a: NodeId, b: NodeId): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function xorDistance(a: NodeId, b: NodeId): Uint8Array {
  const d = new Uint8Array(ID_BYTES);
  for (let i = 0; i < ID_BYTES; i++) d[i] = a[i]! ^ b[i]!;
  return d;
}

/** Compares two byte strings as big-endian unsigned integers: -1, 0 or 1. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/**
 * log2 of the XOR distance between two ids, from its six leading bytes (plenty of precision
 * for comparing densities); -Infinity for the same id.
 */
export function log2Distance(a: NodeId, b: NodeId): number {
  let first = 0;
  while (first < ID_BYTES && a[first] === b[first]) first++;
  if (first === ID_BYTES) return -Infinity;
  const take = Math.min(6, ID_BYTES - first);
  let mantissa = 0;
  for (let i = first; i < first + take; i++) mantissa = mantissa * 256 + (a[i]! ^ b[i]!);
  return Math.log2(mantissa) + 8 * (ID_BYTES - first - take);
}

/**
 * Which of a and b is closer to target: negative when a is closer, positive when b is,
 * 0 when a and b are the same id. Allocation-free, since routing calls it in hot loops.
 */
export function compareDistance(target: NodeId, a: NodeId, b: NodeId): number {
  for (let i = 0; i < ID_BYTES; i++) {
    const da = a[i]! ^ target[i]!;
    const db = b[i]! ^ target[i]!;
    if (da !== db) return da < db ? -1 : 1;
  }
  return 0;
}

/**
 * Index of the k-bucket that `other` falls in as seen from `self`: 159 for ids that differ in
 * the first bit (the far half of the space), 0 for ids that differ only in the last bit,
 * -1 for the same id.
 */
export function bucketIndex(self: NodeId, other: NodeId): number {
  for (let i = 0; i < ID_BYTES; i++) {
    const x = self[i]! ^ other[i]!;
    if (x !== 0) return ID_BITS - 1 - (i * 8 + Math.clz32(x) - 24);
  }
  return -1;
}

/** Sorts ids (or things with an id) by distance to target, closest first, in place. */
export function sortByDistance<T>(target: NodeId, items: T[], idOf: (item: T) => NodeId): T[] {
  return items.sort((a, b) => compareDistance(target, idOf(a), idOf(b)));
}

/** The n ids (40 hex each) of `hexes` closest to `keyHex`, closest first: what a lookup must find. */
export function closestHexes(keyHex: string, hexes: readonly string[], n: number): string[] {
  const key = idFromHex(keyHex);
  if (!key) throw new Error('key must be 40 hex digits');
  return sortByDistance(key, hexes.map((h) => ({ h, id: idFromHex(h)! })), (x) => x.id)
    .slice(0, n)
    .map((x) => x.h);
}

/**
 * SHA-256, synchronous, from @noble/hashes. WebCrypto's digest is async, and ids are hashed on
 * hot paths (every HELLO, every name lookup): a synchronous hash keeps those paths simple and
 * keeps the simulator deterministic, since no hash completes "later" in real time.
 */
export function sha256(bytes: Uint8Array): Uint8Array {
  return nobleSha256(bytes);
}

/**
 * The ids of keys made before ids cost work: the first 160 bits of SHA-256(key). Only stored
 * data still names these (a returning user's old mailbox address, records held since then);
 * no channel, SIGNAL or signal-server hello accepts one.
 */
export function legacyNodeId(rawPublicKey: Uint8Array): NodeId {
  return sha256(rawPublicKey).slice(0, ID_BYTES);
}

// ---- Ids that cost work --------------------------------------------------------------------
//
// A node id is the first 160 bits of H = SHA-256(ID_WORK_TAG || signing key || n), where the
// nonce n (u32, chosen when the identity is made) is valid only if H's last `bits` bits are
// zero. One hash verifies it; ids stay uniform; and since the id and the zero bits come from
// the same hash, an id with a chosen b-bit prefix costs about 2^(b + bits) hashes, not
// 2^b + 2^bits (the work is multiplicative with the id's position, as in S/Kademlia).

/**
 * The network's work per id: zero bits a valid id's hash ends with, 2^15 hashes on average. A
 * try costs ~1.1-1.7 µs of CPU in Node and ~2.5-3.6 µs in Chromium on a shared 2-core EPYC
 * (bench/id-work.ts), so a new identity's p99 (ln 100 x 2^15 tries) is ~0.35 s of a tab's CPU;
 * 16 bits measured 0.84 s, and over 1 s of wall time on the loaded machine.
 */
export const ID_WORK_BITS = 15;
/** Largest nonce: a u32, sent as a JSON number. */
export const ID_NONCE_MAX = 0xffff_ffff;
const ID_WORK_TAG = encoder.encode('peerchat-node-id-v2');
const WORK_INPUT_BYTES = ID_WORK_TAG.length + 32 + 4;

let networkWorkBits = ID_WORK_BITS;

/** The work every id must carry in this process: ID_WORK_BITS unless a simulation or test set less. */
export function idWorkBits(): number {
  return networkWorkBits;
}

/**
 * Sets the network's work bits for this process. Every node of one network must agree, so it is
 * process-wide: the simulator (its `idWorkBits` option) and the tests' setup lower it, since they
 * make thousands of identities; the app and the headless node never call it.
 */
export function setIdWorkBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 0 || bits > 32) throw new RangeError('work bits must be an integer in 0..32');
  networkWorkBits = bits;
}

/** The bytes hashed for key and nonce; `into` is reused by the search loop. */
function workInput(rawPublicKey: Uint8Array, nonce: number, into = new Uint8Array(WORK_INPUT_BYTES)): Uint8Array {
  into.set(ID_WORK_TAG, 0);
  into.set(rawPublicKey, ID_WORK_TAG.length);
  writeNonce(into, nonce);
  return into;
}

function writeNonce(into: Uint8Array, nonce: number): void {
  const at = WORK_INPUT_BYTES - 4;
  into[at] = nonce >>> 24;
  into[at + 1] = (nonce >>> 16) & 0xff;
  into[at + 2] = (nonce >>> 8) & 0xff;
  into[at + 3] = nonce & 0xff;
}

/** Whether the last `bits` bits of `hash` are zero. */
export function endsWithZeroBits(hash: Uint8Array, bits: number): boolean {
  let i = hash.length - 1;
  let left = bits;
  for (; left >= 8; left -= 8, i--) if (hash[i] !== 0) return false;
  return left === 0 || (hash[i]! & ((1 << left) - 1)) === 0;
}

export function isIdNonce(nonce: unknown): nonce is number {
  return typeof nonce === 'number' && Number.isInteger(nonce) && nonce >= 0 && nonce <= ID_NONCE_MAX;
}

/**
 * The node id of signing key `rawPublicKey` with nonce `nonce`, or null when the nonce does not
 * carry `bits` of work (or either is malformed). One hash: cheap enough for every HELLO.
 */
export function nodeIdFromSigningKey(rawPublicKey: Uint8Array, nonce: number, bits = networkWorkBits): NodeId | null {
  if (rawPublicKey.length !== 32 || !isIdNonce(nonce)) return null;
  const h = sha256(workInput(rawPublicKey, nonce));
  return endsWithZeroBits(h, bits) ? h.slice(0, ID_BYTES) : null;
}

/** Whether key and nonce make exactly `id` (with the work): the check wherever a key meets an id. */
export function keyMakesId(rawPublicKey: Uint8Array, nonce: number, id: NodeId): boolean {
  const made = nodeIdFromSigningKey(rawPublicKey, nonce);
  return made !== null && idEquals(made, id);
}

/**
 * Tries nonces from `from` for at most `tries`; the first that carries `bits` of work, or null.
 * Callers that must stay responsive (a tab) call it in slices; see findIdNonce.
 */
export function searchIdNonce(rawPublicKey: Uint8Array, from: number, tries: number, bits = networkWorkBits): number | null {
  const input = workInput(rawPublicKey, 0);
  const end = Math.min(ID_NONCE_MAX, from + tries - 1);
  for (let n = from; n <= end; n++) {
    writeNonce(input, n);
    if (endsWithZeroBits(sha256(input), bits)) return n;
  }
  return null;
}

/** Nonces tried between progress reports and yields to the event loop (~10 ms in a tab). */
export const ID_WORK_SLICE_TRIES = 4096;

/**
 * The first nonce with `bits` of work for this key. Without `yieldEvery` it runs to the end
 * synchronously (Node, the simulator); a tab passes a function that yields (and reports how
 * many nonces it tried), so its page stays responsive and can show progress. Throws only if no
 * u32 nonce works: at ID_WORK_BITS, with probability e^-131072.
 */
export async function findIdNonce(
  rawPublicKey: Uint8Array,
  bits = networkWorkBits,
  yieldEvery?: (tried: number) => Promise<void>,
): Promise<number> {
  for (let from = 0; from <= ID_NONCE_MAX; from += ID_WORK_SLICE_TRIES) {
    const found = searchIdNonce(rawPublicKey, from, ID_WORK_SLICE_TRIES, bits);
    if (found !== null) return found;
    if (yieldEvery) await yieldEvery(from + ID_WORK_SLICE_TRIES);
  }
  throw new RangeError('No nonce carries that much work for this key; make another key.');
}

/** DHT key of a username: first 160 bits of SHA-256("user:" + name). Name must be normalized. */
export function userKey(username: string): NodeId {
  return sha256(encoder.encode('user:' + username)).slice(0, ID_BYTES);
}

/** An id drawn from the given source of random bytes (seeded in tests and the simulator). */
export function randomId(randomBytes: (n: number) => Uint8Array): NodeId {
  return randomBytes(ID_BYTES);
}

/** An id that shares self's first (159 - i) bits and differs at bit i: it falls in bucket i. */
export function randomIdInBucket(self: NodeId, i: number, random: Uint8Array): NodeId {
  const out = new Uint8Array(ID_BYTES);
  const flip = ID_BITS - 1 - i; // bit position from the most significant end
  for (let bit = 0; bit < ID_BITS; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    let v: number;
    if (bit < flip) v = self[byte]! & mask;
    else if (bit === flip) v = ~self[byte]! & mask;
    else v = random[byte]! & mask;
    out[byte]! |= v;
  }
  return out;
}
