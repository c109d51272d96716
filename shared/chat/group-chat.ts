/**
 * Groups for a user (ARCHITECTURE.md, "Groups"): making one, changing who is in it, writing to
 * it, and what arrives for it. Membership is groups.ts's set of signed changes; everything
 * travels pairwise: each change and each text is one envelope per member, sent through the
 * outbox like any message (DELIVER, else the member's holders; receipts; tombstones), so a
 * member away for days gets all of it when it returns.
 *
 * Arriving:
 * - a change joins the group's log (groups.ts addChange) and the group is what the log makes it.
 *   A group this user is not in is not kept. One first made by a stranger (a name the user never
 *   looked up or accepted) is an invitation: kept, shown, without receipts, until accepted.
 * - a text is shown in its group if the group lists its signer (its name is the one the group
 *   gives that key, not the one the sender sealed in). A text from a signer the group does not
 *   list yet, or for a group not known yet, waits in memory (bounded) for the change that adds
 *   it: it is not acknowledged meanwhile, so its holders keep it and nothing is lost if the
 *   tab closes first.
 */
import type { ChatBook } from './chat-book.ts';
import { withoutUndefined, type ChatEvents, type ChatMessage, type Contact, type MessageStatus, type OutboxEntry, type StoredGroup } from './chat-model.ts';
import { MAX_MESSAGE_BODY_BYTES } from './constants.ts';
import type { Identity } from '../lib/crypto.ts';
import { fromBase64Url, toBase64Url, utf8Encode } from '../lib/encoding.ts';
import { ErrorCode, PeerchatError } from '../lib/errors.ts';
import { idFromHex, idToHex } from '../lib/id.ts';
import type { StoreOp } from '../lib/store.ts';
import { addChange, emptyLog, groupIdOf, groupState, isGroupName, MAX_GROUP_MEMBERS, memberWhen, overtakenEdit, type Group, type GroupChange, type GroupLog, type GroupMember, type GroupSnapshot } from './groups.ts';
import { createEnvelope, MESSAGE_ID_BYTES } from './messages.ts';
import type { Outbox } from './outbox.ts';

/** Invitations from strangers kept at once; past it, a new one is dropped and counted. */
export const MAX_GROUP_INVITATIONS = 20;
/**
 * Changes an invitation (a group the user has not joined) keeps: a stranger's group could
 * otherwise fill the disk with up to MAX_GROUP_CHANGES lists of 32 members each, 20 times over.
 */
export const MAX_INVITATION_CHANGES = 50;
/** Texts waiting for the change that adds their signer, over all groups. */
export const MAX_PENDING_GROUP_TEXTS = 500;
/** Leaves waiting for their group's first snapshot, over all groups. */
export const MAX_PENDING_GROUP_LEAVES = 100;

/** A sender as its envelope proves it: the signing key, and what it sealed in. */
export interface GroupSender {
  name: string;
  nodeId: string;
  signingKey: string;
  agreementKey: string;
}

export interface GroupText {
  id: string;
  sender: GroupSender;
  sentAt: number;
  group: string;
  text: string;
}

/** What became of an arrival: as Inbox's Received, and 'pending' (kept in memory, not acknowledged). */
export type GroupArrival = 'shown' | 'seen' | 'request' | 'dropped' | 'pending';

/** What the UI lists of a group. */
export interface GroupView extends Group {
  status: StoredGroup['status'];
  unread: number;
  lastAt: number;
}

interface Pending {
  text: GroupText;
  /** Called once it is placed: a held copy's tombstone goes out then. */
  placed: () => void;
}

/** A leave that arrived before any snapshot of its group. */
interface PendingLeave {
  envelopeId: string;
  sender: GroupSender;
  change: GroupChange;
  sentAt: number;
  placed: () => void;
}

export class GroupChat {
  private readonly pending: Pending[] = [];
  private readonly pendingLeaves: PendingLeave[] = [];
  /**
   * Groups with a change of this user's being sealed and committed (change): one at a time, so
   * this user never signs two lists of the same version (a remade one and the user's own).
   */
  private readonly changing = new Set<string>();
  private readonly me: string;

  constructor(
    private readonly book: ChatBook,
    private readonly outbox: Outbox,
    private readonly identity: Identity,
    private readonly name: string,
    private readonly events: ChatEvents,
    /** Queues a receipt to a sender, sealed back with the next answer (Inbox). */
    private readonly oweReceipt: (sender: GroupSender, id: string) => void,
  ) {
    this.me = toBase64Url(identity.signingPublic);
  }

