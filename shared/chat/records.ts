/**
 * Signed user records: username -> (signing key, agreement key), stored at the r nodes closest
 * to the name's key (ARCHITECTURE.md, "Names"). This file creates, checks and chooses between
 * records; storing and routing them is the node's job.
 */
import { NAME_CONTEST_WINDOW_MS, RECORD_TTL_MS, USERNAME_PATTERN } from './constants.ts';
import { KEY_BYTES, SIGNATURE_BYTES, type CryptoOps, type Identity } from '../lib/crypto.ts';
import { concatBytes, fromBase64Url, lengthPrefixed, toBase64Url, uint64, utf8Encode } from '../lib/encoding.ts';
import { ErrorCode, PeerchatError } from '../lib/errors.ts';
import type { UserRecordWire } from './wire.ts';
import { idEquals, legacyNodeId, nodeIdFromSigningKey, userKey, type NodeId } from '../lib/id.ts';

export interface UserRecord {
  name: string;
  signingKey: Uint8Array;
  agreementKey: Uint8Array;
  /**
   * The nonce that gives the signing key its node id, the owner's mailbox address (lib/id.ts).
   * Signed. Absent only in records signed before ids cost work: such a record still holds its
   * name, and its address is the old one (legacyNodeId) until the owner returns and re-signs.
   */
  idNonce?: number;
  /**
   * When the name was first claimed (ms since epoch), by its owner's word; kept unchanged across
   * refreshes. Signed, shown, and never used to choose between keys: anyone can write 0 here.
   */
  registeredAt: number;
  /** Raised by the owner on every refresh; only a higher seq from the same key replaces. */
  seq: number;
  expiresAt: number;
  signature: Uint8Array;
}

export type RecordCheck = 'ok' | 'bad-name' | 'bad-work' | 'bad-signature' | 'expired' | 'bad-times';

/** How far another node's clock may run ahead of ours before its times look forged. */
export const RECORD_CLOCK_SKEW_MS = 3600_000;

const RECORD_TAG = utf8Encode('peerchat-record-v1');
/** Records that carry an id nonce: a distinct tag, so one form cannot pass as the other. */
const RECORD_TAG_V2 = utf8Encode('peerchat-record-v2');

/** Trims and lowercases; null unless the result is 3-32 characters of [a-z0-9_-]. */
export function normalizeUsername(input: string): string | null {
  if (typeof input !== 'string') return null;
  const name = input.trim().toLowerCase();
  return USERNAME_PATTERN.test(name) ? name : null;
}

/** A stored or received name: already in normal form, as every name we write is. */
export function isUsername(v: unknown): v is string {
  return typeof v === 'string' && normalizeUsername(v) === v;
}

/** normalizeUsername for input a user typed: the name, or an INVALID_NAME error that says the rule. */
export function usernameOrThrow(input: string): string {
  const name = normalizeUsername(input);
  if (name === null) throw new PeerchatError(ErrorCode.InvalidName, 'A username is 3 to 32 characters of a-z, 0-9, _ and -.');
  return name;
}

/** The DHT key a record is stored under: SHA-256("user:" + name), first 160 bits. */
export function recordKey(name: string): NodeId {
  return userKey(name);
}

function isTime(n: unknown): n is number {
  return Number.isSafeInteger(n) && (n as number) >= 0;
}


/**
 * What a record's signature covers: the domain tag and every other field, each variable-length
 * field prefixed with its length and each number as 8 big-endian bytes, so no two different
 * records share an encoding and no other signed message (HELLO, envelopes) can pass as one.
 * Numbers must be non-negative safe integers (checked by the callers).
 */
export function recordSignedBytes(record: Omit<UserRecord, 'signature'>): Uint8Array {
  const v2 = record.idNonce !== undefined;
  return concatBytes(
    lengthPrefixed(v2 ? RECORD_TAG_V2 : RECORD_TAG),
    lengthPrefixed(utf8Encode(record.name)),
    lengthPrefixed(record.signingKey),
    lengthPrefixed(record.agreementKey),
    uint64(record.registeredAt),
    uint64(record.seq),
    uint64(record.expiresAt),
    v2 ? uint64(record.idNonce!) : new Uint8Array(0),
  );
}

