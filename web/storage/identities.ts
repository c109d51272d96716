/**
 * The identities saved in this browser (ARCHITECTURE.md, "Persistence"): a small directory database
 * lists them (node id, username once registered), and each identity's own database holds its
 * keys with everything else it persists. Which of them this tab runs, and the Web Lock that
 * keeps each in one tab at a time, is tab-identity.ts.
 *
 * The keys are kept as non-extractable CryptoKeys (identity-keys.ts). Seeds found from before
 * are replaced by such keys on load, with one put over the same entry: the seeds go in the
 * transaction that commits the keys, and stay if it does not commit. Where the browser cannot
 * store a CryptoKey, the seeds are what is kept, with a console warning.
 *
 * Node ids cost work (lib/id.ts): an identity saved before that gets a new node id on its first
 * load (same keys, an id nonce found and stored). Its database keeps the name it had, the one
 * of its old id: the directory entry moves to the new id and says so in `db`.
 */
import { openDB, type IDBPDatabase } from 'idb';
import { importIdentity, type Identity, type KeyOptions, type StoredIdentity } from '../../shared/lib/crypto.ts';
import { ErrorCode, PeerchatError } from '../../shared/lib/errors.ts';
import { idEquals, isValidIdHex } from '../../shared/lib/id.ts';
import { Stats } from '../../shared/lib/stats.ts';
import { isUsername } from '../../shared/chat/records.ts';
import type { Store, StoreOp } from '../../shared/lib/store.ts';
import { backupRecord, keyRecord, readBackup, readKeys } from './identity-keys.ts';


const DIRECTORY_DB = 'peerchat-directory';
const IDENTITIES = 'identities';

export interface SavedIdentity {
  nodeId: string;
  /** The registered username; null while the identity is an anonymous node. */
  name: string | null;
  createdAt: number;
  /**
   * The node id its database is named by (idb-store.ts databaseName), when that is not `nodeId`:
   * the id it had before ids cost work.
   */
  db?: string;
}

let directory: Promise<IDBPDatabase> | null = null;

function openDirectory(): Promise<IDBPDatabase> {
  directory ??= openDB(DIRECTORY_DB, 1, {
    upgrade(db) {
      db.createObjectStore(IDENTITIES);
    },
  }).catch((err: unknown) => {
    directory = null;
    throw new PeerchatError(ErrorCode.StorageUnavailable, `Storage unavailable: ${err instanceof Error ? err.message : String(err)}`);
  });
  return directory;
}

/** Every saved identity, oldest first; entries that do not parse are skipped. */
export async function listIdentities(): Promise<SavedIdentity[]> {
  const db = await openDirectory();
  const all = (await db.getAll(IDENTITIES)) as unknown[];
  return all.filter(isSavedIdentity).sort((a, b) => a.createdAt - b.createdAt);
}

/** Saves an entry; the database name an earlier entry for the same id recorded is kept. */
export async function saveToDirectory(entry: SavedIdentity): Promise<void> {
  const db = await openDirectory();
  const tx = db.transaction(IDENTITIES, 'readwrite');
  const before = (await tx.store.get(entry.nodeId)) as unknown;
  const keptDb = entry.db ?? (isSavedIdentity(before) ? before.db : undefined);
  await tx.store.put(keptDb === undefined ? entry : { ...entry, db: keptDb }, entry.nodeId);
  await tx.done;
}

/**
 * Moves an identity saved under the id it had before ids cost work to its new id, in one
 * transaction: the new entry names the old database, the old entry goes.
 */
export async function moveInDirectory(old: SavedIdentity, nodeId: string): Promise<SavedIdentity> {
  const db = await openDirectory();
  const moved: SavedIdentity = { ...old, nodeId, db: old.db ?? old.nodeId };
  const tx = db.transaction(IDENTITIES, 'readwrite');
  await tx.store.put(moved, nodeId);
  await tx.store.delete(old.nodeId);
  await tx.done;
  return moved;
}

/** Takes an identity out of the directory (its database is deleted by the caller). */
export async function removeFromDirectory(nodeId: string): Promise<void> {
  const db = await openDirectory();
  await db.delete(IDENTITIES, nodeId);
}

/** Where an identity's keys are, in its own database. */
const KEYS_TABLE = 'meta';
const KEYS_KEY = 'identity';
/** Where the sealed copy of the seeds is (identity-keys.ts StoredBackup), for an export. */
const BACKUP_KEY = 'backup';

/**
 * What happened to stored keys in this page: `keys-dropped:<reason>` (a stored value that is
 * not a usable identity, read as absent), `keys-migrated` (seeds replaced by CryptoKeys),
 * `keys-kept-as-seeds` (the browser refused to store a CryptoKey), `keys-migration-failed`,
 * `keys-id-nonce-saved` (keys from before ids cost work got their id nonce).
 */
export const keyStats = new Stats();

/**
 * The identity's keys, from its own database; null if it has none or they are not usable (the
 * reason counted in keyStats and logged). Seeds from before are replaced by CryptoKeys here, and
 * keys without an id nonce get one (found now, `work` called between slices of the search).
 */
