/**
 * A user's data as it moves to another browser or device (ARCHITECTURE.md, "Backup and a second
 * device"): the profile and the user's own tables, read from one node's Store and written into
 * another's. What the node holds for others (name records, mailbox entries, tombstones, its
 * routing table) stays: the new node is a new holder and fills its own.
 *
 * The data arrives from a file, so it is untrusted even after its passphrase opened it (the
 * file could have been made by anyone who knew or chose the passphrase): every entry is checked
 * with the same checks ChatBook.load applies to disk, and one that fails is dropped and counted.
 */
import { isContact, isConversation, isMessage, isOldOutboxEntry, isOutboxEntry, isProfile, isStoredGroup, type Profile } from './chat-model.ts';
import { isBlockedAt, isMessageRequest } from './requests.ts';
import type { Store, StoreOp } from '../lib/store.ts';
import { fromBase64Url } from '../lib/encoding.ts';

/** The user's own tables, in the order they are written. */
export const TRANSFER_TABLES = ['contacts', 'conversations', 'messages', 'outbox', 'seen', 'requests', 'blocked', 'groups'] as const;
export type TransferTable = (typeof TRANSFER_TABLES)[number];

export interface UserData {
  profile: Profile;
  tables: Record<TransferTable, Array<[string, unknown]>>;
}

const isTime = (at: unknown): boolean => Number.isSafeInteger(at) && (at as number) >= 0;
/** Message ids are 16 random bytes in hex (wire.ts Hex32). */
const isMessageId = (id: string): boolean => /^[0-9a-f]{32}$/.test(id);
const isSigningKey = (key: string): boolean => fromBase64Url(key)?.length === 32;

/** Whether `value`, stored under `key` in `table`, is what this code writes there. */
const CHECKS: Record<TransferTable, (key: string, value: unknown) => boolean> = {
  contacts: (key, c) => isContact(c) && c.name === key,
  conversations: (key, c) => isConversation(c) && c.peer === key,
  messages: (key, m) => isMessage(m) && m.id === key,
  outbox: (key, e) => (isOutboxEntry(e) || isOldOutboxEntry(e)) && e.envelope.id === key,
  seen: (id, at) => isMessageId(id) && isTime(at),
  requests: (key, r) => isMessageRequest(r) && r.key === key,
  blocked: (key, at) => isSigningKey(key) && isBlockedAt(at),
  groups: (id, g) => isStoredGroup(g, id),
};

/** The user's data in `store`; null when this identity never joined (it has no profile). */
export async function readUserData(store: Store): Promise<UserData | null> {
  const profile = await store.get<unknown>('meta', 'profile');
  if (!isProfile(profile)) return null;
  const tables = {} as UserData['tables'];
  for (const table of TRANSFER_TABLES) tables[table] = await store.entries<unknown>(table);
  return { profile, tables };
}

export interface ParsedUserData {
  data: UserData;
  /** Entries dropped, by table: they did not pass the table's check (or were not [key, value]). */
  dropped: Partial<Record<TransferTable, number>>;
}

/**
 * The user data in an untrusted value, its failing entries dropped and counted; null when it has
 * no valid profile (nothing to sign in as) or is not shaped as UserData at all.
 */
export function parseUserData(raw: unknown): ParsedUserData | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const { profile, tables } = raw as { profile?: unknown; tables?: unknown };
  if (!isProfile(profile) || typeof tables !== 'object' || tables === null) return null;
  const data: UserData = { profile: { name: profile.name, registeredAt: profile.registeredAt, seq: profile.seq }, tables: {} as UserData['tables'] };
  const dropped: ParsedUserData['dropped'] = {};
  for (const table of TRANSFER_TABLES) {
    const entries = (tables as Record<string, unknown>)[table] ?? [];
    if (!Array.isArray(entries)) return null;
    const kept: Array<[string, unknown]> = [];
    const keys = new Set<string>();
    for (const entry of entries as unknown[]) {
      const ok = Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'string' && !keys.has(entry[0]) && CHECKS[table](entry[0], entry[1]);
      if (ok) {
        keys.add(entry[0] as string);
        kept.push([entry[0] as string, entry[1]]);
      } else {
        dropped[table] = (dropped[table] ?? 0) + 1;
      }
    }
    data.tables[table] = kept;
  }
  return { data, dropped };
}

/** The writes that put `data` into an empty store: one batch, so all of it or none. */
export function userDataOps(data: UserData): StoreOp[] {
  const ops: StoreOp[] = [{ type: 'put', table: 'meta', key: 'profile', value: data.profile }];
  for (const table of TRANSFER_TABLES) for (const [key, value] of data.tables[table]) ops.push({ type: 'put', table, key, value });
  return ops;
}
