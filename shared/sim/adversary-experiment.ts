/**
 * The adversary simulation (issue 14), behind `npm run sim -- --adversary F`: a fraction F of the
 * nodes, with random ids, lie and attack (adversary.ts) while honest users register names, look
 * each other up and send offline messages in the chat experiment's scenario shape: the recipient
 * leaves, the sender sends 1-3 messages, waits for "stored" and leaves, the recipient returns,
 * finds them as message requests (it never looked the sender up) and looks up each name a
 * request claims (Find user accepts a request when the name resolves to the key that wrote it:
 * the cautious user), then the sender if it has not yet (the conversation's "Look up" button).
 *
 * What it reports: names an honest looker no longer resolves to their owner's key (another key:
 * `nameHijacks`; no verdict: `namesUnresolved`), messages shown under a name whose record is
 * another key (`forgedShown`), lookups that returned the owner's key (`findUserSuccess`), honest
 * offline messages shown (`offlineDelivered`) and that reached the recipient's device, shown or
 * waiting as a request (`offlineArrived`), the most connections an honest node created, and
 * honest requests refused for capacity (refusals of the coalition's own requests are set apart).
 * No churn: the coalition's share stays F, and an attack is not confused with a departure.
 */
import { Chat, type ChatEvents } from '../chat/chat.ts';
import type { ChatMessage } from '../chat/chat-model.ts';
import { recordKey } from '../chat/records.ts';
import { senderTrust } from '../chat/senders.ts';
import { createIdentity, type Identity } from '../lib/crypto.ts';
import { toBase64Url } from '../lib/encoding.ts';
import { closestHexes, idToHex } from '../lib/id.ts';
import { ErrorCode, errorCode, PeerchatError } from '../lib/errors.ts';
import { attackRound, Coalition, makeAdversary } from './adversary.ts';
import { CONNECTION_CAP, REPLICATION } from '../dht/constants.ts';
import { summarize, type Summary } from './experiment.ts';
import { refusedCount, Simulation, type SimNode } from './simulation.ts';

export interface AdversaryExperimentOptions {
  /** Nodes in all: honest ones, users and the coalition's. */
  nodes: number;
  /** Ed25519 for every signature (SimOptions.realSignatures). */
  realSignatures?: boolean;
  /** Fraction of all nodes that lie (F); they are spawned among the others, random ids. */
  adversary: number;
  users: number;
  scenarios: number;
  /** Scenarios start evenly over this many hours. */
  spreadHours: number;
  maxAbsenceHours: number;
  seed: number;
  /** Each adversary attacks once per round. */
  roundMinutes?: number;
  /** Lying contact lists carry made-up ids next to the key (Coalition.madeUpContacts). */
  madeUpContacts?: boolean;
  /** FIND_VALUE answers carry the coalition's records and impersonate holders (Coalition.nameLies). */
  nameLies?: boolean;
  /** SIGNALs addressed to a liar are answered: dials to it open (Coalition.acceptsDials). */
  acceptsDials?: boolean;
}

export interface AdversaryExperimentResult extends Required<AdversaryExperimentOptions> {
  adversaries: number;
  registered: number;
  registerFailed: number;
  registerFailures: Record<string, number>;
  names: number;
  nameHijacks: number;
  namesUnresolved: number;
  /**
   * Names that most of their r closest honest nodes (by the simulator's oracle) keep for
   * another key than the owner's: taken at the holders themselves, not only in lookers' eyes.
   */
  namesTakenAtHolders: number;
  /**
   * Names whose r closest live nodes (by the simulator's oracle) are mostly the coalition's:
   * there liars alone are the majority a read takes, beyond what any lookup rule can undo.
   */
  namesLiarMajority: number;
  /** For each name taken in a looker's eyes, how many of its r closest live nodes lie. */
  hijackedLiarCounts: number[];
  forgedShown: number;
  /** For each message shown forged, how many of the claimed name's r closest live nodes lie. */
  forgedLiarCounts: number[];
  findUserSuccess: number;
  findUsers: number;
  /** Lookups that returned another key than the owner's. */
  findUserWrongKey: number;
  offlineMessages: number;
  offlineDelivered: number;
  /** Of them, those sealed for another key than the recipient's (the sender's lookup was lied to). */
  sealedToWrongKey: number;
  /** Shown, of the messages sealed for the right key. */
  offlineDeliveredRightKey: number;
  /**
   * Reached the recipient's device (shown, or waiting as a message request: shown only once
   * Find user resolves the name to its key), of all and of those sealed for the right key: what
   * the mailbox attacks alone cost.
   */
  offlineArrived: number;
  offlineArrivedRightKey: number;
  deliveredWithin2Min: number;
  storedBeforeSenderLeft: number;
  shownTwice: number;
  deliveryAfterReturnMs: Summary;
  scenariosFailed: number;
  failures: Record<string, number>;
  maxConnectionsCreated: number;
  /** Dials honest nodes started to ids no node ever had (made up by the coalition). */
  dialsToMadeUp: number;
  /** Of them, those that created a connection (the rest were refused by the budget first). */
  connectionsToMadeUp: number;
  /** The most dials upkeep started (dials-via-overlay) at an honest node that reached the connection cap. */
  dialsAtCap: number;
  honestRefused: number;
  /** Refusals of the coalition's own requests (its floods), not counted in honestRefused. */
  adversaryRefused: number;
  attacks: Record<string, number>;
  /** What honest nodes counted as they refused the attacks (summed over them). */
  refusals: Record<string, number>;
  wallMs: number;
  cpuMs: number;
}

