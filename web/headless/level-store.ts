/**
 * The engine's Store on LevelDB (classic-level, whose prebuilt binary ships in its npm package):
 * what a headless node persists, as a tab does on IndexedDB (web/storage/idb-store.ts). One
 * database per data folder; a table is a key prefix ("mailbox!<key>"). Values are written with
 * V8's serializer, the structured clone a tab's IndexedDB uses, so bytes stay Uint8Array and a
 * value that cannot be cloned rejects before anything is written.
 *
 * Every write is one LevelDB batch with `sync: true`: it is in the write-ahead log and fsynced
 * before the promise resolves, so whatever an ack depends on survives a kill -9 (and a power
 * cut) once acknowledged (ARCHITECTURE.md, "Persistence"). What is read back is disk, so
 * untrusted: a value that does not deserialize reads as absent and is reported, never thrown.
 */
import { deserialize, serialize } from 'node:v8';
import { ClassicLevel } from 'classic-level';
import { ErrorCode, PeerchatError } from '../../shared/lib/errors.ts';
import type { Store, StoreOp, StoreTable } from '../../shared/lib/store.ts';

/** Between a table's name and a key; table names never contain it. */
const SEPARATOR = '!';
/** The character after SEPARATOR: the end of a table's key range. */
const SEPARATOR_END = String.fromCharCode(SEPARATOR.charCodeAt(0) + 1);
const SYNC = { sync: true } as const;

type Db = ClassicLevel<string, Uint8Array>;

export interface LevelStoreOptions {
  /** A stored value did not deserialize: it reads as absent. For the owner to count and log. */
  onBadValue?: (table: StoreTable, key: string) => void;
}

/**
 * Opens (creating when new) the database in `dir`. Rejects with STORAGE_UNAVAILABLE, saying
 * why, when LevelDB refuses: another process holds the folder, or it is not writable.
 */
export async function openLevelStore(dir: string, options: LevelStoreOptions = {}): Promise<LevelStore> {
  const db: Db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  try {
    await db.open();
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err instanceof Error ? err.message : String(err));
    const locked = (err as { code?: string }).code === 'LEVEL_LOCKED' || /lock/i.test(cause);
    const why = locked ? 'another process (a second headless node?) has it open' : cause;
    throw new PeerchatError(ErrorCode.StorageUnavailable, `Cannot open the store in ${dir}: ${why}`);
  }
  return new LevelStore(db, options);
}

export class LevelStore implements Store {
  constructor(
    private readonly db: Db,
    private readonly options: LevelStoreOptions = {},
  ) {}

  async get<T>(table: StoreTable, key: string): Promise<T | undefined> {
    const raw = await this.db.get(keyOf(table, key));
    return raw === undefined ? undefined : this.decode<T>(table, key, raw);
  }

  /** In the order MemoryStore uses (UTF-16 code units), which LevelDB's byte order is not quite. */
  async entries<T>(table: StoreTable): Promise<Array<[string, T]>> {
    const prefix = table + SEPARATOR;
    const out: Array<[string, T]> = [];
    for await (const [k, raw] of this.db.iterator({ gte: prefix, lt: table + SEPARATOR_END })) {
      const key = k.slice(prefix.length);
      const value = this.decode<T>(table, key, raw);
      if (value !== undefined) out.push([key, value]);
    }
    return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  put(table: StoreTable, key: string, value: unknown): Promise<void> {
    return this.batch([{ type: 'put', table, key, value }]);
  }

  delete(table: StoreTable, key: string): Promise<void> {
    return this.batch([{ type: 'delete', table, key }]);
  }

  /** Serializes every value first, so one that cannot be cloned rejects the batch before any write. */
  async batch(ops: StoreOp[]): Promise<void> {
    if (ops.length === 0) return;
    const encoded = ops.map((op) =>
      op.type === 'put'
        ? { type: 'put' as const, key: keyOf(op.table, op.key), value: serialize(op.value) as Uint8Array }
        : { type: 'del' as const, key: keyOf(op.table, op.key) },
    );
    await this.db.batch(encoded, SYNC);
  }

  /** Idempotent: LevelDB's close is. */
  async close(): Promise<void> {
    await this.db.close();
  }

  private decode<T>(table: StoreTable, key: string, raw: Uint8Array): T | undefined {
    try {
      const value = deserialize(raw) as T;
      // A bare undefined is never written (the contract stores plain data), so it means damage.
      if (value !== undefined) return value;
    } catch {
      // Damaged bytes: reported below, read as absent.
    }
    this.options.onBadValue?.(table, key);
    return undefined;
  }
}

function keyOf(table: StoreTable, key: string): string {
  return table + SEPARATOR + key;
}
