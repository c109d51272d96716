import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SAMPLE_ANSWER, SAMPLE_CANDIDATES, SAMPLE_OFFER } from './test-signals.ts';
import { checkSignalBatch, MAX_CANDIDATE_CHARS, MAX_SDP_CHARS, parseSignalData } from './signal-data.ts';

const sdpOf = (signal: string) => (JSON.parse(signal) as { sdp: string }).sdp;
const offer = (sdp: string) => JSON.stringify({ type: 'offer', sdp });
const candidate = (line: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: 'candidate', candidate: { candidate: line, sdpMLineIndex: 0, sdpMid: '0', ...extra } });
const reason = (text: unknown) => {
  const parsed = parseSignalData(text);
  return parsed.ok ? 'ok' : parsed.reason;
};

/** Firefox's shape: the fingerprint at session level, ICE credentials in the media section. */
const FIREFOX_OFFER = offer(
  [
    'v=0',
    'o=mozilla...THIS_IS_SDPARTA-128.0 5361365123478392093 0 IN IP4 0.0.0.0',
    's=-',
    't=0 0',
    'a=fingerprint:sha-256 0F:8C:39:1B:7A:AE:4B:55:3E:0C:D2:92:61:73:39:16:F3:5A:7E:3A:14:D5:6C:89:0C:31:AA:93:6E:AF:01:55',
    'a=group:BUNDLE 0',
    'a=ice-options:trickle',
    'a=msid-semantic:WMS *',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
    'c=IN IP4 0.0.0.0',
    'a=sendrecv',
    'a=ice-pwd:8a1bd8f8d0a4f0a86e0b1a2b3c4d5e6f',
    'a=ice-ufrag:5e2b9c1d',
    'a=mid:0',
    'a=setup:actpass',
    'a=sctp-port:5000',
    'a=max-message-size:1073741823',
    '',
  ].join('\r\n'),
);

/** `sdp` with one more attribute line, `length` characters in all. */
const padded = (sdp: string, length: number) => `${sdp}a=x-padding:${'x'.repeat(length - sdp.length - 14)}\r\n`;

