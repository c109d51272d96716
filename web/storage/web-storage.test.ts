import { describe, expect, it } from 'vitest';
import { MemoryStorage, readItem, readJson, storageOr, writeItem } from './web-storage.ts';

/** A Storage whose every call throws, as a browser's does with storage blocked for the site. */
class RefusingStorage extends MemoryStorage {
  override getItem(): string | null {
    throw new DOMException('The operation is insecure.', 'SecurityError');
  }
  override setItem(): void {
    throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
  }
}

describe('storage a browser refuses', () => {
  it('falls back to memory, and says it will not last', () => {
    const refused = storageOr(() => {
      throw new DOMException('The operation is insecure.', 'SecurityError');
    });
    expect(refused.persistent).toBe(false);
    expect(writeItem(refused.storage, 'k', 'v')).toBe(true);
    expect(readItem(refused.storage, 'k')).toBe('v');
    const fine = new MemoryStorage();
    expect(storageOr(() => fine)).toEqual({ storage: fine, persistent: true });
  });

  it('answers a refused read with nothing and a refused write with false, never a throw', () => {
    const storage = new RefusingStorage();
    expect(readItem(storage, 'k')).toBeNull();
    expect(readJson(storage, 'k')).toBeUndefined();
    expect(writeItem(storage, 'k', 'v')).toBe(false);
  });

  it('reads a value that is not JSON as absent', () => {
    const storage = new MemoryStorage();
    storage.setItem('k', '{"truncated":');
    expect(readJson(storage, 'k')).toBeUndefined();
    storage.setItem('k', '{"a":1}');
    expect(readJson(storage, 'k')).toEqual({ a: 1 });
  });
});
