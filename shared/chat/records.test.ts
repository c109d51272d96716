import type { UserRecordWire } from './wire.ts';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { NAME_CONTEST_WINDOW_MS, RECORD_TTL_MS } from './constants.ts';
import { createIdentity, webCryptoOps as ops, type Identity } from '../lib/crypto.ts';
import { isPeerchatError } from '../lib/errors.ts';
import { compareBytes, legacyNodeId, userKey } from '../lib/id.ts';
import { nonceWithoutWork } from '../lib/test-ids.ts';
import { SeededRandom } from '../lib/random.ts';
import {
  chooseRecord,
  contestQuorum,
  createRecord,
  majorityRecord,
  normalizeUsername,
  recordFromWire,
  recordKey,
  recordNodeId,
  recordSignedBytes,
  recordToWire,
  verifyRecord,
  type HeldName,
  type UserRecord,
} from './records.ts';

const NOW = 1_700_000_000_000;
const HOUR = 3600_000;
let alice: Identity;
let mallory: Identity;

beforeAll(async () => {
  alice = await createIdentity(new SeededRandom(1));
  mallory = await createIdentity(new SeededRandom(2));
});

function make(identity: Identity, overrides: Partial<{ name: string; registeredAt: number; seq: number; now: number }> = {}) {
  return createRecord(identity, ops, { name: 'alice', registeredAt: NOW, seq: 1, now: NOW, ...overrides });
}

/**
 * Applies records in order the way a holder does, all inside the contest window (or each
 * `gapMs` apart on the holder's clock), returning what it ends up keeping.
 */
function holderAfter(records: UserRecord[], now: number, gapMs = 0): UserRecord | undefined {
  let held: HeldName | undefined;
  records.forEach((record, i) => {
    const at = now + i * gapMs;
    if (chooseRecord(held, record, at) === 'replace') held = { record, since: held && held.record.expiresAt > at ? held.since : at };
  });
  return held?.record;
}

const heldSince = (record: UserRecord, since = NOW): HeldName => ({ record, since });

describe('normalizeUsername', () => {
  it('trims and lowercases valid names', () => {
    expect(normalizeUsername('Bob')).toBe('bob');
    expect(normalizeUsername('  Alice_99-x \n')).toBe('alice_99-x');
    expect(normalizeUsername('abc')).toBe('abc');
    expect(normalizeUsername('a'.repeat(32))).toBe('a'.repeat(32));
  });

  it('rejects names that are too short, too long, or use other characters', () => {
    for (const bad of ['ab', '', '   ', 'a'.repeat(33), 'a b', 'é', 'bob!', 'bob.smith', 'bøb', 'İstanbul']) {
      expect(normalizeUsername(bad)).toBeNull();
    }
  });
});

