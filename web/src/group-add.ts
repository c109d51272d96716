/**
 * What an admin's "Add people" (GroupAdmin.svelte) looks up: pure, and in that list's own
 * chunk, since only admins with the member list open need it.
 */
import { MAX_GROUP_MEMBERS } from '../../shared/chat/groups.ts';
import { normalizeUsername } from '../../shared/chat/records.ts';
import { ErrorCode, PeerchatError } from '../../shared/lib/errors.ts';
import { typedNames } from './group-view.ts';

/**
 * The names to look up for an admin's "Add people": each typed name once, in normal form,
 * without those already in the group. Throws words for the user before any lookup (those take
 * seconds each): nothing typed, a name that cannot be a username, only members, no room.
 */
export function namesToAdd(text: string, members: readonly string[]): string[] {
  const typed = typedNames(text);
  if (typed.length === 0) throw new PeerchatError(ErrorCode.BadRequest, 'Type the usernames to add, separated by commas or spaces.');
  const names: string[] = [];
  for (const raw of typed) {
    const name = normalizeUsername(raw);
    if (name === null) throw new PeerchatError(ErrorCode.InvalidName, `“${raw}” is not a username: a username is 3 to 32 characters of a-z, 0-9, _ and -.`);
    if (!names.includes(name)) names.push(name);
  }
  const fresh = names.filter((n) => !members.includes(n));
  if (fresh.length === 0) throw new PeerchatError(ErrorCode.BadRequest, `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} already in the group.`);
  const room = MAX_GROUP_MEMBERS - members.length;
  if (fresh.length > room) {
    throw new PeerchatError(ErrorCode.BadRequest, `A group has at most ${MAX_GROUP_MEMBERS} members, you included: there is room for ${room} more, not ${fresh.length}.`);
  }
  return fresh;
}
