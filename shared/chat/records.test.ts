import type { UserRecordWire } from './wire.ts';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { RECORD_TTL_MS } from './constants.ts';
import { createIdentity, webCryptoOps as ops, type Identity } from '../lib/crypto.ts';
import { isPeerchatError } from '../lib/errors.ts';
import { compareBytes, sha256, userKey } from '../lib/id.ts';
import { SeededRandom } from '../lib/random.ts';
import {
  chooseRecord,
  createRecord,
  normalizeUsername,
  recordFromWire,
  recordKey,
  recordSignedBytes,
  recordToWire,
  verifyRecord,
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

/** Applies records in order the way a holder does, returning what it ends up keeping. */
async function holderAfter(records: UserRecord[], now: number): Promise<UserRecord | undefined> {
  let held: UserRecord | undefined;
  for (const record of records) {
    if ((await chooseRecord(held, record, now)) === 'replace') held = record;
  }
  return held;
}

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
    expect(await verifyRecord({ ...forged, signingKey: alice.signingPublic }, NOW, ops)).toBe('bad-signature');
    const genuine = await make(alice);
    expect(await verifyRecord({ ...genuine, signingKey: mallory.signingPublic }, NOW, ops)).toBe('bad-signature');
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
    expect(await chooseRecord(undefined, record, NOW)).toBe('replace');
    const old = await make(mallory, { registeredAt: NOW - RECORD_TTL_MS * 2, now: NOW - RECORD_TTL_MS - 1 });
    expect(await chooseRecord(old, record, NOW)).toBe('replace');
  });

  it('from the same key only a higher seq replaces', async () => {
    const one = await make(alice, { seq: 1 });
    const two = await make(alice, { seq: 2, now: NOW + 1 });
    expect(await chooseRecord(one, two, NOW)).toBe('replace');
    expect(await chooseRecord(two, one, NOW)).toBe('keep');
    expect(await chooseRecord(two, { ...two }, NOW)).toBe('keep');
    expect(await chooseRecord(one, await make(alice, { seq: 1, now: NOW + 5 }), NOW)).toBe('keep');
  });

  it('between two keys the earlier registration wins in either order of arrival', async () => {
    const first = await make(alice, { registeredAt: NOW - 10 });
    const second = await make(mallory, { registeredAt: NOW - 5, seq: 99 });
    expect(await holderAfter([first, second], NOW)).toBe(first);
    expect(await holderAfter([second, first], NOW)).toBe(first);
  });

  it('breaks a registration tie by the lower hash of the signing key', async () => {
    const a = await make(alice);
    const m = await make(mallory);
    const aliceLower = compareBytes(sha256(alice.signingPublic), sha256(mallory.signingPublic)) < 0;
    const winner = aliceLower ? a : m;
    expect(await holderAfter([a, m], NOW)).toBe(winner);
    expect(await holderAfter([m, a], NOW)).toBe(winner);
  });

  it('never stores an incoming record that has already expired', async () => {
    const record = await make(alice);
    expect(await chooseRecord(undefined, record, record.expiresAt)).toBe('keep');
  });

  it('ends with the same winner whichever of two records arrives first', async () => {
    const keys = [alice.signingPublic, mallory.signingPublic, new Uint8Array(32).fill(7)];
    const record = fc
      .record({ key: fc.nat(2), registeredAt: fc.integer({ min: 0, max: 3 }), seq: fc.nat(3) })
      .map(({ key, registeredAt, seq }) => fakeRecord(keys[key]!, NOW - registeredAt, seq));
    await fc.assert(
      fc.asyncProperty(record, record, async (a, b) => {
        fc.pre(compareBytes(a.signingKey, b.signingKey) !== 0 || a.seq !== b.seq);
        expect(await holderAfter([a, b], NOW)).toBe(await holderAfter([b, a], NOW));
      }),
    );
  });

  it('between any number of keys every arrival order ends with the same winner', async () => {
    const keys = fc.uniqueArray(fc.uint8Array({ minLength: 32, maxLength: 32 }), {
      minLength: 2,
      maxLength: 5,
      selector: (k) => k.join(),
    });
    const scenario = keys.chain((ks) =>
      fc.tuple(
        fc.tuple(...ks.map((k) => fc.integer({ min: 0, max: 2 }).map((t) => fakeRecord(k, NOW - t, 1)))),
        fc.infiniteStream(fc.nat()),
      ),
    );
    await fc.assert(
      fc.asyncProperty(scenario, async ([records, picks]) => {
        const shuffled = [...records];
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = picks.next().value % (i + 1);
          [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
        }
        expect(await holderAfter(shuffled, NOW)).toBe(await holderAfter(records, NOW));
      }),
      { numRuns: 50 },
    );
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
