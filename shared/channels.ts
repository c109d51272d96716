/**
 * Authenticated channels to other nodes. It creates connections through the Transport, carries
 * their signaling over whatever path the owner gives (the signal server for first peers, routed
 * SIGNAL for the rest), and lets a channel carry DHT traffic only after HELLO proves that the
 * peer holds the key its node id is the hash of, bound to this channel's DTLS fingerprints.
 */
import type { ConnectionKind, ConnectionBudget } from './budget.ts';
import type { Clock, TimerHandle } from './clock.ts';
import { CONNECT_TIMEOUT_MS } from './constants.ts';
import { helloPayload, type CryptoOps, type Identity } from './crypto.ts';
import { fromBase64Url, toBase64Url } from './encoding.ts';
import { ErrorCode, PeerchatError } from './errors.ts';
import { idEquals, idFromHex, idToHex, nodeIdFromSigningKey, type NodeId } from './id.ts';
import { encodeFrame, parseFrame, type Frame, type RequestFrame } from './protocol.ts';
import type { Random } from './random.ts';
import { RpcChannel, type Reply } from './rpc.ts';
import type { Stats } from './stats.ts';
import type { Connection, Transport } from './transport.ts';

/** A batch of signaling strings for one connection attempt, named by the initiator's tag. */
export interface SignalPayload {
  conn: string;
  data: string[];
}
export type SignalReply = { data: string[] } | { busyMs: number };
/** Carries the initiator's batch to the peer and brings back the peer's batch. */
export type SignalPath = (payload: SignalPayload) => Promise<SignalReply>;

export interface Peer {
  readonly id: NodeId;
  readonly hex: string;
  readonly rpc: RpcChannel;
  readonly initiator: boolean;
  readonly kind: ConnectionKind;
  readonly openedAt: number;
  close(): void;
}

export interface ChannelsOptions {
  identity: Identity;
  ops: CryptoOps;
  transport: Transport;
  clock: Clock;
  random: Random;
  budget: ConnectionBudget;
  stats: Stats;
  onPeer(peer: Peer): void;
  onPeerClosed(peer: Peer, reason: string): void;
  onRequest(peer: Peer, request: RequestFrame, reply: Reply): void;
}

/** How long an answerer waits for its transport's answer before replying to a SIGNAL. */
const ANSWER_WAIT_MS = 3_000;
/** How often an initiator polls for more of the answerer's signals while still connecting. */
const SIGNAL_POLL_MS = 1_000;
/** Frames accepted from a peer while its HELLO is being checked. */
const MAX_EARLY_FRAMES = 32;

type Attempt = {
  readonly key: string;
  readonly peerHex: string;
  readonly peerId: NodeId;
  readonly initiator: boolean;
  readonly kind: ConnectionKind;
  conn: Connection | null;
  outbox: string[];
  waiter: (() => void) | null;
  timer: TimerHandle | null;
  state: 'signaling' | 'hello' | 'ready' | 'closed';
  helloSent: boolean;
  helloOk: boolean;
  early: Frame[];
  peer: PeerImpl | null;
  settle(err: PeerchatError | null, peer?: Peer): void;
};

class PeerImpl implements Peer {
  constructor(
    readonly id: NodeId,
    readonly hex: string,
    readonly rpc: RpcChannel,
    readonly initiator: boolean,
    readonly kind: ConnectionKind,
    readonly openedAt: number,
    readonly close: () => void,
  ) {}
}

export class Channels {
  /** Authenticated peers by node id hex. */
  readonly peers = new Map<string, Peer>();
  private readonly attempts = new Map<string, Attempt>();
  private closed = false;
  private readonly selfHex: string;

  constructor(private readonly o: ChannelsOptions) {
    this.selfHex = idToHex(o.identity.nodeId);
  }

  /** Connection attempts in progress to this peer (either direction). */
  connecting(peerHex: string): boolean {
    for (const a of this.attempts.values()) {
      if (a.peerHex === peerHex && (a.state === 'signaling' || a.state === 'hello')) return true;
    }
    return false;
  }

  get attemptsInProgress(): number {
    let n = 0;
    for (const a of this.attempts.values()) if (a.state === 'signaling' || a.state === 'hello') n++;
    return n;
  }

