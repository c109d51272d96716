/**
 * The identities saved in this browser (ARCHITECTURE.md, "Persistence"): a small directory database
 * lists them (node id, username once registered), and each identity's own database holds its
 * keys with everything else it persists. Which of them this tab runs, and the Web Lock that
 * keeps each in one tab at a time, is tab-identity.ts.
 */
import { openDB, type IDBPDatabase } from 'idb';
import { exportIdentity, importIdentity, type Identity, type StoredIdentity } from '../../shared/lib/crypto.ts';
import { ErrorCode, PeerchatError } from '../../shared/lib/errors.ts';
import { isValidIdHex } from '../../shared/lib/id.ts';
import { isUsername } from '../../shared/chat/records.ts';
import type { Store } from '../../shared/lib/store.ts';

const DIRECTORY_DB = 'peerchat-directory';
const IDENTITIES = 'identities';

export interface SavedIdentity {
  nodeId: string;
  /** The registered username; null while the identity is an anonymous node. */
  name: string | null;
  createdAt: number;
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

export async function saveToDirectory(entry: SavedIdentity): Promise<void> {
  const db = await openDirectory();
  await db.put(IDENTITIES, entry, entry.nodeId);
}

/** The identity's keys, from its own database; null if it has none (or they do not import). */
export async function loadKeys(store: Store): Promise<Identity | null> {
  const stored = await store.get<StoredIdentity>('meta', 'identity');
  if (!stored) return null;
  try {
    return await importIdentity(stored);
  } catch {
    return null;
  }
}

export async function saveKeys(store: Store, identity: Identity): Promise<void> {
  await store.put('meta', 'identity', await exportIdentity(identity));
}

function isSavedIdentity(v: unknown): v is SavedIdentity {
  const e = v as SavedIdentity | null;
  return (
    typeof e === 'object' && e !== null && isValidIdHex(e.nodeId) && Number.isSafeInteger(e.createdAt) &&
    (e.name === null || isUsername(e.name))
  );
}
