/**
 * The Transport seam: how the engine gets channels to other nodes. The browser implements it with
 * WebRTC (web/net/), the simulator and tests with `MemoryNetwork` below. Both follow one contract:
 * a connection is created, exchanges opaque signaling strings through whatever path its owner
 * chooses (signal server or routed SIGNAL), opens, carries string frames in order, and closes
 * exactly once, whichever side or cause ends it.
 */
import { ErrorCode, PeerchatError } from './errors.ts';
import type { Clock, TimerHandle } from './clock.ts';
import type { Random } from './random.ts';

/** Called as methods (`events.open()`): an owner can implement them on its prototype. */
/** Chromium's lifetime cap on RTCPeerConnection objects per renderer process. */
export const CONNECTION_LIFETIME_CAP = 500;

/** Largest frame a connection must carry intact: the DHT's frame limit is this. */
export const MAX_FRAME_BYTES = 64 * 1024;

/**
 * Most signals one exchange carries, and most characters they take as a JSON array: what both
 * signaling paths accept (a routed SIGNAL, dht/protocol-schemas.ts; a frame relayed by the
 * signal server, signal/protocol.ts). A host with many interfaces, or a loaded one, gathers more
 * ICE candidates than that before its first batch leaves: the rest wait for the next exchange.
 */
export const MAX_SIGNALS_PER_BATCH = 16;
export const MAX_SIGNAL_BATCH_CHARS = 12 * 1024;

/**
 * Takes from the front of `queue` the most signals that fit one batch, in order; always at
 * least one, so a queue never stalls (a single oversized signal is refused by the path instead).
 */
export function takeBatch(queue: string[]): string[] {
  let chars = 2;
  let n = 0;
  while (n < queue.length && n < MAX_SIGNALS_PER_BATCH) {
    chars += JSON.stringify(queue[n]).length + (n > 0 ? 1 : 0);
    if (n > 0 && chars > MAX_SIGNAL_BATCH_CHARS) break;
    n++;
  }
  return queue.splice(0, n);
}

/**
 * Why a connection ended when ICE ended it: one string for each cause, whichever transport saw
 * it, so the engine can count it (`iceCounter`) and back off from a peer ICE cannot reach.
 */
export const IceCloseReason = {
  /** ICE tried every candidate pair and none worked (RTCIceConnectionState 'failed'). */
  Failed: 'ice failed',
  /** ICE was still checking ICE_CHECK_TIMEOUT_MS after the connection was created. */
  CheckingTimedOut: 'ice checking timed out',
  /** An open connection stayed 'disconnected' past its grace period: the peer is gone. */
  Disconnected: 'ice disconnected',
} as const;

/**
 * A connection that has both descriptions but whose ICE has not connected this long after it
 * was created is given up on ('ice checking timed out'). Browsers take 30 s or more to call
 * such a check 'failed'; this is shorter than the DHT's connect timeout (15 s), so the cause
 * is named before the engine gives up on the attempt for its own reasons.
 */
export const ICE_CHECK_TIMEOUT_MS = 12_000;

/** The Stats counter for a close reason ICE caused, or null for any other reason. */
export function iceCounter(reason: string): string | null {
  switch (reason) {
    case IceCloseReason.Failed:
      return 'ice-failed';
    case IceCloseReason.CheckingTimedOut:
      return 'ice-checking-timeout';
    case IceCloseReason.Disconnected:
      return 'ice-disconnected';
    default:
      return null;
  }
}

/**
 * Why a connection ended when its DTLS identity did not hold. HELLO signs the fingerprints read
 * from the SDPs, so those must be the certificates the connection really uses: a relay of the
 * signaling that could make them differ could sit in the middle of two proven HELLOs.
 */
export const DtlsCloseReason = {
  /** The description did not carry exactly one fingerprint, in its one media section. */
  BadFingerprint: 'description without exactly one media-level DTLS fingerprint',
  /** After connecting, the peer's certificate was not the one its description named. */
  CertificateMismatch: 'dtls certificate does not match the signaled fingerprint',
} as const;

/** The Stats counter for any close reason the engine counts (ICE and DTLS causes), or null. */
export function closeCounter(reason: string): string | null {
  if (reason === DtlsCloseReason.BadFingerprint) return 'dtls-bad-fingerprint';
  if (reason === DtlsCloseReason.CertificateMismatch) return 'dtls-certificate-mismatch';
  return iceCounter(reason);
}

/** Whether ICE found no path to the peer: a dial that ends so says nothing of the signaling path. */
export function isIceFailure(reason: string): boolean {
  return reason === IceCloseReason.Failed || reason === IceCloseReason.CheckingTimedOut;
}

