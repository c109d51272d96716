/**
 * A tab's side of the signal server (`/signal`): proves the tab owns its node id, asks for first
 * peers, carries first signaling batches both ways, and stays connected for the tab's whole life
 * (30 s heartbeat, jittered reconnect) so any tab can introduce a newcomer. It is the engine's
 * Bootstrap; after a tab's first peers, all signaling goes through the overlay.
 *
 * It also answers the engine's "is a tab with this id connected now?" (`isTab`, the server's
 * is-tab query), on a server that names the query among its features.
 *
 * It also keeps the ICE servers the server hands out (signal-server/ice.ts): the latest list is
 * what new connections use, and a TURN credential is renewed at 80% of its lifetime, so a tab
 * open for days always holds a valid one.
 *
 * Works with the browser's WebSocket and with `ws` in Node (tests and benches): both have the
 * `onopen`/`onmessage`/`onclose` properties and `send`/`close` used here.
 */
import type { SignalPayload, SignalReply } from '../../shared/lib/transport.ts';
import type { Clock, TimerHandle } from '../../shared/lib/clock.ts';
import type { CryptoOps, Identity } from '../../shared/lib/crypto.ts';
import { toBase64Url } from '../../shared/lib/encoding.ts';
import { ErrorCode, PeerchatError } from '../../shared/lib/errors.ts';
import { idToHex, isValidIdHex } from '../../shared/lib/id.ts';
import type { Bootstrap, BootstrapPeers } from '../../shared/dht/node.ts';
import { TokenBucket } from '../../shared/dht/budget.ts';
import type { Random } from '../../shared/lib/random.ts';
import {
  encodeSignalMessage,
  IS_TAB_FEATURE,
  parseServerMessage,
  signalAuthPayload,
  SignalClose,
  SIGNAL_PATH,
  type ClientMessage,
  type IceServerEntry,
  type ServerMessageOf,
} from '../../shared/signal/protocol.ts';
import type { Stats } from '../../shared/lib/stats.ts';

/** The part of the WebSocket API this client uses; the browser's and `ws`'s both have it. */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type SocketFactory = (url: string) => SocketLike;

export type SignalClientState = 'connecting' | 'ready' | 'offline' | 'replaced' | 'closed';

export interface SignalClientOptions {
  /** The app's origin (http(s)://host:port/); the socket goes to its /signal. */
  baseUrl: string;
  identity: Identity;
  ops: CryptoOps;
  clock: Clock;
  random: Random;
  stats: Stats;
  socket: SocketFactory;
  /** Signaling that another tab sent us through the server (the node answers it). */
  onSignal(from: string, payload: SignalPayload): Promise<SignalReply>;
  onState?(state: SignalClientState, detail: string): void;
  /** The server handed out new ICE servers (credentials included: pass them on, never show them). */
  onIce?(servers: IceServerEntry[]): void;
  heartbeatMs?: number;
  /** How long a request (peers, a relayed signal, is-tab) may wait for its answer. */
  requestTimeoutMs?: number;
}

const OPEN = 1;
const HEARTBEAT_MS = 30_000;
const REQUEST_TIMEOUT_MS = 10_000;
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 30_000;
/** A TURN credential is renewed this far into its lifetime, leaving a fifth for the answer. */
export const ICE_RENEW_FRACTION = 0.8;
/**
 * is-tab queries waiting for the server at once; beyond, isTab rejects BUSY at once, so a slow
 * or silent server cannot make them pile up.
 */
export const MAX_PENDING_IS_TAB = 64;
/**
 * is-tab queries a tab sends per second, and at once. The server closes a socket that sends
 * more than DEFAULT_LIMITS allows (20 frames a second, 40 at once, signals included), and a
 * name lookup asks about each holder that did not answer, several lookups at a time: past this
 * pace isTab rejects BUSY (the engine then judges as without the query) and the socket stays.
 */
export const IS_TAB_PER_SECOND = 5;
export const IS_TAB_BURST = 16;

interface Pending<T> {
  resolve(value: T): void;
  reject(err: PeerchatError): void;
  timer: TimerHandle;
}

