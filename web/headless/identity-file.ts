/**
 * A headless node's identity in its data folder: `identity.json`, the two private seeds (the
 * StoredIdentity a tab kept in IndexedDB before it kept non-extractable CryptoKeys there: Node
 * has no store that keeps a CryptoKey across restarts), written
 * with mode 0600 through a temporary file and a rename, so a kill in the middle leaves the old
 * file or the new one, never half of one. The node id is the hash of the signing key: the same
 * file, the same node id, the same place in the DHT after a restart.
 *
 * The file is disk, so untrusted: one that does not parse or import is moved aside (kept, never
 * deleted: it may be the only copy of a key) and a new identity is made; the caller logs it.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { chmod, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createIdentity, exportIdentity, importIdentity, type Identity, type StoredIdentity } from '../../shared/lib/crypto.ts';
import { cryptoRandom } from '../../shared/lib/random.ts';

export const IDENTITY_FILE = 'identity.json';
/** Larger than any StoredIdentity: a file bigger than this is not one, and is not parsed. */
const MAX_IDENTITY_BYTES = 4_096;
const PRIVATE = 0o600;

export interface LoadedIdentity {
  identity: Identity;
  /** 'created': there was no file; 'replaced': there was one that did not load (see movedTo). */
  origin: 'loaded' | 'created' | 'replaced';
  /** Where a file that did not load was moved. */
  movedTo?: string;
  /** The file's mode was wider than 0600 and was narrowed. */
  narrowedMode?: number;
}

/** The data folder's identity; a new one, saved, when there is none or it does not load. */
export async function loadOrCreateIdentity(dir: string, now = Date.now()): Promise<LoadedIdentity> {
  const path = join(dir, IDENTITY_FILE);
  const text = readIfPresent(path);
  if (text === null) return { identity: await saveNew(path), origin: 'created' };
  const stored = text.length <= MAX_IDENTITY_BYTES ? (parseJson(text) as StoredIdentity) : null;
  const identity = stored ? await importIdentity(stored) : null;
  if (identity) {
    const mode = (await stat(path)).mode & 0o777;
    if ((mode & ~PRIVATE) !== 0) await chmod(path, PRIVATE);
    // Saved before ids cost work: the id nonce found now is kept, so no later start searches.
    if (stored!.n !== identity.idNonce) writeFileAtomic(path, `${JSON.stringify(await exportIdentity(identity))}\n`);
    return (mode & ~PRIVATE) === 0 ? { identity, origin: 'loaded' } : { identity, origin: 'loaded', narrowedMode: mode };
  }
  const movedTo = `${path}.unreadable-${now}`;
  renameSync(path, movedTo);
  return { identity: await saveNew(path), origin: 'replaced', movedTo };
}

async function saveNew(path: string): Promise<Identity> {
  const identity = await createIdentity(cryptoRandom);
  writeFileAtomic(path, `${JSON.stringify(await exportIdentity(identity))}\n`);
  return identity;
}

/** Write to a temporary file (0600), fsync it, rename it over `path`: all of it or nothing. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', PRIVATE);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  syncDir(dirname(path));
}

/** Makes the rename itself durable; some filesystems refuse to fsync a folder, which is fine. */
function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Best effort: the file itself is already complete on disk.
  }
}

function readIfPresent(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return null;
    throw err;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
