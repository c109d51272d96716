import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toBase64Url } from '../lib/encoding.ts';
import { addChange, emptyLog, groupState, isGroupSnapshot, memberWhen, MAX_GROUP_CHANGES, MAX_GROUP_MEMBERS, overtakenEdit, type AuthoredChange, type GroupLog, type GroupMember, type GroupSnapshot } from './groups.ts';

const ID = 'f'.repeat(32);
const key = (n: number) => toBase64Url(new Uint8Array(32).fill(n + 1));
const hex = (n: number) => (n + 1).toString(16).padStart(2, '0').repeat(20);
const NAMES = ['ann', 'ben', 'cat', 'dan', 'eve', 'fay', 'gus', 'hal'];

function member(n: number, addedAt = 0): GroupMember {
  return { name: NAMES[n] ?? `user${n}`, nodeId: hex(n), signingKey: key(n), agreementKey: key(100 + n), addedAt };
}

function snapshot(version: number, members: GroupMember[], admins: number[], name = 'Weekend'): GroupSnapshot {
  return { id: ID, name, version, creator: key(0), admins: admins.map(key), members };
}

function changeBy(author: number, s: GroupSnapshot, at?: number): AuthoredChange {
  return at === undefined ? { change: { kind: 'snapshot', snapshot: s }, author: key(author) } : { change: { kind: 'snapshot', snapshot: s }, author: key(author), at };
}

function leaveBy(author: number, at: number): AuthoredChange {
  return { change: { kind: 'leave', id: ID, at }, author: key(author) };
}

function logOf(changes: AuthoredChange[]): GroupLog {
  let log = emptyLog(ID);
  for (const c of changes) {
    const r = addChange(log, c);
    if (r.ok) log = r.log;
  }
  return log;
}

const namesIn = (log: GroupLog, me = 0) => groupState(log, key(me))?.members.map((m) => m.name);

describe('a group made by its creator', () => {
  const v1 = snapshot(1, [member(0), member(1), member(2)], [0]);

  it('starts with the creator’s version 1, and each member sees itself in it', () => {
    const g = groupState(logOf([changeBy(0, v1)]), key(1))!;
    expect(g).toMatchObject({ name: 'Weekend', version: 1, by: key(0), member: true });
    expect(g.members.map((m) => m.name)).toEqual(['ann', 'ben', 'cat']);
    expect(groupState(logOf([changeBy(0, v1)]), key(5))!.member).toBe(false);
  });

  it('does not start from a version 1 someone else wrote, even one that names the creator', () => {
    const forged = snapshot(1, [member(0), member(1)], [0, 1]);
    expect(groupState(logOf([changeBy(1, forged)]), key(1))).toBeNull();
  });

  it('ignores a member who is not an admin writing a list, even one that makes it admin', () => {
    const grab = snapshot(2, [member(0), member(1), member(2)], [0, 1]);
    expect(groupState(logOf([changeBy(0, v1), changeBy(1, grab)]), key(1))!.version).toBe(1);
  });

  it('takes an admin’s next version; a member removed there is no longer a member', () => {
    const v2 = snapshot(2, [member(0), member(1)], [0]);
    const g = groupState(logOf([changeBy(0, v1), changeBy(0, v2)]), key(2))!;
    expect(g.version).toBe(2);
    expect(g.member).toBe(false);
  });

  it('applies a member’s leave, and an admin’s re-add after it, but not a stale list from before it', () => {
    const v2Stale = snapshot(2, [member(0), member(1), member(2)], [0]); // written before ben left
    const v3Readd = snapshot(3, [member(0), member(1, 500), member(2)], [0]); // ben added again at 500
    expect(namesIn(logOf([changeBy(0, v1), leaveBy(1, 100), changeBy(0, v2Stale)]))).toEqual(['ann', 'cat']);
    expect(namesIn(logOf([changeBy(0, v1), leaveBy(1, 100), changeBy(0, v2Stale), changeBy(0, v3Readd)]))).toEqual(['ann', 'ben', 'cat']);
  });

  it('loses the admin rights of an admin who left', () => {
    const v2 = snapshot(2, [member(0), member(1), member(2)], [0, 1]);
    const g = groupState(logOf([changeBy(0, v1), changeBy(0, v2), leaveBy(1, 10)]), key(2))!;
    expect(g.admins).toEqual([key(0)]);
  });
});

