/**
 * The Transport over real WebRTC data channels, through simple-peer. The peer constructor is
 * handed in, so the same class runs in a tab (simple-peer's own browser bundle, see
 * browser-peer.ts) and in Node (simple-peer + @roamhq/wrtc, in the contract test and benches).
 *
 * What the engine relies on and simple-peer does not give by itself:
 * - every signal, in and out, is a JSON string checked here before simple-peer sees it;
 * - each end learns both DTLS fingerprints from the SDPs, for HELLO to bind to;
 * - close is reported exactly once, whichever side or cause ended the connection;
 * - send refuses instead of queueing without bound (MACHINE-NOTES: a deep queue stalls);
 * - creation is counted and capped, since Chromium's cap throws from inside simple-peer.
 */
import type SimplePeer from 'simple-peer';
import { CONNECTION_LIFETIME_CAP } from '../../shared/constants.ts';
import { ErrorCode, PeerchatError } from '../../shared/errors.ts';
import type { Connection, ConnectionEvents, Transport } from '../../shared/transport.ts';

export type PeerConstructor = new (opts?: SimplePeer.Options) => SimplePeer.Instance;

export interface WebRtcTransportOptions {
  Peer: PeerConstructor;
  /** STUN/TURN servers; none is right on one machine and on most LANs. */
  iceServers?: RTCIceServer[];
  /** Node's WebRTC implementation (@roamhq/wrtc); browsers have their own. */
  wrtc?: SimplePeer.Options['wrtc'];
  /** Connections this endpoint may still create (the browser's 500 less those made before). */
  creationCap?: number;
  /** Counts every connection created, for the owner to persist (sessionStorage in a tab). */
  onCreated?: () => void;
}

/** A signal is one SDP or one ICE candidate: far below this. */
export const MAX_SIGNAL_CHARS = 16 * 1024;
/** send() refuses once this much is queued on the channel and not yet sent. */
export const MAX_BUFFERED_BYTES = 64 * 1024;

type SignalData =
  | { type: 'offer' | 'answer'; sdp: string }
  | { type: 'candidate'; candidate: { candidate: string; sdpMLineIndex?: number | null; sdpMid?: string | null } };

/** The signals this transport accepts; anything else (renegotiation, media) closes the connection. */
export function parseSignal(text: string): SignalData | null {
  if (typeof text !== 'string' || text.length > MAX_SIGNAL_CHARS) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if ((v.type === 'offer' || v.type === 'answer') && typeof v.sdp === 'string' && v.sdp.startsWith('v=0')) {
    return { type: v.type, sdp: v.sdp };
  }
  if (v.type === 'candidate' && typeof v.candidate === 'object' && v.candidate !== null) {
    const c = v.candidate as Record<string, unknown>;
    if (typeof c.candidate !== 'string') return null;
    const index = c.sdpMLineIndex;
    const mid = c.sdpMid;
    if (index !== undefined && index !== null && !(Number.isInteger(index) && (index as number) >= 0 && (index as number) < 16)) return null;
    if (mid !== undefined && mid !== null && (typeof mid !== 'string' || mid.length > 32)) return null;
    return { type: 'candidate', candidate: { candidate: c.candidate, sdpMLineIndex: index as number | null, sdpMid: mid as string | null } };
  }
  return null;
}

/** `sha-256 AB:CD:…` from an SDP's first `a=fingerprint:` line, normalised; null without one. */
export function sdpFingerprint(sdp: string): string | null {
  const m = /^a=fingerprint:(\S+) ([0-9A-Fa-f:]+)\s*$/m.exec(sdp);
  return m ? `${m[1]!.toLowerCase()} ${m[2]!.toUpperCase()}` : null;
}

export class WebRtcTransport implements Transport {
  created = 0;
  private closed = false;
  private readonly live = new Set<WebRtcConnection>();

  constructor(private readonly options: WebRtcTransportOptions) {}

