/**
 * The foundation's Transport contract, run against real WebRTC: simple-peer's Node build with
 * @roamhq/wrtc (MACHINE-NOTES verified it here), the same transport class a tab uses.
 */
import wrtc from '@roamhq/wrtc';
import Peer from 'simple-peer';
import { describe, expect, it } from 'vitest';
import { transportContract } from '../../shared/lib/transport-contract.ts';
import { parseSignal, sdpFingerprint, WebRtcTransport, type PeerConstructor } from './webrtc-transport.ts';

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
    expect(parseSignal('{"type":"offer","sdp":"v=0\\r\\n"}')?.type).toBe('offer');
    expect(parseSignal('{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMLineIndex":0,"sdpMid":"0"}}')?.type).toBe('candidate');
    for (const bad of ['{"renegotiate":true}', '{"type":"offer"}', '{"type":"offer","sdp":"hello"}', '{"type":"candidate","candidate":{"sdpMLineIndex":-1,"candidate":"x"}}', 'x'.repeat(20_000), '[]']) {
      expect(parseSignal(bad)).toBeNull();
    }
  });

  it('reads the DTLS fingerprint of an SDP, normalised', () => {
    expect(sdpFingerprint('v=0\r\na=fingerprint:SHA-256 ab:cd:EF\r\na=setup:actpass\r\n')).toBe('sha-256 AB:CD:EF');
    expect(sdpFingerprint('v=0\r\na=setup:actpass\r\n')).toBeNull();
  });
});
