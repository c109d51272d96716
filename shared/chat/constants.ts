/** The chat layer's tunables: names, mailboxes, the outbox. Units are in the names. */

/** Largest chat message body (UTF-8). */
export const MAX_MESSAGE_BODY_BYTES = 16 * 1024;
/** User records. */
export const RECORD_TTL_MS = 30 * 24 * 3600_000;
export const RECORD_REPUBLISH_MS = 3600_000;
export const JOIN_REREAD_DELAY_MS = 2_000;
/**
 * How long after a holder first stores a record for a name (by its own clock) another key may
 * still displace it: two Joins of one name in this window are settled the same way everywhere;
 * after it, the name stays with the record held until that record expires.
 */
export const NAME_CONTEST_WINDOW_MS = 60_000;
/**
 * Inside the contest window, how many more nearby holders must have pushed a key for it to
 * displace another; closer counts fall to the contest hash. One is not enough: two Joins that
 * reach different holders first would each be pushed to the other and swap them.
 */
export const CONTEST_BACKING_MARGIN = 2;
/** Names one signing key may hold at one holder. */
export const MAX_NAMES_PER_KEY = 4;
/**
 * A holder takes a direct STORE only when it is among the r + this many closest to the name by
 * its own channels: room for churn, and no room for junk from anywhere.
 */
export const NAME_HOLDER_SLACK = 4;
export const USERNAME_PATTERN = /^[a-z0-9_-]{3,32}$/;
/** A holder keeps a mailbox entry (and a tombstone) this long from its own receive time. */
export const MAILBOX_RETENTION_MS = 14 * 24 * 3600_000;
/** Entries one holder keeps from one sender for one recipient. */
export const MAILBOX_PER_SENDER = 200;
/** Bytes of envelopes one holder keeps in all. */
export const MAILBOX_HOLDER_BYTES = 64 * 1024 * 1024;
/** A recipient remembers the ids it has shown at least this long. */
export const SEEN_RETENTION_MS = 15 * 24 * 3600_000;
/** Holders that must have committed a message before the sender shows "stored". */
export const STORED_QUORUM = 3;
/** How often a signed-in node asks its holders for mail besides at start. */
export const MAILBOX_CHECK_INTERVAL_MS = 10 * 60_000;
/** Waits between send attempts of one outbox entry; the last repeats. */
export const OUTBOX_RETRY_MS = [2_000, 10_000, 30_000, 60_000, 5 * 60_000] as const;
/** Attempts that reached nobody before a message shows "failed" (it keeps retrying). */
export const OUTBOX_FAIL_AFTER = 3;