interface User {
  name: string;
  identity: Identity;
  session: { node: SimNode; chat: Chat } | null;
  busy: boolean;
}

interface Tracked {
  recipient: User;
  /** The sender's lookup pinned another key than the recipient's: sealed for someone else. */
  wrongKey: boolean;
  returnedAt?: number;
  shownAt?: number;
  /** First seen on the recipient's device, shown or waiting as a message request. */
  arrivedAt?: number;
  shows: number;
}

const HOUR = 3_600_000;
const DELIVERY_WINDOW_MS = 120_000;
/** How often a returned recipient looks at its message requests. */
const REQUEST_POLL_MS = 5_000;
/** After this long back, a recipient's missing messages count as not delivered. */
const RETURN_WAIT_MS = 20 * 60_000;
/**
 * Simulated time a Join or a lookup run to completion gets (Simulation.until): past it the
 * run would end on an unsettled promise, not count a slow step (a Join reads its name back up
 * to four times, each read asking past liars for up to HOLDER_ASK_WINDOW_MS and a timeout).
 */
const SLOW_STEP_MS = 5 * 60_000;
/** Honest lookers per name at the end. */
const LOOKERS_PER_NAME = 3;
/** Stats honest nodes keep about refused attacks, reported summed. */
const REFUSAL_PREFIXES = ['record-', 'signal-drop-', 'mailbox-refused-', 'mailbox-drop-', 'chat-drop-', 'chat-holder-ack-', 'request-refused-', 'offer-limited-', 'chat-duplicate'];