/** An is-tab query: the answer must name the id asked about. */
interface IsTabPending extends Pending<boolean> {
  id: string;
}

export class SignalClient implements Bootstrap {
  private socket: SocketLike | null = null;
  private state: SignalClientState = 'offline';
  private readonly selfHex: string;
  private attempt = 0;
  private reconnectTimer: TimerHandle | null = null;
  private heartbeatTimer: TimerHandle | null = null;
  private pongDue = false;
  /** One counter for signals and is-tab queries: an error's rid then names one request. */
  private nextRid = 1;
  /** `peers` replies carry no request id: the server answers in order. */
  private readonly peerWaiters: Pending<BootstrapPeers>[] = [];
  private readonly signalWaiters = new Map<string, Pending<SignalReply>>();
  private readonly isTabWaiters = new Map<number, IsTabPending>();
  private isTabPace: TokenBucket | null = null;
  /** What the current socket's server named in its `features` frame (nothing: an older one). */
  private features: ReadonlySet<string> = new Set();
  private readyWaiters: (() => void)[] = [];
  private ice: IceServerEntry[] = [];
  /** The current socket brought an `ice` frame (the server sends it before the welcome). */
  private iceOnThisSocket = false;
  private iceRenewTimer: TimerHandle | null = null;

  constructor(private readonly o: SignalClientOptions) {
    this.selfHex = idToHex(o.identity.nodeId);
  }

  get current(): SignalClientState {
    return this.state;
  }

  /** The ICE servers new connections should use: the server's latest, empty without any. */
  iceServers(): IceServerEntry[] {
    return this.ice.map((server) => ({ ...server, urls: [...server.urls] }));
  }

  /** Opens the socket; reconnects by itself until close(). */
  start(): void {
    if (this.state === 'closed' || this.socket) return;
    this.connect();
  }

  close(): void {
    if (this.state === 'closed') return;
    this.setState('closed', 'closed by the tab');
    this.clearTimers();
    // Browsers let a page close with 1000 or 3000-4999 only (1001 throws).
    this.socket?.close(1000, 'tab leaving');
    this.socket = null;
    this.failAll(new PeerchatError(ErrorCode.Closed, 'Signal client closed'));
  }

  /** Resolves once the server has welcomed us, or rejects after the request timeout. */
  ready(timeoutMs = this.o.requestTimeoutMs ?? REQUEST_TIMEOUT_MS): Promise<void> {
    if (this.state === 'ready') return Promise.resolve();
    if (this.state === 'closed' || this.state === 'replaced') return Promise.reject(this.notReady());
    return new Promise((resolve, reject) => {
      const timer = this.o.clock.setTimeout(() => {
        this.readyWaiters = this.readyWaiters.filter((w) => w !== done);
        reject(new PeerchatError(ErrorCode.Timeout, 'The signal server did not welcome us in time'));
      }, timeoutMs);
      const done = () => {
        this.o.clock.clearTimeout(timer);
        resolve();
      };
      this.readyWaiters.push(done);
    });
  }

  async peers(self: string, n: number): Promise<BootstrapPeers> {
    if (self !== this.selfHex) throw new PeerchatError(ErrorCode.BadRequest, 'This client speaks for one node only');
    await this.ready();
    this.assertReady();
    return new Promise((resolve, reject) => {
      const waiter: Pending<BootstrapPeers> = {
        resolve,
        reject,
        timer: this.o.clock.setTimeout(() => {
          const i = this.peerWaiters.indexOf(waiter);
          if (i >= 0) this.peerWaiters.splice(i, 1);
          reject(new PeerchatError(ErrorCode.Timeout, 'The signal server did not send peers in time'));
        }, this.o.requestTimeoutMs ?? REQUEST_TIMEOUT_MS),
      };
      this.peerWaiters.push(waiter);
      this.send({ type: 'peers', n: Math.min(8, Math.max(1, n)) });
    });
  }

