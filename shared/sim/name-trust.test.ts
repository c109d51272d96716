/**
 * Names against dishonest nodes (issue 14, "Names"; ARCHITECTURE.md, "Names"): a record cannot
 * take a name by what it claims about itself, a minority of lying holders cannot change what a
 * lookup resolves, and holders refuse the direct stores an attacker would fill them with.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chat } from '../chat/chat.ts';
import { signAnswer } from '../chat/answer-proofs.ts';
import { CONFIRM_BURST, CONFIRMS_PER_MIN, RecordService } from '../chat/record-service.ts';
import { MAX_NAMES_PER_KEY, NAME_CONTEST_WINDOW_MS, RECORD_REPUBLISH_MS, THIN_READ_WAIT_MS } from '../chat/constants.ts';
import { createRecord, recordKey, recordToWire, type UserRecord } from '../chat/records.ts';
import { createIdentity, type Identity } from '../lib/crypto.ts';
import { compareDistance, idFromHex, idToHex } from '../lib/id.ts';
import { SeededRandom } from '../lib/random.ts';
import { Simulation, type SimNode } from './simulation.ts';

let sim: Simulation;
let nodes: SimNode[];

beforeAll(async () => {
  sim = new Simulation({ seed: 1415 });
  nodes = await sim.grow(40);
}, 120_000);
afterAll(() => sim.close());

async function identity(seed: number): Promise<Identity> {
  return sim.until(sim.ops.track(createIdentity(new SeededRandom(seed))));
}

/** A tab with its own identity that joins and registers `name`. */
async function user(name: string, seed: number): Promise<{ node: SimNode; chat: Chat }> {
  const node = await sim.spawn(await identity(seed), { churn: false });
  await sim.until(node.started);
  const chat = await sim.until(Chat.register(node, node.identity, name));
  return { node, chat };
}

function forged(by: Identity, name: string, registeredAt: number, seq = 1): Promise<UserRecord> {
  return sim.until(createRecord(by, sim.ops, { name, registeredAt, seq, now: sim.clock.now() }));
}

/** A live node that is a neighbour of `target`, and the channel it has to it. */
function neighbourOf(target: SimNode): { from: SimNode; peer: NonNullable<ReturnType<SimNode['node']['peer']>> } {
  for (const p of target.node.neighbours()) {
    const from = sim.live.get(p.hex);
    const peer = from?.node.peer(target.node.hex);
    if (from && peer) return { from, peer };
  }
  throw new Error('no neighbour');
}