  /** Opens a channel to `peerHex`, signaling over `path`. Resolves once HELLO succeeded both ways. */
  dial(peerHex: string, path: SignalPath, kind: ConnectionKind = 'dht'): Promise<Peer> {
    const peerId = idFromHex(peerHex);
    if (this.closed) return Promise.reject(new PeerchatError(ErrorCode.Closed, 'Node is closed'));
    if (!peerId || peerHex === this.selfHex) return Promise.reject(new PeerchatError(ErrorCode.BadRequest, 'Bad peer id'));
    const existing = this.peers.get(peerHex);
    if (existing) return Promise.resolve(existing);
    if (this.connecting(peerHex)) return Promise.reject(new PeerchatError(ErrorCode.Busy, 'Already connecting to that peer'));
    if (!this.o.budget.take(kind)) return Promise.reject(new PeerchatError(ErrorCode.BudgetExhausted, 'Out of connection budget'));
    const tag = idToHex(this.o.random.bytes(8));
    return new Promise<Peer>((resolve, reject) => {
      const attempt = this.newAttempt(`${peerHex}:${tag}`, peerHex, peerId, true, kind, (err, peer) =>
        err ? reject(err) : resolve(peer!),
      );
      if (!this.createConnection(attempt)) return;
      this.o.stats.count('connections-dialed');
      void this.runInitiator(attempt, tag, path);
    });
  }

  /**
   * The answerer's side of signaling, whether it came through the signal server or a routed
   * SIGNAL. BUSY is answered before anything is constructed when the budget is spent.
   */
  async handleSignal(fromHex: string, payload: SignalPayload, kind: ConnectionKind = 'dht'): Promise<SignalReply> {
    const fromId = idFromHex(fromHex);
    if (this.closed || !fromId || fromHex === this.selfHex) return { busyMs: 60_000 };
    const key = `${fromHex}:${payload.conn}`;
    let attempt = this.attempts.get(key);
    if (!attempt) {
      if (this.peers.has(fromHex)) return { busyMs: 60_000 };
      // Both sides dialed each other at once: the lower id's dial wins.
      const mine = [...this.attempts.values()].find((a) => a.peerHex === fromHex && a.initiator);
      if (mine && this.selfHex < fromHex) return { busyMs: 1_000 };
      mine?.settle(new PeerchatError(ErrorCode.Busy, 'Crossed dials: the peer dials us'));
      if (!this.o.budget.take(kind)) {
        this.o.stats.count('busy-sent');
        return { busyMs: this.o.budget.retryAfterMs() };
      }
      attempt = this.newAttempt(key, fromHex, fromId, false, kind, () => {});
      if (!this.createConnection(attempt)) return { busyMs: 60_000 };
      this.o.stats.count('connections-answered');
    }
    for (const d of payload.data) attempt.conn?.signal(d);
    if (attempt.outbox.length === 0 && attempt.state === 'signaling') await this.waitForSignals(attempt, ANSWER_WAIT_MS);
    return { data: attempt.outbox.splice(0) };
  }