describe('concurrent changes', () => {
  const v1 = snapshot(1, [member(0), member(1), member(2), member(3)], [0, 1]);

  it('an admin removed at version 3 cannot write version 4 from what it saw at version 2', () => {
    const v2 = snapshot(2, [member(0), member(1), member(2), member(3)], [0, 1]);
    const v3 = snapshot(3, [member(0), member(1), member(2), member(3)], [0]); // ben is no longer admin
    const v4 = snapshot(4, [member(0), member(1)], [0, 1]); // ben's, from version 2: removes cat and dan
    for (const order of [[v2, v3, v4], [v4, v3, v2], [v3, v4, v2]]) {
      const log = logOf(order.map((s) => changeBy(s === v4 ? 1 : 0, s)));
      expect(groupState(log, key(2))!.version).toBe(3);
    }
  });

  it('two admins writing the same version: the higher author key’s list, for every member', () => {
    const byAnn = snapshot(2, [member(0), member(1), member(2), member(3), member(4)], [0, 1]);
    const byBen = snapshot(2, [member(0), member(1), member(2)], [0, 1]);
    const winner = key(0) > key(1) ? 'ann' : 'ben';
    for (const changes of [[changeBy(0, v1), changeBy(0, byAnn), changeBy(1, byBen)], [changeBy(1, byBen), changeBy(0, byAnn), changeBy(0, v1)]]) {
      expect(groupState(logOf(changes), key(2))!.by).toBe(winner === 'ann' ? key(0) : key(1));
    }
  });

  it('two admins writing the same version: the overtaken one learns what its list changed, the other nothing', () => {
    const byAnn = snapshot(2, [member(0), member(1), member(2), member(3), member(4, 7)], [0, 1], 'Trip'); // adds eve, renames
    const byBen = snapshot(2, [member(0), member(1), member(2)], [0, 1]); // removes dan
    const log = logOf([changeBy(0, v1), changeBy(0, byAnn), changeBy(1, byBen)]);
    const [loser, winner] = key(0) < key(1) ? [0, 1] : [1, 0];
    expect(overtakenEdit(log, key(winner))).toBeNull();
    expect(overtakenEdit(log, key(loser))).toEqual(loser === 0 ? { added: [member(4, 7)], removed: [], name: 'Trip' } : { added: [], removed: [key(3)] });
    // Made again on top (version 3, by the overtaken admin): it stands, nothing is left to remake.
    const remade = loser === 0 ? snapshot(3, [member(0), member(1), member(2), member(4, 7)], [0, 1], 'Trip') : snapshot(3, [member(0), member(1), member(2)], [0, 1]);
    expect(overtakenEdit(logOf([changeBy(0, v1), changeBy(0, byAnn), changeBy(1, byBen), changeBy(loser, remade)]), key(loser))).toBeNull();
    // An admin whose latest list stands, or who never wrote one, has nothing overtaken.
    expect(overtakenEdit(logOf([changeBy(0, v1), changeBy(0, byAnn)]), key(0))).toBeNull();
    expect(overtakenEdit(log, key(2))).toBeNull();
  });

  it('an admin’s list that was not taken (it was no admin by then) is not made again', () => {
    const v2 = snapshot(2, [member(0), member(1), member(2), member(3)], [0]); // ben is no longer admin
    const byBen = snapshot(3, [member(0), member(1)], [0, 1]);
    const byAnn = snapshot(3, [member(0), member(1), member(2)], [0]);
    expect(overtakenEdit(logOf([changeBy(0, v1), changeBy(0, v2), changeBy(1, byBen), changeBy(0, byAnn)]), key(1))).toBeNull();
  });

  it('a member added later, sent only the group as it was then, follows the others from there', () => {
    const v2 = snapshot(2, [member(0), member(1), member(2), member(3), member(4, 20)], [0, 1]);
    const v3 = snapshot(3, [member(0), member(1), member(4, 20)], [0, 1]);
    const everyone = logOf([changeBy(0, v1), changeBy(1, v2), changeBy(0, v3)]);
    const newcomer = logOf([changeBy(1, v2), changeBy(0, v3)]);
    expect(groupState(newcomer, key(4))).toEqual({ ...groupState(everyone, key(4))! });
  });

  it('knows who was a member when a text was written: before a removal or a leave, yes; after, no', () => {
    const v2 = snapshot(2, [member(0), member(1)], [0]); // cat removed, made at 300
    const log = logOf([changeBy(0, v1, 100), changeBy(0, v2, 300), leaveBy(1, 400)]);
    expect(groupState(log, key(0))!.members.map((m) => m.name)).toEqual(['ann']);
    // Cat's text written before its removal still shows, under its entry; one after does not.
    expect(memberWhen(log, key(2), 299)?.name).toBe('cat');
    expect(memberWhen(log, key(2), 300)).toBeNull();
    // Ben's before his own leave, not after; ann's at any time; a stranger's never.
    expect(memberWhen(log, key(1), 399)?.name).toBe('ben');
    expect(memberWhen(log, key(1), 400)).toBeNull();
    expect(memberWhen(log, key(0), 10_000)?.name).toBe('ann');
    expect(memberWhen(log, key(5), 0)).toBeNull();
    // A snapshot kept without its time (logs from before it was recorded) removes at once.
    expect(memberWhen(logOf([changeBy(0, v1), changeBy(0, v2)]), key(2), 0)).toBeNull();
    // Removed and added again: its first entry before the removal; the entry in force for any
    // time after (the member's clock and the adding admin's differ: a new member's first text
    // must not wait for ever).
    const v3 = snapshot(3, [member(0), member(1), member(2, 500)], [0]);
    const back = logOf([changeBy(0, v1, 100), changeBy(0, v2, 300), changeBy(0, v3, 500)]);
    expect([200, 400, 600].map((t) => memberWhen(back, key(2), t)?.addedAt ?? null)).toEqual([0, 500, 500]);
  });

  it('is a function of the set of changes: any order, with repeats, gives every member the same group', () => {
    // Changes by four authors (two admins at the start) over versions 1-5, with leaves.
    const arbitraryChange = fc.oneof(
      fc.record({
        author: fc.integer({ min: 0, max: 3 }),
        version: fc.integer({ min: 1, max: 5 }),
        members: fc.subarray([1, 2, 3, 4, 5], { minLength: 0 }),
        admins: fc.subarray([0, 1, 2], { minLength: 1 }),
        addedAt: fc.integer({ min: 0, max: 50 }),
        at: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
      }).map(({ author, version, members, admins, addedAt, at }) => {
        const all = [0, ...members];
        return changeBy(author, snapshot(version, all.map((n) => member(n, n === 0 ? 0 : addedAt)), admins.filter((a) => all.includes(a))), at);
      }),
      fc.record({ author: fc.integer({ min: 0, max: 5 }), at: fc.integer({ min: 0, max: 50 }) }).map(({ author, at }) => leaveBy(author, at)),
    );
    fc.assert(
      fc.property(fc.array(arbitraryChange, { minLength: 1, maxLength: 12 }), fc.integer(), (changes, seed) => {
        const start = [changeBy(0, snapshot(1, [member(0), member(1), member(2), member(3)], [0, 1])), ...changes];
        const shuffled = [...start, ...start.slice(0, 3)].map((c, i) => ({ c, k: Math.sin(seed + i) })).sort((a, b) => a.k - b.k).map((x) => x.c);
        for (const me of [0, 1, 2, 4]) expect(groupState(logOf(shuffled), key(me))).toEqual(groupState(logOf(start), key(me)));
        // And who was a member when: what each member's texts show under.
        for (const k of [0, 1, 3, 5]) for (const t of [0, 25, 55]) expect(memberWhen(logOf(shuffled), key(k), t)).toEqual(memberWhen(logOf(start), key(k), t));
      }),
      { seed: 16, numRuns: 300 },
    );
  });
});

