/**
 * Offline delivery's holder side in a simulated network: a store routed to an offline
 * recipient's id is committed by the nodes closest to it, the returning recipient proves it owns
 * the mailbox and gets its messages in sent order, and its tombstones delete them for good.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAILBOX_PER_SENDER } from '../chat/constants.ts';
import { createIdentity, type Identity } from '../lib/crypto.ts';
import { idToHex } from '../lib/id.ts';
import { createEnvelope, openEnvelope, signFetch, signStatement } from '../chat/messages.ts';
import type { EnvelopeWire, TombstoneWire } from '../chat/wire.ts';
import { SeededRandom } from '../lib/random.ts';
import { Simulation, type SimNode } from './simulation.ts';

let sim: Simulation;
let nodes: SimNode[];
let bob: Identity;

beforeAll(async () => {
  sim = new Simulation({ seed: 505 });
  nodes = await sim.grow(60);
  bob = await createIdentity(new SeededRandom(506));
}, 120_000);
afterAll(() => sim.close());

async function send(from: SimNode, text: string, sentAt: number): Promise<{ envelope: EnvelopeWire; holders: number }> {
  const envelope = await sim.until(
    createEnvelope(from.identity, 'alice', { nodeId: bob.nodeId, agreementKey: bob.agreementPublic }, text, sentAt, new SeededRandom(sentAt), sim.ops),
  );
  const [res] = await sim.until(from.node.routeFromHere('MAILBOX_STORE', { envelope, copies: 7 }, bob.nodeId, 1, { leave: true }));
  return { envelope, holders: res?.holders ?? 0 };
}

/** A recipient asks the nodes closest to its own id, never itself, over 2 disjoint paths. */
const AWAY = { leave: true, avoidSelf: true };

async function fetchAll(recipient: SimNode, fetch: Awaited<ReturnType<typeof signFetch>>): Promise<{ entries: EnvelopeWire[] }> {
  const replies = await sim.until(recipient.node.routeFromHere('MAILBOX_FETCH', fetch, bob.nodeId, 2, AWAY));
  const byId = new Map<string, EnvelopeWire>();
  for (const r of replies) for (const e of r.entries) byId.set(e.id, e);
  return { entries: [...byId.values()].sort((a, b) => a.sentAt - b.sentAt) };
}

function holdersOf(id: string): string[] {
  return [...sim.live.values()].filter((s) => s.mailbox.holds(id)).map((s) => s.node.hex);
}

