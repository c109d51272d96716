/**
 * Offline delivery under churn (ARCHITECTURE.md property 2), behind `npm run sim -- --chat`: users
 * chat on top of a churning network; in each scenario a recipient leaves, a sender sends it 1-3
 * messages, waits for "stored" and leaves too; the recipient comes back after up to
 * `maxAbsenceHours` and must be shown every message within 2 minutes, once, while the sender is
 * still away. Halfway through, half of all live nodes leave at once. Receipts must reach the
 * sender when it returns after the recipient.
 */
import { Chat, type ChatEvents } from '../chat/chat.ts';
import { createIdentity, type Identity } from '../lib/crypto.ts';
import { errorCode } from '../lib/errors.ts';
import type { SeededRandom } from '../lib/random.ts';
import { progressTicker, summarize, withStops, type Summary } from './experiment.ts';
import { Simulation, type SimNode } from './simulation.ts';

export interface ChatExperimentOptions {
  /** Nodes in all, users included. */
  nodes: number;
  users: number;
  /** Fraction of the other nodes leaving per hour (users come and go as scenarios say). */
  churn: number;
  seed: number;
  /** Offline-delivery scenarios, started evenly over `spreadHours`. */
  scenarios: number;
  spreadHours: number;
  maxAbsenceHours: number;
  /** Fraction of live nodes that leave at once, halfway through the spread. */
  massDeparture: number;
  /** Ed25519 for every signature (SimOptions.realSignatures); the result must not change. */
  realSignatures?: boolean;
  /**
   * Told a line of progress (simulated hours, live nodes, messages shown) about once a minute of
   * wall time, for runs that take hours (experiment.ts progressTicker).
   */
  progress?: (line: string) => void;
}

/** The result repeats the options it ran with, but not the progress callback. */
export interface ChatExperimentResult extends Omit<ChatExperimentOptions, 'progress'> {
  offlineMessages: number;
  /** Messages that showed "stored" before their sender left. */
  storedBeforeSenderLeft: number;
  deliveredWithin2Min: number;
  deliveredFraction: number;
  deliveredLate: number;
  neverDelivered: number;
  /** Messages shown more than once (over all of the recipient's sessions). */
  shownTwice: number;
  /** Message requests the recipients accepted (each first message from a sender they never looked up). */
  requestsAccepted: number;
  /** Copies a holder handed to the recipient (pushed or fetched) more than a minute after it first showed the message. */
  pushedAfterTombstone: number;
  /** Copies its sender routed again after the recipient showed it (a resend still without receipt). */
  resentAfterShown: number;
  /** From the recipient's return to the message showing. */
  deliveryAfterReturnMs: Summary;
  longestAbsenceHours: number;
  /** Of the messages, those the sender saw "delivered" by the end (receipts sealed back). */
  receiptsAtSender: number;
  /** Scenarios not started for want of two idle online users (each holds two for days). */
  scenariosSkipped: number;
  /** Scenarios that threw (a FindUser or a send that failed), by error code. */
  scenariosFailed: number;
  failures: Record<string, number>;
  massDeparted: number;
  /** Requests and offers honest nodes refused for capacity (Simulation.refusedForCapacity): 0. */
  honestRefused: number;
  wallMs: number;
}

interface User {
  name: string;
  identity: Identity;
  session: { node: SimNode; chat: Chat } | null;
  busy: boolean;
}

interface Tracked {
  sender: User;
  recipient: User;
  returnedAt?: number;
  shownAt?: number;
  shows: number;
}

const DELIVERY_WINDOW_MS = 120_000;
const HOUR = 3_600_000;

export function runChatExperiment(o: ChatExperimentOptions): Promise<ChatExperimentResult> {
  return withStops((stops) => chatExperiment(o, stops));
}

