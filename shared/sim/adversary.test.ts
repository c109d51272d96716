/**
 * Issue 14's adversary simulation at CI size (adversary-experiment.ts; `npm run sim --
 * --adversary F` at N = 1,000), and the attack it found that the engine does not yet hold
 * against, reproduced on its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chat } from '../chat/chat.ts';
import { recordKey } from '../chat/records.ts';
import { createIdentity } from '../lib/crypto.ts';
import { idToHex } from '../lib/id.ts';
import { SeededRandom } from '../lib/random.ts';
import { Coalition, makeAdversary } from './adversary.ts';
import { runAdversaryExperiment, type AdversaryExperimentResult } from './adversary-experiment.ts';
import { Simulation, type SimNode } from './simulation.ts';

describe('a network where a fifth of the nodes lie (CI size)', () => {
  let r: AdversaryExperimentResult;
  beforeAll(async () => {
    // Seed 4: with names as weak as they are, seed 3 (used before message requests) leaves 2
    // messages sealed for the right key (of 5), too few to measure delivery by.
    r = await runAdversaryExperiment({ nodes: 100, adversary: 0.2, users: 12, scenarios: 10, spreadHours: 0.25, maxAbsenceHours: 0.25, seed: 4 });
  }, 120_000);

  it('every attack was made, and refused where the rules say', () => {
    expect(r.adversaries).toBe(20);
    expect(r.offlineMessages).toBeGreaterThan(0);
    for (const attack of ['lied-FIND_NODE', 'lied-MAILBOX_STORE', 'lied-STORE', 'name-lie-signed-as-member', 'name-lie-for-honest-holder', 'message-forged-store-ok', 'flood-busy', 'tombstone-forged-ok']) expect(r.attacks[attack]).toBeGreaterThan(0);
    for (const refusal of ['record-bad-signature', 'record-answer-not-from-holder', 'signal-drop-key-not-from', 'mailbox-drop-foreign-tombstone']) {
      expect(r.refusals[refusal]).toBeGreaterThan(0);
    }
  });

  it('no message is shown twice, replays included', () => {
    expect(r.shownTwice).toBe(0);
  });

  // The first two goals (at N = 1,000 they hold at F = 0.1: README "Adversaries").
  // Inside a name's first minute a holder changes keys only on a majority of the name's r
  // closest (records.ts chooseRecord: a lower contest hash used to be enough, and liars ground
  // keys for it), and lookups walk past liars that name only their fellows (holder-search.ts:
  // holders must lie as near the key as the density says). Known failing here, at a fifth
  // lying in 100 nodes: no message is shown forged, but one name of 11 resolves to the
  // coalition's key for a looker, its honest holders split between the two keys (liars' first
  // STOREs reached holders the owner's missed). It passed with a source called a liar after 2
  // silent holders, which at N = 200 dropped honest sources and their votes and took a name
  // there; single seeds at this size swing either way. Flip to `it` when it holds.
  it.fails('no name is taken and no message is shown under a name whose record is another key', () => {
    expect({ nameHijacks: r.nameHijacks, forgedShown: r.forgedShown }).toEqual({ nameHijacks: 0, forgedShown: 0 });
  });

  it('floods at the per-neighbour limits refuse only the flooder', () => {
    expect(r.adversaryRefused).toBeGreaterThan(0);
    expect(r.honestRefused).toBe(0);
  });

  it('made-up contacts do not take an honest node past 450 connections', () => {
    expect(r.maxConnectionsCreated).toBeLessThanOrEqual(450);
  });

  // Delivery (99%) does not hold either while names do not: mail sealed for the coalition's key
  // is lost, and a message request is shown only once the recipient's Find user resolves the
  // sender's name to the key that wrote it. What is asserted is that mail whose sender
  // resolved the right key reaches the recipient's device (shown, or waiting as a request).
  it('mail sealed for the right key arrives past lying holders', () => {
    expect(r.offlineArrivedRightKey).toBeGreaterThanOrEqual(0.5);
  });
});

describe('Find user against nodes on its routes (issue 14 finding)', () => {
  let sim: Simulation;
  let nodes: SimNode[];
  beforeAll(async () => {
    sim = new Simulation({ seed: 1415 });
    nodes = await sim.grow(80, 6, 5 * 60_000);
  }, 120_000);
  afterAll(() => sim.close());

  // Routed asks carry a nonce and count only with the asked holder's signature
  // (answer-proofs.ts), so liars on every route out of a looker cannot cast honest holders'
  // votes (`name-lie-for-honest-holder` answers are refused). Their best lie names the
  // coalition's own members, which answer for themselves; a looker whose every neighbour lies
  // learns of no other node. Those members are not the name's holders by the network's density
  // (holder-search.ts: farther from the key than this looker's own r-th nearest neighbour,
  // times 2^1.5, they do not vote), and a key needs more than half of r votes, so they cannot
  // make a majority among themselves.
  let found: Uint8Array | 'error' | null | undefined;
  let ownerKey: Uint8Array | undefined;
  it('the names a looker\'s neighbours lie about never resolve to the liars\' key', async () => {
    const identity = await sim.until(sim.ops.track(createIdentity(new SeededRandom(77))));
    ownerKey = identity.signingPublic;
    const owner = await sim.spawn(identity, { churn: false });
    await sim.until(owner.started);
    await sim.until(Chat.register(owner, identity, 'carol'));
    await sim.run(2 * 60_000);
    const holders = new Set(sim.closestLive(recordKey('carol'), 8));
    const looker = nodes.find((s) => s !== owner && !holders.has(s.node.hex) && s.node.neighbours().every((p) => !holders.has(p.hex) && p.hex !== owner.node.hex))!;
    expect(looker).toBeDefined();
    const coalition = new Coalition(sim, sim.random.fork());
    for (const p of looker.node.neighbours()) makeAdversary(coalition, sim.live.get(p.hex)!);
    await coalition.learn({ name: 'carol', nodeHex: owner.node.hex, signingKey: identity.signingPublic, idNonce: identity.idNonce, agreementKey: identity.agreementPublic });
    // Every holder keeps carol's record; none of them lies.
    for (const hex of holders) expect(sim.live.get(hex)!.records.get(idToHex(recordKey('carol')))?.signingKey).toEqual(identity.signingPublic);
    found = await sim.until(looker.records.resolve('carol')).then((rec) => rec?.signingKey ?? null, () => 'error' as const);
    for (const m of coalition.members.values()) expect(found).not.toEqual(m.identity.signingPublic);
    expect(coalition.counts['name-lie-for-honest-holder']).toBeGreaterThan(0);
  });

  // Known failing: they can still deny it. Every request leaves this looker through a liar,
  // which answers it itself (record-answer-not-from-holder) and ignores the route's request to
  // go around it (Route.v): the honest holders are never reached, and the lookup fails rather
  // than resolving wrong. Only a channel that does not pass them gets it out: fresh peers from
  // the signal server (re-anchoring; SECURITY.md, "Eclipse"). Flip to `it` when it does.
  it.fails('the names a looker\'s neighbours lie about still resolve to their owners', () => {
    expect(found).toEqual(ownerKey);
  });
});
