/**
 * Chat messages on the wire (ARCHITECTURE.md, "A message's path"): the sealed, signed envelope, and the two
 * small statements a recipient signs about a message, the receipt (to the sender: delivered)
 * and the tombstone (to holders: fetched, delete it).
 *
 * Envelope = header {id, from, to, sentAt, epk, nonce} + ciphertext + signature. The body is
 * sealed for the recipient's X25519 key with the header as additional data, so relays and
 * holders see the header and ciphertext only. Inside the seal travel the sender's name and
 * signing key: the recipient learns who wrote, checks that `from` is the hash of that key, and
 * verifies the sender's Ed25519 signature over a domain tag, the header and the ciphertext. A
 * holder cannot read who sent a message beyond its node id, nor forge or alter one unnoticed.
 */
import { MAX_MESSAGE_BODY_BYTES } from './constants.ts';
import { KEY_BYTES, open, seal, type CryptoOps, type Identity } from '../lib/crypto.ts';
import { concatBytes, fromBase64Url, lengthPrefixed, toBase64Url, uint64, utf8Decode, utf8Encode } from '../lib/encoding.ts';
import { ErrorCode, PeerchatError } from '../lib/errors.ts';
import { idFromHex, idToHex, isIdNonce, keyMakesId, sha256, type NodeId } from '../lib/id.ts';
import type { RequestBodyOf } from '../dht/protocol.ts';
import type { EnvelopeWire, ReceiptWire, TombstoneWire } from './wire.ts';
import type { Random } from '../lib/random.ts';
import { normalizeUsername, RECORD_CLOCK_SKEW_MS } from './records.ts';

const ENVELOPE_TAG = utf8Encode('peerchat-envelope-v1');
const RECEIPT_TAG = utf8Encode('peerchat-receipt-v1');
const TOMBSTONE_TAG = utf8Encode('peerchat-tombstone-v2');
const ENVELOPE_HASH_TAG = utf8Encode('peerchat-envelope-hash-v1');
/** 2: the sender key's id nonce follows the agreement key (lib/id.ts). */
const BODY_VERSION = 2;
const KIND_TEXT = 1;
const KIND_RECEIPTS = 2;
export const MESSAGE_ID_BYTES = 16;
/** Receipts one envelope can carry: the body limit over the bytes of one id. */
export const MAX_RECEIPTS_PER_ENVELOPE = MAX_MESSAGE_BODY_BYTES / MESSAGE_ID_BYTES;

/**
 * What an envelope carries: a text the user wrote, or receipts for messages the sender of the
 * envelope was handed by holders (the original sender was not there to get a receipt in reply).
 * Receipts travel sealed like text, so holders cannot tell one from the other.
 */
export type MessageContent = { kind: 'text'; text: string } | { kind: 'receipts'; ids: string[] };

/** What the recipient reads once an envelope opened and verified. */
export interface OpenedMessage {
  id: string;
  /** The sender's node id (hex) and the name and keys it sealed in. */
  from: string;
  fromName: string;
  fromKey: Uint8Array;
  fromAgreementKey: Uint8Array;
  sentAt: number;
  content: MessageContent;
}

export type OpenFailure = 'not-for-us' | 'bad-times' | 'undecryptable' | 'bad-body' | 'wrong-sender-key' | 'bad-signature';
export type OpenResult = { ok: true; message: OpenedMessage } | { ok: false; reason: OpenFailure };

/** The recipient, as its user record tells the sender. */
export interface Recipient {
  nodeId: NodeId;
  agreementKey: Uint8Array;
}

/** The additional data of the seal: every header field, length-prefixed, after a domain tag. */
function headerBytes(h: Omit<EnvelopeWire, 'ct' | 'sig'>): Uint8Array {
  return concatBytes(
    lengthPrefixed(ENVELOPE_TAG),
    lengthPrefixed(utf8Encode(h.id)),
    lengthPrefixed(utf8Encode(h.from)),
    lengthPrefixed(utf8Encode(h.to)),
    uint64(h.sentAt),
    lengthPrefixed(utf8Encode(h.epk)),
    lengthPrefixed(utf8Encode(h.nonce)),
  );
}

/** What the sender signs: the header and the ciphertext. */
function signedBytes(h: Omit<EnvelopeWire, 'ct' | 'sig'>, ct: string): Uint8Array {
  return concatBytes(headerBytes(h), lengthPrefixed(utf8Encode(ct)));
}

