/**
 * The signal server's heart: one Conn per socket, moving from challenged to verifying to ready,
 * the directory of ready tabs by node id, the peers hand-out and the signal relay. It stores
 * nothing a signal carries: a relay is one send, and a reply finds its way back by the `to` the
 * replier names. The http/ws plumbing lives in server.ts.
 */
import type { WebSocket } from 'ws';
import { TokenBucket } from '../shared/dht/budget.ts';
import type { CryptoOps } from '../shared/lib/crypto.ts';
import { fromBase64Url, toBase64Url } from '../shared/lib/encoding.ts';
import { ErrorCode } from '../shared/lib/errors.ts';
import { idToHex, nodeIdFromSigningKey } from '../shared/lib/id.ts';
import type { Random } from '../shared/lib/random.ts';
import {
  encodeSignalMessage,
  MAX_SERVER_FRAME_BYTES,
  parseClientMessage,
  signalAuthPayload,
  SignalClose,
  SIGNAL_NONCE_BYTES,
  type ClientMessageOf,
  type ServerMessage,
  type SignalErrorCode,
} from '../shared/signal/protocol.ts';
import { NewIdLimiter, type Limits } from './limits.ts';
import { exceedsUtf8Bytes } from '../shared/lib/wire.ts';

export interface HubOptions {
  limits: Limits;
  now(): number;
  random: Random;
  ops: CryptoOps;
}

export interface SignalStats {
  connections: number;
  authenticated: number;
  signalsRelayed: number;
  /** Relayed batches that carried an offer: connections signaled through this server. */
  offersRelayed: number;
  repliesRelayed: number;
  peersHandedOut: number;
  rejects: Record<string, number>;
}

interface Conn {
  ws: WebSocket;
  address: string;
  nonce: string;
  state: 'challenged' | 'verifying' | 'ready' | 'closed';
  id: string;
  bucket: TokenBucket;
  /** Answered the last heartbeat ping. */
  alive: boolean;
  /** When this tab was last handed out, as a sequence number; 0 = never. */
  handedSeq: number;
  handshakeTimer: ReturnType<typeof setTimeout> | undefined;
}

export class Hub {
  private readonly conns = new Set<Conn>();
  private readonly ready = new Map<string, Conn>();
  private readonly newIds: NewIdLimiter;
  private readonly rejects = new Map<string, number>();
  private handSeq = 0;
  private signalsRelayed = 0;
  private offersRelayed = 0;
  private repliesRelayed = 0;
  private peersHandedOut = 0;

  constructor(private readonly options: HubOptions) {
    this.newIds = new NewIdLimiter(options.limits.newIdsPerMinutePerAddress);
  }

  get size(): number {
    return this.conns.size;
  }

  reject(reason: string): void {
    this.rejects.set(reason, (this.rejects.get(reason) ?? 0) + 1);
  }

  stats(): SignalStats {
    return {
      connections: this.conns.size,
      authenticated: this.ready.size,
      signalsRelayed: this.signalsRelayed,
      offersRelayed: this.offersRelayed,
      repliesRelayed: this.repliesRelayed,
      peersHandedOut: this.peersHandedOut,
      rejects: Object.fromEntries(this.rejects),
    };
  }

  connectedIds(): string[] {
    return [...this.ready.keys()];
  }

