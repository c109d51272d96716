/**
 * Issue 14's SIGNAL attacks, built in a small simulated network: a neighbour sends routed
 * SIGNALs to a victim claiming `from` ids it does not own, from many fresh keys it does own,
 * and captured ones again or to another node. A SIGNAL's `from` decides whether the victim
 * spends a connection and whether the budget paces it (an id close to the victim is not paced),
 * so before the signature 450 forged ones took a node from 20 to 400 connections created.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { OFFER_BURST, OFFERS_PER_HOUR, SIGNAL_FRESH_MS } from '../dht/constants.ts';
import type { Peer } from '../dht/context.ts';
import type { RequestBodyOf, Route } from '../dht/protocol.ts';
import { signSignal } from '../dht/signal-auth.ts';
import { createIdentity, type Identity } from '../lib/crypto.ts';
import { toBase64Url } from '../lib/encoding.ts';
import { idToHex } from '../lib/id.ts';
import { Simulation, type SimNode } from './simulation.ts';

const ATTACK_SIGNALS = 450;
const ATTACK_MS = 8_000;

let sim: Simulation;
afterEach(() => sim?.close());

/** A settled network of n nodes; the victim, and a neighbour of it the attacker controls. */
async function network(n: number, seed: number): Promise<{ nodes: SimNode[]; victim: SimNode; attacker: SimNode; channel: Peer }> {
  sim = new Simulation({ seed });
  const nodes = await sim.grow(n, 6, 5 * 60_000);
  const victim = nodes[0]!;
  const attacker = nodes.find((s) => s !== victim && s.node.peer(victim.node.hex))!;
  return { nodes, victim, attacker, channel: attacker.node.peer(victim.node.hex)! };
}

/** A routed request toward `key` that arrives at the node whose id it is, sent over `channel`. */
function routedSignal(channel: Peer, key: string, body: RequestBodyOf<'SIGNAL'>): Promise<unknown> {
  const route: Route = { k: key, h: 1, max: 20, ms: 9_000 };
  return channel.rpc.request('SIGNAL', body, 9_000, route).then(
    () => 'ok',
    (err: { code?: string }) => err.code ?? 'error',
  );
}

/** Sends the bodies evenly over ATTACK_MS and waits for every answer. */
async function sendSpread(channel: Peer, key: string, bodies: RequestBodyOf<'SIGNAL'>[]): Promise<unknown[]> {
  const answers: Promise<unknown>[] = [];
  for (const b of bodies) {
    answers.push(routedSignal(channel, key, b));
    await sim.run(ATTACK_MS / bodies.length);
  }
  return sim.until(Promise.all(answers));
}

/** An id that shares all but its last two bytes with `hex`: in the victim's own neighbourhood. */
function closeTo(hex: string, i: number): string {
  return hex.slice(0, 36) + (0x8000 + i).toString(16).padStart(4, '0');
}

function refusedByLimits(s: SimNode): number {
  return s.node.stats.get('request-refused-rate') + s.node.stats.get('request-refused-in-flight');
}

