/**
 * Groups' membership (ARCHITECTURE.md, "Groups"): who is in a group is decided by the changes
 * its admins sign, not by any one copy of the member list.
 *
 * A change is either a snapshot (the whole membership at a version: name, admins, members with
 * their pinned keys), written by the creator at version 1 and by an admin after, or a member's
 * leave. Changes travel as messages, sealed and signed by their author pairwise to each member
 * (so the envelope's signature says who wrote one), and arrive in any order: a member away for
 * days gets them interleaved with other members' texts, in order only per author.
 *
 * So the group is a function of the SET of changes a member holds, never of their order:
 * `groupState` folds the snapshots sorted by (version, author key), each applied only if its
 * author is an admin of the state before it (the first: the creator's own version 1, or, for a
 * member added later who never saw the start, the earliest snapshot it was sent, which it takes
 * on the word of the admin who added it), then removes every member who left after the time
 * its entry was added. Two admins who write the same version concurrently: the higher author
 * key's list wins, for everyone, and the other admin makes its edit again on top of it
 * (overtakenEdit, GroupChat.remakeLost), so neither change is lost.
 * Every member that holds the same changes computes the same group.
 */
import { fromBase64Url } from '../lib/encoding.ts';
import { isValidIdHex } from '../lib/id.ts';
import { isUsername } from './records.ts';

export const MAX_GROUP_MEMBERS = 32;
export const MAX_GROUP_NAME_CHARS = 64;
/** Changes a member keeps per group; beyond, new ones are refused (a flood by one admin). */
export const MAX_GROUP_CHANGES = 1_000;

export interface GroupMember {
  name: string;
  nodeId: string;
  /** Pinned keys (base64url), as contacts pin them. */
  signingKey: string;
  agreementKey: string;
  /** The admin's clock when this entry was added: a leave after it removes the member. */
  addedAt: number;
}

/** The membership at one version, as its author signed it (inside the envelope). */
export interface GroupSnapshot {
  /** 16 random bytes in hex, drawn by the creator. */
  id: string;
  name: string;
  version: number;
  /** The creator's signing key: fixed for the group's life. */
  creator: string;
  /** Signing keys that may write the next version; each is a member's. */
  admins: string[];
  members: GroupMember[];
}

export type GroupChange =
  | { kind: 'snapshot'; snapshot: GroupSnapshot }
  /** A member leaves, at its own clock. */
  | { kind: 'leave'; id: string; at: number };

/** A change with the signing key that wrote it: the verified sender of its envelope. */
export interface AuthoredChange {
  change: GroupChange;
  author: string;
  /**
   * The author's clock when it sent the change (its envelope's signed time): when a snapshot
   * took effect, so that texts written before it still show (memberWhen). Logs kept before it
   * was recorded lack it.
   */
  at?: number;
}

/** What a member keeps of a group: every change it was sent, deduplicated. */
export interface GroupLog {
  id: string;
  snapshots: Array<{ snapshot: GroupSnapshot; author: string; at?: number }>;
  leaves: Array<{ author: string; at: number }>;
}

export interface Group {
  id: string;
  name: string;
  version: number;
  creator: string;
  admins: string[];
  members: GroupMember[];
  /** The author of the version in force. */
  by: string;
  /** Whether `me` is a member of the version in force. */
  member: boolean;
}

export type GroupRefusal =
  /** Not a well-formed change (sizes, names, keys, duplicates, admins that are not members). */
  | 'bad-change'
  /** The log already holds MAX_GROUP_CHANGES. */
  | 'too-many-changes'
  /** A change for another group than the log's. */
  | 'other-group'
  /** Already in the log. */
  | 'duplicate';

const isKey = (v: unknown): v is string => typeof v === 'string' && fromBase64Url(v)?.length === 32;
const isTime = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
export const isGroupId = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{32}$/.test(v);

/** A group name: 1 to MAX_GROUP_NAME_CHARS characters, trimmed, without control characters. */
export function isGroupName(v: unknown): v is string {
  return typeof v === 'string' && v === v.trim() && v.length > 0 && [...v].length <= MAX_GROUP_NAME_CHARS && !/\p{Cc}/u.test(v);
}

function isMember(v: unknown): v is GroupMember {
  const m = v as GroupMember | null;
  return typeof m === 'object' && m !== null && isUsername(m.name) && isValidIdHex(m.nodeId) && isKey(m.signingKey) && isKey(m.agreementKey) && isTime(m.addedAt);
}

