/**
 * The relay attack on HELLO's binding, with real WebRTC (simple-peer + @roamhq/wrtc): whoever
 * relays the signaling answers with its own connection, adding the real peer's fingerprint as a
 * session-level `a=fingerprint` before the media section, where its own certificate's stays.
 * libwebrtc checks the handshake against the media-level line and accepts the extra one, so the
 * connection opens to the relay; a transport that read the first line would bind HELLO to the
 * real peer and let the relay sit between two valid HELLOs. WebRtcTransport refuses it.
 */
import wrtc from '@roamhq/wrtc';
import { randomBytes } from 'node:crypto';
import Peer from 'simple-peer';
import { describe, expect, it } from 'vitest';
import { DtlsCloseReason } from '../../shared/lib/transport.ts';
import { remoteCertificateFingerprint, sdpFingerprint, WebRtcTransport, type PeerConstructor } from './webrtc-transport.ts';

type Signal = { type?: string; sdp?: string };
const WAIT_MS = 10_000;

/** A real peer's fingerprint, as the relay would have learned it from that peer's description. */
const victimFingerprint = `sha-256 ${[...randomBytes(32)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':')}`;

/** The description with `fingerprint` added at session level, before the first media section. */
function withSessionFingerprint(signal: Signal): Signal {
  if (!signal.sdp) return signal;
  return { ...signal, sdp: signal.sdp.replace(/\r\nm=/, `\r\na=fingerprint:${victimFingerprint}\r\nm=`) };
}

function rawPeer(initiator: boolean): Peer.Instance {
  return new Peer({ initiator, trickle: true, wrtc });
}

function until<T>(what: string, start: (done: (value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not happen within ${WAIT_MS} ms`)), WAIT_MS);
    start((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

describe('a signaling relay that swaps in its own certificate', () => {
  it('is accepted by libwebrtc itself: the tampered description opens a channel to the relay', async () => {
    const honest = rawPeer(true);
    const relay = rawPeer(false);
    honest.on('signal', (data: Signal) => relay.signal(data as Peer.SignalData));
    relay.on('signal', (data: Signal) => honest.signal(withSessionFingerprint(data) as Peer.SignalData));
    try {
      const text = await until<string>('data from the relay', (done) => {
        honest.on('data', (d: Uint8Array) => done(new TextDecoder().decode(d)));
        relay.on('connect', () => relay.send('from the relay, not the peer'));
      });
      expect(text).toBe('from the relay, not the peer');
    } finally {
      honest.destroy();
      relay.destroy();
    }
  });

  for (const initiator of [true, false]) {
    const side = initiator ? 'an initiator given a tampered answer' : 'an answerer given a tampered offer';
    it(`is refused by WebRtcTransport: ${side} closes, counted by reason, and never opens`, async () => {
      const transport = new WebRtcTransport({ Peer: Peer as unknown as PeerConstructor, wrtc });
      const relay = rawPeer(!initiator);
      let opened = false;
      try {
        const reason = await until<string>('the refusal', (done) => {
          const conn = transport.create(initiator, {
            signal: (data) => relay.signal(JSON.parse(data) as Peer.SignalData),
            open: () => (opened = true),
            message: () => {},
            close: done,
          });
          relay.on('signal', (data: Signal) => conn.signal(JSON.stringify(withSessionFingerprint(data))));
        });
        expect(reason).toBe(DtlsCloseReason.BadFingerprint);
        expect(opened).toBe(false);
      } finally {
        transport.close();
        relay.destroy();
      }
    });
  }

  it('reads the certificate the peer really used from getStats, equal to its description\'s fingerprint', async () => {
    const a = rawPeer(true);
    const b = rawPeer(false);
    let bDescription: string | null = null;
    a.on('signal', (data: Signal) => b.signal(data as Peer.SignalData));
    b.on('signal', (data: Signal) => {
      if (data.sdp) bDescription = sdpFingerprint(data.sdp);
      a.signal(data as Peer.SignalData);
    });
    try {
      await until<void>('a connection', (done) => a.on('connect', () => done()));
      const pc = (a as unknown as { _pc: RTCPeerConnection })._pc;
      expect(bDescription).toMatch(/^sha-256 [0-9A-F:]+$/);
      expect(await remoteCertificateFingerprint(pc)).toBe(bDescription);
    } finally {
      a.destroy();
      b.destroy();
    }
  });
});
