/**
 * Authenticated channels to other nodes. It creates connections through the Transport, carries
 * their signaling over whatever path the owner gives (the signal server for first peers, routed
 * SIGNAL for the rest), and lets a channel carry DHT traffic only after HELLO proves that the
 * peer holds the key its node id is the hash of, bound to this channel's DTLS fingerprints.
 */
import { OfferLimits, type ConnectionBudget, type Urgency } from './budget.ts';
import { Link, Setup, type LinkOwner, type Peer, type Settle } from './link.ts';
import type { Clock } from '../lib/clock.ts';
import { CONNECT_TIMEOUT_MS } from './constants.ts';
import { helloPayload, type CryptoOps, type Identity } from '../lib/crypto.ts';
import { fromBase64Url, toBase64Url } from '../lib/encoding.ts';
import { ErrorCode, PeerchatError, quietError } from '../lib/errors.ts';
import { idEquals, idToHex, nodeIdFromSigningKey, type NodeId } from '../lib/id.ts';
import { internHex, internId } from './id-intern.ts';
import { encodeFrame, hello, parseFrame, type RequestFrame } from './protocol.ts';
import type { Random } from '../lib/random.ts';
import type { Reply } from './rpc.ts';
import type { Stats } from '../lib/stats.ts';
import { closeCounter, isIceFailure, type SignalPath, type SignalPayload, type SignalReply, type Transport } from '../lib/transport.ts';

export type { Peer } from './link.ts';

export interface ChannelsOptions {
  identity: Identity;
  ops: CryptoOps;
  transport: Transport;
  clock: Clock;
  random: Random;
  budget: ConnectionBudget;
  stats: Stats;
  onPeer(peer: Peer): void;
  /** `byUs`: this node closed it (see LinkOwner.end). */
  onPeerClosed(peer: Peer, reason: string, byUs: boolean): void;
  onRequest(peer: Peer, request: RequestFrame, reply: Reply): void;
}

/** How long an answerer waits for its transport's answer before replying to a SIGNAL. */
const ANSWER_WAIT_MS = 3_000;
/** How often an initiator polls for more of the answerer's signals while still connecting. */
const SIGNAL_POLL_MS = 1_000;
/**
 * A channel this old is settled: a new dial from its peer means the peer lost its end, not that
 * two dials crossed (crossed dials open within one connect timeout of each other).
 */
const SETTLED_CHANNEL_MS = CONNECT_TIMEOUT_MS;
/**
 * How long an answerer waits for a PING over a channel younger than SETTLED_CHANNEL_MS when its
 * peer dials again. An answer means the two dials crossed; silence means the peer lost its end
 * (a reload, a crash) before its close reached us, and the old channel gives way at once.
 * Mistaking a slow live channel for a dead one costs that channel: the new one replaces it.
 */
const PROBE_MS = 1_500;
/** Frames accepted from a peer while its HELLO is being checked. */
const MAX_EARLY_FRAMES = 32;

/** The answerer's attempt reports to no one: the initiator's dial is what waits. */
const NO_ONE: Settle = () => {};

export class Channels implements LinkOwner {
  private readonly ready = new Map<string, Link>();
  /** Authenticated peers by node id hex. */
  readonly peers: ReadonlyMap<string, Peer> = this.ready;
  /** Links still being set up, by key. Ready ones are found through `ready`. */
  private readonly attempts = new Map<string, Link>();
  /** PINGs in flight over young channels whose peers dialed again, by peer hex (see PROBE_MS). */
  private readonly probes = new Map<string, Promise<boolean>>();
  private created = 0;
  private closed = false;
  /** Inbound offers per source and in total, before the connection budget (budget.ts). */
  private readonly offers: OfferLimits;
  private readonly selfHex: string;
  readonly clock: Clock;

  constructor(private readonly o: ChannelsOptions) {
    this.selfHex = idToHex(o.identity.nodeId);
    this.clock = o.clock;
    this.offers = new OfferLimits(o.clock.now());
  }