export async function runAdversaryExperiment(o: AdversaryExperimentOptions): Promise<AdversaryExperimentResult> {
  const wallStart = performance.now();
  const cpuStart = process.cpuUsage();
  const roundMinutes = o.roundMinutes ?? 10;
  const madeUpContacts = o.madeUpContacts ?? true;
  const nameLies = o.nameLies ?? true;
  const acceptsDials = o.acceptsDials ?? false;
  const liars = Math.round(o.adversary * o.nodes);
  const others = o.nodes - o.users;
  let spawned = 0;
  let adversaryRefused = 0;
  let dialsToMadeUp = 0;
  let connectionsToMadeUp = 0;
  /** Every node id that ever ran: a dial to any other id is to a made-up one. */
  const everRan = new Set<string>();
  let coalition: Coalition | null = null;
  const sim: Simulation = new Simulation({
    seed: o.seed,
    realSignatures: o.realSignatures ?? false,
    onSpawn: (s) => {
      const c = coalition!;
      everRan.add(s.node.hex);
      // The first `others` spawns build the network: every (others / liars)-th one lies.
      const i = spawned++;
      if (i < others && Math.floor(((i + 1) * liars) / others) > Math.floor((i * liars) / others)) return makeAdversary(c, s);
      // An honest node: its refusals of the coalition's requests are set apart (an observer;
      // the refusal itself is counted synchronously as the request enters, dht/node.ts).
      const channels = s.node.channels;
      const dial = channels.dial.bind(channels);
      channels.dial = (hex, path, urgency) => {
        if (everRan.has(hex)) return dial(hex, path, urgency);
        dialsToMadeUp++;
        const before = s.node.stats.get('connections-dialed');
        const p = dial(hex, path, urgency);
        connectionsToMadeUp += s.node.stats.get('connections-dialed') - before;
        return p;
      };
      const pass = channels.onRequest.bind(channels);
      channels.onRequest = (peer, req, reply) => {
        if (!c.isMember(peer.hex)) return pass(peer, req, reply);
        const before = refusedCount(s.node);
        pass(peer, req, reply);
        adversaryRefused += refusedCount(s.node) - before;
      };
    },
  });
  const random = sim.random.fork();
  coalition = new Coalition(sim, sim.random.fork(), madeUpContacts, nameLies, acceptsDials);
  const c = coalition;
  const delay = (ms: number) => new Promise<void>((resolve) => sim.clock.setTimeout(resolve, ms));

  await sim.grow(others);

  // Honest users, and what a message shown under a name must be signed by.
  const ownerKey = new Map<string, string>();
  const tracked = new Map<string, Tracked>();
  const forged = new Map<string, string>();
  const checkShown = (u: User, m: ChatMessage): void => {
    const chat = u.session?.chat;
    if (!chat || m.out) return;
    const shownAsName = senderTrust(chat.contact(m.peer), m) === 'verified';
    if (shownAsName && m.fromKey !== ownerKey.get(m.peer)) forged.set(m.id, m.peer);
  };
  const checkAll = (u: User): void => {
    const chat = u.session?.chat;
    if (!chat) return;
    for (const conv of chat.conversationList()) for (const m of chat.messagesWith(conv.peer)) checkShown(u, m);
    for (const r of chat.requests()) for (const m of r.messages) arrived(m.id);
  };
  const arrived = (id: string): void => {
    const t = tracked.get(id);
    if (t) t.arrivedAt ??= sim.clock.now();
  };
  const eventsFor = (u: User): ChatEvents => ({
    shown: (m) => {
      checkShown(u, m);
      const t = tracked.get(m.id);
      if (!t) return;
      t.shows++;
      t.shownAt ??= sim.clock.now();
      t.arrivedAt ??= t.shownAt;
    },
  });
  const signIn = async (u: User): Promise<void> => {
    const node = await sim.spawn(u.identity, { churn: false });
    await node.started;
    const events = eventsFor(u);
    try {
      const chat = (await Chat.open(node, u.identity, { events })) ?? (await Chat.register(node, u.identity, u.name, { events }));
      u.session = { node, chat };
    } catch (err) {
      // The node leaves with the failed Join, so a retry can start it again.
      sim.leave(node);
      throw err;
    }
  };
  const signOut = (u: User): void => {
    if (u.session) sim.leave(u.session.node);
    u.session = null;
  };

  const users: User[] = [];
  let registerFailed = 0;
  /** Why Join attempts failed, by error code (a user tries up to three times). */
  const registerFailures: Record<string, number> = {};
  for (let i = 0; i < o.users; i++) {
    const identity = await sim.until(sim.ops.track(createIdentity(random.fork())));
    const u: User = { name: `user_${i}`, identity, session: null, busy: false };
    for (let tries = 1; tries <= 3 && !u.session; tries++) {
      try {
        await sim.until(signIn(u), SLOW_STEP_MS);
      } catch (err) {
        const code = `register-${errorCode(err)}`;
        registerFailures[code] = (registerFailures[code] ?? 0) + 1;
        // A Join that ran out of time is still running: its node leaves, and the Join with it.
        const started = sim.live.get(idToHex(identity.nodeId));
        if (started) sim.leave(started);
        await sim.run(30_000);
      }
    }
    if (!u.session) {
      registerFailed++;
      continue;
    }
    ownerKey.set(u.name, toBase64Url(identity.signingPublic));
    users.push(u);
    await c.learn({ name: u.name, nodeHex: u.session.node.node.hex, signingKey: identity.signingPublic, idNonce: identity.idNonce, agreementKey: identity.agreementPublic });
  }

  // The coalition attacks from here on, each member once a round at its own offset.
  let attacking = true;
  for (const member of c.members.values()) {
    const round = () => {
      if (!attacking || member.node.isClosed) return;
      void attackRound(c, member).catch((err: unknown) => c.count(`round-crashed-${errorCode(err)}`));
      sim.clock.setTimeout(round, roundMinutes * 60_000);
    };
    sim.clock.setTimeout(round, random.float() * roundMinutes * 60_000);
  }

  let findUsers = 0;
  let findUserOk = 0;
  let findUserWrongKey = 0;
  const lookUp = async (by: User, name: string): Promise<void> => {
    findUsers++;
    try {
      const contact = await by.session!.chat.findUser(name);
      if (contact.signingKey === ownerKey.get(name)) findUserOk++;
      else findUserWrongKey++;
    } catch {
      // Not found, or the holders disagree: not a success.
    }
  };

  let storedBeforeSenderLeft = 0;
  let failedScenarios = 0;
  const failures: Record<string, number> = {};
  const scenario = async (sender: User, recipient: User): Promise<void> => {
    try {
      await lookUp(sender, recipient.name);
      const contact = sender.session!.chat.contact(recipient.name);
      if (!contact) throw new PeerchatError(ErrorCode.NotFound, 'The sender could not find the recipient');
      const wrongKey = contact.signingKey !== ownerKey.get(recipient.name);
      signOut(recipient);
      await delay(5_000);
      const chat = sender.session!.chat;
      const ids: string[] = [];
      for (let k = 1 + random.int(3); k > 0; k--) {
        const m = await chat.send(recipient.name, `message ${tracked.size} for ${recipient.name}`);
        ids.push(m.id);
        tracked.set(m.id, { recipient, wrongKey, shows: 0 });
      }
      const stored = () => chat.messagesWith(recipient.name).filter((m) => ids.includes(m.id) && m.status === 'stored').length;
      for (let waited = 0; stored() < ids.length && waited < DELIVERY_WINDOW_MS; waited += 1_000) await delay(1_000);
      storedBeforeSenderLeft += stored();
      signOut(sender);
      const min = 10 * 60_000;
      await delay(min * Math.exp(random.float() * Math.log(Math.max(1, (o.maxAbsenceHours * HOUR) / min))));
      for (const id of ids) tracked.get(id)!.returnedAt = sim.clock.now();
      await signIn(recipient);
      // Back, the recipient finds the messages as requests (it never looked the sender up) and
      // looks up each name a request claims; Find user accepts the request when the name
      // resolves to the key that wrote it (chat.ts findUser). Then, as the previous version
      // did, it looks the sender up (the conversation's "Look up" button), once.
      const lookedUp = new Set<string>();
      for (let waited = 0; waited < DELIVERY_WINDOW_MS; waited += REQUEST_POLL_MS) {
        await delay(REQUEST_POLL_MS);
        for (const r of recipient.session?.chat.requests() ?? []) {
          for (const m of r.messages) arrived(m.id);
          if (lookedUp.has(r.name)) continue;
          lookedUp.add(r.name);
          await lookUp(recipient, r.name);
        }
      }
      if (!lookedUp.has(sender.name)) await lookUp(recipient, sender.name);
      checkAll(recipient);
      await delay(RETURN_WAIT_MS - DELIVERY_WINDOW_MS);
      await signIn(sender);
    } finally {
      sender.busy = recipient.busy = false;
    }
  };

  const flows: Promise<void>[] = [];
  const spacing = (o.spreadHours * HOUR) / Math.max(1, o.scenarios);
  for (let i = 0; i < o.scenarios; i++) {
    const idle = users.filter((u) => u.session && !u.busy);
    if (idle.length >= 2) {
      const sender = idle.splice(random.int(idle.length), 1)[0]!;
      const recipient = idle[random.int(idle.length)]!;
      sender.busy = recipient.busy = true;
      flows.push(
        scenario(sender, recipient).catch((err: unknown) => {
          failedScenarios++;
          failures[errorCode(err)] = (failures[errorCode(err)] ?? 0) + 1;
        }),
      );
    }
    await sim.run(spacing);
  }
  await sim.until(Promise.all(flows), (o.maxAbsenceHours + 2) * HOUR);
  attacking = false;

  // Every name, from honest lookers that are no user and no liar.
  const lookers = [...sim.live.values()].filter((s) => !c.isMember(s.node.hex) && !users.some((u) => u.session?.node === s));
  let nameHijacks = 0;
  let namesUnresolved = 0;
  const allHexes = [...sim.live.keys()];
  const liarsNear = (name: string) => closestHexes(idToHex(recordKey(name)), allHexes, REPLICATION).filter((h) => c.isMember(h)).length;
  const hijackedLiarCounts: number[] = [];
  for (const u of users) {
    let wrong = false;
    let none = false;
    for (let k = 0; k < LOOKERS_PER_NAME; k++) {
      const looker = lookers[random.int(lookers.length)]!;
      findUsers++;
      try {
        const record = await sim.until(looker.records.resolve(u.name), SLOW_STEP_MS);
        const key = record && toBase64Url(record.signingKey);
        if (key === ownerKey.get(u.name)) findUserOk++;
        else if (key) (wrong = true), findUserWrongKey++;
        else none = true;
      } catch {
        none = true;
      }
    }
    if (wrong) {
      nameHijacks++;
      hijackedLiarCounts.push(liarsNear(u.name));
    } else if (none) namesUnresolved++;
  }
  for (const u of users) checkAll(u);
  let namesTakenAtHolders = 0;
  const honestHexes = [...sim.live.keys()].filter((h) => !c.isMember(h));
  for (const u of users) {
    const keyHex = idToHex(recordKey(u.name));
    const holders = closestHexes(keyHex, honestHexes, REPLICATION);
    const other = holders.filter((h) => {
      const r = sim.live.get(h)!.records.get(keyHex);
      return r !== undefined && toBase64Url(r.signingKey) !== ownerKey.get(u.name);
    }).length;
    if (2 * other > holders.length) namesTakenAtHolders++;
  }

  const all = [...tracked.values()];
  const after = all.filter((t) => t.shownAt !== undefined && t.returnedAt !== undefined).map((t) => t.shownAt! - t.returnedAt!);
  let maxConnectionsCreated = sim.maxCreatedByEnded;
  let dialsAtCap = 0;
  const refusals: Record<string, number> = {};
  for (const s of sim.live.values()) {
    if (c.isMember(s.node.hex)) continue;
    if (s.transport.created >= CONNECTION_CAP) dialsAtCap = Math.max(dialsAtCap, s.node.stats.get('dials-via-overlay'));
    maxConnectionsCreated = Math.max(maxConnectionsCreated, s.transport.created);
    for (const prefix of REFUSAL_PREFIXES) for (const [k, n] of Object.entries(s.node.stats.snapshot(prefix))) refusals[k] = (refusals[k] ?? 0) + n;
  }
  // Sessions that ended are honest users' (the coalition never leaves).
  let refusedByLiars = 0;
  for (const m of c.members.values()) refusedByLiars += refusedCount(m.node);
  const honestRefused = sim.refusedForCapacity() - refusedByLiars - adversaryRefused;
  sim.close();
  const cpu = process.cpuUsage(cpuStart);
  return {
    ...o,
    roundMinutes,
    madeUpContacts,
    nameLies,
    acceptsDials,
    realSignatures: o.realSignatures ?? false,
    adversaries: c.members.size,
    registered: users.length,
    registerFailed,
    registerFailures,
    names: users.length,
    nameHijacks,
    namesUnresolved,
    namesTakenAtHolders,
    namesLiarMajority: users.filter((u) => 2 * liarsNear(u.name) > REPLICATION).length,
    hijackedLiarCounts,
    forgedShown: forged.size,
    forgedLiarCounts: [...forged.values()].map(liarsNear),
    findUserSuccess: findUsers === 0 ? 0 : round4(findUserOk / findUsers),
    findUsers,
    findUserWrongKey,
    offlineMessages: all.length,
    offlineDelivered: all.length === 0 ? 0 : round4(after.length / all.length),
    sealedToWrongKey: all.filter((t) => t.wrongKey).length,
    offlineDeliveredRightKey: ratio(all.filter((t) => !t.wrongKey && t.shownAt !== undefined).length, all.filter((t) => !t.wrongKey).length),
    offlineArrived: ratio(all.filter((t) => t.arrivedAt !== undefined).length, all.length),
    offlineArrivedRightKey: ratio(all.filter((t) => !t.wrongKey && t.arrivedAt !== undefined).length, all.filter((t) => !t.wrongKey).length),
    deliveredWithin2Min: after.filter((ms) => ms <= DELIVERY_WINDOW_MS).length,
    storedBeforeSenderLeft,
    shownTwice: all.filter((t) => t.shows > 1).length,
    deliveryAfterReturnMs: summarize(after),
    scenariosFailed: failedScenarios,
    failures,
    maxConnectionsCreated,
    dialsToMadeUp,
    connectionsToMadeUp,
    dialsAtCap,
    honestRefused,
    adversaryRefused,
    attacks: sortKeys(c.counts),
    refusals: sortKeys(refusals),
    wallMs: Math.round(performance.now() - wallStart),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
  };
}

function ratio(a: number, b: number): number {
  return b === 0 ? 0 : round4(a / b);
}

function round4(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

function sortKeys(r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1)));
}
