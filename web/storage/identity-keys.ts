/**
 * The forms an identity's keys take in its IndexedDB database (ARCHITECTURE.md, "Persistence"),
 * and reading them back. Storage is untrusted: whatever is read is checked, and a value that is
 * not a usable identity reads as absent with a reason (KeyDropReason).
 *
 * - Version 2, what a tab writes: the two private keys as non-extractable CryptoKeys (IndexedDB
 *   keeps them by structured clone) and the two raw public keys. Script in the page can use
 *   them while it runs, but never read their bytes.
 * - Version 1, what tabs wrote before, and still write when the browser cannot store a
 *   CryptoKey: the two private seeds (StoredIdentity). Read, they are imported non-extractable
 *   and come back with `seeds`, so the caller can replace them with version 2.
 *
 * Either form carries the id nonce `n` (lib/id.ts) once found. Keys stored before ids cost work
 * have none: it is found on load (2^15 hashes on average) and comes back with `nonceFound`, so
 * the caller stores it; the keys stay as they are, the node id is the new one.
 */
import { idWithWork, importIdentity, KEY_BYTES, webCryptoOps, type Identity, type KeyOptions, type StoredIdentity } from '../../shared/lib/crypto.ts';

export interface StoredKeys {
  v: 2;
  signingPublic: Uint8Array;
  agreementPublic: Uint8Array;
  signingPrivate: CryptoKey;
  agreementPrivate: CryptoKey;
  /** The id nonce; absent in keys stored before ids cost work. */
  n?: number;
}

export type KeyDropReason =
  /** Neither version 1 nor version 2. */
  | 'unknown-form'
  /** Version 1 whose seeds are not two 32-byte seeds that import. */
  | 'bad-seeds'
  /** A public key that is not 32 bytes. */
  | 'bad-public-key'
  /** A private key that is not a CryptoKey of the right algorithm, type and usage. */
  | 'bad-private-key'
  /** A private key that could be exported: a tab never writes one, so someone else did. */
  | 'extractable-key'
  /** Private keys that do not belong to the public keys beside them. */
  | 'keys-mismatch';

export type ReadKeys =
  /** `nonceFound`: the stored form had no usable id nonce; the one found now should be stored. */
  | { ok: true; identity: Identity; seeds?: StoredIdentity; nonceFound: boolean }
  | { ok: false; reason: KeyDropReason };

/** Signed and verified once on load, to check a stored signing key against its public key. */
const PROBE = new TextEncoder().encode('peerchat-key-probe-v1');

/** The version-2 record of `identity`, whose private keys should be non-extractable. */
export function keyRecord(identity: Identity): StoredKeys {
  return {
    v: 2,
    signingPublic: identity.signingPublic,
    agreementPublic: identity.agreementPublic,
    signingPrivate: identity.signingPrivate,
    agreementPrivate: identity.agreementPrivate,
    n: identity.idNonce,
  };
}

/**
 * The identity in a stored value of either version, or why there is none. `work` is called
 * between slices of an id-nonce search, when one is needed (a tab yields there).
 */
export async function readKeys(stored: unknown, work?: KeyOptions['work']): Promise<ReadKeys> {
  const version = typeof stored === 'object' && stored !== null ? (stored as { v?: unknown }).v : undefined;
  if (version === 1) return readSeeds(stored as StoredIdentity, work);
  if (version === 2) return readKeyRecord(stored as Partial<Record<keyof StoredKeys, unknown>>, work);
  return { ok: false, reason: 'unknown-form' };
}

async function readSeeds(seeds: StoredIdentity, work?: KeyOptions['work']): Promise<ReadKeys> {
  const identity = await importIdentity(seeds, { extractable: false, work });
  return identity ? { ok: true, identity, seeds, nonceFound: identity.idNonce !== seeds.n } : { ok: false, reason: 'bad-seeds' };
}

