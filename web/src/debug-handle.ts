/**
 * `window.peerchat`: a small handle for the console, and what the browser tests and the browser
 * bench drive (e2e/, bench/browser.ts). Its type is exported from here and imported there, so a
 * change to the handle is a type error in every caller instead of a silent drift.
 */
import type { ShownNotification } from './browser-attention.ts';
import type { Chat } from '../../shared/chat/chat.ts';
import type { LookupResult } from '../../shared/dht/node.ts';
import { idFromHex } from '../../shared/lib/id.ts';
import type { PeerNode } from '../net/peer-node.ts';
import type { SignalClientState } from '../net/signal-client.ts';
import { LOOKUP_PATHS, type NetworkController } from './network-controller.ts';

export interface PeerchatHandle {
  /** This node's id, 40 hex. */
  readonly nodeId: string;
  /** Connections this renderer process created (the count the twin-URL move resets). */
  readonly created: number;
  /** How many times this tab moved to its twin URL. */
  readonly twinMoves: number;
  readonly signalState: SignalClientState;
  /** URLs of the ICE servers a new connection uses now (the settings' and the server's). */
  readonly iceUrls: string[];
  /** Connection attempts in progress. */
  readonly attempts: number;
  /** Milliseconds from navigation start to the end of the join; null until then. */
  readonly joinedMs: number | null;
  /** The signed-in user's name; null while signed out. */
  readonly user: string | null;
  /** Messages still waiting for a receipt. */
  readonly outbox: number;
  /** The node ids of the authenticated peers. */
  neighbours(): string[];
  /** Recent values of a measurement, e.g. 'dial-ms' (connection setup, dial to HELLO done). */
  samples(name: string): number[];
  /** Round trips of `count` sequential PINGs to a neighbour, in ms. */
  ping(hex: string, count: number): Promise<number[]>;
  /** The node's and the signal client's counters. */
  stats(): { node: Record<string, number>; signal: Record<string, number> };
  /** The 8 closest live nodes to a key (40 hex), by a routed lookup over 2 paths. */
  lookup(keyHex: string): Promise<LookupResult>;
  /** The system notifications the browser showed for this tab, oldest first (src/attention.ts). */
  notifications(): ShownNotification[];
}

declare global {
  interface Window {
    /** Set once the tab has built its node (web/src/main.ts). */
    peerchat?: PeerchatHandle;
  }
}

export interface DebugSources {
  peer: PeerNode;
  controller: Pick<NetworkController, 'created' | 'twinMoves' | 'joinedMs'>;
  /** The signed-in user's Chat, or null. */
  chat(): Chat | null;
  notifications(): readonly ShownNotification[];
}

export function createDebugHandle({ peer, controller, chat, notifications }: DebugSources): PeerchatHandle {
  const node = peer.node;
  return {
    get nodeId() {
      return node.hex;
    },
    get created() {
      return controller.created;
    },
    get twinMoves() {
      return controller.twinMoves;
    },
    get signalState() {
      return peer.signal.current;
    },
    get iceUrls() {
      return peer.iceUrls();
    },
    get attempts() {
      return node.channels.attemptsInProgress;
    },
    get joinedMs() {
      return controller.joinedMs;
    },
    get user() {
      return chat()?.name ?? null;
    },
    get outbox() {
      return chat()?.outboxSize ?? 0;
    },
    neighbours: () => node.neighbours().map((n) => n.hex),
    notifications: () => notifications().map((n) => ({ ...n })),
    samples: (name) => [...node.stats.samples(name)],
    ping: (hex, count) => ping(peer, hex, count),
    stats: () => ({ node: node.stats.snapshot(), signal: peer.signalStats.snapshot() }),
    lookup: async (keyHex) => {
      const key = idFromHex(keyHex);
      if (!key) throw new Error('key must be 40 hex digits');
      return node.lookup(key, LOOKUP_PATHS);
    },
  };
}

async function ping(peer: PeerNode, hex: string, count: number): Promise<number[]> {
  const neighbour = peer.node.channels.peers.get(hex);
  if (!neighbour) throw new Error('not a neighbour');
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await peer.node.direct(neighbour, 'PING', {});
    out.push(performance.now() - t);
  }
  return out;
}
