/**
 * Issue 14, items 5 and 6, as attacks on holders (holder-net.ts: real MailboxServices, the
 * wire's schemas, no transport): a flood of junk stores from one neighbour, junk for recipients
 * the holder is not close to, forged and foreign tombstones, and a corrupted copy stored first.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { MAILBOX_CLOSENESS_SLACK, MAILBOX_PER_NEIGHBOUR_BYTES, MAILBOX_PER_RECIPIENT_BYTES, PUSH_BURST, PUSHES_IN_FLIGHT_PER_NEIGHBOUR } from '../chat/constants.ts';
import { tallyAcks } from '../chat/holder-acks.ts';
import { inNearSubtree } from '../chat/holder-search.ts';
import { createEnvelope, envelopeHash, signTombstone } from '../chat/messages.ts';
import { MAX_CIPHERTEXT_BYTES, MAX_TOMBSTONES_PER_ACK, type EnvelopeWire, type TombstoneWire } from '../chat/wire.ts';
import { REPLICATION } from '../dht/constants.ts';
import { parseFrame, type Method } from '../dht/protocol.ts';
import type { Peer } from '../dht/context.ts';
import { closestSet } from '../dht/router.ts';
import { createIdentity, type Identity } from '../lib/crypto.ts';
import { toBase64Url } from '../lib/encoding.ts';
import { compareDistance, idFromHex, idToHex, nodeIdFromSigningKey, type NodeId } from '../lib/id.ts';
import { SeededRandom } from '../lib/random.ts';
import { HolderNet, HolderNode } from './holder-net.ts';

const NEAR = REPLICATION + MAILBOX_CLOSENESS_SLACK;

let net: HolderNet;
let victim: HolderNode;
let attacker: HolderNode;
let honest: HolderNode;
let random: SeededRandom;

beforeEach(async () => {
  net = await HolderNet.create(24, 14);
  const all = [...net.nodes.values()];
  victim = all[0]!;
  // The attacker is the victim's nearest neighbour: they hold for many of the same recipients.
  [attacker, honest] = all.slice(1).sort((a, b) => compareDistance(victim.id, a.id, b.id)) as [HolderNode, HolderNode];
  random = new SeededRandom(99);
});

/** Whether `node` is among the r + slack nodes closest to `to` (the recipient aside). */
function isNear(node: HolderNode, to: NodeId): boolean {
  const all = [...net.nodes.values()].map((n) => ({ id: n.id, hex: n.hex }));
  return closestSet(to, all[0]!, all, NEAR + 1).filter((n) => n.hex !== idToHex(to)).slice(0, NEAR).some((n) => n.hex === node.hex);
}

/** An id next to the victim's: the victim is the closest node to it. */
function idNearVictim(): NodeId {
  const id = victim.id.slice();
  id[18] = random.int(256);
  id[19] = random.int(256) | 1;
  return id;
}

function idFarFromVictim(): NodeId {
  for (;;) {
    const id = random.bytes(20);
    if (!isNear(victim, id)) return id;
  }
}

/** Random base64url of the largest ciphertext, made once: each junk envelope varies its start. */
let filler = '';

/** Junk that fits the schema, as an attacker makes it: no key, no crypto. */
function junk(to: NodeId, ctBytes = MAX_CIPHERTEXT_BYTES): EnvelopeWire {
  const b64 = (n: number) => toBase64Url(random.bytes(n));
  if (filler.length === 0) filler = b64(MAX_CIPHERTEXT_BYTES);
  const ct = (b64(48) + filler).slice(0, Math.ceil((ctBytes * 4) / 3) & ~3);
  return { v: 2, id: idToHex(random.bytes(16)), to: idToHex(to), epk: b64(32), nonce: b64(12), ct };
}

async function store(from: HolderNode, to: HolderNode, envelope: EnvelopeWire) {
  return net.deliver(from, to.hex, 'MAILBOX_STORE', { envelope, copies: 0 }, false).then((r) => r, (e: Error) => e);
}

/** Lets the handlers' async steps (pushes, acks, paced copies) run: a few macrotasks. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 5));
}

/** Counts the `method` requests `from` sends `to`, from now on. */
function requestsFrom(from: HolderNode, to: string, method: Method): { count: number } {
  const seen = { count: 0 };
  const deliver = net.deliver.bind(net);
  net.deliver = (async (f, dest, m, body, routed) => {
    if (f === from && dest === to && m === method) seen.count++;
    return deliver(f, dest, m, body, routed);
  }) as typeof net.deliver;
  return seen;
}

