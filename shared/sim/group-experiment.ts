/**
 * Groups under churn (ARCHITECTURE.md, "Groups"), behind `npm run sim -- --groups`: `users` users
 * in `groups` groups of `minGroupSize` to `maxGroupSize` members, on a network whose other nodes
 * leave at `churn` per hour. The groups are made while everyone is online (each invitation
 * accepted as it arrives, as a user would). Then, for `spreadHours`, every online user leaves at
 * the same rate `churn` per hour (after up to 2 minutes for its texts' copies to be stored, as in
 * chat-experiment.ts) for an absence log-uniform between 10 minutes and `maxAbsenceHours` (the
 * first absence is the longest, so every run has one), while online members write `texts` texts
 * to random groups and the creators add or remove a member `changes` times.
 *
 * Each copy a sender sent to someone who was a member when it was sent must be shown to that
 * member once, within 2 minutes of the member being online for it: from the send if it was
 * online then, else from its return. At the end, with everyone back, every member's view of
 * each group must be the creator's, and every removed member must know it was removed.
 */
import { Chat, type ChatEvents } from '../chat/chat.ts';
import type { MessageStatus } from '../chat/chat-model.ts';
import { createIdentity, type Identity } from '../lib/crypto.ts';
import { errorCode } from '../lib/errors.ts';
import { progressTicker, summarize, withStops, type Summary } from './experiment.ts';
import { Simulation, type SimNode } from './simulation.ts';

export interface GroupExperimentOptions {
  /** Nodes in all, users included. */
  nodes: number;
  users: number;
  groups: number;
  /** The first group has the fewest members, the second the most, the others in between. */
  minGroupSize: number;
  maxGroupSize: number;
  /** Fraction of the other nodes, and of the online users, leaving per hour. */
  churn: number;
  seed: number;
  /** Texts written over `spreadHours`, each by an online member of a random group. */
  texts: number;
  /** Members added or removed by creators over `spreadHours`. */
  changes: number;
  spreadHours: number;
  maxAbsenceHours: number;
  realSignatures?: boolean;
  /** Told a line of progress about once a minute of wall time (see chat-experiment.ts). */
  progress?: (line: string) => void;
}

export interface GroupExperimentResult extends Omit<GroupExperimentOptions, 'progress'> {
  /** Members of each group as made (its creator included). */
  groupSizes: number[];
  /** Making each of the largest groups (each member looked up first), on a first try. */
  largestGroupCreationMs: Summary;
  /** Groups whose creation failed (a member's name not found three times). */
  groupsFailed: number;
  /** Sign-ins tried again (a tab that found no peer to join through). */
  signInRetries: number;
  /** Invitations accepted (members who had never looked the creator up). */
  invitationsAccepted: number;
  textsSent: number;
  /** Text slots with no online member in the group picked. */
  textsSkipped: number;
  /** Copies owed: sent to someone who was a member when it was sent, by a member. */
  copies: number;
  /** Of those, copies whose member was away when it was sent (or left within 2 minutes). */
  copiesToAbsent: number;
  deliveredWithin2Min: number;
  deliveredFraction: number;
  deliveredLate: number;
  neverDelivered: number;
  /** Copies shown more than once (over all of the member's sessions). */
  shownTwice: number;
  /** Copies that were 'stored' or 'delivered' when their sender left. */
  storedBeforeSenderLeft: number;
  /** Copies the sender addressed from an outdated view: to a removed member (not owed). */
  staleCopies: number;
  /** Members a sender's outdated view left out (added after the sender last heard). */
  missedByStaleSender: number;
  /** From the member's return to the copy showing, for copies to absent members. */
  deliveryAfterReturnMs: Summary;
  /** Texts every copy of which showed 'delivered' at their sender by the end (receipts back). */
  textsDeliveredToAll: number;
  absences: number;
  longestAbsenceHours: number;
  changesMade: number;
  changesFailed: number;
  /** At the end: members whose view of a group is not the creator's version. */
  viewsBehind: number;
  /** At the end: removed members who still think they are in the group. */
  removedNotTold: number;
  /** At the end: a member's displayed texts from one sender not in the order they were sent. */
  outOfOrder: number;
  failures: Record<string, number>;
  honestRefused: number;
  /** honestRefused by the limit that refused them (simulation.ts REFUSED_COUNTERS). */
  refusedBy: Record<string, number>;
  /** Requests refused by the per-neighbour limits, by method (`-routed` when routed). */
  refusedMethods: Record<string, number>;
  wallMs: number;
}

