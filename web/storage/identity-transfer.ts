/**
 * Moving an identity between browsers (ARCHITECTURE.md, "Backup and a second device"): export
 * it to a passphrase-sealed file (identity-file.ts), import such a file as a new saved identity
 * of this browser, and delete an identity with all its data. The app loads this module only
 * when the user asks for one of them.
 *
 * An imported identity is the same node (same keys, same node id) and the same user (profile,
 * contacts with their pinned keys, conversations, messages, unsent messages, requests, blocked
 * keys): mail that the network holds for it is handed over wherever it runs next. The two
 * browsers are not kept in step; the one that runs later is the one that gets new mail.
 */
import { importIdentity, type Identity } from '../../shared/lib/crypto.ts';
import { ErrorCode, PeerchatError } from '../../shared/lib/errors.ts';
import { idToHex } from '../../shared/lib/id.ts';
import type { Random } from '../../shared/lib/random.ts';
import type { Store } from '../../shared/lib/store.ts';
import { parseUserData, readUserData, userDataOps, type TransferTable } from '../../shared/chat/transfer.ts';
import { deleteDB } from 'idb';
import { databaseName, openIdbStore } from './idb-store.ts';
import { exportableSeeds, listIdentities, removeFromDirectory, saveKeys, saveToDirectory, type SavedIdentity } from './identities.ts';
import { MIN_PASSPHRASE_CHARS, openFailureText, openIdentityFile, sealIdentityFile, MAX_IDENTITY_FILE_BYTES } from './identity-file.ts';

export interface ExportedFile {
  fileName: string;
  text: string;
}

/** Whether `passphrase` may seal a file; the reason in words when not. */
export function passphraseProblem(passphrase: string): string | null {
  return [...passphrase].length < MIN_PASSPHRASE_CHARS ? `Choose a passphrase of at least ${MIN_PASSPHRASE_CHARS} characters: it is all that protects the file.` : null;
}

/** The identity file of the signed-in user of `store`. Rejects with words for the user. */
export async function exportIdentityFile(store: Store, identity: Identity, passphrase: string, random: Random, now = Date.now()): Promise<ExportedFile> {
  const problem = passphraseProblem(passphrase);
  if (problem) throw new PeerchatError(ErrorCode.BadRequest, problem);
  const keys = await exportableSeeds(store, identity);
  if (!keys) {
    throw new PeerchatError(ErrorCode.BadRequest, 'This identity was made before exports existed: its keys cannot leave this browser. Messages and contacts stay here.');
  }
  const user = await readUserData(store);
  if (!user) throw new PeerchatError(ErrorCode.BadRequest, 'Join with a username first: an identity without one has nothing to move.');
  const text = await sealIdentityFile({ keys, user, exportedAt: now }, passphrase, random);
  return { fileName: `peerchat-${user.profile.name}.identity.json`, text };
}

export interface Imported {
  nodeId: string;
  name: string;
  /** Entries of the file that failed their checks and were left out, by table. */
  dropped: Partial<Record<TransferTable, number>>;
}

/**
 * Imports an identity file as a saved identity of this browser, in one transaction: the keys
 * (non-extractable, with their sealed copy) and the user's data, then its directory entry. The
 * caller switches the tab to it. Rejects with words for the user; a wrong passphrase's words
 * contain "passphrase".
 */
export async function importIdentityFile(file: { size: number; text(): Promise<string> }, passphrase: string, now = Date.now()): Promise<Imported> {
  const refuse = (message: string) => new PeerchatError(ErrorCode.BadRequest, message);
  if (file.size > MAX_IDENTITY_FILE_BYTES) throw refuse(openFailureText('too-large'));
  const opened = await openIdentityFile(await file.text(), passphrase);
  if (!opened.ok) throw refuse(openFailureText(opened.reason));
  const { keys, user } = opened.contents;
  const identity = await importIdentity(keys, { extractable: false });
  const parsed = parseUserData(user);
  if (!identity || !parsed) throw refuse(openFailureText('bad-contents'));
  const nodeId = idToHex(identity.nodeId);
  const name = parsed.data.profile.name;
  const here = (await listIdentities()).find((e) => e.nodeId === nodeId);
  if (here) throw refuse(`${here.name ?? name} is already in this browser: choose “Continue as ${here.name ?? name}”.`);
  const store = await openIdbStore(databaseName(nodeId));
  try {
    // A database left by an earlier import that failed before its directory entry is written over.
    await saveKeys(store, identity, { ...keys, n: identity.idNonce }, userDataOps(parsed.data));
  } finally {
    await store.close();
  }
  await saveToDirectory({ nodeId, name, createdAt: now });
  return { nodeId, name, dropped: parsed.dropped };
}

/**
 * Deletes a saved identity and everything its database holds (keys, messages, contacts, what it
 * held for others), then its directory entry. The caller has closed the store it ran on.
 */
export async function deleteIdentity(entry: Pick<SavedIdentity, 'nodeId' | 'db'>): Promise<void> {
  await deleteDB(databaseName(entry.db ?? entry.nodeId));
  await removeFromDirectory(entry.nodeId);
}
