/**
 * An identity's keys in its IndexedDB database (fake-indexeddb, which keeps values by Node's
 * structured clone, CryptoKeys included, as browsers do): non-extractable CryptoKeys, the
 * move from the seeds tabs kept before, the fallback where a CryptoKey cannot be stored, and
 * stored values that are not usable keys.
 */
import 'fake-indexeddb/auto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSeeds, importIdentity, webCryptoOps, type Identity, type StoredIdentity } from '../../shared/lib/crypto.ts';
import { fromBase64Url } from '../../shared/lib/encoding.ts';
import { idToHex } from '../../shared/lib/id.ts';
import { SeededRandom } from '../../shared/lib/random.ts';
import type { Store, StoreOp, StoreTable } from '../../shared/lib/store.ts';
import { openIdbStore, STORE_TABLES, type IdbStore } from './idb-store.ts';
import { keyRecord, type KeyDropReason, type StoredKeys } from './identity-keys.ts';
import { keyStats, loadKeys, saveKeys } from './identities.ts';

let dbCount = 0;
const stores: IdbStore[] = [];
async function freshStore(): Promise<IdbStore> {
  const store = await openIdbStore(`identities-test-${dbCount++}`);
  stores.push(store);
  return store;
}

let warn: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
});
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

function seedsOf(n: number): StoredIdentity {
  return createSeeds(new SeededRandom(n));
}

async function keysOf(seeds: StoredIdentity): Promise<Identity> {
  return (await importIdentity(seeds, { extractable: false }))!;
}

/** Every private-seed byte string, raw or base64url, anywhere in any table of `store`. */
async function seedsFoundIn(store: Store, seeds: StoredIdentity): Promise<string[]> {
  const needles = [seeds.signingSeed, seeds.agreementSeed];
  const rawNeedles = needles.map((s) => idToHex(fromBase64Url(s)!));
  const found: string[] = [];
  const visit = (v: unknown, where: string): void => {
    if (typeof v === 'string') {
      for (const n of needles) if (v.includes(n)) found.push(where);
    } else if (ArrayBuffer.isView(v)) {
      const hex = idToHex(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      for (const n of rawNeedles) if (hex.includes(n)) found.push(where);
    } else if (typeof v === 'object' && v !== null && !(v instanceof CryptoKey)) {
      for (const [k, inner] of Object.entries(v)) visit(inner, `${where}.${k}`);
    }
  };
  for (const table of STORE_TABLES) for (const [key, value] of await store.entries(table)) visit(value, `${table}/${key}`);
  return found;
}

/** A Store that records what is written and can refuse every put, as a tab that dies before the commit. */
function recordingStore(inner: Store, refusePuts = false): Store & { ops: StoreOp[]; transactions: StoreOp[][] } {
  const ops: StoreOp[] = [];
  /** The writes, one array per transaction. */
  const transactions: StoreOp[][] = [];
  const refuse = () => Promise.reject(new DOMException('The transaction was aborted.', 'AbortError'));
  return {
    ops,
    transactions,
    get: (table, key) => inner.get(table, key),
    entries: (table) => inner.entries(table),
    put: (table: StoreTable, key: string, value: unknown) => {
      ops.push({ type: 'put', table, key, value });
      transactions.push([{ type: 'put', table, key, value }]);
      return refusePuts ? refuse() : inner.put(table, key, value);
    },
    delete: (table, key) => {
      ops.push({ type: 'delete', table, key });
      transactions.push([{ type: 'delete', table, key }]);
      return inner.delete(table, key);
    },
    batch: (batch) => {
      ops.push(...batch);
      transactions.push(batch);
      return refusePuts ? refuse() : inner.batch(batch);
    },
    close: () => inner.close(),
  };
}

/** A browser whose structured clone (and so IndexedDB) refuses CryptoKeys, as some have. */
function refuseCryptoKeyClones(): void {
  const clone = globalThis.structuredClone;
  const hasKey = (v: unknown): boolean =>
    v instanceof CryptoKey || (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) && Object.values(v).some(hasKey));
  vi.stubGlobal('structuredClone', (value: unknown, options?: StructuredSerializeOptions) => {
    if (hasKey(value)) throw new DOMException('CryptoKey could not be cloned.', 'DataCloneError');
    return clone(value, options);
  });
}