  /** Connection attempts in progress to this peer (either direction). */
  connecting(peerHex: string): boolean {
    for (const a of this.attempts.values()) {
      if (a.hex === peerHex && (a.state === 'signaling' || a.state === 'hello')) return true;
    }
    return false;
  }

  get attemptsInProgress(): number {
    let n = 0;
    for (const a of this.attempts.values()) if (a.state === 'signaling' || a.state === 'hello') n++;
    return n;
  }

  /**
   * Opens a channel to `peerHex`, signaling over `path`. Resolves once HELLO succeeded both ways.
   * `urgency` says how it may spend the connection budget (ConnectionBudget.take).
   */
  dial(peerHex: string, path: SignalPath, urgency: Urgency = 'paced'): Promise<Peer> {
    const peerId = internId(peerHex);
    if (this.closed) return Promise.reject(new PeerchatError(ErrorCode.Closed, 'Node is closed'));
    if (!peerId || peerHex === this.selfHex) return Promise.reject(new PeerchatError(ErrorCode.BadRequest, 'Bad peer id'));
    const existing = this.peers.get(peerHex);
    if (existing) return Promise.resolve(existing);
    if (this.connecting(peerHex)) return Promise.reject(new PeerchatError(ErrorCode.Busy, 'Already connecting to that peer'));
    if (!this.o.budget.take(urgency)) return Promise.reject(new PeerchatError(ErrorCode.BudgetExhausted, 'Out of connection budget'));
    const tag = idToHex(this.o.random.bytes(8));
    return new Promise<Peer>((resolve, reject) => {
      const attempt = this.newAttempt(tag, internHex(peerHex), peerId, true, (err, peer) => {
        if (err) return reject(err);
        if (urgency === 'near') this.o.budget.nearDialSucceeded();
        resolve(peer!);
      });
      if (!this.createConnection(attempt)) return;
      this.o.stats.count('connections-dialed');
      void this.runInitiator(attempt, tag, path);
    });
  }

  /**
   * The answerer's side of signaling, whether it came through the signal server or a routed
   * SIGNAL; either has authenticated `fromHex` (the server's signed hello, the SIGNAL's
   * signature). An offer for a new connection passes the offer limits, per source and in total,
   * then the connection budget; BUSY is answered before anything is constructed when either
   * says no.
   */
  async handleSignal(fromHex: string, payload: SignalPayload, needed = false): Promise<SignalReply> {
    const fromId = internId(fromHex);
    if (this.closed || !fromId || fromHex === this.selfHex) return { busyMs: 60_000 };
    const key = `${fromHex}:${payload.conn}`;
    let attempt = this.attempts.get(key) ?? this.readyLink(fromHex, payload.conn);
    const current = attempt ? undefined : this.ready.get(fromHex);
    if (current && !this.isSettled(current)) {
      // A peer with a young channel dials again: either our dials crossed (its channel is
      // live) or it lost its end before its close reached us. A PING tells which.
      if (await this.answersProbe(current)) {
        this.o.stats.count('busy-crossed-dial');
        return { busyMs: Math.max(1_000, SETTLED_CHANNEL_MS - (this.o.clock.now() - current.openedAt)) };
      }
      if (this.closed) return { busyMs: 60_000 };
      attempt = this.attempts.get(key); // a copy of this step may have begun it meanwhile
    }
    if (!attempt) {
      // A peer we have a settled channel with dials again: it lost its end (a reload, a crash
      // we have not noticed yet). Its new channel replaces the old one once HELLO proves it.
      // Both sides dialed each other at once: the lower id's dial wins.
      const mine = [...this.attempts.values()].find((a) => a.hex === fromHex && a.initiator);
      if (mine && this.selfHex < fromHex) return { busyMs: 1_000 };
      mine?.settle(new PeerchatError(ErrorCode.Busy, 'Crossed dials: the peer dials us'));
      const now = this.o.clock.now();
      const limited = this.offers.take(fromHex, now);
      if (limited) {
        this.o.stats.count(`offer-limited-${limited}`);
        return { busyMs: Math.max(1_000, this.offers.waitMs(now)) };
      }
      if (!this.o.budget.take(needed ? 'needed' : 'paced')) {
        this.o.stats.count('busy-sent');
        return { busyMs: this.o.budget.retryAfterMs() };
      }
      attempt = this.newAttempt(payload.conn, internHex(fromHex), fromId, false, NO_ONE);
      if (!this.createConnection(attempt)) return { busyMs: 60_000 };
      this.o.stats.count('connections-answered');
    }
    // A step sent again (a poll carries nothing, so only a batch with signals can be one).
    const batch = payload.data.length > 0 ? JSON.stringify(payload.data) : null;
    const setup = attempt.setup;
    if (batch !== null && setup?.lastStep?.batch === batch) {
      this.o.stats.count('signal-step-again');
      return { data: await setup.lastStep.reply };
    }
    const step = this.answerStep(attempt, payload.data);
    if (setup && batch !== null) setup.lastStep = { batch, reply: step };
    return { data: await step };
  }

