/**
 * The signal server's wire protocol (`/signal`, JSON text frames), for both ends: the server in
 * signal-server/ and the tab's bootstrap client in web/net/. Validated with valibot on both ends.
 *
 *   server -> tab   {type:'challenge', nonce}                 right after the socket opens
 *   tab -> server   {type:'hello', key, n, id, sig}           sig over signalAuthPayload(nonce)
 *   server -> tab   {type:'ice', servers, ttlS?}              just before welcome, when configured
 *   server -> tab   {type:'features', names}                  just before welcome: queries it answers
 *   server -> tab   {type:'welcome'}                          id is the key's hash, sig is good
 *   tab -> server   {type:'peers', n}                         -> {type:'peers', ids, live?}
 *   tab -> server   {type:'signal', to, rid, payload}         -> to `to`: {type:'signal', from, to, rid, payload}
 *   tab -> server   {type:'signal-reply', to, rid, reply}     -> to `to`: {type:'signal-reply', from, to, rid, reply}
 *   tab -> server   {type:'ping'}                             -> {type:'pong'}
 *   tab -> server   {type:'ice'}                              -> {type:'ice', servers, ttlS?}
 *   tab -> server   {type:'is-tab', id, rid}                  -> {type:'is-tab', rid, id, tab}
 *   server -> tab   {type:'error', code, rid?, msg?}          a signal could not be relayed, or an
 *                                                             is-tab not answered (BUSY)
 *
 * A tab sends nothing but its hello until the welcome arrives (anything else closes with 4401).
 * `from` on relayed frames is stamped by the server from the authenticated socket, so a tab
 * cannot speak for another. The server keeps no state for a signal: `rid` is the asker's own
 * request id, carried there and back, and the asker matches replies by (from, rid). A relayed
 * batch's `data` must be WebRTC signaling as tabs send it (signal-data.ts: a data channel's SDP
 * offer or answer, ICE candidates); the server answers anything else with a BadRequest error.
 *
 * `is-tab` asks whether a tab with node id `id` is registered now, on this server or any other
 * process sharing its backend (the asker's own id answers true); `tab` is the answer. When the
 * backend cannot say (its Redis is away), the server answers `{type:'error', code:BUSY, rid}`
 * instead, never false, and the socket stays open. Errors carry the asker's rid and nothing else
 * to tell a failed signal from a failed is-tab, so a tab draws both kinds of rid from one counter:
 * a rid then names at most one of its pending requests.
 *
 * `features` names the optional queries this server answers (`is-tab`). A server older than a
 * query closes the socket on it as an unknown type, so a tab sends one only on a socket whose
 * server named it; a tab older than `features` drops the frame as an unknown type and goes on.
 *
 * `ice` hands the tab the STUN and TURN servers its new connections use; TURN entries carry
 * credentials that expire `ttlS` seconds after they were minted, so a tab asks again before
 * then. A server without ICE servers sends no `ice`, and a tab asks only after it was sent one
 * with a `ttlS`, so either end may be older than the other.
 */
import * as v from 'valibot';
import { utf8Encode } from '../lib/encoding.ts';
import { ErrorCode } from '../lib/errors.ts';
import { B64Key, B64Sig, Hex40, IdNonce, RetryMs, U32, parseJsonObject, parseWith, type TextDropReason } from '../lib/wire.ts';

export const SIGNAL_PATH = '/signal';
/**
 * The app's second URL, served with COOP/COEP where `/` is served without: moving between the
 * two gives a tab a fresh renderer process, and so a fresh WebRTC connection count.
 */
export const TWIN_PREFIX = '/twin/';

/** Whether a URL path is under the twin URL (`/twin` itself included). */
export function isTwinPath(pathname: string): boolean {
  return pathname === '/twin' || pathname.startsWith(TWIN_PREFIX);
}
/** Largest frame a tab may send (the server's ws `maxPayload`), checked before parsing. */
export const MAX_SIGNAL_FRAME_BYTES = 16 * 1024;
/**
 * Largest frame the server sends: a relayed frame is the sender's (at most the cap above, and
 * re-serializing never lengthens JSON) plus the `"from":"<40 hex>",` the server stamps on it.
 */
