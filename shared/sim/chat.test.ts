/**
 * The user layer in a simulated network: register, find, chat both ways, and offline delivery
 * with the sender gone by the time the recipient comes back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chat } from '../chat/chat.ts';
import { open, seal, type Identity } from '../lib/crypto.ts';
import { createEnvelope, envelopeHeaderBytes } from '../chat/messages.ts';
import { SeededRandom } from '../lib/random.ts';
import { senderTrust } from '../chat/senders.ts';
import { MAX_HOLDER_ACKS, type EnvelopeWire } from '../chat/wire.ts';
import { fromBase64Url, toBase64Url } from '../lib/encoding.ts';
import { idToHex } from '../lib/id.ts';
import { Simulation, type SimNode } from './simulation.ts';
import { simUsers } from './sim-users.ts';

let sim: Simulation;
let nodes: SimNode[];

beforeAll(async () => {
  sim = new Simulation({ seed: 707 });
  nodes = await sim.grow(60);
}, 120_000);
afterAll(() => sim.close());

const { identity, online, eventually } = simUsers(() => sim, (name) => name.length * 7919 + name.charCodeAt(0));

/** Waits for a message request claiming `name` with `count` messages, and accepts it. */
async function accept(chat: Chat, name: string, count = 1): Promise<void> {
  expect(await eventually(() => chat.requests().some((r) => r.name === name && r.messages.length === count))).toBe(true);
  expect(await sim.until(chat.acceptRequest(chat.requests().find((r) => r.name === name)!.key))).toBe(name);
}

const statuses = (chat: Chat, peer: string) => chat.messagesWith(peer).filter((m) => m.out).map((m) => m.status);
const texts = (chat: Chat, peer: string) => chat.messagesWith(peer).map((m) => m.text);

