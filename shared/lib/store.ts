/**
 * The Store seam: everything the engine persists goes through it. The browser implements it with
 * IndexedDB (web/storage/), tests and the simulator with `MemoryStore`. Values must be
 * structured-clone-able plain data. `batch` is atomic: all of it is committed or none.
 */
export type StoreTable =
  | 'meta'
  | 'records'
  | 'routing'
  | 'contacts'
  | 'conversations'
  | 'messages'
  | 'outbox'
  | 'mailbox'
  | 'tombstones'
  | 'seen'
  | 'requests'
  | 'blocked'
  | 'groups';

export type StoreOp =
  | { type: 'put'; table: StoreTable; key: string; value: unknown }
  | { type: 'delete'; table: StoreTable; key: string };

export interface Store {
  get<T>(table: StoreTable, key: string): Promise<T | undefined>;
  /** Every [key, value] of a table, in key order. */
  entries<T>(table: StoreTable): Promise<Array<[string, T]>>;
  put(table: StoreTable, key: string, value: unknown): Promise<void>;
  delete(table: StoreTable, key: string): Promise<void>;
  /** Applies all ops in one transaction; resolves once they are durable. */
  batch(ops: StoreOp[]): Promise<void>;
  close(): Promise<void>;
}

/** The in-memory twin. Values are cloned on the way in and out, as IndexedDB does. */
export class MemoryStore implements Store {
  private readonly tables = new Map<StoreTable, Map<string, unknown>>();
  private closed = false;

  /** A table to read; one never written to reads as empty without being made. */
  private read(name: StoreTable): ReadonlyMap<string, unknown> {
    if (this.closed) throw new Error('Store is closed');
    return this.tables.get(name) ?? EMPTY;
  }

  /** A table to write to, made on first write. */
  private write(name: StoreTable): Map<string, unknown> {
    if (this.closed) throw new Error('Store is closed');
    let t = this.tables.get(name);
    if (!t) this.tables.set(name, (t = new Map()));
    return t;
  }

  async get<T>(table: StoreTable, key: string): Promise<T | undefined> {
    const v = this.read(table).get(key);
    return v === undefined ? undefined : (structuredClone(v) as T);
  }

  async entries<T>(table: StoreTable): Promise<Array<[string, T]>> {
    const t = this.read(table);
    return [...t.keys()].sort().map((k) => [k, structuredClone(t.get(k)) as T]);
  }

  async put(table: StoreTable, key: string, value: unknown): Promise<void> {
    this.write(table).set(key, structuredClone(value));
  }

  async delete(table: StoreTable, key: string): Promise<void> {
    if (this.read(table).has(key)) this.write(table).delete(key);
  }

  async batch(ops: StoreOp[]): Promise<void> {
    // Clone everything first so a bad value aborts the whole batch before any write.
    const staged = ops.map((op) => (op.type === 'put' ? { ...op, value: structuredClone(op.value) } : op));
    for (const op of staged) {
      if (op.type === 'put') this.write(op.table).set(op.key, op.value);
      else if (this.read(op.table).has(op.key)) this.write(op.table).delete(op.key);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** What a table never written to reads as. */
const EMPTY: ReadonlyMap<string, unknown> = new Map<string, unknown>();
