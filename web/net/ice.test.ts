/**
 * ICE servers from the signal server, end to end in Node: a real server on port 0 (with a frozen
 * clock for credential expiry), a real peer node and SignalClient over `ws` on a fake clock, and
 * a recording simple-peer stand-in, so what each new connection was given can be read back.
 */
import type SimplePeer from 'simple-peer';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FakeClock } from '../../shared/lib/clock.ts';
import { createIdentity, type Identity } from '../../shared/lib/crypto.ts';
import { idToHex } from '../../shared/lib/id.ts';
import { SeededRandom } from '../../shared/lib/random.ts';
import type { ConnectionEvents } from '../../shared/lib/transport.ts';
import type { IceConfig } from '../../signal-server/ice.ts';
import { createSignalServer, type SignalServer } from '../../signal-server/server.ts';
import { iceServers } from '../storage/settings.ts';
import { createPeerNode, type PeerNode } from './peer-node.ts';
import { ICE_RENEW_FRACTION, type SocketLike } from './signal-client.ts';
import type { PeerConstructor } from './webrtc-transport.ts';

const SECRET = 'web-ice-test-secret';
/** Short enough that the renewal (at 16 s) comes before the client's first heartbeat (30 s). */
const TTL_S = 20;
const TURN: IceConfig = { stunUrls: ['stun:s.example:3478'], turnUrls: ['turns:t.example:5349'], turnSecret: SECRET, ttlS: TTL_S };

/** simple-peer's surface the transport touches, recording the options each instance got. */
class RecordingPeer {
  static made: SimplePeer.Options[] = [];
  readonly _pc = {};
  bufferSize = 0;
  constructor(options: SimplePeer.Options) {
    RecordingPeer.made.push(options);
  }
  on(): void {}
  signal(): void {}
  send(): void {}
  destroy(): void {}
}

const events: ConnectionEvents = { signal() {}, open() {}, message() {}, close() {} };
let identity: Identity;
let serverNowMs = 1_796_000_000_000;
const servers: SignalServer[] = [];
const peers: PeerNode[] = [];

beforeAll(async () => {
  identity = await createIdentity(new SeededRandom(21));
});

afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  RecordingPeer.made = [];
});

async function setup(ice: IceConfig | undefined, own: RTCIceServer[] | (() => RTCIceServer[]) = []) {
  const server = createSignalServer({ port: 0, random: new SeededRandom(1), now: () => serverNowMs, ...(ice ? { ice } : {}) });
  servers.push(server);
  await server.ready;
  const clock = new FakeClock();
  const shown: string[][] = [];
  let changed: () => void = () => {};
  const peer = createPeerNode({
    baseUrl: server.url,
    identity,
    Peer: RecordingPeer as unknown as PeerConstructor,
    socket: (url) => new WebSocket(url) as unknown as SocketLike,
    clock,
    random: new SeededRandom(3),
    iceServers: own,
    onIceUrls: (urls) => {
      shown.push(urls);
      changed();
    },
  });
  peers.push(peer);
  const nextChange = () => new Promise<void>((resolve) => (changed = resolve));
  peer.signal.start();
  await peer.signal.ready();
  return { server, clock, peer, shown, nextChange };
}

/** The iceServers the last connection created was given. */
function lastConfig(): RTCIceServer[] | undefined {
  return RecordingPeer.made.at(-1)?.config?.iceServers;
}

function turnExpiry(servers: RTCIceServer[] | undefined): number {
  return Number(servers?.[1]?.username?.split(':')[0]);
}