describe('records', () => {
  it('are stored under the user key of their name', async () => {
    expect(await recordKey('alice')).toEqual(await userKey('alice'));
  });

  it('a freshly created record verifies and expires one TTL from now', async () => {
    const record = await make(alice);
    expect(record.expiresAt).toBe(NOW + RECORD_TTL_MS);
    expect(record.signingKey).toEqual(alice.signingPublic);
    expect(record.agreementKey).toEqual(alice.agreementPublic);
    expect(await verifyRecord(record, NOW, ops)).toBe('ok');
    expect(await verifyRecord(record, NOW + RECORD_TTL_MS - 1, ops)).toBe('ok');
  });

  it('createRecord refuses a name that is not normalized', async () => {
    await expect(make(alice, { name: 'Alice' })).rejects.toSatisfy((err) => isPeerchatError(err, 'INVALID_NAME'));
  });

  it('a record signed by another key is rejected', async () => {
    const forged = await make(mallory);
    expect(await verifyRecord({ ...forged, signingKey: alice.signingPublic, idNonce: alice.idNonce }, NOW, ops)).toBe('bad-signature');
    const genuine = await make(alice);
    expect(await verifyRecord({ ...genuine, signingKey: mallory.signingPublic, idNonce: mallory.idNonce }, NOW, ops)).toBe('bad-signature');
  });

  it('a record whose id nonce does not carry the work is refused (bad-work), even signed by its key', async () => {
    const lazy = await make({ ...alice, idNonce: nonceWithoutWork(alice.signingPublic) });
    expect(await verifyRecord(lazy, NOW, ops)).toBe('bad-work');
    const record = await make(alice);
    expect(await verifyRecord(record, NOW, ops)).toBe('ok');
    expect(recordNodeId(record)).toEqual(alice.nodeId);
  });

  it('a record signed before ids cost work (no nonce) still holds its name, at its old address', async () => {
    const { idNonce: _n, ...unsigned } = await make(alice);
    const old = { ...unsigned, signature: await ops.sign(alice, recordSignedBytes(unsigned)) };
    expect(await verifyRecord(old, NOW, ops)).toBe('ok');
    expect(recordNodeId(old)).toEqual(legacyNodeId(alice.signingPublic));
    // The nonce is signed: added to an old record, or taken off a new one, the signature fails.
    expect(await verifyRecord({ ...old, idNonce: alice.idNonce }, NOW, ops)).toBe('bad-signature');
    const { idNonce: _taken, ...stripped } = await make(alice);
    expect(await verifyRecord(stripped, NOW, ops)).toBe('bad-signature');
  });

  it('a record changed after signing is rejected, whichever field changed', async () => {
    const record = await make(alice);
    const changes: Partial<UserRecord>[] = [
      { name: 'alicf' },
      { agreementKey: mallory.agreementPublic },
      { registeredAt: record.registeredAt - 1 },
      { seq: record.seq + 1 },
      { expiresAt: record.expiresAt - 1 },
      { signature: record.signature.map((b, i) => (i === 0 ? b ^ 1 : b)) },
    ];
    for (const change of changes) expect(await verifyRecord({ ...record, ...change }, NOW, ops)).toBe('bad-signature');
  });

  it('a record whose name is not normalized is rejected before its signature is checked', async () => {
    const record = await make(alice);
    for (const name of ['Alice', ' alice', 'al', 'al ice']) {
      expect(await verifyRecord({ ...record, name }, NOW, ops)).toBe('bad-name');
    }
  });

  it('an expired record is reported as expired', async () => {
    const record = await make(alice);
    expect(await verifyRecord(record, record.expiresAt, ops)).toBe('expired');
    expect(await verifyRecord(record, record.expiresAt + HOUR, ops)).toBe('expired');
  });

  it('records with impossible times are rejected', async () => {
    // Expiry too far ahead: signed by a clock running 2 hours fast.
    expect(await verifyRecord(await make(alice, { now: NOW + 2 * HOUR }), NOW, ops)).toBe('bad-times');
    // Within the allowed skew it is fine.
    expect(await verifyRecord(await make(alice, { now: NOW + HOUR / 2 }), NOW, ops)).toBe('ok');
    // Registered after it expires, and registered in the future.
    expect(await verifyRecord(await make(alice, { registeredAt: NOW + RECORD_TTL_MS + 1 }), NOW, ops)).toBe('bad-times');
    expect(await verifyRecord(await make(alice, { registeredAt: NOW + 2 * HOUR }), NOW, ops)).toBe('bad-times');
    const record = await make(alice);
    for (const seq of [-1, 1.5, Number.NaN]) expect(await verifyRecord({ ...record, seq }, NOW, ops)).toBe('bad-times');
  });

  it('the signed encoding differs for any two different records', () => {
    const bytes = fc.uint8Array({ maxLength: 40 });
    const fields = fc.record({
      name: fc.string({ maxLength: 6 }),
      signingKey: bytes,
      agreementKey: bytes,
      registeredAt: fc.nat(),
      seq: fc.nat(3),
      expiresAt: fc.nat(),
    });
    fc.assert(
      fc.property(fields, fields, (a, b) => {
        const same = compareBytes(recordSignedBytes(a), recordSignedBytes(b)) === 0;
        expect(same).toBe(JSON.stringify(a) === JSON.stringify(b)); // JSON spells out every byte of a Uint8Array
      }),
    );
  });
});

describe('wire form', () => {
  it('round-trips through JSON and still verifies', async () => {
    const record = await make(alice);
    const wire = JSON.parse(JSON.stringify(recordToWire(record))) as UserRecordWire;
    const back = recordFromWire(wire);
    expect(back).toEqual(record);
    expect(await verifyRecord(back!, NOW, ops)).toBe('ok');
  });

  it('rejects wrong lengths, bad names, bad base64url and bad numbers', async () => {
    const wire = recordToWire(await make(alice));
    const bad: Partial<UserRecordWire>[] = [
      { signingKey: wire.signingKey.slice(0, 40) },
      { agreementKey: wire.agreementKey + 'AAAA' },
      { sig: wire.sig.slice(0, 84) },
      { sig: wire.sig.replace(/./, '+') },
      { name: 'Alice' },
      { name: 'al' },
      { seq: -1 },
      { registeredAt: 1.5 },
      { expiresAt: Number.NaN },
      { expiresAt: Number.MAX_SAFE_INTEGER + 2 },
    ];
    for (const change of bad) expect(recordFromWire({ ...wire, ...change })).toBeNull();
  });
});

