/**
 * Export and import of an identity on fake-indexeddb: the round trip, and every way a file can
 * be wrong (wrong passphrase, changed header, a file asking for unbounded work, damaged or
 * hostile contents), none of which may write anything.
 */
import 'fake-indexeddb/auto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSeeds, importIdentity, type Identity, type StoredIdentity } from '../../shared/lib/crypto.ts';
import { toBase64Url } from '../../shared/lib/encoding.ts';
import { idToHex } from '../../shared/lib/id.ts';
import { cryptoRandom, SeededRandom } from '../../shared/lib/random.ts';
import { readUserData } from '../../shared/chat/transfer.ts';
import { databaseName, openIdbStore, type IdbStore } from './idb-store.ts';
import { keyRecord } from './identity-keys.ts';
import { KDF_ITERATIONS, sealIdentityFile } from './identity-file.ts';
import { deleteIdentity, exportIdentityFile, importIdentityFile } from './identity-transfer.ts';
import { listIdentities, loadKeys, saveKeys } from './identities.ts';

const PASS = 'correct horse battery staple';
const KEY = toBase64Url(new Uint8Array(32).fill(7));

let dbCount = 0;
const open: IdbStore[] = [];
async function sourceStore(): Promise<IdbStore> {
  const store = await openIdbStore(`transfer-source-${dbCount++}`);
  open.push(store);
  return store;
}

beforeEach(() => {
  vi.spyOn(console, 'warn').mockImplementation(() => {});
});
afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
  for (const entry of await listIdentities()) await deleteIdentity(entry);
  vi.restoreAllMocks();
});

/** A joined user "alice" with one contact and one message, kept as a tab keeps it. */
async function alice(seed: number): Promise<{ store: IdbStore; identity: Identity; seeds: StoredIdentity }> {
  const store = await sourceStore();
  const seeds = createSeeds(new SeededRandom(seed));
  const identity = (await importIdentity(seeds, { extractable: false }))!;
  await saveKeys(store, identity, seeds, [
    { type: 'put', table: 'meta', key: 'profile', value: { name: 'alice', registeredAt: 10, seq: 4 } },
    { type: 'put', table: 'contacts', key: 'bob', value: { name: 'bob', nodeId: 'ab'.repeat(20), signingKey: KEY, agreementKey: KEY, addedAt: 11, trust: 'verified' } },
    { type: 'put', table: 'conversations', key: 'bob', value: { peer: 'bob', unread: 0, lastAt: 12 } },
    { type: 'put', table: 'messages', key: 'c'.repeat(32), value: { id: 'c'.repeat(32), peer: 'bob', out: true, text: 'see you there', sentAt: 12, status: 'delivered' } },
  ]);
  return { store, identity, seeds };
}

function asFile(text: string): { size: number; text(): Promise<string> } {
  return { size: new TextEncoder().encode(text).length, text: async () => text };
}

async function databases(): Promise<string[]> {
  return (await indexedDB.databases()).map((d) => d.name!).filter((n) => n.startsWith('peerchat-') && n !== 'peerchat-directory');
}

