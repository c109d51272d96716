/**
 * The signal server's heart: one Conn per socket, moving from challenged to verifying to ready,
 * with the rate limits, the handshake and the frames. Who is online, the first-peers choice and
 * the relay's last leg belong to the backend (backend/), so the same hub runs on one process or
 * many. It stores nothing a signal carries: a relay is one send, and a reply finds its way back
 * by the `to` the replier names. It relays only signaling tabs really send (SDP offers and
 * answers of a data channel, ICE candidates: shared/signal/signal-data.ts), so the server
 * cannot be used as a free relay for anything else. The http/ws plumbing lives in server.ts.
 */
import type { WebSocket } from 'ws';
import { TokenBucket } from '../shared/dht/budget.ts';
import type { CryptoOps } from '../shared/lib/crypto.ts';
import { fromBase64Url, toBase64Url } from '../shared/lib/encoding.ts';
import { ErrorCode } from '../shared/lib/errors.ts';
import { idToHex, nodeIdFromSigningKey } from '../shared/lib/id.ts';
import type { Random } from '../shared/lib/random.ts';
import { exceedsUtf8Bytes } from '../shared/lib/wire.ts';
import {
  encodeSignalMessage,
  IS_TAB_FEATURE,
  MAX_SERVER_FRAME_BYTES,
  parseClientMessage,
  signalAuthPayload,
  SignalClose,
  SIGNAL_NONCE_BYTES,
  type ClientMessageOf,
  type ServerMessageOf,
} from '../shared/signal/protocol.ts';
import { checkSignalBatch, type SignalBatchCheck } from '../shared/signal/signal-data.ts';
import type { DeliverResult, SignalBackend } from './backend/backend.ts';
import { Conn, type ConnOwner } from './conn.ts';
import { iceFrameFor, type IceConfig } from './ice.ts';
import { AddressCounts, NewIdLimiter, type AddressRefusal, type Limits } from './limits.ts';

export interface HubOptions {
  limits: Limits;
  now(): number;
  random: Random;
  ops: CryptoOps;
  backend: SignalBackend;
  /** STUN and TURN servers for each authenticated tab; without, no `ice` frame is sent. */
  ice?: IceConfig;
}

export interface SignalStats {
  connections: number;
  authenticated: number;
  signalsRelayed: number;
  /** Relayed batches that carried an offer: connections signaled through this server. */
  offersRelayed: number;
  repliesRelayed: number;
  peersHandedOut: number;
  /** `is-tab` queries answered (a tab asking whether an id it was given is connected). */
  isTabQueries: number;
  /** TURN credentials minted (at welcome and on renewal). */
  turnCredentialsMinted: number;
  rejects: Record<string, number>;
  /**
   * Relays by what became of them: delivered, not-found, busy, too-large, backend-error, or
   * refused as not what tabs send (bad-signal, bad-sdp, bad-candidate, unexpected-sdp).
   */
  relays: Record<string, number>;
}

type Relayed = ServerMessageOf<'signal'> | ServerMessageOf<'signal-reply'>;

const NOT_CONNECTED = 'that node is not connected to this server';

export class Hub implements ConnOwner {
  readonly maxBufferedBytes: number;
  private readonly conns = new Set<Conn>();
  private readonly newIds: NewIdLimiter;
  private readonly addresses: AddressCounts;
  private readonly rejects = new Map<string, number>();
  private readonly relays = new Map<string, number>();
  private readonly backend: SignalBackend;
  private authenticated = 0;
  private signalsRelayed = 0;
  private offersRelayed = 0;
  private repliesRelayed = 0;
  private peersHandedOut = 0;
  private isTabQueries = 0;
  private iceMinted = 0;

  constructor(private readonly options: HubOptions) {
    this.newIds = new NewIdLimiter(options.limits.newIdsPerMinutePerAddress);
    this.addresses = new AddressCounts(options.limits);
    this.maxBufferedBytes = options.limits.maxBufferedBytes;
    this.backend = options.backend;
  }

  get size(): number {
    return this.conns.size;
  }

  /** Whether one more socket from `address` would pass the per-address caps (null: it would). */
  addressRefusal(address: string): AddressRefusal | null {
    return this.addresses.refusal(address);
  }

  reject(reason: string): void {
    this.rejects.set(reason, (this.rejects.get(reason) ?? 0) + 1);
  }

  stats(): SignalStats {
    return {
      connections: this.conns.size,
      authenticated: this.authenticated,
      signalsRelayed: this.signalsRelayed,
      offersRelayed: this.offersRelayed,
      repliesRelayed: this.repliesRelayed,
      peersHandedOut: this.peersHandedOut,
      isTabQueries: this.isTabQueries,
      turnCredentialsMinted: this.iceMinted,
      rejects: Object.fromEntries(this.rejects),
      relays: Object.fromEntries(this.relays),
    };
  }

  /** The tabs authenticated on this process. */
  connectedIds(): string[] {
    return [...this.conns].filter((conn) => conn.state === 'ready').map((conn) => conn.id);
  }