  create(initiator: boolean, events: ConnectionEvents): Connection {
    if (this.closed) throw new PeerchatError(ErrorCode.Closed, 'This transport was closed; create a new node.');
    const cap = this.options.creationCap ?? CONNECTION_LIFETIME_CAP;
    if (this.created >= cap) throw new PeerchatError(ErrorCode.BudgetExhausted, 'Cannot create so many PeerConnections');
    const conn = new WebRtcConnection(this, initiator, events, this.options);
    // Counted even when the browser refused it: its own count is what we mirror, and it is
    // better to stop one early than to trust a constructor that just threw.
    this.created++;
    this.options.onCreated?.();
    if (!conn.constructed) {
      conn.close();
      throw new PeerchatError(ErrorCode.BudgetExhausted, 'The browser refused a new RTCPeerConnection');
    }
    this.live.add(conn);
    return conn;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const conn of [...this.live]) conn.close();
  }

  get openConnections(): number {
    return this.live.size;
  }

  /** @internal */
  forget(conn: WebRtcConnection): void {
    this.live.delete(conn);
  }
}

class WebRtcConnection implements Connection {
  readonly constructed: boolean;
  private readonly peer: SimplePeer.Instance;
  private state: 'signaling' | 'open' | 'closed' = 'signaling';
  private local: string | null = null;
  private remote: string | null = null;
  /** The remote description has been given to simple-peer (candidates before it wait). */
  private haveRemote = false;

  constructor(
    private readonly owner: WebRtcTransport,
    readonly initiator: boolean,
    private readonly events: ConnectionEvents,
    options: WebRtcTransportOptions,
  ) {
    this.peer = new options.Peer({
      initiator,
      trickle: true,
      objectMode: true,
      config: { iceServers: options.iceServers ?? [] },
      ...(options.wrtc ? { wrtc: options.wrtc } : {}),
    });
    // simple-peer reports a refused RTCPeerConnection constructor by destroying itself later,
    // not by throwing: a peer without a connection object is one the browser refused.
    this.constructed = (this.peer as unknown as { _pc?: unknown })._pc !== undefined;
    this.peer.on('signal', (data: unknown) => this.onLocalSignal(data));
    this.peer.on('connect', () => {
      if (this.state !== 'signaling') return;
      this.state = 'open';
      this.events.open();
    });
    this.peer.on('data', (data: unknown) => {
      if (this.state !== 'open') return;
      this.events.message(typeof data === 'string' ? data : new TextDecoder().decode(data as Uint8Array));
    });
    this.peer.on('error', (err: Error & { code?: string }) => this.end(err.code ?? err.message ?? 'error'));
    this.peer.on('close', () => this.end('peer closed'));
  }

  localFingerprint(): string | null {
    return this.remote === null ? null : this.local;
  }

  remoteFingerprint(): string | null {
    return this.local === null ? null : this.remote;
  }

  signal(text: string): void {
    if (this.state === 'closed') return;
    const data = parseSignal(text);
    if (!data) return this.end('bad signal');
    if (data.type === 'candidate') {
      try {
        this.peer.signal(data as SimplePeer.SignalData);
      } catch {
        this.end('bad signal');
      }
      return;
    }
    // An initiator takes one answer, an answerer one offer; anything else is a confused or hostile peer.
    if (this.haveRemote || (data.type === 'offer') === this.initiator) return this.end('unexpected description');
    const fingerprint = sdpFingerprint(data.sdp);
    if (!fingerprint) return this.end('description without a DTLS fingerprint');
    this.haveRemote = true;
    this.remote = fingerprint;
    try {
      this.peer.signal(data as SimplePeer.SignalData);
    } catch {
      this.end('bad signal');
    }
  }

  send(frame: string): boolean {
    if (this.state !== 'open') return false;
    if (this.peer.bufferSize >= MAX_BUFFERED_BYTES) return false;
    try {
      this.peer.send(frame);
      return true;
    } catch {
      this.end('send failed');
      return false;
    }
  }

  close(): void {
    this.end('closed locally');
  }

  private onLocalSignal(data: unknown): void {
    if (this.state === 'closed') return;
    const d = data as { type?: string; sdp?: string };
    if ((d.type === 'offer' || d.type === 'answer') && typeof d.sdp === 'string') this.local = sdpFingerprint(d.sdp);
    this.events.signal(JSON.stringify(data));
  }

  private end(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.owner.forget(this);
    this.peer.destroy();
    this.events.close(reason);
  }
}
