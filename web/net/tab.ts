/**
 * What one browser tab remembers about itself across reloads, in sessionStorage, and the
 * twin-URL move that keeps a long-lived tab under Chromium's 500-connection cap.
 *
 * Chromium counts RTCPeerConnections per renderer process for the process's whole life, and a
 * reload keeps the process. Navigating between `/` (no COOP) and `/twin/` (COOP + COEP) swaps the
 * process and so resets the count, while sessionStorage survives (MACHINE-NOTES). So the tab
 * stores its count together with the variant it was counted under: a stored count for the other
 * variant belongs to a process this page does not run in, and the count here starts at 0.
 */
import { createIdentity, exportIdentity, importIdentity, type Identity, type StoredIdentity } from '../../shared/lib/crypto.ts';
import { cryptoRandom } from '../../shared/lib/random.ts';
import { isTwinPath, TWIN_PREFIX } from '../../shared/signal/protocol.ts';

const IDENTITY_KEY = 'peerchat.node-identity';
const CREATED_KEY = 'peerchat.created';
const MOVES_KEY = 'peerchat.twin-moves';

export type Variant = 'main' | 'twin';

export function variantOf(pathname: string): Variant {
  return isTwinPath(pathname) ? 'twin' : 'main';
}

/** Same page, other variant: query and hash kept. */
export function twinUrl(location: { pathname: string; search: string; hash: string; origin: string }): string {
  const path = variantOf(location.pathname) === 'twin' ? '/' : TWIN_PREFIX;
  return `${location.origin}${path}${location.search}${location.hash}`;
}

/** sessionStorage can throw (disabled storage, quota): the tab still runs, it just forgets. */
function read(storage: Storage, key: string): string | null {
  try {
    return storage.getItem(key);
  } catch {
    return null;
  }
}

function write(storage: Storage, key: string, value: string): void {
  try {
    storage.setItem(key, value);
  } catch {
    // Forgetting the count only risks the browser refusing a connection later, which the
    // transport reports as an exhausted budget.
  }
}

/** Connections created in this renderer process so far, as this tab last saved it. */
export function loadCreated(storage: Storage, variant: Variant): number {
  const text = read(storage, CREATED_KEY);
  if (!text) return 0;
  try {
    const v = JSON.parse(text) as { variant?: unknown; count?: unknown };
    if (v.variant !== variant) return 0;
    return typeof v.count === 'number' && Number.isInteger(v.count) && v.count >= 0 && v.count <= 10_000 ? v.count : 0;
  } catch {
    return 0;
  }
}

export function saveCreated(storage: Storage, variant: Variant, count: number): void {
  write(storage, CREATED_KEY, JSON.stringify({ variant, count }));
}

/** Moves to the twin URL; the other variant's process starts with a count of 0. */
export function moveToTwin(storage: Storage, location: Location): void {
  const target = variantOf(location.pathname) === 'twin' ? 'main' : 'twin';
  saveCreated(storage, target, 0);
  write(storage, MOVES_KEY, String(twinMoves(storage) + 1));
  location.replace(twinUrl(location));
}

/** How many times this tab has moved to its twin URL (shown, and read by tests). */
export function twinMoves(storage: Storage): number {
  const n = Number(read(storage, MOVES_KEY) ?? 0);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

/**
 * This tab's node identity: kept in sessionStorage so a reload or a twin move keeps the node id
 * (and so its place in the DHT). Until a user signs in (IndexedDB keeps user identities), a tab
 * is an anonymous node.
 */
export async function tabIdentity(storage: Storage): Promise<Identity> {
  const text = read(storage, IDENTITY_KEY);
  if (text) {
    try {
      const restored = await importIdentity(JSON.parse(text) as StoredIdentity);
      if (restored) return restored;
    } catch {
      // Corrupt: make a new one below.
    }
  }
  const identity = await createIdentity(cryptoRandom);
  write(storage, IDENTITY_KEY, JSON.stringify(await exportIdentity(identity)));
  return identity;
}

const STUN_KEY = 'peerchat.stun';

/** A STUN URL the user set (e.g. stun:stun.example.org:3478), or null; kept across sessions. */
export function loadStunUrl(storage: Storage): string | null {
  const url = read(storage, STUN_KEY);
  return url && isStunUrl(url) ? url : null;
}

/** Saves a STUN URL, or forgets it when `url` is empty; false when it is not a stun: URL. */
export function saveStunUrl(storage: Storage, url: string): boolean {
  const trimmed = url.trim();
  if (trimmed === '') {
    try {
      storage.removeItem(STUN_KEY);
    } catch {
      // Nothing to forget.
    }
    return true;
  }
  if (!isStunUrl(trimmed)) return false;
  write(storage, STUN_KEY, trimmed);
  return true;
}

export function isStunUrl(url: string): boolean {
  return /^stuns?:[A-Za-z0-9.-]+(:\d{1,5})?$/.test(url) && url.length <= 256;
}

/** Storage kept in memory: what a tab uses when the browser refuses it sessionStorage. */
export class MemoryStorage implements Storage {
  private readonly items = new Map<string, string>();
  get length(): number {
    return this.items.size;
  }
  clear(): void {
    this.items.clear();
  }
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  key(index: number): string | null {
    return [...this.items.keys()][index] ?? null;
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
  setItem(key: string, value: string): void {
    this.items.set(key, String(value));
  }
}

/**
 * The browser's storage, or memory when merely touching it throws (storage disabled, some
 * privacy modes): the tab still works, and `persistent` says it will forget on reload.
 */
export function storageOr(get: () => Storage): { storage: Storage; persistent: boolean } {
  try {
    const storage = get();
    storage.getItem('peerchat.probe');
    return { storage, persistent: true };
  } catch {
    return { storage: new MemoryStorage(), persistent: false };
  }
}
