/**
 * GroupChat's arrivals on one offline node (the network side is sim/groups.test.ts): changes
 * and texts in the orders a returning member can get them.
 */
import { describe, expect, it } from 'vitest';
import { ChatBook } from './chat-book.ts';
import { GroupChat, MAX_GROUP_INVITATIONS, MAX_INVITATION_CHANGES, type GroupSender } from './group-chat.ts';
import type { GroupSnapshot } from './groups.ts';
import { Outbox } from './outbox.ts';
import { FakeClock } from '../lib/clock.ts';
import { createIdentity, type Identity } from '../lib/crypto.ts';
import { toBase64Url } from '../lib/encoding.ts';
import { idToHex } from '../lib/id.ts';
import { KademliaNode } from '../dht/node.ts';
import { SeededRandom } from '../lib/random.ts';
import { MemoryStore } from '../lib/store.ts';
import { MemoryNetwork } from '../lib/transport.ts';

const ID = 'ab'.repeat(16);

async function member(seed: number, name: string): Promise<{ identity: Identity; sender: GroupSender }> {
  const identity = await createIdentity(new SeededRandom(seed));
  return { identity, sender: { name, nodeId: idToHex(identity.nodeId), signingKey: toBase64Url(identity.signingPublic), agreementKey: toBase64Url(identity.agreementPublic) } };
}

async function setup() {
  const clock = new FakeClock(1_700_000_000_000);
  const random = new SeededRandom(1);
  const cat = await member(3, 'cat');
  const node = new KademliaNode({ identity: cat.identity, transport: new MemoryNetwork({ clock, random }).endpoint('a'), clock, random, store: new MemoryStore() });
  const book = new ChatBook(node);
  const owed: string[] = [];
  const groups = new GroupChat(book, new Outbox(book), cat.identity, 'cat', {}, (_s, id) => owed.push(id));
  const [ann, ben] = [await member(1, 'ann'), await member(2, 'ben')];
  const entry = (m: { sender: GroupSender }) => ({ ...m.sender, addedAt: 0 });
  const v1: GroupSnapshot = { id: ID, name: 'Trip', version: 1, creator: ann.sender.signingKey, admins: [ann.sender.signingKey], members: [entry(ann), entry(ben), entry(cat)] };
  return { clock, node, book, groups, owed, ann, ben, cat, v1 };
}

describe('group changes arriving out of order', () => {
  it('a leave that comes before its group’s first snapshot waits, unacknowledged, and is taken with it', async () => {
    const { clock, node, groups, owed, ann, ben, v1 } = await setup();
    let placed = 0;
    const leave = await groups.receiveChange('1'.repeat(32), ben.sender, { kind: 'leave', id: ID, at: 10 }, clock.now(), clock.now(), () => placed++);
    expect(leave).toBe('pending');
    expect(groups.list()).toEqual([]);
    expect(placed).toBe(0);

    // Ann knows no one here: an invitation, with ben's leave taken at once.
    expect(await groups.receiveChange('2'.repeat(32), ann.sender, { kind: 'snapshot', snapshot: v1 }, clock.now(), clock.now())).toBe('shown');
    expect(groups.list()[0]!.members.map((m) => m.name)).toEqual(['ann', 'cat']);
    expect(placed).toBe(1);
    expect(owed).toEqual(['1'.repeat(32)]);
    expect(node.stats.get('chat-group-leave-pending')).toBe(1);
    node.close();
  });

  it('a snapshot its author may not write, for a group not held, is dropped: only leaves wait', async () => {
    const { clock, node, groups, ben, v1 } = await setup();
    const forged = { ...v1, admins: [v1.creator, ben.sender.signingKey], version: 1 };
    expect(await groups.receiveChange('3'.repeat(32), ben.sender, { kind: 'snapshot', snapshot: forged }, clock.now(), clock.now())).toBe('dropped');
    expect(groups.list()).toEqual([]);
    node.close();
  });
});

describe('a stranger flooding invitations', () => {
  it('keeps at most MAX_GROUP_INVITATIONS groups and MAX_INVITATION_CHANGES changes each, the rest dropped and counted', async () => {
    const { clock, node, groups, ann, v1 } = await setup();
    const envelope = (n: number) => n.toString(16).padStart(32, '0');
    let e = 0;
    for (let g = 0; g < MAX_GROUP_INVITATIONS + 3; g++) {
      const id = (g + 1).toString(16).padStart(32, '0');
      await groups.receiveChange(envelope(e++), ann.sender, { kind: 'snapshot', snapshot: { ...v1, id } }, clock.now(), clock.now());
    }
    expect(groups.list()).toHaveLength(MAX_GROUP_INVITATIONS);
    expect(node.stats.get('chat-group-invitations-full')).toBe(3);
    // One invitation's lists, version after version: past the bound nothing more is kept.
    const id = (1).toString(16).padStart(32, '0');
    for (let version = 2; version <= MAX_INVITATION_CHANGES + 5; version++) {
      await groups.receiveChange(envelope(e++), ann.sender, { kind: 'snapshot', snapshot: { ...v1, id, version } }, clock.now(), clock.now());
    }
    expect(groups.list().find((g) => g.id === id)!.version).toBe(MAX_INVITATION_CHANGES);
    expect(node.stats.get('chat-group-invitation-full')).toBe(5);
    node.close();
  });
});

