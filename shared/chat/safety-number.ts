/**
 * The safety number two users compare to know they hold each other's real keys (like Signal's):
 * a pure function of both signing keys, so it is the same on both sides, and it changes when
 * either key does. Read aloud or side by side, 60 digits in 12 groups of 5.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { compareBytes } from '../lib/id.ts';
import { utf8Encode } from '../lib/encoding.ts';

const SAFETY_NUMBER_TAG = utf8Encode('peerchat-safety-number-v1');
export const SAFETY_NUMBER_GROUPS = 12;
const DIGITS_PER_GROUP = 5;
/** Each group is 5 bytes (a 40-bit number) reduced mod 10^5, as Signal renders its fingerprints. */
const BYTES_PER_GROUP = 5;

/** The 12 groups of 5 digits for the pair of signing keys, in either order. */
export function safetyNumber(keyA: Uint8Array, keyB: Uint8Array): string[] {
  const [low, high] = compareBytes(keyA, keyB) <= 0 ? [keyA, keyB] : [keyB, keyA];
  // Two hashes, told apart by a counter byte, give the 60 bytes 12 groups need.
  const block = (counter: number) => sha256(concat(SAFETY_NUMBER_TAG, Uint8Array.of(counter), low, high));
  const bytes = concat(block(0), block(1));
  const groups: string[] = [];
  for (let g = 0; g < SAFETY_NUMBER_GROUPS; g++) {
    let n = 0;
    for (let i = 0; i < BYTES_PER_GROUP; i++) n = n * 256 + bytes[g * BYTES_PER_GROUP + i]!;
    groups.push(String(n % 10 ** DIGITS_PER_GROUP).padStart(DIGITS_PER_GROUP, '0'));
  }
  return groups;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
