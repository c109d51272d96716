/**
 * Which identity this tab runs as (ARCHITECTURE.md, "Persistence"): the one it remembers in
 * sessionStorage, so a reload or a twin move keeps it; else a saved anonymous identity no other
 * tab holds; else a new one. Each is held with its Web Lock for the tab's life, so an identity
 * runs in one tab at a time. When the browser refuses IndexedDB, the tab still runs, on memory,
 * keeping its keys in sessionStorage (nowhere else survives a reload), and says so.
 *
 * The tab remembers all this under one sessionStorage key. Before, two keys held it; a tab
 * reloaded across that change finds them and moves them under the new key.
 */
import { createIdentity, createSeeds, exportIdentity, importIdentity, type Identity, type StoredIdentity } from '../../shared/lib/crypto.ts';
import { ErrorCode, isPeerchatError, PeerchatError } from '../../shared/lib/errors.ts';
import { idToHex, isValidIdHex } from '../../shared/lib/id.ts';
import { cryptoRandom } from '../../shared/lib/random.ts';
import { MemoryStore, type Store } from '../../shared/lib/store.ts';
import { databaseName, openIdbStore } from './idb-store.ts';
import { listIdentities, loadKeys, saveKeys, saveToDirectory } from './identities.ts';
import { readItem, readJson, removeItem, writeItem } from './web-storage.ts';

const TAB_KEY = 'peerchat.tab-identity';
/** The keys of the two-key layout: the saved identity's node id, and the memory-only keys. */
const LEGACY_SAVED_KEY = 'peerchat.identity';
const LEGACY_MEMORY_KEY = 'peerchat.node-identity';
const LOCK_PREFIX = 'peerchat-identity-';

/** What a tab remembers about its identity across reloads. */
export interface TabRecord {
  /** The saved identity (IndexedDB) this tab runs as; null: the next load picks one. */
  saved: string | null;
  /** This tab's keys while IndexedDB is refused; unchecked until imported. */
  memoryKeys: StoredIdentity | null;
}

export interface TabIdentity {
  identity: Identity;
  store: Store;
  /** False when storage was refused: nothing survives a reload. */
  persistent: boolean;
  /** Why storage is not persistent, in words for the user. */
  problem?: string;
}

/** The tab's record; from the two legacy keys (moved under the one key) if it has none yet. */
export function readTabRecord(session: Storage): TabRecord {
  const raw = readJson(session, TAB_KEY) as Partial<Record<keyof TabRecord, unknown>> | null | undefined;
  if (typeof raw === 'object' && raw !== null) {
    return { saved: isValidIdHex(raw.saved) ? raw.saved : null, memoryKeys: storedKeys(raw.memoryKeys) };
  }
  const legacySaved = readItem(session, LEGACY_SAVED_KEY);
  const legacyMemory = readJson(session, LEGACY_MEMORY_KEY);
  const record = { saved: isValidIdHex(legacySaved) ? legacySaved : null, memoryKeys: storedKeys(legacyMemory) };
  if (legacySaved === null && legacyMemory === undefined) return record;
  // The old keys go only once the new one holds what they said: a refused write loses nothing.
  if (writeTabRecord(session, record)) {
    removeItem(session, LEGACY_SAVED_KEY);
    removeItem(session, LEGACY_MEMORY_KEY);
  }
  return record;
}

/** False when the browser refused it: a tab that cannot remember starts afresh on reload. */
function writeTabRecord(session: Storage, record: TabRecord): boolean {
  return writeItem(session, TAB_KEY, JSON.stringify(record));
}

function storedKeys(v: unknown): StoredIdentity | null {
  return typeof v === 'object' && v !== null ? (v as StoredIdentity) : null;
}

/** Remembers which identity this tab runs as; the next load opens it (continue as, reload). */
export function rememberIdentity(session: Storage, nodeId: string | null): void {
  writeTabRecord(session, { ...readTabRecord(session), saved: nodeId });
}

export async function openTabIdentity(session: Storage): Promise<TabIdentity> {
  try {
    return await openPersistent(session);
  } catch (err) {
    if (!isPeerchatError(err, ErrorCode.StorageUnavailable)) throw err;
    return {
      identity: await memoryIdentity(session),
      store: new MemoryStore(),
      persistent: false,
      problem: `${err.message}. This tab works, but forgets its user, contacts and messages when it closes.`,
    };
  }
}

async function openPersistent(session: Storage): Promise<TabIdentity> {
  const { saved } = readTabRecord(session);
  if (saved) {
    const opened = await tryOpen(saved);
    if (opened) return opened;
    // Open in another tab (or broken): this tab becomes someone else.
    rememberIdentity(session, null);
  }
  for (const entry of await listIdentities()) {
    if (entry.name !== null) continue;
    const opened = await tryOpen(entry.nodeId);
    if (opened) {
      rememberIdentity(session, entry.nodeId);
      return opened;
    }
  }
  // The seeds exist only in this function, as the fallback form where CryptoKeys cannot be stored.
  const seeds = createSeeds(cryptoRandom);
  const identity = await importIdentity(seeds, { extractable: false });
  if (!identity) throw new PeerchatError(ErrorCode.BadRequest, 'This browser could not import a new identity key; use a current Chromium, Firefox or Safari.');
  const nodeId = idToHex(identity.nodeId);
  await lockIdentity(nodeId);
  const store = await openIdbStore(databaseName(nodeId));
  await saveKeys(store, identity, seeds);
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

/**
 * Without IndexedDB: the keys this tab keeps in sessionStorage, so a reload or a twin move
 * keeps the node id (and so its place in the DHT); new ones when there are none, or they fail.
 */
export async function memoryIdentity(session: Storage): Promise<Identity> {
  const record = readTabRecord(session);
  if (record.memoryKeys) {
    const restored = await importIdentity(record.memoryKeys).catch(() => null);
    if (restored) return restored;
  }
  const identity = await createIdentity(cryptoRandom);
  writeTabRecord(session, { ...readTabRecord(session), memoryKeys: await exportIdentity(identity) });
  return identity;
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