  /**
   * Each log's group (groups.ts groupState, a sort and a fold), kept while that log is held: a
   * log is replaced on every change, never changed in place, so the UI's reads on every change
   * fold only the group that changed.
   */
  private readonly states = new WeakMap<GroupLog, Group | null>();

  private stateOf(log: GroupLog): Group | null {
    let state = this.states.get(log);
    if (state === undefined) this.states.set(log, (state = groupState(log, this.me)));
    return state;
  }

  /** The groups this user is in or invited to, the most recent first. */
  list(): GroupView[] {
    const out: GroupView[] = [];
    for (const g of this.book.groups.values()) {
      const state = this.stateOf(g.log);
      if (state) out.push({ ...state, status: g.status, unread: g.unread, lastAt: g.lastAt });
    }
    return out.sort((a, b) => b.lastAt - a.lastAt || (a.id < b.id ? -1 : 1));
  }

  state(id: string): Group | null {
    const g = this.book.groups.get(id);
    return g ? this.stateOf(g.log) : null;
  }

  messagesIn(id: string): ChatMessage[] {
    const out: ChatMessage[] = [];
    for (const m of this.book.messages.values()) if (m.group === id) out.push(structuredClone(m));
    return out.sort((a, b) => a.sentAt - b.sentAt || (a.id < b.id ? -1 : 1));
  }

  /**
   * Makes a group of this user (its creator and only admin) and `contacts` (looked up by the
   * caller, so their keys are pinned); every member gets version 1. Returns the group's id.
   */
  async create(name: string, contacts: Contact[]): Promise<string> {
    const { node } = this.book;
    const groupName = name.trim();
    if (!isGroupName(groupName)) throw new PeerchatError(ErrorCode.BadRequest, 'A group name is 1 to 64 characters.');
    const others = [...new Map(contacts.filter((c) => c.name !== this.name).map((c) => [c.name, c])).values()];
    if (others.length === 0) throw new PeerchatError(ErrorCode.BadRequest, 'Add at least one member: a group needs someone to talk to.');
    if (others.length + 1 > MAX_GROUP_MEMBERS) throw new PeerchatError(ErrorCode.BadRequest, `A group has at most ${MAX_GROUP_MEMBERS} members, you included.`);
    const now = node.clock.now();
    const snapshot: GroupSnapshot = {
      id: idToHex(node.random.bytes(MESSAGE_ID_BYTES)),
      name: groupName,
      version: 1,
      creator: this.me,
      admins: [this.me],
      members: [this.self(now), ...others.map((c) => memberOf(c, now))],
    };
    await this.change(snapshot.id, { kind: 'snapshot', snapshot }, now, 'joined');
    return snapshot.id;
  }

  /** An admin adds `contacts` to and removes `remove` (member names) from a group. */
  async changeMembers(id: string, add: Contact[], remove: string[]): Promise<void> {
    const { node } = this.book;
    const state = this.joined(id);
    if (!state.admins.includes(this.me)) throw new PeerchatError(ErrorCode.Rejected, 'Only the group’s admins can change who is in it.');
    const now = node.clock.now();
    const kept = state.members.filter((m) => !remove.includes(m.name) || m.signingKey === this.me);
    const added = add.filter((c) => !kept.some((m) => m.name === c.name || m.signingKey === c.signingKey)).map((c) => memberOf(c, now));
    const members = [...kept, ...added];
    if (members.length > MAX_GROUP_MEMBERS) throw new PeerchatError(ErrorCode.BadRequest, `A group has at most ${MAX_GROUP_MEMBERS} members, you included.`);
    const keys = new Set(members.map((m) => m.signingKey));
    const snapshot: GroupSnapshot = { ...state, version: state.version + 1, admins: state.admins.filter((a) => keys.has(a)), members };
    // Who was removed is told too: it learns it is no longer a member.
    await this.change(id, { kind: 'snapshot', snapshot: strip(snapshot) }, now, 'joined', state.members);
  }

  /** This user leaves a group: every member is told, and nothing more is sent to it. */
  async leave(id: string): Promise<void> {
    const state = this.joined(id);
    await this.change(id, { kind: 'leave', id, at: this.book.node.clock.now() }, this.book.node.clock.now(), 'joined', state.members);
  }

