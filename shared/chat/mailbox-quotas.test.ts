import { describe, expect, it } from 'vitest';
import { QuotaLedger } from './mailbox-quotas.ts';

/** Adds what `plan` allows, evicting what it says: as the mailbox service does. */
function admit(q: QuotaLedger, key: string, to: string, from: string, size: number): string[] | null {
  const evict = q.plan(to, from, size);
  if (evict === null) return null;
  for (const k of evict) q.remove(k);
  q.add(key, to, from, size);
  return evict;
}

describe('holder quotas evict rather than refuse', () => {
  it('a neighbour over its share loses its own oldest entries, no one else’s', () => {
    const q = new QuotaLedger({ perNeighbour: 10, perRecipient: 100, total: 100 });
    admit(q, 'h1', 'bob', 'honest', 5);
    for (let i = 0; i < 10; i++) admit(q, `j${i}`, `r${i}`, 'flooder', 4);
    expect(q.neighbourSize('flooder')).toBeLessThanOrEqual(10);
    expect(q.has('h1')).toBe(true);
    expect(q.has('j9') && q.has('j8')).toBe(true);
    expect(q.has('j0')).toBe(false);
  });

  it('a full recipient loses the oldest entry of the neighbour that brought most for it', () => {
    const q = new QuotaLedger({ perNeighbour: 100, perRecipient: 10, total: 100 });
    admit(q, 'h1', 'bob', 'honest', 3);
    admit(q, 'j1', 'bob', 'flooder', 3);
    admit(q, 'j2', 'bob', 'flooder', 3);
    expect(admit(q, 'h2', 'bob', 'honest', 3)).toEqual(['j1']);
    expect(q.recipientSize('bob')).toBe(9);
  });

  it('a full holder loses the oldest entry of the neighbour that brought most in all', () => {
    const q = new QuotaLedger({ perNeighbour: 100, perRecipient: 100, total: 12 });
    admit(q, 'h1', 'bob', 'honest', 2);
    for (const k of ['j1', 'j2', 'j3']) admit(q, k, k, 'flooder', 3);
    expect(admit(q, 'h2', 'carol', 'other', 3)).toEqual(['j1']);
    expect(admit(q, 'h3', 'dave', 'other', 3)).toEqual(['j2']);
    expect(q.total).toBe(11);
    expect(['h1', 'h2', 'h3', 'j3'].every((k) => q.has(k))).toBe(true);
  });

  it('refuses only what can never fit, and plans nothing when there is room', () => {
    const q = new QuotaLedger({ perNeighbour: 10, perRecipient: 10, total: 10 });
    expect(q.plan('bob', 'n', 11)).toBeNull();
    expect(q.plan('bob', 'n', 10)).toEqual([]);
    admit(q, 'x', 'bob', 'n', 10);
    q.remove('x');
    expect([q.total, q.count, q.recipientSize('bob'), q.neighbourSize('n')]).toEqual([0, 0, 0, 0]);
  });
});
