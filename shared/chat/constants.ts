/** The chat layer's tunables: names, mailboxes, the outbox. Units are in the names. */

/** Largest chat message body (UTF-8). */
export const MAX_MESSAGE_BODY_BYTES = 16 * 1024;
/** User records. */
export const RECORD_TTL_MS = 30 * 24 * 3600_000;
export const RECORD_REPUBLISH_MS = 3600_000;
export const JOIN_REREAD_DELAY_MS = 2_000;
/** Read-backs a Join makes, storing again at the holders that lack its record between them. */
export const JOIN_STORE_ATTEMPTS = 3;
/**
 * Rounds of asking a name's holders (record-service.ts read): a candidate that does not answer
 * as itself is replaced by the next closest, and the holders' own closest sets join the
 * candidates. Honest networks need one or two.
 */
export const HOLDER_ASK_ROUNDS = 8;
/**
 * After this long a name lookup starts no new round or path (those under way still finish, in
 * LOOKUP_TIMEOUT_MS): a Join reads its name back up to four times, and a user waits for each.
 */
export const HOLDER_ASK_WINDOW_MS = 8_000;

/**
 * How long a read by a node with fewer than r channels, in a network larger than r nodes, waits
 * for r of them before it gives no verdict (record-service.ts untilJudgeable).
 */
export const THIN_READ_WAIT_MS = 30_000;
/** This node's own neighbours closest to a name that a name lookup asks directly (record-service.ts read). */
export const HOLDER_SCOUTS = 3;
/**
 * How much farther from a name (log2 of the factor) than the density of this node's near
 * subtree puts the r-th nearest node, one of the name's holders may lie and still vote
 * (holder-search.ts plausibleHolderLog2). About 32 nodes lie that near a key on average
 * (uniform ids, N = 1,000); in 0.1% of reads fewer than 5 of a name's 8 holders do (8,000
 * draws; at 1.5, 22 nodes and 0.6%: an honest name then reads back contested).
 */
export const HOLDER_SLACK_LOG2 = 2;
/**
 * How long one path of an ask of one holder waits (a routed round trip is a few hundred ms):
 * a liar that swallows the ask must not cost the whole lookup's HOLDER_ASK_WINDOW_MS.
 */
export const HOLDER_ASK_TIMEOUT_MS = 3_000;
/** Paths (first hops) an ask of one holder tries before that holder counts as not answering. */
export const HOLDER_ASK_PATHS = 3;
/**
 * Nodes that named a holder which an ask goes through as waypoints (Route.w), between those
 * paths: each has a channel to it (record-service.ts askRouted).
 */
export const HOLDER_ASK_VIAS = 2;
/**
 * Silent holders one name lookup dials through the bootstrap service and asks directly, when the
 * service knows them as tabs (record-service.ts askOrSettle): a name's r holders (REPLICATION),
 * since liars on every path out of a looker can hide all of them, and a majority of r is needed
 * (with 4, an eclipse by 3 liars among the 8 nearest kept the 5th honest holder silent and the
 * name contested: silent-holders.test.ts). Each dial is a connection, and it stays open for the
 * next read of the name.
 */
export const HOLDER_SERVER_DIALS = 8;
/**
 * Paths a name lookup starts through strangers (NodeContext.strangers: random settled nodes
 * the bootstrap service named) beside its two greedy ones (record-service.ts read). A looker
 * whose every channel toward a name is a liar's, or leads to one, saw only the liars near it:
 * they named each other and made-up ids, no honest node near the name was named, and their 8
 * votes of 8 carried it (N = 1,000, F = 0.2, seed 4, once made-up ids lost their places).
 */
export const HOLDER_STRANGER_PATHS = 2;
/**
 * How long the late pass of a name lookup (record-service.ts read) gives the holders that take
 * the places of made-up ones found out after the last round.
 */
export const HOLDER_LATE_PASS_MS = 4_000;
/** Holders asked at most per name lookup, over all rounds: bounds what made-up candidates cost. */
export const HOLDER_ASKS_MAX = 40;
/**
 * How long after a holder first stores a record for a name (by its own clock) another key may
 * still displace it, when a majority of the name's holders pushed that key (records.ts
 * chooseRecord); after it, the name stays with the record held until that record expires.
 */