describe('mailboxes in a simulated network', () => {
  it('a store for an offline recipient is committed by at least 3 of the 8 nodes closest to it', async () => {
    const { envelope, holders } = await send(nodes[3]!, 'are you there?', sim.clock.now());
    expect(holders).toBeGreaterThanOrEqual(3);
    const closest = sim.closestLive(bob.nodeId, 8);
    const held = holdersOf(envelope.id);
    expect(held.length).toBe(holders);
    for (const h of held) expect(closest).toContain(h);
  });

  it('the returning recipient fetches its messages in sent order, opens them, and its tombstones delete them', async () => {
    const t0 = sim.clock.now();
    const sent: EnvelopeWire[] = [];
    for (let i = 0; i < 3; i++) sent.push((await send(nodes[10 + i]!, `message ${i}`, t0 + 1000 * i)).envelope);
    const bobNode = await sim.spawn(bob);
    await sim.run(60_000);
    const fetch = await sim.until(signFetch(bob, sim.clock.now(), sim.ops));
    const res = await fetchAll(bobNode, fetch);
    const got = res.entries.filter((e) => sent.some((s) => s.id === e.id));
    expect(got.map((e) => e.id)).toEqual(sent.map((s) => s.id));
    const texts: string[] = [];
    for (const e of got) {
      const opened = await sim.until(openEnvelope(bob, e, sim.clock.now(), sim.ops));
      texts.push(opened.ok && opened.message.content.kind === 'text' ? opened.message.content.text : String(!opened.ok && opened.reason));
    }
    expect(texts).toEqual(['message 0', 'message 1', 'message 2']);

    const tombstones: TombstoneWire[] = [];
    for (const e of res.entries) tombstones.push(await sim.until(signStatement('tombstone', bob, e.id, sim.clock.now(), sim.ops)));
    const acks = await sim.until(
      bobNode.node.routeFromHere('MAILBOX_ACK', { key: fetch.key, tombstones }, bob.nodeId, 2, AWAY),
    );
    expect(acks.map((a) => a.accepted)).toContain(tombstones.length);
    const again = await sim.until(signFetch(bob, sim.clock.now(), sim.ops));
    expect((await fetchAll(bobNode, again)).entries).toEqual([]);
    // The tombstones reach the other holders among the closest, not only those the ack was
    // routed to. (A holder that stopped being one of the closest keeps its copy until expiry;
    // it can only hand it to nodes that hold the tombstone.)
    await sim.run(15 * 60_000);
    const closest = sim.closestLive(bob.nodeId, 8);
    for (const s of sent) expect(holdersOf(s.id).filter((h) => closest.includes(h))).toEqual([]);
    // Storing a fetched message again is a no-op at a holder that has its tombstone.
    const [restored] = await sim.until(nodes[10]!.node.routeFromHere('MAILBOX_STORE', { envelope: sent[0]!, copies: 7 }, bob.nodeId, 1, { leave: true }));
    expect(restored!.stored).toBe(true);
    expect((await fetchAll(bobNode, await sim.until(signFetch(bob, sim.clock.now(), sim.ops)))).entries).toEqual([]);
    sim.leave(bobNode);
  });

  it('refuses a fetch not signed by the mailbox owner, and tombstones signed by anyone else', async () => {
    const { envelope } = await send(nodes[20]!, 'for bob only', sim.clock.now());
    const eve = await createIdentity(new SeededRandom(507));
    const forged = { ...(await sim.until(signFetch(eve, sim.clock.now(), sim.ops))), owner: idToHex(bob.nodeId) };
    const replies = await sim.until(nodes[21]!.node.routeFromHere('MAILBOX_FETCH', forged, bob.nodeId, 1, { leave: true }));
    expect(replies).toEqual([]);
    expect([...sim.live.values()].reduce((n, s) => n + s.node.stats.get('mailbox-refused-bad-fetch'), 0)).toBeGreaterThan(0);

    const fake = await sim.until(signStatement('tombstone', eve, envelope.id, sim.clock.now(), sim.ops));
    const [ack] = await sim.until(
      nodes[21]!.node.routeFromHere('MAILBOX_ACK', { key: forged.key, tombstones: [{ ...fake, to: idToHex(bob.nodeId) }] }, bob.nodeId, 1, { leave: true }),
    );
    expect(ack!.accepted).toBe(0);
    expect(holdersOf(envelope.id).length).toBeGreaterThanOrEqual(3);
  });

  it('entries outlive their holders: when holders leave, the new closest nodes get copies', async () => {
    const { envelope } = await send(nodes[30]!, 'still here?', sim.clock.now());
    const first = holdersOf(envelope.id);
    expect(first.length).toBeGreaterThanOrEqual(3);
    for (const hex of first.slice(0, first.length - 1)) sim.leave(sim.live.get(hex)!);
    await sim.run(15 * 60_000);
    const closest = sim.closestLive(bob.nodeId, 8);
    const now = holdersOf(envelope.id);
    expect(now.filter((h) => closest.includes(h)).length).toBeGreaterThanOrEqual(3);
  });

  it('a holder that comes back still holds what it held, from its own storage', async () => {
    const { envelope } = await send(nodes[40]!, 'kept on disk', sim.clock.now());
    // Every holder leaves, so no other node can hand the entry back: only its storage can.
    const holders = holdersOf(envelope.id).map((hex) => sim.live.get(hex)!);
    for (const h of holders) sim.leave(h);
    await sim.run(60_000);
    const back = await sim.spawn(holders[0]!.identity);
    await sim.run(60_000);
    expect(back.mailbox.holds(envelope.id)).toBe(true);
  });

  it('a holder keeps at most 200 entries per sender per recipient, and still takes other senders', async () => {
    const carol = await createIdentity(new SeededRandom(508));
    const to = { nodeId: carol.nodeId, agreementKey: carol.agreementPublic };
    const store = async (from: SimNode, i: number) => {
      const envelope = await sim.until(createEnvelope(from.identity, 'alice', to, `#${i}`, sim.clock.now(), new SeededRandom(9000 + i), sim.ops));
      return sim.until(from.node.routeFromHere('MAILBOX_STORE', { envelope, copies: 0 }, carol.nodeId, 1, { leave: true }));
    };
    // Two senders still online (earlier tests sent some nodes away).
    const [alice, dave] = [...sim.live.values()];
    for (let i = 0; i < MAILBOX_PER_SENDER; i++) expect((await store(alice!, i))[0]?.stored).toBe(true);
    expect(await store(alice!, MAILBOX_PER_SENDER)).toEqual([]);
    expect([...sim.live.values()].reduce((n, s) => n + s.node.stats.get('mailbox-refused-sender-quota'), 0)).toBe(1);
    expect((await store(dave!, MAILBOX_PER_SENDER + 1))[0]?.stored).toBe(true);
  });
});