  accept(ws: WebSocket, address: string): void {
    const { limits, now, random } = this.options;
    const nonce = toBase64Url(random.bytes(SIGNAL_NONCE_BYTES));
    const conn = new Conn(this, ws, address, nonce, new TokenBucket(limits.messagesPerSecond / 1000, limits.messageBurst, now()));
    this.conns.add(conn);
    this.addresses.opened(address);
    conn.handshakeTimer = setTimeout(() => this.drop(conn, 'handshake-timeout', SignalClose.HandshakeTimeout, 'handshake timeout: send hello within the limit'), limits.handshakeTimeoutMs);
    ws.on('pong', () => (conn.alive = true));
    ws.on('message', (data, isBinary) => this.onMessage(conn, isBinary ? null : data.toString()));
    // ws reports a frame over maxPayload (and invalid UTF-8) here, then closes with 1009 / 1007.
    ws.on('error', (err: Error & { code?: string }) => this.reject(err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'too-large' : 'socket-error'));
    ws.on('close', () => this.forget(conn));
    conn.send({ type: 'challenge', nonce });
  }

  /** One heartbeat tick: terminate sockets that missed the last ping, ping the rest. */
  heartbeat(): void {
    for (const conn of this.conns) {
      if (!conn.alive) {
        this.reject('heartbeat');
        conn.ws.terminate();
        this.forget(conn);
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
    this.newIds.prune(this.options.now());
  }

  /** Closes every socket with 1001; those that have not finished the close after graceMs are cut. */
  async closeAll(graceMs: number): Promise<void> {
    const sockets = [...this.conns].map((conn) => conn.ws);
    for (const conn of [...this.conns]) this.drop(conn, null, SignalClose.GoingAway, 'server shutting down');
    const closed = sockets.map((ws) => new Promise<void>((done) => (ws.readyState === ws.CLOSED ? done() : ws.once('close', () => done()))));
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(closed), new Promise<void>((done) => (timer = setTimeout(done, graceMs)))]);
    clearTimeout(timer);
    for (const ws of sockets) ws.terminate();
  }

  /** Counts the reason (when there is one), closes the socket and forgets the tab. */
  drop(conn: Conn, reason: string | null, code: number, text: string): void {
    if (conn.state === 'closed') return;
    if (reason !== null) this.reject(reason);
    this.forget(conn);
    conn.ws.close(code, text);
  }

  private onMessage(conn: Conn, text: string | null): void {
    if (conn.state === 'closed') return;
    if (!conn.bucket.take(this.options.now())) return this.drop(conn, 'rate-limit', SignalClose.RateLimit, 'rate limit');
    const parsed = parseClientMessage(text ?? undefined);
    if (!parsed.ok) return this.drop(conn, parsed.reason, SignalClose.BadMessage, parsed.reason);
    const message = parsed.message;
    if (message.type === 'hello') {
      if (conn.state !== 'challenged') return this.drop(conn, 'unexpected-hello', SignalClose.BadMessage, 'hello sent twice');
      void this.onHello(conn, message);
      return;
    }
    if (conn.state !== 'ready') return this.drop(conn, 'not-authenticated', SignalClose.NotAuthenticated, 'wait for welcome');
    switch (message.type) {
      case 'peers':
        return void this.handOut(conn, message.n);
      case 'signal':
        return void this.relay(conn, { type: 'signal', from: conn.id, to: message.to, rid: message.rid, payload: message.payload });
      case 'signal-reply':
        return void this.relay(conn, { type: 'signal-reply', from: conn.id, to: message.to, rid: message.rid, reply: message.reply });
      case 'ping':
        return conn.send({ type: 'pong' });
      case 'ice':
        return void this.sendIce(conn);
      case 'is-tab':
        return void this.answerIsTab(conn, message.id, message.rid);
    }
  }

  private async onHello(conn: Conn, hello: ClientMessageOf<'hello'>): Promise<void> {
    const key = fromBase64Url(hello.key)!; // the schema admitted exactly 32 canonical bytes
    const sig = fromBase64Url(hello.sig)!;
    const id = nodeIdFromSigningKey(key, hello.n);
    if (!id) return this.drop(conn, 'bad-id-work', SignalClose.AuthFailed, 'the id nonce does not carry the network\'s work');
    if (idToHex(id) !== hello.id) {
      return this.drop(conn, 'bad-id', SignalClose.AuthFailed, 'id is not the hash of the key');
    }
    conn.state = 'verifying';
    const good = await this.options.ops.verify(key, sig, signalAuthPayload(conn.nonce));
    if (conn.state !== 'verifying') return; // closed while we checked
    if (!good) return this.drop(conn, 'bad-signature', SignalClose.AuthFailed, 'bad signature');
    if (!this.newIds.admit(conn.address, hello.id, this.options.now())) {
      return this.drop(conn, 'new-id-rate-limit', SignalClose.NewIdRateLimit, 'too many new ids from this address');
    }
    conn.id = hello.id;
    // Minted before the welcome and sent just ahead of it, so the tab's first connections
    // already have them.
    const ice = await this.mintIce(conn);
    if (conn.state !== 'verifying') return;
    try {
      await this.backend.register(conn); // an older tab with this id is dropped as replaced
    } catch {
      return this.backendFailed(conn);
    }
    // Closed while registering: forget() skipped the unregister, which must follow the register.
    if (conn.state !== 'verifying') return this.unregister(conn);
    clearTimeout(conn.handshakeTimer);
    conn.handshakeTimer = undefined; // frees the timer and its closure for the socket's idle life
    conn.state = 'ready';
    this.authenticated++;
    this.addresses.authenticated(conn.address);
    if (ice) conn.send(ice);
    conn.send({ type: 'features', names: [IS_TAB_FEATURE] });
    conn.send({ type: 'welcome' });
  }