export const NAME_CONTEST_WINDOW_MS = 60_000;
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
/** Bytes of envelopes one holder keeps in all. */
export const MAILBOX_HOLDER_BYTES = 64 * 1024 * 1024;
/**
 * Bytes one holder keeps for one recipient: at least 180 of the largest messages, thousands of
 * short ones. Past it, the oldest entry of the neighbour that handed over most for that
 * recipient makes room (mailbox-quotas.ts).
 */
export const MAILBOX_PER_RECIPIENT_BYTES = 4 * 1024 * 1024;
/**
 * Bytes one holder keeps from one neighbour (the authenticated channel that handed the entry
 * over, not the envelope's `from`, which anyone writes). A quarter of the holder: one flooding
 * neighbour only ever replaces its own entries.
 */
export const MAILBOX_PER_NEIGHBOUR_BYTES = 16 * 1024 * 1024;
/**
 * A holder takes an entry only when it is among the r + MAILBOX_CLOSENESS_SLACK nodes closest to
 * the recipient by its own table. Two, not zero: tables differ while the neighbourhood churns
 * (the copier may not yet know of a newcomer closer than this node, and this node may know one
 * or two the copier does not), and an honest copy refused for that would be a copy lost. A node
 * can still be made a holder for ids chosen near its own, which the quotas bound.
 */
export const MAILBOX_CLOSENESS_SLACK = 2;
/**
 * How a holder paces the copies it sends one neighbour (push-queue.ts): at most this many in
 * flight, and a bucket of PUSH_BURST then PUSHES_PER_S. Each is under half of what a node admits
 * from one neighbour (dht/constants.ts: 64 in flight, 100 then 25/s), so copies never crowd out
 * the lookups and routing that share the channel. Tombstones for one recipient go 256 to a
 * request (wire.ts MAX_TOMBSTONES_PER_ACK), so even a recheck after days moves fast. Sent all at
 * once they were refused: 23,940 MAILBOX_ACKs in an honest run (README, "Offline delivery"),
 * 923 at N = 1,000 with 30% liars, whose forged and replayed mail honest holders pass on.
 */
export const PUSHES_IN_FLIGHT_PER_NEIGHBOUR = 8;
export const PUSH_BURST = 40;
export const PUSHES_PER_S = 10;
/** Tombstones one holder keeps in all, and for one recipient (the oldest make room). */
export const MAILBOX_MAX_TOMBSTONES = 65_536;
export const MAILBOX_TOMBSTONES_PER_RECIPIENT = 4_096;
/** Fetches a holder remembers (by nonce) to refuse a repeat, while they are fresh. */
export const MAILBOX_REMEMBERED_FETCHES = 4_096;
/** A recipient remembers the ids it has shown at least this long. */
export const SEEN_RETENTION_MS = 15 * 24 * 3600_000;
/** Distinct holders whose signed acks verify before the sender shows "stored". */
export const STORED_QUORUM = 3;
/**
 * How much farther from the recipient than the sender's own r-th nearest neighbour is from the
 * sender a holder may be and still count toward "stored" (a factor, as a power of two: 8x). The
 * sender's neighbourhood tells it how far the r closest to any id lie; honest holders are within
 * about that distance of the recipient, a node with a random id almost never is.
 */
export const PLAUSIBLE_HOLDER_EXTRA_BITS = 3;
/** How often a signed-in node asks its holders for mail besides at start. */
export const MAILBOX_CHECK_INTERVAL_MS = 10 * 60_000;
/** Waits between send attempts of one outbox entry; the last repeats. */
export const OUTBOX_RETRY_MS = [2_000, 10_000, 30_000, 60_000, 5 * 60_000] as const;
/** Attempts that reached nobody before a message shows "failed" (it keeps retrying). */
export const OUTBOX_FAIL_AFTER = 3;
/**
 * Message requests (requests.ts): messages from a sender the user never started or accepted a
 * conversation with wait here, capped per sender (signing key) and in total; past a cap they are
 * dropped and counted, and nothing of theirs is stored.
 */
export const REQUEST_MESSAGES_PER_SENDER = 5;
export const MAX_MESSAGE_REQUESTS = 50;
/** Signing keys the user blocked, remembered so their messages drop at once (the oldest go). */
export const MAX_BLOCKED_SENDERS = 1_000;
