/**
 * deploy.ts's signal-server measurements, from authenticated `ws` tabs in the bench process:
 * how many signal frames per second the servers relay from tab A to tab B (one in flight, and
 * many pairs at once), and how much memory a server holds per idle authenticated tab.
 */
import type WebSocket from 'ws';
import type { Identity } from '../shared/lib/crypto.ts';
import { idToHex } from '../shared/lib/id.ts';
import { encodeSignalMessage } from '../shared/signal/protocol.ts';
import { joined } from '../signal-server/test-client.ts';
// A tab's real first batch (an offer and two candidates, ~1.1 KB): the server relays nothing else.
import { samplePayload } from '../shared/signal/test-signals.ts';
import type { ServerChild } from './deploy-server.ts';
import type { Memory } from './server-memory.ts';

/** Tabs connecting at once: quick, and well under the handshake timeout. */
const CONNECT_BATCH = 100;

export interface Tab {
  id: string;
  ws: WebSocket;
  /** Called with every frame the server sends this tab. */
  onFrame: (text: string) => void;
}

/** Authenticated tabs on `url`, one per identity, CONNECT_BATCH at a time. */
export async function connectTabs(url: string, identities: Identity[]): Promise<Tab[]> {
  const tabs: Tab[] = [];
  for (let start = 0; start < identities.length; start += CONNECT_BATCH) {
    const batch = identities.slice(start, start + CONNECT_BATCH).map(async (identity) => {
      const client = await joined(url, identity);
      // The test client parses and queues every frame; the bench only counts them.
      client.ws.removeAllListeners('message');
      const tab: Tab = { id: idToHex(identity.nodeId), ws: client.ws, onFrame: () => {} };
      client.ws.on('message', (data) => tab.onFrame(data.toString()));
      return tab;
    });
    tabs.push(...(await Promise.all(batch)));
  }
  return tabs;
}

export async function closeTabs(tabs: Tab[]): Promise<void> {
  await Promise.all(
    tabs.map(
      (tab) =>
        new Promise<void>((resolve) => {
          if (tab.ws.readyState === tab.ws.CLOSED) return resolve();
          tab.ws.once('close', () => resolve());
          tab.ws.terminate();
        }),
    ),
  );
}

export interface RelayRate {
  pairs: number;
  relays: number;
  relaysPerSecond: number;
  latencyMs: { p50: number; p99: number };
  /** Relays the server refused (busy, not found): none expected. */
  refused: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
const round = (n: number, places: number) => Math.round(n * 10 ** places) / 10 ** places;

/**
 * Each pair relays one signal A -> B at a time, the next as soon as B has the last, for
 * `durationMs`; `pairs` pairs at once keep that many relays in flight.
 */
export async function relayRate(pairs: [Tab, Tab][], durationMs: number): Promise<RelayRate> {
  const latencies: number[] = [];
  let refused = 0;
  const started = performance.now();
  const end = started + durationMs;
  await Promise.all(
    pairs.map(
      ([a, b], i) =>
        new Promise<void>((resolve) => {
          const frame = encodeSignalMessage({ type: 'signal', to: b.id, rid: i, payload: samplePayload(`bench${i}`) });
          let sentAt = 0;
          const send = () => {
            sentAt = performance.now();
            a.ws.send(frame);
          };
          b.onFrame = (text) => {
            if (!text.startsWith('{"type":"signal"')) return;
            const now = performance.now();
            latencies.push(now - sentAt);
            if (now < end) send();
            else resolve();
          };
          a.onFrame = (text) => {
            if (!text.startsWith('{"type":"error"')) return;
            refused++;
            if (performance.now() < end) send();
            else resolve();
          };
          send();
        }),
    ),
  );
  const wallMs = performance.now() - started;
  latencies.sort((x, y) => x - y);
  return {
    pairs: pairs.length,
    relays: latencies.length,
    relaysPerSecond: Math.round(latencies.length / (wallMs / 1000)),
    latencyMs: { p50: round(percentile(latencies, 0.5), 3), p99: round(percentile(latencies, 0.99), 3) },
    refused,
  };
}

export interface IdlePerTab {
  tabs: number;
  rssKiB: number;
  heapUsedKiB: number;
  externalKiB: number;
  /** What redis-server's used_memory grew by per tab (presence key, first-peers entry). */
  redisKiB?: number;
  settled: boolean;
  readingsMiB: { none: Record<string, number>; all: Record<string, number> };
}

const kib = (bytes: number) => round(bytes / 1024, 2);
const mib = (m: Memory) => ({ rss: round(m.rss / 2 ** 20, 1), heapUsed: round(m.heapUsed / 2 ** 20, 1), external: round(m.external / 2 ** 20, 1) });

/**
 * Memory per idle authenticated tab on `server`: settled readings after forced collections with
 * no tab (after `warmup` tabs came and went) and with all of `identities` connected and idle.
 */
export async function idlePerTab(
  server: ServerChild,
  identities: Identity[],
  warmup: Identity[],
  redisUsedMemory?: () => Promise<number>,
): Promise<IdlePerTab> {
  await closeTabs(await connectTabs(server.url, warmup));
  let none = await server.memory();
  for (let i = 0; none.authenticated !== 0 && i < 50; i++) none = await server.memory();
  const redisBefore = await redisUsedMemory?.();
  const tabs = await connectTabs(server.url, identities);
  const all = await server.memory();
  if (all.authenticated !== identities.length) throw new Error(`server holds ${all.authenticated} tabs, expected ${identities.length}`);
  const redisAfter = await redisUsedMemory?.();
  await closeTabs(tabs);
  const n = identities.length;
  return {
    tabs: n,
    rssKiB: kib((all.memory.rss - none.memory.rss) / n),
    heapUsedKiB: kib((all.memory.heapUsed - none.memory.heapUsed) / n),
    externalKiB: kib((all.memory.external - none.memory.external) / n),
    ...(redisBefore !== undefined && redisAfter !== undefined ? { redisKiB: kib((redisAfter - redisBefore) / n) } : {}),
    settled: none.settled && all.settled,
    readingsMiB: { none: mib(none.memory), all: mib(all.memory) },
  };
}
