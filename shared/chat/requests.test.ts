/**
 * Message requests (requests.ts): the spam rules, shown against a chat restored from a store on a
 * node that never joins, with envelopes handed to its DELIVER handler as a neighbour would.
 */
import { describe, expect, it } from 'vitest';
import { Chat } from './chat.ts';
import { serveChat } from './services.ts';
import { FakeClock } from '../lib/clock.ts';
import { MAX_BLOCKED_SENDERS, MAX_MESSAGE_REQUESTS, REQUEST_MESSAGES_PER_SENDER } from './constants.ts';
import { createIdentity, type Identity } from '../lib/crypto.ts';
import { toBase64Url } from '../lib/encoding.ts';
import { idToHex } from '../lib/id.ts';
import { KademliaNode } from '../dht/node.ts';
import { createEnvelope } from './messages.ts';
import type { Handler } from '../dht/context.ts';
import type { Method } from '../dht/protocol.ts';
import { destination, type MessageRequest } from './requests.ts';
import { SeededRandom } from '../lib/random.ts';
import { MemoryStore, type StoreTable } from '../lib/store.ts';
import { MemoryNetwork } from '../lib/transport.ts';
import type { EnvelopeWire } from './wire.ts';

const NEVER = new Promise<never>(() => {});

interface Victim {
  chat: Chat;
  node: KademliaNode;
  identity: Identity;
  store: MemoryStore;
  clock: FakeClock;
  /** Hands an envelope to the chat as a neighbour does: routed by its sender, or pushed by a holder. */
  deliver(e: EnvelopeWire, pushed?: boolean): Promise<'receipt' | 'no-receipt'>;
  /** Signs `text` as `from` (claiming `name`) for the victim. */
  envelope(from: Identity, name: string, text: string): Promise<EnvelopeWire>;
  reopen(): Promise<Victim>;
}

/** Alice, signed in from `store`, on a node that never joins: nothing goes to the network. */
async function victim(store = new MemoryStore(), clock = new FakeClock(), identity?: Identity): Promise<Victim> {
  const me = identity ?? (await createIdentity(new SeededRandom(1)));
  if (!(await store.get('meta', 'profile'))) await store.put('meta', 'profile', { name: 'alice', registeredAt: clock.now(), seq: 1 });
  const random = new SeededRandom(2);
  const node = new KademliaNode({ identity: me, transport: new MemoryNetwork({ clock, random }).endpoint('a'), clock, random, store });
  const handlers = new Map<Method, Handler>();
  const handle = node.handle.bind(node);
  node.handle = ((m: Method, h: Handler) => {
    handlers.set(m, h);
    handle(m, h as never);
  }) as typeof node.handle;
  const chat = (await Chat.open(serveChat(node), me, { ready: NEVER }))!;
  let sentAt = clock.now();
  const v: Victim = {
    chat,
    node,
    identity: me,
    store,
    clock,
    async deliver(e, pushed = false) {
      const reply = await handlers.get('DELIVER')!({ envelope: e }, { from: null, routed: !pushed, key: null }).catch(() => null);
      return reply ? 'receipt' : 'no-receipt';
    },
    envelope: (from, name, text) => createEnvelope(from, name, { nodeId: me.nodeId, agreementKey: me.agreementPublic }, text, ++sentAt, random, node.ops),
    async reopen() {
      chat.close();
      node.close();
      return victim(store, clock, me);
    },
  };
  return v;
}

const rows = async (store: MemoryStore, table: StoreTable) => (await store.entries(table)).length;
const keyOf = (id: Identity) => toBase64Url(id.signingPublic);

