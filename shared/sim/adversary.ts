/**
 * Lying nodes for the adversary simulation (issue 14, "Adversary simulation"; adversary-
 * experiment.ts runs them). An adversary is a real engine node, joined and kept up by the
 * engine's own upkeep, whose answers lie: `makeAdversary` replaces the one entry every request a
 * neighbour sends goes through (`Channels.onRequest`, the LinkOwner hook its links call), so it
 * answers routed requests that only pass through it as if they had arrived, and answers every
 * chat method falsely. No production code knows about it.
 *
 * What it answers (`lie`): FIND_NODE and FIND_VALUE with the coalition's contacts and made-up
 * ones near the key (which crowd out the true closest, and cost a dialer connections). Contacts
 * are self-certifying (dht/contacts.ts), so a made-up id must carry the work of a real one: the
 * coalition grinds ids in honest nodes' near subtrees each round (`Coalition.grind`, every hash
 * counted as `fake-id-tries`) and names the ground ones closest to the key. FIND_VALUE
 * with a backdated record of the coalition's for the name (a routed ask for one holder, which
 * needs that holder's signature, is signed as it when it is a member, and else as itself: the
 * honest holder's vote is lost); STORE and MAILBOX_STORE are dropped
 * while it answers "stored" (with its own valid holder ack); MAILBOX_FETCH answers nothing and
 * is kept for replay; MAILBOX_ACK is swallowed; DELIVER and SIGNAL are dropped without answer
 * (with `acceptsDials`, a SIGNAL addressed to the member itself is answered, so honest dials to
 * it open: a coalition that wants channels takes them).
 *
 * What it does each round (`attackRound`): publishes backdated and forged records for known
 * names (the forged ones with the owner's key and id nonce), sends SIGNALs whose `from` is made
 * up next to the victim, sends messages claiming an honest user's name (envelopes sealed with
 * that name inside, signed by the key of the coalition's record for it; delivered and stored at
 * the victim's holders), forged tombstones for
 * envelopes it saw, replays captured envelopes and fetches, and floods one honest neighbour past
 * its request bucket. The coalition shares what its members learn.
 */
import { REPLICATION, REQUEST_BURST_PER_NEIGHBOUR } from '../dht/constants.ts';
import type { Peer } from '../dht/context.ts';
import type { Method, RequestFrame, ResponseBodyOf, Route } from '../dht/protocol.ts';
import type { Reply } from '../dht/rpc.ts';
import { signSignal } from '../dht/signal-auth.ts';
import { signAnswer } from '../chat/answer-proofs.ts';
import { signHolderAck } from '../chat/holder-acks.ts';
import { createEnvelope, envelopeHash, signTombstone } from '../chat/messages.ts';
import { createRecord, recordKey, recordToWire } from '../chat/records.ts';
import type { EnvelopeWire, UserRecordWire } from '../chat/wire.ts';
import { toBase64Url } from '../lib/encoding.ts';
import { ErrorCode } from '../lib/errors.ts';
import { bucketIndex, compareDistance, ID_BITS, ID_NONCE_MAX, idFromHex, idToHex, nodeIdFromSigningKey, type NodeId } from '../lib/id.ts';
import type { ContactWire } from '../dht/contacts.ts';
import type { Random } from '../lib/random.ts';
import type { Simulation, SimNode } from './simulation.ts';

/** An honest user as anyone can learn it from its public record. */
export interface KnownUser {
  name: string;
  nodeHex: string;
  signingKey: Uint8Array;
  /** The signing key's id nonce (lib/id.ts), public in the user's record. */
  idNonce: number;
  agreementKey: Uint8Array;
}

/** Requests one adversary sends at one honest neighbour per round: past its bucket's burst. */
export const FLOOD_PER_ROUND = REQUEST_BURST_PER_NEIGHBOUR + 20;
/** Made-up ids a lying FIND_NODE / FIND_VALUE answer carries beside the coalition's real ones. */
const FAKE_IDS_PER_ANSWER = 8;
/**
 * Hashes each member spends per round grinding made-up ids (Coalition.grind): ~0.05 s of the
 * simulator's CPU, about 2^14 / 2^(8 + SIM_ID_WORK_BITS) = 4 ids in a victim's near subtree at
 * N = 1,000. At the real network's 15 bits the same ids would cost 2^11 times as much.
 */
export const FAKE_ID_TRIES_PER_ROUND = 2 ** 14;
const MAX_FAKES_PER_BYTE = 64;
/** Captured envelopes and fetches the coalition keeps for replay. */
const MAX_CAPTURED = 500;

/** What the coalition tried, by attack (the experiment reports it beside the outcomes). */
export type AttackCounts = Record<string, number>;

