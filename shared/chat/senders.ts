/**
 * Who a message is from (issue 14, "Senders"). The name inside a sealed message is the sender's
 * word; only the name's record, resolved when the user looks the name up, says which key owns
 * it. A message from a name the user never looked up makes an unverified contact, pinned to the
 * key that signed it so replies reach that key, until a lookup confirms or contradicts it. The
 * receive path never resolves anything itself: a message must not cause network traffic.
 *
 * Pure decisions over a contact and a key; the inbox and Chat.findUser commit what they say.
 */
import type { ChatMessage, Contact, Trust } from './chat-model.ts';

export type { Trust } from './chat-model.ts';

/** What a message signed by `key` and claiming a contact's name does to that contact. */
export type Arrival =
  /** No contact yet: an unverified one, pinned to the key that signed. */
  | 'first-contact'
  /** Signed by the pinned key. */
  | 'pinned-key'
  /** The pinned key came from a lookup and this is another: flagged, the contact warns. */
  | 'key-change'
  /** Neither key was ever checked against the record: not a key change, the contact stays unverified. */
  | 'another-claim';

/** What resolving a contact's name to a record with `recordKey` does to the contact. */
export type Lookup =
  /** No contact yet: a verified one, pinned to the record's keys. */
  | 'new-contact'
  /** Already verified with this key. */
  | 'unchanged'
  /** An unverified contact whose key the record confirms (trust from trustAfterLookup). */
  | 'confirmed'
  /** An unverified contact whose key is not the record's: re-pinned to the record, trust "mismatch". */
  | 'contradicted'
  /** A verified contact whose record now shows another key: keeps its key, and warns. */
  | 'key-change';

export function trustOf(contact: Contact): Trust {
  return contact.trust ?? 'verified';
}

export function arrival(contact: Contact | undefined, key: string): Arrival {
  if (!contact) return 'first-contact';
  if (contact.signingKey === key) return 'pinned-key';
  return trustOf(contact) === 'unverified' ? 'another-claim' : 'key-change';
}

export function lookup(contact: Contact | undefined, recordKey: string): Lookup {
  if (!contact) return 'new-contact';
  const unverified = trustOf(contact) === 'unverified';
  if (contact.signingKey === recordKey) return unverified ? 'confirmed' : 'unchanged';
  return unverified ? 'contradicted' : 'key-change';
}

/**
 * Whether an incoming message is shown as from its contact's name: only when that name's
 * record resolved to the key that signed it.
 */
export function senderTrust(contact: Contact | undefined, m: ChatMessage): Trust {
  if (!contact || trustOf(contact) === 'unverified') return 'unverified';
  if (m.keyMismatch) return 'mismatch';
  return (m.fromKey ?? contact.signingKey) === contact.signingKey ? 'verified' : 'mismatch';
}

/**
 * A looked-up contact's trust: "mismatch" while any message in its conversation was signed by a
 * key other than the record's (it could have come from another key claiming the name first or
 * after), "verified" otherwise.
 */
export function trustAfterLookup(recordKey: string, incoming: readonly ChatMessage[]): Trust {
  return incoming.some((m) => m.keyMismatch || (m.fromKey !== undefined && m.fromKey !== recordKey)) ? 'mismatch' : 'verified';
}

/**
 * The trust of a contact stored before trust was: Find user made it from a record (verified),
 * or the first message from the name made it at the instant that message arrived (unverified).
 */
export function storedTrust(contact: Contact, incoming: readonly ChatMessage[]): Trust {
  if (contact.trust) return contact.trust;
  return incoming.some((m) => m.receivedAt === contact.addedAt) ? 'unverified' : 'verified';
}