describe('changes that are refused before any rule', () => {
  const base = () => snapshot(1, [member(0), member(1)], [0]);

  it('are not well formed: too many members, a name twice, an admin who is not a member, a bad name', () => {
    const many = Array.from({ length: MAX_GROUP_MEMBERS + 1 }, (_, i) => member(i));
    expect(isGroupSnapshot(snapshot(1, many.slice(0, MAX_GROUP_MEMBERS), [0]))).toBe(true);
    expect(isGroupSnapshot(snapshot(1, many, [0]))).toBe(false);
    expect(isGroupSnapshot(snapshot(1, [member(0), { ...member(1), name: 'ann' }], [0]))).toBe(false);
    expect(isGroupSnapshot(snapshot(1, [member(0), { ...member(1), signingKey: key(0) }], [0]))).toBe(false);
    expect(isGroupSnapshot(snapshot(1, [member(0)], [0, 3]))).toBe(false);
    expect(isGroupSnapshot(snapshot(1, [member(0)], []))).toBe(false);
    for (const name of ['', ' padded ', 'x'.repeat(65), 'bell\u0007']) expect(isGroupSnapshot({ ...base(), name })).toBe(false);
    expect(isGroupSnapshot({ ...base(), name: 'Ünïcode 🎉 group' })).toBe(true);
  });

  it('are for another group, already held, or past the log’s bound', () => {
    const log = logOf([changeBy(0, base())]);
    expect(addChange(log, changeBy(0, { ...base(), id: 'e'.repeat(32) }))).toEqual({ ok: false, reason: 'other-group' });
    expect(addChange(log, changeBy(0, base()))).toEqual({ ok: false, reason: 'duplicate' });
    expect(addChange(log, { change: { kind: 'leave', id: ID, at: -1 }, author: key(1) })).toEqual({ ok: false, reason: 'bad-change' });
    const full: GroupLog = { ...log, leaves: Array.from({ length: MAX_GROUP_CHANGES - 1 }, (_, at) => ({ author: key(1), at })) };
    expect(addChange(full, leaveBy(2, 1))).toEqual({ ok: false, reason: 'too-many-changes' });
  });

  it('keep only the fields the code knows', () => {
    const extra = { ...base(), admin: true, members: base().members.map((m) => ({ ...m, role: 'owner' })) };
    const r = addChange(emptyLog(ID), changeBy(0, extra as GroupSnapshot));
    expect(r.ok && r.log.snapshots[0]!.snapshot).toEqual(base());
  });
});
