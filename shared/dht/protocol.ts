/**
 * The DHT's wire format: frames are JSON objects sent as UTF-8 text on authenticated data
 * channels. Every frame is built by the builders below and read by parseFrame.
 *
 * `parseFrame` takes untrusted input and never throws: it returns a frame or a drop reason, and
 * for a request whose method or body is bad but whose id is readable it also returns the id, so
 * the caller can answer UNKNOWN_METHOD / BAD_REQUEST instead of letting the sender time out.
 * Sizes are checked before JSON.parse runs (lib/wire.ts). Schemas live in protocol-schemas.ts.
 *
 * Methods form a table keyed by name, as js-libp2p kad-dht keys its handlers. The DHT's own are
 * PING, FIND_NODE and SIGNAL; a layer above adds its methods with registerMethods and their
 * types by merging into MethodBodies (chat/wire.ts does both), so the DHT names none of them.
 */
import * as v from 'valibot';
import { ErrorCode, PeerchatError } from '../lib/errors.ts';
import { exceedsUtf8Bytes, parseJsonObject, parseWith, U32 } from '../lib/wire.ts';
import { MAX_FRAME_BYTES } from './constants.ts';
import * as S from './protocol-schemas.ts';

export { MAX_ERROR_MSG_CHARS, MAX_NODES_PER_REPLY, MAX_ROUTE_BUDGET_MS, MAX_SIGNAL_DATA_CHARS } from './protocol-schemas.ts';
export { MAX_RETRY_MS } from '../lib/wire.ts';

// ---- Methods -------------------------------------------------------------------------------

type Bodies<T extends Record<string, { req: v.GenericSchema; res: v.GenericSchema }>> = {
  [M in keyof T]: { req: v.InferOutput<T[M]['req']>; res: v.InferOutput<T[M]['res']> };
};

/**
 * Request and reply body types by method. Open for merging: a layer that registers methods
 * declares their bodies here too (`declare module '.../dht/protocol.ts'`).
 */
export interface MethodBodies extends Bodies<typeof S.DHT_METHODS> {}

export type Method = keyof MethodBodies & string;
export type RequestBodyOf<M extends Method> = MethodBodies[M]['req'];
export type ResponseBodyOf<M extends Method> = MethodBodies[M]['res'];
/** Any method's reply body. */
export type ResponseBody = ResponseBodyOf<Method>;

/** The schemas of some methods, checked against the body types declared for them. */
export type MethodSchemas<M extends Method> = {
  [K in M]: {
    req: v.GenericSchema<unknown, RequestBodyOf<K>>;
    res: v.GenericSchema<unknown, ResponseBodyOf<K>>;
    /** A request body of an earlier format, no longer taken: dropped as 'old-version', not 'bad-body'. */
    oldReq?: v.GenericSchema;
  };
};

interface MethodSpec {
  req: v.GenericSchema;
  res: v.GenericSchema;
  oldReq?: v.GenericSchema;
}

const SCHEMAS = new Map<string, MethodSpec>(Object.entries(S.DHT_METHODS));

/**
 * Adds methods to the wire (module load time, before any frame is read). A method registered
 * twice with other schemas is a programmer error.
 */
export function registerMethods<M extends Method>(schemas: MethodSchemas<M>): void {
  for (const [name, pair] of Object.entries(schemas) as [string, MethodSpec][]) {
    const known = SCHEMAS.get(name);
    if (known && (known.req !== pair.req || known.res !== pair.res)) throw new Error(`Method ${name} is registered twice`);
    SCHEMAS.set(name, pair);
  }
}

/** Every method this build knows, the DHT's and the registered ones. */
export function methods(): Method[] {
  return [...SCHEMAS.keys()] as Method[];
}

export function isMethod(m: unknown): m is Method {
  return typeof m === 'string' && SCHEMAS.has(m);
}

// ---- Frame types (derived from the schemas) ------------------------------------------------

export type Route = v.InferOutput<typeof S.Route>;
export type HelloFrame = v.InferOutput<typeof S.HelloFrame>;
/** Distributes over a union of methods, so RequestFrameOf<Method> is the union of requests. */
export type RequestFrameOf<M extends Method> = M extends Method ? {
  t: 'req';
  id: number;
  m: M;
  b: RequestBodyOf<M>;
  /** Present on routed requests: forwarded hop by hop toward `r.k`. */
  r?: Route;
} : never;
/** A request, discriminated by `m` so that narrowing the method narrows the body. */
export type RequestFrame = RequestFrameOf<Method>;
/** `b` is unchecked until the requester, who knows the method, calls `parseResponseBody`. */
export type ResponseFrame = v.InferOutput<typeof S.ResponseFrame>;
export type ErrorFrame = v.InferOutput<typeof S.ErrorFrame>;
export type Frame = HelloFrame | RequestFrame | ResponseFrame | ErrorFrame;

