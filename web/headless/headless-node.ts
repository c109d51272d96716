/**
 * A headless node: the same composition as a tab (web/net/peer-node.ts: the engine's node, the
 * WebRTC transport, the signal client and serveChat), run by Node.js with @roamhq/wrtc. It
 * signs in as no one: like an anonymous tab it routes, holds user records and sealed mail for
 * others and pushes mail to returning recipients; the protocol cannot tell it from a tab. It
 * just stays. What a tab keeps in IndexedDB it keeps in its data folder:
 *   <data>/identity.json   its keys (identity-file.ts), so its node id survives restarts;
 *   <data>/store/          the engine's Store on LevelDB (level-store.ts): held records and
 *                          mail, tombstones, the routing snapshot (saved every 30 s and on stop).
 * It logs one line per event that matters (log.ts) and reports its status (status.ts).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import wrtc from '@roamhq/wrtc';
import Peer from 'simple-peer';
import WebSocket from 'ws';
import { idToHex } from '../../shared/lib/id.ts';
import { createPeerNode, type PeerNode } from '../net/peer-node.ts';
import type { SignalClientState, SocketLike } from '../net/signal-client.ts';
import type { PeerConstructor } from '../net/webrtc-transport.ts';
import { loadOrCreateIdentity } from './identity-file.ts';
import { openLevelStore, type LevelStore } from './level-store.ts';
import type { Log } from './log.ts';
import { statusOf, type HeadlessPhase, type NodeStatus } from './status.ts';

/** How often peers and held entries are sampled for the log (a change is logged once). */
export const SAMPLE_MS = 1_000;
/** As a tab does (network-controller.ts ROUTING_SNAPSHOT_MS), for a quick rejoin after a restart. */
export const ROUTING_SNAPSHOT_MS = 30_000;
/** How long one wait for the signal server lasts before it is logged and waited for again. */
const SIGNAL_WAIT_MS = 15_000;

export interface HeadlessOptions {
  /** The signal server's origin, e.g. http://localhost:8080. */
  signalUrl: string;
  dataDir: string;
  log: Log;
}

export interface HeadlessNode {
  peer: PeerNode;
  status(): NodeStatus;
  /** Connects to the signal server (waiting for it as long as it takes) and joins. */
  start(): Promise<void>;
  /** Saves the routing snapshot, leaves, closes the store. Idempotent. */
  close(): Promise<void>;
}

export async function openHeadlessNode(o: HeadlessOptions): Promise<HeadlessNode> {
  const { log } = o;
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  let badStoredValues = 0;
  const store = await openLevelStore(join(o.dataDir, 'store'), {
    onBadValue: (table, key) => {
      badStoredValues++;
      log('error', { what: 'stored value unreadable, dropped', table, key });
    },
  });
  try {
    return await compose(o, store, () => badStoredValues);
  } catch (err) {
    await store.close();
    throw err;
  }
}

async function compose(o: HeadlessOptions, store: LevelStore, badStoredValues: () => number): Promise<HeadlessNode> {
  const { log } = o;
  const loaded = await loadOrCreateIdentity(o.dataDir);
  const id = { id: idToHex(loaded.identity.nodeId) };
  if (loaded.origin === 'replaced') log('error', { what: 'identity.json did not load; kept aside, new identity made', movedTo: loaded.movedTo });
  if (loaded.narrowedMode !== undefined) log('warning', { what: 'identity.json was readable by others; mode set to 600', was: loaded.narrowedMode.toString(8) });
  log('identity', { ...id, origin: loaded.origin });
  let signal: { state: SignalClientState; detail: string } = { state: 'connecting', detail: '' };
  let phase: HeadlessPhase = 'starting';
  const startedAt = Date.now();
  const peer = createPeerNode({
    baseUrl: o.signalUrl,
    identity: loaded.identity,
    Peer: Peer as unknown as PeerConstructor,
    wrtc,
    socket: (url) => new WebSocket(url) as unknown as SocketLike,
    store,
    connectionCap: Infinity,
    onSignalState: (state, detail) => {
      if (state !== signal.state) log('signal', { state, detail });
      signal = { state, detail };
    },
  });
  const status = (): NodeStatus => statusOf(peer, { phase, startedAt, now: Date.now(), signal, badStoredValues: badStoredValues() });
  const sampler = new Sampler(peer, log);
  let tick: ReturnType<typeof setInterval> | null = null;
  let snapshotAt = Date.now();
  let closing: Promise<void> | null = null;

  const saveSnapshot = (): Promise<void> =>
    peer.node.saveRoutingSnapshot().catch((err: unknown) => {
      peer.node.stats.count('routing-snapshot-failed');
      log('error', { what: 'routing snapshot not saved', error: messageOf(err) });
    });

  return {
    peer,
    status,
    async start() {
      phase = 'joining';
      peer.signal.start();
      while (phase === 'joining') {
        try {
          await peer.signal.ready(SIGNAL_WAIT_MS);
          break;
        } catch (err) {
          if (peer.signal.current === 'closed' || peer.signal.current === 'replaced') throw err;
          log('waiting', { what: 'signal server not reachable yet', signal: o.signalUrl, state: peer.signal.current });
        }
      }
      if (phase !== 'joining') return;
      await peer.node.start();
      phase = 'joined';
      const dropped = peer.node.stats.get('record-dropped-from-disk') + peer.node.stats.get('mailbox-dropped-from-disk');
      log('joined', { peers: peer.node.neighbours().length, ...id, records: peer.records.size, mail: peer.mailbox.size, droppedFromDisk: dropped });
      sampler.sample();
      tick = setInterval(() => {
        sampler.sample();
        if (Date.now() - snapshotAt >= ROUTING_SNAPSHOT_MS) {
          snapshotAt = Date.now();
          void saveSnapshot();
        }
      }, SAMPLE_MS);
    },
    close() {
      closing ??= (async () => {
        const wasJoined = phase === 'joined';
        phase = 'stopping';
        if (tick) clearInterval(tick);
        if (wasJoined) await saveSnapshot();
        peer.close();
        await store.close();
      })();
      return closing;
    },
  };
}

/** Connections that ICE failed, by reason (Channels counts each once): logged when one is added. */
const ICE_FAILURES = ['ice-failed', 'ice-checking-timeout', 'ice-disconnected'] as const;

/** Logs the peer count, the held entries and ICE failures when they change: one line per change, at most once a sample. */
class Sampler {
  private peers = -1;
  private held = '';
  private iceFailed: number[] = ICE_FAILURES.map(() => 0);

  constructor(
    private readonly peer: PeerNode,
    private readonly log: Log,
  ) {}

  sample(): void {
    const { node, records, mailbox } = this.peer;
    const peers = node.neighbours().length;
    if (peers !== this.peers) {
      this.peers = peers;
      const table = node.table.summary();
      this.log('peers', { peers, contacts: table.contacts, buckets: table.buckets });
    }
    const stats = node.stats;
    const failed = ICE_FAILURES.map((name) => stats.get(name));
    if (failed.join() !== this.iceFailed.join()) {
      this.iceFailed = failed;
      this.log('ice', Object.fromEntries(ICE_FAILURES.map((name, i) => [name, failed[i]])));
    }
    const held = { records: records.size, mail: mailbox.size, stored: stats.get('mailbox-stored'), pushed: stats.get('mailbox-pushed') };
    const key = JSON.stringify(held);
    if (key !== this.held) {
      this.held = key;
      this.log('held', held);
    }
  }
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