  /** Ends every channel and attempt. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const a of [...this.attempts.values()]) this.end(a, 'node closed');
  }

  private newAttempt(
    key: string,
    peerHex: string,
    peerId: NodeId,
    initiator: boolean,
    kind: ConnectionKind,
    done: (err: PeerchatError | null, peer?: Peer) => void,
  ): Attempt {
    let settled = false;
    const attempt: Attempt = {
      key, peerHex, peerId, initiator, kind, conn: null, outbox: [], waiter: null, timer: null,
      state: 'signaling', helloSent: false, helloOk: false, early: [], peer: null,
      settle: (err, peer) => {
        if (settled) return;
        settled = true;
        if (err) this.end(attempt, err.message);
        done(err, peer);
      },
    };
    this.attempts.set(key, attempt);
    attempt.timer = this.o.clock.setTimeout(
      () => attempt.settle(new PeerchatError(ErrorCode.Timeout, `No channel to ${peerHex.slice(0, 8)} within ${CONNECT_TIMEOUT_MS} ms`)),
      CONNECT_TIMEOUT_MS,
    );
    return attempt;
  }

  private createConnection(a: Attempt): boolean {
    try {
      a.conn = this.o.transport.create(a.initiator, {
        signal: (data) => {
          a.outbox.push(data);
          a.waiter?.();
        },
        open: () => void this.sendHello(a),
        message: (frame) => this.onFrame(a, frame),
        close: (reason) => this.end(a, reason),
      });
      this.o.stats.count('connections-created');
      return true;
    } catch (err) {
      this.o.stats.count('connection-create-failed');
      a.settle(err instanceof PeerchatError ? err : new PeerchatError(ErrorCode.BudgetExhausted, String(err)));
      return false;
    }
  }

  private async runInitiator(a: Attempt, tag: string, path: SignalPath): Promise<void> {
    await this.waitForSignals(a, ANSWER_WAIT_MS);
    while (a.state === 'signaling') {
      let reply: SignalReply;
      try {
        reply = await path({ conn: tag, data: a.outbox.splice(0) });
      } catch (err) {
        return a.settle(err instanceof PeerchatError ? err : new PeerchatError(ErrorCode.NoRoute, String(err)));
      }
      if ('busyMs' in reply) return a.settle(new PeerchatError(ErrorCode.Busy, `Peer is busy; retry in ${reply.busyMs} ms`));
      for (const d of reply.data) a.conn?.signal(d);
      if (a.state !== 'signaling') return;
      await this.waitForSignals(a, SIGNAL_POLL_MS);
    }
  }

  /** Resolves when the attempt has outgoing signals, leaves signaling, or after `ms`. */
  private waitForSignals(a: Attempt, ms: number): Promise<void> {
    if (a.outbox.length > 0 || a.state !== 'signaling') return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.o.clock.setTimeout(() => done(), ms);
      const done = () => {
        this.o.clock.clearTimeout(timer);
        a.waiter = null;
        resolve();
      };
      a.waiter = done;
    });
  }

  private async sendHello(a: Attempt): Promise<void> {
    const conn = a.conn;
    const local = conn?.localFingerprint();
    const remote = conn?.remoteFingerprint();
    if (!conn || !local || !remote) return a.settle(new PeerchatError(ErrorCode.Rejected, 'No fingerprints to bind HELLO to'));
    a.state = 'hello';
    a.waiter?.();
    const sig = await this.o.ops.sign(this.o.identity, helloPayload(local, remote));
    if (ended(a)) return;
    conn.send(encodeFrame({ t: 'hello', key: toBase64Url(this.o.identity.signingPublic), sig: toBase64Url(sig) }));
    a.helloSent = true;
    this.maybeReady(a);
  }

  private onFrame(a: Attempt, text: string): void {
    const parsed = parseFrame(text);
    if (!parsed.ok) {
      this.o.stats.count(`drop-${parsed.reason}`);
      if (parsed.id !== undefined && a.peer) {
        const code = parsed.reason === 'unknown-method' ? ErrorCode.UnknownMethod : ErrorCode.BadRequest;
        a.peer.rpc.replyError(parsed.id, code, `Dropped: ${parsed.reason}`);
      }
      return;
    }
    const frame = parsed.frame;
    if (frame.t === 'hello') return void this.checkHello(a, frame.key, frame.sig);
    if (frame.t === 'busy') return this.end(a, 'peer busy');
    if (a.peer && a.state === 'ready') return a.peer.rpc.receive(frame);
    if (a.early.length >= MAX_EARLY_FRAMES) return this.o.stats.count('drop-unauthenticated');
    a.early.push(frame);
  }

  private async checkHello(a: Attempt, keyText: string, sigText: string): Promise<void> {
    if (a.helloOk) return this.o.stats.count('drop-duplicate-hello');
    const key = fromBase64Url(keyText);
    const sig = fromBase64Url(sigText);
    const local = a.conn?.localFingerprint();
    const remote = a.conn?.remoteFingerprint();
    let ok = false;
    if (key && sig && local && remote && idEquals(nodeIdFromSigningKey(key), a.peerId)) {
      ok = await this.o.ops.verify(key, sig, helloPayload(remote, local));
    }
    if (ended(a)) return;
    if (!ok) {
      this.o.stats.count('hello-rejected');
      return a.settle(new PeerchatError(ErrorCode.Rejected, 'Peer failed HELLO authentication'));
    }
    a.helloOk = true;
    this.maybeReady(a);
  }

  private maybeReady(a: Attempt): void {
    if (!a.helloOk || !a.helloSent || a.state !== 'hello' || !a.conn) return;
    const conn = a.conn;
    if (this.peers.has(a.peerHex)) return a.settle(new PeerchatError(ErrorCode.Busy, 'Duplicate channel'));
    a.state = 'ready';
    if (a.timer) this.o.clock.clearTimeout(a.timer);
    const rpc: RpcChannel = new RpcChannel({
      clock: this.o.clock,
      send: (frame) => conn.send(frame),
      onRequest: (req, reply) => this.o.onRequest(peer, req, reply),
      onDrop: (reason) => this.o.stats.count(`drop-${reason}`),
    });
    const peer = new PeerImpl(a.peerId, a.peerHex, rpc, a.initiator, a.kind, this.o.clock.now(), () => this.end(a, 'closed by us'));
    a.peer = peer;
    this.peers.set(a.peerHex, peer);
    this.o.stats.count('channels-authenticated');
    a.settle(null, peer);
    this.o.onPeer(peer);
    for (const f of a.early.splice(0)) rpc.receive(f);
  }

  private end(a: Attempt, reason: string): void {
    if (a.state === 'closed') return;
    a.state = 'closed';
    this.attempts.delete(a.key);
    if (a.timer) this.o.clock.clearTimeout(a.timer);
    a.waiter?.();
    a.conn?.close();
    a.settle(new PeerchatError(ErrorCode.ChannelClosed, reason));
    const peer = a.peer;
    if (peer && this.peers.get(peer.hex) === peer) {
      this.peers.delete(peer.hex);
      peer.rpc.close(reason);
      this.o.onPeerClosed(peer, reason);
    }
  }
}

/** Read through a function so TypeScript does not narrow state across an await. */
function ended(a: Attempt): boolean {
  return a.state === 'closed';
}
