/**
 * The foundation's Transport contract, run against real WebRTC: simple-peer's Node build with
 * @roamhq/wrtc (MACHINE-NOTES verified it here), the same transport class a tab uses.
 */
import wrtc from '@roamhq/wrtc';
import Peer from 'simple-peer';
import { describe, expect, it } from 'vitest';
import { CONNECT_TIMEOUT_MS } from '../../shared/dht/constants.ts';
import { FakeClock } from '../../shared/lib/clock.ts';
import { transportContract } from '../../shared/lib/transport-contract.ts';
import { DtlsCloseReason, ICE_CHECK_TIMEOUT_MS } from '../../shared/lib/transport.ts';
import { checkSignalBatch } from '../../shared/signal/signal-data.ts';
import { SAMPLE_ANSWER, SAMPLE_CANDIDATES, SAMPLE_OFFER } from '../../shared/signal/test-signals.ts';
import { DISCONNECT_GRACE_MS, parseSignal, sdpFingerprint, UNSENDABLE_DESCRIPTION, WebRtcTransport, type PeerConstructor } from './webrtc-transport.ts';

const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 50));

function transport(creationCap?: number): WebRtcTransport {
  return new WebRtcTransport({ Peer: Peer as unknown as PeerConstructor, wrtc, ...(creationCap === undefined ? {} : { creationCap }) });
}

transportContract(
  'WebRTC (simple-peer + @roamhq/wrtc)',
  ({ creationCap }) => ({ a: transport(creationCap), b: transport(), settle }),
  {
    // 50 ms per settle: 10 s for a connection to open before a test fails.
    maxSettles: 200,
    signalKind: (data) => {
      const s = parseSignal(data);
      return s?.type === 'offer' || s?.type === 'answer' ? s.type : 'other';
    },
  },
);

describe('WebRTC signal checks', () => {
  it('accepts offers, answers and candidates and nothing else', () => {
    expect(parseSignal(SAMPLE_OFFER)?.type).toBe('offer');
    expect(parseSignal('{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMLineIndex":0,"sdpMid":"0"}}')?.type).toBe('candidate');
    for (const bad of ['{"renegotiate":true}', '{"type":"offer"}', '{"type":"offer","sdp":"hello"}', '{"type":"candidate","candidate":{"sdpMLineIndex":-1,"candidate":"x"}}', 'x'.repeat(20_000), '[]']) {
      expect(parseSignal(bad)).toBeNull();
    }
  });

  const M = 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n';
  it('reads the DTLS fingerprint of an SDP, normalised', () => {
    expect(sdpFingerprint(`v=0\r\n${M}a=fingerprint:SHA-256 ab:cd:EF\r\na=setup:actpass\r\n`)).toBe('sha-256 AB:CD:EF');
    expect(sdpFingerprint(`v=0\r\n${M}a=setup:actpass\r\n`)).toBeNull();
  });

  it('reads a lone session-level fingerprint, as Firefox writes it', () => {
    const firefox =
      'v=0\r\no=mozilla...THIS_IS_SDPARTA-133.0 1136776267802857567 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n' +
      'a=fingerprint:sha-256 10:BD:CA:0C:33:9A:E8:6D:C0:B9:56:69:3A:CF:BF:5C:65:27:0E:3E:44:D5:28:B2:90:E7:D8:AA:61:7F:28:21\r\n' +
      'a=group:BUNDLE 0\r\na=ice-options:trickle\r\na=msid-semantic:WMS *\r\n' +
      'm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=sendrecv\r\n' +
      'a=ice-pwd:7e340e733da38a1c9f055dd5961717f0\r\na=ice-ufrag:8fda67d3\r\na=mid:0\r\na=setup:actpass\r\n' +
      'a=sctp-port:5000\r\na=max-message-size:1073741823\r\n';
    expect(sdpFingerprint(firefox)).toBe(
      'sha-256 10:BD:CA:0C:33:9A:E8:6D:C0:B9:56:69:3A:CF:BF:5C:65:27:0E:3E:44:D5:28:B2:90:E7:D8:AA:61:7F:28:21',
    );
  });

  it('refuses an SDP whose fingerprint is doubled, or whose media sections are not one', () => {
    // Session-level beside the media-level one (the relay attack), two in the media section,
    // two at session level, two media sections, none.
    for (const sdp of [
      `v=0\r\na=fingerprint:sha-256 AA:BB\r\na=fingerprint:sha-256 CC:DD\r\n${M}a=setup:actpass\r\n`,
      `v=0\r\na=fingerprint:sha-256 AA:BB\r\n${M}a=fingerprint:sha-256 CC:DD\r\n`,
      `v=0\r\n${M}a=fingerprint:sha-256 AA:BB\r\na=fingerprint:sha-256 CC:DD\r\n`,
      `v=0\r\n${M}a=fingerprint:sha-256 AA:BB\r\n${M}a=fingerprint:sha-256 AA:BB\r\n`,
      `v=0\r\na=fingerprint:sha-256 AA:BB\r\n`,
    ]) {
      expect(sdpFingerprint(sdp), sdp).toBeNull();
    }
  });
});

