/**
 * Request/response matching over one channel. It knows nothing of routing or of what a method
 * means: it numbers requests, matches replies, enforces per-request deadlines on the injected
 * clock, and validates reply bodies before a caller ever sees them.
 */
import type { Clock, TimerHandle } from '../lib/clock.ts';
import { ErrorCode, PeerchatError, quietError } from '../lib/errors.ts';
import {
  encodeFrame,
  errorFrame,
  parseResponseBody,
  request,
  response,
  type Frame,
  type Method,
  type RequestBodyOf,
  type RequestFrame,
  type ResponseBodyOf,
  type Route,
} from './protocol.ts';

export interface Reply<M extends Method = Method> {
  ok(body: ResponseBodyOf<M>): void;
  error(code: ErrorCode, message: string): void;
}

/**
 * What a channel needs from its owner. Its functions are called as methods (`host.send(f)`), so
 * the owner can be one object with prototype methods instead of a bag of closures per channel:
 * the simulator holds tens of thousands of channels.
 */
export interface RpcHost {
  readonly clock: Clock;
  /** Hands an encoded frame to the connection; false when it could not be queued. */
  send(frame: string): boolean;
  onRequest(request: RequestFrame, reply: Reply): void;
  /** A reply that matched nothing, or had a malformed body. */
  onDrop(reason: 'unmatched-reply' | 'bad-reply-body'): void;
}

interface Pending {
  method: Method;
  resolve(body: unknown): void;
  reject(err: PeerchatError): void;
  timer: TimerHandle;
}

const MAX_REQUEST_ID = 0xffffffff;

export class RpcChannel {
  private nextId = 1;
  /** Requests in flight; null while there are none, as most channels are idle most of the time. */
  private pending: Map<number, Pending> | null = null;
  private closedReason: string | null = null;

  constructor(private readonly host: RpcHost) {}

  get inFlight(): number {
    return this.pending?.size ?? 0;
  }

  request<M extends Method>(method: M, body: RequestBodyOf<M>, timeoutMs: number, route?: Route): Promise<ResponseBodyOf<M>> {
    if (this.closedReason !== null) {
      return Promise.reject(new PeerchatError(ErrorCode.ChannelClosed, `Channel closed: ${this.closedReason}`));
    }
    const id = this.nextId;
    this.nextId = this.nextId >= MAX_REQUEST_ID ? 1 : this.nextId + 1;
    const frame = request(id, method, body, route);
    return new Promise<ResponseBodyOf<M>>((resolve, reject) => {
      let encoded: string;
      try {
        encoded = encodeFrame(frame);
      } catch (err) {
        return reject(err instanceof PeerchatError ? err : new PeerchatError(ErrorCode.BadRequest, String(err)));
      }
      const timer = this.host.clock.setTimeout(() => {
        this.take(id);
        reject(new PeerchatError(ErrorCode.Timeout, `${method} got no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      (this.pending ??= new Map()).set(id, { method, resolve: resolve as (b: unknown) => void, reject, timer });
      if (!this.host.send(encoded)) this.fail(id, new PeerchatError(ErrorCode.ChannelClosed, 'Channel would not take the frame'));
    });
  }

  /** Feeds a parsed frame that arrived on this channel (HELLO is the owner's). */
  receive(frame: Frame): void {
    if (frame.t === 'req') {
      this.host.onRequest(frame, this.replier(frame.id, frame.m));
    } else if (frame.t === 'res' || frame.t === 'err') {
      const p = this.take(frame.id);
      if (!p) return this.host.onDrop('unmatched-reply');
      this.host.clock.clearTimeout(p.timer);
      if (frame.t === 'err') return p.reject(quietError(asErrorCode(frame.code), frame.msg));
      const body = parseResponseBody(p.method, frame.b);
      if (body === null) {
        this.host.onDrop('bad-reply-body');
        return p.reject(new PeerchatError(ErrorCode.BadRequest, `Malformed ${p.method} reply`));
      }
      p.resolve(body);
    }
  }

  /** Sends an error reply for a request the owner could not even parse (bad body, unknown method). */
  replyError(id: number, code: ErrorCode, message: string): void {
    if (this.closedReason === null) this.host.send(encodeFrame(errorFrame(id, code, message)));
  }

  /** Rejects everything in flight. Idempotent. */
  close(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    if (!this.pending) return;
    for (const id of [...this.pending.keys()]) this.fail(id, quietError(ErrorCode.ChannelClosed, `Channel closed: ${reason}`));
  }

  private fail(id: number, err: PeerchatError): void {
    const p = this.take(id);
    if (!p) return;
    this.host.clock.clearTimeout(p.timer);
    p.reject(err);
  }

  /** Removes a request from those in flight, releasing the map when it empties. */
  private take(id: number): Pending | undefined {
    const pending = this.pending;
    const p = pending?.get(id);
    if (!pending || !p) return undefined;
    pending.delete(id);
    if (pending.size === 0) this.pending = null;
    return p;
  }

  private replier(id: number, method: Method): Reply {
    let done = false;
    return {
      ok: (body) => {
        if (done || this.closedReason !== null) return;
        done = true;
        try {
          this.host.send(encodeFrame(response(id, body)));
        } catch {
          this.replyError(id, ErrorCode.BadRequest, `${method} reply too large`);
        }
      },
      error: (code, message) => {
        if (done) return;
        done = true;
        this.replyError(id, code, message);
      },
    };
  }
}

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));
function asErrorCode(code: string): ErrorCode {
  return KNOWN_CODES.has(code) ? (code as ErrorCode) : ErrorCode.Rejected;
}