  accept(ws: WebSocket, address: string): void {
    const { limits, now, random } = this.options;
    const conn: Conn = {
      ws,
      address,
      nonce: toBase64Url(random.bytes(SIGNAL_NONCE_BYTES)),
      state: 'challenged',
      id: '',
      bucket: new TokenBucket(limits.messagesPerSecond / 1000, limits.messageBurst, now()),
      alive: true,
      handedSeq: 0,
      handshakeTimer: undefined,
    };
    this.conns.add(conn);
    conn.handshakeTimer = setTimeout(() => this.drop(conn, 'handshake-timeout', SignalClose.HandshakeTimeout, 'handshake timeout: send hello within the limit'), limits.handshakeTimeoutMs);
    ws.on('pong', () => (conn.alive = true));
    ws.on('message', (data, isBinary) => this.onMessage(conn, isBinary ? null : data.toString()));
    // ws reports a frame over maxPayload (and invalid UTF-8) here, then closes with 1009 / 1007.
    ws.on('error', (err: Error & { code?: string }) => this.reject(err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'too-large' : 'socket-error'));
    ws.on('close', () => this.forget(conn));
    this.send(conn, { type: 'challenge', nonce: conn.nonce });
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
        return this.send(conn, { type: 'peers', ids: this.handOut(conn, message.n) });
      case 'signal':
        return this.relay(conn, message.to, message.rid, { type: 'signal', from: conn.id, to: message.to, rid: message.rid, payload: message.payload });
      case 'signal-reply':
        return this.relay(conn, message.to, message.rid, { type: 'signal-reply', from: conn.id, to: message.to, rid: message.rid, reply: message.reply });
      case 'ping':
        return this.send(conn, { type: 'pong' });
    }
  }

  private async onHello(conn: Conn, hello: ClientMessageOf<'hello'>): Promise<void> {
    const key = fromBase64Url(hello.key)!; // the schema admitted exactly 32 canonical bytes
    const sig = fromBase64Url(hello.sig)!;
    if (idToHex(nodeIdFromSigningKey(key)) !== hello.id) {
      return this.drop(conn, 'bad-id', SignalClose.AuthFailed, 'id is not the hash of the key');
    }
    conn.state = 'verifying';
    const good = await this.options.ops.verify(key, sig, signalAuthPayload(conn.nonce));
    if (conn.state !== 'verifying') return; // closed while we checked
    if (!good) return this.drop(conn, 'bad-signature', SignalClose.AuthFailed, 'bad signature');
    if (!this.newIds.admit(conn.address, hello.id, this.options.now())) {
      return this.drop(conn, 'new-id-rate-limit', SignalClose.NewIdRateLimit, 'too many new ids from this address');
    }
    const previous = this.ready.get(hello.id);
    if (previous) this.drop(previous, 'replaced', SignalClose.Replaced, 'the same id connected again');
    clearTimeout(conn.handshakeTimer);
    conn.handshakeTimer = undefined; // frees the timer and its closure for the socket's idle life
    conn.state = 'ready';
    conn.id = hello.id;
    this.ready.set(conn.id, conn);
    this.send(conn, { type: 'welcome' });
  }

  /**
   * Up to n ready tabs other than `asker`, least recently handed out first. Ties (most often
   * "never handed out") go by scan order from a random start, so equal tabs share the load.
   */
  private handOut(asker: Conn, n: number): string[] {
    const all = [...this.ready.values()];
    const start = all.length === 0 ? 0 : this.options.random.int(all.length);
    const picked: Conn[] = [];
    for (let i = 0; i < all.length; i++) {
      const conn = all[(start + i) % all.length]!;
      if (conn === asker) continue;
      let at = picked.length;
      while (at > 0 && picked[at - 1]!.handedSeq > conn.handedSeq) at--;
      if (at < n) {
        picked.splice(at, 0, conn);
        if (picked.length > n) picked.pop();
      }
    }
    for (const conn of picked) conn.handedSeq = ++this.handSeq;
    this.peersHandedOut += picked.length;
    return picked.map((conn) => conn.id);
  }

  private relay(from: Conn, to: string, rid: number, message: ServerMessage): void {
    const target = this.ready.get(to);
    if (!target || target === from) return this.error(from, ErrorCode.NotFound, rid, 'that node is not connected to this server');
    if (target.ws.bufferedAmount > this.options.limits.maxBufferedBytes) {
      return this.error(from, ErrorCode.Busy, rid, 'that node is not reading; try another');
    }
    const text = encodeSignalMessage(message);
    if (exceedsUtf8Bytes(text, MAX_SERVER_FRAME_BYTES)) return this.error(from, ErrorCode.BadRequest, rid, 'signal too large');
    target.ws.send(text);
    if (message.type === 'signal') {
      this.signalsRelayed++;
      // A batch that opens a connection carries its offer: counting those counts the
      // connections signaled through this server (a substring test; SDPs are never parsed here).
      if (message.payload.data.some((d) => d.startsWith('{"type":"offer"'))) this.offersRelayed++;
    } else this.repliesRelayed++;
  }

  private error(conn: Conn, code: SignalErrorCode, rid: number, msg: string): void {
    this.send(conn, { type: 'error', code, rid, msg });
  }

  private send(conn: Conn, message: ServerMessage): void {
    if (conn.state !== 'closed') conn.ws.send(encodeSignalMessage(message));
  }

  /** Counts the reason (when there is one), closes the socket and forgets the tab. */
  private drop(conn: Conn, reason: string | null, code: number, text: string): void {
    if (conn.state === 'closed') return;
    if (reason !== null) this.reject(reason);
    this.forget(conn);
    conn.ws.close(code, text);
  }

  private forget(conn: Conn): void {
    conn.state = 'closed';
    clearTimeout(conn.handshakeTimer);
    this.conns.delete(conn);
    if (conn.id !== '' && this.ready.get(conn.id) === conn) this.ready.delete(conn.id);
  }
}