/** 'old-version': a body in a format this build no longer takes (an older peer's), told apart from junk. */
export type DropReason = 'not-text' | 'too-large' | 'not-json' | 'bad-shape' | 'unknown-method' | 'bad-body' | 'old-version';
export type ParseResult =
  | { ok: true; frame: Frame }
  /** `id` is set only for requests whose id is a valid U32: answer it with an `err`. */
  | { ok: false; reason: DropReason; id?: number };

/** True when `text` is over MAX_FRAME_BYTES in UTF-8. */
export function exceedsFrameLimit(text: string): boolean {
  return exceedsUtf8Bytes(text, MAX_FRAME_BYTES);
}

// ---- Build and encode ----------------------------------------------------------------------

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

/** A request; the route goes last, which the simulator's frame counter relies on. */
export function request<M extends Method>(id: number, m: M, b: RequestBodyOf<M>, r?: Route): RequestFrameOf<M> {
  const frame = r === undefined ? { t: 'req', id, m, b } : { t: 'req', id, m, b, r };
  return frame as RequestFrameOf<M>; // TS cannot follow a conditional type over a generic M
}

export function response(id: number, b: ResponseBody): ResponseFrame {
  return { t: 'res', id, b };
}

/** An error reply; a message longer than the wire allows is cut rather than dropped. */
export function errorFrame(id: number, code: ErrorCode, msg: string): ErrorFrame {
  return { t: 'err', id, code, msg: msg.slice(0, S.MAX_ERROR_MSG_CHARS) };
}

export function hello(key: string, n: number, sig: string): HelloFrame {
  return { t: 'hello', key, n, sig };
}

// ---- Parse ---------------------------------------------------------------------------------

const OTHER_FRAMES = { hello: S.HelloFrame, res: S.ResponseFrame, err: S.ErrorFrame } as const;

function drop(reason: DropReason, id?: number): ParseResult {
  return id === undefined ? { ok: false, reason } : { ok: false, reason, id };
}

export function parseFrame(text: unknown): ParseResult {
  const json = parseJsonObject(text, MAX_FRAME_BYTES);
  if (!json.ok) return drop(json.reason);
  const value = json.value;
  const t = value['t'];
  if (t === 'req') return parseRequest(value);
  if (typeof t !== 'string' || !Object.hasOwn(OTHER_FRAMES, t)) return drop('bad-shape');
  const frame = parseWith<Frame>(OTHER_FRAMES[t as keyof typeof OTHER_FRAMES], value);
  return frame ? { ok: true, frame } : drop('bad-shape');
}

function parseRequest(value: Record<string, unknown>): ParseResult {
  const id = v.is(U32, value['id']) ? value['id'] : undefined;
  const head = parseWith(S.RequestHeader, value);
  if (!head) return drop('bad-shape', id);
  const { m, r } = head;
  if (!isMethod(m)) return drop('unknown-method', id);
  const spec = SCHEMAS.get(m)!;
  const body = parseWith(spec.req, head.b);
  if (body === null) return drop(spec.oldReq && v.is(spec.oldReq, head.b) ? 'old-version' : 'bad-body', id);
  // The body was checked against the schema for `m`, which is what RequestFrame pairs it with.
  return { ok: true, frame: request(head.id, m, body as never, r) };
}

/**
 * Checks a reply body against the method the requester asked. Returns null for anything that
 * does not fit (including a method name this build does not know); never throws.
 */
export function parseResponseBody<M extends Method>(method: M, body: unknown): ResponseBodyOf<M> | null {
  return isMethod(method) ? (parseWith(SCHEMAS.get(method)!.res, body) as ResponseBodyOf<M> | null) : null;
}

/** The same check for a request body, for callers that hold a body apart from its frame. */
export function parseRequestBody<M extends Method>(method: M, body: unknown): RequestBodyOf<M> | null {
  return isMethod(method) ? (parseWith(SCHEMAS.get(method)!.req, body) as RequestBodyOf<M> | null) : null;
}
