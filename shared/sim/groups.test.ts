/**
 * Groups in a simulated network (ARCHITECTURE.md, "Groups"): made, joined, written to by every
 * member; a member away while texts and a membership change were sent catches up once, in
 * order per sender; a removed member and a stranger are not shown.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chat } from '../chat/chat.ts';
import { createEnvelope } from '../chat/messages.ts';
import { fromBase64Url } from '../lib/encoding.ts';
import { idFromHex } from '../lib/id.ts';
import { Simulation } from './simulation.ts';
import { simUsers } from './sim-users.ts';

let sim: Simulation;

beforeAll(async () => {
  sim = new Simulation({ seed: 808 });
  await sim.grow(40);
}, 120_000);
afterAll(() => sim.close());

const { online, eventually } = simUsers(() => sim, (name) => name.length * 7919 + name.charCodeAt(0) * 31 + name.charCodeAt(1));

const texts = (chat: Chat, group: string) => chat.messagesIn(group).map((m) => `${m.peer}: ${m.text}`);

/** Waits for the invitation to `group` and accepts it. */
async function acceptInvitation(chat: Chat, group: string): Promise<void> {
  expect(await eventually(() => chat.groups().some((g) => g.id === group && g.status === 'invited'))).toBe(true);
  await sim.until(chat.acceptGroup(group));
}

