/**
 * The Transport over real WebRTC data channels, through simple-peer. The peer constructor is
 * handed in, so the same class runs in a tab (simple-peer built for browsers, see
 * browser-peer.ts) and in Node (simple-peer + @roamhq/wrtc, in the contract test and benches).
 *
 * What the engine relies on and simple-peer does not give by itself:
 * - every signal, in and out, is a JSON string checked by the rules the signal server relays
 *   by: one it would refuse is never sent, and one that fails them is never given to simple-peer;
 * - each end learns both DTLS fingerprints from the SDPs, for HELLO to bind to, and opens only
 *   once the peer's handshake used the certificate its SDP named;
 * - close is reported exactly once, whichever side or cause ended the connection, and when ICE
 *   ended it the reason says how (IceCloseReason: failed, a check stuck, disconnected);
 * - send refuses instead of queueing without bound (MACHINE-NOTES: a deep queue stalls);
 * - creation is counted and capped, since Chromium's cap throws from inside simple-peer.
 */
import type SimplePeer from 'simple-peer';
import { systemClock, type Clock, type TimerHandle } from '../../shared/lib/clock.ts';
import { CONNECTION_LIFETIME_CAP, DtlsCloseReason, ICE_CHECK_TIMEOUT_MS, IceCloseReason } from '../../shared/lib/transport.ts';
import { ErrorCode, PeerchatError } from '../../shared/lib/errors.ts';
import type { Connection, ConnectionEvents, Transport } from '../../shared/lib/transport.ts';
import { parseSignalData, type SignalData } from '../../shared/signal/signal-data.ts';

export type PeerConstructor = new (opts?: SimplePeer.Options) => SimplePeer.Instance;

export interface WebRtcTransportOptions {
  Peer: PeerConstructor;
  /**
   * STUN/TURN servers; none is right on one machine and on most LANs. A function is asked for
   * each new connection, so credentials renewed meanwhile reach the next one (peer-node.ts).
   */
  iceServers?: RTCIceServer[] | (() => RTCIceServer[]);
  /** Node's WebRTC implementation (@roamhq/wrtc); browsers have their own. */
  wrtc?: SimplePeer.Options['wrtc'];
  /** Connections this endpoint may still create (the browser's 500 less those made before). */
  creationCap?: number;
  /** Counts every connection created, for the owner to persist (sessionStorage in a tab). */
  onCreated?: () => void;
  /** How long ICE may stay 'disconnected' before the connection is given up on. */
  disconnectGraceMs?: number;
  /** How long after creation ICE may still be checking (ICE_CHECK_TIMEOUT_MS). */
  iceCheckTimeoutMs?: number;
  /** The ICE timers' clock; tests hand in a FakeClock. */
  clock?: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
}

/** Why a connection whose own description the signaling rules refuse ends (never seen so far). */
export const UNSENDABLE_DESCRIPTION = 'local description not sendable';
/** ICE 'disconnected' that lasts this long means the peer is gone (a blip recovers sooner). */
export const DISCONNECT_GRACE_MS = 4_000;
/** Frames held for a connection that is not open yet; a peer sends one (HELLO) before it waits. */
const MAX_EARLY_FRAMES = 16;
/** send() refuses once this much is queued on the channel and not yet sent. */
export const MAX_BUFFERED_BYTES = 64 * 1024;

/**
 * The signals this transport accepts: a data channel's offer or answer and ICE candidates, by the
 * rules the signal server relays by (shared/signal/signal-data.ts); anything else (renegotiation,
 * media) closes the connection.
 */
export function parseSignal(text: string): SignalData | null {
  const parsed = parseSignalData(text);
  return parsed.ok ? parsed.signal : null;
}

/**
 * The DTLS fingerprint a description commits to, `sha-256 AB:CD:…` normalised; null unless the
 * SDP has exactly one media section and exactly one `a=fingerprint:` line in all.
 *
 * Not simply the first line: libwebrtc accepts a session-level fingerprint beside the
 * media-level one and checks the certificate against the media-level one. Reading the first
 * line would let whoever relays the signaling put the real peer's fingerprint at session level
 * for HELLO to bind to while the media-level line names the relay's own certificate: a man in
 * the middle of two valid HELLOs. A data channel's description has one media section and one
 * fingerprint, so two are refused. Where that one line sits does not matter: Chromium writes it
 * in the media section, Firefox at session level (which then applies to the one section).
 */