async function chatExperiment(o: ChatExperimentOptions, stops: Array<() => void>): Promise<ChatExperimentResult> {
  const wallStart = performance.now();
  const sim = new Simulation({ seed: o.seed, churnPerHour: o.churn, realSignatures: o.realSignatures ?? false });
  const random = sim.random.fork();
  const tracked = new Map<string, Tracked>();
  let pushedAfterTombstone = 0;
  let resentAfterShown = 0;
  let requestsAccepted = 0;
  let storedBeforeSenderLeft = 0;
  let longestAbsence = 0;
  let skipped = 0;
  let failedScenarios = 0;
  const failures: Record<string, number> = {};

  const delay = (ms: number) => new Promise<void>((resolve) => sim.clock.setTimeout(resolve, ms));
  const simStart = sim.clock.now();
  progressTicker(o.progress, stops, () => {
    const shown = [...tracked.values()].filter((t) => t.shownAt !== undefined).length;
    return `${((sim.clock.now() - simStart) / HOUR).toFixed(1)} simulated h, ${sim.live.size} live nodes, ${tracked.size} messages sent, ${shown} shown, ${failedScenarios} scenarios failed`;
  });
  // The recipient never looked its sender up, so each first message is a message request
  // (chat/requests.ts): these users accept every request as it arrives, which shows its messages
  // (the `shown` time measured) and sends their receipts. Requests accepted are counted.
  const eventsFor = (u: User): ChatEvents => ({
    ...events,
    request: (r) => void accept(u.session?.chat, r.key),
  });
  const accept = async (chat: Chat | undefined, key: string): Promise<void> => {
    if (chat && (await chat.acceptRequest(key)) !== null) requestsAccepted++;
  };
  const events: ChatEvents = {
    shown: (m) => {
      const t = tracked.get(m.id);
      if (!t) return;
      t.shows++;
      t.shownAt ??= sim.clock.now();
    },
    duplicate: (id, via) => {
      const t = tracked.get(id);
      if (t?.shownAt === undefined || sim.clock.now() <= t.shownAt + 60_000) return;
      if (via === 'deliver') resentAfterShown++;
      else pushedAfterTombstone++;
      if (process.env.DEBUG_LATE) console.error("late", via, id.slice(0, 8), Math.round((sim.clock.now() - t.shownAt) / 60_000), "min after shown at", Math.round(t.shownAt / 60_000));
    },
  };
  const signIn = async (u: User): Promise<void> => {
    const node = await sim.spawn(u.identity, { churn: false });
    await node.started;
    const chat = (await Chat.open(node, u.identity, { events: eventsFor(u) })) ?? (await Chat.register(node, u.identity, u.name, { events: eventsFor(u) }));
    u.session = { node, chat };
    // Requests that arrived before the session was set.
    for (const r of chat.requests()) void accept(chat, r.key);
  };
  const signOut = (u: User): void => {
    if (u.session) sim.leave(u.session.node);
    u.session = null;
  };

  await sim.grow(o.nodes - o.users);
  const users: User[] = [];
  for (let i = 0; i < o.users; i++) {
    const identity = await sim.until(sim.ops.track(createIdentity(random.fork())));
    const u: User = { name: `user_${i}`, identity, session: null, busy: false };
    await sim.until(signIn(u));
    users.push(u);
  }

  const scenario = async (sender: User, recipient: User, first: boolean): Promise<void> => {
    try {
      // As a user would, the sender tries again when the network was not reachable.
      for (let tries = 1; ; tries++) {
        try {
          await sender.session!.chat.findUser(recipient.name);
          break;
        } catch (err) {
          if (tries === 3) throw err;
          await delay(10_000);
        }
      }
      const leftAt = sim.clock.now();
      signOut(recipient);
      await delay(5_000);
      const chat = sender.session!.chat;
      const ids: string[] = [];
      for (let k = 1 + random.int(3); k > 0; k--) {
        const m = await chat.send(recipient.name, `message ${tracked.size} for ${recipient.name}`);
        ids.push(m.id);
        tracked.set(m.id, { sender, recipient, shows: 0 });
      }
      const stored = () => chat.messagesWith(recipient.name).filter((m) => ids.includes(m.id) && m.status === 'stored').length;
      for (let waited = 0; stored() < ids.length && waited < DELIVERY_WINDOW_MS; waited += 1_000) await delay(1_000);
      storedBeforeSenderLeft += stored();
      signOut(sender);
      // Log-uniform between ten minutes and the longest absence, so short and long ones both
      // occur; the first scenario's is the longest, so every run includes it.
      const min = 10 * 60_000;
      const absence = first ? o.maxAbsenceHours * HOUR : min * Math.exp(random.float() * Math.log((o.maxAbsenceHours * HOUR) / min));
      await delay(Math.max(0, leftAt + absence - sim.clock.now()));
      longestAbsence = Math.max(longestAbsence, sim.clock.now() - leftAt);
      for (const id of ids) tracked.get(id)!.returnedAt = sim.clock.now();
      await signIn(recipient);
      // The sender comes back later, to the receipts its recipient sealed back to it.
      await delay(10 * 60_000 + random.float() * 6 * HOUR);
      await signIn(sender);
    } finally {
      sender.busy = recipient.busy = false;
    }
  };

  const flows: Promise<void>[] = [];
  const spacing = (o.spreadHours * HOUR) / o.scenarios;
  let massDeparted = 0;
  for (let i = 0; i < o.scenarios; i++) {
    if (i === Math.floor(o.scenarios / 2) && o.massDeparture > 0) massDeparted = massDeparture(sim, users, o.massDeparture, random, signIn, flows);
    const idle = users.filter((u) => u.session && !u.busy);
    if (idle.length < 2) {
      skipped++;
    } else {
      const sender = idle.splice(random.int(idle.length), 1)[0]!;
      const recipient = idle[random.int(idle.length)]!;
      sender.busy = recipient.busy = true;
      flows.push(
        scenario(sender, recipient, flows.length === 0).catch((err: unknown) => {
          failedScenarios++;
          failures[errorCode(err)] = (failures[errorCode(err)] ?? 0) + 1;
        }),
      );
    }
    await sim.run(spacing);
  }
  await sim.until(Promise.all(flows), (o.maxAbsenceHours + 8) * HOUR);
  await sim.run(DELIVERY_WINDOW_MS);

  const all = [...tracked.values()];
  const after = all.filter((t) => t.shownAt !== undefined && t.returnedAt !== undefined).map((t) => t.shownAt! - t.returnedAt!);
  let receiptsAtSender = 0;
  for (const [id, t] of tracked) {
    const status = t.sender.session?.chat.messagesWith(t.recipient.name).find((m) => m.id === id)?.status;
    if (status === 'delivered') receiptsAtSender++;
  }
  const within = after.filter((ms) => ms <= DELIVERY_WINDOW_MS).length;
  const honestRefused = sim.refusedForCapacity();
  sim.close();
  const { progress: _, ...options } = o;
  return {
    ...options,
    offlineMessages: all.length,
    storedBeforeSenderLeft,
    deliveredWithin2Min: within,
    deliveredFraction: all.length === 0 ? 0 : within / all.length,
    deliveredLate: after.length - within,
    neverDelivered: all.length - after.length,
    shownTwice: all.filter((t) => t.shows > 1).length,
    requestsAccepted,
    pushedAfterTombstone,
    resentAfterShown,
    deliveryAfterReturnMs: summarize(after),
    longestAbsenceHours: Math.round((longestAbsence / HOUR) * 10) / 10,
    receiptsAtSender,
    scenariosSkipped: skipped,
    scenariosFailed: failedScenarios,
    failures,
    massDeparted,
    honestRefused,
    wallMs: Math.round(performance.now() - wallStart),
  };
}

