import { describe, expect, it } from 'vitest';
import { toBase64Url } from '../lib/encoding.ts';
import { MemoryStore } from '../lib/store.ts';
import { parseUserData, readUserData, TRANSFER_TABLES, userDataOps, type UserData } from './transfer.ts';

const KEY = toBase64Url(new Uint8Array(32).fill(1));
const OTHER_KEY = toBase64Url(new Uint8Array(32).fill(2));
const NODE = 'ab'.repeat(20);
const ID = 'c'.repeat(32);

const profile = { name: 'alice', registeredAt: 1_000, seq: 3 };
const contact = { name: 'bob', nodeId: NODE, signingKey: KEY, agreementKey: OTHER_KEY, addedAt: 2_000, trust: 'verified' };
const message = { id: ID, peer: 'bob', out: true, text: 'hi bob', sentAt: 3_000, status: 'delivered' };

async function storeWithUser(): Promise<MemoryStore> {
  const store = new MemoryStore();
  await store.batch([
    { type: 'put', table: 'meta', key: 'profile', value: profile },
    { type: 'put', table: 'contacts', key: 'bob', value: contact },
    { type: 'put', table: 'conversations', key: 'bob', value: { peer: 'bob', unread: 0, lastAt: 3_000 } },
    { type: 'put', table: 'messages', key: ID, value: message },
    { type: 'put', table: 'seen', key: ID, value: 3_500 },
    { type: 'put', table: 'blocked', key: OTHER_KEY, value: 4_000 },
    // What the node holds for others stays behind.
    { type: 'put', table: 'mailbox', key: 'x', value: { held: true } },
    { type: 'put', table: 'records', key: 'carol', value: { held: true } },
  ]);
  return store;
}

describe('a user moving to another store', () => {
  it('takes the profile and the user tables, and nothing held for others', async () => {
    const data = (await readUserData(await storeWithUser()))!;
    expect(data.profile).toEqual(profile);
    expect(data.tables.contacts).toEqual([['bob', contact]]);
    expect(data.tables.messages).toEqual([[ID, message]]);
    expect(Object.keys(data.tables).sort()).toEqual([...TRANSFER_TABLES].sort());

    // Through JSON, as in a file, and into an empty store: the same user comes out.
    const parsed = parseUserData(JSON.parse(JSON.stringify(data)))!;
    expect(parsed.dropped).toEqual({});
    const target = new MemoryStore();
    await target.batch(userDataOps(parsed.data));
    expect(await readUserData(target)).toEqual(data);
    expect(await target.entries('mailbox')).toEqual([]);
    expect(await target.entries('records')).toEqual([]);
  });

  it('is null for an identity that never joined', async () => {
    expect(await readUserData(new MemoryStore())).toBeNull();
  });
});

describe('user data from a file', () => {
  const good = (): UserData => ({
    profile,
    tables: { contacts: [['bob', contact]], conversations: [], messages: [[ID, message]], outbox: [], seen: [[ID, 1]], requests: [], blocked: [], groups: [] },
  });

  it('drops and counts every entry that fails the check disk gets, keeping the rest', () => {
    const data = good();
    data.tables.contacts.push(['mallory', contact]); // stored under another name than its own
    data.tables.contacts.push(['bob', contact]); // a second entry for a key already taken
    data.tables.messages.push([ID.replace('c', 'd'), { ...message, id: ID.replace('c', 'd'), sentAt: -1 }]);
    data.tables.seen.push(['not-an-id', 5]);
    data.tables.blocked.push(['short', 5]);
    (data.tables.outbox as unknown[]).push('not a pair');
    const parsed = parseUserData(JSON.parse(JSON.stringify(data)))!;
    expect(parsed.dropped).toEqual({ contacts: 2, messages: 1, seen: 1, blocked: 1, outbox: 1 });
    expect(parsed.data.tables.contacts).toEqual([['bob', contact]]);
    expect(parsed.data.tables.messages).toEqual([[ID, message]]);
  });

  it('keeps only the profile fields it knows, so nothing else reaches meta', () => {
    const parsed = parseUserData({ ...good(), profile: { ...profile, isAdmin: true } })!;
    expect(parsed.data.profile).toEqual(profile);
  });

  it('is refused without a valid profile or with tables that are not lists', () => {
    expect(parseUserData(null)).toBeNull();
    expect(parseUserData({ ...good(), profile: { ...profile, name: 'Not A Name!' } })).toBeNull();
    expect(parseUserData({ ...good(), tables: { ...good().tables, messages: {} } })).toBeNull();
    // Tables a file lacks are empty, not an error: a file from a version with fewer tables.
    expect(parseUserData({ profile, tables: {} })?.data.tables.contacts).toEqual([]);
  });
});
