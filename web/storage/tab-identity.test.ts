/**
 * Which identity a tab runs, on fake-indexeddb, with a Web Locks stand-in that holds each lock
 * until released, as the browser does for a tab's life.
 */
import 'fake-indexeddb/auto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createIdentity, createSeeds, exportIdentity, idWithWork, importIdentity, type Identity } from '../../shared/lib/crypto.ts';
import { idToHex, legacyNodeId } from '../../shared/lib/id.ts';
import { cryptoRandom, SeededRandom } from '../../shared/lib/random.ts';
import { databaseName, openIdbStore, STORE_TABLES } from './idb-store.ts';
import { keyRecord, type StoredKeys } from './identity-keys.ts';
import { keyStats, listIdentities, saveToDirectory } from './identities.ts';
import { identitiesInUse, lockIdentity, memoryIdentity, openTabIdentity, readTabRecord, rememberIdentity, type TabIdentity } from './tab-identity.ts';
import { MemoryStorage } from './web-storage.ts';

/** Enough of navigator.locks for lockIdentity: exclusive locks, ifAvailable, query. */
function fakeLocks() {
  const held = new Set<string>();
  return {
    async request(name: string, _options: unknown, callback: (lock: { name: string } | null) => Promise<void> | undefined) {
      if (held.has(name)) return callback(null);
      held.add(name);
      try {
        await callback({ name });
      } finally {
        held.delete(name);
      }
    },
    async query() {
      return { held: [...held].map((name) => ({ name })) };
    },
  };
}

const opened: TabIdentity[] = [];
async function open(session: Storage): Promise<string> {
  const tab = await openTabIdentity(session);
  opened.push(tab);
  return idToHex(tab.identity.nodeId);
}

beforeEach(() => {
  vi.stubGlobal('navigator', { locks: fakeLocks() });
});
afterEach(async () => {
  for (const tab of opened.splice(0)) await tab.store.close();
  vi.unstubAllGlobals();
});

describe('the identity a tab runs as', () => {
  it('stays the same across a reload, held by this tab alone', async () => {
    const session = new MemoryStorage();
    const first = await open(session);
    expect(await identitiesInUse()).toContain(first);
    expect(readTabRecord(session).saved).toBe(first);
    // Same tab, same lock holder: the stand-in forgets the lock as a reload would.
    vi.stubGlobal('navigator', { locks: fakeLocks() });
    expect(await open(session)).toBe(first);
  });

  it('is another one when the remembered identity is open in another tab', async () => {
    const session = new MemoryStorage();
    const first = await open(session);
    const other = new MemoryStorage();
    rememberIdentity(other, first);
    const second = await open(other);
    expect(second).not.toBe(first);
    expect(readTabRecord(other).saved).toBe(second);
  });

  it('reads a record that does not parse as nothing remembered', () => {
    const session = new MemoryStorage();
    for (const bad of ['{', '"abc"', JSON.stringify({ saved: 'not-hex', memoryKeys: 7 })]) {
      session.setItem('peerchat.tab-identity', bad);
      expect(readTabRecord(session), bad).toEqual({ saved: null, memoryKeys: null });
    }
  });
});

