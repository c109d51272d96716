/**
 * The wire format: frames are JSON objects sent as UTF-8 text on authenticated data channels.
 *
 * `parseFrame` takes untrusted input and never throws (STYLE habit 7): it returns a frame or a
 * drop reason, and for a request whose method or body is bad but whose id is readable it also
 * returns the id, so the caller can answer UNKNOWN_METHOD / BAD_REQUEST instead of letting the
 * sender time out. Sizes are checked before JSON.parse runs. Schemas live in protocol-schemas.ts.
 */
import * as v from 'valibot';
import { MAX_FRAME_BYTES } from './constants.ts';
import { ErrorCode, PeerchatError } from '../lib/errors.ts';
import * as S from './protocol-schemas.ts';

export { METHODS, type Method } from './protocol-schemas.ts';
export {
  MAX_CIPHERTEXT_BYTES,
  MAX_CIPHERTEXT_CHARS,
  MAX_ERROR_MSG_CHARS,
  MAX_FETCH_ENTRIES,
  MAX_MAILBOX_COPIES,
  MAX_MAILBOX_HOLDERS,
  MAX_NODES_PER_REPLY,
  MAX_RETRY_MS,
  MAX_ROUTE_BUDGET_MS,
  MAX_SIGNAL_DATA_CHARS,
  MAX_TOMBSTONES_PER_ACK,
} from './protocol-schemas.ts';
import type { Method } from './protocol-schemas.ts';

// ---- Types (all derived from the schemas) --------------------------------------------------

export type Route = v.InferOutput<typeof S.Route>;
export type UserRecordWire = v.InferOutput<typeof S.UserRecordWire>;
export type EnvelopeWire = v.InferOutput<typeof S.EnvelopeWire>;
export type TombstoneWire = v.InferOutput<typeof S.TombstoneWire>;
export type ReceiptWire = v.InferOutput<typeof S.ReceiptWire>;

export type RequestBodyOf<M extends Method> = v.InferOutput<(typeof S.REQUEST_BODIES)[M]>;
export type ResponseBodyOf<M extends Method> = v.InferOutput<(typeof S.RESPONSE_BODIES)[M]>;
/** Any method's reply body. */
export type ResponseBody = ResponseBodyOf<Method>;

export type HelloFrame = v.InferOutput<typeof S.HelloFrame>;
/** Distributes over a union of methods, so RequestFrameOf<Method> is the union of requests. */
export type RequestFrameOf<M extends Method> = M extends Method ? {
  t: 'req';
  id: number;
  m: M;
  /** Present on routed requests: forwarded hop by hop toward `r.k`. */
  r?: Route;
  b: RequestBodyOf<M>;
} : never;
/** A request, discriminated by `m` so that narrowing the method narrows the body. */
export type RequestFrame = RequestFrameOf<Method>;
/** `b` is unchecked until the requester, who knows the method, calls `parseResponseBody`. */
export type ResponseFrame = v.InferOutput<typeof S.ResponseFrame>;
export type ErrorFrame = v.InferOutput<typeof S.ErrorFrame>;
export type BusyFrame = v.InferOutput<typeof S.BusyFrame>;
export type Frame = HelloFrame | RequestFrame | ResponseFrame | ErrorFrame | BusyFrame;

export type DropReason =
  | 'not-text'
  | 'too-large'
  | 'not-json'
  | 'bad-shape'
  | 'unknown-method'
  | 'bad-body';
export type ParseResult =
  | { ok: true; frame: Frame }
  /** `id` is set only for requests whose id is a valid U32: answer it with an `err`. */
  | { ok: false; reason: DropReason; id?: number };

// ---- Size ----------------------------------------------------------------------------------

const encoder = new TextEncoder();
const sizeScratch = new Uint8Array(MAX_FRAME_BYTES);

/**
 * True when `text` is over MAX_FRAME_BYTES in UTF-8. A UTF-16 unit takes 1 to 3 bytes, so most
 * texts are decided by their length alone; the rest are encoded into a fixed scratch buffer,
 * which costs no allocation and stops at the limit. Lone surrogates count as U+FFFD (3 bytes),
 * as a data channel would send them.
 */
export function exceedsFrameLimit(text: string): boolean {
  if (text.length * 3 <= MAX_FRAME_BYTES) return false;
  if (text.length > MAX_FRAME_BYTES) return true;
  return encoder.encodeInto(text, sizeScratch).read < text.length;
}

// ---- Encode --------------------------------------------------------------------------------

/**
 * Serializes a frame. Throws only on programmer error: a frame over MAX_FRAME_BYTES is one the
 * sender must not build (a MAILBOX_FETCH reply, say, must stop adding entries and set `more`).
 */