describe('signal data a tab sends', () => {
  it('accepts the offers, answers and candidates browsers and libwebrtc emit for a data channel', () => {
    for (const text of [SAMPLE_OFFER, SAMPLE_ANSWER, ...SAMPLE_CANDIDATES, FIREFOX_OFFER]) expect(reason(text), text).toBe('ok');
    for (const line of [
      'candidate:1840965416 1 udp 2113937151 4f9b5c3e-6c8a-4b8f-9c7e-2a7f5d1e3b4a.local 54321 typ host generation 0 ufrag abcd network-cost 999',
      'candidate:1 1 UDP 1686052863 203.0.113.5 55442 typ srflx raddr 0.0.0.0 rport 0',
      'candidate:2 1 TCP 2105524479 192.168.1.2 9 typ host tcptype active',
      'candidate:3 1 udp 41885439 198.51.100.7 3478 typ relay raddr 203.0.113.5 rport 55442 generation 0',
      '', // end of candidates
    ]) {
      expect(reason(candidate(line)), line).toBe('ok');
    }
    expect(reason(JSON.stringify({ type: 'candidate', candidate: { candidate: '', sdpMLineIndex: null, sdpMid: null } }))).toBe('ok');
    expect(padded(sdpOf(SAMPLE_OFFER), MAX_SDP_CHARS)).toHaveLength(MAX_SDP_CHARS);
    expect(reason(offer(padded(sdpOf(SAMPLE_OFFER), MAX_SDP_CHARS)))).toBe('ok');
  });

  it('refuses descriptions that are not a data channel\'s SDP', () => {
    const sdp = sdpOf(SAMPLE_OFFER);
    for (const bad of [
      'hello',
      sdp.replace('v=0', 'v=1'),
      sdp.replaceAll('\r\n', '\n'),
      sdp.replace(/a=fingerprint:[^\r]*\r\n/, ''),
      sdp.replace(/a=fingerprint:sha-256 [^\r]*/, 'a=fingerprint:sha-256 not-hex'),
      sdp.replace(/a=ice-pwd:[^\r]*\r\n/, ''),
      sdp.replace('m=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'm=audio 9 UDP/TLS/RTP/SAVPF 111'),
      `${sdp}m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n`,
      `${sdp}a=x:\u0007\r\n`,
      `${sdp}\r\nx\r\n`,
      padded(sdp, MAX_SDP_CHARS + 1),
    ]) {
      expect(reason(offer(bad)), bad.slice(-60)).toBe('bad-sdp');
    }
    expect(reason(JSON.stringify({ type: 'offer', sdp, extra: 1 }))).toBe('bad-sdp');
    expect(reason(JSON.stringify({ type: 'answer' }))).toBe('bad-sdp');
  });

  it('refuses candidates that are not ICE candidate lines', () => {
    const good = 'candidate:1 1 udp 2122194687 192.0.2.2 36142 typ host';
    for (const bad of [
      candidate('meet me at 5'),
      candidate(`a=${good}`),
      candidate(good.replace('typ host', 'typ chat')),
      candidate(`${good} ${'x'.repeat(MAX_CANDIDATE_CHARS)}`),
      candidate(`${good}\r\nsmuggled`),
      candidate(good, { sdpMLineIndex: -1 }),
      candidate(good, { sdpMLineIndex: 1.5 }),
      candidate(good, { sdpMid: 'm'.repeat(33) }),
      candidate(good, { usernameFragment: 'x' }),
      JSON.stringify({ type: 'candidate' }),
    ]) {
      expect(reason(bad), bad).toBe('bad-candidate');
    }
  });

  it('refuses what tabs never send: renegotiation, media requests, other JSON, non-strings', () => {
    for (const bad of [
      JSON.stringify({ type: 'renegotiate', renegotiate: true }),
      JSON.stringify({ type: 'transceiverRequest', transceiverRequest: { kind: 'video' } }),
      '{"type":"offer"',
      '[]',
      'null',
      '"offer"',
      42,
      null,
      'x'.repeat(20_000),
    ]) {
      expect(reason(bad), String(bad).slice(0, 40)).toBe('bad-signal');
    }
  });

  it('takes batches a tab sends: the offer one way, the answer the other, one description at most', () => {
    expect(checkSignalBatch([], 'offer')).toEqual({ ok: true, descriptions: 0 });
    expect(checkSignalBatch([SAMPLE_OFFER, ...SAMPLE_CANDIDATES], 'offer')).toEqual({ ok: true, descriptions: 1 });
    expect(checkSignalBatch([SAMPLE_ANSWER, ...SAMPLE_CANDIDATES], 'answer')).toEqual({ ok: true, descriptions: 1 });
    expect(checkSignalBatch(SAMPLE_CANDIDATES, 'answer')).toEqual({ ok: true, descriptions: 0 });
    expect(checkSignalBatch([SAMPLE_ANSWER], 'offer')).toEqual({ ok: false, reason: 'unexpected-sdp' });
    expect(checkSignalBatch([SAMPLE_OFFER], 'answer')).toEqual({ ok: false, reason: 'unexpected-sdp' });
    expect(checkSignalBatch([SAMPLE_OFFER, SAMPLE_OFFER], 'offer')).toEqual({ ok: false, reason: 'unexpected-sdp' });
    expect(checkSignalBatch([...SAMPLE_CANDIDATES, 'x'], 'offer')).toEqual({ ok: false, reason: 'bad-signal' });
  });

  it('never throws on random or mutated input', () => {
    const samples = [SAMPLE_OFFER, SAMPLE_ANSWER, ...SAMPLE_CANDIDATES];
    const mutated = fc.tuple(fc.constantFrom(...samples), fc.nat(), fc.string({ maxLength: 8 })).map(([s, at, insert]) => {
      const i = at % (s.length + 1);
      return s.slice(0, i) + insert + s.slice(i + insert.length);
    });
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), mutated), (text) => {
        const parsed = parseSignalData(text);
        expect(typeof parsed.ok).toBe('boolean');
      }),
      { numRuns: 2_000, seed: 15 },
    );
  });
});