interface Body {
  name: string;
  key: Uint8Array;
  /** The sender key's id nonce: with `key` it must make the envelope's `from` (lib/id.ts). */
  n: number;
  agreementKey: Uint8Array;
  content: MessageContent;
}

/**
 * Sealed body: version, kind, name length, name, signing key, agreement key (so the recipient
 * can answer with receipts without a lookup), the signing key's id nonce (4 bytes, big-endian),
 * then the payload: UTF-8 text, or 16-byte ids.
 */
function encodeBody(b: Body): Uint8Array {
  const nameBytes = utf8Encode(b.name);
  const payload = b.content.kind === 'text' ? utf8Encode(b.content.text) : concatBytes(...b.content.ids.map((id) => idFromHexBytes(id)));
  const kind = b.content.kind === 'text' ? KIND_TEXT : KIND_RECEIPTS;
  return concatBytes(new Uint8Array([BODY_VERSION, kind, nameBytes.length]), nameBytes, b.key, b.agreementKey, u32(b.n), payload);
}

function decodeBody(bytes: Uint8Array): Body | null {
  if (bytes.length < 3 || bytes[0] !== BODY_VERSION) return null;
  const kind = bytes[1];
  const nameEnd = 3 + bytes[2]!;
  const keyEnd = nameEnd + KEY_BYTES;
  const agreementEnd = keyEnd + KEY_BYTES;
  const nonceEnd = agreementEnd + ID_NONCE_BYTES;
  if (bytes.length < nonceEnd || bytes.length - nonceEnd > MAX_MESSAGE_BODY_BYTES) return null;
  const name = utf8Decode(bytes.subarray(3, nameEnd));
  if (name === null || normalizeUsername(name) !== name) return null;
  const n = new DataView(bytes.buffer, bytes.byteOffset + agreementEnd, ID_NONCE_BYTES).getUint32(0);
  const payload = bytes.subarray(nonceEnd);
  let content: MessageContent;
  if (kind === KIND_TEXT) {
    const text = utf8Decode(payload);
    if (text === null) return null;
    content = { kind: 'text', text };
  } else if (kind === KIND_RECEIPTS && payload.length > 0 && payload.length % MESSAGE_ID_BYTES === 0) {
    const ids: string[] = [];
    for (let i = 0; i < payload.length; i += MESSAGE_ID_BYTES) ids.push(idToHex(payload.subarray(i, i + MESSAGE_ID_BYTES)));
    content = { kind: 'receipts', ids };
  } else {
    return null;
  }
  return { name, key: bytes.slice(nameEnd, keyEnd), n, agreementKey: bytes.slice(keyEnd, agreementEnd), content };
}

const ID_NONCE_BYTES = 4;

