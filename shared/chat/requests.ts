/**
 * Message requests (issue 14, "Spam"). A sender is known when the user has a conversation with
 * the name it claims that the user started (sent to it, looked it up with Find user) or
 * accepted. A message from anyone else is a request: it waits, apart from the conversations,
 * until the user accepts it (then it becomes a normal conversation, its key pinned by the rules
 * of senders.ts) or blocks it (dropped, its key remembered so later messages drop at once).
 *
 * Requests are keyed by the signing key that wrote them, the one thing a signature proves: a
 * name is the sender's word, and a flood of throwaway keys all claiming one name is still one
 * request each. REQUEST_MESSAGES_PER_SENDER messages per key and MAX_MESSAGE_REQUESTS keys in all
 * are kept; past a cap a message is dropped with a counted reason and nothing of it is stored
 * (no contact, no conversation, no seen id). A full list drops newcomers rather than evicting the
 * oldest: eviction would let a flood of fresh keys erase the honest requests already waiting,
 * unseen, at no cost, while a drop leaves the user the list to see and clear; and an honest
 * sender's outbox tries DELIVER again each session until it gets a receipt.
 *
 * Requests get no receipt (no "delivered", which tells a spammer the address is live and read);
 * the sender's side shows "stored" once holders keep it, and "delivered" when the user accepts
 * (the receipts go out then). Pure decisions and disk checks here; the inbox and Chat commit.
 */
import { isMessage, type ChatMessage, type MessageRequest } from './chat-model.ts';
import { MAX_MESSAGE_REQUESTS, REQUEST_MESSAGES_PER_SENDER } from './constants.ts';
import { fromBase64Url } from '../lib/encoding.ts';
import { idFromHex } from '../lib/id.ts';
import { isUsername } from './records.ts';

/** The shape lives in chat-model.ts with the others the store holds. */
export type { MessageRequest };

/** Where an opened, verified text message goes. */
export type Destination =
  /** A conversation the user started or accepted: shown there (senders.ts pins or flags). */
  | 'conversation'
  /** A new or waiting request with room. */
  | 'request'
  /** Dropped, nothing stored: the key is blocked, or a cap is reached. */
  | 'drop-blocked'
  | 'drop-sender-cap'
  | 'drop-total-cap';

export interface Arrived {
  /** The user has a conversation with the claimed name that it started or accepted. */
  known: boolean;
  blocked: boolean;
  /** The waiting request from the signing key, if any. */
  request: MessageRequest | undefined;
  /** Requests waiting in all. */
  requests: number;
}

export function destination(a: Arrived): Destination {
  if (a.blocked) return 'drop-blocked';
  if (a.known) return 'conversation';
  if (a.request) return a.request.messages.length < REQUEST_MESSAGES_PER_SENDER ? 'request' : 'drop-sender-cap';
  return a.requests < MAX_MESSAGE_REQUESTS ? 'request' : 'drop-total-cap';
}

/** `r` with one more message (the caller checked there is room). */
export function withMessage(r: MessageRequest, m: ChatMessage): MessageRequest {
  return { ...r, messages: [...r.messages, m] };
}

// ---- Disk is untrusted: shapes this code wrote, checked before use ------------------------

const isKey = (v: unknown): boolean => typeof v === 'string' && fromBase64Url(v)?.length === 32;

export function isMessageRequest(v: unknown): v is MessageRequest {
  const r = v as MessageRequest | undefined;
  return (
    typeof r === 'object' && r !== null && isKey(r.key) && isUsername(r.name) && typeof r.nodeId === 'string' && idFromHex(r.nodeId) !== null &&
    isKey(r.agreementKey) && Number.isSafeInteger(r.firstAt) && r.firstAt >= 0 && Array.isArray(r.messages) && r.messages.length > 0 &&
    r.messages.length <= REQUEST_MESSAGES_PER_SENDER && r.messages.every((m) => isMessage(m) && !m.out && m.peer === r.name && m.fromKey === r.key)
  );
}

export function isBlockedAt(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}