/** Whether an untrusted value is a well-formed snapshot: the checks before any rule. */
export function isGroupSnapshot(v: unknown): v is GroupSnapshot {
  const s = v as GroupSnapshot | null;
  if (typeof s !== 'object' || s === null || !isGroupId(s.id) || !isGroupName(s.name) || !Number.isSafeInteger(s.version) || s.version < 1) return false;
  if (!isKey(s.creator) || !Array.isArray(s.admins) || !Array.isArray(s.members)) return false;
  if (s.members.length === 0 || s.members.length > MAX_GROUP_MEMBERS || !s.members.every(isMember)) return false;
  const keys = new Set(s.members.map((m) => m.signingKey));
  const names = new Set(s.members.map((m) => m.name));
  if (keys.size !== s.members.length || names.size !== s.members.length) return false;
  return s.admins.length > 0 && s.admins.every((a) => keys.has(a)) && new Set(s.admins).size === s.admins.length;
}

export function isGroupChange(v: unknown): v is GroupChange {
  const c = v as GroupChange | null;
  if (typeof c !== 'object' || c === null) return false;
  if (c.kind === 'snapshot') return isGroupSnapshot(c.snapshot);
  return c.kind === 'leave' && isGroupId(c.id) && isTime(c.at);
}

export function groupIdOf(change: GroupChange): string {
  return change.kind === 'snapshot' ? change.snapshot.id : change.id;
}

/** Only the fields this code knows, in a fixed order: what is kept and compared. */
function canonical(s: GroupSnapshot): GroupSnapshot {
  return {
    id: s.id,
    name: s.name,
    version: s.version,
    creator: s.creator,
    admins: [...s.admins],
    members: s.members.map((m) => ({ name: m.name, nodeId: m.nodeId, signingKey: m.signingKey, agreementKey: m.agreementKey, addedAt: m.addedAt })),
  };
}

export function emptyLog(id: string): GroupLog {
  return { id, snapshots: [], leaves: [] };
}

/**
 * The log with `c` added, or why not. Nothing here decides whether the author may make the
 * change: groupState does, over the whole set, so the order changes arrive in cannot matter.
 */
export function addChange(log: GroupLog, c: AuthoredChange): { ok: true; log: GroupLog } | { ok: false; reason: GroupRefusal } {
  if (!isGroupChange(c.change) || !isKey(c.author) || (c.at !== undefined && !isTime(c.at))) return { ok: false, reason: 'bad-change' };
  if (groupIdOf(c.change) !== log.id) return { ok: false, reason: 'other-group' };
  if (log.snapshots.length + log.leaves.length >= MAX_GROUP_CHANGES) return { ok: false, reason: 'too-many-changes' };
  if (c.change.kind === 'leave') {
    const { at } = c.change;
    if (log.leaves.some((l) => l.author === c.author && l.at === at)) return { ok: false, reason: 'duplicate' };
    return { ok: true, log: { ...log, leaves: [...log.leaves, { author: c.author, at }] } };
  }
  const snapshot = canonical(c.change.snapshot);
  const entry = c.at === undefined ? { snapshot, author: c.author } : { snapshot, author: c.author, at: c.at };
  // One author writes one list per version; a second is a duplicate or an equivocation, and the
  // first kept is as good as any for convergence only if everyone keeps the same one, so the
  // lower in a fixed order (its JSON, then its time) is kept.
  const same = log.snapshots.findIndex((s) => s.author === c.author && s.snapshot.version === snapshot.version);
  if (same >= 0) {
    if (rank(entry) >= rank(log.snapshots[same]!)) return { ok: false, reason: 'duplicate' };
    const snapshots = [...log.snapshots];
    snapshots[same] = entry;
    return { ok: true, log: { ...log, snapshots } };
  }
  return { ok: true, log: { ...log, snapshots: [...log.snapshots, entry] } };
}

/**
 * The group as the log's changes make it, for the member whose signing key is `me`; null while
 * no snapshot in the log can start it (none yet, or none whose author was one of its admins).
 */
export function groupState(log: GroupLog, me: string): Group | null {
  const last = taken(log).at(-1);
  if (last === undefined) return null;
  const { snapshot, author } = last;
  // The latest leave of each key removes its entry if the entry was added before it.
  const left = latestLeaves(log);
  const members = snapshot.members.filter((m) => !(left.has(m.signingKey) && left.get(m.signingKey)! >= m.addedAt));
  const keys = new Set(members.map((m) => m.signingKey));
  return { id: snapshot.id, name: snapshot.name, version: snapshot.version, creator: snapshot.creator, admins: snapshot.admins.filter((a) => keys.has(a)), members, by: author, member: keys.has(me) };
}

/**
 * The entry under which `key` was a member when it wrote at `at` (its own clock), or null: the
 * version in force lists it and it had not left by then (at any time before: its clock and the
 * adding admin's differ, and a new member's first text must not wait for ever), or an earlier
 * version listed it and the version that dropped it was made after `at`. So a text written just before its author left or
 * was removed still shows to members who were away and learn both at once. The author's clock is
 * its own word: a removed member can have a text shown as written before its removal, never
 * after it. A snapshot kept without its time (logs from before it was recorded) counts as made
 * before any text.
 */
