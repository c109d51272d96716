import { afterEach, describe, expect, it } from 'vitest';
import { createIdentity } from '../lib/crypto.ts';
import { idToHex } from '../lib/id.ts';
import { SeededRandom } from '../lib/random.ts';
import { createRecord, recordKey, recordToWire, type UserRecord } from '../chat/records.ts';
import { Simulation, type SimNode } from './simulation.ts';

let sim: Simulation;
afterEach(() => sim?.close());

async function network(n: number, seed: number): Promise<SimNode[]> {
  sim = new Simulation({ seed });
  return sim.grow(n);
}

async function register(owner: SimNode, name: string, registeredAt = sim.clock.now()): Promise<UserRecord> {
  const record = await sim.until(
    createRecord(owner.identity, sim.ops, { name, registeredAt, seq: 1, now: sim.clock.now() }),
  );
  return record;
}

describe('user records in a simulated network', () => {
  it('every registered username is found by FindUser from any node', async () => {
    const nodes = await network(150, 11);
    const names = Array.from({ length: 12 }, (_, i) => `user_${i}`);
    const owners = names.map((_, i) => nodes[(i * 7) % nodes.length]!);
    for (const [i, name] of names.entries()) {
      const result = await sim.until(owners[i]!.records.publish(await register(owners[i]!, name)));
      expect(result.status).toBe('ok');
    }
    const pick = new SeededRandom(5);
    for (const [i, name] of names.entries()) {
      for (let j = 0; j < 10; j++) {
        const from = nodes[pick.int(nodes.length)]!;
        const found = await sim.until(from.records.resolve(name));
        expect(found?.signingKey).toEqual(owners[i]!.identity.signingPublic);
      }
    }
  });

  it('of two simultaneous registrations of one name at most one wins, and then everywhere', async () => {
    const nodes = await network(120, 12);
    const [a, b] = [nodes[3]!, nodes[90]!];
    const now = sim.clock.now();
    const [ra, rb] = [await register(a, 'contested', now), await register(b, 'contested', now)];
    const [pa, pb] = await sim.until(Promise.all([a.records.publish(ra), b.records.publish(rb)]));
    await sim.run(10_000);
    const key = recordKey('contested');
    const lookers = nodes.filter((_, i) => i % 6 === 0);
    if (pa.status !== 'ok' && pb.status !== 'ok') {
      // An even split of the holders: neither Join is told the name is its own, and no lookup
      // resolves it to either key.
      expect([pa.status, pb.status]).toEqual(['contested', 'contested']);
      for (const n of lookers) await expect(sim.until(n.records.resolve('contested'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
      return;
    }
    expect([pa.status, pb.status].sort()).toEqual(['ok', 'taken']);
    const winner = pa.status === 'ok' ? a : b;
    for (const n of lookers) {
      const found = await sim.until(n.records.resolve('contested'));
      expect(found?.signingKey).toEqual(winner.identity.signingPublic);
    }
    // Every holder among the 8 closest agrees, not just the ones lookups reach first.
    for (const hex of sim.closestLive(key, 8)) {
      expect(sim.live.get(hex)!.records.get(idToHex(key))?.signingKey).toEqual(winner.identity.signingPublic);
    }
  });

  it('forged records, records from the wrong key and lower seqs are rejected and counted', async () => {
    const nodes = await network(60, 13);
    const owner = nodes[10]!;
    const good = await register(owner, 'carol');
    expect((await sim.until(owner.records.publish(good))).status).toBe('ok');
    const holderHex = sim.closestLive(recordKey('carol'), 1)[0]!;
    const holder = sim.live.get(holderHex)!;
    const via = holder.node.neighbours()[0]!;
    const sender = sim.live.get(via.hex)!;
    const peer = sender.node.channels.peers.get(holderHex)!;
    const store = (record: UserRecord) => sim.until(sender.node.direct(peer, 'STORE', { record: recordToWire(record) }));

    const tampered = { ...good, agreementKey: new Uint8Array(32).fill(9) };
    await expect(store(tampered)).rejects.toMatchObject({ code: 'REJECTED' });
    const mallory = await sim.until(createIdentity(new SeededRandom(99)));
    // Carol's key and id nonce on a record Mallory signed: past the work check, refused by the signature.
    const stolen = { ...(await sim.until(createRecord(mallory, sim.ops, { name: 'carol', registeredAt: good.registeredAt, seq: 5, now: sim.clock.now() }))), signingKey: good.signingKey, idNonce: good.idNonce };
    await expect(store(stolen)).rejects.toMatchObject({ code: 'REJECTED' });
    const newer = await sim.until(createRecord(owner.identity, sim.ops, { name: 'carol', registeredAt: good.registeredAt, seq: 2, now: sim.clock.now() }));
    expect((await store(newer)).stored).toBe(true);
    const older = await sim.until(createRecord(owner.identity, sim.ops, { name: 'carol', registeredAt: good.registeredAt, seq: 1, now: sim.clock.now() }));
    expect((await store(older)).stored).toBe(false);
    expect(holder.records.get(idToHex(recordKey('carol')))?.seq).toBe(2);
    expect(holder.node.stats.get('record-bad-signature')).toBe(2);
  });
});
