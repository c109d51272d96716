/**
 * The messages RedisBackend processes send each other on their pub/sub channels: a relay for a
 * tab of the receiver, the result that answers it, and the notice that a tab was replaced
 * elsewhere. Another process may be buggy (or another version), so what arrives is checked as
 * untrusted: size first, then JSON, then the schema, and a relayed frame must be the signal
 * frame it claims to be, addressed to the tab it is for. Never throws.
 */
import * as v from 'valibot';
import { MAX_SERVER_FRAME_BYTES, parseServerMessage } from '../../shared/signal/protocol.ts';
import { Hex40, int, parseJsonObject, parseWith } from '../../shared/lib/wire.ts';
import type { DeliverResult } from './backend.ts';
import { OWNER } from './redis-scripts.ts';

/** A relay carries one server frame; the envelope around it is small. */
export const MAX_BUS_MESSAGE_BYTES = MAX_SERVER_FRAME_BYTES * 2 + 512;

const Proc = v.pipe(v.string(), v.regex(/^[0-9a-f]{16}$/));
const Rid = int(1, Number.MAX_SAFE_INTEGER);

const BusMessage = v.variant('k', [
  v.object({ k: v.literal('relay'), rid: Rid, from: Proc, to: Hex40, frame: v.string() }),
  v.object({ k: v.literal('result'), rid: Rid, r: v.picklist(['delivered', 'not-found', 'busy']) }),
  v.object({ k: v.literal('replaced'), id: Hex40, owner: v.pipe(v.string(), v.regex(OWNER)) }),
]);

export type BusMessage = v.InferOutput<typeof BusMessage>;

export function encodeRelay(rid: number, from: string, to: string, frame: string): string {
  return JSON.stringify({ k: 'relay', rid, from, to, frame });
}

export function encodeResult(rid: number, r: DeliverResult): string {
  return JSON.stringify({ k: 'result', rid, r });
}

export function parseBusMessage(text: unknown): BusMessage | null {
  const json = parseJsonObject(text, MAX_BUS_MESSAGE_BYTES);
  if (!json.ok) return null;
  const message = parseWith(BusMessage, json.value);
  if (message?.k !== 'relay') return message;
  // The frame goes to a tab as it is: it must be a relayed signal for exactly that tab.
  const frame = parseServerMessage(message.frame);
  if (!frame.ok || (frame.message.type !== 'signal' && frame.message.type !== 'signal-reply')) return null;
  return frame.message.to === message.to ? message : null;
}

/** The relays this process sent to others, each waiting for its result or its deadline. */
export class RelayWaits {
  private readonly waits = new Map<number, { done: (r: DeliverResult) => void; timer: ReturnType<typeof setTimeout> }>();
  private ridSeq = 0;

  /** A new request id and the result it will get: 'not-found' if none comes within `timeoutMs`. */
  open(timeoutMs: number): { rid: number; result: Promise<DeliverResult> } {
    const rid = ++this.ridSeq;
    const result = new Promise<DeliverResult>((done) => {
      const timer = setTimeout(() => this.settle(rid, 'not-found'), timeoutMs);
      this.waits.set(rid, { done, timer });
    });
    return { rid, result };
  }

  /** Answers a wait; unknown and already answered ids are ignored (a late or forged result). */
  settle(rid: number, result: DeliverResult): void {
    const wait = this.waits.get(rid);
    if (!wait) return;
    clearTimeout(wait.timer);
    this.waits.delete(rid);
    wait.done(result);
  }

  /** Every wait answered 'not-found' (Redis gone, or closing). */
  settleAll(): void {
    for (const rid of [...this.waits.keys()]) this.settle(rid, 'not-found');
  }
}