describe('groups in a simulated network', () => {
  it('a creator’s group reaches its members as an invitation; once accepted every member’s texts reach every other, and show delivered', async () => {
    const ann = await online('ann');
    const ben = await online('ben');
    const cat = await online('cat');
    const dan = await online('dan');
    const id = await sim.until(ann.chat.createGroup('Weekend', ['ben', 'cat', 'dan']));
    for (const m of [ben, cat, dan]) await acceptInvitation(m.chat, id);
    expect(ben.chat.groups()[0]).toMatchObject({ name: 'Weekend', version: 1, member: true });
    expect(ben.chat.groups()[0]!.members.map((m) => m.name)).toEqual(['ann', 'ben', 'cat', 'dan']);

    await sim.until(ann.chat.sendToGroup(id, 'who is in?'));
    expect(await eventually(() => [ben, cat, dan].every((m) => texts(m.chat, id).length === 1))).toBe(true);
    await sim.until(ben.chat.sendToGroup(id, 'me'));
    // Cat never looked ben up: the group vouches for his key, and names him.
    expect(await eventually(() => texts(cat.chat, id).length === 2)).toBe(true);
    expect(texts(cat.chat, id)).toEqual(['ann: who is in?', 'ben: me']);
    expect(await eventually(() => ann.chat.messagesIn(id)[0]!.status === 'delivered')).toBe(true);
    expect(ann.chat.messagesIn(id)[0]!.copies).toEqual({ ben: 'delivered', cat: 'delivered', dan: 'delivered' });
    expect(await eventually(() => ben.chat.messagesIn(id).at(-1)!.status === 'delivered')).toBe(true);
    // Group texts stay out of the one-to-one conversations.
    expect(ann.chat.messagesWith('ben')).toEqual([]);
    expect(ann.chat.outboxSize).toBe(0);
    for (const m of [ann, ben, cat, dan]) sim.leave(m.node);
  });

  it('a member away for a day gets every text once, in order per sender, and the member added meanwhile, with the senders gone', async () => {
    const eli = await online('eli');
    const fay = await online('fay');
    const gus = await online('gus');
    const hal = await online('hal');
    await sim.until(fay.chat.findUser('eli'));
    await sim.until(gus.chat.findUser('eli'));
    // Fay and gus know eli: no invitation to accept.
    const id = await sim.until(eli.chat.createGroup('Away', ['fay', 'gus']));
    expect(await eventually(() => [fay, gus].every((m) => m.chat.groups()[0]?.status === 'joined'))).toBe(true);
    sim.leave(gus.node);
    await sim.run(5_000);

    for (const t of ['one', 'two', 'three']) await sim.until(eli.chat.sendToGroup(id, t));
    await sim.until(fay.chat.sendToGroup(id, 'from fay'));
    // Eli adds hal while gus is away; hal writes.
    await sim.until(hal.chat.findUser('eli'));
    await sim.until(eli.chat.changeGroupMembers(id, ['hal'], []));
    expect(await eventually(() => hal.chat.groups()[0]?.status === 'joined')).toBe(true);
    await sim.until(hal.chat.sendToGroup(id, 'hi, I am new'));
    expect(await eventually(() => eli.chat.messagesIn(id).filter((m) => m.out).every((m) => m.copies!.gus === 'stored'))).toBe(true);
    expect(await eventually(() => hal.chat.messagesIn(id)[0]?.copies?.gus === 'stored')).toBe(true);
    for (const m of [eli, fay, hal]) sim.leave(m.node);
    await sim.run(24 * 3_600_000);

    const back = await online('gus');
    expect(await eventually(() => texts(back.chat, id).length === 5)).toBe(true);
    const shown = texts(back.chat, id);
    expect(shown.filter((t) => t.startsWith('eli:'))).toEqual(['eli: one', 'eli: two', 'eli: three']);
    expect(shown).toContain('fay: from fay');
    expect(shown).toContain('hal: hi, I am new');
    expect(back.chat.groups()[0]!.members.map((m) => m.name)).toEqual(['eli', 'fay', 'gus', 'hal']);
    await sim.run(15 * 60_000);
    await sim.until(back.chat.checkMailbox());
    expect(texts(back.chat, id)).toHaveLength(5);
    sim.leave(back.node);
  });

  it('a removed member is told and can no longer write; a stranger’s text for the group and a member’s list are not taken', async () => {
    const ida = await online('ida');
    const jon = await online('jon');
    const kim = await online('kim');
    for (const m of [jon, kim]) await sim.until(m.chat.findUser('ida'));
    const id = await sim.until(ida.chat.createGroup('Club', ['jon', 'kim']));
    expect(await eventually(() => [jon, kim].every((m) => m.chat.groups()[0]?.status === 'joined'))).toBe(true);

    // Jon is no admin: his list adding a friend changes nothing anywhere.
    const mal = await online('mal');
    await expect(sim.until(jon.chat.changeGroupMembers(id, ['mal'], []))).rejects.toThrow(/Only the group’s admins/);
    // A stranger who learned the group id writes to a member: the text waits, never shown.
    const envelope = await sim.until(
      createEnvelope(mal.node.identity, 'mal', { nodeId: idFromHex(kim.chat.groups()[0]!.members.find((m) => m.name === 'kim')!.nodeId)!, agreementKey: fromBase64Url(kim.chat.groups()[0]!.members.find((m) => m.name === 'kim')!.agreementKey)! }, { kind: 'group-text', group: id, text: 'let me in' }, sim.clock.now(), sim.random, sim.ops),
    );
    await sim.until(mal.node.node.routeFromHere('DELIVER', { envelope }, kim.node.identity.nodeId, 1, { leave: true }).catch(() => []));
    await sim.run(10_000);
    expect(texts(kim.chat, id)).toEqual([]);
    expect(kim.node.node.stats.get('chat-group-text-pending')).toBe(1);

    await sim.until(ida.chat.changeGroupMembers(id, [], ['kim']));
    expect(await eventually(() => kim.chat.groups()[0]?.member === false)).toBe(true);
    await expect(sim.until(kim.chat.sendToGroup(id, 'still here?'))).rejects.toThrow(/no longer in this group/);
    await sim.until(ida.chat.sendToGroup(id, 'just us now'));
    expect(await eventually(() => texts(jon.chat, id).includes('ida: just us now'))).toBe(true);
    expect(ida.chat.messagesIn(id).at(-1)!.copies).toEqual({ jon: expect.any(String) });
    await sim.run(10_000);
    expect(texts(kim.chat, id)).toEqual([]);
    for (const m of [ida, jon, kim, mal]) sim.leave(m.node);
  });
});
