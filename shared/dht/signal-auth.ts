/**
 * Who sent a routed SIGNAL. Its `from` decides whether the receiver spends a connection on it
 * (and whether the budget paces it: node.ts `needs`), so `from` is signed: the body carries the
 * sender's signing key and id nonce, which must make `from` with the network's work (as HELLO
 * checks; lib/id.ts), a time, and an
 * Ed25519 signature over a domain-separated encoding of from, to, conn, data and the time. The
 * receiver checks `to` is itself and the time is fresh, and refuses a signature it has already
 * seen inside the window: a captured SIGNAL is useless at another node, later, or twice.
 *
 * `checkSignal` runs the checks cheapest first (shape, the id's work, key makes `from`, time, repeat) and
 * the signature last; nothing is constructed and no budget spent before it says yes.
 */
import { SEEN_SIGNALS_MAX, SIGNAL_FRESH_MS } from './constants.ts';
import type { RequestBodyOf } from './protocol.ts';
import { KEY_BYTES, SIGNATURE_BYTES, type CryptoOps, type Identity } from '../lib/crypto.ts';
import { concatBytes, fromBase64Url, lengthPrefixed, toBase64Url, uint64, utf8Encode } from '../lib/encoding.ts';
import { idEquals, idFromHex, idToHex, nodeIdFromSigningKey } from '../lib/id.ts';

/** Distinct from the signal server's 'peerchat-signal-v1': one cannot pass as the other. */
const ROUTED_SIGNAL_TAG = utf8Encode('peerchat-routed-signal-v1');

export type SignalBody = RequestBodyOf<'SIGNAL'>;
/** Why a SIGNAL was refused, cheapest check first; counted as `signal-drop-<reason>`. */
export type SignalDropReason = 'not-for-us' | 'bad-key' | 'bad-work' | 'key-not-from' | 'stale' | 'replayed' | 'seen-full' | 'bad-sig';

function signalBytes(b: Pick<SignalBody, 'from' | 'to' | 'conn' | 'data' | 'at'>): Uint8Array {
  return concatBytes(
    lengthPrefixed(ROUTED_SIGNAL_TAG),
    lengthPrefixed(utf8Encode(b.from)),
    lengthPrefixed(utf8Encode(b.to)),
    lengthPrefixed(utf8Encode(b.conn)),
    lengthPrefixed(utf8Encode(b.data)),
    uint64(b.at),
  );
}

/** A SIGNAL body from `sender` to `toHex`, signed at `at`. */
export async function signSignal(sender: Identity, toHex: string, conn: string, data: string, at: number, ops: CryptoOps): Promise<SignalBody> {
  const body = { from: idToHex(sender.nodeId), to: toHex, conn, data, at };
  const sig = await ops.sign(sender, signalBytes(body));
  return { ...body, key: toBase64Url(sender.signingPublic), n: sender.idNonce, sig: toBase64Url(sig) };
}

/**
 * Signatures of SIGNALs accepted inside the freshness window, oldest first. An entry is kept
 * until 2 x SIGNAL_FRESH_MS after it arrived, the latest its signed time can still pass the
 * window, so entries expire in the order they were added and pruning looks at the head only.
 */
export class SeenSignatures {
  private readonly until = new Map<string, number>();

  constructor(private readonly max = SEEN_SIGNALS_MAX) {}

  get size(): number {
    return this.until.size;
  }

  /** Whether `sig` was added and has not expired; also drops what expired. */
  has(sig: string, now: number): boolean {
    this.prune(now);
    return this.until.has(sig);
  }

  /** Whether there is room for another signature at `now`. */
  hasRoom(now: number): boolean {
    this.prune(now);
    return this.until.size < this.max;
  }

  add(sig: string, now: number): void {
    this.until.set(sig, now + 2 * SIGNAL_FRESH_MS);
  }

  private prune(now: number): void {
    for (const [sig, until] of this.until) {
      if (until > now) return;
      this.until.delete(sig);
    }
  }
}

/**
 * The cheap checks, in order: addressed to this node, the key is a key whose hash is `from`,
 * the time is within SIGNAL_FRESH_MS, the signature is new, and there is room to remember it.
 * Pure; null when the body may go on to the signature check.
 */
export function precheckSignal(b: SignalBody, selfHex: string, now: number, seen: SeenSignatures): SignalDropReason | null {
  if (b.to !== selfHex) return 'not-for-us';
  const key = fromBase64Url(b.key);
  const from = idFromHex(b.from);
  if (key?.length !== KEY_BYTES || !from) return 'bad-key';
  const id = nodeIdFromSigningKey(key, b.n);
  if (!id) return 'bad-work';
  if (!idEquals(id, from)) return 'key-not-from';
  if (Math.abs(now - b.at) > SIGNAL_FRESH_MS) return 'stale';
  if (seen.has(b.sig, now)) return 'replayed';
  if (!seen.hasRoom(now)) return 'seen-full';
  return null;
}

/**
 * Every check; a body that passes is remembered, so the same signature is refused next time.
 * The clock is read once, before the signature check: `now` is the receiver's time of arrival.
 */
export async function checkSignal(b: SignalBody, selfHex: string, now: number, seen: SeenSignatures, ops: CryptoOps): Promise<SignalDropReason | null> {
  const cheap = precheckSignal(b, selfHex, now, seen);
  if (cheap) return cheap;
  const sig = fromBase64Url(b.sig);
  if (sig?.length !== SIGNATURE_BYTES || !(await ops.verify(fromBase64Url(b.key)!, sig, signalBytes(b)))) return 'bad-sig';
  // Checked again: the same SIGNAL twice in flight would otherwise both pass while verifying.
  if (seen.has(b.sig, now)) return 'replayed';
  seen.add(b.sig, now);
  return null;
}