function u32(n: number): Uint8Array {
  const out = new Uint8Array(ID_NONCE_BYTES);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

/** A message id (32 hex digits) as its 16 bytes; throws on anything else (a caller's bug). */
function idFromHexBytes(hex: string): Uint8Array {
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new PeerchatError(ErrorCode.BadRequest, `Not a message id: ${hex.slice(0, 40)}`);
  const out = new Uint8Array(MESSAGE_ID_BYTES);
  for (let i = 0; i < MESSAGE_ID_BYTES; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Seals and signs `content` (a string is a text) from `sender` (known to others as `senderName`)
 * for `recipient`. Draws the message id, then the seal's ephemeral key and nonce, from `random`.
 */
export async function createEnvelope(
  sender: Identity,
  senderName: string,
  recipient: Recipient,
  content: string | MessageContent,
  sentAt: number,
  random: Random,
  ops: CryptoOps,
): Promise<EnvelopeWire> {
  const c: MessageContent = typeof content === 'string' ? { kind: 'text', text: content } : content;
  if (c.kind === 'text' && utf8Encode(c.text).length > MAX_MESSAGE_BODY_BYTES) {
    throw new PeerchatError(ErrorCode.BadRequest, `A message is at most ${MAX_MESSAGE_BODY_BYTES / 1024} KiB of text; split it.`);
  }
  if (c.kind === 'receipts' && (c.ids.length === 0 || c.ids.length > MAX_RECEIPTS_PER_ENVELOPE)) {
    throw new PeerchatError(ErrorCode.BadRequest, `An envelope carries 1 to ${MAX_RECEIPTS_PER_ENVELOPE} receipts.`);
  }
  if (normalizeUsername(senderName) !== senderName) throw new PeerchatError(ErrorCode.InvalidName, 'The sender name must be a normalized username.');
  if (!Number.isSafeInteger(sentAt) || sentAt < 0) throw new PeerchatError(ErrorCode.BadRequest, 'sentAt must be a non-negative integer.');
  const id = idToHex(random.bytes(MESSAGE_ID_BYTES));
  const from = idToHex(sender.nodeId);
  const to = idToHex(recipient.nodeId);
  // The header names the seal's ephemeral key and nonce, so the additional data is computed
  // from them inside seal().
  let header: Omit<EnvelopeWire, 'ct' | 'sig'> | null = null;
  const sealed = await tracked(ops, seal(
    recipient.agreementKey,
    encodeBody({ name: senderName, key: sender.signingPublic, n: sender.idNonce, agreementKey: sender.agreementPublic, content: c }),
    (epk, nonce) => headerBytes((header = { id, from, to, sentAt, epk: toBase64Url(epk), nonce: toBase64Url(nonce) })),
    random,
  ));
  const ct = toBase64Url(sealed.ciphertext);
  const sig = await ops.sign(sender, signedBytes(header!, ct));
  return { ...header!, ct, sig: toBase64Url(sig) };
}

function tracked<T>(ops: CryptoOps, work: Promise<T>): Promise<T> {
  return ops.track ? ops.track(work) : work;
}

/**
 * What holders key an envelope by: SHA-256 over every field, signature included (base64url).
 * Two envelopes that share an id but differ anywhere are two entries, so a corrupted copy
 * stored first cannot stand in for the honest one, and a tombstone deletes one exact copy.
 */
export function envelopeHash(e: EnvelopeWire): string {
  const { ct, sig, ...header } = e;
  return toBase64Url(sha256(concatBytes(lengthPrefixed(ENVELOPE_HASH_TAG), signedBytes(header, ct), lengthPrefixed(utf8Encode(sig)))));
}

/** Header checks a holder can make without any key: times are plausible, ids well formed. */
export function envelopeHeaderOk(e: EnvelopeWire, now: number): boolean {
  return e.sentAt <= now + RECORD_CLOCK_SKEW_MS && idFromHex(e.from) !== null && idFromHex(e.to) !== null && e.from !== e.to;
}

/** Opens an envelope addressed to `recipient`; every failure says why, nothing throws. */
export async function openEnvelope(recipient: Identity, e: EnvelopeWire, now: number, ops: CryptoOps): Promise<OpenResult> {
  if (e.to !== idToHex(recipient.nodeId)) return { ok: false, reason: 'not-for-us' };
  if (!envelopeHeaderOk(e, now)) return { ok: false, reason: 'bad-times' };
  const epk = fromBase64Url(e.epk);
  const nonce = fromBase64Url(e.nonce);
  const ct = fromBase64Url(e.ct);
  const sig = fromBase64Url(e.sig);
  if (!epk || !nonce || !ct || !sig) return { ok: false, reason: 'undecryptable' };
  const { ct: _ct, sig: _sig, ...header } = e;
  const plain = await tracked(ops, open(recipient, epk, nonce, ct, headerBytes(header)));
  if (!plain) return { ok: false, reason: 'undecryptable' };
  const body = decodeBody(plain);
  if (!body) return { ok: false, reason: 'bad-body' };
  if (!keyMakesId(body.key, body.n, idFromHex(e.from)!)) return { ok: false, reason: 'wrong-sender-key' };
  if (!(await ops.verify(body.key, sig, signedBytes(header, e.ct)))) return { ok: false, reason: 'bad-signature' };
  return {
    ok: true,
    message: { id: e.id, from: e.from, fromName: body.name, fromKey: body.key, fromAgreementKey: body.agreementKey, sentAt: e.sentAt, content: body.content },
  };
}

// ---- Receipts and tombstones ---------------------------------------------------------------

/** The recipient's key, checked: with its id nonce it must make `to`. */
function recipientKeyFits(to: string, key: Uint8Array, n: number): boolean {
  const id = idFromHex(to);
  return id !== null && key.length === KEY_BYTES && isIdNonce(n) && keyMakesId(key, n, id);
}

function statementBytes(tag: Uint8Array, subject: string, to: string, at: number): Uint8Array {
  return concatBytes(lengthPrefixed(tag), lengthPrefixed(utf8Encode(subject)), lengthPrefixed(utf8Encode(to)), uint64(at));
}

/** The recipient's signed word to a sender that message `id` arrived ("delivered"). */
export async function signReceipt(recipient: Identity, id: string, at: number, ops: CryptoOps): Promise<ReceiptWire> {
  const to = idToHex(recipient.nodeId);
  return { id, to, at, sig: toBase64Url(await ops.sign(recipient, statementBytes(RECEIPT_TAG, id, to, at))) };
}

/**
 * Checks a receipt against the recipient the sender addressed (`to`, an id it derived from the
 * recipient's checked record) and that recipient's pinned signing key.
 */
export async function verifyReceipt(r: ReceiptWire, recipientTo: string, recipientKey: Uint8Array, ops: CryptoOps): Promise<boolean> {
  const sig = fromBase64Url(r.sig);
  if (!sig || r.to !== recipientTo || recipientKey.length !== KEY_BYTES) return false;
  return ops.verify(recipientKey, sig, statementBytes(RECEIPT_TAG, r.id, r.to, r.at));
}

/**
 * The recipient's signed word to holders that the entry with envelope hash `h` was handed over:
 * delete it. A distinct tag from the receipt's: one cannot pass as the other.
 */
export async function signTombstone(recipient: Identity, h: string, at: number, ops: CryptoOps): Promise<TombstoneWire> {
  const to = idToHex(recipient.nodeId);
  return { h, to, at, sig: toBase64Url(await ops.sign(recipient, statementBytes(TOMBSTONE_TAG, h, to, at))) };
}

/** Whether `recipientKey` and its id nonce make a tombstone's `to`: the check before any signature. */
export function tombstoneKeyFits(t: TombstoneWire, recipientKey: Uint8Array, n: number): boolean {
  return recipientKeyFits(t.to, recipientKey, n);
}

/** Checks a tombstone against the recipient's signing key (which with `n` must make `to`). */
export async function verifyTombstone(t: TombstoneWire, recipientKey: Uint8Array, n: number, ops: CryptoOps): Promise<boolean> {
  const sig = fromBase64Url(t.sig);
  if (!sig || !recipientKeyFits(t.to, recipientKey, n)) return false;
  return ops.verify(recipientKey, sig, statementBytes(TOMBSTONE_TAG, t.h, t.to, t.at));
}

// ---- Mailbox fetch -------------------------------------------------------------------------

const FETCH_TAG = utf8Encode('peerchat-fetch-v2');
/** A fetch signed longer ago than this (or this far ahead) is refused: replays go stale. */
export const FETCH_FRESH_MS = 5 * 60_000;
export const FETCH_NONCE_BYTES = 12;

function fetchBytes(b: Omit<RequestBodyOf<'MAILBOX_FETCH'>, 'key' | 'n' | 'sig'>): Uint8Array {
  return concatBytes(
    lengthPrefixed(FETCH_TAG),
    lengthPrefixed(utf8Encode(b.owner)),
    lengthPrefixed(utf8Encode(b.holder)),
    lengthPrefixed(utf8Encode(b.nonce)),
    uint64(b.at),
  );
}

/**
 * The recipient's proof, for one holder (`holderHex`), that it owns the mailbox it asks for.
 * Bound to that holder and to a fresh nonce: another holder refuses it, and so does this one
 * a second time.
 */
export async function signFetch(recipient: Identity, holderHex: string, at: number, random: Random, ops: CryptoOps): Promise<RequestBodyOf<'MAILBOX_FETCH'>> {
  const body = { owner: idToHex(recipient.nodeId), holder: holderHex, nonce: toBase64Url(random.bytes(FETCH_NONCE_BYTES)), at };
  const sig = await ops.sign(recipient, fetchBytes(body));
  return { ...body, key: toBase64Url(recipient.signingPublic), n: recipient.idNonce, sig: toBase64Url(sig) };
}

/** Whether a fetch is fresh at `now`: the holder's cheap check before the signature. */
export function fetchIsFresh(b: RequestBodyOf<'MAILBOX_FETCH'>, now: number): boolean {
  return Math.abs(now - b.at) <= FETCH_FRESH_MS;
}

/** The owner's signing key when the fetch is fresh and signed by the key that (with `n`) makes `owner`. */
export async function verifyFetch(b: RequestBodyOf<'MAILBOX_FETCH'>, now: number, ops: CryptoOps): Promise<Uint8Array | null> {
  if (!fetchIsFresh(b, now)) return null;
  const key = fromBase64Url(b.key);
  const sig = fromBase64Url(b.sig);
  const owner = idFromHex(b.owner);
  if (!key || !sig || !owner || !keyMakesId(key, b.n, owner)) return null;
  return (await ops.verify(key, sig, fetchBytes(b))) ? key : null;
}
