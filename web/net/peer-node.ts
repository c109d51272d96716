/**
 * One Kademlia node on the real network: the engine's node with the WebRTC transport and the
 * signal-server client as its bootstrap. A tab builds one (web/src/main.ts); Node tests and
 * benches build several with simple-peer's Node build and @roamhq/wrtc.
 */
import { systemClock, type Clock } from '../../shared/lib/clock.ts';
import { webCryptoOps, type CryptoOps, type Identity } from '../../shared/lib/crypto.ts';
import { serveChat } from '../../shared/chat/services.ts';
import type { MailboxService } from '../../shared/chat/mailbox-service.ts';
import type { RecordService } from '../../shared/chat/record-service.ts';
import { KademliaNode, type NodeConfig } from '../../shared/dht/node.ts';
import { cryptoRandom, type Random } from '../../shared/lib/random.ts';
import { Stats } from '../../shared/lib/stats.ts';
import type { Store } from '../../shared/lib/store.ts';
import { SignalClient, type SignalClientState, type SocketFactory } from './signal-client.ts';
import { WebRtcTransport, type PeerConstructor, type WebRtcTransportOptions } from './webrtc-transport.ts';

export interface PeerNodeOptions {
  /** The app's origin; the signal server listens at its /signal. */
  baseUrl: string;
  identity: Identity;
  Peer: PeerConstructor;
  socket: SocketFactory;
  wrtc?: WebRtcTransportOptions['wrtc'];
  /**
   * The user's own ICE servers (settings), used before those the signal server hands out. A
   * function is asked for each new connection, so a saved change applies without a reload.
   */
  iceServers?: RTCIceServer[] | (() => RTCIceServer[]);
  /** Connections this renderer process created before this node (the browser's count). */
  createdBefore?: number;
  /**
   * Connections this node may create in its life. Unset: a tab's, under Chromium's 500 per
   * renderer process. A headless node passes Infinity (Node's WebRTC has no such limit).
   */
  connectionCap?: number;
  /** Called on every connection created, for the owner to persist the count. */
  onCreated?: () => void;
  store?: Store;
  clock?: Clock;
  random?: Random;
  config?: Partial<NodeConfig>;
  /** The node's crypto (HELLO); the signal server always gets the real one. Tests forge here. */
  ops?: CryptoOps;
  onSignalState?: (state: SignalClientState, detail: string) => void;
  /** The URLs new connections would use changed (at creation, then on every server list). */
  onIceUrls?: (urls: string[]) => void;
}

export interface PeerNode {
  node: KademliaNode;
  /** The names and mail this node holds for others (every node does). */
  records: RecordService;
  mailbox: MailboxService;
  transport: WebRtcTransport;
  signal: SignalClient;
  /** The signal client's counters (drops by reason, reconnects). */
  signalStats: Stats;
  /** The ICE servers a connection created now gets: the user's, then the signal server's. */
  iceServers(): RTCIceServer[];
  /** Their URLs only, for the panel and the debug handle: credentials are never shown. */
  iceUrls(): string[];
  /** Connects to the signal server and joins the overlay. */
  start(): Promise<void>;
  close(): void;
}

export function createPeerNode(o: PeerNodeOptions): PeerNode {
  const clock = o.clock ?? systemClock;
  const random = o.random ?? cryptoRandom;
  const createdBefore = o.createdBefore ?? 0;
  const given = o.iceServers ?? [];
  const own = typeof given === 'function' ? given : () => given;
  // Asked for each new connection: the signal client's list changes as credentials are renewed.
  const iceServers = (): RTCIceServer[] => [...own(), ...signal.iceServers()];
  const iceUrls = (): string[] => iceServers().flatMap((server) => (Array.isArray(server.urls) ? server.urls : [server.urls]));
  const transport = new WebRtcTransport({
    Peer: o.Peer,
    ...(o.wrtc ? { wrtc: o.wrtc } : {}),
    iceServers,
    creationCap: o.connectionCap ?? Math.max(0, 500 - createdBefore),
    ...(o.onCreated ? { onCreated: o.onCreated } : {}),
  });
  const signalStats = new Stats();
  let node: KademliaNode | null = null;
  const signal = new SignalClient({
    baseUrl: o.baseUrl,
    identity: o.identity,
    ops: webCryptoOps,
    clock,
    random,
    socket: o.socket,
    stats: signalStats,
    // The node is created just below; no signal can arrive before start().
    onSignal: (from, payload) => node!.handleSignal(from, payload),
    ...(o.onSignalState ? { onState: o.onSignalState } : {}),
    onIce: () => o.onIceUrls?.(iceUrls()),
  });
  o.onIceUrls?.(iceUrls());
  node = new KademliaNode({
    identity: o.identity,
    transport,
    clock,
    random,
    ops: o.ops ?? webCryptoOps,
    bootstrap: signal,
    createdBefore: () => createdBefore,
    ...(o.connectionCap !== undefined ? { connectionCap: o.connectionCap } : {}),
    ...(o.store ? { store: o.store } : {}),
    ...(o.config ? { config: o.config } : {}),
  });
  const n = node;
  const { records, mailbox } = serveChat(n);
  return {
    node: n,
    records,
    mailbox,
    transport,
    signal,
    signalStats,
    iceServers,
    iceUrls,
    async start() {
      signal.start();
      await signal.ready();
      await n.start();
    },
    close() {
      n.close();
      signal.close();
      transport.close();
    },
  };
}
