import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createIdentity } from '../lib/crypto.ts';
import { nodeIdFromSigningKey } from '../lib/id.ts';
import { SeededRandom } from '../lib/random.ts';
import { nonceWithoutWork } from '../lib/test-ids.ts';
import { PuppetPeer } from './fuzz-peer.ts';
import { Simulation, type SimNode } from './simulation.ts';

let sim: Simulation;
afterEach(() => sim?.close());

async function network(n: number, seed: number): Promise<SimNode[]> {
  sim = new Simulation({ seed });
  return sim.grow(n, 6, 5 * 60_000); // one arrival a minute
}

/** Valid frames of every kind but BUSY (a peer that sends BUSY ends its own channel), to mutate. */
const SAMPLES = [
  '{"t":"req","id":7,"m":"PING","b":{}}',
  '{"t":"req","id":8,"m":"FIND_NODE","r":{"k":"' + 'a'.repeat(40) + '","h":1,"max":20,"ms":9000},"b":{"target":"' + 'a'.repeat(40) + '"}}',
  '{"t":"req","id":9,"m":"SIGNAL","r":{"k":"' + 'b'.repeat(40) + '","h":1,"max":20,"ms":9000},"b":{"from":"' + 'c'.repeat(40) + '","to":"' + 'b'.repeat(40) + '","conn":"x","data":"[]","key":"' + 'A'.repeat(43) + '","n":7,"at":1700000000000,"sig":"' + 'A'.repeat(86) + '"}}',
  '{"t":"res","id":3,"b":{"nodes":[]}}',
  '{"t":"err","id":3,"code":"TIMEOUT","msg":"late"}',
  '{"t":"hello","key":"' + 'A'.repeat(43) + '","n":7,"sig":"' + 'A'.repeat(86) + '"}',
];

function mutate(random: SeededRandom, text: string): string {
  const chars = [...text];
  const edits = 1 + random.int(4);
  for (let i = 0; i < edits; i++) {
    const at = random.int(chars.length + 1);
    const op = random.int(3);
    const ch = String.fromCharCode(random.int(128));
    if (op === 0) chars.splice(at, 1);
    else if (op === 1) chars.splice(at, 0, ch);
    else chars[at] = ch;
  }
  return chars.join('');
}