describe('ICE servers from the signal server', () => {
  it('gives an authenticated tab STUN and TURN credentials that its new connections use', async () => {
    const { peer, shown } = await setup(TURN);
    peer.transport.create(true, events);
    const given = lastConfig();
    expect(given?.map((s) => s.urls)).toEqual([['stun:s.example:3478'], ['turns:t.example:5349']]);
    expect(given?.[1]?.username).toBe(`${serverNowMs / 1000 + TTL_S}:${idToHex(identity.nodeId)}`);
    expect(given?.[1]?.credential).toMatch(/^[A-Za-z0-9+/]{27}=$/);
    // The panel and the debug handle see URLs only.
    expect(shown.at(-1)).toEqual(['stun:s.example:3478', 'turns:t.example:5349']);
    expect(peer.iceUrls()).toEqual(['stun:s.example:3478', 'turns:t.example:5349']);
    expect(JSON.stringify(shown)).not.toContain(given?.[1]?.credential);
  });

  it('renews the TURN credentials at 80% of their lifetime; later connections get the new ones', async () => {
    const { clock, peer, server, nextChange } = await setup(TURN);
    peer.transport.create(true, events);
    const first = lastConfig();
    const renewAtMs = TTL_S * 1000 * ICE_RENEW_FRACTION;
    clock.advance(renewAtMs - 1);
    expect(peer.signalStats.get('signal-ice-renew')).toBe(0);
    serverNowMs += renewAtMs;
    const renewed = nextChange();
    clock.advance(1);
    expect(peer.signalStats.get('signal-ice-renew')).toBe(1);
    await renewed;
    peer.transport.create(true, events);
    const second = lastConfig();
    expect(second?.[1]?.username).not.toBe(first?.[1]?.username);
    expect(turnExpiry(second) - turnExpiry(first)).toBe(renewAtMs / 1000);
    expect(turnExpiry(second)).toBe(serverNowMs / 1000 + TTL_S);
    // The connection made before keeps what it was built with.
    expect(RecordingPeer.made[0]?.config?.iceServers).toBe(first);
    expect(server.stats().turnCredentialsMinted).toBe(2);
  });

  it('without ICE servers sends nothing, shows none and gives connections an empty list', async () => {
    const { clock, peer, server, shown } = await setup(undefined);
    peer.transport.create(true, events);
    expect(lastConfig()).toEqual([]);
    expect(peer.iceUrls()).toEqual([]);
    expect(shown).toEqual([[]]);
    clock.advance(29_000); // below the heartbeat, which a fake clock would fail without pongs
    expect(peer.signalStats.get('signal-ice-renew')).toBe(0);
    expect(server.stats().turnCredentialsMinted).toBe(0);
  });

  it('puts the user’s own STUN and TURN first and never shows the TURN password', async () => {
    const credential = 'user-turn-password-7f3a';
    const own = iceServers({ stunUrl: 'stun:mine.example:3478', turnUrl: 'turn:mine.example:3478?transport=tcp', turnUsername: 'me', turnCredential: credential });
    const { peer, shown } = await setup(TURN, own);
    peer.transport.create(true, events);
    const given = lastConfig();
    expect(given?.slice(0, 2)).toEqual([
      { urls: 'stun:mine.example:3478' },
      { urls: 'turn:mine.example:3478?transport=tcp', username: 'me', credential },
    ]);
    expect(given?.map((s) => s.urls).slice(2)).toEqual([['stun:s.example:3478'], ['turns:t.example:5349']]);
    const urls = ['stun:mine.example:3478', 'turn:mine.example:3478?transport=tcp', 'stun:s.example:3478', 'turns:t.example:5349'];
    expect(peer.iceUrls()).toEqual(urls);
    expect(shown.at(-1)).toEqual(urls);
    expect(JSON.stringify([shown, peer.iceUrls()])).not.toContain(credential);
  });

  it('gives the next connection the user’s servers as they are now, and leaves open ones as they were', async () => {
    let mine: RTCIceServer[] = [];
    const { peer } = await setup(undefined, () => mine);
    peer.transport.create(true, events);
    const first = RecordingPeer.made.at(-1)!;
    expect(lastConfig()).toEqual([]);
    mine = iceServers({ stunUrl: 'stun:saved.example:3478', turnUrl: '', turnUsername: '', turnCredential: '' });
    peer.transport.create(true, events);
    expect(lastConfig()).toEqual([{ urls: 'stun:saved.example:3478' }]);
    expect(first.config?.iceServers).toEqual([]);
    expect(peer.iceUrls()).toEqual(['stun:saved.example:3478']);
  });
});
