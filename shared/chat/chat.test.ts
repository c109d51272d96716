import { describe, expect, it } from 'vitest';
import { Chat } from './chat.ts';
import { serveChat, type ChatServices } from './services.ts';
import { FakeClock } from '../lib/clock.ts';
import { SEEN_RETENTION_MS } from './constants.ts';
import { FETCH_RETRY_MS } from './inbox.ts';
import { createIdentity, type Identity } from '../lib/crypto.ts';
import { toBase64Url } from '../lib/encoding.ts';
import { idToHex } from '../lib/id.ts';
import { KademliaNode } from '../dht/node.ts';
import type { OutboxEntry } from './chat-model.ts';
import { openEnvelope } from './messages.ts';
import { SeededRandom } from '../lib/random.ts';
import { MemoryStore } from '../lib/store.ts';
import { MemoryNetwork } from '../lib/transport.ts';

async function offlineNode(identity: Identity, store: MemoryStore, clock: FakeClock): Promise<ChatServices & { node: KademliaNode }> {
  const random = new SeededRandom(1);
  const transport = new MemoryNetwork({ clock, random }).endpoint('a');
  const node = new KademliaNode({ identity, transport, clock, random, store });
  return { ...serveChat(node), node };
}

describe('a chat restored from storage', () => {
  it('keeps what parses, drops and counts what does not, and forgets seen ids past their retention', async () => {
    const clock = new FakeClock(10 * SEEN_RETENTION_MS);
    const identity = await createIdentity(new SeededRandom(2));
    const friend = await createIdentity(new SeededRandom(3));
    const store = new MemoryStore();
    const now = clock.now();
    await store.put('meta', 'profile', { name: 'alice', registeredAt: now - 1000, seq: 4 });
    const bob = { name: 'bob', nodeId: idToHex(friend.nodeId), signingKey: toBase64Url(friend.signingPublic), agreementKey: toBase64Url(friend.agreementPublic), addedAt: now };
    await store.put('contacts', 'bob', bob);
    await store.put('contacts', 'eve', { name: 'eve', nodeId: 'not hex' });
    // Stored before trust was, made by carol's first message (added the instant it arrived).
    const carol = { ...bob, name: 'carol', addedAt: now - 300 };
    await store.put('contacts', 'carol', carol);
    const fromCarol = { id: 'e'.repeat(32), peer: 'carol', out: false, text: 'hello', sentAt: now - 350, receivedAt: now - 300 };
    await store.put('messages', fromCarol.id, fromCarol);
    const message = { id: 'a'.repeat(32), peer: 'bob', out: false, text: 'hi', sentAt: now - 500, receivedAt: now - 400 };
    await store.put('messages', message.id, message);
    await store.put('messages', 'b'.repeat(32), { id: 'b'.repeat(32), peer: 'BOB!', out: 'yes' });
    await store.put('conversations', 'bob', { peer: 'bob', unread: 1, lastAt: now - 500 });
    await store.put('outbox', 'c'.repeat(32), { envelope: { id: 'c'.repeat(32) }, kind: 'text' });
    await store.put('seen', 'a'.repeat(32), now - 400);
    await store.put('seen', 'd'.repeat(32), now - SEEN_RETENTION_MS - 1);

    const node = await offlineNode(identity, store, clock);
    // Never ready: nothing goes to the network, only storage is read.
    const chat = await Chat.open(node, identity, { ready: new Promise(() => {}) });
    expect(chat?.name).toBe('alice');
    expect(chat!.messagesWith('bob')).toEqual([message]);
    // Bob's contact has no message from the instant it was added: Find user made it.
    expect(chat!.contact('bob')).toEqual({ ...bob, trust: 'verified' });
    expect(chat!.contact('carol')).toEqual({ ...carol, trust: 'unverified' });
    expect(chat!.contact('eve')).toBeUndefined();
    expect(chat!.conversationList()).toEqual([{ peer: 'bob', unread: 1, lastAt: now - 500 }]);
    expect(chat!.outboxSize).toBe(0);
    expect(node.node.stats.snapshot('chat-dropped-from-disk')).toEqual({
      'chat-dropped-from-disk-contact': 1,
      'chat-dropped-from-disk-message': 1,
      'chat-dropped-from-disk-outbox': 1,
    });
    // Dropped from memory, not from disk: a later version may read what this one cannot.
    expect(await store.get('contacts', 'eve')).toBeDefined();
    expect(await store.get('seen', 'a'.repeat(32))).toBe(now - 400);
    expect(await store.get('seen', 'd'.repeat(32))).toBeUndefined();
    chat!.close();
    node.node.close();
  });

  it('seals an outbox entry of the first envelope format again, with its id, and drops old receipt batches and orphans with a counted reason', async () => {
    const clock = new FakeClock(10 * SEEN_RETENTION_MS);
    const identity = await createIdentity(new SeededRandom(2));
    const friend = await createIdentity(new SeededRandom(3));
    const store = new MemoryStore();
    const now = clock.now();
    await store.put('meta', 'profile', { name: 'alice', registeredAt: now - 1000, seq: 4 });
    const bob = { name: 'bob', nodeId: idToHex(friend.nodeId), signingKey: toBase64Url(friend.signingPublic), agreementKey: toBase64Url(friend.agreementPublic), addedAt: now, trust: 'verified' };
    await store.put('contacts', 'bob', bob);
    const b64 = (n: number) => toBase64Url(new Uint8Array(n).fill(7));
    // The first format: the sender's id, clock and signature in the clear.
    const old = (id: string) => ({ id, from: idToHex(identity.nodeId), to: bob.nodeId, sentAt: now - 500, epk: b64(32), nonce: b64(12), ct: b64(40), sig: b64(64) });
    const entry = (id: string, kind: string) => ({ envelope: old(id), kind, peer: 'bob', recipientKey: bob.signingKey, misses: 2 });
    const queued = { id: 'a'.repeat(32), peer: 'bob', out: true, text: 'sent before the upgrade', sentAt: now - 500, status: 'stored' };
    await store.put('messages', queued.id, queued);
    await store.put('outbox', queued.id, entry(queued.id, 'text'));
    await store.put('outbox', 'b'.repeat(32), entry('b'.repeat(32), 'receipts'));
    await store.put('outbox', 'c'.repeat(32), entry('c'.repeat(32), 'text')); // its message is gone

    const node = await offlineNode(identity, store, clock);
    const chat = await Chat.open(node, identity, { ready: new Promise(() => {}) });
    expect(chat!.outboxSize).toBe(1);
    expect(chat!.messagesWith('bob')).toEqual([queued]);
    expect(node.node.stats.snapshot('chat-outbox')).toEqual({
      'chat-outbox-resealed': 1,
      'chat-outbox-old-receipts-dropped': 1,
      'chat-outbox-old-dropped': 1,
    });
    expect(node.node.stats.get('chat-dropped-from-disk-outbox')).toBe(0);
    const rows = await store.entries<OutboxEntry>('outbox');
    expect(rows.map(([k]) => k)).toEqual([queued.id]);
    const resealed = rows[0]![1];
    expect(resealed).toMatchObject({ kind: 'text', peer: 'bob', recipientKey: bob.signingKey, misses: 2 });
    expect(Object.keys(resealed.envelope).sort()).toEqual(['ct', 'epk', 'id', 'nonce', 'to', 'v']);
    const opened = await openEnvelope(friend, resealed.envelope, now, node.node.ops);
    expect(opened).toMatchObject({ ok: true, message: { id: queued.id, from: idToHex(identity.nodeId), fromName: 'alice', sentAt: queued.sentAt, content: { kind: 'text', text: queued.text } } });
    chat!.close();
    node.node.close();
  });

  it('asks its holders again soon when it starts with no channel, not at the next periodic check', async () => {
    const clock = new FakeClock();
    const identity = await createIdentity(new SeededRandom(5));
    const store = new MemoryStore();
    await store.put('meta', 'profile', { name: 'alice', registeredAt: clock.now(), seq: 1 });
    const node = await offlineNode(identity, store, clock);
    const chat = await Chat.open(node, identity, { ready: Promise.resolve() });
    const checks = () => node.node.stats.snapshot('chat-fetch-no-holders')['chat-fetch-no-holders'] ?? 0;
    await until(() => checks() === 1);
    clock.advance(FETCH_RETRY_MS);
    await until(() => checks() === 2);
    chat!.close();
    node.node.close();
  });

  it('names itself as its name’s holder and nobody as its mailbox’s while it has no channel', async () => {
    const clock = new FakeClock();
    const identity = await createIdentity(new SeededRandom(6));
    const store = new MemoryStore();
    await store.put('meta', 'profile', { name: 'alice', registeredAt: clock.now(), seq: 1 });
    const node = await offlineNode(identity, store, clock);
    const chat = await Chat.open(node, identity, { ready: new Promise(() => {}) });
    // Mail is stored around its recipient, never at it; a name may be held by its owner.
    expect(chat!.holders()).toEqual({ mailbox: [], record: [node.node.hex] });
    chat!.close();
    node.node.close();
  });

  it('is null for an identity that never registered a name', async () => {
    const clock = new FakeClock();
    const identity = await createIdentity(new SeededRandom(4));
    const node = await offlineNode(identity, new MemoryStore(), clock);
    expect(await Chat.open(node, identity)).toBeNull();
    node.node.close();
  });
});

/** Lets promise chains run (the fake clock moves only by hand) until `done`, or fails. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await new Promise((resolve) => setImmediate(resolve));
  expect(done()).toBe(true);
}
