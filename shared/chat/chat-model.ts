/**
 * The user layer's data: what the UI and the simulator see (messages, contacts, conversations,
 * events), what it keeps on disk (profile, outbox entries), and the checks that disk, which is
 * untrusted, holds the shapes this code wrote.
 */
import { fromBase64Url, toBase64Url } from '../lib/encoding.ts';
import { idFromHex, idToHex } from '../lib/id.ts';
import type { Recipient } from './messages.ts';
import { parseRequestBody } from '../dht/protocol.ts';
import * as v from 'valibot';
import { OldEnvelopeWire, type EnvelopeWire } from './wire.ts';
import { isUsername, recordNodeId, type UserRecord } from './records.ts';
import { addChange, emptyLog, isGroupId, MAX_GROUP_MEMBERS, type GroupLog } from './groups.ts';

/**
 * How far a contact's name is confirmed (shared/chat/senders.ts decides):
 * - unverified: the contact came from a message; its name is a claim no record has confirmed.
 * - verified: the name's record resolved to the pinned key.
 * - mismatch: the record resolved to another key than the one that wrote first; the contact is
 *   now pinned to the record's key, and the earlier messages are shown as not from the name.
 */
export type Trust = 'unverified' | 'verified' | 'mismatch';

export type MessageStatus = 'queued' | 'sent' | 'stored' | 'delivered' | 'failed';

export interface ChatMessage {
  id: string;
  /** The other user's name: which conversation it belongs to. */
  peer: string;
  /** True for messages this user wrote. */
  out: boolean;
  text: string;
  /** The sender's clock; strictly increasing per sender, so it orders a sender's messages. */
  sentAt: number;
  /** Sender's side: where the message is. */
  status?: MessageStatus;
  /** Sender's side, with status "failed": why, in words for the user. */
  error?: string;
  /** Recipient's side: when it arrived here. */
  receivedAt?: number;
  /** Recipient's side: signed by a key other than the one pinned for `peer`. */
  keyMismatch?: boolean;
  /** Recipient's side: the key that signed it (base64url), which a later lookup of `peer` checks. */
  fromKey?: string;
  /**
   * The group it was written to (groups.ts id). `peer` is then who wrote it: the member's name
   * the group lists, or this user's own name for its own messages.
   */
  group?: string;
  /** Sender's side of a group message: the status of each member's copy, by member name. */
  copies?: Record<string, MessageStatus>;
}

export interface Contact {
  name: string;
  nodeId: string;
  /** Pinned keys, base64url. */
  signingKey: string;
  agreementKey: string;
  addedAt: number;
  /** Set when a record or a message showed another key for this name; never silently accepted. */
  warning?: string;
  /**
   * Whether the name's record resolved to the pinned key (senders.ts). Stored from issue 14 on;
   * ChatBook.load works it out for contacts stored before.
   */
  trust?: Trust;
}

export interface Conversation {
  peer: string;
  unread: number;
  lastAt: number;
}

export interface ChatOptions {
  events?: ChatEvents;
  /**
   * Settles when the node has joined: network work (publish, fetch, resend) waits for it, so
   * a tab can show its history before the network is there.
   */
  ready?: Promise<unknown>;
}

/** How an envelope reached its recipient. */
export type Via = 'deliver' | 'push' | 'fetch';

/** What the simulator's experiments watch; the UI uses subscribe(). */
export interface ChatEvents {
  /** A message was committed and shown here for the first time. */
  shown?(message: ChatMessage): void;
  /** A message from a sender the user never started or accepted a conversation with waits in message requests (requests.ts). */
  request?(request: MessageRequest): void;
  /** A message already shown was handed over again: routed by its sender, pushed by a holder, or fetched. */
  duplicate?(id: string, via: Via): void;
}

export interface Profile {
  name: string;
  registeredAt: number;
  /** The last record seq signed; each publish signs the next one. */
  seq: number;
}

export interface OutboxEntry {
  envelope: EnvelopeWire;
  /** A text (to a contact, or a member's copy of a group text), receipts, or a group change. */
  kind: 'text' | 'receipts' | 'group-change';
  /** The recipient's name and signing key (base64url), which its receipts must verify against. */
  peer: string;
  recipientKey: string;
  /** Consecutive attempts that reached nobody. */
  misses: number;
  /** A member's copy of a group text: the id of the message the sender's side shows. */
  of?: string;
}

/** A group this user is in or was invited to, with its conversation's state. */
export interface StoredGroup {
  log: GroupLog;
  /**
   * joined: made by this user, or by a contact it knows, or accepted; invited: a stranger's
   * group, shown as an invitation until the user accepts (no receipts go out until then).
   */
  status: 'joined' | 'invited';
  unread: number;
  lastAt: number;
}

/** An outbox entry written before envelopes sealed their sender in: ChatBook.load sets them aside. */
export type OldOutboxEntry = Omit<OutboxEntry, 'envelope'> & { envelope: OldEnvelopeWire };

export function recipientOf(c: Contact): Recipient {
  return { nodeId: idFromHex(c.nodeId)!, agreementKey: fromBase64Url(c.agreementKey)! };
}

