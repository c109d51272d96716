/**
 * User records in the DHT (ARCHITECTURE.md, "Names"): holders verify, choose by the holder-local
 * first-come rule (records.ts chooseRecord), persist before acknowledging, replicate to the r
 * closest and push to closer nodes they meet; lookups ask each of the name's r closest and take
 * the record most of them keep; owners publish and re-read to learn whether the name is theirs.
 */
import { HOLDER_ASK_PATHS, HOLDER_ASK_ROUNDS, HOLDER_LATE_PASS_MS, HOLDER_STRANGER_PATHS, HOLDER_ASK_VIAS, HOLDER_ASK_TIMEOUT_MS, HOLDER_ASK_WINDOW_MS, HOLDER_ASKS_MAX, HOLDER_SCOUTS, HOLDER_SERVER_DIALS, HOLDER_SLACK_LOG2, JOIN_REREAD_DELAY_MS, JOIN_STORE_ATTEMPTS, MAX_NAMES_PER_KEY, NAME_CONTEST_WINDOW_MS, NAME_HOLDER_SLACK, THIN_READ_WAIT_MS } from './constants.ts';
import { ErrorCode, isPeerchatError, PeerchatError, quietError } from '../lib/errors.ts';
import { toBase64Url } from '../lib/encoding.ts';
import { idEquals, idFromHex, idToHex, type NodeId } from '../lib/id.ts';
import { LazyMap } from '../lib/lazy-map.ts';
import type { HandlerContext, NodeContext, NodeService, Peer } from '../dht/context.ts';
import { verifiedIds } from '../dht/contacts.ts';
import { TimerSet } from '../lib/clock.ts';
import { TokenBucket } from '../dht/budget.ts';
import type { RequestBodyOf, ResponseBodyOf } from '../dht/protocol.ts';
import type { UserRecordWire } from './wire.ts';
import { closestNeighbour, inClosestSet, type Neighbour } from '../dht/router.ts';
import { censusHolderLog2, holderRadiusLog2, HolderSearch, plausibleHolderLog2 } from './holder-search.ts';
import { answerIsFrom, askNonce, signAnswer } from './answer-proofs.ts';
import { chooseRecord, contestQuorum, couldReplace, majorityRecord, recordFromWire, recordKey, recordToWire, verifyRecord, type Resolution, type UserRecord } from './records.ts';

/** One name lookup's state, as its rounds share it (read). */
interface Lookup {
  search: HolderSearch<UserRecord | null>;
  name: string;
  checked: Map<string, Promise<boolean>>;
  selfVotes: boolean;
  /** Dials through the bootstrap service the lookup has left (askOrSettle). */
  settle: { dials: number };
}

interface Held {
  record: UserRecord;
  key: NodeId;
  /** When this node first stored a record for the name (its own clock): chooseRecord's window. */
  since: number;
  /** Inside the contest window: each nearby pusher's latest signing key (base64url). */
  pushes: Map<string, string> | null;
  /** Neighbours known to hold this exact record, so pushes are not repeated. */
  pushedTo: Set<string>;
}

/** Records a holder keeps at most: bounds what strangers can make it store. */
const MAX_HELD_RECORDS = 10_000;
/**
 * Reads of names new to it a holder makes at most (confirmByLookup), a burst and then per
 * minute, one at a time: each costs up to HOLDER_ASKS_MAX asks over a few paths each, mostly
 * through the same few neighbours, and anyone who can sign records can hand a holder new names.
 * (Ten at once, 289 honest requests were refused for rate at N = 1,000, F = 0.1, where none
 * were before.)
 */
export const CONFIRM_BURST = 4;
export const CONFIRMS_PER_MIN = 10;
/** A full table is swept for expired and far records at most this often (a sweep reads all). */
const FULL_SWEEP_INTERVAL_MS = 60_000;

export type PublishResult = { status: 'ok'; holders: number } | { status: 'taken'; by: UserRecord } | { status: 'contested' };

export class RecordService implements NodeService {
  private readonly held = new LazyMap<string, Held>();
  /** Name keys held per signing key (base64url): the MAX_NAMES_PER_KEY cap. */
  private readonly byKey = new Map<string, Set<string>>();
  private lastSweepAt = -Infinity;
  /** Reads a holder makes to check a name new to it (confirmByLookup), one at a time. */
  private readonly confirms: TokenBucket;
  private confirming: Promise<unknown> = Promise.resolve();
  private readonly timers: TimerSet;
  /** Publishes waiting to read their name back: close() fails them instead of leaving them hanging. */
  private waiting: Set<(err: PeerchatError) => void> | null = null;

  /** `maxHeld`: the table's size (smaller only in tests). */
  constructor(
    private readonly node: NodeContext,
    private readonly maxHeld = MAX_HELD_RECORDS,
  ) {
    this.timers = new TimerSet(node.ticker);
    this.confirms = new TokenBucket(CONFIRMS_PER_MIN / 60_000, CONFIRM_BURST, node.clock.now());
    node.handle('STORE', (b, ctx) => this.onStore(b, ctx));
    node.handle('FIND_VALUE', (b) => this.onFindValue(b));
  }

