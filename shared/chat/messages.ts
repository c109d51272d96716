/**
 * Chat messages on the wire (ARCHITECTURE.md, "A message's path"): the sealed envelope, and the
 * two small statements a recipient signs about a message, the receipt (to the sender: delivered)
 * and the tombstone (to holders: fetched, delete it).
 *
 * Envelope (version 2) = outer header {v, id, to, epk, nonce} + ciphertext: only what holders and
 * relays need (the recipient, a random id, the seal's ephemeral key and nonce). Sign, then seal:
 * the sender signs, with its Ed25519 key, a domain tag, the outer header and the inner body (its
 * name, signing and agreement keys, its clock, the content); the signature and that body are
 * sealed for the recipient's X25519 key with the outer header as additional data. So a holder
 * or relay learns no sender id, key, name or time; the recipient learns who wrote (the sender's
 * id is the hash of the key inside), and every byte is bound together:
 * - the outer header cannot change (the AEAD tag covers it, and so does the signature);
 * - ciphertexts cannot be swapped between headers (the tag, and the epk decides the key);
 * - a recipient that opens a message cannot re-seal it as the sender's to somebody else
 *   ("surreptitious forwarding"): the signed bytes name the recipient's id, the message id and
 *   the ephemeral key and nonce of the one seal the sender made.
 */
import { MAX_MESSAGE_BODY_BYTES } from './constants.ts';
import { beginSeal, KEY_BYTES, open, type CryptoOps, type Identity } from '../lib/crypto.ts';
import { concatBytes, fromBase64Url, lengthPrefixed, toBase64Url, uint64, utf8Decode, utf8Encode } from '../lib/encoding.ts';
import { ErrorCode, PeerchatError } from '../lib/errors.ts';
import { idFromHex, idToHex, isIdNonce, keyMakesId, nodeIdFromSigningKey, sha256, type NodeId } from '../lib/id.ts';
import type { RequestBodyOf } from '../dht/protocol.ts';
import { ENVELOPE_VERSION, type EnvelopeWire, type ReceiptWire, type TombstoneWire } from './wire.ts';
import type { Random } from '../lib/random.ts';
import { normalizeUsername, RECORD_CLOCK_SKEW_MS } from './records.ts';
import { isGroupChange, type GroupChange } from './groups.ts';

/** The seal's additional data: the outer header. */
const ENVELOPE_TAG = utf8Encode('peerchat-envelope-v2');
/** What the sender signs inside the seal: the outer header and the inner body. */
const ENVELOPE_SIG_TAG = utf8Encode('peerchat-envelope-sig-v2');
const RECEIPT_TAG = utf8Encode('peerchat-receipt-v1');
const TOMBSTONE_TAG = utf8Encode('peerchat-tombstone-v2');
const ENVELOPE_HASH_TAG = utf8Encode('peerchat-envelope-hash-v2');
const BODY_VERSION = 2;
const KIND_TEXT = 1;
const KIND_RECEIPTS = 2;
const KIND_GROUP_CHANGE = 3;
const KIND_GROUP_TEXT = 4;
/** A group id's bytes, before a group text's UTF-8. */
const GROUP_ID_BYTES = 16;
/** The sender's name is padded to this many bytes inside the seal: its length does not show. */
const NAME_FIELD_BYTES = 32;
const SIGNATURE_BYTES = 64;
const TIME_BYTES = 8;
export const MESSAGE_ID_BYTES = 16;
/** Receipts one envelope can carry: the body limit over the bytes of one id. */
export const MAX_RECEIPTS_PER_ENVELOPE = MAX_MESSAGE_BODY_BYTES / MESSAGE_ID_BYTES;

/**
 * What an envelope carries: a text the user wrote, or receipts for messages the sender of the
 * envelope was handed by holders (the original sender was not there to get a receipt in reply).
 * Receipts travel sealed like text, so holders cannot read them (a batch's size, a multiple of
 * 16 bytes, may hint at one).
 */
export type MessageContent =
  | { kind: 'text'; text: string }
  | { kind: 'receipts'; ids: string[] }
  /** A change to a group's membership (groups.ts), its author the envelope's signer. */
  | { kind: 'group-change'; change: GroupChange }
  /** A text to a group: each member gets its own envelope of it (ARCHITECTURE.md, "Groups"). */
  | { kind: 'group-text'; group: string; text: string };

