import { describe, expect, it } from 'vitest';
import { MemoryStore } from './store.ts';
import { storeContract } from './store-contract.ts';

storeContract('MemoryStore', () => new MemoryStore());

describe('MemoryStore', () => {
  it('refuses every operation once closed', async () => {
    const store = new MemoryStore();
    await store.put('meta', 'x', 1);
    await store.close();
    await expect(store.get('meta', 'x')).rejects.toThrow(/closed/);
    await expect(store.put('meta', 'x', 2)).rejects.toThrow(/closed/);
    await expect(store.batch([{ type: 'delete', table: 'meta', key: 'x' }])).rejects.toThrow(/closed/);
  });
});