  get size(): number {
    return this.held.size;
  }

  /** Restores held records from the store; what fails to parse or verify is dropped and counted. */
  async load(): Promise<void> {
    const { node } = this;
    for (const [keyHex, wire] of await node.store.entries<UserRecordWire>('records')) {
      const record = recordFromWire(wire);
      const ok = record && (await verifyRecord(record, node.clock.now(), node.ops)) === 'ok';
      if (!record || !ok) {
        node.stats.count('record-dropped-from-disk');
        continue;
      }
      // Kept before the restart: past its contest window.
      this.keep(keyHex, { record, key: recordKey(record.name), since: node.clock.now() - NAME_CONTEST_WINDOW_MS, pushes: null, pushedTo: new Set() });
    }
  }

  /** The unexpired record this node holds for a name key, if any. */
  get(keyHex: string): UserRecord | undefined {
    const h = this.held.get(keyHex);
    return h && h.record.expiresAt > this.node.clock.now() ? h.record : undefined;
  }

  /**
   * Publishes the owner's record at the r closest nodes, waits JOIN_REREAD_DELAY_MS, and reads
   * it back: the name is ours only if most of the name's holders that answered now keep our key
   * (records.ts majorityRecord). A short read-back (too many holders hold nothing: liars on the
   * STORE's paths dropped it) is not yet an answer: the record is stored again at each holder
   * that lacks it and read back again, up to JOIN_STORE_ATTEMPTS times.
   */
  async publish(record: UserRecord): Promise<PublishResult> {
    const { node } = this;
    const key = recordKey(record.name);
    const wire = recordToWire(record);
    const stored = await node.routeFromHere('STORE', { record: wire }, key, 2);
    if (stored.length === 0) throw new PeerchatError(ErrorCode.NoRoute, 'Could not reach the nodes that hold names; check the connection and retry.');
    for (let attempt = 1; ; attempt++) {
      await this.wait(JOIN_REREAD_DELAY_MS);
      const { found, answers } = await this.read(record.name);
      if (found.status === 'found') {
        if (!idEquals(found.record.signingKey, record.signingKey)) return { status: 'taken', by: found.record };
        return { status: 'ok', holders: found.holders };
      }
      if (attempt >= JOIN_STORE_ATTEMPTS) {
        if (found.status === 'contested') return { status: 'contested' };
        throw new PeerchatError(ErrorCode.NoRoute, 'The record did not read back; retry.');
      }
      node.stats.count('record-publish-again');
      const lacking = [...answers].filter(([hex, r]) => r === null && hex !== node.hex).map(([hex]) => hex);
      await Promise.all(lacking.map((hex) => this.storeAt(hex, wire, attempt + 1)));
    }
  }

  /**
   * A STORE for one holder: direct to a neighbour, else routed to its id (onStore accepts a
   * routed STORE whose route ends at one of the name's holders). Failures only show in the next
   * read-back.
   */
  private async storeAt(hex: string, record: UserRecordWire, paths: number): Promise<void> {
    const { node } = this;
    const peer = node.peer(hex);
    const sent = peer ? node.direct(peer, 'STORE', { record }) : node.routeFromHere('STORE', { record }, idFromHex(hex)!, paths, { leave: true });
    await sent.catch(() => undefined);
  }

  /**
   * The record most of the name's holders keep (resolution). Null means the holders answered
   * and none holds the name; a name its holders disagree on fails with NOT_FOUND ("User not
   * found", and why); no answer at all throws NoRoute.
   */
  async resolve(name: string): Promise<UserRecord | null> {
    const found = await this.resolution(name);
    if (found.status === 'found') return found.record;
    if (found.status === 'none') return null;
    throw new PeerchatError(ErrorCode.NotFound, `User not found: the nodes that hold “${name}” disagree about whose it is. Try again later.`);
  }

  /** Asks each of a name's r closest nodes what it keeps and counts the answers (read). */
  async resolution(name: string): Promise<Resolution> {
    return (await this.read(name)).found;
  }