export function sdpFingerprint(sdp: string): string | null {
  const lines = sdp.split(/\r?\n/);
  const media = lines.flatMap((line, i) => (line.startsWith('m=') ? [i] : []));
  const fingerprints = lines.flatMap((line, i) => (line.startsWith('a=fingerprint:') ? [i] : []));
  if (media.length !== 1 || fingerprints.length !== 1) return null;
  const m = /^a=fingerprint:(\S+) ([0-9A-Fa-f:]+)\s*$/.exec(lines[fingerprints[0]!]!);
  return m ? `${m[1]!.toLowerCase()} ${m[2]!.toUpperCase()}` : null;
}

/**
 * The fingerprint of the certificate the peer really presented in the DTLS handshake, read from
 * getStats() (the transport's remoteCertificateId), in sdpFingerprint's form; null where the
 * implementation does not report it.
 */
export async function remoteCertificateFingerprint(pc: Pick<RTCPeerConnection, 'getStats'>): Promise<string | null> {
  const reports = new Map<string, Record<string, unknown>>();
  (await pc.getStats()).forEach((report: Record<string, unknown>) => reports.set(String(report['id']), report));
  const transport = [...reports.values()].find((r) => r['type'] === 'transport' && typeof r['remoteCertificateId'] === 'string');
  const certificate = transport ? reports.get(transport['remoteCertificateId'] as string) : undefined;
  const algorithm = certificate?.['fingerprintAlgorithm'];
  const fingerprint = certificate?.['fingerprint'];
  if (typeof algorithm !== 'string' || typeof fingerprint !== 'string') return null;
  return `${algorithm.toLowerCase()} ${fingerprint.toUpperCase()}`;
}