  /** Accepts an invitation: the group becomes a conversation, and its texts' senders get receipts. */
  async accept(id: string): Promise<void> {
    const g = this.book.groups.get(id);
    if (!g || g.status !== 'invited') return;
    const updated: StoredGroup = { ...g, status: 'joined' };
    // In memory before the write, as everywhere here: a change arriving while it commits must
    // find this entry, not the one before (read, await, write would lose one of them).
    this.book.groups.set(id, updated);
    await this.book.node.store.put('groups', id, updated);
    for (const m of this.book.messages.values()) {
      // Its signer when it wrote it (a member removed since still gets its receipt).
      const member = m.group === id && !m.out && m.fromKey !== undefined ? memberWhen(updated.log, m.fromKey, m.sentAt) : null;
      if (member) this.oweReceipt({ name: member.name, nodeId: member.nodeId, signingKey: member.signingKey, agreementKey: member.agreementKey }, m.id);
    }
    this.book.changed();
  }

  async markRead(id: string): Promise<void> {
    const g = this.book.groups.get(id);
    if (!g || g.unread === 0) return;
    const updated = { ...g, unread: 0 };
    this.book.groups.set(id, updated);
    await this.book.node.store.put('groups', id, updated);
    this.book.changed();
  }

  /**
   * Writes `text` to a group: one message shown here, one sealed copy per other member in the
   * outbox, all committed before anything is sent. The message's status follows its copies
   * ("delivered" once every member's copy is).
   */
  async send(id: string, text: string): Promise<ChatMessage> {
    const { book } = this;
    const { node } = book;
    const state = this.joined(id);
    if (text.trim() === '') throw new PeerchatError(ErrorCode.BadRequest, 'Type a message first.');
    if (utf8Encode(text).length > MAX_MESSAGE_BODY_BYTES - MESSAGE_ID_BYTES) throw new PeerchatError(ErrorCode.BadRequest, `A message is at most ${MAX_MESSAGE_BODY_BYTES / 1024} KiB; split it.`);
    const others = state.members.filter((m) => m.signingKey !== this.me);
    if (others.length === 0) throw new PeerchatError(ErrorCode.BadRequest, 'Nobody else is in this group any more.');
    const sentAt = Math.max(node.clock.now(), book.lastSentAt + 1);
    book.lastSentAt = sentAt;
    const messageId = idToHex(node.random.bytes(MESSAGE_ID_BYTES));
    const entries: Array<[string, OutboxEntry]> = [];
    for (const m of others) {
      const envelope = await createEnvelope(this.identity, this.name, recipientOf(m), { kind: 'group-text', group: id, text }, sentAt, node.random, node.ops);
      entries.push([envelope.id, { envelope, kind: 'text', peer: m.name, recipientKey: m.signingKey, misses: 0, of: messageId }]);
    }
    const copies = Object.fromEntries(others.map((m) => [m.name, 'queued' as MessageStatus]));
    const message: ChatMessage = { id: messageId, peer: this.name, group: id, out: true, text, sentAt, status: 'queued', copies };
    await node.store.batch([
      { type: 'put', table: 'messages', key: messageId, value: message },
      ...entries.map(([key, value]): StoreOp => ({ type: 'put', table: 'outbox', key, value })),
      ...this.touch(id, sentAt, 0),
    ]);
    book.messages.set(messageId, message);
    for (const [key, entry] of entries) book.outbox.set(key, entry);
    book.changed();
    for (const [key] of entries) void this.outbox.attempt(key);
    return structuredClone(message);
  }