describe('chat in a simulated network', () => {
  it('alice and bob register, find each other, chat both ways, and see "delivered"', async () => {
    const alice = await online('alice');
    const bob = await online('bob');
    const found = await sim.until(alice.chat.findUser('bob'));
    expect(found.nodeId).toBe(bob.node.node.hex);
    await sim.until(alice.chat.send('bob', 'hi bob'));
    // Bob never looked alice up: her message waits in his message requests, without a receipt.
    expect(await eventually(() => bob.chat.requests().length === 1)).toBe(true);
    expect(bob.chat.conversationList()).toEqual([]);
    expect(statuses(alice.chat, 'bob')).not.toContain('delivered');
    await accept(bob.chat, 'alice');
    expect(await eventually(() => statuses(alice.chat, 'bob').every((s) => s === 'delivered'))).toBe(true);
    expect(texts(bob.chat, 'alice')).toEqual(['hi bob']);
    expect(bob.chat.conversationList()).toEqual([expect.objectContaining({ peer: 'alice', unread: 1 })]);
    // Bob answers the contact the message made, pinned to the key that signed it.
    await sim.until(bob.chat.send('alice', 'hi alice'));
    expect(await eventually(() => statuses(bob.chat, 'alice').every((s) => s === 'delivered'))).toBe(true);
    expect(texts(alice.chat, 'bob')).toEqual(['hi bob', 'hi alice']);
    sim.leave(alice.node);
    sim.leave(bob.node);
  });

  it('a name another key holds is "taken"; a name nobody holds is "User not found"', async () => {
    const carol = await online('carol');
    const mallory = await sim.spawn(await identity('mallory'));
    await sim.until(mallory.started);
    await expect(sim.until(Chat.register(mallory, mallory.identity, 'carol'))).rejects.toThrow(/taken/);
    await expect(sim.until(carol.chat.findUser('nobody_here'))).rejects.toThrow(/User not found/);
    sim.leave(carol.node);
    sim.leave(mallory);
  });

  it('messages to an offline user are stored, fetched once on return in order after the sender left, and shown delivered to the sender later', async () => {
    const dave = await online('dave');
    const erin = await online('erin');
    await sim.until(dave.chat.findUser('erin'));
    sim.leave(erin.node);
    await sim.run(5_000);
    for (const text of ['one', 'two', 'three']) await sim.until(dave.chat.send('erin', text));
    expect(await eventually(() => statuses(dave.chat, 'erin').every((s) => s === 'stored'))).toBe(true);
    sim.leave(dave.node);
    await sim.run(3_600_000);

    const back = await online('erin');
    await accept(back.chat, 'dave', 3);
    expect(await eventually(() => texts(back.chat, 'dave').length === 3)).toBe(true);
    expect(texts(back.chat, 'dave')).toEqual(['one', 'two', 'three']);
    // Holders push to a returning recipient as its fetch runs, so a copy may arrive twice at
    // first (and shows once). Once the tombstones spread, nothing comes again.
    await sim.run(60_000);
    const duplicates = back.node.node.stats.get('chat-duplicate');
    await sim.run(15 * 60_000);
    await sim.until(back.chat.checkMailbox());
    expect(texts(back.chat, 'dave')).toEqual(['one', 'two', 'three']);
    expect(back.node.node.stats.get('chat-duplicate')).toBe(duplicates);

    const daveBack = await online('dave');
    expect(await eventually(() => statuses(daveBack.chat, 'erin').every((s) => s === 'delivered'))).toBe(true);
    expect(daveBack.chat.outboxSize).toBe(0);
    sim.leave(back.node);
    sim.leave(daveBack.node);
  });

  it('a message claiming a pinned name but signed by another key is flagged, and the contact warns', async () => {
    const frank = await online('frank');
    const grace = await online('grace');
    await sim.until(grace.chat.findUser('frank'));
    const impostor = await identity('impostor');
    const envelope = await sim.until(
      createEnvelope(impostor, 'frank', { nodeId: grace.node.identity.nodeId, agreementKey: grace.node.identity.agreementPublic }, 'it is me, frank', sim.clock.now(), new SeededRandom(1), sim.ops),
    );
    const [reply] = await sim.until(nodes[5]!.node.routeFromHere('DELIVER', { envelope }, grace.node.identity.nodeId, 1, { leave: true }));
    expect(reply?.receipt.id).toBe(envelope.id);
    expect(grace.chat.messagesWith('frank')).toEqual([expect.objectContaining({ text: 'it is me, frank', keyMismatch: true })]);
    expect(grace.chat.contact('frank')?.warning).toMatch(/different key/);
    sim.leave(frank.node);
    sim.leave(grace.node);
  });

  it('a message claiming a name from a key that name’s record does not resolve to is never shown as that name’s verified contact, and does not make the real owner’s key a key change', async () => {
    const olga = await online('olga');
    const pete = await online('pete');
    const mallory = await identity('mallory');
    // Mallory writes first, as "pete", to olga, who never looked pete up.
    const lie = await sim.until(
      createEnvelope(mallory, 'pete', { nodeId: olga.node.identity.nodeId, agreementKey: olga.node.identity.agreementPublic }, 'hi, it is pete', sim.clock.now(), new SeededRandom(2), sim.ops),
    );
    await sim.until(nodes[5]!.node.routeFromHere('DELIVER', { envelope: lie }, olga.node.identity.nodeId, 1, { leave: true }).catch(() => []));
    // A message request until olga accepts it: no contact is pinned before.
    expect(olga.chat.contact('pete')).toBeUndefined();
    await accept(olga.chat, 'pete');
    expect(olga.chat.contact('pete')).toMatchObject({ trust: 'unverified' });
    // The real pete writes too: another claim to the name, not a key change.
    await sim.until(pete.chat.findUser('olga'));
    await sim.until(pete.chat.send('olga', 'the real pete'));
    expect(await eventually(() => texts(olga.chat, 'pete').length === 2)).toBe(true);
    const shown = (text: string) => olga.chat.messagesWith('pete').find((m) => m.text === text)!;
    expect(shown('the real pete').keyMismatch).toBeUndefined();
    expect(olga.chat.contact('pete')?.warning).toBeUndefined();
    // Olga looks pete up: the record says whose key it is.
    const found = await sim.until(olga.chat.findUser('pete'));
    expect(found).toMatchObject({ trust: 'mismatch', nodeId: pete.node.node.hex });
    expect(found.warning).toBeUndefined();
    expect(senderTrust(found, shown('hi, it is pete'))).toBe('mismatch');
    expect(senderTrust(found, shown('the real pete'))).toBe('verified');
    // Both sides now compute the same safety number.
    expect(olga.chat.safetyNumber('pete')).toEqual(pete.chat.safetyNumber('olga'));
    sim.leave(olga.node);
    sim.leave(pete.node);
  });

  it('a lookup confirms a contact a first message made when the record has its key', async () => {
    const quinn = await online('quinn');
    const rosa = await online('rosa');
    await sim.until(quinn.chat.findUser('rosa'));
    await sim.until(quinn.chat.send('rosa', 'hello rosa'));
    await accept(rosa.chat, 'quinn');
    expect(await eventually(() => texts(rosa.chat, 'quinn').length === 1)).toBe(true);
    expect(rosa.chat.contact('quinn')).toMatchObject({ trust: 'unverified' });
    expect(await sim.until(rosa.chat.findUser('quinn'))).toMatchObject({ trust: 'verified' });
    expect(senderTrust(rosa.chat.contact('quinn'), rosa.chat.messagesWith('quinn')[0]!)).toBe('verified');
    sim.leave(quinn.node);
    sim.leave(rosa.node);
  });

  it('"stored" counts only holders whose signed acks verify: a lying first holder that claims nine holders and drops the message does not make it stored; other holders do', async () => {
    const kyle = await online('kyle');
    const luke = await online('luke');
    await sim.until(kyle.chat.findUser('luke'));
    const lukeId = luke.node.identity.nodeId;
    sim.leave(luke.node);
    await sim.run(5_000);
    // The node closest to luke's id, where every store for him arrives first, lies: it answers
    // with as many acks as the wire carries, made up, and keeps nothing.
    const liar = sim.live.get(sim.closestLive(lukeId, 1)[0]!)!;
    const random = new SeededRandom(3);
    const made = () => ({ holder: idToHex(random.bytes(20)), key: toBase64Url(random.bytes(32)), n: 0, sig: toBase64Url(random.bytes(64)) });
    liar.node.handle('MAILBOX_STORE', async () => ({ stored: true, acks: Array.from({ length: MAX_HOLDER_ACKS }, made) }));
    await sim.until(kyle.chat.send('luke', 'past the liar'));
    expect(await eventually(() => statuses(kyle.chat, 'luke')[0] === 'stored')).toBe(true);
    const stats = kyle.node.node.stats;
    expect(stats.get('chat-holder-ack-bad')).toBeGreaterThanOrEqual(MAX_HOLDER_ACKS);
    expect(stats.get('chat-store-spread')).toBeGreaterThanOrEqual(1);
    // The honest holders' acks all passed the distance check.
    expect(stats.get('chat-holder-ack-far')).toBe(0);
    // Stored means held: by at least 3 nodes near luke, none of them the liar.
    const id = kyle.chat.messagesWith('luke')[0]!.id;
    const holders = [...sim.live.values()].filter((n) => n.mailbox.holds(id)).map((n) => n.node.hex);
    expect(holders.length).toBeGreaterThanOrEqual(3);
    expect(holders).not.toContain(liar.node.hex);
    sim.leave(liar);
    sim.leave(kyle.node);
  });

  it('a user signed in again keeps contacts, history and the unsent outbox, and sends it', async () => {
    const heidi = await online('heidi');
    const ivan = await online('ivan');
    await sim.until(heidi.chat.findUser('ivan'));
    // Ivan knows heidi: her messages reach his conversations, not his message requests.
    await sim.until(ivan.chat.findUser('heidi'));
    await sim.until(heidi.chat.send('ivan', 'before'));
    expect(await eventually(() => statuses(heidi.chat, 'ivan')[0] === 'delivered')).toBe(true);
    // Heidi's tab dies the instant a message is committed: nothing of it went out yet.
    const committed = heidi.chat.send('ivan', 'unsent');
    sim.leave(heidi.node);
    await sim.until(committed);
    const again = await online('heidi');
    expect(texts(again.chat, 'ivan')).toEqual(['before', 'unsent']);
    expect(await eventually(() => statuses(again.chat, 'ivan').every((s) => s === 'delivered'))).toBe(true);
    expect(texts(ivan.chat, 'heidi')).toEqual(['before', 'unsent']);
    sim.leave(again.node);
    sim.leave(ivan.node);
  });
});