describe('message requests: unknown senders wait apart, capped per sender and in total', () => {
  it('a sender is known only through a conversation the user started or accepted; caps drop, blocks drop first', () => {
    const request = (n: number) => ({ messages: Array.from({ length: n }) }) as MessageRequest;
    expect(destination({ known: true, blocked: false, request: undefined, requests: MAX_MESSAGE_REQUESTS })).toBe('conversation');
    expect(destination({ known: false, blocked: false, request: undefined, requests: 0 })).toBe('request');
    expect(destination({ known: false, blocked: false, request: undefined, requests: MAX_MESSAGE_REQUESTS })).toBe('drop-total-cap');
    expect(destination({ known: false, blocked: false, request: request(REQUEST_MESSAGES_PER_SENDER - 1), requests: MAX_MESSAGE_REQUESTS })).toBe('request');
    expect(destination({ known: false, blocked: false, request: request(REQUEST_MESSAGES_PER_SENDER), requests: 1 })).toBe('drop-sender-cap');
    expect(destination({ known: true, blocked: true, request: undefined, requests: 0 })).toBe('drop-blocked');
  });

  it('1,000 envelopes from 1,000 throwaway keys leave at most the total cap of requests stored, no contact, no conversation, no message, and no receipt', async () => {
    const v = await victim();
    const spammers = await Promise.all(Array.from({ length: 1_000 }, (_, i) => createIdentity(new SeededRandom(1_000 + i))));
    let receipts = 0;
    for (const [i, s] of spammers.entries()) if ((await v.deliver(await v.envelope(s, `spam${i}`, 'buy now'))) === 'receipt') receipts++;
    expect(receipts).toBe(0);
    expect(v.chat.requests()).toHaveLength(MAX_MESSAGE_REQUESTS);
    expect(await rows(v.store, 'requests')).toBe(MAX_MESSAGE_REQUESTS);
    for (const table of ['contacts', 'conversations', 'messages', 'seen', 'outbox'] as const) expect(await rows(v.store, table)).toBe(0);
    expect(v.chat.conversationList()).toEqual([]);
    expect(v.node.stats.get('chat-request-drop-total-cap')).toBe(1_000 - MAX_MESSAGE_REQUESTS);
    // The first ones stay: a flood cannot push out the requests already waiting.
    expect(v.chat.requests().map((r) => r.name).sort()).toEqual(Array.from({ length: MAX_MESSAGE_REQUESTS }, (_, i) => `spam${i}`).sort());
    v.chat.close();
    v.node.close();
  }, 60_000);

  it('one sender sending 100 keeps at most the per-sender cap; its copies pushed by holders are tombstoned but get no receipt', async () => {
    const v = await victim();
    const mallory = await createIdentity(new SeededRandom(7));
    const sent: EnvelopeWire[] = [];
    for (let i = 0; i < 100; i++) {
      sent.push(await v.envelope(mallory, 'mallory', `hi ${i}`));
      expect(await v.deliver(sent[i]!)).toBe('no-receipt');
    }
    const [r] = v.chat.requests();
    expect(r!.messages.map((m) => m.text)).toEqual(Array.from({ length: REQUEST_MESSAGES_PER_SENDER }, (_, i) => `hi ${i}`));
    expect(await rows(v.store, 'requests')).toBe(1);
    expect(v.node.stats.get('chat-request-drop-sender-cap')).toBe(100 - REQUEST_MESSAGES_PER_SENDER);
    // A holder pushes a kept one and a dropped one: neither gets a receipt, both are answered
    // with a tombstone (a MAILBOX_ACK to the holders) so they are not pushed again.
    expect(await v.deliver(sent[0]!, true)).toBe('no-receipt');
    expect(await v.deliver(sent[99]!, true)).toBe('no-receipt');
    const acks: unknown[] = [];
    v.node.routeFromHere = (async (method: string, body: unknown) => {
      if (method === 'MAILBOX_ACK') acks.push(body);
      return [];
    }) as typeof v.node.routeFromHere;
    v.clock.advance(1_000);
    await expect.poll(() => acks.length).toBe(1);
    expect(acks).toEqual([expect.objectContaining({ tombstones: [expect.anything(), expect.anything()] })]);
    expect(v.chat.requests()[0]!.messages).toHaveLength(REQUEST_MESSAGES_PER_SENDER);
    v.chat.close();
    v.node.close();
  });

  it('a blocked sender’s next message is dropped and counted, with nothing stored; the blocked list is bounded', async () => {
    const v = await victim();
    const mallory = await createIdentity(new SeededRandom(8));
    await v.deliver(await v.envelope(mallory, 'mallory', 'first'));
    await v.chat.blockRequest(keyOf(mallory));
    expect(v.chat.requests()).toEqual([]);
    expect(await rows(v.store, 'requests')).toBe(0);
    expect(await v.deliver(await v.envelope(mallory, 'mallory', 'again'))).toBe('no-receipt');
    // Claiming another name changes nothing: the key is what was blocked.
    expect(await v.deliver(await v.envelope(mallory, 'bob', 'it is bob'))).toBe('no-receipt');
    expect(v.node.stats.get('chat-request-drop-blocked')).toBe(2);
    expect(await rows(v.store, 'requests')).toBe(0);
    expect(await rows(v.store, 'messages')).toBe(0);
    // Blocks survive a restart; past the bound the oldest is forgotten.
    const back = await v.reopen();
    expect(await back.deliver(await back.envelope(mallory, 'mallory', 'after restart'))).toBe('no-receipt');
    expect(back.node.stats.get('chat-request-drop-blocked')).toBe(1);
    for (let i = 0; i < MAX_BLOCKED_SENDERS; i++) {
      back.clock.advance(1);
      const key = toBase64Url(new Uint8Array(32).fill(i % 256).map((b, j) => (j === 0 ? i >> 8 : b)));
      await back.chat.blockRequest(key);
    }
    expect(await rows(back.store, 'blocked')).toBe(MAX_BLOCKED_SENDERS);
    expect(await back.store.get('blocked', keyOf(mallory))).toBeUndefined();
    back.chat.close();
    back.node.close();
  });

  it('accept makes a conversation with an unverified contact and owes the receipts; later messages go straight to it', async () => {
    const v = await victim();
    const bob = await createIdentity(new SeededRandom(9));
    await v.deliver(await v.envelope(bob, 'bob', 'hello'));
    await v.deliver(await v.envelope(bob, 'bob', 'are you there'));
    expect(v.chat.contact('bob')).toBeUndefined();
    expect(await v.chat.acceptRequest(keyOf(bob))).toBe('bob');
    expect(v.chat.requests()).toEqual([]);
    expect(await rows(v.store, 'requests')).toBe(0);
    expect(v.chat.contact('bob')).toMatchObject({ trust: 'unverified', signingKey: keyOf(bob), nodeId: idToHex(bob.nodeId) });
    expect(v.chat.messagesWith('bob').map((m) => m.text)).toEqual(['hello', 'are you there']);
    expect(v.chat.conversationList()).toEqual([expect.objectContaining({ peer: 'bob', unread: 2 })]);
    // The receipts go out through the outbox, sealed back to bob.
    v.clock.advance(1_000);
    await expect.poll(async () => (await v.store.entries<{ kind: string; peer: string }>('outbox')).map(([, e]) => [e.kind, e.peer])).toEqual([['receipts', 'bob']]);
    // Bob is known now: his next message is shown at once, with a receipt.
    expect(await v.deliver(await v.envelope(bob, 'bob', 'great'))).toBe('receipt');
    expect(v.chat.messagesWith('bob').map((m) => m.text)).toEqual(['hello', 'are you there', 'great']);
    v.chat.close();
    v.node.close();
  });

  it('requests survive reopening from the Store, and can be accepted after', async () => {
    const v = await victim();
    const carol = await createIdentity(new SeededRandom(10));
    await v.deliver(await v.envelope(carol, 'carol', 'remember me'));
    const back = await v.reopen();
    expect(back.chat.requests()).toEqual([expect.objectContaining({ name: 'carol', key: keyOf(carol), messages: [expect.objectContaining({ text: 'remember me' })] })]);
    // Its next message joins the same request.
    expect(await back.deliver(await v.envelope(carol, 'carol', 'second'))).toBe('no-receipt');
    expect(back.chat.requests()[0]!.messages).toHaveLength(2);
    expect(await back.chat.acceptRequest(keyOf(carol))).toBe('carol');
    expect(back.chat.messagesWith('carol').map((m) => m.text)).toEqual(['remember me', 'second']);
    back.chat.close();
    back.node.close();
  });

  it('a request handed over twice keeps one copy; a corrupted request on disk is dropped and counted', async () => {
    const v = await victim();
    const dan = await createIdentity(new SeededRandom(11));
    const e = await v.envelope(dan, 'dan', 'once');
    await v.deliver(e);
    await v.deliver(e, true);
    expect(v.chat.requests()[0]!.messages).toHaveLength(1);
    expect(v.node.stats.get('chat-duplicate-request')).toBe(1);
    await v.store.put('requests', 'x', { key: 'x', name: 'EVE!', messages: [] });
    const back = await v.reopen();
    expect(back.chat.requests()).toHaveLength(1);
    expect(back.node.stats.get('chat-dropped-from-disk-request')).toBe(1);
    back.chat.close();
    back.node.close();
  });
});