  /**
   * Asks each of a name's r closest nodes what it keeps and counts the answers (records.ts
   * majorityRecord). Who they are comes from FIND_VALUE routed over two disjoint paths and
   * through strangers the bootstrap service named, merged with this node's own view and its
   * nearest neighbours' (scouts); each is then asked itself (directly when it is a neighbour,
   * else routed to its id with a nonce, counted only when that holder signed the answer:
   * answer-proofs.ts). A liar on a path can name made-up or far nodes as the closest, and
   * answer in a holder's place: a candidate that does not answer as itself is dropped and the
   * next closest asked, and the nodes the holders that did answer name are candidates too, the
   * Kademlia way, for at most HOLDER_ASK_ROUNDS rounds and HOLDER_ASKS_MAX asks, and a late
   * pass drops the made-up ids still unasked (dropMadeUp).
   */
  private async read(name: string, selfVotes = true): Promise<{ found: Resolution; answers: Map<string, UserRecord | null> }> {
    const { node } = this;
    await this.untilJudgeable();
    const key = recordKey(name);
    const keyHex = idToHex(key);
    // Signed like an ask of one holder, so that whoever answered is known: a node that names
    // made-up holders can then be found out (holder-search.ts).
    const nonce = askNonce(node.random);
    const checked = new Map<string, Promise<boolean>>();
    // Scouts: this node's own neighbours closest to the name, asked directly beside the routed
    // ask. Both routed paths can end at a liar near the name, which names only its fellows and
    // made-up ids; those answer, fill the r closest candidates, and the honest holders are never
    // asked. The scouts' closest sets bring them in. (At N = 1,000, F = 0.1: 3 of the first 12
    // Joins read back only liars' votes, three times over.)
    const size = node.networkSize();
    const scouts = node.closestTo(key, HOLDER_SCOUTS).filter((n) => n.hex !== node.hex);
    const scouted = Promise.all(scouts.map((n) => this.ask(n.hex, name, checked, node.clock.now() + HOLDER_ASK_WINDOW_MS)));
    // Strangers: paths that start at nodes the bootstrap service named at random, not at this
    // node's channels (HOLDER_STRANGER_PATHS), so that liars around this node cannot choose
    // every node its lookup hears first.
    const strangers = node.strangers().slice(0, HOLDER_STRANGER_PATHS);
    const aside = Promise.all(strangers.map((via) => node.routeFromHere('FIND_VALUE', { key: keyHex, nonce }, key, 1, { via, timeoutMs: HOLDER_ASK_TIMEOUT_MS })));
    const first = [...(await node.routeFromHere('FIND_VALUE', { key: keyHex, nonce }, key, 2, { timeoutMs: HOLDER_ASK_TIMEOUT_MS })), ...(await aside).flat()];
    const scoutAnswers = await scouted;
    if (first.length === 0 && scoutAnswers.every((a) => a === undefined)) {
      throw new PeerchatError(ErrorCode.NoRoute, 'Could not reach the nodes that hold names; check the connection and retry.');
    }
    if (strangers.length > 0) node.stats.count('record-stranger-paths', strangers.length);
    const own = plausibleHolderLog2(node.id, node.neighbours(), node.replication, HOLDER_SLACK_LOG2);
    const radius = holderRadiusLog2(own, censusHolderLog2(await size, node.replication, HOLDER_SLACK_LOG2));
    const search = new HolderSearch<UserRecord | null>(keyHex, node.replication, radius, (r) => (r ? toBase64Url(r.signingKey) : ''));
    scouts.forEach((n, i) => {
      const a = scoutAnswers[i];
      if (a) search.answered(n.hex, a.record, a.nodes);
    });
    search.add(node.closestTo(key).map((n) => n.hex));
    for (const a of first) {
      const by = a.proof?.holder;
      if (by === undefined || !(await answerIsFrom(by, keyHex, nonce, a.record, a.nodes, a.proof, node.ops))) continue;
      search.add([by]);
      const record = by === node.hex && !selfVotes ? null : await this.checkedRecord(a.record, name, checked);
      search.answered(by, record, verifiedIds(a.nodes, node.stats).ids);
    }
    const lookup: Lookup = { search, name, checked, selfVotes, settle: { dials: HOLDER_SERVER_DIALS } };
    let asks = 0;
    const deadline = node.clock.now() + HOLDER_ASK_WINDOW_MS;
    for (let round = 0; round < HOLDER_ASK_ROUNDS && node.clock.now() < deadline; round++) {
      const fresh = search.toAsk().slice(0, HOLDER_ASKS_MAX - asks);
      if (fresh.length === 0) break;
      asks += fresh.length;
      await this.askRound(lookup, fresh, deadline);
    }
    // The late pass: holders the rounds never asked keep their places as abstainers, and a
    // liar found late can name made-up ids for most of them (N = 1,000, F = 0.1, seed 4: 5 of
    // a name's 8 places, and every read of it by a returning user stayed contested). The
    // service's word drops those without a dial; the holders behind them get one more round.
    if (await this.dropMadeUp(search)) {
      await this.askRound(lookup, search.toAsk().slice(0, node.replication), node.clock.now() + HOLDER_LATE_PASS_MS);
    }
    if (search.liarCount > 0) node.stats.count('record-holder-named-made-up', search.liarCount);
    const votes = search.votes();
    if (votes.size === 0) throw new PeerchatError(ErrorCode.NoRoute, 'None of the nodes that hold this name answered; retry.');
    const known = [node.hex, ...node.neighbours().map((p) => p.hex)];
    const unheard = search.unheard(known);
    return { found: majorityRecord([...votes.values()], unheard), answers: votes };
  }