async function expectUsable(identity: Identity): Promise<void> {
  const data = new TextEncoder().encode('still signs');
  expect(await webCryptoOps.verify(identity.signingPublic, await webCryptoOps.sign(identity, data), data)).toBe(true);
}

describe('identity keys in IndexedDB', () => {
  it('are non-extractable CryptoKeys and public keys, with no seed stored anywhere', async () => {
    const store = await freshStore();
    const seeds = seedsOf(1);
    expect(await saveKeys(store, await keysOf(seeds), seeds)).toBe('keys');
    const stored = await store.get<StoredKeys>('meta', 'identity');
    expect(stored?.v).toBe(2);
    expect(stored?.signingPrivate).toBeInstanceOf(CryptoKey);
    expect([stored?.signingPrivate.extractable, stored?.agreementPrivate.extractable]).toEqual([false, false]);
    await expect(crypto.subtle.exportKey('pkcs8', stored!.signingPrivate)).rejects.toThrow();
    await expect(crypto.subtle.exportKey('jwk', stored!.agreementPrivate)).rejects.toThrow();
    expect(await seedsFoundIn(store, seeds)).toEqual([]);

    const loaded = (await loadKeys(store))!;
    expect(idToHex(loaded.nodeId)).toBe(idToHex((await keysOf(seeds)).nodeId));
    expect(loaded.signingPrivate.extractable).toBe(false);
    await expectUsable(loaded);
    expect(warn).not.toHaveBeenCalled();
  });
});

describe('seeds stored by the previous version', () => {
  it('are replaced by CryptoKeys on load, in one transaction over the same entry: same node id, seeds gone', async () => {
    const inner = await freshStore();
    const seeds = seedsOf(2);
    await inner.put('meta', 'identity', seeds);
    const store = recordingStore(inner);
    const migratedBefore = keyStats.get('keys-migrated');

    const loaded = (await loadKeys(store))!;

    expect(idToHex(loaded.nodeId)).toBe(idToHex((await keysOf(seeds)).nodeId));
    expect(loaded.agreementPrivate.extractable).toBe(false);
    // No delete of the seeds apart from the write of the keys: they go only as the keys commit,
    // with the sealed copy an export needs (identity-keys.ts StoredBackup).
    expect(store.transactions.map((t) => t.map((op) => [op.type, op.table, op.key]))).toEqual([[['put', 'meta', 'identity'], ['put', 'meta', 'backup']]]);
    expect((await inner.get<StoredKeys>('meta', 'identity'))?.v).toBe(2);
    expect(await seedsFoundIn(inner, seeds)).toEqual([]);
    expect(keyStats.get('keys-migrated')).toBe(migratedBefore + 1);
    expect(idToHex((await loadKeys(inner))!.nodeId)).toBe(idToHex(loaded.nodeId));
  });

  it('stay until the keys are committed: a tab that dies midway loses nothing, the next load moves them', async () => {
    const inner = await freshStore();
    const seeds = seedsOf(3);
    await inner.put('meta', 'identity', seeds);
    const failedBefore = keyStats.get('keys-migration-failed');

    const dying = (await loadKeys(recordingStore(inner, true)))!;

    expect(await inner.get('meta', 'identity')).toEqual(seeds);
    expect(keyStats.get('keys-migration-failed')).toBe(failedBefore + 1);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('stay stored as seeds'));
    await expectUsable(dying); // this tab still runs as its identity
    const next = (await loadKeys(inner))!;
    expect(idToHex(next.nodeId)).toBe(idToHex(dying.nodeId));
    expect((await inner.get<StoredKeys>('meta', 'identity'))?.v).toBe(2);
    expect(await seedsFoundIn(inner, seeds)).toEqual([]);
  });
});