describe('SIGNAL is signed by its sender', () => {
  it('forged SIGNALs do not spend a node\'s connection budget', { timeout: 60_000 }, async () => {
    const { nodes, victim, attacker, channel } = await network(10, 31);
    const before = victim.transport.created;
    const answeredBefore = victim.node.stats.get('connections-answered');
    const now = sim.clock.now();
    const others = nodes.filter((s) => s !== victim && s !== attacker);
    const forgeries: Promise<RequestBodyOf<'SIGNAL'>>[] = [];
    for (let i = 0; i < ATTACK_SIGNALS; i++) {
      const signed = signSignal(attacker.identity, victim.node.hex, `f${i}`, '[]', now, sim.ops);
      // One in nine claims a real node's id with its real public key and id nonce (HELLO shows
      // them): the
      // signature is not that node's. The rest claim made-up ids next to the victim's, with the
      // attacker's own key, which is not theirs.
      const real = others[Math.floor(i / 9) % others.length]!.identity;
      const as = i % 9 === 0 ? { from: idToHex(real.nodeId), key: toBase64Url(real.signingPublic), n: real.idNonce } : { from: closeTo(victim.node.hex, i) };
      forgeries.push(signed.then((b) => ({ ...b, ...as })));
    }
    const bodies = await sim.until(Promise.all(forgeries));
    const answers = await sendSpread(channel, victim.node.hex, bodies);

    expect(answers.filter((a) => a === 'ok')).toEqual([]);
    expect(victim.transport.created).toBe(before);
    expect(victim.node.stats.get('connections-answered')).toBe(answeredBefore);
    const forged = victim.node.stats.get('signal-drop-key-not-from');
    const badSig = victim.node.stats.get('signal-drop-bad-sig');
    // Those the attacker's request bucket let through were refused on their signature.
    expect(forged).toBeGreaterThan(0);
    expect(badSig).toBeGreaterThan(0);
    expect(forged + badSig + refusedByLimits(victim)).toBe(ATTACK_SIGNALS);
  });

  it('signed SIGNALs from many fresh keys are held to the total offer rate', { timeout: 60_000 }, async () => {
    const { victim, channel } = await network(10, 32);
    const before = victim.transport.created;
    // SIGNALs routed while the network grew may have ended here for a node it did not reach yet.
    const dropsBefore = victim.node.stats.snapshot('signal-drop-');
    const keys: Identity[] = [];
    for (let i = 0; i < ATTACK_SIGNALS; i++) keys.push(await sim.until(sim.ops.track(createIdentity(sim.random.fork()))));
    const start = sim.clock.now();
    const bodies = await sim.until(Promise.all(keys.map((key, i) => signSignal(key, victim.node.hex, `k${i}`, '[]', start, sim.ops))));
    await sendSpread(channel, victim.node.hex, bodies);

    const elapsedHours = (sim.clock.now() - start) / 3_600_000;
    const allowed = OFFER_BURST + Math.ceil(elapsedHours * OFFERS_PER_HOUR);
    const created = victim.transport.created - before;
    expect(created).toBeGreaterThan(0);
    expect(created).toBeLessThanOrEqual(allowed);
    expect(victim.node.stats.get('offer-limited-total')).toBeGreaterThan(0);
    // Every SIGNAL of the attack that reached the handler was valid: none was dropped.
    expect(victim.node.stats.snapshot('signal-drop-')).toEqual(dropsBefore);
  });

  it('a replayed, redirected or stale SIGNAL is refused', { timeout: 60_000 }, async () => {
    const { nodes, victim, attacker, channel } = await network(10, 33);
    const other = nodes.find((s) => s !== victim && s !== attacker && attacker.node.peer(s.node.hex))!;
    const toOther = attacker.node.peer(other.node.hex)!;
    const sender = await sim.until(sim.ops.track(createIdentity(sim.random.fork())));
    const captured = await sim.until(signSignal(sender, victim.node.hex, 'cap_1', '[]', sim.clock.now(), sim.ops));

    // The first copy is the sender's own and is served.
    expect(await sim.until(routedSignal(channel, victim.node.hex, captured))).toBe('ok');
    const created = victim.transport.created;
    // The same again: a replay.
    expect(await sim.until(routedSignal(channel, victim.node.hex, captured))).toBe('REJECTED');
    expect(victim.node.stats.get('signal-drop-replayed')).toBe(1);
    // To another node as it is: not addressed to that node.
    expect(await sim.until(routedSignal(toOther, other.node.hex, captured))).toBe('NOT_FOUND');
    expect(other.node.stats.get('signal-drop-not-for-us')).toBe(1);
    // Readdressed to another node: the signature covers `to`.
    expect(await sim.until(routedSignal(toOther, other.node.hex, { ...captured, to: other.node.hex }))).toBe('REJECTED');
    expect(other.node.stats.get('signal-drop-bad-sig')).toBe(1);
    expect(victim.transport.created).toBe(created);
    // Later, past the freshness window.
    await sim.run(SIGNAL_FRESH_MS + 1_000);
    const later = victim.transport.created;
    expect(await sim.until(routedSignal(attacker.node.peer(victim.node.hex) ?? channel, victim.node.hex, captured))).toBe('REJECTED');
    expect(victim.node.stats.get('signal-drop-stale')).toBe(1);
    expect(victim.transport.created).toBe(later);
  });
});