  async exchange(from: string, to: string, payload: SignalPayload): Promise<SignalReply> {
    if (from !== this.selfHex) throw new PeerchatError(ErrorCode.BadRequest, 'This client speaks for one node only');
    await this.ready();
    this.assertReady();
    const rid = this.nextRid++ >>> 0;
    const key = `${to}:${rid}`;
    return new Promise((resolve, reject) => {
      this.signalWaiters.set(key, {
        resolve,
        reject,
        timer: this.o.clock.setTimeout(() => {
          this.signalWaiters.delete(key);
          reject(new PeerchatError(ErrorCode.Timeout, `No signal reply from ${to.slice(0, 8)} in time`));
        }, this.o.requestTimeoutMs ?? REQUEST_TIMEOUT_MS),
      });
      this.send({ type: 'signal', to, rid, payload });
    });
  }

  /**
   * Whether a tab with `id` is connected to the service now, as the server's backend says. Asks
   * only a connected server that names the query (an older one would close the socket on it),
   * and rejects rather than guess: not connected, no such query, too many pending, a server that
   * cannot say (BUSY), or no answer within the request timeout.
   */
  async isTab(id: string): Promise<boolean> {
    if (!isValidIdHex(id)) throw new PeerchatError(ErrorCode.BadRequest, 'isTab takes a node id: 40 lowercase hex digits');
    this.assertReady();
    if (!this.features.has(IS_TAB_FEATURE)) {
      throw new PeerchatError(ErrorCode.UnknownMethod, 'This signal server cannot say who is connected; it is older than the query');
    }
    if (this.isTabWaiters.size >= MAX_PENDING_IS_TAB) {
      this.o.stats.count('signal-is-tab-busy');
      throw new PeerchatError(ErrorCode.Busy, 'Too many is-tab queries waiting for the signal server; ask again later');
    }
    const now = this.o.clock.now();
    this.isTabPace ??= new TokenBucket(IS_TAB_PER_SECOND / 1_000, IS_TAB_BURST, now);
    if (!this.isTabPace.take(now)) {
      this.o.stats.count('signal-is-tab-paced');
      throw new PeerchatError(ErrorCode.Busy, 'is-tab queries are paced to stay within the signal server\'s rate limit; ask again later');
    }
    const rid = this.nextRid++ >>> 0;
    return new Promise((resolve, reject) => {
      this.isTabWaiters.set(rid, {
        id,
        resolve,
        reject,
        timer: this.o.clock.setTimeout(() => {
          this.isTabWaiters.delete(rid);
          reject(new PeerchatError(ErrorCode.Timeout, 'The signal server did not say in time whether that tab is connected'));
        }, this.o.requestTimeoutMs ?? REQUEST_TIMEOUT_MS),
      });
      this.send({ type: 'is-tab', id, rid });
    });
  }

  /** The state can change between ready() resolving and the code after its await. */
  private assertReady(): void {
    if (this.state !== 'ready') throw this.notReady();
  }

  /** Closed for good (closed, replaced), or only for now (connecting, offline). */
  private notReady(): PeerchatError {
    const gone = this.state === 'closed' || this.state === 'replaced';
    return new PeerchatError(gone ? ErrorCode.Closed : ErrorCode.ChannelClosed, `Signal server: ${this.state}`);
  }

