/**
 * One tab's socket as the hub sees it, from challenge to close; once the tab has proven its id,
 * it is also the LocalTab the backend delivers relays to. A class, not a closure per socket:
 * every field is a slot, and an idle tab costs the server only what it holds.
 */
import type { WebSocket } from 'ws';
import type { TokenBucket } from '../shared/dht/budget.ts';
import { encodeSignalMessage, SignalClose, type ServerMessage, type SignalErrorCode } from '../shared/signal/protocol.ts';
import type { DeliverResult, LocalTab } from './backend/backend.ts';

export type ConnState = 'challenged' | 'verifying' | 'ready' | 'closed';

/** What a Conn needs from the hub that owns it. */
export interface ConnOwner {
  /** A relay to a socket with more than this queued is refused as busy (a slow or stuck tab). */
  readonly maxBufferedBytes: number;
  /** Counts the reason (when there is one), closes the socket and forgets the tab. */
  drop(conn: Conn, reason: string | null, code: number, text: string): void;
}

export class Conn implements LocalTab {
  state: ConnState = 'challenged';
  /** The proven node id; '' until the hello checks out. */
  id = '';
  /** Answered the last heartbeat ping. */
  alive = true;
  handshakeTimer: ReturnType<typeof setTimeout> | undefined = undefined;

  constructor(
    private readonly owner: ConnOwner,
    readonly ws: WebSocket,
    readonly address: string,
    readonly nonce: string,
    readonly bucket: TokenBucket,
  ) {}

  send(message: ServerMessage): void {
    if (this.state !== 'closed') this.ws.send(encodeSignalMessage(message));
  }

  error(code: SignalErrorCode, rid: number, msg: string): void {
    this.send({ type: 'error', code, rid, msg });
  }

  deliver(frame: string): DeliverResult {
    if (this.state !== 'ready') return 'not-found';
    if (this.ws.bufferedAmount > this.owner.maxBufferedBytes) return 'busy';
    this.ws.send(frame);
    return 'delivered';
  }

  replaced(): void {
    this.owner.drop(this, 'replaced', SignalClose.Replaced, 'the same id connected again');
  }
}
