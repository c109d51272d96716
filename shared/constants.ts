/** Every tunable of the protocol, with its unit in its name. DESIGN.md says where each comes from. */

export const ID_BITS = 160;
export const ID_BYTES = ID_BITS / 8;

/** Contacts remembered per k-bucket (Kademlia's k). */
export const K_BUCKET_SIZE = 20;
/** Replication factor: records and mailboxes live at the r closest nodes; lookups return r. */
export const REPLICATION = 8;
/** Channels kept per far bucket (DESIGN: 1-2). */
export const FAR_CHANNELS_PER_BUCKET = 1;
/** Chat partners a node may hold channels to besides its DHT channels. */
export const MAX_CHAT_CHANNELS = 6;

/** Routed messages die after this many hops: 2*log2(N)+4 with N = 2^20 as the design bound. */
export const MAX_HOPS = 44;
/** A lookup (whole route, both directions) gives up after this long. */
export const LOOKUP_TIMEOUT_MS = 10_000;
/** Each hop takes this much off a routed request's remaining budget before forwarding. */
export const HOP_BUDGET_MARGIN_MS = 250;
/** Direct (one-hop) request timeout, as for PING. */
export const DIRECT_TIMEOUT_MS = 2_000;
/** A contact that misses this many replies in a row is dropped. */
export const MAX_MISSED_REPLIES = 3;
/** Requests a node forwards per neighbour per second before it answers BUSY. */
export const FORWARD_RATE_PER_NEIGHBOUR_PER_S = 50;

/** Period of the self-lookup that heals the nearest set, and of the random-id lookup. */
export const REFRESH_INTERVAL_MS = 10 * 60_000;
/**
 * Period of the cheap check of the near subtree (direct queries to the nearest neighbours)
 * after the neighbourhood changed. A check that follows without a change doubles the wait, up
 * to NEAR_CHECK_MAX_INTERVAL_MS (Trickle's rule, RFC 6206): a quiet neighbourhood is polled
 * half as often. The cap is 4 minutes, not more: with 8, newcomers stayed unknown to the node
 * that answers for them for longer, and lookups at N = 1,000 under churn fell to 98.7% exact
 * (99.5% with 4).
 */
export const NEAR_CHECK_INTERVAL_MS = 2 * 60_000;
export const NEAR_CHECK_MAX_INTERVAL_MS = 4 * 60_000;
/** After a neighbour's channel closes, wait this long before repairing, to batch losses. */
export const REPAIR_DELAY_MS = 1_000;
/** The maintenance tick period. */
export const TICK_MS = 1_000;

/** Chromium's lifetime cap on RTCPeerConnection objects per renderer process. */
export const CONNECTION_LIFETIME_CAP = 500;
/** Above this many connections created, a tab moves to its twin URL for a fresh count. */
export const CONNECTION_REFRESH_AT = 450;
/** Token bucket for creating connections: refill rate and burst. */
export const CONNECTION_TOKENS_PER_HOUR = 60;
export const CONNECTION_TOKEN_BURST = 30;
/**
 * Dials to the node's own near subtree draw on a bucket of their own first (then on the main
 * one): a join needs about 10-16 of them at once, churn replaces a few an hour.
 */
export const NEAR_CONNECTION_TOKENS_PER_HOUR = 30;
export const NEAR_CONNECTION_TOKEN_BURST = 20;
/** Of the lifetime cap, this many are kept for chat partners. */
export const CHAT_CONNECTION_RESERVE = 50;
/** Time a new WebRTC connection may take to open before it is abandoned. */
export const CONNECT_TIMEOUT_MS = 15_000;

/** Largest frame accepted on a data channel, checked before parsing. */
export const MAX_FRAME_BYTES = 64 * 1024;
/** Largest chat message body (UTF-8). */
export const MAX_MESSAGE_BODY_BYTES = 16 * 1024;

/** User records. */
export const RECORD_TTL_MS = 30 * 24 * 3600_000;
export const RECORD_REPUBLISH_MS = 3600_000;
export const JOIN_REREAD_DELAY_MS = 2_000;
export const USERNAME_PATTERN = /^[a-z0-9_-]{3,32}$/;

/** A holder keeps a mailbox entry (and a tombstone) this long from its own receive time. */
export const MAILBOX_RETENTION_MS = 14 * 24 * 3600_000;
/** Entries one holder keeps from one sender for one recipient. */
export const MAILBOX_PER_SENDER = 200;
/** Bytes of envelopes one holder keeps in all. */
export const MAILBOX_HOLDER_BYTES = 64 * 1024 * 1024;

/** Chat (shared/chat.ts). A recipient remembers the ids it has shown at least this long. */
export const SEEN_RETENTION_MS = 15 * 24 * 3600_000;
/** Holders that must have committed a message before the sender shows "stored". */
export const STORED_QUORUM = 3;
/** How often a signed-in node asks its holders for mail besides at start. */
export const MAILBOX_CHECK_INTERVAL_MS = 10 * 60_000;
/** Waits between send attempts of one outbox entry; the last repeats. */
export const OUTBOX_RETRY_MS = [2_000, 10_000, 30_000, 60_000, 5 * 60_000] as const;
/** Attempts that reached nobody before a message shows "failed" (it keeps retrying). */
export const OUTBOX_FAIL_AFTER = 3;