describe('a node fed hostile input', () => {
  it('survives 10,000 random and mutated frames, keeps answering, and counts drops by reason', async () => {
    const [victim, attacker, witness] = await network(3, 21);
    // In a three-node network the attacker's open connections include its channel to the victim;
    // the witness gets the same garbage, which only makes the test harder.
    expect(attacker!.node.channels.peers.has(victim!.node.hex)).toBe(true);
    const toVictim = [...attacker!.transport.connections].filter((c) => c.remoteFingerprint() !== null);
    const random = new SeededRandom(4);
    const frames = fc.sample(fc.oneof(fc.string(), fc.json(), fc.string({ unit: 'binary', maxLength: 200 })), { numRuns: 5_000, seed: 4 });
    for (let i = 0; i < 5_000; i++) frames.push(mutate(random, SAMPLES[i % SAMPLES.length]!));
    frames.push('x'.repeat(70_000), '[' .repeat(100_000), '{"t":"req","id":1,"m":"NOPE","b":{}}');
    for (const f of frames) for (const c of toVictim) c.send(f);
    await sim.run(30_000);

    const drops = victim!.node.stats.snapshot("drop-");
    expect(drops['drop-not-json']).toBeGreaterThan(1_000);
    expect(drops['drop-bad-shape']).toBeGreaterThan(100);
    expect(drops['drop-too-large']).toBeGreaterThanOrEqual(1);
    expect(drops['drop-unknown-method']).toBeGreaterThanOrEqual(1);
    expect(victim!.node.stats.get('handler-crashed')).toBe(0);
    // Still a working node: answers a lookup from a third node.
    const peer = witness!.node.channels.peers.get(victim!.node.hex);
    expect(peer).toBeDefined();
    await expect(sim.until(witness!.node.direct(peer!, 'PING', {}))).resolves.toEqual({});
    const found = await sim.until(witness!.node.lookup(victim!.node.id, 1));
    expect(found.nodes[0]).toBe(victim!.node.hex);
  });

  it('drops an envelope of the first format (sender in the clear) as old-version, counted, before any handler', async () => {
    const [victim, attacker] = await network(3, 23);
    const toVictim = [...attacker!.transport.connections].filter((c) => c.remoteFingerprint() !== null);
    const hex = (n: number, c: string) => c.repeat(n);
    const old = { id: hex(32, 'c'), from: attacker!.node.hex, to: victim!.node.hex, sentAt: 1_700_000_000_000, epk: 'A'.repeat(43), nonce: 'A'.repeat(16), ct: 'A'.repeat(100), sig: 'A'.repeat(86) };
    for (const c of toVictim) c.send(JSON.stringify({ t: 'req', id: 5, m: 'DELIVER', b: { envelope: old } }));
    await sim.run(1_000);
    expect(victim!.node.stats.get('drop-old-version')).toBeGreaterThanOrEqual(1);
    expect(victim!.node.stats.get('drop-bad-body')).toBe(0);
    expect(victim!.node.stats.get('handler-crashed')).toBe(0);
  });

  it('refuses a channel whose HELLO key does not hash to the id it claimed', async () => {
    const [victim, impostor, other] = await network(3, 22);
    const before = victim!.node.stats.get('hello-rejected');
    const claimed = other!.node.hex;
    victim!.node.channels.peers.get(claimed)?.close();
    impostor!.node.channels.peers.get(victim!.node.hex)?.close();
    // The impostor signals as if it were `other`; its HELLO can only carry its own key.
    const dial = impostor!.node.channels.dial(victim!.node.hex, (p) => victim!.node.handleSignal(claimed, p)).catch(() => null);
    // The impostor may believe the channel open for a moment (the victim's HELLO was valid),
    // until the victim, having checked the impostor's HELLO, closes it.
    await sim.until(dial);
    await sim.run(1_000);
    expect(victim!.node.stats.get('hello-rejected')).toBe(before + 1);
    expect(impostor!.node.channels.peers.has(victim!.node.hex)).toBe(false);
    const channel = victim!.node.channels.peers.get(claimed);
    // If a channel under that id exists again, it is the real node's (maintenance redialed it).
    if (channel) expect(channel.id).toEqual(other!.node.id);
  });

  it('refuses a HELLO whose id nonce does not carry the work, and takes one that does', async () => {
    const [victim] = await network(2, 23);
    const owner = await createIdentity(new SeededRandom(99));
    // The Sybil's shortcut: any nonce gives an id (here the one the hash makes with no work
    // asked), so it could place itself anywhere for one hash per try. The victim checks the work.
    const n = nonceWithoutWork(owner.signingPublic);
    const cheap = { ...owner, idNonce: n, nodeId: nodeIdFromSigningKey(owner.signingPublic, n, 0)! };
    const sybil = new PuppetPeer(sim, cheap, sim.network.endpoint('sybil'), () => []);
    expect(await sybil.connect(victim!, 'cheap-1')).toBe(true);
    await sybil.hello();
    await sim.run(1_000);
    expect(victim!.node.stats.get('hello-rejected-work')).toBe(1);
    expect(victim!.node.channels.peers.has(sybil.hex)).toBe(false);

    const honest = new PuppetPeer(sim, owner, sim.network.endpoint('honest'), () => []);
    expect(await honest.connect(victim!, 'paid-1')).toBe(true);
    await honest.hello();
    await sim.run(1_000);
    expect(victim!.node.channels.peers.has(honest.hex)).toBe(true);
    expect(victim!.node.stats.get('hello-rejected-work')).toBe(1);
  });
});