async function readKeyRecord(stored: Partial<Record<keyof StoredKeys, unknown>>, work?: KeyOptions['work']): Promise<ReadKeys> {
  const { signingPublic, agreementPublic, signingPrivate, agreementPrivate, n } = stored;
  if (!isPublicKey(signingPublic) || !isPublicKey(agreementPublic)) return { ok: false, reason: 'bad-public-key' };
  if (!isPrivateKey(signingPrivate, 'Ed25519', 'sign') || !isPrivateKey(agreementPrivate, 'X25519', 'deriveBits')) {
    return { ok: false, reason: 'bad-private-key' };
  }
  if (signingPrivate.extractable || agreementPrivate.extractable) return { ok: false, reason: 'extractable-key' };
  const identity: Identity = {
    ...(await idWithWork(signingPublic, typeof n === 'number' ? n : undefined, work)),
    signingPublic,
    agreementPublic,
    signingPrivate,
    agreementPrivate,
  };
  if (!(await keysMatch(identity))) return { ok: false, reason: 'keys-mismatch' };
  return { ok: true, identity, nonceFound: identity.idNonce !== n };
}

function isPublicKey(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array && v.length === KEY_BYTES;
}

function isPrivateKey(v: unknown, algorithm: 'Ed25519' | 'X25519', usage: KeyUsage): v is CryptoKey {
  return (
    typeof CryptoKey !== 'undefined' && v instanceof CryptoKey && v.type === 'private' &&
    v.algorithm.name === algorithm && v.usages.includes(usage)
  );
}

/**
 * Whether the private keys belong to the public keys: a signature that verifies, and one X25519
 * agreement with a fresh key that both sides compute alike. About a millisecond, once a load.
 */
async function keysMatch(identity: Identity): Promise<boolean> {
  try {
    const signature = await webCryptoOps.sign(identity, PROBE);
    if (!(await webCryptoOps.verify(identity.signingPublic, signature, PROBE))) return false;
    const subtle = globalThis.crypto.subtle;
    const probe = (await subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])) as CryptoKeyPair;
    const stored = await subtle.importKey('raw', identity.agreementPublic as Uint8Array<ArrayBuffer>, { name: 'X25519' }, false, []);
    const ours = new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: probe.publicKey }, identity.agreementPrivate, 256));
    const theirs = new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: stored }, probe.privateKey, 256));
    return ours.length === theirs.length && ours.every((b, i) => b === theirs[i]);
  } catch {
    return false;
  }
}

/**
 * `meta/backup`: the seeds, kept so the identity can be exported (identity-file.ts), sealed
 * with AES-256-GCM under a non-extractable key stored beside them. That keeps the seed bytes out
 * of every value a raw read of the database shows (devtools, a dump of its values, a bug that
 * logs them); it does not keep them from script running in the page, which can ask for the
 * decryption as the export does (ARCHITECTURE.md, "Backup and a second device", says what that
 * costs and why an export needs it).
 */
export interface StoredBackup {
  v: 1;
  key: CryptoKey;
  iv: Uint8Array;
  sealed: Uint8Array;
}

const BACKUP_AAD = new TextEncoder().encode('peerchat-seed-backup-v1');

export async function backupRecord(seeds: StoredIdentity): Promise<StoredBackup> {
  const subtle = globalThis.crypto.subtle;
  const key = await subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const plain = new TextEncoder().encode(JSON.stringify({ v: 1, signingSeed: seeds.signingSeed, agreementSeed: seeds.agreementSeed }));
  const sealed = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: BACKUP_AAD }, key, plain));
  return { v: 1, key, iv, sealed };
}

/** The seeds in a stored backup, if it opens and they are two seeds; null otherwise. */
export async function readBackup(stored: unknown): Promise<StoredIdentity | null> {
  const b = stored as Partial<StoredBackup> | null | undefined;
  if (typeof b !== 'object' || b === null || b.v !== 1 || !(b.iv instanceof Uint8Array) || !(b.sealed instanceof Uint8Array)) return null;
  if (typeof CryptoKey === 'undefined' || !(b.key instanceof CryptoKey) || b.key.algorithm.name !== 'AES-GCM') return null;
  try {
    const plain = await globalThis.crypto.subtle.decrypt({ name: 'AES-GCM', iv: b.iv as Uint8Array<ArrayBuffer>, additionalData: BACKUP_AAD }, b.key, b.sealed as Uint8Array<ArrayBuffer>);
    const seeds = JSON.parse(new TextDecoder().decode(plain)) as StoredIdentity;
    return seeds?.v === 1 && typeof seeds.signingSeed === 'string' && typeof seeds.agreementSeed === 'string' ? { v: 1, signingSeed: seeds.signingSeed, agreementSeed: seeds.agreementSeed } : null;
  } catch {
    return null;
  }
}