/** The ICE servers a connection created now gets; existing connections keep theirs. */
export function currentIceServers(options: Pick<WebRtcTransportOptions, 'iceServers'>): RTCIceServer[] {
  const servers = options.iceServers;
  return typeof servers === 'function' ? servers() : (servers ?? []);
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
  /** Frames that arrived before simple-peer said 'connect'. */
  private early: string[] | null = null;
  /** The latest RTCIceConnectionState simple-peer reported. */
  private ice = 'new';
  private disconnectTimer: TimerHandle | null = null;
  /** Ends a check still running ICE_CHECK_TIMEOUT_MS after creation; cleared once ICE connects. */
  private checkTimer: TimerHandle | null = null;
  private readonly disconnectGraceMs: number;
  private readonly clock: Pick<Clock, 'setTimeout' | 'clearTimeout'>;

  constructor(
    private readonly owner: WebRtcTransport,
    readonly initiator: boolean,
    private readonly events: ConnectionEvents,
    options: WebRtcTransportOptions,
  ) {
    this.disconnectGraceMs = options.disconnectGraceMs ?? DISCONNECT_GRACE_MS;
    this.clock = options.clock ?? systemClock;
    this.peer = new options.Peer({
      initiator,
      trickle: true,
      objectMode: true,
      config: { iceServers: currentIceServers(options) },
      ...(options.wrtc ? { wrtc: options.wrtc } : {}),
    });
    // simple-peer reports a refused RTCPeerConnection constructor by destroying itself later,
    // not by throwing: a peer without a connection object is one the browser refused.
    this.constructed = (this.peer as unknown as { _pc?: unknown })._pc !== undefined;
    if (this.constructed) this.checkTimer = this.clock.setTimeout(() => this.checkDeadline(), options.iceCheckTimeoutMs ?? ICE_CHECK_TIMEOUT_MS);
    this.peer.on('signal', (data: unknown) => this.onLocalSignal(data));
    this.peer.on('connect', () => void this.checkCertificateThenOpen());
    this.peer.on('data', (data: unknown) => {
      const frame = typeof data === 'string' ? data : new TextDecoder().decode(data as Uint8Array);
      if (this.state === 'open') return this.events.message(frame);
      // simple-peer says 'connect' only after its stats round trip, and the peer may already be
      // talking (its HELLO): hold a few frames for open() instead of losing them.
      if (this.state === 'signaling') {
        const early = (this.early ??= []);
        if (early.length < MAX_EARLY_FRAMES) early.push(frame);
        else this.end('too many frames before open');
      }
    });
    this.peer.on('iceStateChange', (state: string) => this.onIceState(state));
    this.peer.on('error', (err: Error & { code?: string }) =>
      this.end(err.code === 'ERR_ICE_CONNECTION_FAILURE' ? IceCloseReason.Failed : (err.code ?? err.message ?? 'error')),
    );
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
    if (!fingerprint) return this.end(DtlsCloseReason.BadFingerprint);
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

  /**
   * Opens once the certificate the peer used in the handshake is the one its description named
   * (HELLO is bound to that one). Frames that arrive meanwhile wait in `early`. Where the stats
   * do not report the certificate, the description check alone stands.
   */
  private async checkCertificateThenOpen(): Promise<void> {
    if (this.state !== 'signaling') return;
    const pc = (this.peer as unknown as { _pc?: RTCPeerConnection })._pc;
    const actual = pc ? await remoteCertificateFingerprint(pc).catch(() => null) : null;
    if (this.state !== 'signaling') return;
    if (actual !== null && actual !== this.remote) return this.end(DtlsCloseReason.CertificateMismatch);
    this.state = 'open';
    this.events.open();
    const early = this.early;
    this.early = null;
    for (const frame of early ?? []) if (this.state === 'open') this.events.message(frame);
  }

  close(): void {
    this.end('closed locally');
  }

  /**
   * ICE 'failed' ends the connection at once, under its own reason (simple-peer's error that
   * follows finds it closed). A peer whose tab died (crash, killed process, lost network) sends
   * no goodbye: ICE notices within seconds ('disconnected') but only calls it 'failed' much
   * later. A connection that stays disconnected for a grace period is given up on.
   */
  private onIceState(state: string): void {
    if (this.state === 'closed') return;
    this.ice = state;
    if (state === 'failed') return this.end(IceCloseReason.Failed);
    if (state === 'connected' || state === 'completed') this.clearTimer('checkTimer');
    if (state !== 'disconnected') return this.clearTimer('disconnectTimer');
    this.disconnectTimer ??= this.clock.setTimeout(() => this.end(IceCloseReason.Disconnected), this.disconnectGraceMs);
  }

  /**
   * ICE_CHECK_TIMEOUT_MS after creation: a connection with both descriptions whose ICE is still
   * new or checking will not connect in time. One still waiting for the peer's description is a
   * signaling matter the engine times out itself.
   */
  private checkDeadline(): void {
    this.checkTimer = null;
    if (this.state === 'signaling' && this.haveRemote && (this.ice === 'new' || this.ice === 'checking')) {
      this.end(IceCloseReason.CheckingTimedOut);
    }
  }

  private clearTimer(which: 'checkTimer' | 'disconnectTimer'): void {
    const timer = this[which];
    if (timer) this.clock.clearTimeout(timer);
    this[which] = null;
  }

  /**
   * What simple-peer emits goes out only if the server (and the peer) would take it: a
   * description that fails ends the connection, since it cannot work without one; any other
   * signal that fails (a candidate of a shape we do not know, a renegotiation) is left out.
   */
  private onLocalSignal(data: unknown): void {
    if (this.state === 'closed') return;
    const text = JSON.stringify(data);
    const parsed = parseSignalData(text);
    if (!parsed.ok) {
      if (parsed.reason === 'bad-sdp') this.end(UNSENDABLE_DESCRIPTION);
      return;
    }
    if (parsed.signal.type !== 'candidate') this.local = sdpFingerprint(parsed.signal.sdp);
    this.events.signal(text);
  }

  private end(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearTimer('disconnectTimer');
    this.clearTimer('checkTimer');
    this.owner.forget(this);
    this.peer.destroy();
    this.events.close(reason);
  }
}