  /**
   * A change that arrived, signed by `sender` (the inbox opened and verified its envelope). A
   * leave for a group not held yet (its first snapshot still on its way: copies from different
   * authors arrive in any order) waits like a text, unacknowledged, and `placed` is called once
   * it is taken. `sentAt` is the envelope's signed time: when a snapshot took effect (groups.ts
   * memberWhen).
   */
  async receiveChange(envelopeId: string, sender: GroupSender, change: GroupChange, sentAt: number, now: number, placed: () => void = () => {}): Promise<GroupArrival> {
    const { book } = this;
    const { node } = book;
    const id = groupIdOf(change);
    if (book.blocked.has(sender.signingKey)) {
      node.stats.count('chat-group-blocked');
      return 'dropped';
    }
    const had = book.groups.get(id);
    if (had?.status === 'invited' && had.log.snapshots.length + had.log.leaves.length >= MAX_INVITATION_CHANGES) {
      node.stats.count('chat-group-invitation-full');
      return 'dropped';
    }
    const added = addChange(had?.log ?? emptyLog(id), { change, author: sender.signingKey, at: sentAt });
    if (!added.ok) {
      node.stats.count(`chat-group-${added.reason}`);
      // A copy of a change already held is answered like any message seen before.
      return added.reason === 'duplicate' ? this.answered(envelopeId, now) : 'dropped';
    }
    const state = this.stateOf(added.log);
    if (!had && state === null && change.kind === 'leave') {
      if (!this.pendingLeaves.some((p) => p.envelopeId === envelopeId)) {
        if (this.pendingLeaves.length >= MAX_PENDING_GROUP_LEAVES) this.pendingLeaves.shift();
        this.pendingLeaves.push({ envelopeId, sender, change, sentAt, placed });
        node.stats.count('chat-group-leave-pending');
      }
      return 'pending';
    }
    if (!had && !state?.member) {
      // Not a group of this user's (yet): nothing of it is kept.
      node.stats.count('chat-group-not-member');
      return 'dropped';
    }
    let status = had?.status;
    if (!status) {
      if (!book.isKnown(sender.name) || book.contacts.get(sender.name)?.signingKey !== sender.signingKey) {
        const invitations = [...book.groups.values()].filter((g) => g.status === 'invited').length;
        if (invitations >= MAX_GROUP_INVITATIONS) {
          node.stats.count('chat-group-invitations-full');
          return 'dropped';
        }
        status = 'invited';
      } else {
        status = 'joined';
      }
    }
    const updated: StoredGroup = { log: added.log, status, unread: had?.unread ?? 0, lastAt: Math.max(had?.lastAt ?? 0, now) };
    // Read, add and set with no await between: two changes arriving at once both stay.
    book.groups.set(id, updated);
    book.seen.set(envelopeId, now);
    await node.store.batch([
      { type: 'put', table: 'groups', key: id, value: updated },
      { type: 'put', table: 'seen', key: envelopeId, value: now },
    ]);
    node.stats.count('chat-group-change');
    book.changed();
    await this.placePending(id, now);
    await this.placePendingLeaves(id, now);
    await this.remakeLost(id, now);
    // Receipted even as an invitation: its author learns the change arrived, not whether the
    // user took it (texts in an invited group get theirs only on accept).
    return 'shown';
  }

  /**
   * A text that arrived for a group: shown if the group lists its signer, waiting (pending) if
   * the group or the change that adds the signer has not arrived yet.
   */
  async receiveText(t: GroupText, held: boolean, now: number, placed: () => void): Promise<GroupArrival> {
    const { book } = this;
    if (book.blocked.has(t.sender.signingKey)) {
      book.node.stats.count('chat-group-blocked');
      return 'dropped';
    }
    const placedNow = await this.place(t, held, now);
    if (placedNow !== null) return placedNow;
    if (!this.pending.some((p) => p.text.id === t.id)) {
      if (this.pending.length >= MAX_PENDING_GROUP_TEXTS) this.pending.shift();
      this.pending.push({ text: t, placed });
      book.node.stats.count('chat-group-text-pending');
    }
    return 'pending';
  }

  /**
   * Shows a text whose signer its group lists; null while it cannot be placed yet. `owe`: its
   * receipt is sealed back to the sender (held copies, and any that waited: no reply carried it).
   */
  private async place(t: GroupText, owe: boolean, now: number): Promise<GroupArrival | null> {
    const { book } = this;
    const { node } = book;
    const g = book.groups.get(t.group);
    // Its signer as a member when it wrote it: one removed since, or gone, still shows for what
    // it wrote before (a member away learns the removal and the text at once).
    const member = g && memberWhen(g.log, t.sender.signingKey, t.sentAt);
    if (!g || !member) return null;
    if (!memberWhen(g.log, this.me, t.sentAt)) {
      node.stats.count('chat-group-text-after-leaving');
      return 'dropped';
    }
    if (book.seen.has(t.id)) return 'seen';
    const message: ChatMessage = { id: t.id, peer: member.name, group: t.group, out: false, text: t.text, sentAt: t.sentAt, receivedAt: now, fromKey: t.sender.signingKey };
    // Seen before the write: a second copy arriving while this one commits (the sender's
    // DELIVER and a holder's push at once) finds it, and is neither shown nor counted twice.
    book.seen.set(t.id, now);
    book.messages.set(t.id, message);
    await node.store.batch([
      { type: 'put', table: 'seen', key: t.id, value: now },
      { type: 'put', table: 'messages', key: t.id, value: message },
      ...this.touch(t.group, t.sentAt, 1),
    ]);
    node.stats.count(owe ? 'chat-group-received-held' : 'chat-group-received-direct');
    this.events.shown?.({ ...message });
    book.changed();
    if (g.status !== 'joined') return 'request';
    if (owe) this.oweReceipt(t.sender, t.id);
    return 'shown';
  }