async function honestEnvelope(to: NodeId, text = 'hi', sentAt = net.clock.now()): Promise<EnvelopeWire> {
  const sender = await createIdentity(new SeededRandom(5));
  const recipient = await createIdentity(new SeededRandom(6));
  return createEnvelope(sender, 'alice', { nodeId: to, agreementKey: recipient.agreementPublic }, text, sentAt, random, victim.ops);
}

/** An identity whose id has both `a` and `b` among its r + slack closest (a few draws in 24 nodes). */
async function identityNear(a: HolderNode, b: HolderNode, seed = 31): Promise<Identity> {
  const r = new SeededRandom(seed);
  for (;;) {
    const id = await createIdentity(r);
    if (isNear(a, id.nodeId) && isNear(b, id.nodeId)) return id;
  }
}

describe('holders accept only what they are close to, by envelope hash, within quotas', () => {
  it('a holder accepts an entry only when it is among the r + 2 closest to the recipient: far junk is refused before it is hashed or stored', async () => {
    for (let i = 0; i < 500; i++) expect(await store(attacker, victim, junk(idFarFromVictim(), 64))).toBeInstanceOf(Error);
    expect(victim.stats.get('mailbox-refused-not-close')).toBe(500);
    expect(victim.mailbox.size).toBe(0);
    expect(await victim.store.entries('mailbox')).toEqual([]);
    expect(victim.ops.verifies).toBe(0);
  });

  it('quotas per neighbour and recipient evict rather than refuse: after 3,000 junk stores from one neighbour an honest message to another recipient is still stored', async () => {
    const recipients = Array.from({ length: 30 }, idNearVictim);
    for (let i = 0; i < 3_000; i++) {
      const res = await store(attacker, victim, junk(recipients[i % recipients.length]!));
      expect(res).not.toBeInstanceOf(Error);
    }
    // 3,000 of ~22 KB is 64 MiB: the attacker keeps a quarter of the holder, its own oldest go.
    expect(victim.mailbox.heldBytes(attacker.hex)).toBeLessThanOrEqual(MAILBOX_PER_NEIGHBOUR_BYTES);
    expect(victim.mailbox.heldBytes(attacker.hex)).toBeGreaterThan(MAILBOX_PER_NEIGHBOUR_BYTES * 0.9);
    expect(victim.stats.get('mailbox-evicted')).toBeGreaterThan(2_000);
    expect(victim.stats.get('mailbox-refused-holder-full')).toBe(0);

    const bob = idNearVictim();
    const e = await honestEnvelope(bob);
    const res = await store(honest, victim, e);
    if (res instanceof Error) throw res;
    expect(res.stored).toBe(true);
    expect(victim.mailbox.holdsHash(envelopeHash(e))).toBe(true);
    // The ack is the victim's own, signed: a sender can count it.
    const tally = await tallyAcks(res.acks, envelopeHash(e), e.to, null, honest.ops);
    expect([...tally.holders]).toEqual([victim.hex]);
  });

  it('a neighbour owed 100 copies gets at most PUSHES_IN_FLIGHT_PER_NEIGHBOUR at once, paced past the burst, and all of them', async () => {
    const recipients = Array.from({ length: 10 }, idNearVictim);
    for (let i = 0; i < 100; i++) await store(attacker, victim, junk(recipients[i % recipients.length]!, 256));
    let inFlight = 0;
    let most = 0;
    const deliver = net.deliver.bind(net);
    net.deliver = (async (from, to, method, body, routed) => {
      if (from !== victim || to !== honest.hex) return deliver(from, to, method, body, routed);
      most = Math.max(most, ++inFlight);
      try {
        return await deliver(from, to, method, body, routed);
      } finally {
        inFlight--;
      }
    }) as typeof net.deliver;
    const copied = victim.stats.get('mailbox-copied');
    victim.mailbox.onNeighbour(honest.asPeer);
    // The burst goes at once; the rest as the bucket refills (10/s on the fake clock).
    await settle();
    expect(victim.stats.get('mailbox-copied')).toBe(copied + PUSH_BURST);
    for (let i = 0; i < 100 && victim.stats.get('mailbox-copied') < copied + 100; i++) {
      net.clock.advance(200);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(victim.stats.get('mailbox-copied')).toBe(copied + 100);
    expect(most).toBe(PUSHES_IN_FLIGHT_PER_NEIGHBOUR);
  });

  it('a neighbour that refused a copy as not close is not asked again at the next recheck', async () => {
    const to = idNearVictim();
    await store(attacker, victim, junk(to, 256));
    // Tables differ during churn: the victim counts the node farthest from `to` among its closest.
    const far = [...net.nodes.values()].filter((n) => n !== victim).sort((a, b) => compareDistance(to, b.id, a.id))[0]!;
    const closestTo = victim.closestTo.bind(victim);
    victim.closestTo = (key, r) => [...closestTo(key, r).slice(0, -1), { id: far.id, hex: far.hex }];
    const asked = requestsFrom(victim, far.hex, 'MAILBOX_STORE');
    for (let round = 0; round < 3; round++) {
      await victim.mailbox.recheck();
      await settle();
    }
    expect(far.stats.get('mailbox-refused-not-close')).toBe(1);
    expect(asked.count).toBe(1);
  });

  it('a recipient’s quota, filled by one neighbour, makes room for another neighbour’s honest message by evicting the flooder’s oldest', async () => {
    const bob = idNearVictim();
    const first = junk(bob);
    await store(attacker, victim, first);
    for (let i = 0; i < 300; i++) await store(attacker, victim, junk(bob));
    expect(victim.mailbox.heldBytes()).toBeLessThanOrEqual(MAILBOX_PER_RECIPIENT_BYTES);
    expect(victim.mailbox.holdsHash(envelopeHash(first))).toBe(false);
    const e = await honestEnvelope(bob);
    expect(await store(honest, victim, e)).toMatchObject({ stored: true });
    expect(victim.mailbox.holdsHash(envelopeHash(e))).toBe(true);
    expect(victim.mailbox.heldBytes(honest.hex)).toBeGreaterThan(0);
  });

  it('entries are keyed by envelope hash: a corrupted copy stored first does not block the honest one, and its tombstone deletes only itself', async () => {
    const recipient = await identityNear(victim, attacker);
    const e = await honestEnvelope(recipient.nodeId);
    const corrupted = { ...e, ct: e.ct.slice(0, -2) + (e.ct.endsWith('AA') ? 'BA' : 'AA') };
    expect(await store(attacker, victim, corrupted)).toMatchObject({ stored: true });
    expect(await store(honest, victim, e)).toMatchObject({ stored: true });
    expect(victim.mailbox.holdsHash(envelopeHash(corrupted))).toBe(true);
    expect(victim.mailbox.holdsHash(envelopeHash(e))).toBe(true);
    const t = await signTombstone(recipient, envelopeHash(corrupted), net.clock.now(), honest.ops);
    const res = await net.deliver(honest, victim.hex, 'MAILBOX_ACK', { key: toBase64Url(recipient.signingPublic), n: recipient.idNonce, tombstones: [t] }, false);
    expect(res.accepted).toBe(1);
    expect(victim.mailbox.holdsHash(envelopeHash(corrupted))).toBe(false);
    expect(victim.mailbox.holdsHash(envelopeHash(e))).toBe(true);
  });
});

describe('tombstones count only for held entries of the recipient that signed them', () => {
  it('a MAILBOX_ACK of 256 unsigned tombstones for entries the holder does not hold costs no signature check', async () => {
    const stranger = await createIdentity(new SeededRandom(41));
    const key = toBase64Url(stranger.signingPublic);
    const to = idToHex(stranger.nodeId);
    const forged = (): TombstoneWire => ({ h: toBase64Url(random.bytes(32)), to, at: net.clock.now(), sig: toBase64Url(random.bytes(64)) });
    const tombstones = Array.from({ length: MAX_TOMBSTONES_PER_ACK }, forged);
    // From a neighbour that is not a fellow holder of that recipient, direct and routed.
    const outsider = [...net.nodes.values()].find((n) => n !== victim && !isNear(n, stranger.nodeId))!;
    for (const routed of [false, true]) {
      const res = await net.deliver(outsider, victim.hex, 'MAILBOX_ACK', { key, n: stranger.idNonce, tombstones }, routed);
      expect(res.accepted).toBe(0);
    }
    expect(victim.ops.verifies).toBe(0);
    expect(victim.stats.get('mailbox-drop-tombstone-not-held')).toBe(2 * MAX_TOMBSTONES_PER_ACK);
    expect(victim.mailbox.tombstoneCount).toBe(0);
  });

  it('from a fellow holder, the first bad signature ends the ack: one check, not 256', async () => {
    const recipient = await identityNear(victim, attacker);
    const to = idToHex(recipient.nodeId);
    const forged = (): TombstoneWire => ({ h: toBase64Url(random.bytes(32)), to, at: net.clock.now(), sig: toBase64Url(random.bytes(64)) });
    const res = await net.deliver(attacker, victim.hex, 'MAILBOX_ACK', { key: toBase64Url(recipient.signingPublic), n: recipient.idNonce, tombstones: Array.from({ length: MAX_TOMBSTONES_PER_ACK }, forged) }, false);
    expect(res.accepted).toBe(0);
    expect(victim.ops.verifies).toBe(1);
    expect(victim.stats.get('mailbox-drop-bad-tombstone')).toBe(1);
  });

  it('a tombstone signed for another recipient neither deletes nor, sent first, suppresses an honest entry with that hash', async () => {
    const bob = await identityNear(victim, attacker);
    const eve = await identityNear(victim, attacker, 32);
    const e = await honestEnvelope(bob.nodeId);
    const h = envelopeHash(e);
    // Eve signs a tombstone for bob's envelope in her own name, and one naming bob.
    const own = await signTombstone(eve, h, net.clock.now(), attacker.ops);
    const naming = { ...own, to: idToHex(bob.nodeId) };
    const eveKey = toBase64Url(eve.signingPublic);
    // Sent first, by a fellow holder: eve's own is kept (her id is near), and names eve.
    await net.deliver(attacker, victim.hex, 'MAILBOX_ACK', { key: eveKey, n: eve.idNonce, tombstones: [own, naming] }, false);
    expect(victim.mailbox.hasTombstone(h)).toBe(true);
    const res = await store(honest, victim, e);
    if (res instanceof Error) throw res;
    expect(res.stored).toBe(true);
    expect(res.ack).toBeUndefined();
    expect(victim.mailbox.holdsHash(h)).toBe(true);
    expect(victim.mailbox.hasTombstone(h)).toBe(false);
    // Sent after: neither deletes it, and neither costs a signature check.
    const before = victim.ops.verifies;
    const again = await net.deliver(attacker, victim.hex, 'MAILBOX_ACK', { key: eveKey, n: eve.idNonce, tombstones: [own, naming] }, false);
    expect(again.accepted).toBe(0);
    expect(victim.ops.verifies).toBe(before);
    expect(victim.mailbox.holdsHash(h)).toBe(true);
    // Bob's own deletes it.
    const real = await signTombstone(bob, h, net.clock.now(), honest.ops);
    expect((await net.deliver(honest, victim.hex, 'MAILBOX_ACK', { key: toBase64Url(bob.signingPublic), n: bob.idNonce, tombstones: [real] }, false)).accepted).toBe(1);
    expect(victim.mailbox.holdsHash(h)).toBe(false);
    expect(idFromHex(real.to)).toEqual(nodeIdFromSigningKey(bob.signingPublic, bob.idNonce));
  });
});

describe('only a holder whose table is complete around a recipient hands it mail', () => {
  it('a holder that counts itself among the r closest only because its table is thin there (the recipient outside its near subtree) does not push; with its table complete there, it does', async () => {
    // The recipient is a node of the net, with the victim among its r closest by the full view.
    let seed = 60;
    let recipient = await createIdentity(new SeededRandom(seed));
    const closest = (id: NodeId) => [...net.nodes.values()].sort((a, b) => compareDistance(id, a.id, b.id)).slice(0, REPLICATION);
    while (!closest(recipient.nodeId).includes(victim)) recipient = await createIdentity(new SeededRandom(++seed));
    const e = await honestEnvelope(recipient.nodeId);
    expect(await store(honest, victim, e)).toMatchObject({ stored: true });
    const bob = new HolderNode(net, recipient);
    const pushes = requestsFrom(victim, bob.hex, 'DELIVER');

    // A holder far from bob that kept an old copy: its channels are its own neighbourhood (ids
    // next to its own) and bob, one channel in a far bucket. By that table it is among bob's r
    // closest, as any node with one channel into a far bucket is.
    const fullView = victim.neighbours.bind(victim);
    const ownNeighbourhood = Array.from({ length: REPLICATION }, () => {
      const id = idNearVictim();
      return { id, hex: idToHex(id) } as Peer;
    });
    victim.neighbours = () => [...ownNeighbourhood, bob.asPeer];
    expect(victim.closestTo(bob.id).map((n) => n.hex)).toContain(victim.hex);
    expect(inNearSubtree(victim.id, victim.neighbours(), REPLICATION)(bob.id)).toBe(false);
    victim.mailbox.onNeighbour(bob.asPeer);
    await settle();
    expect(pushes.count).toBe(0);
    expect(victim.mailbox.holdsHash(envelopeHash(e))).toBe(true);

    // The same holder with its whole table: bob lies in its near subtree, and gets the copy.
    victim.neighbours = fullView;
    expect(inNearSubtree(victim.id, victim.neighbours(), REPLICATION)(bob.id)).toBe(true);
    victim.mailbox.onNeighbour(bob.asPeer);
    await settle();
    expect(pushes.count).toBe(1);
  });
});

describe('what a holder sees and keeps', () => {
  it('a holder’s stored entry holds no sender id, key, name or time: only the recipient, a random id, the seal and its size', async () => {
    const sender = await createIdentity(new SeededRandom(5));
    const sentAt = net.clock.now() - 12_345;
    const e = await honestEnvelope(idNearVictim(), 'hi', sentAt);
    expect(await store(honest, victim, e)).toMatchObject({ stored: true });
    const rows = await victim.store.entries<{ envelope: object }>('mailbox');
    expect(rows).toHaveLength(1);
    const [key, row] = rows[0]!;
    expect(key).toBe(envelopeHash(e));
    expect(Object.keys(row.envelope).sort()).toEqual(['ct', 'epk', 'id', 'nonce', 'to', 'v']);
    // What the holder wrote to disk, byte for byte: no trace of who sent it, or when.
    const bytes = JSON.stringify(row);
    for (const secret of [idToHex(sender.nodeId), toBase64Url(sender.signingPublic), toBase64Url(sender.agreementPublic), 'alice', String(sentAt)]) {
      expect(bytes).not.toContain(secret);
    }
  });

  it('drops entries of the first envelope format (sender in the clear) and bad rows with a counted reason, and keeps current ones', async () => {
    const e = await honestEnvelope(idNearVictim());
    const now = net.clock.now();
    const b64 = (n: number) => toBase64Url(random.bytes(n));
    const old = { id: e.id, from: idToHex(random.bytes(20)), to: e.to, sentAt: now, epk: e.epk, nonce: e.nonce, ct: e.ct, sig: b64(64) };
    await victim.store.put('mailbox', envelopeHash(e), { envelope: e, receivedAt: now });
    await victim.store.put('mailbox', old.id, { envelope: old, receivedAt: now });
    await victim.store.put('mailbox', 'old-under-another-key', { envelope: old, receivedAt: now, from: attacker.hex });
    await victim.store.put('mailbox', 'junk', { envelope: { ...e, to: 'nope' }, receivedAt: now });
    await victim.store.put('mailbox', 'not-its-hash', { envelope: e, receivedAt: now });
    await victim.store.put('mailbox', 'x', 42);
    await victim.store.put('tombstones', e.id, { tombstone: { id: e.id, to: e.to, at: now, sig: 'A' }, key: 'k', receivedAt: now });
    await expect(victim.mailbox.load()).resolves.toBeUndefined();
    expect(victim.mailbox.holdsHash(envelopeHash(e))).toBe(true);
    expect(victim.mailbox.size).toBe(1);
    expect(victim.mailbox.heldBytes('disk')).toBeGreaterThan(0);
    expect(victim.stats.get('mailbox-dropped-old-format')).toBe(2);
    expect(victim.stats.get('mailbox-dropped-from-disk')).toBe(3);
    expect(victim.stats.get('mailbox-tombstone-dropped-from-disk')).toBe(1);
    expect((await victim.store.entries('mailbox')).map(([k]) => k)).toEqual([envelopeHash(e)]);
    expect(await victim.store.entries('tombstones')).toEqual([]);
  });

  it('an old-format envelope from the network is refused before any handler, counted as old-version', async () => {
    const e = await honestEnvelope(idNearVictim());
    const old = { id: e.id, from: honest.hex, to: e.to, sentAt: net.clock.now(), epk: e.epk, nonce: e.nonce, ct: e.ct, sig: toBase64Url(random.bytes(64)) };
    const frame = JSON.stringify({ t: 'req', id: 1, m: 'MAILBOX_STORE', b: { envelope: old, copies: 0 } });
    expect(parseFrame(frame)).toEqual({ ok: false, reason: 'old-version', id: 1 });
    expect(parseFrame(JSON.stringify({ t: 'req', id: 2, m: 'DELIVER', b: { envelope: old } }))).toEqual({ ok: false, reason: 'old-version', id: 2 });
  });
});
