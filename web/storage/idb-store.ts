/**
 * The engine's Store on IndexedDB, through idb: one database per identity, one object store per
 * table, keys out of line. Every write is one transaction with strict durability, resolved only
 * once IndexedDB reports it complete, so whatever an ack or a status depends on is on disk
 * before the ack is sent or the status shown (ARCHITECTURE.md, "Persistence"). The one idb importer.
 */
import { openDB, type IDBPDatabase } from 'idb';
import { ErrorCode, PeerchatError } from '../../shared/lib/errors.ts';
import type { Store, StoreOp, StoreTable } from '../../shared/lib/store.ts';

export const STORE_TABLES: readonly StoreTable[] = [
  'meta',
  'records',
  'routing',
  'contacts',
  'conversations',
  'messages',
  'outbox',
  'mailbox',
  'tombstones',
  'seen',
  'requests',
  'blocked',
  'groups',
];
/** Bumped when tables change; upgrade() creates what a version lacks and keeps the data. */
const SCHEMA_VERSION = 3;
const STRICT = { durability: 'strict' } as const;

/** The database name of an identity (its node id in hex). */
export function databaseName(nodeIdHex: string): string {
  return `peerchat-${nodeIdHex}`;
}

/**
 * Opens (creating when new) the database `name`. Rejects with STORAGE_UNAVAILABLE when the
 * browser refuses IndexedDB (private modes, disabled storage, another tab holding an upgrade).
 */
export async function openIdbStore(name: string): Promise<IdbStore> {
  try {
    const db = await openDB(name, SCHEMA_VERSION, {
      upgrade(database) {
        for (const table of STORE_TABLES) if (!database.objectStoreNames.contains(table)) database.createObjectStore(table);
      },
    });
    return new IdbStore(db);
  } catch (err) {
    throw new PeerchatError(ErrorCode.StorageUnavailable, `Storage unavailable: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export class IdbStore implements Store {
  constructor(private readonly db: IDBPDatabase) {
    // A newer version of the app wants to upgrade the schema: let it, this page will reload.
    db.addEventListener('versionchange', () => db.close());
  }

  async get<T>(table: StoreTable, key: string): Promise<T | undefined> {
    return (await this.db.get(table, key)) as T | undefined;
  }

  async entries<T>(table: StoreTable): Promise<Array<[string, T]>> {
    const tx = this.db.transaction(table, 'readonly');
    const [keys, values] = await Promise.all([tx.store.getAllKeys(), tx.store.getAll(), tx.done]);
    return keys.map((k, i) => [String(k), values[i] as T]);
  }

  put(table: StoreTable, key: string, value: unknown): Promise<void> {
    return this.batch([{ type: 'put', table, key, value }]);
  }

  delete(table: StoreTable, key: string): Promise<void> {
    return this.batch([{ type: 'delete', table, key }]);
  }

  /**
   * One readwrite transaction over every table the ops touch. A value that cannot be cloned
   * throws from put() before anything is committed: the transaction is aborted, so all or none.
   */
  async batch(ops: StoreOp[]): Promise<void> {
    if (ops.length === 0) return;
    const tables = [...new Set(ops.map((op) => op.table))];
    const tx = this.db.transaction(tables, 'readwrite', STRICT);
    try {
      for (const op of ops) {
        const store = tx.objectStore(op.table);
        // Not awaited one by one: requests queue in order inside the transaction.
        if (op.type === 'put') void store.put(op.value, op.key).catch(() => {});
        else void store.delete(op.key).catch(() => {});
      }
    } catch (err) {
      tx.abort();
      await tx.done.catch(() => {});
      throw err;
    }
    await tx.done;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