  private connect(): void {
    this.setState('connecting', `attempt ${this.attempt + 1}`);
    const url = new URL(SIGNAL_PATH, this.o.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    let socket: SocketLike;
    try {
      socket = this.o.socket(url.toString());
    } catch (err) {
      this.o.stats.count('signal-connect-failed');
      return this.scheduleReconnect(String(err));
    }
    this.socket = socket;
    this.iceOnThisSocket = false;
    this.features = new Set();
    socket.onmessage = (ev) => void this.onMessage(socket, ev.data);
    socket.onclose = (ev) => this.onClose(socket, ev.code, ev.reason);
    socket.onerror = () => this.o.stats.count('signal-socket-error');
  }

  private async onMessage(socket: SocketLike, data: unknown): Promise<void> {
    if (socket !== this.socket) return;
    const parsed = parseServerMessage(data);
    if (!parsed.ok) {
      this.o.stats.count(`signal-drop-${parsed.reason}`);
      return;
    }
    const m = parsed.message;
    switch (m.type) {
      case 'challenge':
        return this.answerChallenge(socket, m.nonce);
      case 'features':
        this.features = new Set(m.names);
        return;
      case 'welcome':
        // A server without ICE servers (or one that no longer has them) sends none: the old
        // list, credentials minted elsewhere included, is no longer good.
        if (!this.iceOnThisSocket && this.ice.length > 0) this.setIce({ type: 'ice', servers: [] });
        this.attempt = 0;
        this.setState('ready', 'welcomed');
        this.armHeartbeat();
        for (const w of this.readyWaiters.splice(0)) w();
        return;
      case 'peers':
        return this.settlePeers(m.ids, m.live);
      case 'signal':
        return this.answerSignal(m.from, m.rid, m.payload);
      case 'signal-reply':
        return this.settleSignal(`${m.from}:${m.rid}`, (w) => w.resolve(m.reply));
      case 'error':
        if (m.rid === undefined) return this.o.stats.count(`signal-error-${m.code}`);
        if (this.isTabWaiters.has(m.rid)) return this.settleIsTab(m.rid, (w) => w.reject(serverError(m)));
        return this.settleSignalError(m);
      case 'is-tab':
        return this.answeredIsTab(m);
      case 'pong':
        this.pongDue = false;
        return;
      case 'ice':
        this.iceOnThisSocket = true;
        return this.setIce(m);
    }
  }

  /** Keeps the list and, when it expires, asks for a new one before it does. */
  private setIce(m: ServerMessageOf<'ice'>): void {
    this.ice = m.servers;
    if (this.iceRenewTimer) this.o.clock.clearTimeout(this.iceRenewTimer);
    this.iceRenewTimer = null;
    if (m.ttlS !== undefined) {
      this.iceRenewTimer = this.o.clock.setTimeout(() => this.renewIce(), m.ttlS * 1000 * ICE_RENEW_FRACTION);
    }
    this.o.onIce?.(this.iceServers());
  }

  /** Offline, there is nobody to ask: the next welcome comes with fresh credentials anyway. */
  private renewIce(): void {
    this.iceRenewTimer = null;
    if (this.state !== 'ready') return;
    this.o.stats.count('signal-ice-renew');
    this.send({ type: 'ice' });
  }

  private async answerChallenge(socket: SocketLike, nonce: string): Promise<void> {
    const { identity, ops } = this.o;
    const sig = await ops.sign(identity, signalAuthPayload(nonce));
    if (socket !== this.socket) return;
    this.send({ type: 'hello', key: toBase64Url(identity.signingPublic), n: identity.idNonce, id: this.selfHex, sig: toBase64Url(sig) });
  }

  private async answerSignal(from: string, rid: number, payload: SignalPayload): Promise<void> {
    let reply: SignalReply;
    try {
      reply = await this.o.onSignal(from, payload);
    } catch {
      this.o.stats.count('signal-answer-failed');
      reply = { busyMs: 5_000 };
    }
    this.send({ type: 'signal-reply', to: from, rid, reply });
  }

  private settlePeers(ids: string[], live: number | undefined): void {
    const waiter = this.peerWaiters.shift();
    if (!waiter) return this.o.stats.count('signal-drop-unasked-peers');
    this.o.clock.clearTimeout(waiter.timer);
    waiter.resolve({ ids: ids.filter((id) => id !== this.selfHex), ...(live === undefined ? {} : { live }) });
  }

  private settleSignal(key: string, settle: (w: Pending<SignalReply>) => void): void {
    const waiter = this.signalWaiters.get(key);
    if (!waiter) return this.o.stats.count('signal-drop-unmatched-reply');
    this.signalWaiters.delete(key);
    this.o.clock.clearTimeout(waiter.timer);
    settle(waiter);
  }

  /** Errors carry our rid but not the target: match the one pending signal with that rid. */
  private settleSignalError(m: ServerMessageOf<'error'>): void {
    for (const key of this.signalWaiters.keys()) {
      if (key.endsWith(`:${m.rid}`)) return this.settleSignal(key, (w) => w.reject(serverError(m)));
    }
    this.o.stats.count('signal-drop-unmatched-error');
  }

  /** An answer must be to a pending query and name the id asked; anything else is dropped. */
  private answeredIsTab(m: ServerMessageOf<'is-tab'>): void {
    const waiter = this.isTabWaiters.get(m.rid);
    if (!waiter) return this.o.stats.count('signal-drop-unasked-is-tab');
    if (waiter.id !== m.id) return this.o.stats.count('signal-drop-is-tab-mismatch');
    this.settleIsTab(m.rid, (w) => w.resolve(m.tab));
  }

  private settleIsTab(rid: number, settle: (w: IsTabPending) => void): void {
    const waiter = this.isTabWaiters.get(rid);
    if (!waiter) return;
    this.isTabWaiters.delete(rid);
    this.o.clock.clearTimeout(waiter.timer);
    settle(waiter);
  }

  private onClose(socket: SocketLike, code: number, reason: string): void {
    if (socket !== this.socket) return;
    this.socket = null;
    this.clearTimers();
    this.failAll(new PeerchatError(ErrorCode.ChannelClosed, `Signal server connection closed (${code}${reason ? `: ${reason}` : ''})`));
    if (this.state === 'closed') return;
    this.o.stats.count(`signal-closed-${code}`);
    // A newer socket with our id took over: another tab runs this identity, and fighting over
    // the slot would only make the two tabs knock each other off in turn.
    if (code === SignalClose.Replaced) return this.setState('replaced', 'this node id connected from elsewhere');
    this.scheduleReconnect(`closed with ${code}${reason ? ` (${reason})` : ''}`);
  }

  /** Exponential backoff with full jitter, so tabs cut off together do not return together. */
  private scheduleReconnect(why: string): void {
    this.setState('offline', why);
    const cap = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 16);
    const delay = RECONNECT_MIN_MS + this.o.random.float() * cap;
    this.reconnectTimer = this.o.clock.setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state !== 'closed') this.connect();
    }, delay);
  }

  /** An application-level ping each period; no pong by the next one means the socket is dead. */
  private armHeartbeat(): void {
    this.heartbeatTimer = this.o.clock.setTimeout(() => {
      this.heartbeatTimer = null;
      const socket = this.socket;
      if (!socket || this.state !== 'ready') return;
      if (this.pongDue) {
        this.o.stats.count('signal-heartbeat-missed');
        socket.close(SignalClose.Heartbeat, 'no pong');
        return this.onClose(socket, SignalClose.Heartbeat, 'no pong');
      }
      this.pongDue = true;
      this.send({ type: 'ping' });
      this.armHeartbeat();
    }, this.o.heartbeatMs ?? HEARTBEAT_MS);
  }

  private send(message: ClientMessage): void {
    const socket = this.socket;
    if (socket && socket.readyState === OPEN) socket.send(encodeSignalMessage(message));
  }

  private failAll(err: PeerchatError): void {
    const waiters: Pending<unknown>[] = [...this.peerWaiters.splice(0), ...this.signalWaiters.values(), ...this.isTabWaiters.values()];
    this.signalWaiters.clear();
    this.isTabWaiters.clear();
    for (const w of waiters) {
      this.o.clock.clearTimeout(w.timer);
      w.reject(err);
    }
  }

  private clearTimers(): void {
    if (this.reconnectTimer) this.o.clock.clearTimeout(this.reconnectTimer);
    if (this.heartbeatTimer) this.o.clock.clearTimeout(this.heartbeatTimer);
    if (this.iceRenewTimer) this.o.clock.clearTimeout(this.iceRenewTimer);
    this.reconnectTimer = this.heartbeatTimer = this.iceRenewTimer = null;
    this.pongDue = false;
  }

  private setState(state: SignalClientState, detail: string): void {
    if (this.state === 'closed' && state !== 'closed') return;
    this.state = state;
    this.o.onState?.(state, detail);
  }
}

/** A server error for one of our requests, with its code (the schema admits three). */
function serverError(m: ServerMessageOf<'error'>): PeerchatError {
  const code = m.code === ErrorCode.NotFound ? ErrorCode.NotFound : m.code === ErrorCode.Busy ? ErrorCode.Busy : ErrorCode.BadRequest;
  return new PeerchatError(code, `Signal server: ${m.msg ?? m.code}`);
}