describe('changes arriving at once', () => {
  it('both stay in the log: none is lost to the other’s write', async () => {
    const { clock, node, groups, ann, ben, v1 } = await setup();
    await groups.receiveChange('4'.repeat(32), ann.sender, { kind: 'snapshot', snapshot: { ...v1, admins: [v1.creator, ben.sender.signingKey] } }, clock.now(), clock.now());
    const v2 = { ...v1, version: 2, name: 'Trip 2', admins: [v1.creator, ben.sender.signingKey] };
    await Promise.all([
      groups.receiveChange('5'.repeat(32), ann.sender, { kind: 'snapshot', snapshot: v2 }, clock.now(), clock.now()),
      groups.receiveChange('6'.repeat(32), ben.sender, { kind: 'leave', id: ID, at: 10 }, clock.now(), clock.now()),
    ]);
    const g = groups.list()[0]!;
    expect(g.name).toBe('Trip 2');
    expect(g.members.map((m) => m.name)).toEqual(['ann', 'cat']);
    // And on disk as in memory.
    const stored = await node.store.get<{ log: { snapshots: unknown[]; leaves: unknown[] } }>('groups', ID);
    expect([stored!.log.snapshots.length, stored!.log.leaves.length]).toEqual([2, 1]);
    node.close();
  });
});

describe('two copies of one text at once', () => {
  it('show once and count one unread', async () => {
    const { clock, node, groups, ann, v1 } = await setup();
    await groups.receiveChange('7'.repeat(32), ann.sender, { kind: 'snapshot', snapshot: v1 }, clock.now(), clock.now());
    const text = { id: '8'.repeat(32), sender: ann.sender, sentAt: clock.now(), group: ID, text: 'once' };
    const results = await Promise.all([groups.receiveText(text, false, clock.now(), () => {}), groups.receiveText(text, true, clock.now(), () => {})]);
    expect(results.sort()).toEqual(['request', 'seen']);
    expect(groups.messagesIn(ID).map((m) => m.text)).toEqual(['once']);
    expect(groups.list()[0]!.unread).toBe(1);
    node.close();
  });
});


describe('texts from a member removed since', () => {
  it('show when written before the removal, though the removal arrived first; not when written after', async () => {
    const { clock, node, groups, owed, ann, ben, v1 } = await setup();
    const removedAt = clock.now();
    const v2: GroupSnapshot = { ...v1, version: 2, members: v1.members.filter((m) => m.name !== 'ben') };
    await groups.receiveChange('a'.repeat(32), ann.sender, { kind: 'snapshot', snapshot: v1 }, removedAt - 60_000, clock.now());
    await groups.receiveChange('b'.repeat(32), ann.sender, { kind: 'snapshot', snapshot: v2 }, removedAt, clock.now());
    const text = (id: string, sentAt: number, body: string) => ({ id: id.repeat(32), sender: ben.sender, sentAt, group: ID, text: body });
    expect(await groups.receiveText(text('c', removedAt - 1, 'written before'), true, clock.now(), () => {})).toBe('request');
    expect(await groups.receiveText(text('d', removedAt + 1, 'written after'), true, clock.now(), () => {})).toBe('pending');
    expect(groups.messagesIn(ID).map((m) => `${m.peer}: ${m.text}`)).toEqual(['ben: written before']);
    // Cat never looked ann up: an invitation, whose texts get their receipts on joining, the
    // removed member's too.
    expect(owed).toEqual([]);
    await groups.accept(ID);
    expect(owed).toEqual(['c'.repeat(32)]);
    node.close();
  });

  it('a removed member is shown what was written before its removal, and nothing after', async () => {
    const { clock, node, groups, ann, v1 } = await setup();
    const removedAt = clock.now();
    const v2: GroupSnapshot = { ...v1, version: 2, members: v1.members.filter((m) => m.name !== 'cat') };
    await groups.receiveChange('a'.repeat(32), ann.sender, { kind: 'snapshot', snapshot: v1 }, removedAt - 60_000, clock.now());
    await groups.receiveChange('b'.repeat(32), ann.sender, { kind: 'snapshot', snapshot: v2 }, removedAt, clock.now());
    expect(groups.list()[0]!.member).toBe(false);
    const text = (id: string, sentAt: number, body: string) => ({ id: id.repeat(32), sender: ann.sender, sentAt, group: ID, text: body });
    expect(await groups.receiveText(text('c', removedAt - 1, 'last words'), true, clock.now(), () => {})).toBe('request');
    expect(await groups.receiveText(text('d', removedAt + 1, 'after you left'), true, clock.now(), () => {})).toBe('dropped');
    expect(groups.messagesIn(ID).map((m) => m.text)).toEqual(['last words']);
    expect(node.stats.get('chat-group-text-after-leaving')).toBe(1);
    node.close();
  });
});