  private async handOut(conn: Conn, n: number): Promise<void> {
    let ids: string[];
    let live: number;
    try {
      [ids, live] = await Promise.all([this.backend.pickPeers(conn.id, n), this.backend.live()]);
    } catch {
      return this.backendFailed(conn);
    }
    if (conn.state === 'closed') return;
    this.peersHandedOut += ids.length;
    conn.send({ type: 'peers', ids, live });
  }

  /**
   * A backend that cannot say answers BUSY, not false (a tab blames whoever named an id nobody
   * has), and unlike a failed `peers` keeps the socket: the tab still needs it for relays.
   */
  private async answerIsTab(conn: Conn, id: string, rid: number): Promise<void> {
    let tab: boolean;
    try {
      tab = id === conn.id || (await this.backend.isTab(id));
    } catch {
      return conn.error(ErrorCode.Busy, rid, 'the server cannot tell who is connected now; ask again later');
    }
    this.isTabQueries++;
    conn.send({ type: 'is-tab', rid, id, tab });
  }

  private async relay(from: Conn, message: Relayed): Promise<void> {
    const { to, rid } = message;
    if (to === from.id) return from.error(ErrorCode.NotFound, rid, NOT_CONNECTED);
    const check = relayedBatchCheck(message);
    if (!check.ok) {
      this.countRelay(check.reason);
      return from.error(ErrorCode.BadRequest, rid, `not WebRTC signaling a tab sends: ${check.reason}`);
    }
    const text = encodeSignalMessage(message);
    if (exceedsUtf8Bytes(text, MAX_SERVER_FRAME_BYTES)) {
      this.countRelay('too-large');
      return from.error(ErrorCode.BadRequest, rid, 'signal too large');
    }
    let result: DeliverResult;
    try {
      result = await this.backend.relay(to, text);
    } catch {
      this.countRelay('backend-error');
      return this.backendFailed(from);
    }
    this.countRelay(result);
    if (result === 'not-found') return from.error(ErrorCode.NotFound, rid, NOT_CONNECTED);
    if (result === 'busy') return from.error(ErrorCode.Busy, rid, 'that node is not reading; try another');
    if (message.type === 'signal') {
      this.signalsRelayed++;
      // A batch that opens a connection carries its offer: counting those counts the
      // connections signaled through this server.
      if (check.descriptions > 0) this.offersRelayed++;
    } else this.repliesRelayed++;
  }

  private countRelay(result: string): void {
    this.relays.set(result, (this.relays.get(result) ?? 0) + 1);
  }

  /** A renewal the tab asked for; an empty list when this server hands out none. */
  private async sendIce(conn: Conn): Promise<void> {
    const ice = await this.mintIce(conn);
    conn.send(ice ?? { type: 'ice', servers: [] });
  }

  private async mintIce(conn: Conn): Promise<ServerMessageOf<'ice'> | null> {
    const ice = await iceFrameFor(this.options.ice, conn.id, this.options.now());
    if (ice?.ttlS !== undefined) this.iceMinted++;
    return ice;
  }

  /** Without its backend the server cannot serve the tab; it reconnects, maybe elsewhere. */
  private backendFailed(conn: Conn): void {
    this.drop(conn, 'backend-error', SignalClose.GoingAway, 'the server lost its backend; reconnect');
  }

  private unregister(conn: Conn): void {
    this.backend.unregister(conn).catch(() => this.reject('backend-error'));
  }

  private forget(conn: Conn): void {
    const wasReady = conn.state === 'ready';
    conn.state = 'closed';
    if (this.conns.has(conn)) this.addresses.closed(conn.address, wasReady);
    clearTimeout(conn.handshakeTimer);
    this.conns.delete(conn);
    if (wasReady) {
      this.authenticated--;
      this.unregister(conn);
    }
  }
}

/** A signal's batch carries the initiator's offer, a reply's the answer; a busy reply has none. */
function relayedBatchCheck(message: Relayed): SignalBatchCheck {
  if (message.type === 'signal') return checkSignalBatch(message.payload.data, 'offer');
  return 'data' in message.reply ? checkSignalBatch(message.reply.data, 'answer') : { ok: true, descriptions: 0 };
}
