/**
 * Offline delivery's holder side in a simulated network: a store routed to an offline
 * recipient's id is committed by the nodes closest to it, the returning recipient proves it owns
 * the mailbox and gets its messages in sent order, and its tombstones delete them for good.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdentity, type Identity } from '../lib/crypto.ts';
import { idFromHex, idToHex } from '../lib/id.ts';
import { createEnvelope, envelopeHash, FETCH_FRESH_MS, openEnvelope, signFetch, signTombstone } from '../chat/messages.ts';
import { tallyAcks } from '../chat/holder-acks.ts';
import type { EnvelopeWire, TombstoneWire } from '../chat/wire.ts';
import { SeededRandom } from '../lib/random.ts';
import { toBase64Url } from '../lib/encoding.ts';
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
  const tally = await sim.until(tallyAcks(res?.acks ?? [], envelopeHash(envelope), envelope.to, null, sim.ops));
  return { envelope, holders: tally.holders.size };
}

/** A recipient asks the nodes closest to its own id, never itself, over 2 disjoint paths. */
const AWAY = { leave: true, avoidSelf: true };

/** Asks each of the 10 nodes closest to bob (routed to its id) with a fetch signed for it. */
async function fetchAll(recipient: SimNode): Promise<{ entries: EnvelopeWire[] }> {
  const byId = new Map<string, EnvelopeWire>();
  for (const hex of sim.closestLive(bob.nodeId, 11).filter((h) => h !== recipient.node.hex).slice(0, 10)) {
    const fetch = await sim.until(signFetch(bob, hex, sim.clock.now(), sim.random.fork(), sim.ops));
    const replies = await sim.until(recipient.node.routeFromHere('MAILBOX_FETCH', fetch, idFromHex(hex)!, 1, AWAY));
    for (const r of replies) for (const e of r.entries) byId.set(e.id, e);
  }
  return { entries: [...byId.values()] };
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

  it('the returning recipient fetches its messages, opens them (in sent order by the sealed-in clock), and its tombstones delete them', async () => {
    const t0 = sim.clock.now();
    const sent: EnvelopeWire[] = [];
    for (let i = 0; i < 3; i++) sent.push((await send(nodes[10 + i]!, `message ${i}`, t0 + 1000 * i)).envelope);
    const bobNode = await sim.spawn(bob);
    await sim.run(60_000);
    const res = await fetchAll(bobNode);
    const got = res.entries.filter((e) => sent.some((s) => s.id === e.id));
    expect(got.map((e) => e.id).sort()).toEqual(sent.map((s) => s.id).sort());
    const opened: [number, string][] = [];
    for (const e of got) {
      const o = await sim.until(openEnvelope(bob, e, sim.clock.now(), sim.ops));
      opened.push(o.ok && o.message.content.kind === 'text' ? [o.message.sentAt, o.message.content.text] : [0, String(!o.ok && o.reason)]);
    }
    expect(opened.sort((a, b) => a[0] - b[0]).map(([, text]) => text)).toEqual(['message 0', 'message 1', 'message 2']);

    const tombstones: TombstoneWire[] = [];
    for (const e of res.entries) tombstones.push(await sim.until(signTombstone(bob, envelopeHash(e), sim.clock.now(), sim.ops)));
    const acks = await sim.until(
      bobNode.node.routeFromHere('MAILBOX_ACK', { key: toBase64Url(bob.signingPublic), n: bob.idNonce, tombstones }, bob.nodeId, 2, AWAY),
    );
    expect(acks.map((a) => a.accepted)).toContain(tombstones.length);
    // The holders that took the routed ack hand the tombstones on to their fellow holders.
    await sim.run(60_000);
    expect((await fetchAll(bobNode)).entries).toEqual([]);
    // The tombstones reach the other holders among the closest, not only those the ack was
    // routed to. (A holder that stopped being one of the closest keeps its copy until expiry;
    // it can only hand it to nodes that hold the tombstone.)
    await sim.run(15 * 60_000);
    const closest = sim.closestLive(bob.nodeId, 8);
    for (const s of sent) expect(holdersOf(s.id).filter((h) => closest.includes(h))).toEqual([]);
    // Storing a fetched message again is a no-op at a holder that has its tombstone.
    const [restored] = await sim.until(nodes[10]!.node.routeFromHere('MAILBOX_STORE', { envelope: sent[0]!, copies: 7 }, bob.nodeId, 1, { leave: true, avoid: bobNode.node.hex }));
    expect(restored!.stored).toBe(true);
    expect((await fetchAll(bobNode)).entries).toEqual([]);
    sim.leave(bobNode);
  });

  it('refuses a fetch not signed by the mailbox owner, and tombstones signed by anyone else', async () => {
    const { envelope } = await send(nodes[20]!, 'for bob only', sim.clock.now());
    const eve = await createIdentity(new SeededRandom(507));
    const holder = holdersOf(envelope.id)[0]!;
    const forged = { ...(await sim.until(signFetch(eve, holder, sim.clock.now(), sim.random.fork(), sim.ops))), owner: idToHex(bob.nodeId) };
    const replies = await sim.until(nodes[21]!.node.routeFromHere('MAILBOX_FETCH', forged, idFromHex(holder)!, 1, { leave: true }));
    expect(replies).toEqual([]);
    expect(sim.live.get(holder)!.node.stats.get('mailbox-refused-bad-fetch')).toBeGreaterThan(0);

    const fake = await sim.until(signTombstone(eve, envelopeHash(envelope), sim.clock.now(), sim.ops));
    const [ack] = await sim.until(
      nodes[21]!.node.routeFromHere('MAILBOX_ACK', { key: forged.key, n: forged.n, tombstones: [{ ...fake, to: idToHex(bob.nodeId) }] }, bob.nodeId, 1, { leave: true }),
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

  it('a captured MAILBOX_FETCH is useless at another holder and later', async () => {
    const { envelope } = await send(nodes[45]!, 'for bob, fetched once', sim.clock.now());
    const [first, second] = holdersOf(envelope.id);
    const eve = [...sim.live.values()].find((s) => s.node.hex !== first && s.node.hex !== second)!;
    // Bob signs a fetch for the first holder; eve captures it on its way.
    const captured = await sim.until(signFetch(bob, first!, sim.clock.now(), sim.random.fork(), sim.ops));
    const ask = (hex: string, body: typeof captured) => sim.until(eve.node.routeFromHere('MAILBOX_FETCH', body, idFromHex(hex)!, 1, { leave: true }));
    const refusals = (hex: string, reason: string) => sim.live.get(hex)!.node.stats.get(`mailbox-refused-${reason}`);
    // At another holder: refused, before any signature check.
    expect(await ask(second!, captured)).toEqual([]);
    expect(refusals(second!, 'fetch-other-holder')).toBe(1);
    // At the holder it names, once (bob's own use), then never again.
    expect((await ask(first!, captured))[0]?.entries.map((e) => e.id)).toContain(envelope.id);
    expect(await ask(first!, captured)).toEqual([]);
    expect(refusals(first!, 'fetch-replayed')).toBe(1);
    // Later, even one never used: stale.
    const unused = await sim.until(signFetch(bob, first!, sim.clock.now(), sim.random.fork(), sim.ops));
    await sim.run(FETCH_FRESH_MS + 1_000);
    expect(await ask(first!, unused)).toEqual([]);
    expect(refusals(first!, 'fetch-stale')).toBe(1);
  });
});