export class Coalition {
  readonly members = new Map<string, SimNode>();
  /** Honest users and their records' keys, as public records show them. */
  readonly users: KnownUser[] = [];
  /** A backdated record per name key (hex), signed by one member's key. */
  readonly forged = new Map<string, UserRecordWire>();
  /** The member whose key signed a name's backdated record: it signs messages claiming the name. */
  readonly signers = new Map<string, SimNode>();
  readonly envelopes: EnvelopeWire[] = [];
  readonly fetches: Array<{ body: unknown; holder: string }> = [];
  readonly counts: AttackCounts = {};

  /**
   * `madeUpContacts`: lying contact lists carry made-up ids next to the key beside the
   * coalition's real ones (false: only real ones, to tell the two attacks apart).
   * `nameLies`: FIND_VALUE is answered with the coalition's record, and as the holder the
   * request was routed to (false: answered as an honest node that dropped every STORE would).
   * `acceptsDials`: a SIGNAL addressed to a member is answered, so honest nodes that dial it get
   * a channel to it (false: every SIGNAL is dropped, and a liar is reached only when it dials).
   */
  constructor(
    private readonly sim: Simulation,
    readonly random: Random,
    readonly madeUpContacts = true,
    readonly nameLies = true,
    readonly acceptsDials = false,
  ) {}

  count(what: string, n = 1): void {
    this.counts[what] = (this.counts[what] ?? 0) + n;
  }

  /** Ids of the live nodes outside the coalition. */
  honestLive(): string[] {
    return [...this.sim.live.keys()].filter((h) => !this.members.has(h));
  }

  isMember(hex: string): boolean {
    return this.members.has(hex);
  }

  /** Learns a user (the experiment tells it each registration: names and records are public). */
  async learn(user: KnownUser): Promise<void> {
    this.users.push(user);
    const signers = [...this.members.values()];
    if (signers.length === 0) return;
    const by = signers[this.users.length % signers.length]!;
    const record = await this.sim.until(createRecord(by.identity, this.sim.ops, { name: user.name, registeredAt: 0, seq: 1, now: this.sim.clock.now() }));
    this.forged.set(idToHex(recordKey(user.name)), recordToWire(record));
    this.signers.set(user.name, by);
  }

  capture(list: unknown[], item: unknown): void {
    if (list.length >= MAX_CAPTURED) list.splice(this.random.int(list.length), 1);
    list.push(item);
  }

  /**
   * Made-up ids the coalition ground, by their first byte: each a random key with a nonce that
   * gives it the network's work and a chosen prefix (contacts are self-certifying, dht/contacts.ts).
   */
  private readonly fakes = new Map<number, Fake[]>();

  /**
   * The coalition's contacts closest to `key`, and its ground made-up ids closest to it (the
   * best lie left: every contact must carry the work of a real node's id).
   */
  contactsFor(key: NodeId, n: number): ContactWire[] {
    const fakes = this.madeUpContacts ? [...(this.fakes.get(key[0]!) ?? [])].sort((a, b) => compareDistance(key, a.id, b.id)).slice(0, FAKE_IDS_PER_ANSWER) : [];
    const real = [...this.members.values()].map((s) => s.node).sort((a, b) => compareDistance(key, a.id, b.id)).slice(0, n - fakes.length);
    return [...fakes.map((f) => f.contact), ...real.map((m) => m.selfContact)];
  }

  /**
   * Grinds made-up ids that share `prefixBits` with `target` (its near subtree, where its upkeep
   * dials every candidate): random keys, nonces tried until one has the work and the prefix,
   * 2^(prefixBits + work bits) tries each on average, at most `tries` in all. Counts every try.
   */
  grind(target: NodeId, prefixBits: number, tries: number): void {
    let key = this.random.bytes(32);
    for (let i = 0, n = 0; i < tries; i++, n = n >= ID_NONCE_MAX ? 0 : n + 1) {
      const id = nodeIdFromSigningKey(key, n);
      if (!id || bucketIndex(target, id) >= ID_BITS - prefixBits) continue;
      const list = this.fakes.get(id[0]!) ?? [];
      if (list.length < MAX_FAKES_PER_BYTE) list.push({ id, contact: { key: toBase64Url(key), n } });
      this.fakes.set(id[0]!, list);
      this.count('fake-ids-ground');
      key = this.random.bytes(32); // the next id from a fresh key
    }
    this.count('fake-id-tries', tries);
  }
}

interface Fake {
  id: NodeId;
  contact: ContactWire;
}

/** Turns a spawned (not yet joined) node into a member of the coalition. */
export function makeAdversary(coalition: Coalition, s: SimNode): void {
  coalition.members.set(s.node.hex, s);
  const channels = s.node.channels;
  // PING and whatever else is not lied about goes the honest way.
  const honest = channels.onRequest.bind(channels);
  channels.onRequest = (peer: Peer, req: RequestFrame, reply: Reply) => {
    if (lie(coalition, s, req, reply) === 'honest') return honest(peer, req, reply);
    coalition.count(`lied-${req.m}`);
  };
}