  /** Texts that waited for this group: those its new state lists the signer of are shown now. */
  private async placePending(id: string, now: number): Promise<void> {
    for (const p of this.pending.filter((x) => x.text.group === id)) {
      const result = await this.place(p.text, true, now);
      if (result === null) continue;
      this.pending.splice(this.pending.indexOf(p), 1);
      p.placed();
    }
  }

  /** Leaves that waited for this group's first snapshot: taken now, and receipted (no reply carried one). */
  private async placePendingLeaves(id: string, now: number): Promise<void> {
    const waiting = this.pendingLeaves.filter((p) => groupIdOf(p.change) === id);
    for (const p of waiting) {
      this.pendingLeaves.splice(this.pendingLeaves.indexOf(p), 1);
      if ((await this.receiveChange(p.envelopeId, p.sender, p.change, p.sentAt, now)) === 'shown') this.oweReceipt(p.sender, p.envelopeId);
      p.placed();
    }
  }

  /**
   * This admin's latest change, overtaken by another admin's of the same version (groups.ts
   * overtakenEdit), made again on the group as it is now: its additions, removals and name,
   * as the next version. Once per overtaken change: the remade one is this admin's latest, and
   * stands unless overtaken in turn. Additions keep their first time, so a member who left
   * since stays gone.
   */
  private async remakeLost(id: string, now: number): Promise<void> {
    const g = this.book.groups.get(id);
    const state = g && this.stateOf(g.log);
    // A change of this user's being sent: this is looked at again once it is committed.
    if (!g || !state?.member || g.status !== 'joined' || !state.admins.includes(this.me) || this.changing.has(id)) return;
    const edit = overtakenEdit(g.log, this.me);
    if (!edit) return;
    const removed = new Set(edit.removed.filter((k) => k !== this.me));
    const kept = state.members.filter((m) => !removed.has(m.signingKey));
    const added = edit.added.filter((a) => !kept.some((m) => m.signingKey === a.signingKey || m.name === a.name));
    const name = edit.name ?? state.name;
    if (kept.length === state.members.length && added.length === 0 && name === state.name) return;
    const members = [...kept, ...added];
    if (members.length > MAX_GROUP_MEMBERS) {
      this.book.node.stats.count('chat-group-remake-full');
      return;
    }
    const keys = new Set(members.map((m) => m.signingKey));
    const snapshot: GroupSnapshot = { ...strip(state), name, version: state.version + 1, admins: state.admins.filter((a) => keys.has(a)), members };
    // Never fails its caller (an arrival, or the user's own change, both committed already):
    // a remake that could not be made is counted, and tried again at the next change.
    try {
      await this.change(id, { kind: 'snapshot', snapshot }, now, 'joined', state.members.filter((m) => removed.has(m.signingKey)));
      this.book.node.stats.count('chat-group-remade');
    } catch {
      this.book.node.stats.count('chat-group-remake-failed');
    }
  }

  /** A copy of a change held already: receipted like the first. */
  private async answered(envelopeId: string, now: number): Promise<GroupArrival> {
    if (!this.book.seen.has(envelopeId)) {
      await this.book.node.store.put('seen', envelopeId, now);
      this.book.seen.set(envelopeId, now);
    }
    return 'shown';
  }

  /** The group if this user is in it and has joined it; an error in words otherwise. */
  private joined(id: string): Group {
    const g = this.book.groups.get(id);
    const state = g && this.stateOf(g.log);
    if (!g || !state) throw new PeerchatError(ErrorCode.NotFound, 'No such group.');
    if (!state.member) throw new PeerchatError(ErrorCode.Rejected, 'You are no longer in this group.');
    if (g.status !== 'joined') throw new PeerchatError(ErrorCode.Rejected, 'Accept the invitation first.');
    return state;
  }