describe('chooseRecord', () => {
  it('stores a record when it holds none or its record has expired', async () => {
    const record = await make(alice);
    expect(chooseRecord(undefined, record, NOW)).toBe('replace');
    const old = await make(mallory, { registeredAt: NOW - RECORD_TTL_MS * 2, now: NOW - RECORD_TTL_MS - 1 });
    expect(chooseRecord(heldSince(old, NOW - RECORD_TTL_MS), record, NOW)).toBe('replace');
  });

  it('from the same key only a higher seq replaces, inside the window or after it', async () => {
    const one = await make(alice, { seq: 1 });
    const two = await make(alice, { seq: 2, now: NOW + 1 });
    for (const since of [NOW, NOW - NAME_CONTEST_WINDOW_MS - 1]) {
      expect(chooseRecord(heldSince(one, since), two, NOW)).toBe('replace');
      expect(chooseRecord(heldSince(two, since), one, NOW)).toBe('keep');
      expect(chooseRecord(heldSince(two, since), { ...two }, NOW)).toBe('keep');
      expect(chooseRecord(heldSince(one, since), await make(alice, { seq: 1, now: NOW + 5 }), NOW)).toBe('keep');
    }
  });

  it('a record claiming an earlier registration never displaces a name a holder already keeps', async () => {
    const owner = await make(alice, { registeredAt: NOW - HOUR });
    const backdated = await make(mallory, { registeredAt: 0, seq: 99, now: NOW + HOUR });
    // Past the window nothing another key says moves the name, not even every neighbour's push.
    const kept = heldSince(owner, NOW - NAME_CONTEST_WINDOW_MS);
    expect(chooseRecord(kept, backdated, NOW, () => 20)).toBe('keep');
    expect(holderAfter([owner, backdated], NOW, NAME_CONTEST_WINDOW_MS)).toBe(owner);
    // Until it expires: then the name is free again.
    expect(chooseRecord(kept, backdated, owner.expiresAt)).toBe('replace');
  });

  it('inside the window a record of another key never displaces the first without a majority’s pushes, whatever registeredAt says', async () => {
    const a = await make(alice, { registeredAt: NOW });
    const m = await make(mallory, { registeredAt: 0 });
    // First come, in either order: nothing a record says about itself, and no hash of it, decides.
    expect(holderAfter([a, m], NOW)).toBe(a);
    expect(holderAfter([m, a], NOW)).toBe(m);
  });

  it('inside the window a holder follows a majority of the name’s r closest, not the first push', async () => {
    const a = await make(alice);
    const m = await make(mallory);
    const quorum = contestQuorum(8);
    expect(quorum).toBe(5);
    const backers = (na: number, nm: number) => (key: Uint8Array) => (compareBytes(key, a.signingKey) === 0 ? na : compareBytes(key, m.signingKey) === 0 ? nm : 0);
    // A liar pushed m first; five of the other seven holders push a.
    expect(chooseRecord(heldSince(m), a, NOW, backers(5, 1), quorum)).toBe('replace');
    // Four liars near the name are no majority, however few pushed the record kept.
    expect(chooseRecord(heldSince(a), m, NOW, backers(0, 4), quorum)).toBe('keep');
    expect(chooseRecord(heldSince(a), m, NOW, backers(1, 4), quorum)).toBe('keep');
    // Past the window, not even all seven.
    expect(chooseRecord(heldSince(a, NOW - NAME_CONTEST_WINDOW_MS), m, NOW, backers(0, 7), quorum)).toBe('keep');
  });

  it('of two simultaneous Joins that reach different holders first, one wins at all eight or neither at a majority, whatever order pushes arrive in', () => {
    const [a, b] = [fakeRecord(alice.signingPublic, NOW, 1), fakeRecord(mallory.signingPublic, NOW, 1)];
    type Msg = { to: number; from: number | null; record: UserRecord };
    const outcomes = new Set<string>();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.infiniteStream(fc.nat()), (routedA, picks) => {
        // a's routed STOREs reach holders 0.., b's reach holder 7; a holder that keeps a record
        // pushes it to the other seven (record-service.ts), and messages arrive in any order.
        const held: (HeldName | undefined)[] = Array(8).fill(undefined);
        const pushes = held.map(() => new Map<number, Uint8Array>());
        const queue: Msg[] = [{ to: 7, from: null, record: b }];
        for (let i = 0; i < routedA; i++) queue.push({ to: i, from: null, record: a });
        while (queue.length > 0) {
          const { to, from, record } = queue.splice(picks.next().value % queue.length, 1)[0]!;
          if (from !== null) pushes[to]!.set(from, record.signingKey);
          const backing = (k: Uint8Array) => [...pushes[to]!.values()].filter((v) => compareBytes(v, k) === 0).length;
          if (chooseRecord(held[to], record, NOW, backing, contestQuorum(8)) === 'keep') continue;
          held[to] = { record, since: held[to]?.since ?? NOW };
          for (let j = 0; j < 8; j++) if (j !== to) queue.push({ to: j, from: to, record });
        }
        const forA = held.filter((h) => h?.record === a).length;
        outcomes.add(forA === 8 ? 'a' : forA === 0 ? 'b' : 'split');
        // What Find user resolves: the key at all eight, or (an even split) no one.
        if (forA === 8 || forA === 0) return;
        expect(forA).toBe(4);
        expect(majorityRecord(held.map((h) => h!.record)).status).toBe('contested');
      }),
      { numRuns: 300 },
    );
    // Each outcome happens: the contest is not settled by which key it is.
    expect([...outcomes].sort()).toEqual(['a', 'b', 'split']);
  });

  it('never stores an incoming record that has already expired', async () => {
    const record = await make(alice);
    expect(chooseRecord(undefined, record, record.expiresAt)).toBe('keep');
  });

  it('without pushes the first key a holder keeps stays, inside the window or after it; its own higher seq replaces it', async () => {
    const keys = [alice.signingPublic, mallory.signingPublic, new Uint8Array(32).fill(7)];
    const record = fc
      .record({ key: fc.nat(2), registeredAt: fc.integer({ min: 0, max: 3 }), seq: fc.nat(3) })
      .map(({ key, registeredAt, seq }) => fakeRecord(keys[key]!, NOW - registeredAt, seq));
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 6 }), fc.constantFrom(0, NAME_CONTEST_WINDOW_MS), (records, gapMs) => {
        const first = records[0]!;
        const sameKey = records.filter((r) => compareBytes(r.signingKey, first.signingKey) === 0);
        const kept = holderAfter(records, NOW, gapMs)!;
        expect(kept.signingKey).toEqual(first.signingKey);
        expect(kept.seq).toBe(Math.max(...sameKey.map((r) => r.seq)));
      }),
    );
  });
});

