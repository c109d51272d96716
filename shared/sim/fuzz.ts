/**
 * The DHT fuzzer (issue 14): hostile frames of every kind a channel carries, fed to a live node
 * of a small simulated network through a real connection, as a peer that authenticated (its
 * frames reach parseFrame, the RpcChannel, routing and the chat handlers) and as one that has not
 * yet (Channels holds or drops them). Per kind: requests of each method, replies to each method
 * (answering the victim's own requests), HELLO, errors, random text, and frames before HELLO.
 * Half of each kind is structure-aware (fuzz-gen.ts `shaped`), half mutations of valid frames.
 *
 * It counts exceptions (caught around delivery, uncaught, unhandled rejections, and the node's
 * `handler-crashed`), the parser's verdicts and the node's counters per kind, and checks after
 * that the node still answers an honest peer and still holds what it held before.
 */
import fc from 'fast-check';
import { Chat } from '../chat/chat.ts';
import { recordKey, recordToWire } from '../chat/records.ts';
import { LOOKUP_TIMEOUT_MS, REQUESTS_PER_NEIGHBOUR_PER_S } from '../dht/constants.ts';
import { methods, parseFrame, request, type Method } from '../dht/protocol.ts';
import { idToHex } from '../lib/id.ts';
import { SeededRandom } from '../lib/random.ts';
import { asText, ExceptionTrap, mutate, randomText, sampleChunks, shaped } from './fuzz-gen.ts';
import { honestReply, makeCast, PLACEHOLDER_ID, validFrames, type Cast, type ValidFrames } from './fuzz-frames.ts';
import { FuzzLedger, type KindReport } from './fuzz-ledger.ts';
import { PuppetPeer, settle, type VictimRequest } from './fuzz-peer.ts';
import { Simulation, type SimNode } from './simulation.ts';

export interface DhtFuzzOptions {
  /** Frames per kind (a method's requests, a method's replies, HELLO, ...). */
  frames: number;
  seed: number;
  /** Connections that send frames before their HELLO. */
  preHelloSessions?: number;
}

export type { KindReport } from './fuzz-ledger.ts';

export interface DhtFuzzReport {
  seed: number;
  framesPerKind: number;
  kinds: Record<string, KindReport>;
  frames: number;
  exceptions: number;
  exceptionSamples: string[];
  invariants: Record<string, boolean>;
  wallMs: number;
}

/** Frames sent between two steps of the simulation, and the simulated time a step takes. */
const BATCH = 250;
const STEP_MS = 20;
/**
 * A batch of requests takes as long as the victim's request bucket needs to admit it (dht/budget.ts
 * RequestLimits): faster, most of them would be answered BUSY and never reach their handler.
 */
const REQUEST_STEP_MS = Math.ceil((1_000 * BATCH) / REQUESTS_PER_NEIGHBOUR_PER_S);
/** Methods the victim's own code is made to ask the puppet (askAsCaller), and the replies kept for it per batch. */
const CALLERS = new Set(['FIND_NODE', 'FIND_VALUE', 'MAILBOX_STORE']);
const CALLER_SHARE = 25;

export async function runDhtFuzz(options: DhtFuzzOptions): Promise<DhtFuzzReport> {
  const started = performance.now();
  const trap = new ExceptionTrap();
  trap.install();
  const sim = new Simulation({ seed: options.seed, creationCap: 1_000_000 });
  try {
    return await new DhtFuzz(sim, trap, options).run(started);
  } finally {
    trap.uninstall();
    sim.close();
  }
}

class DhtFuzz {
  private victim!: SimNode;
  private witness!: SimNode;
  private cast!: Cast;
  private valid!: ValidFrames;
  private puppet!: PuppetPeer;
  private readonly random: SeededRandom;
  private ledger!: FuzzLedger;
  /** Fuzz frames waiting to answer the victim's requests of `replyMethod`. */
  private replies: string[] = [];
  private replyMethod: string | null = null;
  private replyKind = '';
  private connections = 0;
  /** Generators made so far: each draws from a seed of its own. */
  private streams = 0;

  constructor(
    private readonly sim: Simulation,
    private readonly trap: ExceptionTrap,
    private readonly o: DhtFuzzOptions,
  ) {
    this.random = new SeededRandom(o.seed);
  }

  async run(started: number): Promise<DhtFuzzReport> {
    await this.setUp();
    await this.preHello();
    const asPuppet = (text: string) => void this.puppet.send(text);
    for (const m of methods()) {
      // Signed now: requests paced to the bucket take minutes, and a signed fetch or SIGNAL
      // goes stale after five.
      this.valid = await validFrames(this.sim, this.victim.node.hex, this.cast, this.victim.identity);
      await this.feed(`req:${m}`, this.mixed(this.valid.requests[m]), asPuppet, REQUEST_STEP_MS);
    }
    for (const m of methods()) await this.responses(`res:${m}`, m, [this.valid.responses[m]]);
    await this.responses('err', 'PING', [this.valid.err]);
    await this.feed('hello', this.mixed([this.valid.hello]), asPuppet);
    await this.feed('random', this.randomFrames(), asPuppet);
    const invariants = await this.check();
    return {
      seed: this.o.seed,
      framesPerKind: this.o.frames,
      kinds: this.ledger.kinds,
      frames: this.ledger.frames,
      exceptions: this.trap.total + (this.victim.node.stats.get('handler-crashed')),
      exceptionSamples: this.trap.samples,
      invariants,
      wallMs: Math.round(performance.now() - started),
    };
  }