  private async answerStep(attempt: Link, data: readonly string[]): Promise<string[]> {
    for (const d of data) attempt.conn?.signal(d);
    if (!attempt.hasSignals && attempt.state === 'signaling') await this.waitForSignals(attempt, ANSWER_WAIT_MS);
    return attempt.takeSignals();
  }

  /**
   * Ends every channel and attempt, oldest first, so the transport's close notices are always
   * scheduled in the same order and a seeded simulation replays. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.attempts.values(), ...this.ready.values()].sort((x, y) => x.seq - y.seq);
    for (const a of all) this.end(a, 'node closed');
  }

  /**
   * Whether `link`'s peer answers a PING within PROBE_MS. A link that stays silent is ended
   * (`channel-probe-unanswered`), so the peer's new dial can take its place. One probe per peer
   * at a time: copies of a signaling step wait for the same answer.
   */
  private answersProbe(link: Link): Promise<boolean> {
    const pending = this.probes.get(link.hex);
    if (pending) return pending;
    const probe = link.rpc
      .request('PING', {}, PROBE_MS)
      .then(() => true, () => false)
      .then((alive) => {
        this.probes.delete(link.hex);
        if (!alive && this.ready.get(link.hex) === link) {
          this.o.stats.count('channel-probe-unanswered');
          this.end(link, 'no answer to a probe', true);
        }
        return alive;
      });
    this.probes.set(link.hex, probe);
    return probe;
  }

  /** Open long enough that a second channel to the same peer cannot be a crossed dial. */
  private isSettled(link: Link): boolean {
    return this.o.clock.now() - link.openedAt >= SETTLED_CHANNEL_MS;
  }

  /** The ready link that was signaled under this tag: a late SIGNAL for it must still find it. */
  private readyLink(peerHex: string, tag: string): Link | undefined {
    const link = this.ready.get(peerHex);
    return link?.tag === tag ? link : undefined;
  }

  private newAttempt(
    tag: string,
    peerHex: string,
    peerId: NodeId,
    initiator: boolean,
    done: Settle,
  ): Link {
    const setup = new Setup(done, this.o.clock.now());
    const attempt = new Link(this, this.created++, tag, peerHex, peerId, initiator, setup);
    this.attempts.set(attempt.key, attempt);
    setup.timer = this.o.clock.setTimeout(
      () => attempt.settle(new PeerchatError(ErrorCode.Timeout, `No channel to ${peerHex.slice(0, 8)} within ${CONNECT_TIMEOUT_MS} ms`)),
      CONNECT_TIMEOUT_MS,
    );
    return attempt;
  }