  /**
   * Commits a change of this user's to the group's log and sends it, one envelope to each
   * member of the new state and of `alsoTo` (members who are being removed), this user aside.
   * One at a time per group; then any change of this user's that another admin's list overtook
   * meanwhile is made again (remakeLost).
   */
  private async change(id: string, change: GroupChange, now: number, status: StoredGroup['status'], alsoTo: GroupMember[] = []): Promise<void> {
    if (this.changing.has(id)) throw new PeerchatError(ErrorCode.Busy, 'Another change to this group is still being sent; try again in a moment.');
    this.changing.add(id);
    try {
      await this.commitChange(id, change, now, status, alsoTo);
    } finally {
      this.changing.delete(id);
    }
    // A list of another admin's that overtook one of this user's, arrived meanwhile.
    await this.remakeLost(id, now);
  }

  private async commitChange(id: string, change: GroupChange, now: number, status: StoredGroup['status'], alsoTo: GroupMember[]): Promise<void> {
    const { book } = this;
    const { node } = book;
    const planned = addChange(book.groups.get(id)?.log ?? emptyLog(id), { change, author: this.me });
    if (!planned.ok) throw new PeerchatError(ErrorCode.BadRequest, `That change cannot be made (${planned.reason}).`);
    const state = this.stateOf(planned.log);
    const to = new Map<string, GroupMember>();
    for (const m of [...(state?.members ?? []), ...alsoTo]) if (m.signingKey !== this.me) to.set(m.signingKey, m);
    const sentAt = Math.max(now, book.lastSentAt + 1);
    book.lastSentAt = sentAt;
    const entries: Array<[string, OutboxEntry]> = [];
    for (const m of to.values()) {
      const envelope = await createEnvelope(this.identity, this.name, recipientOf(m), { kind: 'group-change', change }, sentAt, node.random, node.ops);
      entries.push([envelope.id, { envelope, kind: 'group-change', peer: m.name, recipientKey: m.signingKey, misses: 0 }]);
    }
    // Changes may have arrived while the envelopes were sealed: added to the log held now, with
    // no await between reading and setting it.
    const had = book.groups.get(id);
    const added = addChange(had?.log ?? emptyLog(id), { change, author: this.me, at: sentAt });
    if (!added.ok) throw new PeerchatError(ErrorCode.BadRequest, `That change cannot be made (${added.reason}).`);
    const updated: StoredGroup = { log: added.log, status, unread: had?.unread ?? 0, lastAt: Math.max(had?.lastAt ?? 0, now) };
    book.groups.set(id, updated);
    for (const [key, entry] of entries) book.outbox.set(key, entry);
    await node.store.batch([
      { type: 'put', table: 'groups', key: id, value: updated },
      ...entries.map(([key, value]): StoreOp => ({ type: 'put', table: 'outbox', key, value })),
    ]);
    book.changed();
    for (const [key] of entries) void this.outbox.attempt(key);
  }

  /** The group's new last activity and unread count, as ops; the map is updated now. */
  private touch(id: string, at: number, unread: number): StoreOp[] {
    const g = this.book.groups.get(id);
    if (!g) return [];
    const updated = { ...g, unread: g.unread + unread, lastAt: Math.max(g.lastAt, at) };
    this.book.groups.set(id, updated);
    return [{ type: 'put', table: 'groups', key: id, value: updated }];
  }

  private self(now: number): GroupMember {
    return { name: this.name, nodeId: idToHex(this.identity.nodeId), signingKey: this.me, agreementKey: toBase64Url(this.identity.agreementPublic), addedAt: now };
  }
}

function memberOf(c: Contact, now: number): GroupMember {
  return { name: c.name, nodeId: c.nodeId, signingKey: c.signingKey, agreementKey: c.agreementKey, addedAt: now };
}

function recipientOf(m: GroupMember) {
  return { nodeId: idFromHex(m.nodeId)!, agreementKey: fromBase64Url(m.agreementKey)! };
}

/** A Group's snapshot fields only. */
function strip(s: GroupSnapshot & Partial<Group>): GroupSnapshot {
  return withoutUndefined({ id: s.id, name: s.name, version: s.version, creator: s.creator, admins: s.admins, members: s.members });
}
