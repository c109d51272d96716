/**
 * Which identity this tab runs as (DESIGN.md "Persistence"): the one it remembers in
 * sessionStorage, so a reload keeps it; else a saved anonymous identity no other tab holds;
 * else a new one. Each is held with its Web Lock for the tab's life. When the browser refuses
 * IndexedDB, the tab still runs, on memory, and says so.
 */
import { createIdentity, type Identity } from '../../shared/lib/crypto.ts';
import { ErrorCode, isPeerchatError } from '../../shared/lib/errors.ts';
import { idToHex, isValidIdHex } from '../../shared/lib/id.ts';
import { cryptoRandom } from '../../shared/lib/random.ts';
import { MemoryStore, type Store } from '../../shared/lib/store.ts';
import { tabIdentity } from '../net/tab.ts';
import { databaseName, openIdbStore } from '../storage/idb-store.ts';
import { listIdentities, loadKeys, lockIdentity, saveKeys, saveToDirectory } from '../storage/identities.ts';

const REMEMBERED_KEY = 'peerchat.identity';

export interface TabIdentity {
  identity: Identity;
  store: Store;
  /** False when storage was refused: nothing survives a reload. */
  persistent: boolean;
  /** Why storage is not persistent, in words for the user. */
  problem?: string;
}

/** Remembers which identity this tab runs as; the next load opens it (continue as, reload). */
export function rememberIdentity(session: Storage, nodeId: string | null): void {
  try {
    if (nodeId) session.setItem(REMEMBERED_KEY, nodeId);
    else session.removeItem(REMEMBERED_KEY);
  } catch {
    // A tab that cannot remember starts as a fresh node on reload: it still works.
  }
}

export async function openTabIdentity(session: Storage): Promise<TabIdentity> {
  try {
    return await openPersistent(session);
  } catch (err) {
    if (!isPeerchatError(err, ErrorCode.StorageUnavailable)) throw err;
    return {
      identity: await tabIdentity(session),
      store: new MemoryStore(),
      persistent: false,
      problem: `${err.message}. This tab works, but forgets its user, contacts and messages when it closes.`,
    };
  }
}

async function openPersistent(session: Storage): Promise<TabIdentity> {
  let remembered: string | null = null;
  try {
    remembered = session.getItem(REMEMBERED_KEY);
  } catch {
    // As if nothing was remembered.
  }
  if (remembered && isValidIdHex(remembered)) {
    const opened = await tryOpen(remembered);
    if (opened) return opened;
    // Open in another tab (or broken): this tab becomes someone else.
    rememberIdentity(session, null);
  }
  for (const saved of await listIdentities()) {
    if (saved.name !== null) continue;
    const opened = await tryOpen(saved.nodeId);
    if (opened) {
      rememberIdentity(session, saved.nodeId);
      return opened;
    }
  }
  const identity = await createIdentity(cryptoRandom);
  const nodeId = idToHex(identity.nodeId);
  await lockIdentity(nodeId);
  const store = await openIdbStore(databaseName(nodeId));
  await saveKeys(store, identity);
  await saveToDirectory({ nodeId, name: null, createdAt: Date.now() });
  rememberIdentity(session, nodeId);
  return { identity, store, persistent: true };
}

/** The identity `nodeId` with its store, if this tab got its lock and its keys load. */
async function tryOpen(nodeId: string): Promise<TabIdentity | null> {
  const release = await lockIdentity(nodeId);
  if (!release) return null;
  const store = await openIdbStore(databaseName(nodeId));
  const identity = await loadKeys(store);
  if (identity && idToHex(identity.nodeId) === nodeId) return { identity, store, persistent: true };
  await store.close();
  release();
  return null;
}