describe('names against dishonest nodes', () => {
  it('a looker with fewer than r channels in a larger network waits for r before it judges a name, and gives no verdict without them', async () => {
    const ivy = await user('ivy', 113);
    await sim.run(NAME_CONTEST_WINDOW_MS + 60_000);
    // An eclipsed node's view: 3 channels, where the network has 40 nodes (the bootstrap
    // service names 8 others at once). With that few it cannot judge who may hold a name.
    const thin = nodes[25]!;
    const whole = thin.node.neighbours.bind(thin.node);
    const few = whole().slice(0, 3);
    thin.node.neighbours = () => few;
    const before = sim.clock.now();
    await expect(sim.until(thin.records.resolve('ivy'))).rejects.toMatchObject({ code: 'NO_ROUTE', message: expect.stringMatching(/too few peers/) });
    expect(sim.clock.now() - before).toBeGreaterThanOrEqual(THIN_READ_WAIT_MS);
    expect(thin.node.stats.get('record-read-too-few-peers')).toBe(1);
    // Its channels back within the wait: it reads, and finds ivy.
    const reading = thin.records.resolve('ivy');
    await sim.run(THIN_READ_WAIT_MS / 2);
    thin.node.neighbours = whole;
    expect((await sim.until(reading))?.signingKey).toEqual(ivy.node.identity.signingPublic);
    expect(thin.node.stats.get('record-read-too-few-peers')).toBe(1);
  });

  it('a record claiming an earlier registration never displaces a name a holder already keeps', async () => {
    const alice = await user('alice', 101);
    const bob = await user('bob', 102);
    await sim.run(NAME_CONTEST_WINDOW_MS + 60_000);
    // The attack from issue 14: "alice", signed by another key, registered at time 0.
    const mallory = nodes[5]!;
    const result = await sim.until(mallory.records.publish(await forged(mallory.identity, 'alice', 0)));
    expect(result.status).toBe('taken');
    const key = recordKey('alice');
    for (const hex of sim.closestLive(key, 8)) {
      expect(sim.live.get(hex)!.records.get(idToHex(key))?.signingKey).toEqual(alice.node.identity.signingPublic);
    }
    expect(sim.closestLive(key, 8).some((hex) => (sim.live.get(hex)!.node.stats.get('record-kept-first-come') ?? 0) > 0)).toBe(true);
    const found = await sim.until(bob.chat.findUser('alice'));
    expect(found.nodeId).toBe(alice.node.node.hex);
    expect(found.warning).toBeUndefined();
    // Alice's hourly republish reads her name back as hers.
    await sim.run(RECORD_REPUBLISH_MS + 60_000);
    expect(alice.node.node.stats.get('chat-publish-failed-NO_ROUTE') ?? 0).toBe(0);
    expect(alice.chat.nameLost).toBe(false);
    expect((await sim.until(bob.chat.findUser('alice'))).nodeId).toBe(alice.node.node.hex);
  });

  it('a minority of lying holders cannot change what Find user resolves', async () => {
    const carol = await user('carol', 103);
    const bob = nodes[20]!;
    await sim.run(NAME_CONTEST_WINDOW_MS + 60_000);
    const key = recordKey('carol');
    const holders = sim.closestLive(key, 8).map((hex) => sim.live.get(hex)!);
    expect(holders).toHaveLength(8);
    // Three of the eight holders lie: each serves mallory's record for "carol" as its own.
    const mallory = await identity(666);
    const lie = recordToWire(await forged(mallory, 'carol', 0));
    // A liar answers as itself: it signs the lie when asked for a proof (answer-proofs.ts).
    const lieAt = (liar: SimNode) =>
      liar.node.handle('FIND_VALUE', async (b) => {
        const nodes = liar.node.closestContacts(key);
        return b.nonce === undefined ? { record: lie, nodes } : { record: lie, nodes, proof: await signAnswer(liar.node, b.key, b.nonce, lie, nodes) };
      });
    for (const liar of [holders[0]!, holders[3]!, holders[6]!]) lieAt(liar);
    for (const from of [bob, nodes[1]!, nodes[33]!]) {
      const found = await sim.until(from.records.resolve('carol'));
      expect(found?.signingKey).toEqual(carol.node.identity.signingPublic);
    }
    // Four of eight: no majority, and the user is told the name is not found, and why.
    lieAt(holders[1]!);
    await expect(sim.until(bob.records.resolve('carol'))).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/^User not found: .* disagree/) });
    // Five of eight are a majority: then the lookup follows them (a takeover needs that).
    lieAt(holders[2]!);
    const taken = await sim.until(bob.records.resolve('carol'));
    expect(taken?.signingKey).toEqual(mallory.signingPublic);
  });

  it('a node new to a name follows what most of its holders push, not a liar who pushes first', async () => {
    const dave = await user('dave', 104);
    await sim.run(NAME_CONTEST_WINDOW_MS + 60_000);
    const key = recordKey('dave');
    const keyHex = idToHex(key);
    // A liar among the holders serves mallory's record: only the count of pushes can keep the
    // newcomer on dave's, if the liar's push reaches it first.
    const mallory = await identity(900);
    const lie = await forged(mallory, 'dave', 0);
    const liar = sim.live.get(sim.closestLive(key, 8)[2]!)!;
    (liar.records as unknown as { held: Map<string, { record: UserRecord }> }).held.get(keyHex)!.record = lie;
    // A newcomer whose id is among the name's closest joins; holders push it what they keep.
    const eighth = sim.closestLive(key, 8)[7]!;
    let newcomer: Identity;
    for (let seed = 5000; ; seed++) {
      newcomer = await identity(seed);
      if (compareDistance(key, newcomer.nodeId, idFromHex(eighth)!) < 0) break;
    }
    const node = await sim.spawn(newcomer, { churn: false });
    await sim.until(node.started);
    await sim.run(NAME_CONTEST_WINDOW_MS);
    expect(node.records.get(keyHex)?.signingKey).toEqual(dave.node.identity.signingPublic);
  });

  it('a holder whose first record for a name came from a liar asks the other holders and follows them', async () => {
    const fay = await user('fay', 110);
    await sim.run(NAME_CONTEST_WINDOW_MS + 60_000);
    const key = recordKey('fay');
    const keyHex = idToHex(key);
    // One holder lacks the name (fay's STOREs were dropped on their way to it), and a liar next
    // to it gets its record there first.
    const holder = sim.live.get(sim.closestLive(key, 8)[3]!)!;
    (holder.records as unknown as { held: Map<string, unknown> }).held.delete(keyHex);
    const mallory = await identity(910);
    const { from, peer } = neighbourOf(holder);
    const stored = await sim.until(from.node.direct(peer, 'STORE', { record: recordToWire(await forged(mallory, 'fay', 0)) }));
    expect(stored.stored).toBe(true);
    // New to the name, it asks its neighbours among the name's closest; most keep fay's.
    await sim.run(5_000);
    expect(holder.node.stats.get('record-fellows-asked')).toBeGreaterThanOrEqual(5);
    expect(holder.records.get(keyHex)?.signingKey).toEqual(fay.node.identity.signingPublic);
  });

  it('a node new to a name reads it as a looker would and follows its holders, when none of its neighbours holds it', async () => {
    const hal = await user('hal', 112);
    await sim.run(NAME_CONTEST_WINDOW_MS + 60_000);
    const key = recordKey('hal');
    const keyHex = idToHex(key);
    // The 11th closest to the name, with its channels to the name's eight holders gone: by its
    // few channels it is one of the name's closest (the sparse node of the N = 1,000 runs), and
    // none of the neighbours it asks holds the name.
    const ranked = sim.closestLive(key, 11);
    const holders = new Set(ranked.slice(0, 8));
    const node = sim.live.get(ranked[10]!)!;
    (node.records as unknown as { held: Map<string, unknown> }).held.delete(keyHex);
    for (const p of node.node.neighbours()) if (holders.has(p.hex)) p.close();
    expect(node.node.neighbours().some((p) => holders.has(p.hex))).toBe(false);
    // A liar among its neighbours stores mallory's backdated record there first.
    const { from, peer } = neighbourOf(node);
    const stored = await sim.until(from.node.direct(peer, 'STORE', { record: recordToWire(await forged(await identity(920), 'hal', 0)) }));
    expect(stored.stored).toBe(true);
    await sim.run(15_000);
    expect(node.records.get(keyHex)?.signingKey).toEqual(hal.node.identity.signingPublic);
    expect(node.node.stats.get('record-followed-lookup')).toBe(1);
  });

  it(`names new to a holder cost it at most ${CONFIRM_BURST} reads at once and ${CONFIRMS_PER_MIN} a minute, one at a time; the rest are taken unread`, async () => {
    const holder = nodes[17]!;
    const names: string[] = [];
    for (let i = 0; names.length < CONFIRM_BURST + CONFIRMS_PER_MIN + 4; i++) {
      const name = `new_${i}`;
      if (sim.closestLive(recordKey(name), 1)[0] === holder.node.hex) names.push(name);
    }
    const { from, peer } = neighbourOf(holder);
    const reads = holder.node.stats.get('record-confirm-read') ?? 0;
    const skipped = holder.node.stats.get('record-confirm-skipped') ?? 0;
    // One key each (MAX_NAMES_PER_KEY would stop one key): an attacker with many keys.
    const results = await Promise.all(
      names.map(async (name, i) => {
        const record = recordToWire(await forged(await identity(400 + i), name, sim.clock.now()));
        return sim.until(from.node.direct(peer, 'STORE', { record })).then((r) => r.stored);
      }),
    );
    expect(results.every(Boolean)).toBe(true);
    // One at a time, each inside the names' contest window: the burst, and what the rate refills
    // meanwhile.
    await sim.run(NAME_CONTEST_WINDOW_MS);
    const read = (holder.node.stats.get('record-confirm-read') ?? 0) - reads;
    expect(read).toBeGreaterThanOrEqual(CONFIRM_BURST);
    expect(read).toBeLessThanOrEqual(CONFIRM_BURST + CONFIRMS_PER_MIN);
    expect((holder.node.stats.get('record-confirm-skipped') ?? 0) - skipped).toBe(names.length - read);
  });

  it('a holder that gets its first record for a name by a direct STORE hands it to the name’s other holders at once', async () => {
    const gus = await user('gus', 111);
    await sim.run(NAME_CONTEST_WINDOW_MS + 60_000);
    const key = recordKey('gus');
    const keyHex = idToHex(key);
    const closest = sim.closestLive(key, 8).map((hex) => sim.live.get(hex)!);
    // Two holders that are each other's neighbours lack the name (gus's STOREs never reached them).
    const [a, b] = closest.flatMap((x) => closest.filter((y) => y !== x && x.node.peer(y.node.hex) && x.node.closestTo(key).some((n) => n.hex === y.node.hex)).map((y) => [x, y] as const))[0]!;
    for (const h of [a, b]) (h.records as unknown as { held: Map<string, unknown> }).held.delete(keyHex);
    const record = closest.find((h) => h !== a && h !== b)!.records.get(keyHex)!;
    expect(record.signingKey).toEqual(gus.node.identity.signingPublic);
    const { from, peer } = neighbourOf(a);
    await sim.until(from.node.direct(peer, 'STORE', { record: recordToWire(record) }));
    // Not at the next recheck, ten minutes on: before a liar's STORE can be b's first.
    await sim.run(3_000);
    expect(b.records.get(keyHex)?.signingKey).toEqual(record.signingKey);
  });

  it('a Join for a name another key already holds is taken, even in the name’s first minute', async () => {
    const gina = await user('gina', 106);
    // At once, inside the holders' contest window: the second Join must not win on its hash.
    for (const seed of [107, 108, 109]) {
      const other = await sim.spawn(await identity(seed), { churn: false });
      await sim.until(other.started);
      await expect(sim.until(Chat.register(other, other.identity, 'gina'))).rejects.toMatchObject({ code: 'NAME_TAKEN' });
    }
    await sim.run(NAME_CONTEST_WINDOW_MS + 60_000);
    expect((await sim.until(nodes[9]!.records.resolve('gina')))?.signingKey).toEqual(gina.node.identity.signingPublic);
    expect(gina.chat.nameLost).toBe(false);
  });

  it('a record that cannot win at a holder costs it no signature check', async () => {
    const erin = await user('erin', 105);
    await sim.run(NAME_CONTEST_WINDOW_MS + 60_000);
    const key = recordKey('erin');
    const holder = sim.live.get(sim.closestLive(key, 1)[0]!)!;
    const { from, peer } = neighbourOf(holder);
    const held = holder.records.get(idToHex(key))!;
    const badSignatures = holder.node.stats.get('record-bad-signature') ?? 0;
    const kept = holder.node.stats.get('record-kept-first-come') ?? 0;
    // Past the window: another key's record, and the owner's key with a stale seq, both with a
    // forged signature. Neither could change what the holder keeps, so neither is checked.
    const other = await forged(from.identity, 'erin', 0);
    const stale = { ...other, signingKey: held.signingKey, seq: held.seq };
    for (let i = 0; i < 20; i++) {
      for (const record of [other, stale]) {
        const answer = await sim.until(from.node.direct(peer, 'STORE', { record: recordToWire(record) }));
        expect(answer.stored).toBe(false);
        expect(answer.record?.sig).toBe(recordToWire(held).sig);
      }
    }
    expect(holder.node.stats.get('record-bad-signature') ?? 0).toBe(badSignatures);
    expect(holder.node.stats.get('record-kept-first-come')).toBe(kept + 20);
    expect(holder.node.stats.get('record-stale-unchecked')).toBeGreaterThanOrEqual(20);
    expect(holder.records.get(idToHex(key))?.signature).toEqual(held.signature);
    expect((await sim.until(nodes[7]!.records.resolve('erin')))?.signingKey).toEqual(erin.node.identity.signingPublic);
  });

  it('a direct STORE at a node far from the name is refused and counted', async () => {
    const key = recordKey('faraway');
    const close = new Set(sim.closestLive(key, 16));
    const far = nodes.find((n) => sim.live.get(n.node.hex) === n && !close.has(n.node.hex))!;
    const { from, peer } = neighbourOf(far);
    const record = await forged(from.identity, 'faraway', sim.clock.now());
    // Holders' pushes of other names may have been refused here before (their view of who is
    // close differs from this node's): only this STORE's refusal is counted now.
    const before = far.node.stats.get('record-not-close') ?? 0;
    await expect(sim.until(from.node.direct(peer, 'STORE', { record: recordToWire(record) }))).rejects.toMatchObject({ code: 'REJECTED' });
    expect(far.node.stats.get('record-not-close')).toBe(before + 1);
    expect(far.records.get(idToHex(key))).toBeUndefined();
  });

  it(`one key holds at most ${MAX_NAMES_PER_KEY} names at a holder`, async () => {
    const spammer = nodes[7]!;
    const holder = nodes[11]!;
    // Names whose key this holder is closest to, as a spammer would grind them.
    const names: string[] = [];
    for (let i = 0; names.length < MAX_NAMES_PER_KEY + 2; i++) {
      const name = `spam_${i}`;
      if (sim.closestLive(recordKey(name), 1)[0] === holder.node.hex) names.push(name);
    }
    const { from, peer } = neighbourOf(holder);
    const results: boolean[] = [];
    for (const name of names) {
      const record = await forged(spammer.identity, name, sim.clock.now());
      const stored = await sim.until(from.node.direct(peer, 'STORE', { record: recordToWire(record) })).then(
        (r) => r.stored,
        () => false,
      );
      results.push(stored);
    }
    expect(results).toEqual([...Array<boolean>(MAX_NAMES_PER_KEY).fill(true), false, false]);
    expect(holder.node.stats.get('record-names-per-key')).toBe(2);
    // Another key's name is still welcome.
    const other = await forged(await identity(777), names[MAX_NAMES_PER_KEY]!, sim.clock.now());
    expect((await sim.until(from.node.direct(peer, 'STORE', { record: recordToWire(other) }))).stored).toBe(true);
  });

  it('a full table evicts expired and far records before it refuses a name it holds', async () => {
    const holder = nodes[13]!;
    const namesWhere = (test: (key: ReturnType<typeof recordKey>) => boolean, n: number) => {
      const out: string[] = [];
      for (let i = 0; out.length < n; i++) if (test(recordKey(`fill_${i}`))) out.push(`fill_${i}`);
      return out;
    };
    const far = namesWhere((k) => !sim.closestLive(k, 16).includes(holder.node.hex), 2);
    const near = namesWhere((k) => sim.closestLive(k, 1)[0] === holder.node.hex, 3);
    // A table of two, holding two names it kept from when it was near them.
    for (const [keyHex] of await holder.node.store.entries('records')) await holder.node.store.delete('records', keyHex);
    for (const [i, name] of far.entries()) {
      const record = await forged(await identity(300 + i), name, sim.clock.now());
      await holder.node.store.put('records', idToHex(recordKey(name)), recordToWire(record));
    }
    const service = new RecordService(holder.node, 2);
    await sim.until(service.load());
    expect(service.size).toBe(2);
    const { from, peer } = neighbourOf(holder);
    const store = async (name: string, seed: number) => {
      const record = await forged(await identity(seed), name, sim.clock.now());
      return sim.until(from.node.direct(peer, 'STORE', { record: recordToWire(record) }));
    };
    expect((await store(near[0]!, 310)).stored).toBe(true);
    expect(holder.node.stats.get('record-evicted')).toBe(2);
    expect((await store(near[1]!, 311)).stored).toBe(true);
    // Full of names it holds: then it refuses, and says so.
    await expect(store(near[2]!, 312)).rejects.toMatchObject({ code: 'REJECTED' });
    expect(holder.node.stats.get('record-over-quota')).toBe(1);
  });
});