/** A batch of signaling strings for one connection attempt, named by the initiator's tag. */
export interface SignalPayload {
  conn: string;
  data: string[];
}
export type SignalReply = { data: string[] } | { busyMs: number };
/** Carries the initiator's batch to the peer and brings back the peer's batch. */
export type SignalPath = (payload: SignalPayload) => Promise<SignalReply>;

export interface ConnectionEvents {
  /** Signaling data for the peer; the owner delivers it and feeds the peer's replies to signal(). */
  signal(data: string): void;
  open(): void;
  message(frame: string): void;
  /** Called once, however the connection ended (either side closed, setup failed, peer left). */
  close(reason: string): void;
}

export interface Connection {
  readonly initiator: boolean;
  /** Fingerprint of this end's certificate (from the local SDP); null until signaling is done. */
  localFingerprint(): string | null;
  /** Fingerprint the peer announced in its SDP; null until signaling is done. */
  remoteFingerprint(): string | null;
  /** Feeds signaling data received from the peer. Bad data closes the connection. */
  signal(data: string): void;
  /** Queues a frame; false when the connection is not open or its send queue is full. */
  send(frame: string): boolean;
  close(): void;
}

export interface Transport {
  /** Connections this endpoint has created in its lifetime (the browser caps it at 500). */
  readonly created: number;
  /** Creates a connection. Throws BUDGET_EXHAUSTED when the lifetime cap is reached. */
  create(initiator: boolean, events: ConnectionEvents): Connection;
  /** Closes every connection; the transport cannot be used afterwards. */
  close(): void;
}

export interface MemoryNetworkOptions {
  clock: Clock;
  random: Random;
  /** One-way latency of one frame between two endpoints, in ms. Default 0. */
  latencyMs?: (from: string, to: string) => number;
  /** Time from the answer reaching the initiator to both ends being open (ICE + DTLS). */
  setupMs?: (from: string, to: string) => number;
  /** Probability that a frame is lost once and retransmitted (reliable channels never drop). */
  lossRate?: number;
  /** Extra delay a retransmitted frame takes. */
  retransmitMs?: number;
  /** Lifetime cap of connections per endpoint, as Chromium's per-process limit. */
  creationCap?: number;
  /** Sees every frame handed to a channel (the simulator counts traffic with it). */
  onFrame?: (from: string, to: string, frame: string) => void;
  /**
   * ICE candidates each side trickles after its offer or answer, about 150 characters each, as
   * a host with many interfaces gathers. Default 0: the simulator's connections signal once.
   */
  iceCandidates?: number;
  /**
   * How ICE ends between two endpoints (initiator, answerer): 'connects' (the default);
   * 'fails', both ends closing with 'ice failed' once setup would have opened them; or
   * 'stuck', both ends checking until ICE_CHECK_TIMEOUT_MS after each was created.
   */
  ice?: (from: string, to: string) => IceOutcome;
}

export type IceOutcome = 'connects' | 'fails' | 'stuck';

/**
 * An in-memory network of endpoints with a fake or real clock. It models what shapes a WebRTC
 * overlay: a lifetime creation cap per endpoint, setup time, per-link latency and ordered
 * delivery, and channels that die when either end leaves.
 */
export class MemoryNetwork {
  readonly options: Required<Omit<MemoryNetworkOptions, 'onFrame'>> & Pick<MemoryNetworkOptions, 'onFrame'>;
  private readonly offers = new Map<string, MemoryConnection>();
  private nextId = 0;
  framesSent = 0;

  constructor(options: MemoryNetworkOptions) {
    this.options = {
      latencyMs: () => 0,
      setupMs: () => 0,
      lossRate: 0,
      retransmitMs: 200,
      creationCap: CONNECTION_LIFETIME_CAP,
      iceCandidates: 0,
      ice: () => 'connects',
      ...options,
    };
  }

  /** A transport for one endpoint (one tab); `name` is used for latency lookups only. */
  endpoint(name: string): MemoryTransport {
    return new MemoryTransport(this, name);
  }

  /** @internal */
  newConnectionSerial(): number {
    return this.nextId++;
  }

  /** @internal */
  registerOffer(conn: MemoryConnection): void {
    this.offers.set(conn.id, conn);
  }

  /** @internal */
  takeOffer(id: string): MemoryConnection | undefined {
    const conn = this.offers.get(id);
    this.offers.delete(id);
    return conn;
  }

  /** @internal */
  forgetOffer(id: string): void {
    this.offers.delete(id);
  }
}