export const MAX_SERVER_FRAME_BYTES = MAX_SIGNAL_FRAME_BYTES + 64;
export const SIGNAL_NONCE_BYTES = 32;
/** Most peers one `peers` request may ask for (up to 8 first peers). */
export const MAX_BOOTSTRAP_PEERS = 8;
const SIGNAL_AUTH_TAG = 'peerchat-signal-v1';
const MAX_CONN_CHARS = 64;
/** Room above what a batch holds (MAX_SIGNALS_PER_BATCH, lib/transport.ts). */
const MAX_SIGNAL_STRINGS = 64;
const MAX_ERROR_MSG_CHARS = 256;
/** Names in one `features` frame, and their length: room for queries added later. */
const MAX_FEATURES = 16;
const MAX_FEATURE_CHARS = 32;
/** The `features` name of the is-tab query. */
export const IS_TAB_FEATURE = 'is-tab';
/** ICE server entries in one `ice` frame: the server sends one for STUN and one for TURN. */
export const MAX_ICE_SERVERS = 4;
/** URLs in one ICE server entry (and in STUN_URLS or TURN_URLS). */
export const MAX_ICE_URLS = 8;
export const MAX_ICE_URL_CHARS = 256;
/** A TURN username is `<unix expiry>:<40 hex>` and its credential 28 base64 chars: room above. */
const MAX_ICE_SECRET_CHARS = 128;
/** Longest credential lifetime a server hands out or a tab accepts: one week. */
export const MAX_ICE_TTL_S = 7 * 24 * 3600;
/** RFC 7064 / 7065 URL shapes, without spaces or commas (the env lists are comma-separated). */
export const STUN_URL = /^stuns?:[^\s,]+$/;
export const TURN_URL = /^turns?:[^\s,]+$/;

/** Close codes the server uses; 1008 and 1009 are the standard ones ws and browsers know. */
export const SignalClose = {
  GoingAway: 1001,
  RateLimit: 1008,
  TooLarge: 1009,
  HandshakeTimeout: 4000,
  AuthFailed: 4001,
  /** The same node id authenticated on a newer socket (a reload): the old one goes. */
  Replaced: 4002,
  Heartbeat: 4003,
  BadMessage: 4400,
  NotAuthenticated: 4401,
  NewIdRateLimit: 4429,
} as const;

/** The bytes a tab signs to prove it owns its node id on this connection. */
export function signalAuthPayload(nonce: string): Uint8Array {
  return utf8Encode(`${SIGNAL_AUTH_TAG}\n${nonce}`);
}

// ---- Schemas -------------------------------------------------------------------------------

const Rid = U32;
const Payload = v.strictObject({
  conn: v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_CONN_CHARS), v.regex(/^[A-Za-z0-9_-]+$/)),
  data: v.pipe(v.array(v.string()), v.maxLength(MAX_SIGNAL_STRINGS)),
});
const Reply = v.union([
  v.strictObject({ data: v.pipe(v.array(v.string()), v.maxLength(MAX_SIGNAL_STRINGS)) }),
  v.strictObject({ busyMs: RetryMs }),
]);
const IceUrl = v.pipe(
  v.string(),
  v.maxLength(MAX_ICE_URL_CHARS),
  v.check((url) => STUN_URL.test(url) || TURN_URL.test(url)),
);
const IceText = v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_ICE_SECRET_CHARS));
const IceServer = v.strictObject({
  urls: v.pipe(v.array(IceUrl), v.minLength(1), v.maxLength(MAX_ICE_URLS)),
  username: v.optional(IceText),
  credential: v.optional(IceText),
});
const ErrorCodes = v.picklist([ErrorCode.NotFound, ErrorCode.Busy, ErrorCode.BadRequest]);

const CLIENT = {
  hello: v.strictObject({ type: v.literal('hello'), key: B64Key, n: IdNonce, id: Hex40, sig: B64Sig }),
  peers: v.strictObject({
    type: v.literal('peers'),
    n: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_BOOTSTRAP_PEERS)),
  }),
  signal: v.strictObject({ type: v.literal('signal'), to: Hex40, rid: Rid, payload: Payload }),
  'signal-reply': v.strictObject({ type: v.literal('signal-reply'), to: Hex40, rid: Rid, reply: Reply }),
  ping: v.strictObject({ type: v.literal('ping') }),
  ice: v.strictObject({ type: v.literal('ice') }),
  'is-tab': v.strictObject({ type: v.literal('is-tab'), id: Hex40, rid: Rid }),
} as const;

