/**
 * Real signaling, for tests and benches that send signals through a signal server: what
 * simple-peer over libwebrtc (@roamhq/wrtc, the engine Chromium has) emitted for one data
 * channel on this machine, as JSON strings the way a tab's transport sends them. The server
 * relays only what passes signal-data.ts, so fake payloads no longer get through.
 */
import type { SignalPayload } from '../lib/transport.ts';

const crlf = (lines: string[]) => lines.map((line) => `${line}\r\n`).join('');

/** A tab's offer (trickle: no candidates in it yet), 0.6 KB. */
export const SAMPLE_OFFER = JSON.stringify({
  type: 'offer',
  sdp: crlf([
    'v=0',
    'o=- 4096724338763142688 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'a=extmap-allow-mixed',
    'a=msid-semantic: WMS',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
    'c=IN IP4 0.0.0.0',
    'a=ice-ufrag:sJfS',
    'a=ice-pwd:YX4YbWJnCx0qAM6MmIAiMnAj',
    'a=ice-options:trickle',
    'a=fingerprint:sha-256 FB:5C:15:FA:3D:A3:B9:79:A5:AC:70:CB:8E:A7:F5:1F:32:DF:25:AC:CE:E0:C3:C2:53:FE:E1:6B:DE:A5:1C:92',
    'a=setup:actpass',
    'a=mid:0',
    'a=sctp-port:5000',
    'a=max-message-size:262144',
  ]),
});

/** The peer's answer, with the candidate gathered before it was sent. */
export const SAMPLE_ANSWER = JSON.stringify({
  type: 'answer',
  sdp: crlf([
    'v=0',
    'o=- 729617656003344768 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'a=extmap-allow-mixed',
    'a=msid-semantic: WMS',
    'm=application 44986 UDP/DTLS/SCTP webrtc-datachannel',
    'c=IN IP6 fd00::2',
    'a=candidate:3077952869 1 udp 2122265343 fd00::2 44986 typ host generation 0 network-id 2',
    'a=ice-ufrag:Zyey',
    'a=ice-pwd:kV3Mvg5t9BscMhjMwLWClkZ5',
    'a=ice-options:trickle',
    'a=fingerprint:sha-256 59:2A:AF:C8:E0:AB:EF:B2:77:11:49:8B:69:6A:E4:E1:41:29:D4:C3:58:DC:EC:52:8F:EF:A9:90:58:2B:D6:72',
    'a=setup:active',
    'a=mid:0',
    'a=sctp-port:5000',
    'a=max-message-size:262144',
  ]),
});

/** Trickled candidates as simple-peer sends them. */
export const SAMPLE_CANDIDATES = [
  'candidate:3229573512 1 udp 2122194687 192.0.2.2 36142 typ host generation 0 ufrag sJfS network-id 1',
  'candidate:3077952869 1 udp 2122265343 fd00::2 60134 typ host generation 0 ufrag sJfS network-id 2',
].map((candidate) => JSON.stringify({ type: 'candidate', candidate: { candidate, sdpMLineIndex: 0, sdpMid: '0' } }));

/** A connection attempt's first batch, as an initiator sends it to the server. */
export function samplePayload(conn = 'c1'): SignalPayload {
  return { conn, data: [SAMPLE_OFFER, ...SAMPLE_CANDIDATES] };
}

/** The answerer's batch, as it comes back in a signal-reply. */
export function sampleReply(): { data: string[] } {
  return { data: [SAMPLE_ANSWER, SAMPLE_CANDIDATES[0]!] };
}