describe('majorityRecord', () => {
  it('a minority of lying holders cannot change what Find user resolves', () => {
    const honest = fakeRecord(alice.signingPublic, NOW, 3);
    const lie = fakeRecord(mallory.signingPublic, 0, 99);
    const r = majorityRecord([honest, lie, honest, honest, lie, honest, lie, honest]);
    expect(r).toEqual({ status: 'found', record: honest, holders: 5, of: 8 });
  });

  it('takes the newest copy of the winning key', () => {
    const old = fakeRecord(alice.signingPublic, NOW, 2);
    const fresh = fakeRecord(alice.signingPublic, NOW, 3);
    expect(majorityRecord([null, old, fresh, fresh])).toMatchObject({ status: 'found', record: fresh, holders: 3, of: 4 });
  });

  it('holders that hold nothing vote too: one record among empty holders is no majority', () => {
    const lie = fakeRecord(mallory.signingPublic, 0, 1);
    expect(majorityRecord([null, lie, null, null, null, null, null, null])).toEqual({ status: 'contested', of: 8 });
    const a = fakeRecord(alice.signingPublic, NOW, 1);
    expect(majorityRecord([a, a, a, a, null, null, null, lie])).toEqual({ status: 'contested', of: 8 });
  });

  it('no majority is contested, and no record at all is none', () => {
    const a = fakeRecord(alice.signingPublic, NOW, 1);
    const m = fakeRecord(mallory.signingPublic, NOW, 1);
    expect(majorityRecord([a, m, a, m])).toEqual({ status: 'contested', of: 4 });
    expect(majorityRecord([null, null])).toEqual({ status: 'none' });
    expect(majorityRecord([])).toEqual({ status: 'none' });
  });
});

/** chooseRecord trusts that its input was verified, so these need no real signature. */
function fakeRecord(signingKey: Uint8Array, registeredAt: number, seq: number): UserRecord {
  return {
    name: 'alice',
    signingKey,
    agreementKey: new Uint8Array(32),
    registeredAt,
    seq,
    expiresAt: NOW + RECORD_TTL_MS,
    signature: new Uint8Array(64),
  };
}
