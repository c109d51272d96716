/**
 * What a tab's WebRTC transport sends as signaling: simple-peer's signal data, one JSON string
 * per signal, in the `data` of a batch (lib/transport.ts SignalPayload). One check for both
 * ends: the signal server relays a tab's batch only when every string passes (hub.ts), and the
 * tab's transport checks what it sends and what it is sent against the same rules
 * (web/net/webrtc-transport.ts), so a tab never builds a batch the server would refuse.
 *
 * Only what tabs send: the offer or answer describing one data channel, and trickled ICE
 * candidates. simple-peer's other signals (renegotiate, transceiverRequest) exist for media,
 * which tabs never add, and a tab's transport refuses them. The description check is about
 * shape, not trust: whether the fingerprint is one the peer can be held to is the receiving
 * tab's own check (sdpFingerprint), since whoever relays could write any SDP.
 */
import * as v from 'valibot';
import { int, parseWith } from '../lib/wire.ts';

/**
 * Longest description: a data channel's is 0.5-1 KB (libwebrtc's offer 0.6 KB; an answer that
 * already lists its candidates ~100 bytes more each), so this leaves room for ~70 of them.
 */
export const MAX_SDP_CHARS = 8 * 1024;
/** Longest candidate line: real ones are ~100-180 characters (an mDNS name, IPv6, extensions). */
export const MAX_CANDIDATE_CHARS = 512;
/** Longest signal string: the largest description and the JSON around it. */
export const MAX_SIGNAL_DATA_CHARS = MAX_SDP_CHARS + 256;
const MAX_MID_CHARS = 32;
/** A data channel is one media section, so its candidates name index 0; room for a few. */
const MAX_MLINE_INDEX = 15;

/** An SDP line: one lowercase letter, '=', printable ASCII (RFC 8866). */
const SDP_LINE = /^[a-z]=[\x20-\x7e]*$/;
/** The one media section a WebRTC data channel has (RFC 8841). */
const DATA_CHANNEL_MEDIA = /^m=application \d{1,5} (?:UDP|TCP)\/DTLS\/SCTP webrtc-datachannel$/;
/**
 * An ICE candidate attribute (RFC 8839 5.1): foundation, component, transport, priority,
 * address (IP or mDNS name), port, type, then extension tokens (raddr, generation, ufrag...).
 */
const CANDIDATE =
  /^candidate:[A-Za-z0-9+/]{1,32} \d{1,3} (?:udp|tcp|UDP|TCP) \d{1,10} [!-~]{1,255} \d{1,5} typ (?:host|srflx|prflx|relay)(?: [!-~]+)*$/;
/** A certificate fingerprint (RFC 8122): a hash name and 16 to 64 hex bytes. */
const FINGERPRINT = /^a=fingerprint:[A-Za-z0-9-]{1,16} [0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){15,63}$/;
/** Lines every data-channel description has, wherever (session or media level) it puts them. */
const REQUIRED_PREFIXES = ['o=', 's=', 't=', 'a=ice-ufrag:', 'a=ice-pwd:', 'a=setup:'];

/** Whether `sdp` has the shape of a WebRTC data channel's description. */
export function isDataChannelSdp(sdp: string): boolean {
  if (sdp.length > MAX_SDP_CHARS || !sdp.startsWith('v=0\r\n')) return false;
  const lines = sdp.split('\r\n');
  if (lines.at(-1) === '') lines.pop();
  if (!lines.every((line) => SDP_LINE.test(line))) return false;
  const media = lines.filter((line) => line.startsWith('m='));
  if (media.length !== 1 || !DATA_CHANNEL_MEDIA.test(media[0]!)) return false;
  const fingerprints = lines.filter((line) => line.startsWith('a=fingerprint:'));
  if (fingerprints.length === 0 || !fingerprints.every((line) => FINGERPRINT.test(line))) return false;
  return REQUIRED_PREFIXES.every((prefix) => lines.some((line) => line.startsWith(prefix)));
}

/** A candidate line as a tab sends it; '' is the end-of-candidates marker some browsers send. */
export function isCandidateLine(line: string): boolean {
  return line === '' || (line.length <= MAX_CANDIDATE_CHARS && CANDIDATE.test(line));
}

const Description = v.strictObject({
  type: v.picklist(['offer', 'answer']),
  sdp: v.pipe(v.string(), v.check(isDataChannelSdp)),
});
const Candidate = v.strictObject({
  type: v.literal('candidate'),
  candidate: v.strictObject({
    candidate: v.pipe(v.string(), v.check(isCandidateLine)),
    sdpMLineIndex: v.optional(v.nullable(int(0, MAX_MLINE_INDEX))),
    sdpMid: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(MAX_MID_CHARS)))),
  }),
});

export type SignalData = v.InferOutput<typeof Description> | v.InferOutput<typeof Candidate>;
/** Why a signal string was refused: not a signal tabs send at all, or a bad description or candidate. */
export type SignalDataRefusal = 'bad-signal' | 'bad-sdp' | 'bad-candidate';
export type SignalDataParse = { ok: true; signal: SignalData } | { ok: false; reason: SignalDataRefusal };

/** One signal string, as a tab sends it. Size-checked before parsing; never throws. */
export function parseSignalData(text: unknown): SignalDataParse {
  if (typeof text !== 'string' || text.length > MAX_SIGNAL_DATA_CHARS) return { ok: false, reason: 'bad-signal' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'bad-signal' };
  }
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  if (type === 'offer' || type === 'answer') {
    const signal = parseWith(Description, value);
    return signal ? { ok: true, signal } : { ok: false, reason: 'bad-sdp' };
  }
  if (type === 'candidate') {
    const signal = parseWith(Candidate, value);
    return signal ? { ok: true, signal } : { ok: false, reason: 'bad-candidate' };
  }
  return { ok: false, reason: 'bad-signal' };
}

/** A batch's refusal: a bad signal in it, or a description a tab would not send there. */
export const SIGNAL_BATCH_REFUSALS = ['bad-signal', 'bad-sdp', 'bad-candidate', 'unexpected-sdp'] as const;
export type SignalBatchRefusal = (typeof SIGNAL_BATCH_REFUSALS)[number];
export type SignalBatchCheck = { ok: true; descriptions: number } | { ok: false; reason: SignalBatchRefusal };

/**
 * Checks a batch a tab sends: every string a signal, and at most one description, of the kind
 * its side sends (the initiator's `signal` batches carry its offer, the answerer's replies its
 * answer). Batches without a description (candidates, or empty while the initiator polls) pass.
 */
export function checkSignalBatch(data: readonly unknown[], sends: 'offer' | 'answer'): SignalBatchCheck {
  let descriptions = 0;
  for (const text of data) {
    const parsed = parseSignalData(text);
    if (!parsed.ok) return parsed;
    if (parsed.signal.type === 'candidate') continue;
    if (parsed.signal.type !== sends || ++descriptions > 1) return { ok: false, reason: 'unexpected-sdp' };
  }
  return { ok: true, descriptions };
}