export function memberWhen(log: GroupLog, key: string, at: number): GroupMember | null {
  let entry: GroupMember | null = null;
  for (const s of taken(log)) {
    const listed = s.snapshot.members.find((m) => m.signingKey === key);
    if (listed) {
      entry = listed;
      continue;
    }
    if (entry !== null && s.at !== undefined && at < s.at) return entry;
    entry = null;
  }
  if (entry === null) return null;
  const left = latestLeaves(log).get(key);
  return left !== undefined && left >= entry.addedAt && at >= left ? null : entry;
}

/** What an admin's snapshot changed from the version it was written on. */
export interface GroupEdit {
  /** Entries it added, with the time each was added (a later leave still removes them). */
  added: GroupMember[];
  /** Signing keys of the members it removed. */
  removed: string[];
  /** The name it gave, when it renamed the group. */
  name?: string;
}

/**
 * The edit of `me`'s latest snapshot when a concurrent one overtook it, else null. Two admins
 * who write the same version each start from the version before; the fold takes the higher
 * author key's last, so the group is that list and the other admin's additions and removals
 * are gone. The overtaken admin (GroupChat.remakeLost) makes its edit again on the group as it
 * is, so no admin's change is lost in silence. Null when its latest snapshot stands, was not
 * taken (it was no admin then), or is version 1 (only the creator writes it).
 */
export function overtakenEdit(log: GroupLog, me: string): GroupEdit | null {
  const order = taken(log);
  let latest = 0;
  for (const s of log.snapshots) if (s.author === me) latest = Math.max(latest, s.snapshot.version);
  let at = -1;
  for (let i = 0; i < order.length; i++) if (order[i]!.author === me && order[i]!.snapshot.version === latest) at = i;
  if (at < 0) return null;
  const mine = order[at]!.snapshot;
  if (!order.slice(at + 1).some((s) => s.snapshot.version === mine.version)) return null;
  let base: GroupSnapshot | undefined;
  for (const s of order.slice(0, at)) if (s.snapshot.version < mine.version) base = s.snapshot;
  if (base === undefined) return null;
  const before = new Set(base.members.map((m) => m.signingKey));
  const after = new Set(mine.members.map((m) => m.signingKey));
  const edit: GroupEdit = {
    added: mine.members.filter((m) => !before.has(m.signingKey)),
    removed: base.members.filter((m) => !after.has(m.signingKey)).map((m) => m.signingKey),
  };
  if (mine.name !== base.name) edit.name = mine.name;
  return edit;
}

/**
 * The snapshots the fold takes, in its order: sorted by (version, author key), each only if its
 * author is an admin of the one before (the start: the creator's version 1, or the earliest an
 * admin of it sent: a member added later was sent the group as it was then, on the word of the
 * admin who added it).
 */
function taken(log: GroupLog): GroupLog['snapshots'] {
  let out = takenByLog.get(log);
  if (out === undefined) takenByLog.set(log, (out = fold(log)));
  return out;
}

/**
 * Each log's taken snapshots, worked out once: a log is replaced on every change, never changed
 * in place, and an arriving text asks memberWhen twice (its signer, this user).
 */
const takenByLog = new WeakMap<GroupLog, GroupLog['snapshots']>();

function fold(log: GroupLog): GroupLog['snapshots'] {
  const sorted = [...log.snapshots].sort((a, b) => a.snapshot.version - b.snapshot.version || (a.author < b.author ? -1 : a.author > b.author ? 1 : 0));
  const out: GroupLog['snapshots'] = [];
  let prev: GroupSnapshot | null = null;
  for (const s of sorted) {
    const { snapshot, author } = s;
    if (prev === null) {
      if (!snapshot.admins.includes(author) || (snapshot.version === 1 && author !== snapshot.creator)) continue;
    } else if (snapshot.creator !== prev.creator || !prev.admins.includes(author)) {
      continue;
    }
    out.push(s);
    prev = snapshot;
  }
  return out;
}

/** A snapshot entry's place in the fixed order that picks one of an author's lists per version. */
function rank(e: GroupLog['snapshots'][number]): string {
  return `${JSON.stringify(e.snapshot)} ${e.at ?? -1}`;
}

/** Each key's latest leave. */
function latestLeaves(log: GroupLog): Map<string, number> {
  const left = new Map<string, number>();
  for (const l of log.leaves) left.set(l.author, Math.max(left.get(l.author) ?? -1, l.at));
  return left;
}