describe('two admins changing the group at once', () => {
  it('the overtaken admin makes its change again on top of the other’s, so both stand for everyone', async () => {
    const { clock, node, book, groups, ann, ben, cat, v1 } = await setup();
    const [dan, eve] = [await member(4, 'dan'), await member(5, 'eve')];
    // Whoever of ann and ben has the higher key wins a version against cat: it is the other admin.
    const other = [ann, ben].find((m) => m.sender.signingKey > cat.sender.signingKey)!;
    expect(other).toBeDefined();
    const entry = (m: { sender: GroupSender }, addedAt = 0) => ({ ...m.sender, addedAt });
    const start = { ...v1, admins: [ann, ben, cat].map((m) => m.sender.signingKey), members: [entry(ann), entry(ben), entry(cat), entry(dan)] };
    await groups.receiveChange('a'.repeat(32), ann.sender, { kind: 'snapshot', snapshot: start }, clock.now(), clock.now());
    await groups.accept(ID);

    // Cat removes dan; at the same time the other admin, still seeing dan, adds eve and renames.
    await groups.changeMembers(ID, [], ['dan']);
    const theirs = { ...start, version: 2, name: 'Trip!', members: [...start.members, entry(eve, 5)] };
    await groups.receiveChange('b'.repeat(32), other.sender, { kind: 'snapshot', snapshot: theirs }, clock.now(), clock.now());

    // Version 2 is theirs for everyone; cat's removal comes back as version 3, with eve and the name.
    const g = groups.state(ID)!;
    expect([g.version, g.by, g.name]).toEqual([3, cat.sender.signingKey, 'Trip!']);
    expect(g.members.map((m) => m.name).sort()).toEqual(['ann', 'ben', 'cat', 'eve']);
    expect(node.stats.get('chat-group-remade')).toBe(1);
    // Version 3 goes to every member of it and to dan, who learns he was removed (as with version 2).
    const to = [...book.outbox.values()].filter((e) => e.kind === 'group-change').map((e) => e.peer).sort();
    expect(to).toEqual(['ann', 'ann', 'ben', 'ben', 'dan', 'dan', 'eve']);

    // Another copy of their change, or one from ann, changes nothing more: cat's latest stands.
    await groups.receiveChange('c'.repeat(32), other.sender, { kind: 'snapshot', snapshot: theirs }, clock.now(), clock.now());
    expect([groups.state(ID)!.version, node.stats.get('chat-group-remade')]).toEqual([3, 1]);
    node.close();
  });

  it('one change at a time: a second made while the first is being sent is refused with words, and never signed', async () => {
    const { clock, node, book, groups, ann, ben, cat, v1 } = await setup();
    const dan = await member(4, 'dan');
    const entry = (m: { sender: GroupSender }) => ({ ...m.sender, addedAt: 0 });
    const start = { ...v1, admins: [ann, cat].map((m) => m.sender.signingKey), members: [entry(ann), entry(ben), entry(cat), entry(dan)] };
    await groups.receiveChange('f'.repeat(32), ann.sender, { kind: 'snapshot', snapshot: start }, clock.now(), clock.now());
    await groups.accept(ID);
    const [first, second] = await Promise.allSettled([groups.changeMembers(ID, [], ['dan']), groups.changeMembers(ID, [], ['ben'])]);
    expect(first.status).toBe('fulfilled');
    expect(second).toMatchObject({ status: 'rejected', reason: { code: 'BUSY', message: expect.stringMatching(/try again/) } });
    expect(groups.state(ID)!.members.map((m) => m.name).sort()).toEqual(['ann', 'ben', 'cat']);
    expect([...book.outbox.values()].filter((e) => e.kind === 'group-change')).toHaveLength(3);
    node.close();
  });

  it('the overtaken admin remakes nothing when the winning list already did what it did', async () => {
    const { clock, node, groups, ann, ben, cat, v1 } = await setup();
    const dan = await member(4, 'dan');
    const other = [ann, ben].find((m) => m.sender.signingKey > cat.sender.signingKey)!;
    const entry = (m: { sender: GroupSender }) => ({ ...m.sender, addedAt: 0 });
    const start = { ...v1, admins: [ann, ben, cat].map((m) => m.sender.signingKey), members: [entry(ann), entry(ben), entry(cat), entry(dan)] };
    await groups.receiveChange('d'.repeat(32), ann.sender, { kind: 'snapshot', snapshot: start }, clock.now(), clock.now());
    await groups.accept(ID);
    await groups.changeMembers(ID, [], ['dan']);
    // Both removed dan.
    const theirs = { ...start, version: 2, members: start.members.filter((m) => m.name !== 'dan') };
    await groups.receiveChange('e'.repeat(32), other.sender, { kind: 'snapshot', snapshot: theirs }, clock.now(), clock.now());
    expect([groups.state(ID)!.version, groups.state(ID)!.by, node.stats.get('chat-group-remade')]).toEqual([2, other.sender.signingKey, 0]);
    node.close();
  });
});