/** A lying answer to one request, whether it arrived here or was only passing through. */
function lie(c: Coalition, s: SimNode, req: RequestFrame, reply: Reply): 'lied' | 'honest' {
  const ok = <M extends Method>(body: ResponseBodyOf<M>) => (reply as Reply<M>).ok(body);
  const b = req.b as Record<string, unknown>;
  switch (req.m) {
    case 'FIND_NODE':
      ok<'FIND_NODE'>({ nodes: c.contactsFor(idFromHex(b.target as string)!, 16) });
      return 'lied';
    case 'FIND_VALUE': {
      // Without name lies it answers as an honest node that dropped every STORE: it holds nothing.
      if (!c.nameLies) return 'honest';
      void lieAboutName(c, s, req, b.key as string, b.nonce as string | undefined).then((body) => ok<'FIND_VALUE'>(body));
      return 'lied';
    }
    case 'STORE': {
      // Dropped; the answer says it is kept, with the coalition's record where it has one.
      const record = b.record as UserRecordWire;
      const forged = c.forged.get(idToHex(recordKey(record.name)));
      ok<'STORE'>({ stored: forged === undefined, record: forged ?? record });
      return 'lied';
    }
    case 'MAILBOX_STORE': {
      const e = b.envelope as EnvelopeWire;
      c.capture(c.envelopes, e);
      void signHolderAck(s.node, envelopeHash(e), e.to).then((ack) => ok<'MAILBOX_STORE'>({ stored: true, acks: [ack] }));
      return 'lied';
    }
    case 'MAILBOX_FETCH':
      c.capture(c.fetches, { body: b, holder: b.holder as string });
      ok<'MAILBOX_FETCH'>({ entries: [], more: false });
      return 'lied';
    case 'MAILBOX_ACK':
      ok<'MAILBOX_ACK'>({ accepted: 0 });
      return 'lied';
    case 'DELIVER':
      c.capture(c.envelopes, b.envelope);
      return 'lied';
    case 'SIGNAL':
      // Dropped unanswered, routed or not: the dialer waits for its timeout. One for this member
      // itself goes the honest way when the coalition takes every channel it can get.
      if (c.acceptsDials && b.to === s.node.hex) return 'honest';
      return 'lied';
    default:
      return 'honest';
  }
}

/**
 * A FIND_VALUE answer with the coalition's record for the name. An ask with a nonce (Find user
 * asking one holder, answer-proofs.ts) counts only with a proof signed by the holder it was
 * routed to: for a member of the coalition (this one or another, whose keys it shares) the
 * proof is real and the lie a valid vote; for an honest holder it can only sign as itself, so
 * the answer is refused and the honest holder's vote lost (it never reaches the holder).
 */
async function lieAboutName(c: Coalition, s: SimNode, req: RequestFrame, key: string, nonce: string | undefined): Promise<ResponseBodyOf<'FIND_VALUE'>> {
  const record = c.forged.get(key) ?? null;
  const nodes = c.contactsFor(idFromHex(key)!, 8);
  if (nonce === undefined) return { record, nodes };
  const asked = req.r ? c.members.get(req.r.k) : s;
  c.count(asked ? 'name-lie-signed-as-member' : 'name-lie-for-honest-holder');
  return { record, nodes, proof: await signAnswer((asked ?? s).node, key, nonce, record, nodes) };
}

/** A routed request sent straight into one channel, as the existing attack tests send them. */
function routed(peer: Peer, method: Method, key: string, body: unknown): Promise<string> {
  const route: Route = { k: key, h: 1, max: 20, ms: 9_000 };
  return peer.rpc.request(method, body as never, 9_000, route).then(
    () => 'ok',
    (err: { code?: string }) => err.code ?? 'error',
  );
}

/** A neighbour of `s` that is honest and closest to `key` (where a routed request would go). */
function honestHop(c: Coalition, s: SimNode, key: NodeId): Peer | undefined {
  return s.node.neighbours().filter((p) => !c.isMember(p.hex)).sort((a, b) => compareDistance(key, a.id, b.id))[0];
}

function pick<T>(random: Random, list: readonly T[]): T | undefined {
  return list.length === 0 ? undefined : list[random.int(list.length)];
}

/**
 * One round of every active attack by one member. Answers are not awaited beyond what the next
 * step needs: the experiment's clock runs them out.
 */
