/**
 * What a name lookup makes of a holder that did not answer (record-service.ts askOrSettle): the
 * bootstrap service says whether a tab has its id. None has: only a liar named it, a strike, and
 * it loses its place. One has: it is dialled through the service and asked directly, and the
 * nodes that named it are not struck, since what kept it silent were the liars on the paths to
 * it. The service cannot say: the old rule, a strike. On HolderNet (holder-net.ts: real
 * RecordServices, the wire's schemas, no transport, every node a neighbour of every other), so
 * that who answers in whose place is set by the test, not by a network.
 */
import { describe, expect, it } from 'vitest';
import { signAnswer } from '../chat/answer-proofs.ts';
import { HOLDER_ASK_WINDOW_MS } from '../chat/constants.ts';
import { RecordService } from '../chat/record-service.ts';
import type { RouteOptions } from '../dht/context.ts';
import { createRecord, recordKey, recordToWire, type UserRecord } from '../chat/records.ts';
import { createIdentity, type Identity } from '../lib/crypto.ts';
import { toBase64Url } from '../lib/encoding.ts';
import { compareDistance, idToHex, type NodeId } from '../lib/id.ts';
import { SeededRandom } from '../lib/random.ts';
import { HolderNet, HolderNode } from './holder-net.ts';

/** Runs `p` to its end, moving the fake clock on 100 ms at a time while it waits. */
async function drive<T>(net: HolderNet, p: Promise<T>): Promise<T> {
  let done = false;
  void p.finally(() => (done = true)).catch(() => {});
  for (let i = 0; i < 2_000 && !done; i++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    net.clock.advance(100);
  }
  return p;
}

/** Identities sorted by distance to the name's key, and the net of all but the first `madeUp`. */
async function setUp(seed: number, name: string, madeUpCount: number): Promise<{ net: HolderNet; nodes: HolderNode[]; madeUp: Identity[]; services: Map<string, RecordService>; random: SeededRandom }> {
  const random = new SeededRandom(seed);
  const key = recordKey(name);
  const pool: Identity[] = [];
  for (let i = 0; i < 36; i++) pool.push(await createIdentity(random));
  pool.sort((a, b) => compareDistance(key, a.nodeId, b.nodeId));
  const net = new HolderNet();
  const nodes = pool.slice(madeUpCount).map((identity) => new HolderNode(net, identity));
  const services = new Map(nodes.map((n) => [n.hex, new RecordService(n)]));
  return { net, nodes, madeUp: pool.slice(0, madeUpCount), services, random };
}

/** Has `holders` keep `record`, as after a restart (RecordService.load). */
async function keep(holders: HolderNode[], services: Map<string, RecordService>, record: UserRecord): Promise<void> {
  for (const n of holders) {
    await n.store.put('records', idToHex(recordKey(record.name)), recordToWire(record));
    await services.get(n.hex)!.load();
  }
}

const contacts = (ids: readonly Identity[]) => ids.map((m) => ({ key: toBase64Url(m.signingPublic), n: m.idNonce }));

/**
 * `liars` keep the coalition's record for `name` (backdated a minute), answer every ask with it,
 * signed as themselves, and name only each other. Returns the coalition's identity.
 */
async function lieAsCoalition(name: string, liars: readonly HolderNode[], random: SeededRandom, now: number): Promise<Identity> {
  const coalition = await createIdentity(random);
  const forged = recordToWire(await createRecord(coalition, liars[0]!.ops, { name, registeredAt: now - 60_000, seq: 1, now }));
  const liarContacts = contacts(liars.map((l) => l.identity));
  for (const liar of liars) {
    liar.handle('FIND_VALUE', async (b) => ({ record: forged, nodes: liarContacts, ...(b.nonce ? { proof: await signAnswer(liar, b.key, b.nonce, forged, liarContacts) } : {}) }));
  }
  return coalition;
}

/** The looker's channels are `first` and those a dial through the service opens (reachViaServer). */
function channelsOnly(net: HolderNet, looker: HolderNode, first: readonly HolderNode[], dials: string[] = []): void {
  const channels = new Set(first.map((n) => n.hex));
  looker.neighbours = () => [...channels].map((h) => net.get(h).asPeer);
  looker.peer = (hex) => (channels.has(hex) ? net.get(hex).asPeer : undefined);
  looker.reachViaServer = async (hex) => {
    dials.push(hex);
    if (!net.nodes.has(hex)) return false;
    channels.add(hex);
    return true;
  };
}