interface User {
  name: string;
  identity: Identity;
  session: { node: SimNode; chat: Chat } | null;
  /** Online periods; the last one open while online. */
  online: Array<{ start: number; end?: number }>;
  /** Sends and changes under way: the user does not leave in the middle of one. */
  busy: number;
  /** The texts it sent since it last came online: [group, message id]. */
  sentThisSession: Array<[string, string]>;
}

interface Copy {
  sender: User;
  group: string;
  member: User;
  sentAt: number;
  shownAt?: number;
  shows: number;
}

interface TrackedGroup {
  id: string;
  creator: User;
  /** Who is in it now, as its creator (its only admin) made it. */
  members: Set<User>;
  /** Members removed, as far as they are not back in it. */
  removed: Set<User>;
  /** Each sender's texts (unique strings), in the order sent. */
  sent: Map<User, string[]>;
}

const DELIVERY_WINDOW_MS = 120_000;
const HOUR = 3_600_000;
const MIN_ABSENCE_MS = 10 * 60_000;

export function runGroupExperiment(o: GroupExperimentOptions): Promise<GroupExperimentResult> {
  return withStops((stops) => groupExperiment(o, stops));
}

async function groupExperiment(o: GroupExperimentOptions, stops: Array<() => void>): Promise<GroupExperimentResult> {
  const wallStart = performance.now();
  const sim = new Simulation({ seed: o.seed, churnPerHour: o.churn, realSignatures: o.realSignatures ?? false });
  const random = sim.random.fork();
  const delay = (ms: number) => new Promise<void>((resolve) => sim.clock.setTimeout(resolve, ms));
  const now = () => sim.clock.now();
  /** Copies by text (each text is unique) and member name: a member's copy has an id of its own. */
  const copies = new Map<string, Copy>();
  const failures: Record<string, number> = {};
  const fail = (err: unknown): void => {
    failures[errorCode(err)] = (failures[errorCode(err)] ?? 0) + 1;
  };
  let invitationsAccepted = 0;
  let storedBeforeSenderLeft = 0;
  let staleCopies = 0;
  let missedByStaleSender = 0;
  let textsSkipped = 0;
  let absences = 0;
  let longestAbsence = 0;
  let changesMade = 0;
  let changesFailed = 0;
  const simStart = now();
  progressTicker(o.progress, stops, () => {
    const shown = [...copies.values()].filter((c) => c.shownAt !== undefined).length;
    return `${((now() - simStart) / HOUR).toFixed(1)} simulated h, ${sim.live.size} live nodes, ${copies.size} copies sent, ${shown} shown, ${sim.refusedForCapacity()} refused`;
  });

  const eventsFor = (u: User): ChatEvents => ({
    shown: (m) => {
      const c = copies.get(`${m.text}\n${u.name}`);
      if (!c) return;
      c.shows++;
      c.shownAt ??= now();
    },
  });
  // A member who never looked the creator up gets an invitation, and accepts it as it shows:
  // looked for at most once a second of simulated time, not on every change.
  const acceptInvitations = (u: User, chat: Chat): void => {
    let due = false;
    chat.subscribe(() => {
      if (due) return;
      due = true;
      sim.clock.setTimeout(() => {
        due = false;
        if (u.session?.chat !== chat) return;
        for (const g of chat.groups()) {
          if (g.status === 'invited') void chat.acceptGroup(g.id).then(() => invitationsAccepted++, fail);
        }
      }, 1_000);
    });
  };
  // A tab that found no peer to join through (every neighbour it was offered full, say) tries
  // again, as its user would reload it.
  let signInRetries = 0;
  const signIn = async (u: User): Promise<void> => {
    for (let tries = 1; ; tries++) {
      const node = await sim.spawn(u.identity, { churn: false });
      await node.started;
      try {
        const chat = (await Chat.open(node, u.identity, { events: eventsFor(u) })) ?? (await Chat.register(node, u.identity, u.name, { events: eventsFor(u) }));
        u.session = { node, chat };
        u.online.push({ start: now() });
        acceptInvitations(u, chat);
        return;
      } catch (err) {
        sim.leave(node);
        if (tries === 3) throw err;
        signInRetries++;
        await delay(10_000);
      }
    }
  };
  const signOut = (u: User): void => {
    if (u.session) sim.leave(u.session.node);
    u.session = null;
    u.online.at(-1)!.end = now();
  };

  await sim.grow(o.nodes - o.users);
  const users: User[] = [];
  for (let i = 0; i < o.users; i++) {
    const identity = await sim.until(sim.ops.track(createIdentity(random.fork())));
    const u: User = { name: `user_${i}`, identity, session: null, online: [], busy: 0, sentThisSession: [] };
    await sim.until(signIn(u), 5 * 60_000);
    users.push(u);
  }

  // The groups, made at once by their creators; a creator tries again when a lookup failed.
  const groups: TrackedGroup[] = [];
  let groupsFailed = 0;
  const groupSizes: number[] = [];
  const creationMs: number[] = [];
  const make = async (index: number, members: User[]): Promise<void> => {
    const [creator, ...others] = members;
    for (let tries = 1; ; tries++) {
      try {
        const started = now();
        const id = await creator!.session!.chat.createGroup(`group ${index}`, others.map((u) => u.name));
        if (tries === 1 && members.length === Math.min(o.users, o.maxGroupSize)) creationMs.push(now() - started);
        groups.push({ id, creator: creator!, members: new Set(members), removed: new Set(), sent: new Map() });
        return;
      } catch (err) {
        if (tries === 3) {
          groupsFailed++;
          fail(err);
          return;
        }
        await delay(10_000);
      }
    }
  };
  const making: Promise<void>[] = [];
  for (let g = 0; g < o.groups; g++) {
    const size = Math.min(o.users, g === 0 ? o.minGroupSize : g === 1 ? o.maxGroupSize : o.minGroupSize + random.int(o.maxGroupSize - o.minGroupSize + 1));
    const members = pick(users, size, random);
    groupSizes.push(size);
    making.push(make(g, members));
  }
  await sim.until(Promise.all(making), HOUR);
  // Everyone has the groups, invitations accepted, before anyone leaves.
  const joined = () => groups.every((g) => [...g.members].every((u) => u.session!.chat.groups().some((v) => v.id === g.id && v.status === 'joined')));
  for (let waited = 0; !joined() && waited < 30 * 60_000; waited += 10_000) await sim.run(10_000);

  const spreadEnd = now() + o.spreadHours * HOUR;
  /** How many copies of the texts `u` sent this session have a status `counts`. */
  const copiesOf = (u: User, counts: (status: MessageStatus) => boolean): number => {
    const chat = u.session!.chat;
    let n = 0;
    for (const [group, id] of u.sentThisSession) {
      const m = chat.messagesIn(group).find((x) => x.id === id);
      n += Object.values(m?.copies ?? {}).filter(counts).length;
    }
    return n;
  };
  const settled = (u: User): boolean => copiesOf(u, (s) => s !== 'stored' && s !== 'delivered') === 0;
  let longestGiven = false;
  // An online user leaves at `churn` per hour, comes back after its absence, until the spread ends.
  const lifecycle = async (u: User): Promise<void> => {
    for (;;) {
      // Online for an exponential stay, or until the spread ends: then it stays for good.
      const stay = (-Math.log(1 - random.float()) * HOUR) / o.churn;
      if (now() + stay >= spreadEnd) return;
      await delay(stay);
      while (u.busy > 0) await delay(1_000);
      for (let waited = 0; !settled(u) && waited < DELIVERY_WINDOW_MS; waited += 1_000) await delay(1_000);
      storedBeforeSenderLeft += copiesOf(u, (s) => s === 'stored' || s === 'delivered');
      u.sentThisSession = [];
      const absence = longestGiven ? MIN_ABSENCE_MS * Math.exp(random.float() * Math.log((o.maxAbsenceHours * HOUR) / MIN_ABSENCE_MS)) : o.maxAbsenceHours * HOUR;
      longestGiven = true;
      signOut(u);
      absences++;
      const left = now();
      await delay(absence);
      longestAbsence = Math.max(longestAbsence, now() - left);
      await signIn(u);
    }
  };
  const send = async (g: TrackedGroup, sender: User, n: number): Promise<void> => {
    sender.busy++;
    try {
      const m = await sender.session!.chat.sendToGroup(g.id, `text ${n} from ${sender.name}`);
      const addressed = new Set(Object.keys(m.copies ?? {}));
      for (const member of g.members) {
        if (member === sender) continue;
        if (!addressed.has(member.name)) missedByStaleSender++;
        else copies.set(`${m.text}\n${member.name}`, { sender, group: g.id, member, sentAt: m.sentAt, shows: 0 });
      }
      for (const name of addressed) if (![...g.members].some((x) => x.name === name)) staleCopies++;
      g.sent.set(sender, [...(g.sent.get(sender) ?? []), m.text]);
      sender.sentThisSession.push([g.id, m.id]);
    } catch (err) {
      fail(err);
    } finally {
      sender.busy--;
    }
  };
  const change = async (g: TrackedGroup): Promise<void> => {
    const admin = g.creator;
    const outside = users.filter((u) => !g.members.has(u));
    const add = g.members.size < o.maxGroupSize && outside.length > 0 && (g.members.size <= o.minGroupSize || random.float() < 0.5);
    const who = add ? outside[random.int(outside.length)]! : [...g.members].filter((u) => u !== admin)[random.int(g.members.size - 1)]!;
    admin.busy++;
    try {
      for (let tries = 1; ; tries++) {
        try {
          await admin.session!.chat.changeGroupMembers(g.id, add ? [who.name] : [], add ? [] : [who.name]);
          break;
        } catch (err) {
          if (tries === 3) throw err;
          await delay(10_000);
        }
      }
      if (add) {
        g.members.add(who);
        g.removed.delete(who);
      } else {
        g.members.delete(who);
        g.removed.add(who);
      }
      changesMade++;
    } catch (err) {
      changesFailed++;
      fail(err);
    } finally {
      admin.busy--;
    }
  };

  const flows: Promise<void>[] = users.map((u) => lifecycle(u).catch(fail));
  // Texts and changes interleaved evenly over the spread, in a seeded order.
  const slots = [...Array<'text'>(o.texts).fill('text'), ...Array<'change'>(o.changes).fill('change')];
  shuffle(slots, random);
  const spacing = (o.spreadHours * HOUR) / Math.max(1, slots.length);
  let textsSent = 0;
  for (const slot of slots) {
    await sim.run(spacing);
    const live = groups.filter((g) => [...g.members].some((u) => u.session && u.busy === 0));
    const g = live.length > 0 ? live[random.int(live.length)]! : undefined;
    if (slot === 'change') {
      const candidates = groups.filter((x) => x.creator.session && x.creator.busy === 0);
      if (candidates.length > 0) flows.push(change(candidates[random.int(candidates.length)]!));
      continue;
    }
    const online = g ? [...g.members].filter((u) => u.session && u.busy === 0) : [];
    if (!g || online.length === 0) {
      textsSkipped++;
      continue;
    }
    flows.push(send(g, online[random.int(online.length)]!, textsSent++));
  }
  let allBack = false;
  await sim.until(Promise.all(flows).then(() => (allBack = true)), (o.maxAbsenceHours + 4) * HOUR);
  // Every absence ends by then; a flow still going would wait on a clock nothing advances.
  if (!allBack) throw new Error('The users were not all back within the longest absence and 4 hours.');
  await sim.run(DELIVERY_WINDOW_MS);

  // Everyone is back: what each copy took, and what each member's view holds.
  const all = [...copies.values()];
  let toAbsent = 0;
  let within = 0;
  let never = 0;
  const afterReturn: number[] = [];
  for (const c of all) {
    const due = dueAt(c.member.online, c.sentAt);
    if (due > c.sentAt) toAbsent++;
    if (c.shownAt === undefined) never++;
    else if (c.shownAt <= due + DELIVERY_WINDOW_MS) within++;
    if (c.shownAt !== undefined && due > c.sentAt) afterReturn.push(Math.max(0, c.shownAt - due));
  }
  let viewsBehind = 0;
  let removedNotTold = 0;
  let outOfOrder = 0;
  let textsDeliveredToAll = 0;
  for (const g of groups) {
    const version = g.creator.session?.chat.groups().find((v) => v.id === g.id)?.version;
    for (const u of g.members) {
      const view = u.session?.chat.groups().find((v) => v.id === g.id);
      if (!view || view.version !== version || !view.member) viewsBehind++;
      const shown = u.session?.chat.messagesIn(g.id).map((m) => m.text) ?? [];
      for (const [sender, texts] of g.sent) {
        if (sender === u) continue;
        const order = shown.filter((t) => texts.includes(t));
        if (order.some((t, i) => i > 0 && texts.indexOf(t) < texts.indexOf(order[i - 1]!))) outOfOrder++;
      }
    }
    for (const u of g.removed) if (u.session?.chat.groups().find((v) => v.id === g.id)?.member) removedNotTold++;
    for (const [sender, texts] of g.sent) {
      const mine = sender.session?.chat.messagesIn(g.id) ?? [];
      textsDeliveredToAll += mine.filter((m) => m.out && texts.includes(m.text) && m.status === 'delivered').length;
    }
  }
  const honestRefused = sim.refusedForCapacity();
  const refusedBy = sim.refusedByCounter();
  const refusedMethods = sim.refusedByMethod();
  sim.close();
  const { progress: _, ...options } = o;
  return {
    ...options,
    groupSizes,
    largestGroupCreationMs: summarize(creationMs),
    groupsFailed,
    signInRetries,
    invitationsAccepted,
    textsSent,
    textsSkipped,
    copies: all.length,
    copiesToAbsent: toAbsent,
    deliveredWithin2Min: within,
    deliveredFraction: all.length === 0 ? 0 : within / all.length,
    deliveredLate: all.length - within - never,
    neverDelivered: never,
    shownTwice: all.filter((c) => c.shows > 1).length,
    storedBeforeSenderLeft,
    staleCopies,
    missedByStaleSender,
    deliveryAfterReturnMs: summarize(afterReturn),
    textsDeliveredToAll,
    absences,
    longestAbsenceHours: Math.round((longestAbsence / HOUR) * 10) / 10,
    changesMade,
    changesFailed,
    viewsBehind,
    removedNotTold,
    outOfOrder,
    failures,
    honestRefused,
    refusedBy,
    refusedMethods,
    wallMs: Math.round(performance.now() - wallStart),
  };
}

/**
 * When a copy sent at `sentAt` was owed to its member: the start of the first stretch online, from
 * the send on, of at least the delivery window (a member that left a minute after the send is
 * owed it from its next return).
 */
export function dueAt(online: ReadonlyArray<{ start: number; end?: number }>, sentAt: number): number {
  for (const period of online) {
    const end = period.end ?? Infinity;
    const from = Math.max(period.start, sentAt);
    if (end - from >= DELIVERY_WINDOW_MS) return from;
  }
  return Infinity;
}

function pick<T>(from: readonly T[], n: number, random: Simulation['random']): T[] {
  const pool = [...from];
  shuffle(pool, random);
  return pool.slice(0, n);
}

function shuffle<T>(items: T[], random: Simulation['random']): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}
