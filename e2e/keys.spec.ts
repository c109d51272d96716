/**
 * A tab's identity keys in Chromium (ARCHITECTURE.md, "Persistence"): non-extractable CryptoKeys
 * in IndexedDB, so script in the page can use them but never read them out; nothing the tab
 * stores holds a private seed; a reload is the same node and still chats; seeds stored by the
 * previous version are moved to CryptoKeys on load.
 */
import type { BrowserContext, Page } from '@playwright/test';
import { createSeeds, importIdentity, type StoredIdentity } from '../shared/lib/crypto.ts';
import { fromBase64Url } from '../shared/lib/encoding.ts';
import { idToHex, legacyNodeId } from '../shared/lib/id.ts';
import { SeededRandom } from '../shared/lib/random.ts';
import { STORE_TABLES } from '../web/storage/idb-store.ts';
import { expect, expectPeers, nodeIdOf, test } from './fixtures.ts';
import { acceptRequest, expectStatus, join, message, openConversation, send, startChat } from './user.ts';

interface Imported {
  algorithm: string;
  extractable: boolean;
  /** The last 32 bytes of the PKCS8 key: the private seed, hex. */
  seed: string;
}

interface StoredKey {
  path: string;
  type: string;
  algorithm: string;
  extractable: boolean;
  /** Whether any of exportKey('pkcs8' | 'jwk' | 'raw') gave it out. */
  exported: boolean;
}

interface StorageDump {
  /** Every string, and every byte array as hex, in IndexedDB, localStorage and sessionStorage. */
  texts: string[];
  /** Every field name in IndexedDB values. */
  fields: string[];
  keys: StoredKey[];
}

/** Records every PKCS8 import the page makes: the private seeds, as the app imports them. */
async function recordImports(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const seen: Imported[] = [];
    (window as unknown as { imported: Imported[] }).imported = seen;
    const original = SubtleCrypto.prototype.importKey;
    SubtleCrypto.prototype.importKey = function (this: SubtleCrypto, ...args: Parameters<SubtleCrypto['importKey']>) {
      const [format, data, algorithm, extractable] = args;
      if (format === 'pkcs8') {
        const view = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data as ArrayBuffer);
        const seed = Array.from(view.slice(-32), (b) => b.toString(16).padStart(2, '0')).join('');
        seen.push({ algorithm: typeof algorithm === 'string' ? algorithm : algorithm.name, extractable, seed });
      }
      return original.apply(this, args) as ReturnType<SubtleCrypto['importKey']>;
    } as SubtleCrypto['importKey'];
  });
}

function imports(page: Page): Promise<Imported[]> {
  return page.evaluate(() => (window as unknown as { imported?: Imported[] }).imported ?? []);
}