/**
 * simple-peer as far as the transport's ICE handling sees it: events the test emits by hand.
 * Like simple-peer, destroy() with an error reports it and then 'close'.
 */
class FakePeer {
  /** What getStats reports as the certificate the peer used; none by default. */
  static certificate: { fingerprint: string; fingerprintAlgorithm: string } | null = null;
  readonly _pc = {
    getStats: async () => {
      const cert = FakePeer.certificate;
      const reports: Record<string, unknown>[] = [{ id: 'T', type: 'transport', ...(cert ? { remoteCertificateId: 'C' } : {}) }];
      if (cert) reports.push({ id: 'C', type: 'certificate', ...cert });
      return reports;
    },
  };
  bufferSize = 0;
  destroyed = false;
  private readonly handlers = new Map<string, ((...args: unknown[]) => void)[]>();
  on(event: string, fn: (...args: unknown[]) => void): this {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), fn]);
    return this;
  }
  emit(event: string, ...args: unknown[]): void {
    for (const fn of this.handlers.get(event) ?? []) fn(...args);
  }
  signal(): void {}
  send(): void {}
  destroy(): void {
    this.destroyed = true;
  }
  /** What simple-peer does when the RTCPeerConnection's ICE state becomes 'failed'. */
  iceFails(): void {
    this.emit('iceStateChange', 'failed', 'complete');
    this.emit('error', Object.assign(new Error('Ice connection failed.'), { code: 'ERR_ICE_CONNECTION_FAILURE' }));
    this.emit('close');
  }
}

const OFFER = SAMPLE_OFFER;

/**
 * One answerer connection over a FakePeer on a fake clock; `closes` collects its close reasons,
 * `sent` the signals it hands its owner to send.
 */
function fakeConnection(opened: string[] = []) {
  const clock = new FakeClock(0);
  let peer: FakePeer | null = null;
  const Fake = function () {
    peer = new FakePeer();
    return peer;
  } as unknown as PeerConstructor;
  const transport = new WebRtcTransport({ Peer: Fake, clock });
  const closes: string[] = [];
  const sent: string[] = [];
  const conn = transport.create(false, {
    signal: (data) => sent.push(data),
    open: () => opened.push('open'),
    message: (frame) => opened.push(frame),
    close: (reason) => closes.push(reason),
  });
  return { clock, peer: peer! as FakePeer, conn, closes, sent };
}

describe('WebRTC signals a tab sends', () => {
  it('sends only what the signal server relays: other signals are left out, a bad description ends the connection', () => {
    const { peer, closes, sent } = fakeConnection();
    const answer = JSON.parse(SAMPLE_ANSWER) as { type: 'answer'; sdp: string };
    const candidate = JSON.parse(SAMPLE_CANDIDATES[0]!) as unknown;
    peer.emit('signal', { type: 'renegotiate', renegotiate: true });
    peer.emit('signal', { type: 'transceiverRequest', transceiverRequest: { kind: 'audio' } });
    peer.emit('signal', { type: 'candidate', candidate: { candidate: 'not a candidate', sdpMLineIndex: 0, sdpMid: '0' } });
    peer.emit('signal', answer);
    peer.emit('signal', candidate);
    expect(sent).toEqual([SAMPLE_ANSWER, SAMPLE_CANDIDATES[0]]);
    for (const text of sent) expect(checkSignalBatch([text], 'answer').ok).toBe(true);
    expect(closes).toEqual([]);
    peer.emit('signal', { type: 'answer', sdp: answer.sdp.replace('m=application', 'm=video') });
    expect(closes).toEqual([UNSENDABLE_DESCRIPTION]);
    expect(sent).toHaveLength(2);
  });
});

