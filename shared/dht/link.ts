/**
 * One channel end, from its first signal until it closes. Once HELLO succeeds it is also the
 * Peer the node sees. The simulator holds tens of thousands of these in one process, so a link
 * is one object whose behaviour lives on the prototype: it is the transport's ConnectionEvents,
 * its RpcChannel's host and the Peer, where closures and wrapper objects would each cost bytes.
 * The protocol logic stays in Channels (the LinkOwner); a link only routes events to it.
 */
import type { Clock, TimerHandle } from '../lib/clock.ts';
import type { PeerchatError } from '../lib/errors.ts';
import type { NodeId } from '../lib/id.ts';
import type { ContactWire } from './contacts.ts';
import type { Frame, RequestFrame } from './protocol.ts';
import { RpcChannel, type Reply, type RpcHost } from './rpc.ts';
import { takeBatch, type Connection, type ConnectionEvents } from '../lib/transport.ts';

export interface Peer {
  readonly id: NodeId;
  readonly hex: string;
  readonly rpc: RpcChannel;
  readonly initiator: boolean;
  readonly openedAt: number;
  /** The key and id nonce HELLO proved: what answers name this peer by (contacts.ts). */
  readonly contact: ContactWire | null;
  close(): void;
}

/** Told once how a link's setup ended: with an authenticated peer, or why not. */
export type Settle = (err: PeerchatError | null, peer?: Peer) => void;

/** What a link hands its events to (Channels). */
export interface LinkOwner {
  readonly clock: Clock;
  /** The connection opened: send HELLO. */
  sendHello(link: Link): Promise<void>;
  onFrame(link: Link, text: string): void;
  /** `byUs`: this node closed the peer (it may want it again later), not the peer or the wire. */
  end(link: Link, reason: string, byUs?: boolean): void;
  onRequest(peer: Peer, request: RequestFrame, reply: Reply): void;
  onDrop(reason: string): void;
}

/** What a link needs only until it is ready. */
export class Setup {
  /** Wakes whoever waits for this link's signals or a change of state. */
  waiter: (() => void) | null = null;
  /** Gives up on the link after CONNECT_TIMEOUT_MS. */
  timer: TimerHandle | null = null;
  helloSent = false;
  helloOk = false;
  /** Frames that arrived while HELLO was being checked; null when there are none. */
  early: Frame[] | null = null;
  /**
   * The answerer's last signaling step: the batch it got (as JSON) and the signals it sent back.
   * A dialer whose reply was lost on the way (a slow or swallowed route) sends the same batch
   * again, maybe by another path; it gets the same reply, since the signals were taken.
   */
  lastStep: { batch: string; reply: Promise<string[]> } | null = null;

  /** `done` is cleared once called, which also releases whatever the dialer's callback holds. */
  constructor(
    public done: Settle | null,
    /** When the attempt began, for the connection setup time. */
    readonly startedAt: number,
  ) {}
}

export class Link implements Peer, ConnectionEvents, RpcHost {
  readonly rpc: RpcChannel;
  /** When HELLO succeeded both ways; 0 until then. */
  openedAt = 0;
  /** Set once the peer's HELLO proved its key and id nonce. */
  contact: ContactWire | null = null;
  conn: Connection | null = null;
  state: 'signaling' | 'hello' | 'ready' | 'closed' = 'signaling';
  /** Signals waiting to be carried to the peer; null when there are none. */
  private outbox: string[] | null = null;
  /** Until the link is ready; null after, which frees what only setup needed. */
  setup: Setup | null;

  constructor(
    readonly owner: LinkOwner,
    /** Creation order among the owner's links, which is the order close() ends them in. */
    readonly seq: number,
    /** Names this link in signaling: the initiator's tag, carried as SignalPayload.conn. */
    readonly tag: string,
    readonly hex: string,
    readonly id: NodeId,
    readonly initiator: boolean,
    setup: Setup,
  ) {
    this.setup = setup;
    this.rpc = new RpcChannel(this);
  }

  /** Key of a link in progress: the same tag may come from two peers. */
  get key(): string {
    return `${this.hex}:${this.tag}`;
  }

  /** Reports the outcome of setup once; an error also ends the link. */
  settle(err: PeerchatError | null, peer?: Peer): void {
    const setup = this.setup;
    const done = setup?.done;
    if (!setup || !done) return;
    setup.done = null;
    if (err) this.owner.end(this, err.message);
    done(err, peer);
  }

  get hasSignals(): boolean {
    return this.outbox !== null;
  }

  /** Takes the signals waiting for the peer, as many as one exchange carries (takeBatch). */
  takeSignals(): string[] {
    const queue = this.outbox;
    if (!queue) return [];
    const out = takeBatch(queue);
    if (queue.length === 0) this.outbox = null;
    return out;
  }

  /**
   * Ends the link. One method serves both callers: the transport says why the connection
   * closed, and a node closing a Peer gives no reason. Ending twice does nothing.
   */
  close(reason?: string): void {
    this.owner.end(this, reason ?? 'closed by us', reason === undefined);
  }

  // ---- ConnectionEvents (close is above) ---------------------------------------------------

  signal(data: string): void {
    (this.outbox ??= []).push(data);
    this.setup?.waiter?.();
  }

  open(): void {
    void this.owner.sendHello(this);
  }

  message(frame: string): void {
    this.owner.onFrame(this, frame);
  }

  // ---- RpcHost, once ready -----------------------------------------------------------------

  get clock(): Clock {
    return this.owner.clock;
  }

  send(frame: string): boolean {
    return this.conn!.send(frame);
  }

  onRequest(request: RequestFrame, reply: Reply): void {
    this.owner.onRequest(this, request, reply);
  }

  onDrop(reason: string): void {
    this.owner.onDrop(reason);
  }
}
