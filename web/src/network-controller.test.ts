/**
 * The network controller on a fake clock, with a stand-in for the peer node: what the Network
 * panel shows, when the routing snapshot is saved, and when the tab moves to its twin URL.
 */
import { describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../../shared/lib/clock.ts';
import { SeededRandom } from '../../shared/lib/random.ts';
import type { PeerNode } from '../net/peer-node.ts';
import { CONNECTION_CAP } from '../../shared/dht/constants.ts';
import { loadCreated, saveCreated, type PageLocation } from '../net/tab.ts';
import type { NetworkState } from '../state/network.svelte.ts';
import { Stats } from '../../shared/lib/stats.ts';
import { MemoryStorage } from '../storage/web-storage.ts';
import { NetworkController, ROUTING_SNAPSHOT_MS, SAMPLE_MS } from './network-controller.ts';
import { COLD_START_NOTICE_MS } from './cold-start.ts';
import { NO_PEERS_NOTICE_MS } from './reachability.ts';

/** NetworkState's fields without Svelte: the controller only assigns them. */
function plainNetworkState(): NetworkState {
  return {
    nodeId: null, phase: 'starting', problem: null, online: true, peers: 0, contacts: 0, buckets: 0, signal: 'connecting',
    signalDetail: '', iceServers: [], noPeers: null, waitingForOthers: false, created: 0, twinMoves: 0, ring: { peers: [], nearBits: null, mailbox: [], record: [] }, lookup: null, lookupBusy: false, lookupError: null,
  };
}

/** `live.neighbours` may change during a test; `node.stats` counts connections as a node does. */
const HOP = { path: 0, hop: 1, hex: 'cd'.repeat(20), ms: 7, outcome: 'answered' as const, routed: false };
const TRACE = { key: 'ef'.repeat(20), nodes: ['cd'.repeat(20)], arrived: 2, paths: 2, hops: [HOP, { ...HOP, path: 1 }], ms: 9 };

function fakePeer(neighbours: number, lookup = TRACE) {
  const live = { neighbours, iceUrls: [] as string[] };
  const stats = new Stats();
  const node = {
    hex: 'ab'.repeat(20),
    neighbours: () => Array.from({ length: live.neighbours }, (_, i) => ({ hex: String(i).padStart(40, '0') })),
    replication: 8,
    table: { summary: () => ({ contacts: 12, buckets: 3 }), nearBoundary: () => 157 },
    saveRoutingSnapshot: vi.fn(() => Promise.resolve()),
    stats,
    channels: { attemptsInProgress: 0 },
    traceLookup: vi.fn(() => Promise.resolve(lookup)),
  };
  return { node, live, iceUrls: () => live.iceUrls, start: vi.fn(() => Promise.resolve()), close: vi.fn() };
}

function setup(o: { created?: number; neighbours?: number; lookup?: typeof TRACE } = {}) {
  const clock = new FakeClock(0);
  const tabStorage = new MemoryStorage();
  if (o.created) saveCreated(tabStorage, 'main', o.created);
  const location: PageLocation = { origin: 'http://localhost:8080', pathname: '/', search: '?x', hash: '', replace: vi.fn() };
  const net = plainNetworkState();
  const controller = new NetworkController({ net, tabStorage, location, clock, random: new SeededRandom(1) });
  const peer = fakePeer(o.neighbours ?? 5, o.lookup);
  return { clock, tabStorage, location, net, controller, peer, asPeer: peer as unknown as PeerNode };
}

describe('the network controller', () => {
  it('shows the URLs of the ICE servers the peer node reports', () => {
    const { net, controller } = setup();
    controller.onIceUrls(['stun:s.example', 'turn:t.example']);
    expect(net.iceServers).toEqual(['stun:s.example', 'turn:t.example']);
    controller.onIceUrls([]);
    expect(net.iceServers).toEqual([]);
  });

  it('shows the node joining, then joined, with its peers and routing table sampled on each tick', async () => {
    const { clock, net, controller, asPeer } = setup({ neighbours: 4 });
    const joined = controller.start(asPeer);
    expect(net.phase).toBe('joining');
    expect(net.nodeId).toBe('ab'.repeat(20));
    await joined;
    expect(net.phase).toBe('joined');
    expect(controller.joinedMs).toBe(0);
    expect({ peers: net.peers, contacts: net.contacts, buckets: net.buckets }).toEqual({ peers: 4, contacts: 12, buckets: 3 });
    net.peers = 0;
    clock.advance(SAMPLE_MS);
    expect(net.peers).toBe(4);
  });

  it('saves the routing snapshot every 30 seconds, from the same tick', async () => {
    const { clock, controller, peer, asPeer } = setup();
    await controller.start(asPeer);
    clock.advance(ROUTING_SNAPSHOT_MS - SAMPLE_MS);
    expect(peer.node.saveRoutingSnapshot).not.toHaveBeenCalled();
    clock.advance(SAMPLE_MS);
    expect(peer.node.saveRoutingSnapshot).toHaveBeenCalledTimes(1);
    clock.advance(ROUTING_SNAPSHOT_MS);
    expect(peer.node.saveRoutingSnapshot).toHaveBeenCalledTimes(2);
  });

  it('counts and saves every connection created, so the next page of this process knows', () => {
    const { net, tabStorage, controller } = setup({ created: 7 });
    expect(net.created).toBe(7);
    controller.onCreated();
    controller.onCreated();
    expect(net.created).toBe(9);
    expect(loadCreated(tabStorage, 'main')).toBe(9);
  });

  it('moves to the twin URL once its connections are spent while the tab has too few peers, closing the node first', async () => {
    const { clock, tabStorage, location, controller, peer, asPeer } = setup({ created: CONNECTION_CAP - 1, neighbours: 2 });
    await controller.start(asPeer);
    expect(location.replace).not.toHaveBeenCalled();
    controller.onCreated();
    clock.advance(0);
    expect(peer.close).toHaveBeenCalledTimes(1);
    expect(location.replace).toHaveBeenCalledWith('http://localhost:8080/twin/?x');
    expect(controller.twinMoves).toBe(1);
    expect(loadCreated(tabStorage, 'twin')).toBe(0);
    clock.advance(SAMPLE_MS * 4);
    expect(location.replace).toHaveBeenCalledTimes(1);
  });

  it('stays while the tab has enough peers to work', async () => {
    const { clock, location, controller, asPeer } = setup({ created: CONNECTION_CAP - 1, neighbours: 3 });
    await controller.start(asPeer);
    controller.onCreated();
    clock.advance(SAMPLE_MS * 4);
    expect(location.replace).not.toHaveBeenCalled();
  });

  it('moves a page that loads with its budget spent before anything is built', () => {
    const { location, controller } = setup({ created: CONNECTION_CAP });
    expect(controller.moveIfSpent()).toBe(true);
    expect(location.replace).toHaveBeenCalledTimes(1);
    expect(setup({ created: CONNECTION_CAP - 1 }).controller.moveIfSpent()).toBe(false);
  });

  it('shows a lookup’s closest nodes, time and hops, and says when no path answered', async () => {
    const { net, controller, asPeer } = setup();
    await controller.start(asPeer);
    await controller.lookupRandom();
    const { routed: _, ...hop } = HOP;
    expect(net.lookup).toEqual({ key: 'ef'.repeat(20), nodes: ['cd'.repeat(20)], answered: 2, paths: 2, ms: 9, hops: [hop, { ...hop, path: 1 }] });
    expect(net.lookupError).toBeNull();
    const lonely = setup({ lookup: { ...TRACE, nodes: [], arrived: 0, hops: [{ ...HOP, outcome: 'timeout' as never }] } });
    await lonely.controller.start(lonely.asPeer);
    await lonely.controller.lookupRandom();
    expect(lonely.net.lookupError).toMatch(/partitioned/);
    expect(lonely.net.lookupBusy).toBe(false);
  });

  it('samples the ring: live peers sorted, the near subtree’s prefix, and the holders once signed in', async () => {
    const { clock, net, controller, asPeer } = setup({ neighbours: 2 });
    await controller.start(asPeer);
    const first = net.ring;
    expect(first).toEqual({ peers: ['0'.repeat(40), '1'.padStart(40, '0')], nearBits: 2, mailbox: [], record: [] });
    clock.advance(SAMPLE_MS);
    expect(net.ring, 'unchanged: not replaced, so nothing redraws').toBe(first);
    controller.watchHolders(() => ({ mailbox: ['0'.repeat(40)], record: ['ab'.repeat(20)] }));
    clock.advance(SAMPLE_MS);
    expect(net.ring).toMatchObject({ mailbox: ['0'.repeat(40)], record: ['ab'.repeat(20)] });
  });

  it('says why no peer could be reached once a joined tab has been alone a while, and not once one connects', async () => {
    const { clock, net, controller, peer, asPeer } = setup({ neighbours: 0 });
    peer.live.iceUrls = ['stun:stun.example.org', 'turn:turn.example.org'];
    await controller.start(asPeer);
    peer.node.stats.count('connections-created', 2);
    clock.advance(NO_PEERS_NOTICE_MS - SAMPLE_MS);
    expect(net.noPeers).toBeNull();
    clock.advance(SAMPLE_MS);
    expect(net.noPeers).toBe('No peer could be reached through the configured STUN/TURN servers (stun:stun.example.org, turn:turn.example.org).');
    peer.live.neighbours = 1;
    peer.node.stats.count('connections-created');
    peer.node.stats.count('channels-authenticated');
    clock.advance(SAMPLE_MS);
    expect(net.noPeers).toBeNull();
    // Alone again: the failures from before the peer are old news, and a new one takes a while.
    peer.live.neighbours = 0;
    peer.live.iceUrls = [];
    clock.advance(2 * NO_PEERS_NOTICE_MS);
    expect(net.noPeers).toBeNull();
    peer.node.stats.count('connections-created');
    clock.advance(SAMPLE_MS);
    expect(net.noPeers).toMatch(/^No peer could be reached\. No STUN or TURN server is configured/);
  });

  it('stays quiet about reachability for the first tab of a network, which has no one to dial', async () => {
    const { clock, net, controller, asPeer } = setup({ neighbours: 0 });
    await controller.start(asPeer);
    clock.advance(10 * NO_PEERS_NOTICE_MS);
    expect(net.noPeers).toBeNull();
  });

  it('says the first tab of a network waits for another, until one connects', async () => {
    const { clock, net, controller, peer, asPeer } = setup({ neighbours: 0 });
    controller.onSignalState('ready', 'welcomed');
    await controller.start(asPeer);
    expect(net.waitingForOthers).toBe(false);
    clock.advance(COLD_START_NOTICE_MS);
    expect(net.waitingForOthers).toBe(true);
    // A second tab dials in: the attempt alone ends the notice, before its channel opens.
    peer.node.stats.count('connections-created');
    clock.advance(SAMPLE_MS);
    expect(net.waitingForOthers).toBe(false);
    peer.live.neighbours = 1;
    clock.advance(SAMPLE_MS);
    expect(net.waitingForOthers).toBe(false);
    // It leaves again: alone, but with nobody trying, the notice is back.
    peer.live.neighbours = 0;
    clock.advance(COLD_START_NOTICE_MS + SAMPLE_MS);
    expect(net.waitingForOthers).toBe(true);
    controller.onSignalState('offline', 'socket closed');
    clock.advance(SAMPLE_MS);
    expect(net.waitingForOthers).toBe(false);
  });

  it('stops its tick and the node on close, and a second close does nothing', async () => {
    const { clock, net, controller, peer, asPeer } = setup();
    await controller.start(asPeer);
    controller.close();
    controller.close();
    expect(peer.close).toHaveBeenCalledTimes(1);
    expect(clock.pending).toBe(0);
    net.peers = 0;
    clock.advance(ROUTING_SNAPSHOT_MS);
    expect(net.peers).toBe(0);
    expect(peer.node.saveRoutingSnapshot).not.toHaveBeenCalled();
  });
});