describe('a browser that cannot store a CryptoKey', () => {
  it('keeps the seeds instead, with a console warning, and loads the same identity from them', async () => {
    const store = await freshStore();
    const seeds = seedsOf(4);
    refuseCryptoKeyClones();
    const keptBefore = keyStats.get('keys-kept-as-seeds');

    const keys = await keysOf(seeds);
    expect(await saveKeys(store, keys, seeds)).toBe('seeds');

    // With the id nonce, so a load does not search for it again.
    expect(await store.get('meta', 'identity')).toEqual({ ...seeds, n: keys.idNonce });
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('cannot store a CryptoKey'));
    const loaded = (await loadKeys(store))!;
    expect(idToHex(loaded.nodeId)).toBe(idToHex((await keysOf(seeds)).nodeId));
    expect(loaded.signingPrivate.extractable).toBe(false); // in memory, at least
    await expectUsable(loaded);
    // The load tried to move them again and fell back again: still the seeds, nothing lost.
    expect(await store.get('meta', 'identity')).toEqual({ ...seeds, n: keys.idNonce });
    expect(keyStats.get('keys-kept-as-seeds')).toBe(keptBefore + 2);
  });

  it('still fails a new identity on other storage errors, as before', async () => {
    const seeds = seedsOf(5);
    const store = recordingStore(await freshStore(), true);
    await expect(saveKeys(store, await keysOf(seeds), seeds)).rejects.toThrow('aborted');
  });
});

describe('a stored value that is not a usable key pair', () => {
  async function expectDropped(value: unknown, reason: KeyDropReason): Promise<void> {
    const store = await freshStore();
    await store.put('meta', 'identity', value);
    const before = keyStats.get(`keys-dropped:${reason}`);
    expect(await loadKeys(store), reason).toBeNull();
    expect(keyStats.get(`keys-dropped:${reason}`), reason).toBe(before + 1);
    expect(warn).toHaveBeenLastCalledWith(expect.stringContaining(reason));
  }

  it('counts as absent, with the reason counted and logged', async () => {
    const good = keyRecord(await keysOf(seedsOf(6)));
    const extractable = (await importIdentity(seedsOf(6)))!;
    await expectDropped('nope', 'unknown-form');
    await expectDropped({ ...good, v: 3 }, 'unknown-form');
    await expectDropped({ ...seedsOf(6), signingSeed: 'short' }, 'bad-seeds');
    await expectDropped({ ...good, signingPublic: good.signingPublic.slice(1) }, 'bad-public-key');
    await expectDropped({ ...good, agreementPublic: [...good.agreementPublic] }, 'bad-public-key');
    await expectDropped({ ...good, signingPrivate: 'key' }, 'bad-private-key');
    await expectDropped({ ...good, signingPrivate: good.agreementPrivate, agreementPrivate: good.signingPrivate }, 'bad-private-key');
    await expectDropped({ ...good, signingPrivate: extractable.signingPrivate, agreementPrivate: extractable.agreementPrivate }, 'extractable-key');
  });

  it('counts as absent when the private keys are not those of the public keys beside them', async () => {
    const good = keyRecord(await keysOf(seedsOf(8)));
    const other = await keysOf(seedsOf(9));
    // Another key that would sign as this node id, or open what is sealed to it, is refused.
    const store = await freshStore();
    for (const value of [
      { ...good, signingPrivate: other.signingPrivate },
      { ...good, agreementPrivate: other.agreementPrivate },
      { ...good, signingPublic: other.signingPublic },
    ]) {
      await store.put('meta', 'identity', value);
      const before = keyStats.get('keys-dropped:keys-mismatch');
      expect(await loadKeys(store)).toBeNull();
      expect(keyStats.get('keys-dropped:keys-mismatch')).toBe(before + 1);
    }
  });
});
