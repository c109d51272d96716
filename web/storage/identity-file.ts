/**
 * The identity file (ARCHITECTURE.md, "Backup and a second device"): an identity's keys and its
 * user's data, sealed under a passphrase, for another browser or device to import.
 *
 *   { "peerchat": "identity", "version": 1,
 *     "kdf": { "name": "PBKDF2", "hash": "SHA-256", "iterations": 600000, "salt": <16 bytes> },
 *     "cipher": { "name": "AES-GCM", "iv": <12 bytes> },
 *     "data": <AES-256-GCM of the contents' JSON> }            (bytes in base64url)
 *
 * The key is PBKDF2-HMAC-SHA-256 of the passphrase (OWASP's 600,000 iterations), the header is
 * the cipher's additional data: changing the salt, the iterations or the iv makes the file fail
 * to open just as a wrong passphrase does. A file is untrusted input: its size, its shape and
 * the work it asks for are bounded before any work is done (a file naming a billion iterations
 * would otherwise freeze the tab), and the opened contents are checked again by the caller.
 */
import { fromBase64Url, toBase64Url, utf8Decode, utf8Encode } from '../../shared/lib/encoding.ts';
import type { StoredIdentity } from '../../shared/lib/crypto.ts';
import type { Random } from '../../shared/lib/random.ts';

export const KDF_ITERATIONS = 600_000;
/** The most work a file may ask for: about 8 times the default, a few seconds on a phone. */
export const MAX_KDF_ITERATIONS = 5_000_000;
/** Larger than years of messages; a file past it is refused before it is read. */
export const MAX_IDENTITY_FILE_BYTES = 64 * 1024 * 1024;
export const MIN_PASSPHRASE_CHARS = 8;
const SALT_BYTES = 16;
const IV_BYTES = 12;

export interface IdentityFileContents {
  /** The identity's two seeds and its id nonce: what makes it the same node and the same user. */
  keys: StoredIdentity;
  /** The user's profile and tables (shared/chat/transfer.ts UserData), checked on import. */
  user: unknown;
  exportedAt: number;
}

export type OpenFailure =
  /** Over MAX_IDENTITY_FILE_BYTES. */
  | 'too-large'
  /** Not JSON, or not an identity file at all. */
  | 'not-identity-file'
  /** A version or algorithm this code does not know: made by a newer Peerchat, or by hand. */
  | 'unsupported'
  /** Iterations outside KDF_ITERATIONS..MAX_KDF_ITERATIONS, or a salt or iv of the wrong size. */
  | 'bad-parameters'
  /** The cipher refused: a wrong passphrase, or a file changed after it was made. */
  | 'wrong-passphrase'
  /** It opened, but what is inside is not JSON contents with keys. */
  | 'bad-contents';

export type Opened = { ok: true; contents: IdentityFileContents } | { ok: false; reason: OpenFailure };

interface Header {
  iterations: number;
  salt: Uint8Array;
  iv: Uint8Array;
}

export async function sealIdentityFile(contents: IdentityFileContents, passphrase: string, random: Random, iterations = KDF_ITERATIONS): Promise<string> {
  const header: Header = { iterations, salt: random.bytes(SALT_BYTES), iv: random.bytes(IV_BYTES) };
  const key = await passphraseKey(passphrase, header, ['encrypt']);
  const data = await crypto.subtle.encrypt(gcm(header), key, bytes(utf8Encode(JSON.stringify(contents))));
  return JSON.stringify(
    {
      peerchat: 'identity',
      version: 1,
      kdf: { name: 'PBKDF2', hash: 'SHA-256', iterations, salt: toBase64Url(header.salt) },
      cipher: { name: 'AES-GCM', iv: toBase64Url(header.iv) },
      data: toBase64Url(new Uint8Array(data)),
    },
    null,
    1,
  );
}

