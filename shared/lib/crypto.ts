/**
 * WebCrypto only: Ed25519 identities and signatures, X25519 + HKDF-SHA256 + AES-256-GCM sealing.
 *
 * Private keys come from 32-byte seeds drawn from a `Random`, so a seeded simulation makes the
 * same identities on every run. Functions that read untrusted bytes (verify, open,
 * importIdentity) return false/null instead of throwing. A browser tab imports its identity
 * with `{ extractable: false }`: the keys sign and open, but no script can read them out
 * (web/storage/identities.ts keeps those CryptoKeys, not the seeds).
 */
import { fromBase64Url, toBase64Url, utf8Encode, concatBytes } from './encoding.ts';
import { ErrorCode, PeerchatError } from './errors.ts';
import { findIdNonce, isIdNonce, nodeIdFromSigningKey, type NodeId } from './id.ts';
import type { Random } from './random.ts';

export interface Identity {
  /** SHA-256(tag, signing key, idNonce)'s first 160 bits: an id that cost work (lib/id.ts). */
  nodeId: NodeId;
  /** The nonce that gives the signing key its id; sent wherever the key is (HELLO, records...). */
  idNonce: number;
  /** Raw 32-byte Ed25519 public key. */
  signingPublic: Uint8Array;
  /** Raw 32-byte X25519 public key. */
  agreementPublic: Uint8Array;
  signingPrivate: CryptoKey;
  agreementPrivate: CryptoKey;
}

/** What the app persists: the two private seeds, base64url. */
export interface StoredIdentity {
  v: 1;
  signingSeed: string;
  agreementSeed: string;
  /** The id nonce, once found; absent in identities stored before ids cost work. */
  n?: number;
}

/** Signing and verifying behind an interface, so the simulator can order their completions. */
export interface CryptoOps {
  sign(identity: Identity, data: Uint8Array): Promise<Uint8Array>;
  verify(signingPublic: Uint8Array, signature: Uint8Array, data: Uint8Array): Promise<boolean>;
  /** Orders other async crypto (sealing, opening) with sign and verify; the simulator's hook. */
  track?<T>(work: Promise<T>): Promise<T>;
}

export interface Sealed {
  ephemeralPublic: Uint8Array;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

export const KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const SEAL_NONCE_BYTES = 12;
/** AES-GCM appends a 16-byte tag; anything shorter cannot be a ciphertext. */
const GCM_TAG_BYTES = 16;
/** Public keys kept imported for verify; HELLOs and records hit a few hundred distinct keys. */
const VERIFY_KEY_CACHE_SIZE = 1024;

const ED25519_PKCS8_PREFIX = hexBytes('302e020100300506032b657004220420');
const X25519_PKCS8_PREFIX = hexBytes('302e020100300506032b656e04220420');
const HELLO_TAG = 'peerchat-hello-v1';
const SEAL_INFO = utf8Encode('peerchat-seal-v1');

const subtle = (): SubtleCrypto => globalThis.crypto.subtle;

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
}

/**
 * TypeScript's DOM types want ArrayBuffer-backed views; ours always are (we never make
 * SharedArrayBuffers), so this cast only satisfies the checker.
 */
function buf(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes as Uint8Array<ArrayBuffer>;
}

/** How identity keys are imported: extractable (the default) can be exported as seeds again. */
export interface KeyOptions {
  extractable?: boolean;
  /** Called between slices of the id-nonce search (lib/id.ts findIdNonce): a tab yields there. */
  work?: (tried: number) => Promise<void>;
}

/**
 * The id of a signing key with the nonce a store or peer gave, or, when that one is absent or
 * does not carry the network's work, the nonce found now. Returns both.
 */
export async function idWithWork(signingPublic: Uint8Array, nonce: number | undefined, work?: KeyOptions['work']): Promise<{ nodeId: NodeId; idNonce: number }> {
  const given = nonce !== undefined && isIdNonce(nonce) ? nodeIdFromSigningKey(signingPublic, nonce) : null;
  if (given) return { nodeId: given, idNonce: nonce! };
  const idNonce = await findIdNonce(signingPublic, undefined, work);
  return { nodeId: nodeIdFromSigningKey(signingPublic, idNonce)!, idNonce };
}

/**
 * Imports a 32-byte seed as a private key and reads its public half from JWK. WebCrypto gives
 * no public half of a non-extractable private key, so that one is imported twice: once
 * extractable, only to read the public half, then as the key that is kept.
 */
async function keyPairFromSeed(
  seed: Uint8Array,
  algorithm: 'Ed25519' | 'X25519',
  extractable = true,
): Promise<{ privateKey: CryptoKey; publicRaw: Uint8Array }> {
  const prefix = algorithm === 'Ed25519' ? ED25519_PKCS8_PREFIX : X25519_PKCS8_PREFIX;
  const usages: KeyUsage[] = algorithm === 'Ed25519' ? ['sign'] : ['deriveBits'];
  const pkcs8 = concatBytes(prefix, seed);
  const readable = await subtle().importKey('pkcs8', buf(pkcs8), { name: algorithm }, true, usages);
  const jwk = await subtle().exportKey('jwk', readable);
  const publicRaw = jwk.x === undefined ? null : fromBase64Url(jwk.x);
  if (publicRaw?.length !== KEY_BYTES) {
    throw new PeerchatError(ErrorCode.BadRequest, `This browser did not export an ${algorithm} public key; use a current Chromium, Firefox or Node 20.`);
  }
  const privateKey = extractable ? readable : await subtle().importKey('pkcs8', buf(pkcs8), { name: algorithm }, false, usages);
  return { privateKey, publicRaw };
}

