/**
 * The same Ed25519 as WebCrypto, through Node's synchronous `crypto.sign`/`crypto.verify`, for
 * the simulator only (the app never imports this). Signatures are bit-identical to
 * `webCryptoOps` (Ed25519 is deterministic; crypto.test pins that), but each call finishes
 * before it returns:
 * - no thread-pool round trip per operation, which left the simulator's one thread idle a third
 *   of the time waiting for results;
 * - results settle in the order they were asked for, so a seeded run replays exactly.
 */
import { createPublicKey, KeyObject, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { KEY_BYTES, SIGNATURE_BYTES, type CryptoOps, type Identity } from '../lib/crypto.ts';
import { toBase64Url } from '../lib/encoding.ts';

/** DER SubjectPublicKeyInfo header of an Ed25519 key; the 32 raw bytes follow. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
/**
 * Keys seen recently: a node's key is checked by each peer it opens a channel to, mostly soon
 * after it joins. Small enough not to weigh on the simulator's heap-per-node figure.
 */
const PUBLIC_KEY_CACHE_SIZE = 2048;

const privateKeys = new WeakMap<CryptoKey, KeyObject>();
/** Imported public keys by raw key, least recently used first; null for bytes that are no key. */
const publicKeys = new Map<string, KeyObject | null>();

function privateKeyOf(identity: Identity): KeyObject {
  let key = privateKeys.get(identity.signingPrivate);
  if (key === undefined) {
    key = KeyObject.from(identity.signingPrivate);
    privateKeys.set(identity.signingPrivate, key);
  }
  return key;
}

function publicKeyOf(raw: Uint8Array): KeyObject | null {
  const id = toBase64Url(raw);
  let key = publicKeys.get(id);
  if (key !== undefined) {
    publicKeys.delete(id); // re-inserted below as the most recently used
  } else {
    try {
      key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
    } catch {
      key = null;
    }
    if (publicKeys.size >= PUBLIC_KEY_CACHE_SIZE) publicKeys.delete(publicKeys.keys().next().value!);
  }
  publicKeys.set(id, key);
  return key;
}

export const nodeCryptoOps: CryptoOps = {
  async sign(identity, data) {
    return new Uint8Array(nodeSign(null, data, privateKeyOf(identity)));
  },
  async verify(signingPublic, signature, data) {
    if (signingPublic.length !== KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
    const key = publicKeyOf(signingPublic);
    if (key === null) return false;
    try {
      return nodeVerify(null, data, key, signature);
    } catch {
      return false;
    }
  },
};