describe('an identity exported and imported', () => {
  it('comes back as the same node and user: keys, profile, contacts, messages; the file keeps no seed or text in the clear', async () => {
    const { store, identity, seeds } = await alice(1);
    const file = await exportIdentityFile(store, identity, PASS, cryptoRandom);
    expect(file.fileName).toBe('peerchat-alice.identity.json');
    for (const secret of [seeds.signingSeed, seeds.agreementSeed, 'see you there', KEY]) expect(file.text).not.toContain(secret);
    expect(JSON.parse(file.text).kdf.iterations).toBeGreaterThanOrEqual(600_000);

    const imported = await importIdentityFile(asFile(file.text), PASS);

    const nodeId = idToHex(identity.nodeId);
    expect(imported).toEqual({ nodeId, name: 'alice', dropped: {} });
    expect(await listIdentities()).toEqual([expect.objectContaining({ nodeId, name: 'alice' })]);
    const copy = await openIdbStore(databaseName(nodeId));
    open.push(copy);
    const keys = (await loadKeys(copy))!;
    expect(idToHex(keys.nodeId)).toBe(nodeId);
    expect(keys.signingPrivate.extractable).toBe(false);
    expect(await readUserData(copy)).toEqual(await readUserData(store));
    // The copy can move on again: it was given its own sealed seeds.
    await expect(exportIdentityFile(copy, keys, 'another passphrase', cryptoRandom)).resolves.toMatchObject({ fileName: 'peerchat-alice.identity.json' });
  });

  it('is refused with a wrong passphrase, in words that say so, and nothing is written', async () => {
    const { store, identity } = await alice(2);
    const file = await exportIdentityFile(store, identity, PASS, cryptoRandom);
    const before = await databases();
    await expect(importIdentityFile(asFile(file.text), 'correct horse battery stapler')).rejects.toThrow(/passphrase/);
    expect(await listIdentities()).toEqual([]);
    expect(await databases()).toEqual(before);
  });

  it('fails alike when its header was changed: fewer iterations or another salt do not open it', async () => {
    const { store, identity } = await alice(3);
    const file = JSON.parse((await exportIdentityFile(store, identity, PASS, cryptoRandom)).text);
    const changedIterations = { ...file, kdf: { ...file.kdf, iterations: file.kdf.iterations + 1 } };
    const changedSalt = { ...file, kdf: { ...file.kdf, salt: toBase64Url(new Uint8Array(16)) } };
    for (const changed of [changedIterations, changedSalt]) {
      await expect(importIdentityFile(asFile(JSON.stringify(changed)), PASS)).rejects.toThrow(/Wrong passphrase, or the file was changed/);
    }
  });

  it('asking for unbounded work or too little is refused before any key is derived', async () => {
    const { store, identity } = await alice(4);
    const file = JSON.parse((await exportIdentityFile(store, identity, PASS, cryptoRandom)).text);
    const derive = vi.spyOn(crypto.subtle, 'deriveKey');
    for (const iterations of [1_000_000_000, 1_000, -1, 600_000.5]) {
      await expect(importIdentityFile(asFile(JSON.stringify({ ...file, kdf: { ...file.kdf, iterations } })), PASS)).rejects.toThrow(/out of range/);
    }
    expect(derive).not.toHaveBeenCalled();
  });

  it('refuses what is not an identity file, a newer format, and a file too large to read', async () => {
    await expect(importIdentityFile(asFile('{"hello":'), PASS)).rejects.toThrow(/not a Peerchat identity file/);
    await expect(importIdentityFile(asFile('{"peerchat":"identity","version":2,"data":""}'), PASS)).rejects.toThrow(/newer version/);
    const read = vi.fn(async () => '');
    await expect(importIdentityFile({ size: 65 * 1024 * 1024, text: read }, PASS)).rejects.toThrow(/larger than/);
    expect(read).not.toHaveBeenCalled();
  });

  it('refuses contents that open but are not an identity, and drops damaged entries of one that is', async () => {
    const sealed = (contents: object) => sealIdentityFile(contents as never, PASS, cryptoRandom, KDF_ITERATIONS);
    const seeds = createSeeds(new SeededRandom(5));
    const profile = { name: 'mallory', registeredAt: 1, seq: 1 };
    await expect(importIdentityFile(asFile(await sealed({ keys: { v: 1, signingSeed: 'short', agreementSeed: 'x' }, user: { profile, tables: {} }, exportedAt: 1 })), PASS)).rejects.toThrow(/damaged/);
    await expect(importIdentityFile(asFile(await sealed({ keys: seeds, user: { profile: { name: '' }, tables: {} }, exportedAt: 1 })), PASS)).rejects.toThrow(/damaged/);
    expect(await listIdentities()).toEqual([]);

    const tables = { contacts: [['bob', { name: 'eve' }]], messages: [['x', 'not a message']] };
    const imported = await importIdentityFile(asFile(await sealed({ keys: seeds, user: { profile, tables }, exportedAt: 1 })), PASS);
    expect(imported.dropped).toEqual({ contacts: 1, messages: 1 });
    expect(imported.name).toBe('mallory');
  });

  it('is refused when the identity is already in this browser', async () => {
    const { store, identity } = await alice(6);
    const file = await exportIdentityFile(store, identity, PASS, cryptoRandom);
    await importIdentityFile(asFile(file.text), PASS);
    await expect(importIdentityFile(asFile(file.text), PASS)).rejects.toThrow(/alice is already in this browser/);
  });
});

describe('an export that cannot be made', () => {
  it('says so for keys stored before exports existed (no sealed copy), and for a short passphrase', async () => {
    const store = await sourceStore();
    const seeds = createSeeds(new SeededRandom(7));
    const identity = (await importIdentity(seeds, { extractable: false }))!;
    await store.put('meta', 'identity', keyRecord(identity));
    await store.put('meta', 'profile', { name: 'olduser', registeredAt: 1, seq: 1 });
    await expect(exportIdentityFile(store, identity, PASS, cryptoRandom)).rejects.toThrow(/made before exports existed/);
    await expect(exportIdentityFile(store, identity, 'short', cryptoRandom)).rejects.toThrow(/at least 8 characters/);
  });

  it('uses a sealed copy only if it makes these very keys', async () => {
    const { store, identity } = await alice(8);
    const other = await alice(9);
    await store.put('meta', 'backup', await other.store.get('meta', 'backup'));
    await expect(exportIdentityFile(store, identity, PASS, cryptoRandom)).rejects.toThrow(/cannot leave this browser/);
  });
});

describe('deleting an identity', () => {
  it('removes its database and its directory entry', async () => {
    const { store, identity } = await alice(10);
    const file = await exportIdentityFile(store, identity, PASS, cryptoRandom);
    const { nodeId } = await importIdentityFile(asFile(file.text), PASS);
    expect(await databases()).toContain(databaseName(nodeId));
    await deleteIdentity({ nodeId });
    expect(await databases()).not.toContain(databaseName(nodeId));
    expect(await listIdentities()).toEqual([]);
  });
});
