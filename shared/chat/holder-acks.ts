/**
 * Holders' signed acks and what a sender makes of them (ARCHITECTURE.md, "A message's path").
 * A holder that committed an envelope signs, with its node key, the envelope's hash, the
 * recipient and its own id; the first holder returns its own and those of the copies it made.
 * The sender shows "stored" only for enough distinct holders whose acks verify (key and id
 * nonce make the holder id) and whose ids lie plausibly near the recipient: no count a node reports
 * about others is believed.
 *
 * Plausible: the sender's own r nearest neighbours say how far the r closest nodes to any id
 * lie in this network; a holder may be PLAUSIBLE_HOLDER_EXTRA_BITS farther (8x) from the
 * recipient than that. A node with a random id is that near a given recipient with a chance of
 * about 8 (r + 2) / N, so a liar cannot make up holders it does not have; one that grinds keys
 * for ids near the recipient pays 2^(b + ID_WORK_BITS) hashes per id (lib/id.ts).
 */
import { PLAUSIBLE_HOLDER_EXTRA_BITS } from './constants.ts';
import type { CryptoOps } from '../lib/crypto.ts';
import { concatBytes, fromBase64Url, lengthPrefixed, toBase64Url, utf8Encode } from '../lib/encoding.ts';
import { ID_BITS, ID_BYTES, idEquals, idFromHex, keyMakesId, type NodeId } from '../lib/id.ts';
import type { Random } from '../lib/random.ts';
import type { HolderAckWire } from './wire.ts';

const HOLDER_ACK_TAG = utf8Encode('peerchat-holder-ack-v1');

function ackBytes(envelopeHash: string, to: string, holder: string): Uint8Array {
  return concatBytes(lengthPrefixed(HOLDER_ACK_TAG), lengthPrefixed(utf8Encode(envelopeHash)), lengthPrefixed(utf8Encode(to)), lengthPrefixed(utf8Encode(holder)));
}

/** What a holder signing as itself needs (a NodeContext is one). */
export interface AckSigner {
  readonly hex: string;
  readonly signingKey: Uint8Array;
  readonly idNonce: number;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** This holder's word that it committed the envelope with hash `envelopeHash` for `to`. */
export async function signHolderAck(signer: AckSigner, envelopeHash: string, to: string): Promise<HolderAckWire> {
  const sig = await signer.sign(ackBytes(envelopeHash, to, signer.hex));
  return { holder: signer.hex, key: toBase64Url(signer.signingKey), n: signer.idNonce, sig: toBase64Url(sig) };
}

/** Bits of the XOR distance between two ids (0 for equal ids, 160 at most): a cheap log2. */
export function distanceBits(a: NodeId, b: NodeId): number {
  for (let i = 0; i < ID_BYTES; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return ID_BITS - 8 * i - Math.clz32(x) + 24;
  }
  return 0;
}

/**
 * How far (in distance bits) the r closest nodes to an id lie, as this node sees it around
 * itself: the distance to its r-th nearest neighbour. Null with fewer neighbours than r: a
 * network that small has every node near every id.
 */
export function closeRadiusBits(self: NodeId, nearest: readonly { id: NodeId }[], r: number): number | null {
  const others = nearest.filter((n) => !idEquals(n.id, self));
  return others.length < r ? null : distanceBits(self, others[r - 1]!.id);
}

export interface AckTally {
  /** Distinct holders whose acks verified and lie plausibly near the recipient. */
  holders: Set<string>;
  /** Acks refused: malformed or not signed by the holder's key, or from too far away. */
  bad: number;
  far: number;
}

/**
 * Checks acks for one envelope, cheap checks first (the key hashes to the holder, the holder
 * is near enough), then one signature per distinct holder. `radiusBits` null: no distance check.
 */
export async function tallyAcks(acks: readonly HolderAckWire[], envelopeHash: string, to: string, radiusBits: number | null, ops: CryptoOps): Promise<AckTally> {
  const tally: AckTally = { holders: new Set(), bad: 0, far: 0 };
  const recipient = idFromHex(to);
  if (!recipient) return tally;
  for (const a of acks) {
    if (tally.holders.has(a.holder)) continue;
    const holder = idFromHex(a.holder);
    const key = fromBase64Url(a.key);
    const sig = fromBase64Url(a.sig);
    if (!holder || !key || !sig || idEquals(holder, recipient) || !keyMakesId(key, a.n, holder)) {
      tally.bad++;
      continue;
    }
    if (radiusBits !== null && distanceBits(holder, recipient) > radiusBits + PLAUSIBLE_HOLDER_EXTRA_BITS) {
      tally.far++;
      continue;
    }
    if (await ops.verify(key, sig, ackBytes(envelopeHash, to, a.holder))) tally.holders.add(a.holder);
    else tally.bad++;
  }
  return tally;
}

/**
 * `count` ids within `radiusBits` of `to`, drawn at random: a store routed to each arrives at
 * the node closest to it, a node near the recipient, and not always the same one. How a sender
 * reaches other holders when the node closest to the recipient does not hold (it lied, or is
 * full of someone's junk).
 */
export function keysNear(to: NodeId, radiusBits: number, count: number, random: Random): NodeId[] {
  const keys: NodeId[] = [];
  const fullBytes = ID_BYTES - Math.ceil(radiusBits / 8);
  const topBits = radiusBits % 8;
  for (let i = 0; i < count; i++) {
    const mask = random.bytes(ID_BYTES);
    mask.fill(0, 0, fullBytes);
    if (topBits !== 0 && fullBytes < ID_BYTES) mask[fullBytes]! &= (1 << topBits) - 1;
    keys.push(to.map((b, j) => b ^ mask[j]!));
  }
  return keys;
}