describe('a tab reloaded across the move to one sessionStorage key', () => {
  it('keeps the saved identity its old key named, and the old key goes', async () => {
    // Two saved identities: a fresh tab would pick the anonymous one, so only the old key
    // can bring the tab back to the named one.
    const named = await open(new MemoryStorage());
    await saveToDirectory({ nodeId: named, name: 'alice', createdAt: Date.now() });
    vi.stubGlobal('navigator', { locks: fakeLocks() });
    const anonymous = await open(new MemoryStorage());
    vi.stubGlobal('navigator', { locks: fakeLocks() });
    const upgraded = new MemoryStorage();
    upgraded.setItem('peerchat.identity', named);
    expect(await open(upgraded)).toBe(named);
    expect(anonymous).not.toBe(named);
    expect(upgraded.getItem('peerchat.identity')).toBeNull();
    expect(readTabRecord(upgraded).saved).toBe(named);
  });

  it('keeps the node id of a tab that ran on memory, and the old key goes', async () => {
    const identity = await createIdentity(cryptoRandom);
    const upgraded = new MemoryStorage();
    upgraded.setItem('peerchat.node-identity', JSON.stringify(await exportIdentity(identity)));
    expect(idToHex((await memoryIdentity(upgraded)).nodeId)).toBe(idToHex(identity.nodeId));
    expect(upgraded.getItem('peerchat.node-identity')).toBeNull();
    expect(idToHex((await memoryIdentity(upgraded)).nodeId)).toBe(idToHex(identity.nodeId));
  });

  it('leaves the old keys in place when the browser refuses the new one', () => {
    const full = new MemoryStorage();
    full.setItem('peerchat.identity', 'ab'.repeat(20));
    full.setItem = () => {
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    };
    expect(readTabRecord(full).saved).toBe('ab'.repeat(20));
    expect(full.getItem('peerchat.identity')).toBe('ab'.repeat(20));
  });
});

describe('a tab whose browser refuses IndexedDB', () => {
  it('keeps its memory keys when it signs out, so the node id survives the reload', async () => {
    const session = new MemoryStorage();
    const first = idToHex((await memoryIdentity(session)).nodeId);
    rememberIdentity(session, null);
    expect(idToHex((await memoryIdentity(session)).nodeId)).toBe(first);
  });
});

describe('the keys of a new tab identity', () => {
  /** Every value of every table in the identity's database, as hex where it is bytes. */
  async function storedText(nodeId: string): Promise<string> {
    const store = await openIdbStore(databaseName(nodeId));
    const parts: string[] = [];
    const visit = (v: unknown): void => {
      if (typeof v === 'string') parts.push(v);
      else if (ArrayBuffer.isView(v)) parts.push(idToHex(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)));
      else if (typeof v === 'object' && v !== null && !(v instanceof CryptoKey)) Object.values(v).forEach(visit);
    };
    for (const table of STORE_TABLES) for (const [, value] of await store.entries(table)) visit(value);
    await store.close();
    return parts.join(' ');
  }

  it('are stored as non-extractable CryptoKeys; the seeds it drew are stored nowhere', async () => {
    const drawn: Uint8Array[] = [];
    const bytes = cryptoRandom.bytes;
    vi.spyOn(cryptoRandom, 'bytes').mockImplementation((n) => {
      const out = bytes(n);
      drawn.push(out);
      return out;
    });
    // Every saved identity is open in another tab, so this one makes a new one.
    for (const saved of await listIdentities()) await lockIdentity(saved.nodeId);
    const tab = await openTabIdentity(new MemoryStorage());
    opened.push(tab);
    expect([tab.identity.signingPrivate.extractable, tab.identity.agreementPrivate.extractable]).toEqual([false, false]);
    const stored = await tab.store.get<StoredKeys>('meta', 'identity');
    expect(stored?.v).toBe(2);
    expect(stored?.signingPrivate.extractable).toBe(false);
    const seeds = drawn.filter((b) => b.length === 32).map(idToHex);
    expect(seeds).toHaveLength(2);
    const text = await storedText(idToHex(tab.identity.nodeId));
    for (const seed of seeds) expect(text).not.toContain(seed);
  });

  it('fall back to seeds, with a warning, where the browser cannot store a CryptoKey, and keep the node id', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    for (const saved of await listIdentities()) await lockIdentity(saved.nodeId);
    const clone = globalThis.structuredClone;
    const hasKey = (v: unknown): boolean =>
      v instanceof CryptoKey || (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) && Object.values(v).some(hasKey));
    vi.stubGlobal('structuredClone', (value: unknown, options?: StructuredSerializeOptions) => {
      if (hasKey(value)) throw new DOMException('CryptoKey could not be cloned.', 'DataCloneError');
      return clone(value, options);
    });
    const session = new MemoryStorage();
    const first = await open(session);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('cannot store a CryptoKey'));
    expect((await opened[0]!.store.get<{ v: number }>('meta', 'identity'))?.v).toBe(1);
    vi.stubGlobal('navigator', { locks: fakeLocks() });
    expect(await open(session)).toBe(first);
    warn.mockRestore();
  });
});