  /** Asks each of `fresh` (askOrSettle) and tells the search what each answered. */
  private async askRound(lookup: Lookup, fresh: readonly string[], deadline: number): Promise<void> {
    const { search, name, checked, selfVotes, settle } = lookup;
    const got = await Promise.all(fresh.map((hex) => this.askOrSettle(hex, name, checked, deadline, search.namers(hex), selfVotes, settle)));
    fresh.forEach((hex, i) => {
      const a = got[i]!;
      if (a === 'tab') search.silentTab(hex);
      else if (a === 'no-tab') search.notANode(hex);
      else if (a === 'silent') search.noAnswer(hex);
      else search.answered(hex, a.record, a.nodes);
    });
  }

  /**
   * Asks the bootstrap service about the holders no round asked; those no tab has lose their
   * places (HolderSearch.notANode), a strike for each node that named them. True if any did.
   */
  private async dropMadeUp(search: HolderSearch<UserRecord | null>): Promise<boolean> {
    const { node } = this;
    const unasked = search.unasked().filter((hex) => hex !== node.hex);
    const said = await Promise.all(unasked.map((hex) => node.isTab(hex)));
    const madeUp = unasked.filter((_, i) => said[i] === false);
    for (const hex of madeUp) search.notANode(hex);
    if (madeUp.length > 0) node.stats.count('record-holder-no-tab-late', madeUp.length);
    return madeUp.length > 0;
  }

  /**
   * Waits, before a read, until this node can judge who may hold a name. With fewer than r
   * channels it has no near subtree to tell a plausible holder from a far one by
   * (holder-search.ts plausibleHolderLog2), and counts every vote it hears. In a network of r
   * nodes or fewer that is right: it knows them all. In a larger one it is joining, or its few
   * channels are all it can hear through, and they may all be liars': at N = 1,000 with one
   * node in five lying (seed 2), a returning user with 3 channels, all to liars, heard only
   * liars' 8 votes for a name and showed a forged message under it; at one in ten (seed 2), a
   * node with 6 channels, 5 of them liars', took the liars' key for a name. So it asks the
   * bootstrap service for r random settled nodes (NodeContext.anchor), which tells whether the
   * network is larger than r nodes, and dials them through it: most are honest, and none is
   * reached through its present channels. Then it waits up to THIN_READ_WAIT_MS for r channels;
   * still short, it gives no verdict.
   */
  private async untilJudgeable(): Promise<void> {
    const { node } = this;
    const r = node.replication;
    if (node.neighbours().length >= r || !(await node.anchor(r))) return;
    const until = node.clock.now() + THIN_READ_WAIT_MS;
    while (node.neighbours().length < r) {
      if (node.clock.now() >= until) {
        node.stats.count('record-read-too-few-peers');
        throw new PeerchatError(ErrorCode.NoRoute, 'This tab has too few peers yet to check who holds a name safely; retry in a minute.');
      }
      await this.wait(1_000);
    }
  }

  /**
   * One holder's answer: its verified record for the name (null when it holds none, or a
   * record that fails to verify, counted) and the nodes it takes for the name's closest;
   * undefined when it did not answer itself. This node's own copy counts unless `selfVotes` is
   * false (a holder checking the record it holds: confirmByLookup).
   */
  private async ask(hex: string, name: string, checked: Map<string, Promise<boolean>>, deadline: number, vias: readonly string[] = [], selfVotes = true): Promise<{ record: UserRecord | null; nodes: string[] } | undefined> {
    const { node } = this;
    const keyHex = idToHex(recordKey(name));
    if (hex === node.hex) return { record: selfVotes ? (this.get(keyHex) ?? null) : null, nodes: [] };
    let a: ResponseBodyOf<'FIND_VALUE'> | undefined;
    try {
      const peer = node.peer(hex);
      // A neighbour's channel is its HELLO-proven self; a routed answer must prove its holder.
      if (peer) a = await node.direct(peer, 'FIND_VALUE', { key: keyHex });
      else a = await this.askRouted(hex, keyHex, deadline, vias);
    } catch {
      return undefined;
    }
    if (!a) return undefined;
    return { record: await this.checkedRecord(a.record, name, checked), nodes: verifiedIds(a.nodes, node.stats).ids };
  }

  /**
   * ask, and for a holder that did not answer, the bootstrap service's word on it (NodeContext
   * isTab): 'no-tab', no node of the network has its id, so only a liar named it; 'tab', a tab
   * has it, and it is dialled through the service and asked directly, past every path, while
   * `settle.dials` lasts; 'silent', the service cannot say (the old rule: a strike).
   *
   * A silent holder used to cost each node that named it a strike, whatever kept it silent. Liars
   * answering in an honest holder's place on every path then got the honest nodes that named it
   * struck out, and their votes with them: at N = 1,000, F = 0.2, seed 5, 7 honest nodes were
   * discredited and 5 liars' votes of 8 took a name. Without the dial the holder abstained,
   * which kept it safe but cost delivery: its place and vote stayed empty, and a returning user's
   * reads of its sender's name stayed contested (F = 0.1, seed 1: 22 of 27 messages shown, 27
   * with strikes).
   */
  private async askOrSettle(hex: string, name: string, checked: Map<string, Promise<boolean>>, deadline: number, vias: readonly string[], selfVotes: boolean, settle: { dials: number }): Promise<{ record: UserRecord | null; nodes: string[] } | 'tab' | 'no-tab' | 'silent'> {
    const { node } = this;
    const a = await this.ask(hex, name, checked, deadline, vias, selfVotes);
    if (a) return a;
    const tab = await node.isTab(hex);
    if (tab === null) return 'silent';
    if (!tab) {
      node.stats.count('record-holder-no-tab');
      return 'no-tab';
    }
    if (settle.dials <= 0 || node.clock.now() >= deadline) return 'tab';
    settle.dials--;
    const reached = await node.reachViaServer(hex);
    node.stats.count(`record-holder-dialled-${reached ? 'open' : 'failed'}`);
    return (reached && (await this.ask(hex, name, checked, deadline, [], selfVotes))) || 'tab';
  }