async function identityFromSeeds(signingSeed: Uint8Array, agreementSeed: Uint8Array, options: KeyOptions = {}, nonce?: number): Promise<Identity> {
  const extractable = options.extractable ?? true;
  const signing = await keyPairFromSeed(signingSeed, 'Ed25519', extractable);
  const agreement = await keyPairFromSeed(agreementSeed, 'X25519', extractable);
  return {
    ...(await idWithWork(signing.publicRaw, nonce, options.work)),
    signingPublic: signing.publicRaw,
    agreementPublic: agreement.publicRaw,
    signingPrivate: signing.privateKey,
    agreementPrivate: agreement.privateKey,
  };
}

/** Draws the signing seed, then the agreement seed, from `random`: 64 bytes in that order. */
export async function createIdentity(random: Random, options: KeyOptions = {}): Promise<Identity> {
  const signingSeed = random.bytes(KEY_BYTES);
  const agreementSeed = random.bytes(KEY_BYTES);
  return identityFromSeeds(signingSeed, agreementSeed, options);
}

/**
 * The seeds `createIdentity` would draw from `random`, in the same order, not yet imported: for
 * a caller that imports them non-extractable and keeps them only as a fallback form.
 */
export function createSeeds(random: Random): StoredIdentity {
  const signingSeed = random.bytes(KEY_BYTES);
  const agreementSeed = random.bytes(KEY_BYTES);
  return { v: 1, signingSeed: toBase64Url(signingSeed), agreementSeed: toBase64Url(agreementSeed) };
}

/** The JWK `d` field is the raw seed in base64url on every WebCrypto, unlike PKCS8 layouts. */
async function seedOf(privateKey: CryptoKey): Promise<string> {
  const { d } = await subtle().exportKey('jwk', privateKey);
  if (d === undefined) throw new PeerchatError(ErrorCode.BadRequest, 'This identity key is not extractable; create it with createIdentity.');
  return d;
}

export async function exportIdentity(identity: Identity): Promise<StoredIdentity> {
  return {
    v: 1,
    signingSeed: await seedOf(identity.signingPrivate),
    agreementSeed: await seedOf(identity.agreementPrivate),
    n: identity.idNonce,
  };
}

/**
 * Null for anything that is not a version-1 record with two 32-byte seeds (storage is untrusted).
 * With `{ extractable: false }` the private keys can sign and open but never be exported. A
 * stored nonce without the network's work (or none, from before ids cost work) is found again.
 */
export async function importIdentity(stored: StoredIdentity, options: KeyOptions = {}): Promise<Identity | null> {
  if (typeof stored !== 'object' || stored === null || stored.v !== 1) return null;
  const signingSeed = fromBase64Url(stored.signingSeed);
  const agreementSeed = fromBase64Url(stored.agreementSeed);
  if (signingSeed?.length !== KEY_BYTES || agreementSeed?.length !== KEY_BYTES) return null;
  try {
    return await identityFromSeeds(signingSeed, agreementSeed, options, stored.n);
  } catch {
    return null;
  }
}

/**
 * A small LRU of imported Ed25519 public keys. It holds promises so concurrent verifies of one
 * key share a single import; a failed import is dropped so it is not remembered as good.
 */
class VerifyKeyCache {
  private readonly keys = new Map<string, Promise<CryptoKey>>();

  get(raw: Uint8Array): Promise<CryptoKey> {
    const id = toBase64Url(raw);
    let key = this.keys.get(id);
    if (key !== undefined) {
      this.keys.delete(id); // re-insert to mark it most recently used
    } else {
      key = subtle().importKey('raw', buf(raw), { name: 'Ed25519' }, false, ['verify']);
      key.catch(() => this.keys.delete(id));
      if (this.keys.size >= VERIFY_KEY_CACHE_SIZE) this.keys.delete(this.keys.keys().next().value!);
    }
    this.keys.set(id, key);
    return key;
  }
}

const verifyKeys = new VerifyKeyCache();