  /** Six nodes; the victim signs in (so it serves DELIVER) and holds a record and mail for carol. */
  private async setUp(): Promise<void> {
    const nodes = await this.sim.grow(6, 6, 5 * 60_000);
    this.victim = nodes[0]!;
    this.witness = nodes[1]!;
    this.ledger = new FuzzLedger(this.trap, this.victim.node.stats);
    this.cast = await makeCast(this.sim);
    await settle(this.sim, Chat.register(this.victim, this.victim.identity, 'victim_fuzz'));
    const peer = this.witness.node.peer(this.victim.node.hex);
    if (!peer) throw new Error('the witness has no channel to the victim');
    await settle(this.sim, this.witness.node.direct(peer, 'STORE', { record: this.cast.record }));
    await settle(this.sim, this.witness.node.direct(peer, 'MAILBOX_STORE', { envelope: this.cast.held, copies: 0 }));
    const puppetTransport = this.sim.network.endpoint('fuzz-puppet');
    this.puppet = new PuppetPeer(this.sim, this.cast.puppet, puppetTransport, (req) => this.answer(req));
    await this.connectPuppet();
    this.valid = await validFrames(this.sim, this.victim.node.hex, this.cast, this.victim.identity);
  }

  private async connectPuppet(): Promise<void> {
    if (!(await this.puppet.connect(this.victim, `pp${this.connections++}`))) throw new Error('the victim refused the puppet peer');
    await this.puppet.hello();
    for (let i = 0; i < 50 && !this.victim.node.peer(this.puppet.hex); i++) await this.sim.run(20);
    if (!this.victim.node.peer(this.puppet.hex)) throw new Error('the victim did not accept the puppet peer\'s HELLO');
  }

  private answer(req: VictimRequest): string[] {
    const honest = honestReply(req.id, req.m);
    if (req.m !== this.replyMethod || this.replies.length === 0) return [honest];
    const text = this.replies.shift()!.replaceAll(`"id":${PLACEHOLDER_ID}`, `"id":${req.id}`);
    this.ledger.count(this.replyKind, text, req.m);
    return [text, honest];
  }

  // ---- Kinds ---------------------------------------------------------------------------------

  /** Half structure-aware frames shaped like `valid`, half mutations of them, interleaved. */
  private *mixed(valid: string[], count = this.o.frames): Generator<string> {
    const arb = fc.oneof(...valid.map((t) => asText(shaped(JSON.parse(t)))));
    let n = 0;
    for (const chunk of sampleChunks(arb, Math.ceil(count / 2), this.o.seed + 1_000 * this.streams++)) {
      for (const structured of chunk) {
        if (n++ >= count) return;
        yield structured;
        if (n++ >= count) return;
        yield mutate(this.random, valid[this.random.int(valid.length)]!, this.valid.all);
      }
    }
  }

  private *randomFrames(): Generator<string> {
    for (const chunk of sampleChunks(randomText(), this.o.frames, this.o.seed + 99)) yield* chunk;
  }

  /**
   * Replies (and errors) to requests of method `m`: the victim asks the puppet, which answers
   * each with a fuzz frame carrying the request's id, then with a valid reply.
   */
  private async responses(kind: string, m: Method, valid: string[]): Promise<void> {
    this.ledger.begin(kind);
    const frames = this.mixed(valid);
    this.replyKind = kind;
    this.replyMethod = m;
    this.replies = [];
    for (let stalled = 0; stalled < 10; ) {
      for (let next = frames.next(); !next.done; next = frames.next()) if (this.replies.push(next.value) >= BATCH) break;
      if (this.replies.length === 0) break;
      const waiting = this.replies.length;
      await this.ensurePuppet();
      const peer = this.victim.node.peer(this.puppet.hex);
      // Some replies are left for the victim's own requests (askAsCaller), which come later.
      const asks = Math.max(1, waiting - (CALLERS.has(m) ? CALLER_SHARE : 0));
      for (let i = 0; peer && i < asks; i++) peer.rpc.request(m, this.valid.requestBodies[m] as never, 4_000).catch(() => {});
      this.askAsCaller(m);
      await this.step(STEP_MS * 10);
      stalled = this.replies.length === waiting ? stalled + 1 : 0;
    }
    this.replyMethod = null;
    await this.finish(kind);
  }

