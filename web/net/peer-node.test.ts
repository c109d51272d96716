/**
 * The real network in one Node process: a signal server on a free port and ten nodes, each with
 * real WebRTC (simple-peer + @roamhq/wrtc) and a real WebSocket to the server. What the browser
 * tests show with tabs, shown here first where failures are easy to read.
 */
import wrtc from '@roamhq/wrtc';
import Peer from 'simple-peer';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSignalServer, type SignalServer } from '../../signal-server/server.ts';
import { createIdentity } from '../../shared/crypto.ts';
import { compareDistance, idFromHex, idToHex } from '../../shared/id.ts';
import { SeededRandom } from '../../shared/random.ts';
import { createPeerNode, type PeerNode } from './peer-node.ts';
import type { SocketLike } from './signal-client.ts';
import type { PeerConstructor } from './webrtc-transport.ts';

const N = 10;
const random = new SeededRandom(404);
let server: SignalServer;
const nodes: PeerNode[] = [];

async function until(what: string, done: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function spawn(): Promise<PeerNode> {
  const p = createPeerNode({
    baseUrl: server.url,
    identity: await createIdentity(random),
    Peer: Peer as unknown as PeerConstructor,
    wrtc,
    socket: (url) => new WebSocket(url) as unknown as SocketLike,
  });
  nodes.push(p);
  await p.start();
  return p;
}

function trueClosest(key: Uint8Array, live: PeerNode[], r = 8): string[] {
  return live
    .map((p) => p.node.id)
    .sort((a, b) => compareDistance(key, a, b))
    .slice(0, r)
    .map(idToHex);
}

describe('ten real WebRTC nodes bootstrapped through the signal server', () => {
  beforeAll(async () => {
    server = createSignalServer({ port: 0 });
    await server.ready;
    for (let i = 0; i < N; i++) await spawn();
  }, 120_000);

  afterAll(async () => {
    for (const p of nodes) p.close();
    await server.close();
  });

  it('connects every node to at least 3 authenticated peers', async () => {
    await until('every node having 3 peers', () => nodes.every((p) => p.node.neighbours().length >= 3));
  });

  it('finds the true 8 closest of a random key from every node', async () => {
    await until('every node knowing the whole network', () => nodes.every((p) => p.node.neighbours().length >= N - 1), 30_000);
    for (let i = 0; i < 5; i++) {
      const key = random.bytes(20);
      const expected = trueClosest(key, nodes);
      for (const p of nodes) expect((await p.node.lookup(key, 2)).nodes).toEqual(expected);
    }
  });

  it('signals most connections through the overlay once the first nodes are in', () => {
    const viaServer = nodes.slice(3).reduce((s, p) => s + p.node.stats.get('dials-via-bootstrap'), 0);
    const viaOverlay = nodes.slice(3).reduce((s, p) => s + p.node.stats.get('dials-via-overlay'), 0);
    expect(viaOverlay).toBeGreaterThan(viaServer);
    expect(server.stats().signalsRelayed).toBeGreaterThan(0);
  });

  it('drops a node that leaves abruptly and still finds the true closest', async () => {
    const gone = nodes.splice(4, 1)[0]!;
    gone.transport.close(); // the channels die; no goodbye on the wire
    gone.signal.close();
    await until('every node dropping it', () => nodes.every((p) => !p.node.channels.peers.has(gone.node.hex)));
    const key = random.bytes(20);
    for (const p of nodes) expect((await p.node.lookup(key, 2)).nodes).toEqual(trueClosest(key, nodes));
    expect(idFromHex(gone.node.hex)).not.toBeNull();
  });
});