/**
 * The owner's node id, where its mail goes: key and nonce with the network's work, or null when
 * the nonce carries too little; a record from before ids cost work names the old address.
 */
export function recordNodeId(record: Pick<UserRecord, 'signingKey' | 'idNonce'>): NodeId | null {
  return record.idNonce === undefined ? legacyNodeId(record.signingKey) : nodeIdFromSigningKey(record.signingKey, record.idNonce);
}

/** Signs a record for `identity`, valid for RECORD_TTL_MS from `now`. */
export async function createRecord(
  identity: Identity,
  ops: CryptoOps,
  fields: { name: string; registeredAt: number; seq: number; now: number },
): Promise<UserRecord> {
  if (normalizeUsername(fields.name) !== fields.name) {
    throw new PeerchatError(ErrorCode.InvalidName, 'A username is 3-32 characters of a-z, 0-9, _ and -; normalize it first.');
  }
  if (!isTime(fields.registeredAt) || !isTime(fields.seq) || !isTime(fields.now)) {
    throw new PeerchatError(ErrorCode.BadRequest, 'registeredAt, seq and now must be non-negative integers.');
  }
  const unsigned = {
    name: fields.name,
    signingKey: identity.signingPublic,
    agreementKey: identity.agreementPublic,
    idNonce: identity.idNonce,
    registeredAt: fields.registeredAt,
    seq: fields.seq,
    expiresAt: fields.now + RECORD_TTL_MS,
  };
  return { ...unsigned, signature: await ops.sign(identity, recordSignedBytes(unsigned)) };
}

function timesAreSane(record: UserRecord, now: number): boolean {
  const { registeredAt, seq, expiresAt } = record;
  if (!isTime(registeredAt) || !isTime(seq) || !isTime(expiresAt)) return false;
  return (
    expiresAt <= now + RECORD_TTL_MS + RECORD_CLOCK_SKEW_MS &&
    registeredAt <= expiresAt &&
    registeredAt <= now + RECORD_CLOCK_SKEW_MS
  );
}

/** Checks a record from the network. The cheap checks run first; the signature check is last. */
export async function verifyRecord(record: UserRecord, now: number, ops: CryptoOps): Promise<RecordCheck> {
  if (normalizeUsername(record.name) !== record.name) return 'bad-name';
  if (!timesAreSane(record, now)) return 'bad-times';
  if (record.expiresAt <= now) return 'expired';
  if (recordNodeId(record) === null) return 'bad-work';
  const valid = await ops.verify(record.signingKey, record.signature, recordSignedBytes(record));
  return valid ? 'ok' : 'bad-signature';
}

/** A record a holder keeps, and when it first stored a record for that name (its own clock). */
export interface HeldName {
  record: UserRecord;
  since: number;
}

/**
 * Inside the contest window: how many distinct holders among the name's r closest (by this
 * holder's own table) pushed this holder a record with this signing key (their latest push
 * each). Owners' own (routed) stores count 0.
 */
export type Backing = (signingKey: Uint8Array) => number;

/**
 * Which record a holder keeps for a name, given `incoming` already passed verifyRecord. Nothing
 * a record says about itself decides between keys (`registeredAt` is its owner's word):
 * - the same key with a higher seq replaces (an old copy cannot roll a refresh back);
 * - otherwise the first record a holder keeps stays: first come, by the holder's own clock;
 * - except inside the holder's first NAME_CONTEST_WINDOW_MS with the name, when `quorum` (a
 *   majority of the name's r closest) or more of the other holders pushed another key, and
 *   more than pushed the one kept: a holder new to a name follows the others, and of two
 *   simultaneous Joins the one most holders kept first wins everywhere (an even split stays
 *   contested: majorityRecord resolves it to no one, and both Joins are told so).
 * Nothing that costs a record's signer only work decides: the lower hash of name and key used to
 * settle contests inside the window, and a liar near the name ground a key whose hash won it,
 * then the honest holders pushed the liar's record to each other (bench/results/adversary.json).
 */
