/**
 * The chat layer's wire: user records, sealed envelopes, tombstones and receipts, and the bodies
 * of the methods the chat layer serves (FIND_VALUE, STORE, MAILBOX_STORE, MAILBOX_FETCH,
 * MAILBOX_ACK, DELIVER). Importing this module adds them to the DHT's method table
 * (dht/protocol.ts registerMethods) and their types to MethodBodies; every chat module that
 * sends or serves one of them imports it, so they are known before any frame is read.
 */
import * as v from 'valibot';
import { B64_ANY, B64Key, B64Nonce, B64Sig, Hex32, Hex40, IdNonce, Time, U32, int } from '../lib/wire.ts';
import { NodeList } from '../dht/protocol-schemas.ts';
import { registerMethods } from '../dht/protocol.ts';
import { MAX_MESSAGE_BODY_BYTES, USERNAME_PATTERN } from './constants.ts';

/** Copies a MAILBOX_STORE asks its receiver to make, and signed holder acks it may return. */
export const MAX_MAILBOX_COPIES = 8;
export const MAX_HOLDER_ACKS = MAX_MAILBOX_COPIES + 1;
/** Entries in one MAILBOX_FETCH reply (the frame limit usually bites first: see mailbox-service.ts). */
export const MAX_FETCH_ENTRIES = 64;
/** Tombstones in one MAILBOX_ACK. */
export const MAX_TOMBSTONES_PER_ACK = 256;
/** Sealed body bytes: the body, the AES-GCM tag, and room for padding and an inner header. */
export const MAX_CIPHERTEXT_BYTES = MAX_MESSAGE_BODY_BYTES + 16 + 1024;
/** Base64url characters of the largest ciphertext (no padding). */
export const MAX_CIPHERTEXT_CHARS = Math.ceil((MAX_CIPHERTEXT_BYTES * 4) / 3);

const B64Ciphertext = v.pipe(v.string(), v.maxLength(MAX_CIPHERTEXT_CHARS), v.regex(B64_ANY));
export const Username = v.pipe(v.string(), v.regex(USERNAME_PATTERN));

export const UserRecordWire = v.strictObject({
  name: Username,
  signingKey: B64Key,
  agreementKey: B64Key,
  /** The signing key's id nonce (lib/id.ts); absent only in records signed before ids cost work. */
  n: v.optional(IdNonce),
  registeredAt: Time,
  seq: U32,
  expiresAt: Time,
  sig: B64Sig,
});

/**
 * The envelope's format. Version 2 carries outside the seal only what holders and relays need:
 * the recipient, the message id (random), the seal's ephemeral key and nonce, the ciphertext.
 * The sender's keys, name, clock and signature travel inside (messages.ts).
 */
export const ENVELOPE_VERSION = 2;

export const EnvelopeWire = v.strictObject({
  v: v.literal(ENVELOPE_VERSION),
  id: Hex32,
  to: Hex40,
  epk: B64Key,
  nonce: B64Nonce,
  ct: B64Ciphertext,
});

/**
 * The first format, with the sender's id, clock and signature in the clear. Recognised only to
 * be dropped with its own counted reason (from the network: 'old-version'; from disk: see
 * mailbox-disk.ts and chat-model.ts), never opened.
 */
export const OldEnvelopeWire = v.strictObject({
  id: Hex32,
  from: Hex40,
  to: Hex40,
  sentAt: Time,
  epk: B64Key,
  nonce: B64Nonce,
  ct: B64Ciphertext,
  sig: B64Sig,
});

/** SHA-256 of an envelope (messages.ts envelopeHash): what holders key entries and tombstones by. */
export const B64Hash = B64Key;

/** "Delete the entry with this envelope hash", signed by the recipient `to`. */
export const TombstoneWire = v.strictObject({ h: B64Hash, to: Hex40, at: Time, sig: B64Sig });
/** "Message `id` reached `to`", signed by the recipient, for the sender. */
export const ReceiptWire = v.strictObject({ id: Hex32, to: Hex40, at: Time, sig: B64Sig });
/**
 * A holder's word that it committed an envelope: its node key (which with its id nonce `n` must
 * make `holder`) signs the envelope hash, the recipient and its own id (holder-acks.ts).
 */
