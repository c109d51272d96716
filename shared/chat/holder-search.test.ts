import { describe, expect, it } from 'vitest';
import { HolderSearch, MAX_STRIKES } from './holder-search.ts';

// Ids as 40 hex digits: the key is all zeros, so a smaller number is closer.
const id = (n: number) => n.toString(16).padStart(40, '0');
const KEY = id(0);

describe('HolderSearch', () => {
  it('a holder that does not answer abstains: a farther node does not take its vote', () => {
    const s = new HolderSearch<string>(KEY, 2);
    s.add([id(1), id(2), id(3)]);
    expect(s.toAsk()).toEqual([id(1), id(2)]);
    s.noAnswer(id(1));
    s.answered(id(2), 'a', []);
    expect(s.toAsk()).toEqual([]);
    expect([...s.votes()]).toEqual([[id(2), 'a']]);
    expect(s.abstained()).toBe(1);
  });

  it('a made-up holder is replaced by the next closest once its namer is found out', () => {
    const s = new HolderSearch<string>(KEY, 2);
    s.add([id(10), id(11)]);
    s.answered(id(10), 'a', [id(1), id(2)]);
    s.answered(id(11), 'a', []);
    expect(s.toAsk()).toEqual([id(1), id(2)]);
    s.noAnswer(id(1));
    s.noAnswer(id(2));
    expect(s.holders()).toEqual([id(11)]);
  });

  it('a source that names made-up holders is found out after two, and its vote and candidates go', () => {
    const s = new HolderSearch<string>(KEY, 4);
    s.add([id(100), id(101), id(102), id(103)]);
    for (const h of [id(100), id(101), id(102), id(103)]) s.answered(h, 'honest', []);
    // The liar answers with its own record and names 8 made-up ids closer than anyone.
    const liar = id(50);
    s.add([liar]);
    s.answered(liar, 'forged', [1, 2, 3, 4, 5, 6, 7, 8].map(id));
    // At most MAX_STRIKES of the ids only it named are asked at once.
    const asked = s.toAsk();
    expect(asked).toHaveLength(MAX_STRIKES);
    for (const h of asked) s.noAnswer(h);
    expect(s.liarCount).toBe(1);
    expect(s.toAsk()).toEqual([]);
    expect([...s.votes().values()]).toEqual(['honest', 'honest', 'honest', 'honest']);
  });

  it('candidates named by the looker itself are never charged to a source', () => {
    const s = new HolderSearch<string>(KEY, 3);
    s.add([id(1), id(2), id(3)]);
    expect(s.toAsk()).toEqual([id(1), id(2), id(3)]);
    for (const h of [id(1), id(2), id(3)]) s.noAnswer(h);
    expect(s.liarCount).toBe(0);
    expect(s.votes().size).toBe(0);
  });
});