/**
 * What a browser holds for an identity saved before node ids cost work: its database named by
 * the old id (SHA-256 of the key), its keys without an id nonce, a contact, and its directory
 * entry under the old id.
 */
async function savedBeforeIdsCostWork(seed: number, name: string | null): Promise<{ identity: Identity; oldId: string }> {
  const identity = (await importIdentity(createSeeds(new SeededRandom(seed)), { extractable: false }))!;
  const oldId = idToHex(legacyNodeId(identity.signingPublic));
  const store = await openIdbStore(databaseName(oldId));
  const { n: _none, ...keys } = keyRecord(identity);
  await store.put('meta', 'identity', keys);
  await store.put('contacts', 'bob', { name: 'bob', nodeId: 'b'.repeat(40) });
  await store.close();
  await saveToDirectory({ nodeId: oldId, name, createdAt: 1 });
  return { identity, oldId };
}

describe('an identity saved before node ids cost work', () => {
  it('migrates with its key and name intact: a new id from the same key, the same database, the entry moved', async () => {
    const { identity, oldId } = await savedBeforeIdsCostWork(7, 'alice');
    const session = new MemoryStorage();
    rememberIdentity(session, oldId);
    const savedBefore = keyStats.get('keys-id-nonce-saved');

    const tab = await openTabIdentity(session);
    opened.push(tab);

    const newId = idToHex(tab.identity.nodeId);
    expect(newId).not.toBe(oldId);
    expect(tab.identity.signingPublic).toEqual(identity.signingPublic);
    expect(tab.identity.agreementPublic).toEqual(identity.agreementPublic);
    expect(await createIdentityLikeId(tab.identity)).toBe(newId);
    // The same database, with what it held; the keys now carry their id nonce.
    expect(await tab.store.get('contacts', 'bob')).toEqual({ name: 'bob', nodeId: 'b'.repeat(40) });
    expect((await tab.store.get<StoredKeys>('meta', 'identity'))?.n).toBe(tab.identity.idNonce);
    expect(keyStats.get('keys-id-nonce-saved')).toBe(savedBefore + 1);
    // The directory lists it once, under the new id, with its name and its database's name.
    const entries = (await listIdentities()).filter((e) => e.nodeId === newId || e.nodeId === oldId);
    expect(entries).toEqual([{ nodeId: newId, name: 'alice', createdAt: 1, db: oldId }]);
    expect(readTabRecord(session).saved).toBe(newId);
    expect(await identitiesInUse()).toContain(newId);

    // A reload opens it as it is now: the same id, no second search, the name kept on a save.
    await tab.store.close();
    opened.pop();
    vi.stubGlobal('navigator', { locks: fakeLocks() });
    await saveToDirectory({ nodeId: newId, name: 'alice', createdAt: 2 });
    expect(await open(session)).toBe(newId);
    expect(keyStats.get('keys-id-nonce-saved')).toBe(savedBefore + 1);
    expect((await listIdentities()).find((e) => e.nodeId === newId)?.db).toBe(oldId);
  });

  it('is found by a fresh tab as well, and by a tab that still remembers the old id after another moved it', async () => {
    const { identity, oldId } = await savedBeforeIdsCostWork(8, null);
    const fresh = await open(new MemoryStorage());
    expect(fresh).toBe(await createIdentityLikeId(identity));
    for (const tab of opened.splice(0)) await tab.store.close();
    vi.stubGlobal('navigator', { locks: fakeLocks() });
    const stale = new MemoryStorage();
    rememberIdentity(stale, oldId);
    expect(await open(stale)).toBe(fresh);
  });
});

/** The node id an identity's key makes with the nonce found for it (as the network checks it). */
async function createIdentityLikeId(identity: Identity): Promise<string> {
  return idToHex((await idWithWork(identity.signingPublic, undefined)).nodeId);
}

