/**
 * Holders hand what they hold to the nodes that become closest to its recipient, paced below
 * what those nodes admit from one neighbour (chat/push-queue.ts). Before, a holder sent every
 * copy at once: at N = 200 with 12 h absences its neighbours refused 23,940 MAILBOX_ACKs as
 * BUSY in 14 simulated hours (each retried at the next recheck); at issue size it would be worse.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnvelope, envelopeHash, signTombstone } from '../chat/messages.ts';
import type { EnvelopeWire, TombstoneWire } from '../chat/wire.ts';
import { MAX_TOMBSTONES_PER_ACK } from '../chat/wire.ts';
import { createIdentity, type Identity } from '../lib/crypto.ts';
import { toBase64Url } from '../lib/encoding.ts';
import { SeededRandom } from '../lib/random.ts';
import { Simulation, type SimNode } from './simulation.ts';

/** Messages waiting for bob: more than a node admits from one neighbour at once (64 in flight, 100 a burst). */
const MESSAGES = 300;

let sim: Simulation;
let nodes: SimNode[];
let bob: Identity;
let envelopes: EnvelopeWire[];

beforeAll(async () => {
  sim = new Simulation({ seed: 808 });
  nodes = await sim.grow(30);
  bob = await createIdentity(new SeededRandom(809));
  const from = nodes[0]!;
  envelopes = [];
  for (let i = 0; i < MESSAGES; i++) {
    const to = { nodeId: bob.nodeId, agreementKey: bob.agreementPublic };
    const envelope = await sim.until(createEnvelope(from.identity, 'alice', to, `message ${i}`, sim.clock.now() + i, new SeededRandom(i), sim.ops));
    await sim.until(from.node.routeFromHere('MAILBOX_STORE', { envelope, copies: 7 }, bob.nodeId, 1, { leave: true }));
    envelopes.push(envelope);
  }
}, 120_000);
afterAll(() => sim.close());

/** Requests any live node refused as BUSY (too many in flight, or past its bucket). */
function refused(): number {
  let n = 0;
  for (const s of sim.live.values()) n += s.node.stats.get('request-refused-in-flight') + s.node.stats.get('request-refused-rate');
  return n;
}

function holding(id: string): SimNode[] {
  return [...sim.live.values()].filter((s) => s.mailbox.holds(id));
}

describe('holders pace the copies they hand to new close nodes', () => {
  it(`all ${MESSAGES} entries reach the nodes that become closest when holders leave, none refused`, async () => {
    const before = refused();
    const first = holding(envelopes[0]!.id);
    expect(first.length).toBeGreaterThanOrEqual(3);
    // All holders but one leave: that one copies 300 entries to each node that is now close.
    for (const s of first.slice(1)) sim.leave(s);
    await sim.run(15 * 60_000);
    const kept = envelopes.filter((e) => holding(e.id).length >= 3).length;
    expect(kept).toBe(MESSAGES);
    expect(refused() - before).toBe(0);
  });

  it('tombstones go to fellow holders in batches of up to 256 a request, none refused', async () => {
    const tombstones: TombstoneWire[] = [];
    for (const e of envelopes) tombstones.push(await sim.until(signTombstone(bob, envelopeHash(e), sim.clock.now(), sim.ops)));
    const holders = holding(envelopes[0]!.id);
    const counted = (s: SimNode) => ({ accepted: s.node.stats.get('mailbox-tombstones-accepted'), requests: s.node.stats.get('mailbox-ack-requests') });
    const at = new Map(holders.map((s) => [s.node.hex, counted(s)] as const));
    const before = refused();
    // Bob acks at one holder only (two requests: the wire takes 256 a request); it hands the rest on.
    const target = holders[0]!;
    const key = toBase64Url(bob.signingPublic);
    for (let i = 0; i < tombstones.length; i += MAX_TOMBSTONES_PER_ACK) {
      const [res] = await sim.until(nodes[1]!.node.routeFromHere('MAILBOX_ACK', { key, n: bob.idNonce, tombstones: tombstones.slice(i, i + MAX_TOMBSTONES_PER_ACK) }, target.node.id, 1, { leave: true }));
      expect(res?.accepted).toBeGreaterThan(0);
    }
    await sim.run(5 * 60_000);
    expect(envelopes.filter((e) => holding(e.id).length > 0)).toEqual([]);
    expect(refused() - before).toBe(0);
    // Each fellow holder took all 300 once, in a few MAILBOX_ACKs, not one each: a holder hands
    // on what each ack it took brought, so a sender's batches follow the acks it got (256 + 44
    // from bob's, or what arrived from its fellows first), about three at most.
    for (const s of holders.slice(1)) {
      const now = counted(s);
      const was = at.get(s.node.hex)!;
      expect(now.accepted - was.accepted).toBe(MESSAGES);
      expect(now.requests - was.requests).toBeLessThanOrEqual(3 * holders.length);
    }
  });
});