/**
 * A name whose 12 nearest nodes are 6 honest holders of the owner's record and 6 liars (3 of
 * them among the 8 nearest) that answer every ask with the coalition's record, signed as
 * themselves, and name only each other. The looker's channels are the liars and one honest
 * scout far from the name, whose only channels are the 7th and 8th nearest; every routed ask
 * ends at a liar, which answers in the holder's place (an eclipse: N = 1,000, F = 0.2, seeds 3
 * and 5). `dials` records what the looker dials through the service.
 */
async function eclipse(seed: number) {
  const name = 'erin';
  const { net, nodes, services, random } = await setUp(seed, name, 0);
  const owner = await createIdentity(random);
  const now = net.clock.now();
  const record = await createRecord(owner, nodes[0]!.ops, { name, registeredAt: now, seq: 1, now });
  const liars = [0, 3, 5, 8, 9, 11].map((i) => nodes[i]!);
  await keep(nodes.slice(0, 12).filter((n) => !liars.includes(n)), services, record);
  const coalition = await lieAsCoalition(name, liars, random, now);
  const looker = nodes[nodes.length - 1]!;
  const scout = nodes[nodes.length - 2]!;
  scout.neighbours = () => [nodes[6]!, nodes[7]!].map((n) => n.asPeer);
  const dials: string[] = [];
  channelsOnly(net, looker, [...liars, scout], dials);
  looker.routeFromHere = (async (method: 'FIND_VALUE', body: { key: string; nonce?: string }) => [await net.deliver(looker, liars[0]!.hex, method, body, true)]) as typeof looker.routeFromHere;
  const read = () => drive(net, services.get(looker.hex)!.resolve(name)).then((r) => r?.signingKey, () => 'no verdict');
  return { nodes, owner, coalition, looker, dials, read };
}

describe('a holder that did not answer, as the bootstrap service knows it', () => {
  it('a silent holder the service knows as a tab is dialled through it and asked, so liars on every path cannot carry a name', async () => {
    const { nodes, owner, looker, dials, read } = await eclipse(23);
    expect(await read()).toEqual(owner.signingPublic);
    // The holders the liars hid, dialled past them: the 7th and 8th nearest, which the scout
    // named, and then the 2nd, 3rd and 5th, which their answers named.
    expect(new Set(dials)).toEqual(new Set([1, 2, 4, 6, 7].map((i) => nodes[i]!.hex)));
    expect(looker.stats.get('record-holder-dialled-open')).toBe(5);
    // Nobody that named them was found lying: the liars were not, and neither was the scout.
    expect(looker.stats.get('record-holder-named-made-up')).toBe(0);
  });

  it('without the service’s word the same eclipse gets no verdict, however the silent holders are counted', async () => {
    const { owner, looker, dials, read } = await eclipse(23);
    looker.isTab = () => Promise.resolve(null);
    const got = await read();
    expect(got).not.toEqual(owner.signingPublic);
    expect(dials).toEqual([]);
  });

  // N = 1,000, F = 0.1, seed 6: 2 liars named the same 2 made-up ids next to a name, 2 strikes
  // each, under MAX_STRIKES; the ids kept 2 of the 8 places, and the owner's 4 votes of 8 were
  // no majority at any of a returning user's 55 reads.
  it('made-up ids the service says no tab has lose their places, so liars under the strike limit cannot keep a name contested', async () => {
    const name = 'erin';
    const { net, nodes, madeUp, services, random } = await setUp(22, name, 2);
    const owner = await createIdentity(random);
    const now = net.clock.now();
    const record = await createRecord(owner, nodes[0]!.ops, { name, registeredAt: now, seq: 1, now });
    const liars = [nodes[1]!, nodes[4]!];
    const coalition = await createIdentity(random);
    const forged = recordToWire(await createRecord(coalition, nodes[0]!.ops, { name, registeredAt: now - 60_000, seq: 1, now }));
    await keep(nodes.slice(0, 12).filter((n) => !liars.includes(n)), services, record);
    for (const liar of liars) {
      liar.handle('FIND_VALUE', async () => ({ record: forged, nodes: [...contacts(madeUp), ...contacts(liars.map((l) => l.identity))] }));
    }
    const looker = nodes[nodes.length - 1]!;
    const dials: string[] = [];
    looker.reachViaServer = async (hex) => (dials.push(hex), net.nodes.has(hex));
    const found = await drive(net, services.get(looker.hex)!.resolve(name));
    expect(found?.signingKey).toEqual(owner.signingPublic);
    expect(looker.stats.get('record-holder-no-tab')).toBe(2);
    // Nothing was dialled for them: the service's word costs no connection.
    expect(dials).toEqual([]);
  });

  it('dials through the service at most HOLDER_SERVER_DIALS silent tabs a lookup, and one it cannot reach abstains', async () => {
    const { owner, looker, dials, read } = await eclipse(23);
    // The service knows them, but no dial opens (the tab's cap, or ICE): they abstain, and with
    // 3 liars' votes of the 8 nearest the name is no one's.
    looker.reachViaServer = async (hex) => (dials.push(hex), false);
    const got = await read();
    expect(got).not.toEqual(owner.signingPublic);
    expect(dials.length).toBeGreaterThan(0);
    expect(dials.length).toBeLessThanOrEqual(8);
    expect(looker.stats.get('record-holder-named-made-up')).toBe(0);
  });
});