  /**
   * Makes the victim's own code ask for a reply of method `m`, so fuzzed replies also reach the
   * callers that use them (lookups, name resolution, mailbox copies and their acks).
   */
  private askAsCaller(m: Method): void {
    const { node } = this.victim;
    // Toward the puppet's own id, so the puppet is the first hop and its reply comes back.
    const key = this.cast.puppet.nodeId;
    if (m === 'FIND_NODE') void node.lookup(key, 2).catch(() => {});
    if (m === 'FIND_VALUE') void node.routeFromHere('FIND_VALUE', { key: idToHex(key) }, key, 2).catch(() => {});
    if (m === 'MAILBOX_STORE') {
      // A MAILBOX_STORE routed to the victim has it copy the envelope to its 8 nearest to carol.
      // The mail it held from the start: the fuzz acknowledged the other envelope long ago.
      const body = { envelope: this.cast.held, copies: 8 };
      this.puppet.send(JSON.stringify(request(9, 'MAILBOX_STORE', body, { k: this.victim.node.hex, h: 1, max: 20, ms: 9_000 })));
    }
  }

  /** Feeds one kind's frames through `send`, a batch per simulation step. */
  private async feed(kind: string, frames: Iterable<string>, send: (text: string) => void, stepMs = STEP_MS): Promise<void> {
    this.ledger.begin(kind);
    let n = 0;
    for (const text of frames) {
      if (n % BATCH === 0) await this.ensurePuppet();
      this.ledger.count(kind, text);
      try {
        send(text);
      } catch (err) {
        this.trap.record(err, text);
      }
      if (++n % BATCH === 0) await this.step(stepMs);
    }
    await this.finish(kind);
  }

  /**
   * Frames before HELLO, on connections of their own: the victim keeps 32 of them until the HELLO
   * is checked and drops the rest. Half the sessions then prove their id (the kept frames are
   * read as an authenticated peer's), half end with a fuzzed HELLO the victim must refuse.
   */
  private async preHello(): Promise<void> {
    const kind = 'pre-hello';
    this.ledger.begin(kind);
    const sessions = this.o.preHelloSessions ?? 40;
    const transport = this.sim.network.endpoint('fuzz-stranger');
    // Twice as many as needed: HELLOs that parse are set aside (one ends each session).
    const frames = this.mixed(this.valid.all, 2 * this.o.frames);
    const perSession = Math.ceil(this.o.frames / sessions);
    let sent = 0;
    for (let s = 0; s < sessions; s++) {
      const stranger = new PuppetPeer(this.sim, this.cast.stranger, transport, (req) => [honestReply(req.id, req.m)]);
      if (!(await stranger.connect(this.victim, `st${s}`))) {
        this.ledger.note(kind, 'fuzzer-session-refused');
        continue;
      }
      // Half the sessions end with a fuzzed HELLO that parses (the victim must refuse it), half
      // with the stranger's own, after which the frames the victim kept are read as its peer's.
      const endWithFuzz = s % 2 === 1;
      let ender: string | null = null;
      for (let i = 0; i < perSession - (endWithFuzz && ender !== null ? 1 : 0) && sent < this.o.frames; ) {
        const next = frames.next();
        if (next.done) break;
        const parsed = parseFrame(next.value);
        if (parsed.ok && parsed.frame.t === 'hello') {
          ender ??= next.value;
          continue;
        }
        this.ledger.count(kind, next.value);
        stranger.send(next.value);
        sent++;
        if (++i % BATCH === 0) await this.step(STEP_MS);
      }
      if (endWithFuzz && ender !== null && sent < this.o.frames) {
        this.ledger.count(kind, ender);
        stranger.send(ender);
        sent++;
      } else await stranger.hello();
      await this.step(1_000);
      stranger.hangUp();
      await this.step(200);
    }
    await this.finish(kind);
  }

  // ---- Bookkeeping ---------------------------------------------------------------------------

  /** Lets what the kind started settle (replies, forwards, timeouts), then closes its record. */
  private async finish(kind: string): Promise<void> {
    await this.step(LOOKUP_TIMEOUT_MS + 5_000);
    this.ledger.end(kind);
  }

  /** Runs the simulation; an exception out of a timer is counted, and the run goes on. */
  private async step(ms: number): Promise<void> {
    try {
      await this.sim.run(ms);
    } catch (err) {
      this.trap.record(err);
    }
  }

  private async ensurePuppet(): Promise<void> {
    if (this.puppet.isOpen && this.victim.node.peer(this.puppet.hex)) return;
    this.ledger.note(this.trap.kind, 'fuzzer-reconnects');
    this.puppet.hangUp();
    await this.step(1_000);
    await this.connectPuppet();
  }

  /** After the fuzz: the victim answers an honest neighbour and holds what it held. */
  private async check(): Promise<Record<string, boolean>> {
    this.trap.kind = 'check';
    const { victim, witness, cast } = this;
    const keyHex = idToHex(recordKey(cast.record.name));
    const held = victim.records.get(keyHex);
    const peer = witness.node.peer(victim.node.hex);
    const ping = peer ? await settle(this.sim, witness.node.direct(peer, 'PING', {})).then(() => true, () => false) : false;
    const found = await settle(this.sim, witness.node.lookup(victim.node.id, 1)).catch(() => null);
    return {
      recordStillHeld: held !== undefined && JSON.stringify(recordToWire(held)) === JSON.stringify(cast.record),
      mailStillHeld: victim.mailbox.holds(cast.held.id),
      answersHonestPing: ping,
      foundByLookup: found?.nodes[0] === victim.node.hex,
    };
  }
}