/** What the recipient reads once an envelope opened and verified. */
export interface OpenedMessage {
  id: string;
  /** The sender's node id (hex, the hash of `fromKey`) and the name and keys it sealed in. */
  from: string;
  fromName: string;
  fromKey: Uint8Array;
  fromAgreementKey: Uint8Array;
  /** The sender's clock, from inside the seal. */
  sentAt: number;
  content: MessageContent;
}

export type OpenFailure = 'not-for-us' | 'bad-times' | 'undecryptable' | 'bad-body' | 'bad-sender-work' | 'from-self' | 'bad-signature';
export type OpenResult = { ok: true; message: OpenedMessage } | { ok: false; reason: OpenFailure };

/** The recipient, as its user record tells the sender. */
export interface Recipient {
  nodeId: NodeId;
  agreementKey: Uint8Array;
}

export type EnvelopeHeader = Omit<EnvelopeWire, 'ct'>;

/** The seal's additional data: every outer header field, length-prefixed, after a domain tag. */
export function envelopeHeaderBytes(h: EnvelopeHeader): Uint8Array {
  return concatBytes(
    lengthPrefixed(ENVELOPE_TAG),
    uint64(h.v),
    lengthPrefixed(utf8Encode(h.id)),
    lengthPrefixed(utf8Encode(h.to)),
    lengthPrefixed(utf8Encode(h.epk)),
    lengthPrefixed(utf8Encode(h.nonce)),
  );
}

/** What the sender signs: the outer header (which names the recipient) and the inner body. */
export function envelopeSignedBytes(h: EnvelopeHeader, body: Uint8Array): Uint8Array {
  return concatBytes(lengthPrefixed(ENVELOPE_SIG_TAG), envelopeHeaderBytes(h), lengthPrefixed(body));
}

interface Body {
  name: string;
  key: Uint8Array;
  /** The sender key's id nonce: with `key` it must make the envelope's `from` (lib/id.ts). */
  n: number;
  agreementKey: Uint8Array;
  sentAt: number;
  content: MessageContent;
}

/**
 * The inner body the sender signs: version, kind, name length, the name padded with zeros to
 * NAME_FIELD_BYTES, signing key, agreement key (so the recipient can answer with receipts
 * without a lookup), the signing key's id nonce (4 bytes, big-endian; lib/id.ts), sentAt
 * (8 bytes), then the payload: UTF-8 text, or 16-byte ids.
 */
function encodeBody(b: Body): Uint8Array {
  const nameBytes = utf8Encode(b.name);
  const name = new Uint8Array(NAME_FIELD_BYTES);
  name.set(nameBytes);
  const [kind, payload] = encodeContent(b.content);
  return concatBytes(new Uint8Array([BODY_VERSION, kind, nameBytes.length]), name, b.key, b.agreementKey, u32(b.n), uint64(b.sentAt), payload);
}

function encodeContent(c: MessageContent): [number, Uint8Array] {
  switch (c.kind) {
    case 'text':
      return [KIND_TEXT, utf8Encode(c.text)];
    case 'receipts':
      return [KIND_RECEIPTS, concatBytes(...c.ids.map((id) => idFromHexBytes(id)))];
    case 'group-change':
      return [KIND_GROUP_CHANGE, utf8Encode(JSON.stringify(c.change))];
    case 'group-text':
      return [KIND_GROUP_TEXT, concatBytes(idFromHexBytes(c.group), utf8Encode(c.text))];
  }
}

/** The content of a payload of `kind`; null for anything this version does not write. */
function decodeContent(kind: number | undefined, payload: Uint8Array): MessageContent | null {
  if (kind === KIND_TEXT) {
    const text = utf8Decode(payload);
    return text === null ? null : { kind: 'text', text };
  }
  if (kind === KIND_RECEIPTS && payload.length > 0 && payload.length % MESSAGE_ID_BYTES === 0) {
    const ids: string[] = [];
    for (let i = 0; i < payload.length; i += MESSAGE_ID_BYTES) ids.push(idToHex(payload.subarray(i, i + MESSAGE_ID_BYTES)));
    return { kind: 'receipts', ids };
  }
  if (kind === KIND_GROUP_CHANGE) {
    const json = utf8Decode(payload);
    let change: unknown;
    try {
      change = json === null ? null : JSON.parse(json);
    } catch {
      return null;
    }
    return isGroupChange(change) ? { kind: 'group-change', change } : null;
  }
  if (kind === KIND_GROUP_TEXT && payload.length >= GROUP_ID_BYTES) {
    const text = utf8Decode(payload.subarray(GROUP_ID_BYTES));
    return text === null ? null : { kind: 'group-text', group: idToHex(payload.subarray(0, GROUP_ID_BYTES)), text };
  }
  return null;
}