export const HolderAckWire = v.strictObject({ holder: Hex40, key: B64Key, n: IdNonce, sig: B64Sig });

export type UserRecordWire = v.InferOutput<typeof UserRecordWire>;
export type EnvelopeWire = v.InferOutput<typeof EnvelopeWire>;
export type OldEnvelopeWire = v.InferOutput<typeof OldEnvelopeWire>;
export type TombstoneWire = v.InferOutput<typeof TombstoneWire>;
export type ReceiptWire = v.InferOutput<typeof ReceiptWire>;
export type HolderAckWire = v.InferOutput<typeof HolderAckWire>;

/** `key` is the recipient's signing key and `n` its id nonce: holders check each tombstone against them. */
const MailboxAck = v.strictObject({
  key: B64Key,
  n: IdNonce,
  tombstones: v.pipe(v.array(TombstoneWire), v.minLength(1), v.maxLength(MAX_TOMBSTONES_PER_ACK)),
});

const CHAT_METHODS = {
  FIND_VALUE: {
    /** `nonce`: an ask of one holder (answer-proofs.ts), to be answered with a signed `proof`. */
    req: v.strictObject({ key: Hex40, nonce: v.optional(B64Key) }),
    res: v.strictObject({ record: v.nullable(UserRecordWire), nodes: NodeList, proof: v.optional(HolderAckWire) }),
  },
  STORE: {
    req: v.strictObject({ record: UserRecordWire }),
    /** `record` is what the holder keeps for that name after the STORE, ours or another. */
    res: v.strictObject({ stored: v.boolean(), record: v.nullable(UserRecordWire) }),
  },
  MAILBOX_STORE: {
    req: v.strictObject({ envelope: EnvelopeWire, copies: int(0, MAX_MAILBOX_COPIES) }),
    oldReq: v.object({ envelope: OldEnvelopeWire }),
    /**
     * `acks`: the holder's own and those of the copies it made; the sender counts the ones that
     * verify. `ack` comes from a holder that has the envelope's tombstone: it was fetched already.
     */
    res: v.strictObject({ stored: v.boolean(), acks: v.pipe(v.array(HolderAckWire), v.maxLength(MAX_HOLDER_ACKS)), ack: v.optional(MailboxAck) }),
  },
  MAILBOX_FETCH: {
    /** Signed by the owner for one holder (`holder`), once (`nonce`), at `at`: messages.ts signFetch. */
    req: v.strictObject({ owner: Hex40, key: B64Key, n: IdNonce, holder: Hex40, nonce: B64Nonce, at: Time, sig: B64Sig }),
    res: v.strictObject({ entries: v.pipe(v.array(EnvelopeWire), v.maxLength(MAX_FETCH_ENTRIES)), more: v.boolean() }),
  },
  MAILBOX_ACK: { req: MailboxAck, res: v.strictObject({ accepted: int(0, MAX_TOMBSTONES_PER_ACK) }) },
  DELIVER: {
    req: v.strictObject({ envelope: EnvelopeWire }),
    oldReq: v.object({ envelope: OldEnvelopeWire }),
    /** `ack` answers a holder's push: the tombstone that deletes what it handed over. */
    res: v.strictObject({ receipt: ReceiptWire, ack: v.optional(MailboxAck) }),
  },
} as const;

type ChatMethodBodies = {
  [M in keyof typeof CHAT_METHODS]: {
    req: v.InferOutput<(typeof CHAT_METHODS)[M]['req']>;
    res: v.InferOutput<(typeof CHAT_METHODS)[M]['res']>;
  };
};

declare module '../dht/protocol.ts' {
  interface MethodBodies extends ChatMethodBodies {}
}

registerMethods(CHAT_METHODS);