describe('holders a lookup never asked, and paths that do not start at the looker’s channels', () => {
  // N = 1,000, F = 0.1, seed 4: a liar found late in a lookup named made-up ids for 5 of a
  // name's 8 places; nobody asked them before the window closed, so they abstained, and every
  // read of the name by a returning user stayed contested.
  it('made-up ids a late answer named lose their places after the last round, and the holders behind them are asked', async () => {
    const name = 'erin';
    const { net, nodes, madeUp, services, random } = await setUp(24, name, 5);
    const owner = await createIdentity(random);
    const now = net.clock.now();
    const record = await createRecord(owner, nodes[0]!.ops, { name, registeredAt: now, seq: 1, now });
    const liar = nodes[3]!;
    await keep(nodes.slice(0, 12).filter((n) => n !== liar), services, record);
    const coalition = await createIdentity(random);
    const forged = recordToWire(await createRecord(coalition, nodes[0]!.ops, { name, registeredAt: now - 60_000, seq: 1, now }));
    // Among the 8 nearest, it answers just after the lookup's window has closed.
    liar.handle('FIND_VALUE', async () => {
      await new Promise<void>((resolve) => net.clock.setTimeout(resolve, HOLDER_ASK_WINDOW_MS + 100));
      return { record: forged, nodes: [...contacts(madeUp), liar.contact] };
    });
    const looker = nodes[nodes.length - 1]!;
    const found = await drive(net, services.get(looker.hex)!.resolution(name));
    expect(found.status === 'found' && found.record.signingKey).toEqual(owner.signingPublic);
    expect(looker.stats.get('record-holder-no-tab-late')).toBe(5);
    // Without the service's word they keep their places: 3 votes of 8, no verdict.
    const blind = nodes[nodes.length - 2]!;
    blind.isTab = () => Promise.resolve(null);
    const contested = await drive(net, services.get(blind.hex)!.resolution(name));
    expect(contested.status).not.toBe('found');
  });

  /**
   * A name whose 5 nearest nodes are honest holders of the owner's record and whose next 9 are
   * liars that keep the coalition's, answer as themselves and name only each other. Every
   * channel the looker has is a liar's, and every path it starts ends at one (N = 1,000,
   * F = 0.2, seed 4: the looker's only channel toward the name was a liar whose fellows named
   * no honest node near it). A path through a stranger the service names is routed honestly.
   */
  async function surrounded(seed: number) {
    const name = 'erin';
    const { net, nodes, services, random } = await setUp(seed, name, 0);
    const owner = await createIdentity(random);
    const now = net.clock.now();
    const record = await createRecord(owner, nodes[0]!.ops, { name, registeredAt: now, seq: 1, now });
    await keep(nodes.slice(0, 5), services, record);
    const liars = nodes.slice(5, 14);
    const coalition = await lieAsCoalition(name, liars, random, now);
    const looker = nodes[nodes.length - 1]!;
    const stranger = nodes[nodes.length - 2]!;
    channelsOnly(net, looker, liars);
    const honestly = looker.routeFromHere.bind(looker);
    looker.routeFromHere = (async (method: 'FIND_VALUE', body: { key: string; nonce?: string }, key: NodeId, paths?: number, opts: RouteOptions = {}) =>
      opts.via === stranger.hex ? honestly(method, body, key, paths, opts) : [await net.deliver(looker, liars[0]!.hex, method, body, true)]) as typeof looker.routeFromHere;
    const read = () => drive(net, services.get(looker.hex)!.resolve(name)).then((r) => r?.signingKey, () => 'no verdict');
    return { owner, coalition, looker, stranger, read };
  }

  it('a path through a stranger the service named finds the honest holders liars around the looker hide', async () => {
    const { owner, looker, stranger, read } = await surrounded(25);
    looker.strangers = () => [stranger.hex];
    expect(await read()).toEqual(owner.signingPublic);
    expect(looker.stats.get('record-stranger-paths')).toBe(1);
  });

  it('without strangers the same liars carry the name: the attack the stranger paths answer', async () => {
    const { coalition, read } = await surrounded(25);
    expect(await read()).toEqual(coalition.signingPublic);
  });
});