export function contactFromRecord(r: UserRecord, now: number): Contact {
  return {
    name: r.name,
    nodeId: idToHex(recordNodeId(r)!), // the record was checked: its id has the work
    signingKey: toBase64Url(r.signingKey),
    agreementKey: toBase64Url(r.agreementKey),
    addedAt: now,
    trust: 'verified',
  };
}

export function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

// ---- Disk is untrusted: shapes this code wrote, checked before use ------------------------

const STATUSES: readonly string[] = ['queued', 'sent', 'stored', 'delivered', 'failed'];
const TRUSTS: readonly string[] = ['unverified', 'verified', 'mismatch'];
const isTime = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isKey = (v: unknown): boolean => typeof v === 'string' && fromBase64Url(v)?.length === 32;

export function isProfile(v: unknown): v is Profile {
  const p = v as Profile | undefined;
  return typeof p === 'object' && p !== null && isUsername(p.name) && isTime(p.registeredAt) && isTime(p.seq);
}

export function isContact(v: unknown): v is Contact {
  const c = v as Contact | undefined;
  return typeof c === 'object' && c !== null && isUsername(c.name) && idFromHex(c.nodeId) !== null && isKey(c.signingKey) && isKey(c.agreementKey) && isTime(c.addedAt) &&
    (c.trust === undefined || TRUSTS.includes(c.trust));
}

export function isMessage(v: unknown): v is ChatMessage {
  const m = v as ChatMessage | undefined;
  return (
    typeof m === 'object' && m !== null && typeof m.id === 'string' && isUsername(m.peer) && typeof m.out === 'boolean' &&
    typeof m.text === 'string' && isTime(m.sentAt) && (m.status === undefined || STATUSES.includes(m.status)) &&
    (m.fromKey === undefined || isKey(m.fromKey)) && (m.group === undefined || isGroupId(m.group)) && (m.copies === undefined || isCopies(m.copies))
  );
}

function isCopies(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const entries = Object.entries(v);
  return entries.length <= MAX_GROUP_MEMBERS && entries.every(([name, status]) => isUsername(name) && STATUSES.includes(status as string));
}

/** A stored group: its log rebuilt change by change through addChange, so each is checked again. */
export function isStoredGroup(v: unknown, id: string): v is StoredGroup {
  const g = v as StoredGroup | undefined;
  if (typeof g !== 'object' || g === null || (g.status !== 'joined' && g.status !== 'invited') || !isTime(g.unread) || !isTime(g.lastAt)) return false;
  const log = g.log;
  if (typeof log !== 'object' || log === null || log.id !== id || !Array.isArray(log.snapshots) || !Array.isArray(log.leaves)) return false;
  let rebuilt = emptyLog(id);
  const changes = [
    ...log.snapshots.map((s) => ({ change: { kind: 'snapshot' as const, snapshot: s?.snapshot }, author: s?.author, at: s?.at })),
    ...log.leaves.map((l) => ({ change: { kind: 'leave' as const, id, at: l?.at }, author: l?.author })),
  ];
  for (const c of changes) {
    const r = addChange(rebuilt, c);
    if (!r.ok) return false;
    rebuilt = r.log;
  }
  return true;
}

export function isConversation(v: unknown): v is Conversation {
  const c = v as Conversation | undefined;
  return typeof c === 'object' && c !== null && isUsername(c.peer) && isTime(c.unread) && isTime(c.lastAt);
}

export function isOutboxEntry(v: unknown): v is OutboxEntry {
  const e = v as OutboxEntry | undefined;
  return (
    typeof e === 'object' && e !== null && (e.kind === 'text' || e.kind === 'receipts' || e.kind === 'group-change') && isUsername(e.peer) && isKey(e.recipientKey) &&
    isTime(e.misses) && (e.of === undefined || (e.kind === 'text' && /^[0-9a-f]{32}$/.test(e.of))) && parseRequestBody('DELIVER', { envelope: e.envelope }) !== null
  );
}

/** An outbox entry of the first envelope format (outbox.ts resealOldEntries seals its text again). */
export function isOldOutboxEntry(x: unknown): x is OldOutboxEntry {
  const e = x as OldOutboxEntry | undefined;
  return (
    typeof e === 'object' && e !== null && (e.kind === 'text' || e.kind === 'receipts') && isUsername(e.peer) && isKey(e.recipientKey) &&
    isTime(e.misses) && v.is(OldEnvelopeWire, e.envelope)
  );
}

/**
 * A message request (requests.ts): one sender's waiting messages, from a key the user never
 * wrote to or accepted; who it claims to be, its proven keys, what it wrote.
 */
export interface MessageRequest {
  /** The signing key that wrote (base64url): the request's key. */
  key: string;
  /** The name it claims: its word only, shown "not verified" until looked up. */
  name: string;
  nodeId: string;
  agreementKey: string;
  /** When its first message arrived here. */
  firstAt: number;
  /** At most REQUEST_MESSAGES_PER_SENDER, in arrival order. */
  messages: ChatMessage[];
}
