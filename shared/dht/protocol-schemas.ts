/**
 * The DHT's wire schemas: frames, the route a routed request carries, and the bodies of the
 * methods the DHT serves itself (PING, FIND_NODE, SIGNAL). A layer above adds its methods'
 * schemas through registerMethods (protocol.ts), as the chat layer does in chat/wire.ts.
 *
 * Every object is strict: a frame with a key we do not know is dropped, never trimmed, so two
 * implementations cannot silently disagree about what a signed or routed message meant.
 */
import * as v from 'valibot';
import { B64Key, B64Sig, Empty, Hex40, IdNonce, RetryMs, Time, U32, int } from '../lib/wire.ts';
import { MAX_HOPS, MAX_ROUTE_AVOIDS } from './constants.ts';

/** Largest time budget a routed request may carry. */
export const MAX_ROUTE_BUDGET_MS = 60_000;
/** Contacts in one FIND_NODE / FIND_VALUE reply (about 70 bytes each on the wire). */
export const MAX_NODES_PER_REPLY = 32;
/** Characters of SDP / ICE text in one SIGNAL request or reply. */
export const MAX_SIGNAL_DATA_CHARS = 16_384;
export const MAX_SIGNAL_CONN_CHARS = 64;
export const MAX_ERROR_CODE_CHARS = 32;
export const MAX_ERROR_MSG_CHARS = 256;

const ConnId = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(MAX_SIGNAL_CONN_CHARS),
  v.regex(/^[A-Za-z0-9_-]+$/),
);
const SignalData = v.pipe(v.string(), v.maxLength(MAX_SIGNAL_DATA_CHARS));
/**
 * A node named in an answer, self-certifying: the signing key and id nonce that make its id
 * (lib/id.ts). The receiver recomputes the id (dht/contacts.ts) and drops a contact whose work
 * fails, so naming an id costs what making it did. The id itself is not sent: it could only
 * disagree. The old shape, bare hex ids, fails this schema and the whole reply with it.
 */
export const ContactWire = v.strictObject({ key: B64Key, n: IdNonce });
export const NodeList = v.pipe(v.array(ContactWire), v.maxLength(MAX_NODES_PER_REPLY));

// ---- Route ---------------------------------------------------------------------------------

export const Route = v.pipe(
  v.strictObject({
    k: Hex40,
    h: int(0, MAX_HOPS),
    max: int(1, MAX_HOPS),
    ms: int(0, MAX_ROUTE_BUDGET_MS),
    /** A node the request must not be delivered to: the origin, when it asks about its own id. */
    x: v.optional(Hex40),
    /**
     * Nodes no hop may forward it to: ones that answered an earlier try in the target's place
     * (chat/record-service.ts asks of one holder). Liars ignore it; honest hops route around.
     */
    v: v.optional(v.pipe(v.array(Hex40), v.maxLength(MAX_ROUTE_AVOIDS))),
    /**
     * A node to pass first (a waypoint): hops route toward it, and from it on toward k. How a
     * holder greedy paths cannot reach is asked through a node that named it, which has a
     * channel to it (chat/record-service.ts). Dropped where no hop is closer to it but it.
     */
    w: v.optional(Hex40),
  }),
  v.check((r) => r.h <= r.max, 'hops taken exceed the hop limit'),
);

// ---- The DHT's own methods -----------------------------------------------------------------

export const DHT_METHODS = {
  PING: { req: Empty, res: Empty },
  FIND_NODE: { req: v.strictObject({ target: Hex40 }), res: v.strictObject({ nodes: NodeList }) },
  SIGNAL: {
    /**
     * Signed by `from`'s key, which `key` carries with its id nonce `n` (dht/signal-auth.ts), at
     * time `at`.
     */
    req: v.strictObject({ from: Hex40, to: Hex40, conn: ConnId, data: SignalData, key: B64Key, n: IdNonce, at: Time, sig: B64Sig }),
    res: v.strictObject({ data: v.nullable(SignalData), busyMs: v.optional(RetryMs) }),
  },
} as const;

// ---- Frames --------------------------------------------------------------------------------

/** `key` and its id nonce `n` must make the peer's node id (lib/id.ts), with the network's work. */
export const HelloFrame = v.strictObject({ t: v.literal('hello'), key: B64Key, n: IdNonce, sig: B64Sig });

/** A request before its body is checked: the body schema depends on `m`, checked second. */
export const RequestHeader = v.strictObject({
  t: v.literal('req'),
  id: U32,
  m: v.string(),
  r: v.optional(Route),
  b: v.unknown(),
});

/** A reply's body is checked by the requester, which alone knows the method it asked. */
export const ResponseFrame = v.strictObject({
  t: v.literal('res'),
  id: U32,
  b: v.custom<unknown>((x) => typeof x === 'object' && x !== null && !Array.isArray(x)),
});

export const ErrorFrame = v.strictObject({
  t: v.literal('err'),
  id: U32,
  code: v.pipe(
    v.string(),
    v.minLength(1),
    v.maxLength(MAX_ERROR_CODE_CHARS),
    v.regex(/^[A-Z_]+$/),
  ),
  msg: v.pipe(v.string(), v.maxLength(MAX_ERROR_MSG_CHARS)),
});
