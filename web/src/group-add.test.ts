import { describe, expect, it } from 'vitest';
import { MAX_GROUP_MEMBERS } from '../../shared/chat/groups.ts';
import { namesToAdd } from './group-add.ts';

describe('the names an admin’s Add people looks up', () => {
  it('are the typed ones once each, lowercased, without the members already in', () => {
    expect(namesToAdd('Eve, fay eve ann', ['ann', 'ben'])).toEqual(['eve', 'fay']);
  });

  it('are refused before any lookup when nothing is typed', () => {
    expect(() => namesToAdd(' , ', ['ann'])).toThrow(/Type the usernames to add/);
  });

  it('are refused, naming it, when one cannot be a username', () => {
    expect(() => namesToAdd('eve, x!', ['ann'])).toThrow(/“x!” is not a username/);
  });

  it('are refused when every one is already in the group', () => {
    expect(() => namesToAdd('ben', ['ann', 'ben'])).toThrow('ben is already in the group.');
    expect(() => namesToAdd('ben ann', ['ann', 'ben'])).toThrow('ben, ann are already in the group.');
  });

  it(`are refused when they would make the group more than ${MAX_GROUP_MEMBERS}, saying how many fit`, () => {
    const members = Array.from({ length: MAX_GROUP_MEMBERS - 1 }, (_, i) => `user${i}`);
    expect(namesToAdd('eve', members)).toEqual(['eve']);
    expect(() => namesToAdd('eve fay', members)).toThrow(`at most ${MAX_GROUP_MEMBERS} members, you included: there is room for 1 more, not 2`);
  });
});
