/**
 * The contract every Store keeps, as one vitest suite (STYLE habit 6): run it against
 * MemoryStore here and against the IndexedDB store in web/ with fake-indexeddb or a browser.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Store, StoreOp } from './store.ts';

/** Returns a fresh, empty store each time; the suite closes it after each test. */
export type MakeStore = () => Store | Promise<Store>;

export function storeContract(name: string, makeStore: MakeStore): void {
  describe(`Store contract: ${name}`, () => {
    const open: Store[] = [];
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close();
    });
    async function fresh(): Promise<Store> {
      const s = await makeStore();
      open.push(s);
      return s;
    }

    it('gets what was put, undefined for what was not, and nothing after a delete', async () => {
      const s = await fresh();
      expect(await s.get('meta', 'missing')).toBeUndefined();
      await s.put('meta', 'profile', { name: 'alice', joined: 1_700_000_000_000 });
      expect(await s.get('meta', 'profile')).toEqual({ name: 'alice', joined: 1_700_000_000_000 });
      await s.put('meta', 'profile', { name: 'alice', joined: 5 });
      expect(await s.get('meta', 'profile')).toEqual({ name: 'alice', joined: 5 });
      await s.delete('meta', 'profile');
      expect(await s.get('meta', 'profile')).toBeUndefined();
      await expect(s.delete('meta', 'never-there')).resolves.toBeUndefined();
    });

    it('keeps plain data of every kind the engine stores, bytes included', async () => {
      const s = await fresh();
      const value = {
        text: 'héllo ✓',
        n: 3.5,
        big: Number.MAX_SAFE_INTEGER,
        yes: true,
        none: null,
        list: [1, 'two', { three: 3 }],
        bytes: Uint8Array.of(0, 1, 254, 255),
      };
      await s.put('routing', 'snapshot', value);
      const back = await s.get<typeof value>('routing', 'snapshot');
      expect(back).toEqual(value);
      expect(back!.bytes).toBeInstanceOf(Uint8Array);
      await s.put('seen', 'zero', 0);
      await s.put('seen', 'empty', '');
      expect(await s.get('seen', 'zero')).toBe(0);
      expect(await s.get('seen', 'empty')).toBe('');
    });

    it('lists entries in key order', async () => {
      const s = await fresh();
      const keys = ['b', 'a', 'B', '10', '9', 'ab', 'a b', 'é', 'z', ''];
      for (const k of keys) await s.put('messages', k, `v:${k}`);
      const entries = await s.entries<string>('messages');
      const sorted = [...keys].sort();
      expect(entries.map(([k]) => k)).toEqual(sorted);
      expect(entries.map(([, v]) => v)).toEqual(sorted.map((k) => `v:${k}`));
      expect(await s.entries('outbox')).toEqual([]);
    });

    it('hands out copies: changing a value after put or after get leaves the store alone', async () => {
      const s = await fresh();
      const value = { list: [1, 2], nested: { x: 1 }, bytes: Uint8Array.of(7) };
      await s.put('contacts', 'bob', value);
      value.list.push(3);
      value.nested.x = 99;
      value.bytes[0] = 0;
      const got = await s.get<typeof value>('contacts', 'bob');
      expect(got).toEqual({ list: [1, 2], nested: { x: 1 }, bytes: Uint8Array.of(7) });
      got!.list.push(4);
      got!.nested.x = 42;
      const [[, listed]] = (await s.entries<typeof value>('contacts')) as [[string, typeof value]];
      listed.nested.x = 43;
      expect(await s.get('contacts', 'bob')).toEqual({ list: [1, 2], nested: { x: 1 }, bytes: Uint8Array.of(7) });
    });

    it('applies a batch of puts and deletes across tables, in order', async () => {
      const s = await fresh();
      await s.put('outbox', 'm1', { to: 'bob' });
      await s.put('tombstones', 'old', 1);
      const ops: StoreOp[] = [
        { type: 'put', table: 'messages', key: 'm1', value: { status: 'sent' } },
        { type: 'delete', table: 'outbox', key: 'm1' },
        { type: 'put', table: 'seen', key: 'x', value: 1 },
        { type: 'delete', table: 'seen', key: 'x' },
        { type: 'put', table: 'tombstones', key: 'old', value: 2 },
        { type: 'put', table: 'tombstones', key: 'old', value: 3 },
      ];
      await s.batch(ops);
      expect(await s.get('messages', 'm1')).toEqual({ status: 'sent' });
      expect(await s.get('outbox', 'm1')).toBeUndefined();
      expect(await s.get('seen', 'x')).toBeUndefined();
      expect(await s.get('tombstones', 'old')).toBe(3);
      await expect(s.batch([])).resolves.toBeUndefined();
    });

    it('writes nothing of a batch that holds a value it cannot clone, and rejects it', async () => {
      const s = await fresh();
      await s.put('outbox', 'm1', { to: 'bob' });
      const ops: StoreOp[] = [
        { type: 'put', table: 'messages', key: 'm1', value: { status: 'sent' } },
        { type: 'delete', table: 'outbox', key: 'm1' },
        { type: 'put', table: 'mailbox', key: 'bad', value: { callback: () => 1 } },
        { type: 'put', table: 'seen', key: 'after', value: 1 },
      ];
      await expect(s.batch(ops)).rejects.toBeDefined();
      expect(await s.get('messages', 'm1')).toBeUndefined();
      expect(await s.get('outbox', 'm1')).toEqual({ to: 'bob' });
      expect(await s.get('mailbox', 'bad')).toBeUndefined();
      expect(await s.get('seen', 'after')).toBeUndefined();
      // The store still works afterwards.
      await s.put('seen', 'after', 2);
      expect(await s.get('seen', 'after')).toBe(2);
    });

    it('rejects a put of a value it cannot clone and keeps the old value', async () => {
      const s = await fresh();
      await s.put('records', 'alice', { seq: 1 });
      await expect(s.put('records', 'alice', { seq: 2, f: () => 0 })).rejects.toBeDefined();
      expect(await s.get('records', 'alice')).toEqual({ seq: 1 });
    });

    it('keeps tables independent: one key in two tables holds two values', async () => {
      const s = await fresh();
      await s.put('records', 'k', 'record');
      await s.put('mailbox', 'k', 'mailbox');
      expect(await s.get('records', 'k')).toBe('record');
      expect(await s.get('mailbox', 'k')).toBe('mailbox');
      await s.delete('records', 'k');
      expect(await s.get('records', 'k')).toBeUndefined();
      expect(await s.get('mailbox', 'k')).toBe('mailbox');
      expect(await s.entries('records')).toEqual([]);
      expect(await s.entries('mailbox')).toEqual([['k', 'mailbox']]);
    });

    it('starts empty each time the factory is called', async () => {
      const first = await fresh();
      await first.put('meta', 'x', 1);
      const second = await fresh();
      expect(await second.get('meta', 'x')).toBeUndefined();
    });
  });
}