const ID_NONCE_BYTES = 4;
const NAME_AT = 3;
const KEY_AT = NAME_AT + NAME_FIELD_BYTES;
const AGREEMENT_AT = KEY_AT + KEY_BYTES;
const NONCE_AT = AGREEMENT_AT + KEY_BYTES;
const SENT_AT = NONCE_AT + ID_NONCE_BYTES;
const PAYLOAD_AT = SENT_AT + TIME_BYTES;

function u32(n: number): Uint8Array {
  const out = new Uint8Array(ID_NONCE_BYTES);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

function decodeBody(bytes: Uint8Array): Body | null {
  if (bytes.length < PAYLOAD_AT || bytes[0] !== BODY_VERSION || bytes.length - PAYLOAD_AT > MAX_MESSAGE_BODY_BYTES) return null;
  const kind = bytes[1];
  const nameLength = bytes[2]!;
  if (nameLength > NAME_FIELD_BYTES || bytes.subarray(NAME_AT + nameLength, KEY_AT).some((b) => b !== 0)) return null;
  const name = utf8Decode(bytes.subarray(NAME_AT, NAME_AT + nameLength));
  if (name === null || normalizeUsername(name) !== name) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const n = view.getUint32(NONCE_AT);
  const sentAt = view.getBigUint64(SENT_AT);
  if (sentAt > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  const content = decodeContent(kind, bytes.subarray(PAYLOAD_AT));
  if (content === null) return null;
  return { name, key: bytes.slice(KEY_AT, AGREEMENT_AT), n, agreementKey: bytes.slice(AGREEMENT_AT, NONCE_AT), sentAt: Number(sentAt), content };
}

/** A message id (32 hex digits) as its 16 bytes; throws on anything else (a caller's bug). */
function idFromHexBytes(hex: string): Uint8Array {
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new PeerchatError(ErrorCode.BadRequest, `Not a message id: ${hex.slice(0, 40)}`);
  const out = new Uint8Array(MESSAGE_ID_BYTES);
  for (let i = 0; i < MESSAGE_ID_BYTES; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Signs and seals `content` (a string is a text) from `sender` (known to others as `senderName`)
 * for `recipient`. Draws the message id (unless `id` is given: an old-format message sealed
 * again keeps its id), then the seal's ephemeral key and nonce, from `random`.
 */
export async function createEnvelope(
  sender: Identity,
  senderName: string,
  recipient: Recipient,
  content: string | MessageContent,
  sentAt: number,
  random: Random,
  ops: CryptoOps,
  id?: string,
): Promise<EnvelopeWire> {
  const c: MessageContent = typeof content === 'string' ? { kind: 'text', text: content } : content;
  if ((c.kind === 'text' || c.kind === 'group-text' || c.kind === 'group-change') && encodeContent(c)[1].length > MAX_MESSAGE_BODY_BYTES) {
    throw new PeerchatError(ErrorCode.BadRequest, `A message is at most ${MAX_MESSAGE_BODY_BYTES / 1024} KiB of text; split it.`);
  }
  if (c.kind === 'group-change' && !isGroupChange(c.change)) throw new PeerchatError(ErrorCode.BadRequest, 'Not a well-formed group change.');
  if (c.kind === 'receipts' && (c.ids.length === 0 || c.ids.length > MAX_RECEIPTS_PER_ENVELOPE)) {
    throw new PeerchatError(ErrorCode.BadRequest, `An envelope carries 1 to ${MAX_RECEIPTS_PER_ENVELOPE} receipts.`);
  }
  if (normalizeUsername(senderName) !== senderName) throw new PeerchatError(ErrorCode.InvalidName, 'The sender name must be a normalized username.');
  if (!Number.isSafeInteger(sentAt) || sentAt < 0) throw new PeerchatError(ErrorCode.BadRequest, 'sentAt must be a non-negative integer.');
  if (id !== undefined && !/^[0-9a-f]{32}$/.test(id)) throw new PeerchatError(ErrorCode.BadRequest, 'Not a message id.');
  const messageId = id ?? idToHex(random.bytes(MESSAGE_ID_BYTES));
  const to = idToHex(recipient.nodeId);
  const body = encodeBody({ name: senderName, key: sender.signingPublic, n: sender.idNonce, agreementKey: sender.agreementPublic, sentAt, content: c });
  // The seal's ephemeral key and nonce are drawn first: the signature inside covers the header
  // that names them. (Three steps, each awaited alone: simulated crypto resolves in order.)
  const session = await tracked(ops, beginSeal(recipient.agreementKey, random));
  const h: EnvelopeHeader = { v: ENVELOPE_VERSION, id: messageId, to, epk: toBase64Url(session.ephemeralPublic), nonce: toBase64Url(session.nonce) };
  const sig = await ops.sign(sender, envelopeSignedBytes(h, body));
  const sealed = await tracked(ops, session.seal(concatBytes(sig, body), envelopeHeaderBytes(h)));
  return { ...h, ct: toBase64Url(sealed.ciphertext) };
}

function tracked<T>(ops: CryptoOps, work: Promise<T>): Promise<T> {
  return ops.track ? ops.track(work) : work;
}

/**
 * What holders key an envelope by: SHA-256 over every field (base64url). Two envelopes that
 * share an id but differ anywhere are two entries, so a corrupted copy stored first cannot
 * stand in for the honest one, and a tombstone deletes one exact copy.
 */
export function envelopeHash(e: EnvelopeWire): string {
  const { ct, ...header } = e;
  return toBase64Url(sha256(concatBytes(lengthPrefixed(ENVELOPE_HASH_TAG), envelopeHeaderBytes(header), lengthPrefixed(utf8Encode(ct)))));
}

/**
 * The header check a holder can make without any key: the recipient id is well formed. There
 * is nothing else to check outside the seal; a holder's expiry counts from when it got an entry.
 */
export function envelopeHeaderOk(e: EnvelopeWire): boolean {
  return idFromHex(e.to) !== null;
}

/**
 * Opens an envelope addressed to `recipient`; every failure says why, nothing throws. The
 * sender is whoever's key is inside and signed the outer header and the body: its id is that
 * key's hash, nothing a holder wrote.
 */
export async function openEnvelope(recipient: Identity, e: EnvelopeWire, now: number, ops: CryptoOps): Promise<OpenResult> {
  if (e.to !== idToHex(recipient.nodeId)) return { ok: false, reason: 'not-for-us' };
  const epk = fromBase64Url(e.epk);
  const nonce = fromBase64Url(e.nonce);
  const ct = fromBase64Url(e.ct);
  if (!epk || !nonce || !ct) return { ok: false, reason: 'undecryptable' };
  const { ct: _ct, ...header } = e;
  const plain = await tracked(ops, open(recipient, epk, nonce, ct, envelopeHeaderBytes(header)));
  if (!plain) return { ok: false, reason: 'undecryptable' };
  const signed = plain.subarray(SIGNATURE_BYTES);
  const body = plain.length > SIGNATURE_BYTES ? decodeBody(signed) : null;
  if (!body) return { ok: false, reason: 'bad-body' };
  if (body.sentAt > now + RECORD_CLOCK_SKEW_MS) return { ok: false, reason: 'bad-times' };
  // The sender's id is what its key and id nonce make, and must carry the network's work.
  const fromId = nodeIdFromSigningKey(body.key, body.n);
  if (fromId === null) return { ok: false, reason: 'bad-sender-work' };
  const from = idToHex(fromId);
  // The app never writes to itself; the old header check refused it, and so does this.
  if (from === e.to) return { ok: false, reason: 'from-self' };
  if (!(await ops.verify(body.key, plain.slice(0, SIGNATURE_BYTES), envelopeSignedBytes(header, signed)))) return { ok: false, reason: 'bad-signature' };
  return {
    ok: true,
    message: {
      id: e.id,
      from,
      fromName: body.name,
      fromKey: body.key,
      fromAgreementKey: body.agreementKey,
      sentAt: body.sentAt,
      content: body.content,
    },
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
