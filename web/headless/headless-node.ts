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
import type { Identity } from '../../shared/lib/crypto.ts';
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
    const identity = await openIdentity(o.dataDir, log);
    return new Headless(o, store, identity, () => badStoredValues);
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** The data folder's identity, with a log line saying where it came from and what was wrong. */
async function openIdentity(dataDir: string, log: Log): Promise<Identity> {
  const loaded = await loadOrCreateIdentity(dataDir);
  if (loaded.origin === 'replaced') log('error', { what: 'identity.json did not load; kept aside, new identity made', movedTo: loaded.movedTo });
  if (loaded.narrowedMode !== undefined) log('warning', { what: 'identity.json was readable by others; mode set to 600', was: loaded.narrowedMode.toString(8) });
  log('identity', { id: idToHex(loaded.identity.nodeId), origin: loaded.origin });
  return loaded.identity;
}

class Headless implements HeadlessNode {
  readonly peer: PeerNode;
  private phase: HeadlessPhase = 'starting';
  private signal: { state: SignalClientState; detail: string } = { state: 'connecting', detail: '' };
  private readonly startedAt = Date.now();
  private readonly sampler: Sampler;
  private tick: ReturnType<typeof setInterval> | null = null;
  private snapshotAt = Date.now();
  private closing: Promise<void> | null = null;

  constructor(
    private readonly o: HeadlessOptions,
    private readonly store: LevelStore,
    identity: Identity,
    private readonly badStoredValues: () => number,
  ) {
    this.peer = createPeerNode({
      baseUrl: o.signalUrl,
      identity,
      Peer: Peer as unknown as PeerConstructor,
      wrtc,
      socket: (url) => new WebSocket(url) as unknown as SocketLike,
      store,
      // Node has no per-process connection limit: no twin URL to move to, nothing to save up for.
      connectionCap: Infinity,
      onSignalState: (state, detail) => {
        if (state !== this.signal.state) o.log('signal', { state, detail });
        this.signal = { state, detail };
      },
    });
    this.sampler = new Sampler(this.peer, o.log);
  }

  status(): NodeStatus {
    const { phase, startedAt, signal } = this;
    return statusOf(this.peer, { phase, startedAt, now: Date.now(), signal, badStoredValues: this.badStoredValues() });
  }

  async start(): Promise<void> {
    const { peer, o } = this;
    this.phase = 'joining';
    await this.untilSignalReady();
    if (this.phase !== 'joining') return;
    await peer.node.start();
    this.phase = 'joined';
    const stats = peer.node.stats;
    const droppedFromDisk = stats.get('record-dropped-from-disk') + stats.get('mailbox-dropped-from-disk');
    o.log('joined', { peers: peer.node.neighbours().length, id: peer.node.hex, records: peer.records.size, mail: peer.mailbox.size, droppedFromDisk });
    this.sampler.sample();
    this.tick = setInterval(() => this.onTick(), SAMPLE_MS);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const wasJoined = this.phase === 'joined';
      this.phase = 'stopping';
      if (this.tick) clearInterval(this.tick);
      if (wasJoined) await this.saveSnapshot();
      this.peer.close();
      await this.store.close();
    })();
    return this.closing;
  }

  /** The signal server may be down or not up yet: wait for it as long as it takes, saying so. */
  private async untilSignalReady(): Promise<void> {
    const { signal } = this.peer;
    signal.start();
    while (this.phase === 'joining') {
      try {
        await signal.ready(SIGNAL_WAIT_MS);
        return;
      } catch (err) {
        if (signal.current === 'closed' || signal.current === 'replaced') throw err;
        this.o.log('waiting', { what: 'signal server not reachable yet', signal: this.o.signalUrl, state: signal.current });
      }
    }
  }

  private onTick(): void {
    this.sampler.sample();
    if (Date.now() - this.snapshotAt < ROUTING_SNAPSHOT_MS) return;
    this.snapshotAt = Date.now();
    void this.saveSnapshot();
  }

  private saveSnapshot(): Promise<void> {
    const { node } = this.peer;
    return node.saveRoutingSnapshot().catch((err: unknown) => {
      node.stats.count('routing-snapshot-failed');
      this.o.log('error', { what: 'routing snapshot not saved', error: messageOf(err) });
    });
  }
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