describe('the routing snapshot', () => {
  it('a node that comes back within the half hour dials the neighbours it saved, along with what its lookup finds', async () => {
    const node = nodes[7]!;
    await sim.until(node.node.saveRoutingSnapshot());
    const before = node.node.neighbours().map((p) => p.hex);
    sim.leave(node);
    await sim.run(60_000);
    const back = await sim.spawn(node.identity);
    await sim.until(back.started);
    const alive = before.filter((hex) => sim.live.has(hex));
    expect(back.node.stats.get('join-remembered')).toBe(before.length);
    const again = back.node.neighbours().map((p) => p.hex);
    expect(alive.filter((hex) => again.includes(hex)).length).toBeGreaterThanOrEqual(Math.min(alive.length, 8));
  });

  it('a closed chat takes no more messages directly: they go to the mailbox and wait for the user', async () => {
    const frank = await online('frank');
    const gina = await online('gina');
    await sim.until(frank.chat.findUser('gina'));
    gina.chat.close(); // signed out; the node stays up, as an anonymous tab's does
    await sim.until(frank.chat.send('gina', 'after gina signed out'));
    expect(await eventually(() => statuses(frank.chat, 'gina')[0] === 'stored')).toBe(true);
    expect(texts(gina.chat, 'frank')).toEqual([]);
    sim.leave(frank.node);
    sim.leave(gina.node);
  });

  it('a message re-addressed by a holder, or re-sealed by its recipient, to another user is refused there: the signed bytes name the recipient', async () => {
    const xena = await online('xena');
    const yves = await online('yves');
    const zack = await online('zack');
    const [x, y, z] = [xena.node.identity, yves.node.identity, zack.node.identity];
    // Yves has looked Xena up, so her message goes to a conversation, not to message requests.
    await sim.until(yves.chat.findUser('xena'));
    // Xena's message to Yves, as every relay and holder on its way has it.
    const e = await sim.until(createEnvelope(x, 'xena', { nodeId: y.nodeId, agreementKey: y.agreementPublic }, 'for yves only', sim.clock.now(), new SeededRandom(3), sim.ops));
    const deliver = (envelope: EnvelopeWire, to: Identity) => sim.until(nodes[5]!.node.routeFromHere('DELIVER', { envelope }, to.nodeId, 1, { leave: true }).catch(() => []));
    const zackStat = (name: string) => zack.node.node.stats.get(name);

    // A holder re-addresses it to Zack: the seal's additional data no longer fits.
    const undecryptable = zackStat('chat-drop-undecryptable');
    expect(await deliver({ ...e, to: idToHex(z.nodeId) }, z)).toEqual([]);
    expect(zackStat('chat-drop-undecryptable')).toBe(undecryptable + 1);

    // Yves, who can open it, seals Xena's signed body as it was for Zack: Xena signed Yves's id.
    const { ct: _ct, ...header } = e;
    const plain = (await sim.until(open(y, fromBase64Url(e.epk)!, fromBase64Url(e.nonce)!, fromBase64Url(e.ct)!, envelopeHeaderBytes(header))))!;
    const to = idToHex(z.nodeId);
    const sealed = await sim.until(seal(z.agreementPublic, plain, (epk, nonce) => envelopeHeaderBytes({ ...header, to, epk: toBase64Url(epk), nonce: toBase64Url(nonce) }), new SeededRandom(4)));
    const forwarded: EnvelopeWire = { ...header, to, epk: toBase64Url(sealed.ephemeralPublic), nonce: toBase64Url(sealed.nonce), ct: toBase64Url(sealed.ciphertext) };
    const badSignature = zackStat('chat-drop-bad-signature');
    expect(await deliver(forwarded, z)).toEqual([]);
    expect(zackStat('chat-drop-bad-signature')).toBe(badSignature + 1);
    expect(zack.chat.conversationList()).toEqual([]);
    expect(zack.chat.contact('xena')).toBeUndefined();

    // The message itself was good: Yves shows it, from Xena.
    expect(await deliver(e, y)).toEqual([expect.objectContaining({ receipt: expect.objectContaining({ id: e.id }) })]);
    expect(texts(yves.chat, 'xena')).toEqual(['for yves only']);
    for (const n of [xena, yves, zack]) sim.leave(n.node);
  });
});