const SERVER = {
  // A 32-byte nonce has a key's base64url shape.
  challenge: v.strictObject({ type: v.literal('challenge'), nonce: B64Key }),
  welcome: v.strictObject({ type: v.literal('welcome') }),
  // Names this tab does not know are kept and ignored: a newer server may answer more.
  features: v.strictObject({
    type: v.literal('features'),
    names: v.pipe(v.array(v.pipe(v.string(), v.maxLength(MAX_FEATURE_CHARS))), v.maxLength(MAX_FEATURES)),
  }),
  // `live`: how many tabs the server has registered (an older server leaves it out).
  peers: v.strictObject({
    type: v.literal('peers'),
    ids: v.pipe(v.array(Hex40), v.maxLength(MAX_BOOTSTRAP_PEERS)),
    live: v.optional(U32),
  }),
  signal: v.strictObject({ type: v.literal('signal'), from: Hex40, to: Hex40, rid: Rid, payload: Payload }),
  'signal-reply': v.strictObject({
    type: v.literal('signal-reply'),
    from: Hex40,
    to: Hex40,
    rid: Rid,
    reply: Reply,
  }),
  error: v.strictObject({
    type: v.literal('error'),
    code: ErrorCodes,
    rid: v.optional(Rid),
    msg: v.optional(v.pipe(v.string(), v.maxLength(MAX_ERROR_MSG_CHARS))),
  }),
  pong: v.strictObject({ type: v.literal('pong') }),
  'is-tab': v.strictObject({ type: v.literal('is-tab'), rid: Rid, id: Hex40, tab: v.boolean() }),
  ice: v.strictObject({
    type: v.literal('ice'),
    servers: v.pipe(v.array(IceServer), v.maxLength(MAX_ICE_SERVERS)),
    ttlS: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_ICE_TTL_S))),
  }),
} as const;

type Out<T extends Record<string, v.GenericSchema>> = { [K in keyof T]: v.InferOutput<T[K]> }[keyof T];
export type ClientMessage = Out<typeof CLIENT>;
export type ServerMessage = Out<typeof SERVER>;
export type ClientMessageOf<T extends ClientMessage['type']> = Extract<ClientMessage, { type: T }>;
export type ServerMessageOf<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;
export type SignalErrorCode = v.InferOutput<typeof ErrorCodes>;
/** One STUN or TURN entry, the shape RTCIceServer has. */
export type IceServerEntry = v.InferOutput<typeof IceServer>;

// ---- Parse and encode ----------------------------------------------------------------------

export type SignalDropReason = TextDropReason | 'unknown-type';
export type SignalParse<T> = { ok: true; message: T } | { ok: false; reason: SignalDropReason };

function parseIn<T>(table: Record<string, v.GenericSchema>, text: unknown, maxBytes: number): SignalParse<T> {
  const json = parseJsonObject(text, maxBytes);
  if (!json.ok) return json;
  const type = json.value['type'];
  if (typeof type !== 'string' || !Object.hasOwn(table, type)) return { ok: false, reason: 'unknown-type' };
  const message = parseWith(table[type]!, json.value) as T | null;
  return message === null ? { ok: false, reason: 'bad-shape' } : { ok: true, message };
}

/** A frame a tab sent, as the server reads it. Never throws. */
export function parseClientMessage(text: unknown): SignalParse<ClientMessage> {
  return parseIn<ClientMessage>(CLIENT, text, MAX_SIGNAL_FRAME_BYTES);
}

/** A frame the server sent, as a tab reads it. Never throws. */
export function parseServerMessage(text: unknown): SignalParse<ServerMessage> {
  return parseIn<ServerMessage>(SERVER, text, MAX_SERVER_FRAME_BYTES);
}

export function encodeSignalMessage(message: ClientMessage | ServerMessage): string {
  return JSON.stringify(message);
}