export function encodeFrame(frame: Frame): string {
  const text = JSON.stringify(frame);
  if (exceedsFrameLimit(text)) {
    throw new PeerchatError(
      ErrorCode.BadRequest,
      `a '${frame.t}' frame is over ${MAX_FRAME_BYTES} bytes; send fewer entries or a smaller body`,
    );
  }
  return text;
}

export function request<M extends Method>(
  id: number,
  m: M,
  b: RequestBodyOf<M>,
  r?: Route,
): RequestFrameOf<M> {
  const frame = r === undefined ? { t: 'req', id, m, b } : { t: 'req', id, m, r, b };
  return frame as RequestFrameOf<M>; // TS cannot follow a conditional type over a generic M
}

export function response(id: number, b: ResponseBody): ResponseFrame {
  return { t: 'res', id, b };
}

/** An error reply; a message longer than the wire allows is cut rather than dropped. */
export function errorFrame(id: number, code: ErrorCode, msg: string): ErrorFrame {
  return { t: 'err', id, code, msg: msg.slice(0, S.MAX_ERROR_MSG_CHARS) };
}

export function hello(key: string, sig: string): HelloFrame {
  return { t: 'hello', key, sig };
}

export function busy(retryMs: number): BusyFrame {
  return { t: 'busy', retryMs };
}

// ---- Parse ---------------------------------------------------------------------------------

/** Stop at the first issue: a dropped frame needs no full list of what was wrong with it. */
const FAST = { abortEarly: true, abortPipeEarly: true } as const;

const OTHER_FRAMES = {
  hello: S.HelloFrame,
  res: S.ResponseFrame,
  err: S.ErrorFrame,
  busy: S.BusyFrame,
} as const;

export function isMethod(m: unknown): m is Method {
  return typeof m === 'string' && Object.hasOwn(S.REQUEST_BODIES, m);
}

function drop(reason: DropReason, id?: number): ParseResult {
  return id === undefined ? { ok: false, reason } : { ok: false, reason, id };
}

export function parseFrame(text: unknown): ParseResult {
  if (typeof text !== 'string') return drop('not-text');
  if (exceedsFrameLimit(text)) return drop('too-large');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return drop('not-json'); // SyntaxError, or RangeError on absurd nesting
  }
  try {
    return parseValue(value);
  } catch {
    return drop('bad-shape'); // schemas do not throw on JSON values; this is the last guard
  }
}

function parseValue(value: unknown): ParseResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return drop('bad-shape');
  const t: unknown = (value as Record<string, unknown>)['t'];
  if (t === 'req') return parseRequest(value as Record<string, unknown>);
  if (typeof t !== 'string' || !Object.hasOwn(OTHER_FRAMES, t)) return drop('bad-shape');
  const parsed = v.safeParse(OTHER_FRAMES[t as keyof typeof OTHER_FRAMES], value, FAST);
  return parsed.success ? { ok: true, frame: parsed.output } : drop('bad-shape');
}

function parseRequest(value: Record<string, unknown>): ParseResult {
  const id = v.is(S.U32, value['id']) ? value['id'] : undefined;
  const head = v.safeParse(S.RequestHeader, value, FAST);
  if (!head.success) return drop('bad-shape', id);
  const { m, r, b } = head.output;
  if (!isMethod(m)) return drop('unknown-method', id);
  const body = v.safeParse(S.REQUEST_BODIES[m], b, FAST);
  if (!body.success) return drop('bad-body', id);
  // The body was checked against the schema for `m`, which is what RequestFrame pairs it with.
  const frame = (r === undefined
    ? { t: 'req', id: head.output.id, m, b: body.output }
    : { t: 'req', id: head.output.id, m, r, b: body.output }) as RequestFrame;
  return { ok: true, frame };
}

/**
 * Checks a reply body against the method the requester asked. Returns null for anything that
 * does not fit (including a method name this build does not know); never throws.
 */
export function parseResponseBody<M extends Method>(
  method: M,
  body: unknown,
): ResponseBodyOf<M> | null {
  return parseBody(S.RESPONSE_BODIES, method, body) as ResponseBodyOf<M> | null;
}

/** The same check for a request body, for callers that hold a body apart from its frame. */
export function parseRequestBody<M extends Method>(
  method: M,
  body: unknown,
): RequestBodyOf<M> | null {
  return parseBody(S.REQUEST_BODIES, method, body) as RequestBodyOf<M> | null;
}

function parseBody(table: typeof S.REQUEST_BODIES | typeof S.RESPONSE_BODIES, method: Method, body: unknown): unknown {
  if (!isMethod(method)) return null;
  try {
    const parsed = v.safeParse(table[method], body, FAST);
    return parsed.success ? parsed.output : null;
  } catch {
    return null;
  }
}