  /**
   * A FIND_VALUE routed to holder `hex`, counted only when that holder signed the answer. A
   * node on the path can answer in its place (a liar, or an honest node with no channel to it)
   * or the path dies: the ask is made again through another first hop, up to HOLDER_ASK_PATHS
   * paths, and whoever answered in its place is routed around (RouteOptions.avoidAll). Paths
   * to one holder converge near it, so another first hop alone met the same liar: at N = 1,000,
   * F = 0.1, 2,524 of 7,241 routed asks of honest holders were answered by a liar, and 1,177 by
   * an honest node without a channel to the holder.
   *
   * Between those, it goes through a node that named the holder (`vias`, which answered as
   * themselves: an answer names only channels) as a waypoint (Route.w), up to HOLDER_ASK_VIAS
   * of them. Liars around the holder can make every greedy path from a looker die, and the
   * honest nodes that named the holder then looked like liars (holder-search.ts strikes): at
   * N = 1,000, F = 0.1, one looker found 5 honest nodes near a name out that way, 3 of them
   * voting for its owner, and took the liars' key.
   */
  private async askRouted(hex: string, keyHex: string, deadline: number, vias: readonly string[] = []): Promise<ResponseBodyOf<'FIND_VALUE'> | undefined> {
    const { node } = this;
    const target = idFromHex(hex)!;
    const notVia = new Set<string>();
    const avoidAll = new Set<string>();
    const waypoints = vias.filter((w) => w !== node.hex).slice(0, HOLDER_ASK_VIAS);
    const paths = HOLDER_ASK_PATHS + waypoints.length;
    for (let path = 0; path < paths && (path === 0 || node.clock.now() < deadline); path++) {
      // Greedy paths and waypoints in turn: greedy first, the waypoints while time is left.
      const waypoint = path % 2 === 1 ? waypoints[(path - 1) / 2] : undefined;
      const via = waypoint === undefined ? closestNeighbour(target, node.neighbours(), new Set([...notVia, ...avoidAll])) : null;
      if (waypoint === undefined && !via) continue;
      const nonce = askNonce(node.random);
      const opts = { leave: true, notVia, avoidAll, timeoutMs: HOLDER_ASK_TIMEOUT_MS, ...(waypoint === undefined ? {} : { via: waypoint }) };
      const [a] = await node.routeFromHere('FIND_VALUE', { key: keyHex, nonce }, target, 1, opts);
      if (a && (await answerIsFrom(hex, keyHex, nonce, a.record, a.nodes, a.proof, node.ops))) {
        if (waypoint !== undefined) node.stats.count('record-asked-via-namer');
        return a;
      }
      if (via) notVia.add(via.hex);
      if (!a) continue;
      node.stats.count('record-answer-not-from-holder');
      // Whoever signed it answered in the holder's place (checked, so that no one gets an honest
      // node routed around by naming it).
      const by = a.proof?.holder;
      if (by !== undefined && by !== hex && by !== node.hex && (await answerIsFrom(by, keyHex, nonce, a.record, a.nodes, a.proof, node.ops))) avoidAll.add(by);
    }
    return undefined;
  }

  private async checkedRecord(wire: UserRecordWire | null, name: string, checked: Map<string, Promise<boolean>>): Promise<UserRecord | null> {
    const { node } = this;
    const record = wire ? recordFromWire(wire) : null;
    if (!record || record.name !== name) return null;
    // Honest holders answer with the same copy: each signature is checked once per lookup.
    const sig = toBase64Url(record.signature);
    let ok = checked.get(sig);
    if (!ok) checked.set(sig, (ok = verifyRecord(record, node.clock.now(), node.ops).then((c) => c === 'ok')));
    if (await ok) return record;
    node.stats.count('record-rejected-in-answer');
    return null;
  }

  /** A new neighbour that is among the r closest to a held record's key gets a copy. */
  onNeighbour(peer: Peer): void {
    for (const h of this.held.values()) this.pushToClose(h, [peer]);
  }