export async function attackRound(c: Coalition, s: SimNode): Promise<void> {
  if (s.node.isClosed) return;
  const { random } = c;
  const now = s.node.clock.now();
  const ops = s.node.ops;
  const send = (what: string, p: Promise<string>) => void p.then((r) => c.count(`${what}-${r}`));

  // Backdated records (registeredAt 0, the coalition's key) and forged ones (the owner's key,
  // a higher seq, signed by another): routed to the name and straight to its holders we know.
  const victim = pick(random, c.users);
  if (victim) {
    const key = recordKey(victim.name);
    const keyHex = idToHex(key);
    const backdated = c.forged.get(keyHex);
    // The forged one carries the owner's key and id nonce (both public): only its signature fails.
    const forged = backdated && { ...backdated, signingKey: toBase64Url(victim.signingKey), n: victim.idNonce, seq: 1_000_000 };
    const hop = honestHop(c, s, key);
    for (const record of [backdated, forged]) {
      if (!record) continue;
      if (hop) send('record-routed', routed(hop, 'STORE', keyHex, { record }));
      for (const n of s.node.closestTo(key)) {
        const p = s.node.peer(n.hex);
        if (p && !c.isMember(p.hex)) send('record-direct', p.rpc.request('STORE', { record }, 9_000).then(() => 'ok', (e: { code?: string }) => e.code ?? 'error'));
      }
    }
  }

  // A SIGNAL with a made-up `from` next to an honest node, signed by our own key.
  const target = pick(random, c.honestLive());
  if (target) {
    const body = await signSignal(s.identity, target, `adv${random.int(1e9)}`, '[]', now, ops);
    const forgedFrom = { ...body, from: target.slice(0, 36) + idToHex(random.bytes(2)) };
    const hop = honestHop(c, s, idFromHex(target)!);
    if (hop) send('signal-forged', routed(hop, 'SIGNAL', target, forgedFrom));
  }

  // A message claiming another user's name, to a user: routed to it, and to its holders. It is
  // signed by the key of the coalition's record for that name, so a lookup the coalition wins
  // would show it as from the name.
  const to = pick(random, c.users);
  const as = pick(random, c.users.filter((u) => u !== to));
  if (to && as) {
    const e = await createEnvelope((c.signers.get(as.name) ?? s).identity, as.name, { nodeId: idFromHex(to.nodeHex)!, agreementKey: to.agreementKey }, `not from ${as.name}`, now, random, ops);
    const hop = honestHop(c, s, idFromHex(to.nodeHex)!);
    if (hop) {
      send('message-forged-deliver', routed(hop, 'DELIVER', to.nodeHex, { envelope: e }));
      send('message-forged-store', routed(hop, 'MAILBOX_STORE', to.nodeHex, { envelope: e, copies: 7 }));
    }
  }

  // Replays: an envelope seen earlier, delivered and stored again; a fetch sent on to another
  // holder, and to the one it was signed for; tombstones for it signed by our key.
  const old = pick(random, c.envelopes);
  if (old) {
    const hop = honestHop(c, s, idFromHex(old.to)!);
    if (hop) {
      send('replay-deliver', routed(hop, 'DELIVER', old.to, { envelope: old }));
      send('replay-store', routed(hop, 'MAILBOX_STORE', old.to, { envelope: old, copies: 7 }));
      const t = await signTombstone(s.identity, envelopeHash(old), now, ops);
      send('tombstone-forged', routed(hop, 'MAILBOX_ACK', old.to, { key: toBase64Url(s.identity.signingPublic), n: s.identity.idNonce, tombstones: [{ ...t, to: old.to }] }));
    }
  }
  const fetch = pick(random, c.fetches);
  if (fetch) {
    const owner = idFromHex((fetch.body as { owner: string }).owner)!;
    const other = s.node.closestTo(owner, 4).find((n) => n.hex !== fetch.holder && !c.isMember(n.hex));
    for (const holder of [other?.hex, fetch.holder]) {
      if (!holder || c.isMember(holder)) continue;
      const hop = honestHop(c, s, idFromHex(holder)!);
      if (hop) send('replay-fetch', routed(hop, 'MAILBOX_FETCH', holder, fetch.body));
    }
  }

  // Made-up ids in the near subtree of an honest node, for the answers about its neighbourhood.
  const near = pick(random, c.honestLive());
  if (c.madeUpContacts && near) c.grind(idFromHex(near)!, Math.ceil(Math.log2(Math.max(2, s.node.estimatedSize() / REPLICATION))) + 1, FAKE_ID_TRIES_PER_ROUND);

  // A flood past one honest neighbour's request bucket.
  const flooded = pick(random, s.node.neighbours().filter((p) => !c.isMember(p.hex)));
  if (flooded) {
    for (let i = 0; i < FLOOD_PER_ROUND; i++) {
      send('flood', flooded.rpc.request('FIND_NODE', { target: s.node.hex }, 9_000).then(() => 'ok', (e: { code?: string }) => (e.code === ErrorCode.Busy ? 'busy' : (e.code ?? 'error'))));
    }
  }
}
