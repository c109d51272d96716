/** The DHT's tunables, each with its unit in its name. ARCHITECTURE.md says where each is used. */

/** Contacts remembered per k-bucket (Kademlia's k). */
export const K_BUCKET_SIZE = 20;
/** Replication factor: records and mailboxes live at the r closest nodes; lookups return r. */
export const REPLICATION = 8;
/** Channels kept per far bucket: one, as every lookup figure in the README was measured with. */
export const FAR_CHANNELS_PER_BUCKET = 1;
/** Routed messages die after this many hops: 2*log2(N)+4 with N = 2^20 as the design bound. */
export const MAX_HOPS = 44;
/** Nodes a routed request may ask its hops not to forward it to (Route.v). */
export const MAX_ROUTE_AVOIDS = 8;
/**
 * Paths one overlay dial may try, each through another first hop, when a routed SIGNAL gets no
 * answer in time (dht/node.ts overlayPath).
 */
export const SIGNAL_ROUTE_TRIES = 3;
/**
 * How long one of those paths may take to bring a step's answer: all SIGNAL_ROUTE_TRIES fit in
 * CONNECT_TIMEOUT_MS with time left for ICE (with a lookup's 10 s, a dial gave up during its
 * second path). An honest path answers within the answerer's wait for its transport (3 s) and
 * a few hops; a slower one that did arrive is answered again the same way (channels.ts
 * handleSignal).
 */
export const SIGNAL_TRY_TIMEOUT_MS = 4_000;
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
/**
 * Requests (every method, answered here or forwarded) one neighbour may send a node: a token
 * bucket per neighbour, and a cap on those being worked on at once. Past either the node
 * answers BUSY and does nothing else. Honest peaks, counted frame by frame on the simulator's
 * network over a CI-size run (N = 1,000 grown at 1.5 x N an hour, then an hour at 30% churn
 * with 400 lookups): 23 requests from one neighbour in one second (a newcomer's SIGNALs routed
 * through its first peer), 39 in ten seconds, 21 in flight at once. The burst is four times
 * that second, the rate six times the ten-second peak, the in-flight cap three times its peak.
 */
export const REQUESTS_PER_NEIGHBOUR_PER_S = 25;
export const REQUEST_BURST_PER_NEIGHBOUR = 100;
export const MAX_REQUESTS_IN_FLIGHT_PER_NEIGHBOUR = 64;
/**
 * What a node sends one neighbour, its own requests and those it forwards together, kept under
 * what that neighbour admits (above): less, for the delay that bunches requests up on the way
 * and for those the neighbour still works on after this node gave up waiting. Own requests wait
 * for room (KademliaNode.send); a forwarded one goes around a neighbour without it. Before, a
 * node's own bursts were refused as BUSY by its neighbours: a 100-node, 60-user group run had
 * 764 honest refusals, 519 of them a holder's copies to its fellow holders (MAILBOX_STORE) and
 * most of the rest a returning tab's dials and lookups through its few first peers.
 */
export const SENDS_PER_NEIGHBOUR_PER_S = 20;
export const SEND_BURST_PER_NEIGHBOUR = 80;
export const MAX_SENDS_IN_FLIGHT_PER_NEIGHBOUR = 48;
/** How often an own request waiting for room to its neighbour looks again. */
export const SEND_ROOM_POLL_MS = 50;
/**
 * A routed SIGNAL is signed by its sender (dht/signal-auth.ts) at a time that must be within
 * this much of the receiver's clock, as a mailbox fetch must be: tabs' clocks drift. A
 * signature seen inside the window is refused as a replay; SEEN_SIGNALS_MAX bounds what the
 * node remembers (past it, new SIGNALs are refused until old ones expire: the per-neighbour
 * request bucket bounds how fast anyone fills it).
 */
export const SIGNAL_FRESH_MS = 5 * 60_000;
export const SEEN_SIGNALS_MAX = 4_096;
/**
 * Inbound offers (a SIGNAL or relayed signal that would create a connection), per source id
 * and in total, checked after the source is authenticated and before the connection budget.
 * Honest offers come one per channel a peer opens to us: about 45 an hour per node while a
 * network grows at 1.5 x N an hour, a few an hour under churn. The most from one source is a
 * tab reloaded in a loop (e2e/network.spec.ts reloads one 60 times or more), which redials each
 * peer once per page load, and a load takes more than the 2 s per offer a source may sustain.
 * The total bounds what a burst of fresh keys makes a node create, 'needed' offers included,
 * which the connection bucket does not pace, and keeps one source from taking every token.
 */
export const OFFERS_PER_SOURCE_PER_HOUR = 1_800;
export const OFFER_BURST_PER_SOURCE = 30;
export const OFFERS_PER_HOUR = 3_600;
export const OFFER_BURST = 60;
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
/** Token bucket for creating connections: refill rate and burst. */
export const CONNECTION_TOKENS_PER_HOUR = 60;
export const CONNECTION_TOKEN_BURST = 30;
/**
 * Dials to the node's own near subtree draw on a bucket of their own first (then on the main
 * one): a join needs about 10-16 of them at once, churn replaces a few an hour.
 */
export const NEAR_CONNECTION_TOKENS_PER_HOUR = 30;
export const NEAR_CONNECTION_TOKEN_BURST = 20;
/**
 * Connections a node creates at most in one renderer process (Chromium allows 500 in its life):
 * the rest is a margin for what the browser counts and we cannot see. Past it, a tab left with
 * fewer than MIN_PEERS_TO_STAY channels moves to its twin URL for a fresh process.
 */
export const CONNECTION_CAP = 400;
export const MIN_PEERS_TO_STAY = 3;
/**
 * With this few connections left under the cap, upkeep dials only the node's near subtree (what
 * it answers for) and no far bucket; with none left it dials nothing and says so once
 * (`upkeep-stopped-at-cap`): at the cap a refusal is not a wait for tokens, and retrying it
 * each second spun (33,917 dials, each with a refresh's lookups, at one capped node of the
 * adversary simulation at N = 1,000, F = 0.1).
 */
export const NEAR_ONLY_CONNECTIONS_LEFT = 20;
/** Time a new WebRTC connection may take to open before it is abandoned. */
export const CONNECT_TIMEOUT_MS = 15_000;
/** Largest frame accepted on a data channel, checked before parsing. */
export { MAX_FRAME_BYTES } from '../lib/transport.ts';