describe('WebRTC ICE health', () => {
  it('closes once, with "ice failed", when ICE fails, however many ways simple-peer reports it', () => {
    const { peer, conn, closes } = fakeConnection();
    conn.signal(OFFER);
    peer.emit('iceStateChange', 'checking', 'gathering');
    peer.iceFails();
    expect(closes).toEqual(['ice failed']);
    expect(peer.destroyed).toBe(true);
  });

  it('names simple-peer\'s ICE failure error "ice failed" when no state change came first', () => {
    const { peer, closes } = fakeConnection();
    peer.emit('error', Object.assign(new Error('Ice connection failed.'), { code: 'ERR_ICE_CONNECTION_FAILURE' }));
    peer.emit('close');
    expect(closes).toEqual(['ice failed']);
  });

  it('gives up a check still running ICE_CHECK_TIMEOUT_MS after creation, before the DHT\'s connect timeout', () => {
    expect(ICE_CHECK_TIMEOUT_MS).toBeLessThan(CONNECT_TIMEOUT_MS);
    const { clock, peer, conn, closes } = fakeConnection();
    conn.signal(OFFER);
    peer.emit('iceStateChange', 'checking', 'complete');
    clock.advance(ICE_CHECK_TIMEOUT_MS - 1);
    expect(closes).toEqual([]);
    clock.advance(1);
    expect(closes).toEqual(['ice checking timed out']);
    clock.advance(60_000);
    peer.emit('close');
    expect(closes).toEqual(['ice checking timed out']);
  });

  it('leaves a connection still waiting for the peer\'s description to the engine\'s own timeout', () => {
    const { clock, closes } = fakeConnection();
    clock.advance(60_000);
    expect(closes).toEqual([]);
  });

  it('does not time out a check that connected', () => {
    const { clock, peer, conn, closes } = fakeConnection();
    conn.signal(OFFER);
    peer.emit('iceStateChange', 'checking', 'complete');
    peer.emit('iceStateChange', 'connected', 'complete');
    clock.advance(60_000);
    expect(closes).toEqual([]);
  });

  it('gives up a connection disconnected for DISCONNECT_GRACE_MS, but not one that recovers sooner', () => {
    const { clock, peer, conn, closes } = fakeConnection();
    conn.signal(OFFER);
    peer.emit('iceStateChange', 'connected', 'complete');
    peer.emit('connect');
    peer.emit('iceStateChange', 'disconnected', 'complete');
    clock.advance(DISCONNECT_GRACE_MS - 1);
    peer.emit('iceStateChange', 'connected', 'complete');
    clock.advance(60_000);
    expect(closes).toEqual([]);
    peer.emit('iceStateChange', 'disconnected', 'complete');
    clock.advance(DISCONNECT_GRACE_MS);
    expect(closes).toEqual(['ice disconnected']);
  });
});

describe('WebRTC certificate check after connect', () => {
  const settleMicrotasks = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

  it('opens, with the frames that came early, when the handshake used the described certificate', async () => {
    // The offer's fingerprint, as getStats writes it (lowercase hex, upper-case algorithm).
    const [algorithm, hex] = sdpFingerprint((JSON.parse(OFFER) as { sdp: string }).sdp)!.split(' ');
    FakePeer.certificate = { fingerprint: hex!.toLowerCase(), fingerprintAlgorithm: algorithm!.toUpperCase() };
    const events: string[] = [];
    const { peer, conn, closes } = fakeConnection(events);
    conn.signal(OFFER);
    peer.emit('data', 'HELLO');
    peer.emit('connect');
    await settleMicrotasks();
    expect(events).toEqual(['open', 'HELLO']);
    expect(closes).toEqual([]);
  });

  it('closes without opening when the certificate is not the one the description named', async () => {
    FakePeer.certificate = { fingerprint: 'EE:FF', fingerprintAlgorithm: 'sha-256' };
    const events: string[] = [];
    const { peer, conn, closes } = fakeConnection(events);
    conn.signal(OFFER);
    peer.emit('data', 'HELLO');
    peer.emit('connect');
    await settleMicrotasks();
    expect(closes).toEqual([DtlsCloseReason.CertificateMismatch]);
    expect(events).toEqual([]);
    expect(peer.destroyed).toBe(true);
  });

  it('relies on the description alone where the stats do not report the certificate', async () => {
    FakePeer.certificate = null;
    const events: string[] = [];
    const { peer, conn } = fakeConnection(events);
    conn.signal(OFFER);
    peer.emit('connect');
    await settleMicrotasks();
    expect(events).toEqual(['open']);
  });
});
