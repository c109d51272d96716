/**
 * The copies a holder sends each neighbour (entries, tombstones, confirmations), paced below
 * what that neighbour admits. Every node answers a neighbour's requests through a bucket and an
 * in-flight cap (dht/budget.ts RequestLimits); a holder that met a new close neighbour, or ran
 * its recheck after hours of churn, used to send every copy at once, and the neighbour refused
 * most of them as BUSY (at N = 200 with 12 h absences, 23,940 MAILBOX_ACKs refused in 14 h,
 * each retried at the next recheck). Here at most PUSHES_IN_FLIGHT_PER_NEIGHBOUR are in flight
 * to one neighbour, started no faster than its PUSH_BURST / PUSHES_PER_S bucket, the rest wait
 * in order; a neighbour that is gone has its waiting copies dropped (`dropped`, so they are
 * offered again to whoever is close later). Both limits stay under half of the neighbour's own,
 * so routing and lookups through the same channel are never crowded out.
 */
import type { NodeContext, Peer } from '../dht/context.ts';
import { TokenBucket } from '../dht/budget.ts';
import { TimerSet } from '../lib/clock.ts';
import { PUSH_BURST, PUSHES_IN_FLIGHT_PER_NEIGHBOUR, PUSHES_PER_S } from './constants.ts';

interface Push {
  send(peer: Peer): Promise<void>;
  dropped(): void;
}

interface Lane {
  waiting: Push[];
  inFlight: number;
  bucket: TokenBucket;
  /** A pump is due when the bucket has a token again. */
  timed: boolean;
}

export class PushQueue {
  private readonly lanes = new Map<string, Lane>();
  private readonly timers: TimerSet;

  constructor(private readonly node: Pick<NodeContext, 'clock' | 'ticker' | 'peer' | 'stats'>) {
    this.timers = new TimerSet(node.ticker);
  }

  /**
   * Queues `send` for the neighbour `peerHex`. It runs, given that neighbour's channel, once the
   * lane has room; if the neighbour is gone by then, `dropped` runs instead. Either way the returned promise
   * settles when that has happened (it never rejects: `send` handles its own failure).
   */
  push(peerHex: string, send: (peer: Peer) => Promise<void>, dropped: () => void): Promise<void> {
    return new Promise<void>((resolve) => {
      let lane = this.lanes.get(peerHex);
      if (!lane) {
        lane = { waiting: [], inFlight: 0, bucket: new TokenBucket(PUSHES_PER_S / 1000, PUSH_BURST, this.node.clock.now()), timed: false };
        this.lanes.set(peerHex, lane);
      }
      lane.waiting.push({
        send: (peer) => send(peer).catch(() => {}).finally(resolve),
        dropped: () => {
          dropped();
          resolve();
        },
      });
      this.pump(peerHex, lane);
    });
  }

  /** Copies waiting for any neighbour (not yet sent). */
  get waiting(): number {
    let n = 0;
    for (const lane of this.lanes.values()) n += lane.waiting.length;
    return n;
  }

  /** The node closed: nothing more is sent, and what waits is dropped. */
  close(): void {
    this.timers.clear();
    for (const [hex, lane] of this.lanes) this.drop(hex, lane);
  }

  private pump(peerHex: string, lane: Lane): void {
    const peer = this.node.peer(peerHex);
    if (!peer) return this.drop(peerHex, lane);
    const now = this.node.clock.now();
    while (lane.waiting.length > 0 && lane.inFlight < PUSHES_IN_FLIGHT_PER_NEIGHBOUR) {
      if (!lane.bucket.take(now)) return this.later(peerHex, lane, lane.bucket.waitMs(now));
      const next = lane.waiting.shift()!;
      lane.inFlight++;
      void next.send(peer).finally(() => {
        lane.inFlight--;
        this.pump(peerHex, lane);
      });
    }
    if (lane.waiting.length > 0 || lane.inFlight > 0) return;
    // Idle: the lane (and its bucket) goes once the bucket is full again, so a neighbour that
    // keeps getting copies is paced across bursts, and one that left costs nothing.
    const deficit = PUSH_BURST - lane.bucket.available(now);
    if (deficit <= 0) this.forget(peerHex, lane);
    else this.later(peerHex, lane, deficit / (PUSHES_PER_S / 1000));
  }

  /** Pumps the lane again in `ms` (once: a lane has at most one pump due). */
  private later(peerHex: string, lane: Lane, ms: number): void {
    if (lane.timed) return;
    lane.timed = true;
    this.timers.set(() => {
      lane.timed = false;
      this.pump(peerHex, lane);
    }, Math.max(1, Math.ceil(ms)));
  }

  /** The neighbour is gone (or the node closed): what waits for it is dropped, and its lane. */
  private drop(peerHex: string, lane: Lane): void {
    const waiting = lane.waiting.splice(0);
    if (waiting.length > 0) this.node.stats.count('mailbox-push-dropped-gone', waiting.length);
    for (const p of waiting) p.dropped();
    if (lane.inFlight === 0) this.forget(peerHex, lane);
  }

  /** A lane's timer or reply may outlive it: only the current lane is removed. */
  private forget(peerHex: string, lane: Lane): void {
    if (this.lanes.get(peerHex) === lane) this.lanes.delete(peerHex);
  }
}
