/**
 * The identities saved in this browser (DESIGN.md "Persistence"): a small directory database
 * lists them (node id, username once registered), each identity's own database holds its keys
 * with everything else it persists, and a Web Lock per identity keeps it in one tab at a time.
 */
import { openDB, type IDBPDatabase } from 'idb';
import { exportIdentity, importIdentity, type Identity, type StoredIdentity } from '../../shared/lib/crypto.ts';
import { ErrorCode, PeerchatError } from '../../shared/lib/errors.ts';
import { isValidIdHex } from '../../shared/lib/id.ts';
import { isUsername } from '../../shared/chat/records.ts';
import type { Store } from '../../shared/lib/store.ts';

const DIRECTORY_DB = 'peerchat-directory';
const IDENTITIES = 'identities';
const LOCK_PREFIX = 'peerchat-identity-';

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

/**
 * Takes the identity's Web Lock if no other tab holds it, never waiting in line. Resolves with
 * the release function, or null when another tab has it. Without the Web Locks API (an old
 * browser, an insecure origin) it cannot tell, and lets the tab go on.
 */
export function lockIdentity(nodeId: string): Promise<(() => void) | null> {
  const locks = globalThis.navigator?.locks;
  if (!locks) return Promise.resolve(() => {});
  return new Promise((resolve, reject) => {
    locks
      .request(LOCK_PREFIX + nodeId, { ifAvailable: true }, (lock) => {
        if (!lock) {
          resolve(null);
          return undefined;
        }
        // The lock is held until this promise settles: for the tab's life, or until released.
        return new Promise<void>((release) => resolve(release));
      })
      .catch(reject);
  });
}

/** Node ids whose identity is open in some tab of this browser right now. */
export async function identitiesInUse(): Promise<Set<string>> {
  const locks = globalThis.navigator?.locks;
  if (!locks) return new Set();
  const state = await locks.query();
  const out = new Set<string>();
  for (const l of state.held ?? []) if (l.name?.startsWith(LOCK_PREFIX)) out.add(l.name.slice(LOCK_PREFIX.length));
  return out;
}

function isSavedIdentity(v: unknown): v is SavedIdentity {
  const e = v as SavedIdentity | null;
  return (
    typeof e === 'object' && e !== null && isValidIdHex(e.nodeId) && Number.isSafeInteger(e.createdAt) &&
    (e.name === null || isUsername(e.name))
  );
}