/**
 * Half the network (or `fraction` of it) leaves at once: other nodes for good, idle users for a
 * few hours. Users in a scenario are left alone, so that each scenario keeps its meaning. New
 * nodes arrive over the next six hours, as a network recovers.
 */
function massDeparture(sim: Simulation, users: User[], fraction: number, random: SeededRandom, signIn: (u: User) => Promise<void>, flows: Promise<void>[]): number {
  const byHex = new Map(users.filter((u) => u.session).map((u) => [u.session!.node.node.hex, u]));
  const candidates = [...sim.live.values()].filter((s) => !byHex.get(s.node.hex)?.busy);
  const count = Math.round(sim.live.size * fraction);
  let gone = 0;
  for (let i = 0; i < count && candidates.length > 0; i++) {
    const s = candidates.splice(random.int(candidates.length), 1)[0]!;
    const user = byHex.get(s.node.hex);
    sim.leave(s);
    gone++;
    if (!user) continue;
    user.session = null;
    user.busy = true;
    const back = new Promise<void>((resolve) => sim.clock.setTimeout(resolve, HOUR + random.float() * 5 * HOUR));
    flows.push(back.then(() => signIn(user)).finally(() => (user.busy = false)));
  }
  const arrivals = gone - [...byHex.values()].filter((u) => u.session === null).length;
  for (let i = 0; i < arrivals; i++) {
    sim.clock.setTimeout(() => void sim.spawn(), ((i + 1) * 6 * HOUR) / (arrivals + 1));
  }
  return gone;
}