export function chooseRecord(held: HeldName | undefined, incoming: UserRecord, now: number, backing: Backing = () => 0, quorum = Infinity): 'keep' | 'replace' {
  if (incoming.expiresAt <= now) return 'keep'; // defensive: an expired record never wins
  if (held === undefined || held.record.expiresAt <= now) return 'replace';
  const current = held.record;
  if (idEquals(current.signingKey, incoming.signingKey)) return incoming.seq > current.seq ? 'replace' : 'keep';
  if (now - held.since >= NAME_CONTEST_WINDOW_MS) return 'keep';
  const pushed = backing(incoming.signingKey);
  return pushed >= quorum && pushed > backing(current.signingKey) ? 'replace' : 'keep';
}

/** The pushes a holder needs to change keys inside the window: a majority of the r closest. */
export function contestQuorum(r: number): number {
  return Math.floor(r / 2) + 1;
}

/**
 * Whether `incoming` could change what a holder keeps, before anyone checks it: past the
 * window only the same key with a higher seq can (and pushes no longer count as votes), so
 * anything else is not worth a signature check. Holders push records to each other all the
 * time, and a neighbour could otherwise make a holder verify forged records at will.
 */
export function couldReplace(held: HeldName | undefined, incoming: UserRecord, now: number): boolean {
  if (held === undefined || held.record.expiresAt <= now) return true;
  if (now - held.since < NAME_CONTEST_WINDOW_MS) return true;
  return idEquals(held.record.signingKey, incoming.signingKey) && incoming.seq > held.record.seq;
}

/** What the holders of a name answered, counted: found only when a majority agrees. */
export type Resolution =
  | { status: 'found'; record: UserRecord; holders: number; of: number }
  | { status: 'none' }
  | { status: 'contested'; of: number };

/**
 * The record the majority of answering holders keep: answers are grouped by signing key, and a
 * key wins with more than half of all the answers, those of holders that hold nothing included
 * (a vote for "not stored"). Not counting them let one holder's record be the majority: a name
 * whose STOREs liars dropped sat at one or two holders, and a backdated record that reached the
 * rest first took it (bench/results/adversary.json, 2026-12-05). Of the winner's copies the
 * highest seq is returned. `abstained`: holders known to exist that did not answer (a liar on
 * each path to them), counted in what a majority must exceed, so the liars' answers cannot win
 * by silencing the rest. A minority of lying holders cannot change the answer; with records
 * but no majority the name is contested and resolves to no one; with no record at all, none.
 */
export function majorityRecord(answers: readonly (UserRecord | null)[], abstained = 0): Resolution {
  const byKey = new Map<string, UserRecord[]>();
  const of = answers.length + abstained;
  for (const record of answers) {
    if (!record) continue;
    const k = toBase64Url(record.signingKey);
    const group = byKey.get(k);
    if (group) group.push(record);
    else byKey.set(k, [record]);
  }
  if (byKey.size === 0) return { status: 'none' };
  for (const group of byKey.values()) {
    if (2 * group.length <= of) continue;
    const record = group.reduce((a, b) => (b.seq > a.seq ? b : a));
    return { status: 'found', record, holders: group.length, of };
  }
  return { status: 'contested', of };
}

export function recordToWire(record: UserRecord): UserRecordWire {
  return {
    name: record.name,
    signingKey: toBase64Url(record.signingKey),
    agreementKey: toBase64Url(record.agreementKey),
    ...(record.idNonce === undefined ? {} : { n: record.idNonce }),
    registeredAt: record.registeredAt,
    seq: record.seq,
    expiresAt: record.expiresAt,
    sig: toBase64Url(record.signature),
  };
}

/** Semantic checks on a shape-checked wire record; null if any field cannot be right. */
export function recordFromWire(wire: UserRecordWire): UserRecord | null {
  if (normalizeUsername(wire.name) !== wire.name) return null;
  if (!isTime(wire.registeredAt) || !isTime(wire.seq) || !isTime(wire.expiresAt)) return null;
  const signingKey = fromBase64Url(wire.signingKey);
  const agreementKey = fromBase64Url(wire.agreementKey);
  const signature = fromBase64Url(wire.sig);
  if (signingKey?.length !== KEY_BYTES || agreementKey?.length !== KEY_BYTES) return null;
  if (signature?.length !== SIGNATURE_BYTES) return null;
  return {
    name: wire.name,
    signingKey,
    agreementKey,
    ...(wire.n === undefined ? {} : { idNonce: wire.n }),
    registeredAt: wire.registeredAt,
    seq: wire.seq,
    expiresAt: wire.expiresAt,
    signature,
  };
}