  private wait(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      (this.waiting ??= new Set()).add(reject);
      this.timers.set(() => {
        this.waiting?.delete(reject);
        resolve();
      }, ms);
    });
  }

  /** Cancels a publish's wait to read its name back: that publish fails with CLOSED. */
  close(): void {
    this.timers.clear();
    for (const fail of this.waiting ?? []) fail(new PeerchatError(ErrorCode.Closed, 'The node closed before the name was read back.'));
    this.waiting = null;
  }

  /** Periodic: drop expired records, copy the rest to the current r closest that lack them. */
  async recheck(): Promise<void> {
    const now = this.node.clock.now();
    for (const [keyHex, h] of this.held) {
      if (h.record.expiresAt <= now) {
        await this.forget(keyHex, h);
        continue;
      }
      if (h.pushes && now - h.since >= NAME_CONTEST_WINDOW_MS) h.pushes = null;
      this.pushToClose(h, this.node.neighbours());
    }
  }

  /**
   * Copies a held record to those of `peers` among the r closest to its name that are not known
   * to have it. The closest set is worked out once, and only when several lack it; a new
   * channel alone (onNeighbour, once per record held) is ranked without building it.
   */
  private pushToClose(h: Held, peers: readonly Peer[]): void {
    const { node } = this;
    const lacking = peers.filter((p) => !h.pushedTo.has(p.hex));
    if (lacking.length === 0) return;
    const close = lacking.length > 1 ? new Set(node.closestTo(h.key).map((n) => n.hex)) : null;
    for (const peer of lacking) {
      if (!(close ? close.has(peer.hex) : inClosestSet(h.key, node, node.neighbours(), peer, node.replication))) continue;
      h.pushedTo.add(peer.hex);
      // A holder that refuses the record (not close by its own table, or it keeps another) will
      // refuse it again: it is not asked again. Busy, lost or slow, it is, at the next recheck.
      // (Asked again each minute, refusals were most of a CI-size chat run's STOREs: 188,897.)
      this.node.direct(peer, 'STORE', { record: recordToWire(h.record) }).catch((err) => {
        if (!isPeerchatError(err, ErrorCode.Rejected)) h.pushedTo.delete(peer.hex);
      });
    }
  }

  private async onStore(b: RequestBodyOf<'STORE'>, ctx: HandlerContext): Promise<ResponseBodyOf<'STORE'>> {
    const { node } = this;
    const record = recordFromWire(b.record);
    if (!record) throw this.reject('record-malformed', 'Malformed record');
    const key = recordKey(record.name);
    const keyHex = idToHex(key);
    // A STORE routed to the name arrives only where no neighbour is closer. Any other (direct,
    // or routed to one holder's id by a Join storing again: publish) must come to one of the
    // name's holders, or anyone could fill any node's table.
    const toName = ctx.routed && ctx.key !== null && idToHex(ctx.key) === keyHex;
    if (ctx.routed && !toName && !this.isNear(node, key)) throw this.reject('record-wrong-key', 'Record routed to the wrong key');
    if (!ctx.routed && !this.isNear(node, key)) throw this.reject('record-not-close', 'This node does not hold that name');
    const kept = await this.take(keyHex, key, record, ctx);
    const stored = sameRecord(kept, record);
    return { stored, record: stored ? b.record : recordToWire(kept) };
  }

  /**
   * A record pushed to this holder, by a STORE or as a fellow holder's answer
   * (askFellowHolders); returns what is held after it. Holders push the same record to each
   * other all the time: the very record held already was checked when it came, and changes
   * nothing but the push's vote. A record that could not win here (a stale seq, another key
   * past the window) costs no signature check. Anything else is checked in full and
   * considered; a refusal is thrown, counted.
   */
  private async take(keyHex: string, key: NodeId, record: UserRecord, ctx: HandlerContext): Promise<UserRecord> {
    const { node } = this;
    const current = this.held.get(keyHex);
    if (current && sameRecord(current.record, record)) {
      this.notePush(current, ctx, record);
      return current.record;
    }
    if (current && !couldReplace(current, record, node.clock.now())) {
      node.stats.count(idEquals(current.record.signingKey, record.signingKey) ? 'record-stale-unchecked' : 'record-kept-first-come');
      return current.record;
    }
    const check = await verifyRecord(record, node.clock.now(), node.ops);
    if (check !== 'ok') throw this.reject(`record-${check}`, `Record rejected: ${check}`);
    // Another STORE may have replaced what was held while the signature was checked.
    await this.consider(keyHex, key, record, ctx);
    return this.held.get(keyHex)!.record;
  }

  /** Keeps `record` if chooseRecord says so and the quotas allow; throws a counted refusal. */
  private async consider(keyHex: string, key: NodeId, record: UserRecord, ctx: HandlerContext): Promise<void> {
    const { node } = this;
    const now = node.clock.now();
    const found = this.held.get(keyHex);
    const current = found && found.record.expiresAt > now ? found : undefined;
    if (current) this.notePush(current, ctx, record);
    // Votes count from the name's r closest by this node's table (pushes are noted from a few
    // more, which may become so); a majority of them moves the name inside the window.
    const closest = new Set(node.closestTo(key).map((n) => n.hex));
    const backing = (signingKey: Uint8Array) => countOf(current?.pushes, toBase64Url(signingKey), closest);
    if (chooseRecord(current, record, now, backing, contestQuorum(closest.size)) === 'keep') {
      if (current && !idEquals(current.record.signingKey, record.signingKey)) {
        node.stats.count(now - current.since >= NAME_CONTEST_WINDOW_MS ? 'record-kept-first-come' : 'record-kept-contest');
      }
      return;
    }
    const h = await this.hold(keyHex, key, record, current, found !== undefined);
    if (!current) this.notePush(h, ctx, record);
    if (ctx.routed) this.pushToClose(h, node.neighbours());
    if (!current) void this.settleNew(keyHex);
  }

  /** Writes `record` as what this node holds for the name, within the quotas; throws a counted refusal. */
  private async hold(keyHex: string, key: NodeId, record: UserRecord, current: Held | undefined, hadEntry: boolean): Promise<Held> {
    const { node } = this;
    const now = node.clock.now();
    const sameKey = current !== undefined && idEquals(current.record.signingKey, record.signingKey);
    if (!sameKey && this.namesOf(record.signingKey, now) >= MAX_NAMES_PER_KEY) throw this.reject('record-names-per-key', 'This key holds as many names here as it may');
    if (!hadEntry && this.held.size >= this.maxHeld) await this.makeRoom(now);
    if (!this.held.has(keyHex) && this.held.size >= this.maxHeld) throw this.reject('record-over-quota', 'Holder is full');
    await node.store.put('records', keyHex, recordToWire(record));
    const h: Held = { record, key, since: current?.since ?? now, pushes: current?.pushes ?? null, pushedTo: new Set() };
    // What is held now, which another STORE may have changed while this one was written.
    const replaced = this.held.get(keyHex);
    if (replaced) this.unindex(keyHex, replaced);
    this.keep(keyHex, h);
    node.stats.count('record-stored');
    return h;
  }

  /**
   * A holder new to a name checks its first record with the name's other holders: those among
   * its neighbours (askFellowHolders), then the name's r closest as any looker finds them
   * (confirmByLookup). Then, unless more of its neighbours keep another key than the one it
   * holds, it passes the record on to those that lack it at once, not at the next recheck
   * (REFRESH_INTERVAL_MS): the holders the owner's STOREs missed otherwise took a liar's STORE
   * as their first. (Passing on every first record at once, a holder whose first was a liar's
   * voted for it at every other holder still in its window.)
   */
  private async settleNew(keyHex: string): Promise<void> {
    const keptBy = await this.askFellowHolders(keyHex);
    const followed = !this.node.isClosed && (await this.queueConfirm(keyHex));
    const now = this.held.get(keyHex);
    if (!now || this.node.isClosed) return;
    const mine = keptBy.get(toBase64Url(now.record.signingKey)) ?? 0;
    if (!followed && [...keptBy.values()].some((n) => n > mine)) return;
    this.pushToClose(now, this.node.neighbours());
  }

  /** confirmByLookup, one read at a time: a read's asks go mostly through the same few neighbours. */
  private queueConfirm(keyHex: string): Promise<boolean> {
    const run = this.confirming.then(() => this.confirmByLookup(keyHex));
    this.confirming = run.catch(() => false);
    return run;
  }

  /**
   * Reads a name this node has just started holding as a looker would (read), its own copy not
   * counted, and inside the contest window follows a key most of the name's holders keep. A
   * holder new to a name takes the first record that reaches it; at N = 1,000, F = 0.2 the
   * coalition's STOREs reached honest nodes 8th to 30th from names (their few channels made them
   * think they were among the r closest) before the owner's, and when a looker missed the
   * nearest holders those voted for the coalition's key. A read costs a few dozen requests:
   * at most CONFIRM_BURST at once and CONFIRMS_PER_MIN are made, the rest are skipped, counted.
   * True when it followed another key.
   */
  private async confirmByLookup(keyHex: string): Promise<boolean> {
    const { node } = this;
    const h = this.held.get(keyHex);
    if (!h || node.isClosed) return false;
    if (node.clock.now() - h.since >= NAME_CONTEST_WINDOW_MS) {
      node.stats.count('record-confirm-late');
      return false;
    }
    if (!this.confirms.take(node.clock.now())) {
      node.stats.count('record-confirm-skipped');
      return false;
    }
    node.stats.count('record-confirm-read');
    let found: Resolution;
    try {
      found = (await this.read(h.record.name, false)).found;
    } catch {
      return false;
    }
    const now = this.held.get(keyHex);
    if (!now || node.isClosed || found.status !== 'found') return false;
    if (idEquals(found.record.signingKey, now.record.signingKey)) return false;
    if (node.clock.now() - now.since >= NAME_CONTEST_WINDOW_MS) return false;
    const current = now.record.expiresAt > node.clock.now() ? now : undefined;
    try {
      await this.hold(keyHex, now.key, found.record, current, true);
    } catch {
      return false;
    }
    node.stats.count('record-followed-lookup');
    return true;
  }

  /**
   * A holder new to a name asks the name's other holders among its neighbours what they keep,
   * and their answers count as their pushes: inside the window a majority of them moves the
   * name (chooseRecord). Else a liar whose STORE reached first a holder the owner's had not
   * (dropped on the way) kept the name there. Returns how many of them keep each key.
   */
  private async askFellowHolders(keyHex: string): Promise<Map<string, number>> {
    const { node } = this;
    const keptBy = new Map<string, number>();
    const h = this.held.get(keyHex);
    if (!h) return keptBy;
    const fellows = node.closestTo(h.key).flatMap((n) => node.peer(n.hex) ?? []);
    node.stats.count('record-fellows-asked', fellows.length);
    await Promise.all(
      fellows.map(async (peer) => {
        const a = await node.direct(peer, 'FIND_VALUE', { key: keyHex }).catch(() => undefined);
        const record = a?.record ? recordFromWire(a.record) : null;
        const held = this.held.get(keyHex);
        if (!record || !held || record.name !== held.record.name) return;
        const k = toBase64Url(record.signingKey);
        keptBy.set(k, (keptBy.get(k) ?? 0) + 1);
        // Refusals (a forged record, over quota) are counted by take.
        await this.take(keyHex, h.key, record, { from: peer, routed: false, key: null }).catch(() => undefined);
      }),
    );
    return keptBy;
  }

  /** Inside a name's window, a holder near the name that pushed `record` backs its key. */
  private notePush(h: Held, ctx: HandlerContext, record: UserRecord): void {
    if (ctx.routed || !ctx.from) return;
    if (this.node.clock.now() - h.since >= NAME_CONTEST_WINDOW_MS) {
      h.pushes = null;
      return;
    }
    if (!this.isNear(ctx.from, h.key)) return;
    (h.pushes ??= new Map()).set(ctx.from.hex, toBase64Url(record.signingKey));
  }

  /** Whether `who` is among the r + NAME_HOLDER_SLACK closest to key by this node's channels. */
  private isNear(who: Neighbour, key: NodeId): boolean {
    const { node } = this;
    return inClosestSet(key, node, node.neighbours(), who, node.replication + NAME_HOLDER_SLACK);
  }

  /** Unexpired names this node holds for a signing key. */
  private namesOf(signingKey: Uint8Array, now: number): number {
    let n = 0;
    for (const keyHex of this.byKey.get(toBase64Url(signingKey)) ?? []) {
      const r = this.held.get(keyHex)?.record;
      if (r && r.expiresAt > now && idEquals(r.signingKey, signingKey)) n++;
    }
    return n;
  }

  private keep(keyHex: string, h: Held): void {
    this.held.set(keyHex, h);
    const k = toBase64Url(h.record.signingKey);
    const names = this.byKey.get(k);
    if (names) names.add(keyHex);
    else this.byKey.set(k, new Set([keyHex]));
  }

  private unindex(keyHex: string, h: Held): void {
    const k = toBase64Url(h.record.signingKey);
    const names = this.byKey.get(k);
    names?.delete(keyHex);
    if (names?.size === 0) this.byKey.delete(k);
  }

  private async forget(keyHex: string, h: Held): Promise<void> {
    this.held.delete(keyHex);
    this.unindex(keyHex, h);
    await this.node.store.delete('records', keyHex);
  }

  /** A full table drops expired records and those of names this node no longer holds. */
  private async makeRoom(now: number): Promise<void> {
    if (now - this.lastSweepAt < FULL_SWEEP_INTERVAL_MS) return;
    this.lastSweepAt = now;
    for (const [keyHex, h] of [...this.held]) {
      if (h.record.expiresAt > now && this.isNear(this.node, h.key)) continue;
      await this.forget(keyHex, h);
      this.node.stats.count('record-evicted');
    }
  }

  private async onFindValue(b: RequestBodyOf<'FIND_VALUE'>): Promise<ResponseBodyOf<'FIND_VALUE'>> {
    const held = this.get(b.key);
    const record = held ? recordToWire(held) : null;
    // Who this node takes for the name's closest, itself included when it is one: lookups ask
    // each of them (resolution).
    const nodes = this.node.closestContacts(idFromHex(b.key)!);
    if (b.nonce === undefined) return { record, nodes };
    return { record, nodes, proof: await signAnswer(this.node, b.key, b.nonce, record, nodes) };
  }

  private reject(reason: string, message: string): PeerchatError {
    this.node.stats.count(reason);
    return quietError(ErrorCode.Rejected, message);
  }
}

function sameRecord(a: UserRecord, b: UserRecord): boolean {
  return (
    a.name === b.name && a.registeredAt === b.registeredAt && a.seq === b.seq && a.expiresAt === b.expiresAt &&
    idEquals(a.signingKey, b.signingKey) && idEquals(a.agreementKey, b.agreementKey) && idEquals(a.signature, b.signature)
  );
}

/** Pushers among `from` whose latest push was a record with signing key `key` (base64url). */
function countOf(pushes: Map<string, string> | null | undefined, key: string, from: ReadonlySet<string>): number {
  let n = 0;
  for (const [hex, k] of pushes ?? []) if (k === key && from.has(hex)) n++;
  return n;
}