/** Everything this origin stores, read in the page the way any script there could. */
function dumpStorage(page: Page): Promise<StorageDump> {
  return page.evaluate(async () => {
    const dump: StorageDump = { texts: [], fields: [], keys: [] };
    const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    const visit = async (v: unknown, path: string): Promise<void> => {
      if (typeof v === 'string') dump.texts.push(v);
      else if (v instanceof CryptoKey) {
        let exported = false;
        for (const format of ['pkcs8', 'jwk', 'raw'] as const) {
          await crypto.subtle.exportKey(format, v).then(() => (exported = true), () => {});
        }
        dump.keys.push({ path, type: v.type, algorithm: v.algorithm.name, extractable: v.extractable, exported });
      } else if (ArrayBuffer.isView(v)) dump.texts.push(hex(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)));
      else if (v instanceof ArrayBuffer) dump.texts.push(hex(new Uint8Array(v)));
      else if (typeof v === 'object' && v !== null) {
        for (const [k, inner] of Object.entries(v)) {
          dump.fields.push(k);
          await visit(inner, `${path}.${k}`);
        }
      }
    };
    const request = <T>(r: IDBRequest<T>) => new Promise<T>((resolve, reject) => {
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    for (const { name } of await indexedDB.databases()) {
      if (!name) continue;
      const db = await request(indexedDB.open(name));
      for (const table of Array.from(db.objectStoreNames)) {
        const store = db.transaction(table, 'readonly').objectStore(table);
        const [keys, values] = await Promise.all([request(store.getAllKeys()), request(store.getAll())]);
        for (let i = 0; i < keys.length; i++) {
          await visit(keys[i], `${name}/${table}`);
          await visit(values[i], `${name}/${table}/${String(keys[i])}`);
        }
      }
      db.close();
    }
    for (const storage of [localStorage, sessionStorage]) {
      for (let i = 0; i < storage.length; i++) dump.texts.push(storage.key(i)!, storage.getItem(storage.key(i)!) ?? '');
    }
    return dump;
  });
}

/** The identity's keys are non-extractable CryptoKeys of the right algorithms, and no seed is stored. */
function expectKeysOnly(dump: StorageDump, nodeId: string, seedsHex: string[]): void {
  const identityKeys = dump.keys.filter((k) => k.path.startsWith(`peerchat-${nodeId}/meta/identity.`));
  expect(identityKeys.map((k) => [k.path.split('.').pop(), k.algorithm, k.type]).sort()).toEqual([
    ['agreementPrivate', 'X25519', 'private'],
    ['signingPrivate', 'Ed25519', 'private'],
  ]);
  const privates = dump.keys.filter((k) => k.type === 'private');
  expect(privates.length).toBeGreaterThanOrEqual(2);
  for (const key of privates) expect(key, key.path).toMatchObject({ extractable: false, exported: false });
  expect(dump.fields.filter((f) => /seed/i.test(f))).toEqual([]);
  expect(seedsHex.length).toBeGreaterThanOrEqual(2);
  for (const seed of seedsHex) {
    const forms = [seed, Buffer.from(seed, 'hex').toString('base64url'), Buffer.from(seed, 'hex').toString('base64')];
    for (const form of forms) expect(dump.texts.filter((t) => t.includes(form)), `seed ${form} stored`).toEqual([]);
  }
}

test('a tab keeps its keys as non-extractable CryptoKeys, stores no seed, and after a reload is the same node and chats', async ({ tabs }) => {
  const alice = await tabs.open('', recordImports);
  const bob = await tabs.open();
  await expectPeers(alice.page, 1);
  await join(alice.page, 'alice');
  await join(bob.page, 'bob');
  await startChat(alice.page, 'bob');
  await send(alice.page, 'before the reload');
  await acceptRequest(bob.page, 'alice');
  await expectStatus(alice.page, 'before the reload', 'delivered');

  // The identity's two seeds, as the app imported them (non-extractable), and every other
  // private key the page imported (the ephemeral keys of sealing): none may be stored.
  const imported = await imports(alice.page);
  const identityImports = imported.filter((i) => !i.extractable);
  expect(identityImports.map((i) => i.algorithm).sort()).toEqual(['Ed25519', 'X25519']);
  expectKeysOnly(await dumpStorage(alice.page), alice.nodeId, [...new Set(imported.map((i) => i.seed))]);
  // Script in the page can use the key (it signs), but not read it.
  const fromPage = await alice.page.evaluate(async (nodeId) => {
    const request = <T>(r: IDBRequest<T>) => new Promise<T>((resolve, reject) => {
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const db = await request(indexedDB.open(`peerchat-${nodeId}`));
    const stored = (await request(db.transaction('meta').objectStore('meta').get('identity'))) as { signingPrivate: CryptoKey };
    db.close();
    const exported = await crypto.subtle.exportKey('pkcs8', stored.signingPrivate).then(() => 'exported', (err: Error) => err.name);
    const signature = await crypto.subtle.sign('Ed25519', stored.signingPrivate, new Uint8Array(8));
    return { exported, signatureBytes: signature.byteLength };
  }, alice.nodeId);
  expect(fromPage).toEqual({ exported: 'InvalidAccessError', signatureBytes: 64 });

  await alice.page.reload();
  expect(await nodeIdOf(alice.page)).toBe(alice.nodeId);
  // Loaded from the stored CryptoKeys: no seed was imported, so none was read from anywhere.
  expect((await imports(alice.page)).filter((i) => !i.extractable)).toEqual([]);
  await openConversation(alice.page, 'bob');
  await send(alice.page, 'after the reload');
  await expectStatus(alice.page, 'after the reload', 'delivered');
  await openConversation(bob.page, 'alice');
  await expect(message(bob.page, 'after the reload')).toHaveCount(1);
  await send(bob.page, 'reply after the reload');
  await expectStatus(bob.page, 'reply after the reload', 'delivered');
  await expect(message(alice.page, 'reply after the reload')).toHaveCount(1);
});

/** Writes an identity as the previous version stored it: a directory entry and its seeds. */
async function plantSeeds(page: Page, nodeId: string, seeds: StoredIdentity): Promise<void> {
  await page.evaluate(
    async ({ nodeId, seeds, tables }) => {
      const open = (name: string, create: string[]) => new Promise<IDBDatabase>((resolve, reject) => {
        const r = indexedDB.open(name, 1);
        r.onupgradeneeded = () => create.forEach((t) => r.result.createObjectStore(t));
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const put = (db: IDBDatabase, table: string, key: string, value: unknown) => new Promise<void>((resolve, reject) => {
        const tx = db.transaction(table, 'readwrite');
        tx.objectStore(table).put(value, key);
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
      });
      const directory = await open('peerchat-directory', ['identities']);
      await put(directory, 'identities', nodeId, { nodeId, name: null, createdAt: Date.now() });
      directory.close();
      const own = await open(`peerchat-${nodeId}`, tables);
      await put(own, 'meta', 'identity', seeds);
      own.close();
    },
    { nodeId, seeds, tables: [...STORE_TABLES] },
  );
}

test('seeds stored by an earlier version, under the id from before ids cost work, move to non-extractable keys on load: same key, its new node id, seeds gone, it chats', async ({ tabs, server }) => {
  const seeds = createSeeds(new SeededRandom(14));
  const identity = (await importIdentity(seeds))!;
  // The new id: the key with the nonce the tab finds (the search is deterministic).
  const nodeId = idToHex(identity.nodeId);
  const oldId = idToHex(legacyNodeId(identity.signingPublic));
  const warnings: string[] = [];
  const carol = await tabs.open('', async (context) => {
    // Any page of the origin: this one is the server's "Not found", which runs no app.
    const planter = await context.newPage();
    await planter.goto(`${server.url}plant-old-identity`);
    await plantSeeds(planter, oldId, seeds);
    await planter.close();
    context.on('console', (msg) => {
      if (msg.type() === 'warning' && msg.text().startsWith('Peerchat:')) warnings.push(msg.text());
    });
  });
  expect(carol.nodeId).toBe(nodeId);
  const seedsHex = [seeds.signingSeed, seeds.agreementSeed].map((s) => idToHex(fromBase64Url(s)!));
  // The keys stay in the database of the old id, which keeps everything it held.
  expectKeysOnly(await dumpStorage(carol.page), oldId, seedsHex);
  expect(warnings).toEqual([]);

  const bob = await tabs.open();
  await expectPeers(carol.page, 1);
  await join(carol.page, 'carol');
  await join(bob.page, 'bob');
  await startChat(carol.page, 'bob');
  await send(carol.page, 'from migrated keys');
  await acceptRequest(bob.page, 'carol');
  await expectStatus(carol.page, 'from migrated keys', 'delivered');
  await send(bob.page, 'sealed to migrated keys');
  await expect(message(carol.page, 'sealed to migrated keys')).toHaveCount(1);
  await carol.page.reload();
  expect(await nodeIdOf(carol.page)).toBe(nodeId);
});