/** Opens a file's text with `passphrase`; why not, when it does not. Never throws. */
export async function openIdentityFile(text: string, passphrase: string): Promise<Opened> {
  // UTF-16 length bounds the UTF-8 size from below; the file's bytes were bounded before reading.
  if (text.length > MAX_IDENTITY_FILE_BYTES) return { ok: false, reason: 'too-large' };
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not-identity-file' };
  }
  const f = file as { peerchat?: unknown; version?: unknown; kdf?: Record<string, unknown>; cipher?: Record<string, unknown>; data?: unknown } | null;
  if (typeof f !== 'object' || f === null || f.peerchat !== 'identity' || typeof f.data !== 'string') return { ok: false, reason: 'not-identity-file' };
  const { kdf, cipher } = f;
  if (f.version !== 1 || kdf?.name !== 'PBKDF2' || kdf.hash !== 'SHA-256' || cipher?.name !== 'AES-GCM') return { ok: false, reason: 'unsupported' };
  const iterations = kdf.iterations;
  const salt = typeof kdf.salt === 'string' ? fromBase64Url(kdf.salt) : null;
  const iv = typeof cipher.iv === 'string' ? fromBase64Url(cipher.iv) : null;
  const data = fromBase64Url(f.data);
  if (
    !Number.isSafeInteger(iterations) || (iterations as number) < KDF_ITERATIONS || (iterations as number) > MAX_KDF_ITERATIONS ||
    salt?.length !== SALT_BYTES || iv?.length !== IV_BYTES || data === null
  ) {
    return { ok: false, reason: 'bad-parameters' };
  }
  const header: Header = { iterations: iterations as number, salt, iv };
  let plain: ArrayBuffer;
  try {
    plain = await crypto.subtle.decrypt(gcm(header), await passphraseKey(passphrase, header, ['decrypt']), bytes(data));
  } catch {
    return { ok: false, reason: 'wrong-passphrase' };
  }
  const json = utf8Decode(new Uint8Array(plain));
  let contents: unknown;
  try {
    contents = json === null ? null : JSON.parse(json);
  } catch {
    return { ok: false, reason: 'bad-contents' };
  }
  const c = contents as Partial<IdentityFileContents> | null;
  if (typeof c !== 'object' || c === null || typeof c.keys !== 'object' || c.keys === null || !Number.isSafeInteger(c.exportedAt)) {
    return { ok: false, reason: 'bad-contents' };
  }
  return { ok: true, contents: { keys: c.keys, user: c.user, exportedAt: c.exportedAt! } };
}

/** What the user reads for each failure. Each names the passphrase where it may be the cause. */
export function openFailureText(reason: OpenFailure): string {
  switch (reason) {
    case 'too-large':
      return `This file is larger than an identity file can be (${MAX_IDENTITY_FILE_BYTES / 1024 / 1024} MiB).`;
    case 'not-identity-file':
      return 'This is not a Peerchat identity file: choose the file that "Export identity" saved.';
    case 'unsupported':
      return 'This identity file was made by a newer version of Peerchat: update this app, then import it.';
    case 'bad-parameters':
      return 'This identity file is damaged (its key settings are out of range): export it again.';
    case 'wrong-passphrase':
      return 'Wrong passphrase, or the file was changed after it was saved. Check the passphrase and try again.';
    case 'bad-contents':
      return 'This identity file opened with its passphrase but what is inside is damaged: export it again.';
  }
}

/** The AES-GCM parameters: the header is the additional data, so it cannot be changed unseen. */
function gcm(h: Header): AesGcmParams {
  const aad = utf8Encode(`peerchat-identity-v1\nPBKDF2-SHA-256\n${h.iterations}\n${toBase64Url(h.salt)}\nAES-GCM\n${toBase64Url(h.iv)}`);
  return { name: 'AES-GCM', iv: bytes(h.iv), additionalData: bytes(aad) };
}

async function passphraseKey(passphrase: string, h: Header, usages: KeyUsage[]): Promise<CryptoKey> {
  // NFC: the same passphrase typed on another system's keyboard is the same bytes.
  const material = await crypto.subtle.importKey('raw', bytes(utf8Encode(passphrase.normalize('NFC'))), 'PBKDF2', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt: bytes(h.salt), iterations: h.iterations },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    usages,
  );
}

function bytes(u: Uint8Array): Uint8Array<ArrayBuffer> {
  return u as Uint8Array<ArrayBuffer>;
}
