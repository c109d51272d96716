/**
 * sessionStorage and localStorage as the tab can rely on them. Browsers throw from these on
 * disabled storage, some privacy modes and a full quota; what the tab keeps there (its identity,
 * its connection count, the user's settings) is a help across reloads, never a reason to fail,
 * so every access here answers instead of throwing.
 */

export function readItem(storage: Storage, key: string): string | null {
  try {
    return storage.getItem(key);
  } catch {
    return null;
  }
}

/** False when the browser refused the write: the caller decides whether that matters. */
export function writeItem(storage: Storage, key: string, value: string): boolean {
  try {
    storage.setItem(key, value);
    return true;
  } catch {
    return false;
  }
}

export function removeItem(storage: Storage, key: string): void {
  try {
    storage.removeItem(key);
  } catch {
    // Whatever stays is read back through a check, like any other stored value.
  }
}

/** A stored JSON value, or undefined when absent or not JSON (hand-edited, truncated). */
export function readJson(storage: Storage, key: string): unknown {
  const text = readItem(storage, key);
  if (text === null) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
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
