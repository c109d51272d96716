/**
 * The real network in one Node process: a signal server on a free port and ten nodes, each with
 * real WebRTC (simple-peer + @roamhq/wrtc) and a real WebSocket to the server. Run by
 * peer-node.test.ts in a child process (see there why); prints one JSON line of what it saw.
 */
import wrtc from '@roamhq/wrtc';
import Peer from 'simple-peer';
import WebSocket from 'ws';
import { createSignalServer } from '../../signal-server/server.ts';
import { createIdentity } from '../../shared/lib/crypto.ts';
import { closestHexes, idToHex } from '../../shared/lib/id.ts';
import { REPLICATION } from '../../shared/dht/constants.ts';
import { SeededRandom } from '../../shared/lib/random.ts';
import { SIGNAL_BATCH_REFUSALS } from '../../shared/signal/signal-data.ts';
import { createPeerNode, type PeerNode } from './peer-node.ts';
import type { SocketLike } from './signal-client.ts';
import type { PeerConstructor } from './webrtc-transport.ts';

const N = 10;
const random = new SeededRandom(404);

// A condition, not a race with the clock: the deadline only ends a run that is stuck. 30 s was
// enough alone, but not once on a CI machine whose two cores also ran two simulations.
async function until(what: string, done: () => boolean, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Looks up random keys from every node; the fraction that returned the true closest. */
async function exactLookups(nodes: PeerNode[], rounds: number): Promise<number> {
  let exact = 0;
  let total = 0;
  const everyone = nodes.map((p) => p.node.hex);
  for (let i = 0; i < rounds; i++) {
    const key = random.bytes(20);
    const expected = closestHexes(idToHex(key), everyone, REPLICATION);
    for (const p of nodes) {
      total++;
      if ((await p.node.lookup(key, 2)).nodes.join() === expected.join()) exact++;
    }
  }
  return exact / total;
}

const server = createSignalServer({ port: 0 });
await server.ready;
const nodes: PeerNode[] = [];
for (let i = 0; i < N; i++) {
  const p = createPeerNode({
    baseUrl: server.url,
    identity: await createIdentity(random),
    Peer: Peer as unknown as PeerConstructor,
    wrtc,
    socket: (url) => new WebSocket(url) as unknown as SocketLike,
  });
  nodes.push(p);
  await p.start();
}
await until('every node having 3 peers', () => nodes.every((p) => p.node.neighbours().length >= 3));
const minPeersAfterJoin = Math.min(...nodes.map((p) => p.node.neighbours().length));
await until('every node knowing the whole network', () => nodes.every((p) => p.node.neighbours().length >= N - 1));
const exactBefore = await exactLookups(nodes, 5);
const later = nodes.slice(3);
const viaServer = later.reduce((s, p) => s + p.node.stats.get('dials-via-bootstrap'), 0);
const viaOverlay = later.reduce((s, p) => s + p.node.stats.get('channels-dialed-ok'), 0) - viaServer;

// One node leaves abruptly: its channels die, it says nothing.
const gone = nodes.splice(4, 1)[0]!;
gone.transport.close();
gone.signal.close();
await until('every node dropping it', () => nodes.every((p) => !p.node.channels.peers.has(gone.node.hex)));
const exactAfterLeave = await exactLookups(nodes, 2);

for (const p of nodes) p.close();
await server.close();
const { signalsRelayed, repliesRelayed, relays } = server.stats();
// Relays the server refused as not what tabs send (signal-data.ts): real tabs must cause none.
const refusedRelays = SIGNAL_BATCH_REFUSALS.reduce((s, reason) => s + (relays[reason] ?? 0), 0);
console.log(JSON.stringify({ minPeersAfterJoin, exactBefore, viaServer, viaOverlay, signalsRelayed, repliesRelayed, refusedRelays, exactAfterLeave }));
process.exit(0);
