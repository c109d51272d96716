/**
 * What a headless node reports about itself: the fields the Network panel shows a tab's user
 * (node id, peers, routing table, signal state, ICE servers, connections made), plus what it
 * holds for others and its counters. statusOf is a pure read of the node; startStatusServer
 * serves it as JSON on 127.0.0.1 only (GET /status; GET /healthz answers 200 once joined, 503 while
 * starting or stopping), for a supervisor or a person with curl.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PeerNode } from '../net/peer-node.ts';
import type { SignalClientState } from '../net/signal-client.ts';

export type HeadlessPhase = 'starting' | 'joining' | 'joined' | 'stopping';

export interface NodeStatus {
  nodeId: string;
  phase: HeadlessPhase;
  uptimeS: number;
  peers: number;
  routingTable: { contacts: number; buckets: number };
  signal: { state: SignalClientState; detail: string };
  iceServers: string[];
  connectionsCreated: number;
  held: { records: number; mail: number };
  counters: Record<string, number>;
  signalCounters: Record<string, number>;
  /** Stored values that did not deserialize, read as absent (level-store.ts). */
  badStoredValues: number;
}

export interface StatusContext {
  phase: HeadlessPhase;
  startedAt: number;
  now: number;
  signal: { state: SignalClientState; detail: string };
  badStoredValues: number;
}

export function statusOf(peer: PeerNode, c: StatusContext): NodeStatus {
  const { node } = peer;
  const table = node.table.summary();
  return {
    nodeId: node.hex,
    phase: c.phase,
    uptimeS: Math.round((c.now - c.startedAt) / 1000),
    peers: node.neighbours().length,
    routingTable: { contacts: table.contacts, buckets: table.buckets },
    signal: c.signal,
    iceServers: peer.iceUrls(),
    connectionsCreated: peer.transport.created,
    held: { records: peer.records.size, mail: peer.mailbox.size },
    counters: node.stats.snapshot(),
    signalCounters: peer.signalStats.snapshot(),
    badStoredValues: c.badStoredValues,
  };
}

export interface StatusServer {
  /** The port it listens on (the one asked for, or the one picked for 0). */
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:`port`; rejects (EADDRINUSE, say) if it cannot. */
export async function startStatusServer(port: number, status: () => NodeStatus): Promise<StatusServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'GET only' });
    if (path === '/status' || path === '/') return send(res, 200, status());
    if (path === '/healthz') {
      // Alone is healthy: the first node of a network has no peer, and restarting it won't help.
      const s = status();
      const healthy = s.phase === 'joined';
      return send(res, healthy ? 200 : 503, { ok: healthy, phase: s.phase, peers: s.peers, signal: s.signal.state });
    }
    return send(res, 404, { error: 'try /status or /healthz' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function send(res: import('node:http').ServerResponse, code: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(code, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}