  private createConnection(a: Link): boolean {
    try {
      a.conn = this.o.transport.create(a.initiator, a);
      this.o.stats.count('connections-created');
      return true;
    } catch (err) {
      this.o.stats.count('connection-create-failed');
      a.settle(err instanceof PeerchatError ? err : new PeerchatError(ErrorCode.BudgetExhausted, String(err)));
      return false;
    }
  }

  private async runInitiator(a: Link, tag: string, path: SignalPath): Promise<void> {
    await this.waitForSignals(a, ANSWER_WAIT_MS);
    while (a.state === 'signaling') {
      let reply: SignalReply;
      try {
        reply = await path({ conn: tag, data: a.takeSignals() });
      } catch (err) {
        return a.settle(err instanceof PeerchatError ? err : new PeerchatError(ErrorCode.NoRoute, String(err)));
      }
      if ('busyMs' in reply) return a.settle(new PeerchatError(ErrorCode.Busy, `Peer is busy; retry in ${reply.busyMs} ms`, reply.busyMs));
      for (const d of reply.data) a.conn?.signal(d);
      if (a.state !== 'signaling') return;
      await this.waitForSignals(a, SIGNAL_POLL_MS);
    }
  }

  /** Resolves when the attempt has outgoing signals, leaves signaling, or after `ms`. */
  private waitForSignals(a: Link, ms: number): Promise<void> {
    const setup = a.setup;
    if (a.hasSignals || a.state !== 'signaling' || !setup) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.o.clock.setTimeout(() => done(), ms);
      const done = () => {
        this.o.clock.clearTimeout(timer);
        setup.waiter = null;
        resolve();
      };
      setup.waiter = done;
    });
  }

  /** @internal The attempt's connection opened. */
  async sendHello(a: Link): Promise<void> {
    const conn = a.conn;
    const setup = a.setup;
    const local = conn?.localFingerprint();
    const remote = conn?.remoteFingerprint();
    if (!setup || !conn || !local || !remote) return a.settle(new PeerchatError(ErrorCode.Rejected, 'No fingerprints to bind HELLO to'));
    a.state = 'hello';
    setup.waiter?.();
    const sig = await this.o.ops.sign(this.o.identity, helloPayload(local, remote));
    if (ended(a)) return;
    conn.send(encodeFrame(hello(toBase64Url(this.o.identity.signingPublic), this.o.identity.idNonce, toBase64Url(sig))));
    setup.helloSent = true;
    this.maybeReady(a);
  }

  /** @internal A frame arrived on the attempt's connection. */
  onFrame(a: Link, text: string): void {
    const parsed = parseFrame(text);
    if (!parsed.ok) {
      this.o.stats.count(`drop-${parsed.reason}`);
      if (parsed.id !== undefined && a.state === 'ready') {
        const code = parsed.reason === 'unknown-method' ? ErrorCode.UnknownMethod : ErrorCode.BadRequest;
        a.rpc.replyError(parsed.id, code, `Dropped: ${parsed.reason}`);
      }
      return;
    }
    const frame = parsed.frame;
    if (frame.t === 'hello') return void this.checkHello(a, frame.key, frame.n, frame.sig);
    if (a.state === 'ready') return a.rpc.receive(frame);
    // Without setup the link was ready and has closed since: nothing reads its frames.
    if (!a.setup) return;
    const early = (a.setup.early ??= []);
    if (early.length >= MAX_EARLY_FRAMES) return this.o.stats.count('drop-unauthenticated');
    early.push(frame);
  }

  /**
   * The key and its id nonce must make the peer's id with the network's work (one hash, checked
   * before the signature): an id the peer did not pay for is refused as `hello-rejected-work`.
   */
  private async checkHello(a: Link, keyText: string, nonce: number, sigText: string): Promise<void> {
    const setup = a.setup;
    if (!setup || setup.helloOk) return this.o.stats.count('drop-duplicate-hello');
    const key = fromBase64Url(keyText);
    const sig = fromBase64Url(sigText);
    const local = a.conn?.localFingerprint();
    const remote = a.conn?.remoteFingerprint();
    const id = key && nodeIdFromSigningKey(key, nonce);
    if (key && !id) return this.refuseHello(a, 'hello-rejected-work');
    let ok = false;
    if (id && sig && local && remote && idEquals(id, a.id)) {
      ok = await this.o.ops.verify(key!, sig, helloPayload(remote, local));
    }
    if (ended(a)) return;
    if (!ok) return this.refuseHello(a, 'hello-rejected');
    a.contact = { key: keyText, n: nonce };
    setup.helloOk = true;
    this.maybeReady(a);
  }

  private refuseHello(a: Link, reason: string): void {
    this.o.stats.count(reason);
    a.settle(new PeerchatError(ErrorCode.Rejected, 'Peer failed HELLO authentication'));
  }

  private maybeReady(a: Link): void {
    const setup = a.setup;
    if (!setup?.helloOk || !setup.helloSent || a.state !== 'hello' || !a.conn) return;
    const existing = this.ready.get(a.hex);
    if (existing) {
      // A settled channel is the old end of a peer that came back: the new one replaces it.
      // Otherwise both ends dialed each other and both attempts got through (their signals
      // crossed on different paths). Each end must keep the same one, or each closes the
      // other's choice and they lose each other: keep the one the lower id initiated.
      const keepNew = this.isSettled(existing) || a.initiator === this.selfHex < a.hex;
      if (!keepNew) return a.settle(new PeerchatError(ErrorCode.Busy, 'Duplicate channel'));
      this.ready.delete(existing.hex);
      existing.rpc.close('replaced by a duplicate channel');
      this.end(existing, 'duplicate channel');
      this.o.stats.count('channel-replaced-duplicate');
    }
    a.state = 'ready';
    this.forget(a);
    if (setup.timer) this.o.clock.clearTimeout(setup.timer);
    a.openedAt = this.o.clock.now();
    this.ready.set(a.hex, a);
    this.o.stats.count('channels-authenticated');
    if (a.initiator) {
      this.o.stats.count('channels-dialed-ok');
      this.o.stats.sample('dial-ms', a.openedAt - setup.startedAt);
    }
    a.settle(null, a);
    a.setup = null;
    this.o.onPeer(a);
    for (const f of setup.early ?? []) a.rpc.receive(f);
  }

  /** @internal A request arrived on a ready link. */
  onRequest(peer: Peer, request: RequestFrame, reply: Reply): void {
    this.o.onRequest(peer, request, reply);
  }

  /** @internal A reply on a ready link matched nothing or was malformed. */
  onDrop(reason: string): void {
    this.o.stats.count(`drop-${reason}`);
  }

  /**
   * @internal Ends an attempt or channel, whoever asked (either side, timeout, node close). A
   * link ends once and its connection reports its close once, so an ICE cause is counted once
   * per connection; a dial that ICE failed rejects with ICE_FAILED, which upkeep backs off on.
   */
  end(a: Link, reason: string, byUs = false): void {
    if (a.state === 'closed') return;
    a.state = 'closed';
    this.forget(a);
    const counter = closeCounter(reason);
    if (counter) this.o.stats.count(counter);
    const setup = a.setup;
    if (setup?.timer) this.o.clock.clearTimeout(setup.timer);
    setup?.waiter?.();
    a.conn?.close();
    a.settle(quietError(isIceFailure(reason) ? ErrorCode.IceFailed : ErrorCode.ChannelClosed, reason));
    if (this.ready.get(a.hex) === a) {
      this.ready.delete(a.hex);
      a.rpc.close(reason);
      this.o.onPeerClosed(a, reason, byUs);
    }
  }

  /** Drops an attempt from those in progress (it is ready, or over). */
  private forget(a: Link): void {
    const key = a.key;
    if (this.attempts.get(key) === a) this.attempts.delete(key);
  }
}

/** Read through a function so TypeScript does not narrow state across an await. */
function ended(a: Link): boolean {
  return a.state === 'closed';
}