export const webCryptoOps: CryptoOps = {
  async sign(identity, data) {
    return new Uint8Array(await subtle().sign('Ed25519', identity.signingPrivate, buf(data)));
  },
  async verify(signingPublic, signature, data) {
    if (signingPublic.length !== KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
    try {
      const key = await verifyKeys.get(signingPublic);
      return await subtle().verify('Ed25519', key, buf(signature), buf(data));
    } catch {
      return false; // a key that is not a curve point, or an engine that rejects it
    }
  },
};

/**
 * The bytes a channel's HELLO signs: the signer's DTLS fingerprint, then the peer's. Binding both
 * means a signaling relay that swaps in its own fingerprints gets a signature that fails.
 * Fingerprints come from SDP lines, so they cannot contain the '\n' that separates them.
 */
export function helloPayload(senderFingerprint: string, receiverFingerprint: string): Uint8Array {
  return utf8Encode(`${HELLO_TAG}\n${senderFingerprint}\n${receiverFingerprint}`);
}

/** ECDH shared secret -> AES-256-GCM key, salted with both public keys so it is bound to them. */
async function sealKey(
  agreementPrivate: CryptoKey,
  peerPublic: Uint8Array,
  salt: Uint8Array,
): Promise<CryptoKey | null> {
  let shared: Uint8Array;
  try {
    const peer = await subtle().importKey('raw', buf(peerPublic), { name: 'X25519' }, false, []);
    shared = new Uint8Array(await subtle().deriveBits({ name: 'X25519', public: peer }, agreementPrivate, 256));
  } catch {
    return null; // engines may refuse low-order points themselves (Node does)
  }
  // A low-order peer key gives an all-zero secret that anyone can compute: never use it.
  if (shared.every((b) => b === 0)) return null;
  const ikm = await subtle().importKey('raw', buf(shared), 'HKDF', false, ['deriveKey']);
  return subtle().deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: buf(salt), info: buf(SEAL_INFO) },
    ikm,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/** A seal whose ephemeral key and nonce are drawn, before its plaintext is known. */
export interface SealSession {
  ephemeralPublic: Uint8Array;
  nonce: Uint8Array;
  /** Encrypts `plaintext` with `additionalData` authenticated, not hidden. Use once. */
  seal(plaintext: Uint8Array, additionalData: Uint8Array): Promise<Sealed>;
}

/**
 * Starts a seal for the holder of `recipientAgreementPublic`: draws a 32-byte ephemeral seed,
 * then the 12-byte nonce, from `random`, and derives the key. A sender that signs inside the
 * seal signs a header naming the ephemeral key and nonce, then seals.
 */
export async function beginSeal(recipientAgreementPublic: Uint8Array, random: Random): Promise<SealSession> {
  if (recipientAgreementPublic.length !== KEY_BYTES) {
    throw new PeerchatError(ErrorCode.BadRequest, 'The recipient agreement key must be 32 bytes; fetch their user record again.');
  }
  const ephemeral = await keyPairFromSeed(random.bytes(KEY_BYTES), 'X25519');
  const nonce = random.bytes(SEAL_NONCE_BYTES);
  const salt = concatBytes(ephemeral.publicRaw, recipientAgreementPublic);
  const key = await sealKey(ephemeral.privateKey, recipientAgreementPublic, salt);
  if (key === null) {
    throw new PeerchatError(ErrorCode.Rejected, 'The recipient agreement key is a weak (low-order) point; do not send to this user.');
  }
  return {
    ephemeralPublic: ephemeral.publicRaw,
    nonce,
    async seal(plaintext, additionalData) {
      const ciphertext = await subtle().encrypt({ name: 'AES-GCM', iv: buf(nonce), additionalData: buf(additionalData) }, key, buf(plaintext));
      return { ephemeralPublic: ephemeral.publicRaw, nonce, ciphertext: new Uint8Array(ciphertext) };
    },
  };
}

/**
 * Encrypts for the holder of `recipientAgreementPublic`. Draws a 32-byte ephemeral seed, then the
 * 12-byte nonce, from `random`. `additionalData` (the message header) is authenticated, not hidden;
 * it may be computed from the ephemeral key and nonce, when the header names them.
 */
export async function seal(
  recipientAgreementPublic: Uint8Array,
  plaintext: Uint8Array,
  additionalData: Uint8Array | ((ephemeralPublic: Uint8Array, nonce: Uint8Array) => Uint8Array),
  random: Random,
): Promise<Sealed> {
  const session = await beginSeal(recipientAgreementPublic, random);
  const aad = typeof additionalData === 'function' ? additionalData(session.ephemeralPublic, session.nonce) : additionalData;
  return session.seal(plaintext, aad);
}

/** Decrypts a sealed message for `identity`; null when anything is wrong (tampering, wrong key). */
export async function open(
  identity: Identity,
  ephemeralPublic: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  additionalData: Uint8Array,
): Promise<Uint8Array | null> {
  if (ephemeralPublic.length !== KEY_BYTES || nonce.length !== SEAL_NONCE_BYTES || ciphertext.length < GCM_TAG_BYTES) {
    return null;
  }
  try {
    const salt = concatBytes(ephemeralPublic, identity.agreementPublic);
    const key = await sealKey(identity.agreementPrivate, ephemeralPublic, salt);
    if (key === null) return null;
    const plaintext = await subtle().decrypt(
      { name: 'AES-GCM', iv: buf(nonce), additionalData: buf(additionalData) },
      key,
      buf(ciphertext),
    );
    return new Uint8Array(plaintext);
  } catch {
    return null;
  }
}