export async function loadKeys(store: Store, work?: KeyOptions['work']): Promise<Identity | null> {
  const stored = await store.get<unknown>(KEYS_TABLE, KEYS_KEY).catch(() => undefined);
  if (stored === undefined) return null;
  const read = await readKeys(stored, work);
  if (!read.ok) {
    keyStats.count(`keys-dropped:${read.reason}`);
    console.warn(`Peerchat: the stored identity keys are not usable (${read.reason}); they count as absent.`);
    return null;
  }
  if (read.seeds) await migrate(store, read.identity, read.seeds);
  else if (read.nonceFound) await saveNonce(store, read.identity);
  return read.identity;
}

/** Which form of the keys a database holds: CryptoKeys, or the seeds of the fallback. */
export type KeptAs = 'keys' | 'seeds';

/**
 * Keeps `identity`'s keys as CryptoKeys, with a sealed copy of `seeds` for an export; `seeds`
 * are kept instead only where the browser cannot store a CryptoKey. `with` is committed in the
 * same transaction (an import's user data: all of it or none). Other failures reject, as any
 * storage failure does.
 */
export async function saveKeys(store: Store, identity: Identity, seeds: StoredIdentity, withOps: StoreOp[] = []): Promise<KeptAs> {
  try {
    await store.batch([
      { type: 'put', table: KEYS_TABLE, key: KEYS_KEY, value: keyRecord(identity) },
      { type: 'put', table: KEYS_TABLE, key: BACKUP_KEY, value: await backupRecord(seeds) },
      ...withOps,
    ]);
    return 'keys';
  } catch (err) {
    if (!isDataCloneError(err)) throw err;
    keyStats.count('keys-kept-as-seeds');
    console.warn('Peerchat: this browser cannot store a CryptoKey, so the identity keys are kept as seeds that script in this page could read.');
    await store.batch([{ type: 'put', table: KEYS_TABLE, key: KEYS_KEY, value: { ...seeds, n: identity.idNonce } satisfies StoredIdentity }, ...withOps]);
    return 'seeds';
  }
}

/**
 * The seeds of `identity`, for an export: the sealed copy, or the seeds themselves where they
 * are the stored form. Null for keys stored before exports existed (version 2 without a copy):
 * those cannot leave this browser. A copy that does not make these very keys is not used.
 */
export async function exportableSeeds(store: Store, identity: Identity): Promise<StoredIdentity | null> {
  const stored = await store.get<unknown>(KEYS_TABLE, KEYS_KEY).catch(() => undefined);
  const candidate = (stored as { v?: unknown } | undefined)?.v === 1 ? (stored as StoredIdentity) : await readBackup(await store.get<unknown>(KEYS_TABLE, BACKUP_KEY).catch(() => undefined));
  if (!candidate) return null;
  const seeds: StoredIdentity = { v: 1, signingSeed: candidate.signingSeed, agreementSeed: candidate.agreementSeed, n: identity.idNonce };
  const again = await importIdentity(seeds, { extractable: false });
  if (!again || !idEquals(again.signingPublic, identity.signingPublic) || !idEquals(again.agreementPublic, identity.agreementPublic)) {
    keyStats.count('backup-copy-mismatch');
    return null;
  }
  return seeds;
}

/** Seeds -> CryptoKeys; if that does not commit the seeds stay, and the next load tries again. */
async function migrate(store: Store, identity: Identity, seeds: StoredIdentity): Promise<void> {
  try {
    if ((await saveKeys(store, identity, seeds)) === 'keys') keyStats.count('keys-migrated');
  } catch (err) {
    keyStats.count('keys-migration-failed');
    console.warn(`Peerchat: the identity keys stay stored as seeds for now (${err instanceof Error ? err.message : String(err)}); the next load tries again.`);
  }
}

/**
 * The same CryptoKeys, now with their id nonce. If the put fails the next load finds the nonce
 * again (the same one: the search is deterministic), so nothing is lost either way.
 */
async function saveNonce(store: Store, identity: Identity): Promise<void> {
  try {
    await store.put(KEYS_TABLE, KEYS_KEY, keyRecord(identity));
    keyStats.count('keys-id-nonce-saved');
  } catch (err) {
    console.warn(`Peerchat: the id nonce was not stored (${err instanceof Error ? err.message : String(err)}); the next load finds it again.`);
  }
}

/** The structured-clone refusal of a value (DOMException "DataCloneError"), from IndexedDB or structuredClone. */
function isDataCloneError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'DataCloneError';
}

function isSavedIdentity(v: unknown): v is SavedIdentity {
  const e = v as SavedIdentity | null;
  return (
    typeof e === 'object' && e !== null && isValidIdHex(e.nodeId) && Number.isSafeInteger(e.createdAt) &&
    (e.name === null || isUsername(e.name)) && (e.db === undefined || isValidIdHex(e.db))
  );
}
