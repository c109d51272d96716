/**
 * Which identity this tab runs as (ARCHITECTURE.md, "Persistence"): the one it remembers in
 * sessionStorage, so a reload or a twin move keeps it; else a saved anonymous identity no other
 * tab holds; else a new one. Each is held with its Web Lock for the tab's life, so an identity
 * runs in one tab at a time. When the browser refuses IndexedDB, the tab still runs, on memory,
 * keeping its keys in sessionStorage (nowhere else survives a reload), and says so.
 *
 * An identity saved before node ids cost work (lib/id.ts) opens with its keys and gets its new
 * id on that load: its directory entry moves to the new id (identities.ts moveInDirectory) and
 * its database keeps its old name.
 *
 * The tab remembers all this under one sessionStorage key. Before, two keys held it; a tab
 * reloaded across that change finds them and moves them under the new key.
 */
import { createIdentity, createSeeds, exportIdentity, importIdentity, type Identity, type KeyOptions, type StoredIdentity } from '../../shared/lib/crypto.ts';
import { ErrorCode, isPeerchatError, PeerchatError } from '../../shared/lib/errors.ts';
import { idToHex, isValidIdHex, legacyNodeId } from '../../shared/lib/id.ts';
import { cryptoRandom } from '../../shared/lib/random.ts';
import { MemoryStore, type Store } from '../../shared/lib/store.ts';
import { databaseName, openIdbStore } from './idb-store.ts';
import { listIdentities, loadKeys, moveInDirectory, saveKeys, saveToDirectory, type SavedIdentity } from './identities.ts';
import { readItem, readJson, removeItem, writeItem } from './web-storage.ts';

const TAB_KEY = 'peerchat.tab-identity';
/** The keys of the two-key layout: the saved identity's node id, and the memory-only keys. */
const LEGACY_SAVED_KEY = 'peerchat.identity';
const LEGACY_MEMORY_KEY = 'peerchat.node-identity';
/** The Web Lock a tab holds on its identity for its life; the service worker reads it (web/public/notification-click.js). */
export const LOCK_PREFIX = 'peerchat-identity-';

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

/** `work` is called between slices of an id-nonce search (a new identity, or an old one's first load). */
type Work = KeyOptions['work'];

export async function openTabIdentity(session: Storage, work?: Work): Promise<TabIdentity> {
  try {
    return await openPersistent(session, work);
  } catch (err) {
    if (!isPeerchatError(err, ErrorCode.StorageUnavailable)) throw err;
    return {
      identity: await memoryIdentity(session, work),
      store: new MemoryStore(),
      persistent: false,
      problem: `${err.message}. This tab works, but forgets its user, contacts and messages when it closes.`,
    };
  }
}

async function openPersistent(session: Storage, work?: Work): Promise<TabIdentity> {
  const { saved } = readTabRecord(session);
  const entries = await listIdentities();
  if (saved) {
    // A tab reloaded across the move to ids that cost work remembers the old id (`db`).
    const opened = await tryOpen(entries.find((e) => e.nodeId === saved || e.db === saved) ?? { nodeId: saved, name: null, createdAt: Date.now() }, work);
    if (opened) return remembered(session, opened);
    // Open in another tab (or broken): this tab becomes someone else.
    rememberIdentity(session, null);
  }
  for (const entry of entries) {
    if (entry.name !== null) continue;
    const opened = await tryOpen(entry, work);
    if (opened) return remembered(session, opened);
  }
  // The seeds exist only in this function, as the fallback form where CryptoKeys cannot be stored.
  const seeds = createSeeds(cryptoRandom);
  const identity = await importIdentity(seeds, { extractable: false, work });
  if (!identity) throw new PeerchatError(ErrorCode.BadRequest, 'This browser could not import a new identity key; use a current Chromium, Firefox or Safari.');
  const nodeId = idToHex(identity.nodeId);
  await lockIdentity(nodeId);
  const store = await openIdbStore(databaseName(nodeId));
  await saveKeys(store, identity, seeds);
  await saveToDirectory({ nodeId, name: null, createdAt: Date.now() });
  rememberIdentity(session, nodeId);
  return { identity, store, persistent: true };
}

function remembered(session: Storage, opened: TabIdentity): TabIdentity {
  rememberIdentity(session, idToHex(opened.identity.nodeId));
  return opened;
}

/**
 * The saved identity with its store, if this tab got its lock and its keys load. Keys saved
 * before ids cost work are found under their old id: the entry moves to the new one, whose lock
 * this tab takes too (it holds both for its life, so no other tab opens either).
 */
async function tryOpen(entry: SavedIdentity, work?: Work): Promise<TabIdentity | null> {
  const release = await lockIdentity(entry.nodeId);
  if (!release) return null;
  const store = await openIdbStore(databaseName(entry.db ?? entry.nodeId));
  const identity = await loadKeys(store, work);
  const hex = identity && idToHex(identity.nodeId);
  if (identity && hex === entry.nodeId) return { identity, store, persistent: true };
  if (identity && idToHex(legacyNodeId(identity.signingPublic)) === entry.nodeId && (await lockIdentity(hex!))) {
    await moveInDirectory(entry, hex!);
    return { identity, store, persistent: true };
  }
  await store.close();
  release();
  return null;
}

/**
 * Without IndexedDB: the keys this tab keeps in sessionStorage, so a reload or a twin move
 * keeps the node id (and so its place in the DHT); new ones when there are none, or they fail.
 */
export async function memoryIdentity(session: Storage, work?: Work): Promise<Identity> {
  const record = readTabRecord(session);
  if (record.memoryKeys) {
    const restored = await importIdentity(record.memoryKeys, { work }).catch(() => null);
    if (restored) {
      // Keys from before ids cost work: keep the nonce found, or the next reload searches again.
      if (restored.idNonce !== record.memoryKeys.n) writeTabRecord(session, { ...record, memoryKeys: { ...record.memoryKeys, n: restored.idNonce } });
      return restored;
    }
  }
  const identity = await createIdentity(cryptoRandom, { work });
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