export class MemoryTransport implements Transport {
  created = 0;
  private closed = false;
  /** Connections not yet closed, oldest first: an array, half the size of a Set. */
  private readonly live: MemoryConnection[] = [];

  constructor(
    readonly network: MemoryNetwork,
    readonly name: string,
  ) {}

  create(initiator: boolean, events: ConnectionEvents): Connection {
    if (this.closed) throw new PeerchatError(ErrorCode.Closed, 'This transport was closed; create a new node.');
    if (this.created >= this.network.options.creationCap) {
      throw new PeerchatError(ErrorCode.BudgetExhausted, 'Cannot create so many PeerConnections');
    }
    this.created++;
    const conn = new MemoryConnection(this, initiator, events);
    this.live.push(conn);
    return conn;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const conn of [...this.live]) conn.close();
  }

  /**
   * The process behind this endpoint stops at once (a reload, a crash) and no close reaches its
   * peers: their ends stay open until their own checks find them dead.
   */
  vanish(): void {
    if (this.closed) return;
    this.closed = true;
    for (const conn of [...this.live]) conn.vanish();
  }

  /** A snapshot of the connections not yet closed, oldest first. */
  get connections(): ReadonlySet<Connection> {
    return new Set(this.live);
  }

  /**
   * ICE loses every open connection between this endpoint and `other` while both stay up (a
   * network change, a NAT that forgot its mapping): each end closes with 'ice disconnected', as
   * WebRtcTransport does once 'disconnected' outlasts its grace period.
   */
  disconnectFrom(other: string): void {
    for (const conn of [...this.live]) conn.disconnectIfTo(other);
  }

  /** @internal A connection of this endpoint closed. */
  forget(conn: MemoryConnection): void {
    const at = this.live.indexOf(conn);
    if (at >= 0) this.live.splice(at, 1);
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

type State = 'new' | 'signaling' | 'connecting' | 'open' | 'closed';

class MemoryConnection implements Connection {
  /** Numbers this connection in its network; `id` is its name in signals, made on demand. */
  private readonly serial: number;
  private state: State = 'new';
  private peer: MemoryConnection | null = null;
  /** On an offerer: the connection that took its offer, so its answer can be checked. */
  private answerer: MemoryConnection | null = null;
  private lastArrival = 0;
  /** The next setup step (emitting the offer or answer, opening); cleared if this side closes. */
  private step: TimerHandle | null = null;
  private peerFingerprint: string | null = null;
  /** When it was created, for the ICE check deadline of a pair whose ICE is stuck. */
  private readonly createdAt: number;

  constructor(
    readonly owner: MemoryTransport,
    readonly initiator: boolean,
    private readonly events: ConnectionEvents,
  ) {
    const net = owner.network;
    this.serial = net.newConnectionSerial();
    this.createdAt = net.options.clock.now();
    if (initiator) {
      this.state = 'signaling';
      net.registerOffer(this);
      // Like simple-peer, the offer is emitted asynchronously.
      this.later(0, () => this.emitSignal('offer'));
    }
  }

  get id(): string {
    return `c${this.serial.toString(36)}`;
  }

  localFingerprint(): string | null {
    return this.peerFingerprint === null ? null : this.fingerprint();
  }

  remoteFingerprint(): string | null {
    return this.peerFingerprint;
  }

  signal(data: string): void {
    if (this.state === 'closed') return;
    let msg: { type?: unknown; conn?: unknown; fp?: unknown };
    try {
      msg = JSON.parse(data);
    } catch {
      return this.fail('bad signal');
    }
    if (typeof msg === 'object' && msg !== null && msg.type === 'candidate') return;
    if (typeof msg !== 'object' || msg === null || typeof msg.conn !== 'string' || typeof msg.fp !== 'string') {
      return this.fail('bad signal');
    }
    const net = this.owner.network;
    if (msg.type === 'offer' && !this.initiator && this.state === 'new') {
      const offerer = net.takeOffer(msg.conn);
      if (!offerer || offerer.state !== 'signaling') return this.fail('offer expired');
      this.peer = offerer;
      offerer.answerer = this;
      this.peerFingerprint = msg.fp;
      this.state = 'connecting';
      this.later(0, () => this.emitSignal('answer'));
    } else if (msg.type === 'answer' && this.initiator && this.state === 'signaling') {
      const answerer = this.answerer;
      if (!answerer || answerer.id !== msg.conn || answerer.state !== 'connecting') return this.fail('answer does not match');
      this.peer = answerer;
      this.peerFingerprint = msg.fp;
      this.state = 'connecting';
      const setup = Math.max(0, net.options.setupMs(this.owner.name, answerer.owner.name));
      const ice = net.options.ice(this.owner.name, answerer.owner.name);
      for (const end of [this, answerer]) {
        if (ice === 'connects') end.later(setup, () => end.opened());
        else if (ice === 'fails') end.later(setup, () => end.end(IceCloseReason.Failed, false));
        else end.later(Math.max(0, end.createdAt + ICE_CHECK_TIMEOUT_MS - net.options.clock.now()), () => end.end(IceCloseReason.CheckingTimedOut, false));
      }
    } else {
      this.fail('unexpected signal');
    }
  }

  send(frame: string): boolean {
    const peer = this.peer;
    if (this.state !== 'open' || !peer) return false;
    const net = this.owner.network;
    const o = net.options;
    net.framesSent++;
    o.onFrame?.(this.owner.name, peer.owner.name, frame);
    let delay = Math.max(0, o.latencyMs(this.owner.name, peer.owner.name));
    if (o.lossRate > 0 && o.random.float() < o.lossRate) delay += o.retransmitMs;
    // Reliable, ordered: a frame never overtakes the one before it.
    const now = o.clock.now();
    const arrival = Math.max(now + delay, this.lastArrival);
    this.lastArrival = arrival;
    // Unlike later(), delivery does not depend on this side staying open: frames already sent
    // still arrive if this side closes next, as RTCDataChannel.close() sends what is queued.
    o.clock.setTimeout(() => peer.deliver(frame), arrival - now);
    return true;
  }

  close(): void {
    this.end('closed locally', true);
  }

  /** @internal This side stops without telling the peer (MemoryTransport.vanish). */
  vanish(): void {
    this.end('closed locally', false);
  }

  /** @internal Closes both ends with 'ice disconnected' if this is an open connection to `other`. */
  disconnectIfTo(other: string): void {
    const peer = this.peer;
    if (this.state !== 'open' || !peer || peer.owner.name !== other) return;
    this.end(IceCloseReason.Disconnected, false);
    peer.end(IceCloseReason.Disconnected, false);
  }

  private deliver(frame: string): void {
    if (this.state === 'open') this.events.message(frame);
  }

  private opened(): void {
    if (this.state !== 'connecting') return;
    if (this.peer?.state === 'closed' || this.owner.isClosed) return this.fail('peer gone during setup');
    this.state = 'open';
    this.events.open();
  }

  private fail(reason: string): void {
    this.end(reason, true);
  }

  /** Ends this side; tells the peer after one link latency, as a real close travels. */
  private end(reason: string, notifyPeer: boolean): void {
    if (this.state === 'closed') return;
    const wasOpen = this.state;
    this.state = 'closed';
    const net = this.owner.network;
    net.forgetOffer(this.id);
    if (this.step) net.options.clock.clearTimeout(this.step);
    this.step = null;
    this.owner.forget(this);
    const peer = this.peer;
    if (notifyPeer && peer && wasOpen !== 'new') {
      const delay = Math.max(0, net.options.latencyMs(this.owner.name, peer.owner.name));
      const arrival = Math.max(net.options.clock.now() + delay, this.lastArrival);
      net.options.clock.setTimeout(() => peer.end('peer closed', false), arrival - net.options.clock.now());
    }
    this.events.close(reason);
  }

  /**
   * Schedules the next setup step. Setup is a chain (offer or answer out, then open), so one
   * handle is enough. It is cleared on close rather than left to find the connection closed:
   * a timer that runs moves a fake clock, and simulations must replay unchanged.
   */
  private later(ms: number, fn: () => void): void {
    const handle = this.owner.network.options.clock.setTimeout(() => {
      if (this.step === handle) this.step = null;
      fn();
    }, ms);
    this.step = handle;
  }

  /** Derived from the id rather than stored: one string fewer per connection. */
  private fingerprint(): string {
    return `fp:${this.id}`;
  }

  private emitSignal(type: 'offer' | 'answer'): void {
    if (this.state === 'closed') return;
    this.events.signal(JSON.stringify({ type, conn: this.id, fp: this.fingerprint() }));
    for (let i = 0; i < this.owner.network.options.iceCandidates; i++) {
      this.events.signal(JSON.stringify({ type: 'candidate', candidate: `candidate:${i} 1 udp 2122260223 10.${i >> 8}.${i & 255}.1 ${50_000 + i} typ host generation 0 ufrag abcd network-id ${i}`.padEnd(140, ' ') }));
    }
  }
}
