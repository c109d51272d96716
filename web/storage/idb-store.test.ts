/**
 * The IndexedDB store keeps the same Store contract as the in-memory twin (fake-indexeddb runs
 * IndexedDB in Node), and what it committed is still there when the database is opened again,
 * as after a reload or a killed tab.
 */
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { storeContract } from '../../shared/lib/store-contract.ts';
import { databaseName, openIdbStore, STORE_TABLES } from './idb-store.ts';

let serial = 0;
const freshName = () => `test-${++serial}`;

storeContract('IndexedDB (idb on fake-indexeddb)', () => openIdbStore(freshName()));

describe('IndexedDB store', () => {
  it('keeps every table’s data across closing and reopening the database', async () => {
    const name = freshName();
    const first = await openIdbStore(name);
    await first.batch(STORE_TABLES.map((table) => ({ type: 'put' as const, table, key: 'k', value: { table, bytes: new Uint8Array([1, 2]) } })));
    await first.close();
    const second = await openIdbStore(name);
    for (const table of STORE_TABLES) expect(await second.get(table, 'k')).toEqual({ table, bytes: new Uint8Array([1, 2]) });
    await second.close();
  });

  it('names one database per identity', () => {
    expect(databaseName('ab'.repeat(20))).toBe(`peerchat-${'ab'.repeat(20)}`);
  });

  it('refuses operations after close', async () => {
    const store = await openIdbStore(freshName());
    await store.close();
    await expect(store.get('meta', 'x')).rejects.toBeDefined();
    await expect(store.put('meta', 'x', 1)).rejects.toBeDefined();
  });
});
