/**
 * The app's entry: the one place that builds things from the real world (sessionStorage,
 * WebCrypto, WebSocket, WebRTC) and hands them to the engine and the UI.
 *
 * `window.peerchat` is a small debugging handle (node id, peers, lookups) that the browser tests
 * drive too. `?forge-hello` makes this tab sign its channel HELLOs with a key that is not the one
 * its node id is the hash of: a test hook to show that every other tab refuses such a peer.
 */
import { mount } from 'svelte';
import { createIdentity, webCryptoOps, type CryptoOps } from '../../shared/lib/crypto.ts';
import { idFromHex, idToHex } from '../../shared/lib/id.ts';
import { cryptoRandom } from '../../shared/lib/random.ts';
import { BrowserPeer } from '../net/browser-peer.ts';
import { createPeerNode, type PeerNode } from '../net/peer-node.ts';
import type { SocketLike } from '../net/signal-client.ts';
import { loadCreated, moveToTwin, saveCreated, shouldMove, twinMoves, variantOf } from '../net/tab.ts';
import { NetworkState } from '../state/network.svelte.ts';
import { SessionState, type SessionActions } from '../state/session.svelte.ts';
import { SettingsState, type SaveSetting } from '../state/settings.svelte.ts';
import { iceServers, loadSettings, saveSetting as storeSetting } from '../storage/settings.ts';
import App from './App.svelte';
import { Session } from './session.ts';
import { openTabIdentity, rememberIdentity } from '../storage/tab-identity.ts';
import { storageOr } from '../storage/web-storage.ts';
import './app.css';

const SAMPLE_MS = 500;
const ROUTING_SNAPSHOT_MS = 30_000;

const net = new NetworkState();
const sessionState = new SessionState();
let session: Session | null = null;
// The components get these before the engine exists; until then there is nothing to act on.
const actions: SessionActions = {
  join: (name) => session?.join(name) ?? Promise.resolve(),
  continueAs: (nodeId) => session?.continueAs(nodeId),
  signOut: () => session?.signOut(),
  findUser: (name) => session?.findUser(name) ?? Promise.resolve(),
  openConversation: (peer) => session?.openConversation(peer),
  send: (text) => session?.send(text) ?? Promise.resolve(),
  retry: (id) => session?.retry(id),
};
const target = document.getElementById('app');
if (!target) throw new Error('index.html must contain <div id="app">');
const tabStorage = storageOr(() => sessionStorage);
const local = storageOr(() => localStorage);
const sessionStore = tabStorage.storage;
if (!tabStorage.persistent) {
  net.problem = 'This browser blocks storage for this site: the tab works, but gets a new node ID on every reload.';
}
const settings = new SettingsState(loadSettings(local.storage));
/** Settings take effect for connections made after the next load. */
const saveSetting: SaveSetting = (name, value) => {
  const saved = storeSetting(local.storage, name, value);
  if (!saved.ok) return saved.message;
  settings.values = { ...settings.values, [name]: saved.value };
  return null;
};
mount(App, {
  target,
  props: { net, session: sessionState, settings, actions, onLookup: () => void lookupRandom(), onSaveSetting: saveSetting },
});

let peer: PeerNode | null = null;
let joinedMs: number | null = null;
const variant = variantOf(location.pathname);
let created = loadCreated(sessionStore, variant);
net.created = created;
net.twinMoves = twinMoves(sessionStore);

async function start(): Promise<void> {
  if (shouldMove(created, 0)) return moveToTwin(sessionStore, location);
  const tab = await openTabIdentity(sessionStore);
  const { identity } = tab;
  if (tab.problem) sessionState.storageProblem = tab.problem;
  net.nodeId = idToHex(identity.nodeId);
  const params = new URLSearchParams(location.search);
  peer = createPeerNode({
    baseUrl: `${location.origin}/`,
    identity,
    Peer: BrowserPeer,
    // The DOM types spell the handlers with `this` and Event subtypes; the shape is the same.
    socket: (url) => new WebSocket(url) as unknown as SocketLike,
    createdBefore: created,
    store: tab.store,
    // None by default: on one machine and most LANs host candidates connect.
    iceServers: iceServers(settings.values),
    onCreated,
    ...(params.has('forge-hello') ? { ops: await forgedOps() } : {}),
    onSignalState: (state, detail) => {
      net.signal = state;
      net.signalDetail = detail;
    },
  });
  exposeForDebugging(peer);
  setInterval(sample, SAMPLE_MS);
  // The report's periodic backup: who this tab was connected to, for a quicker rejoin.
  const node = peer.node;
  setInterval(() => void node.saveRoutingSnapshot().catch(() => node.stats.count('routing-snapshot-failed')), ROUTING_SNAPSHOT_MS);
  net.phase = 'joining';
  const joined = peer.start();
  session = new Session({
    state: sessionState,
    node: peer.node,
    identity,
    joined,
    persistent: tab.persistent,
    switchTo: (nodeId) => {
      rememberIdentity(sessionStore, nodeId);
      location.reload();
    },
  });
  await session.start();
  await joined;
  joinedMs = Math.round(performance.now());
  net.phase = 'joined';
  sample();
}

function onCreated(): void {
  created++;
  net.created = created;
  saveCreated(sessionStore, variant, created);
  // The count is saved first: whatever happens next, the new page knows where it stands. The
  // move waits for the transport to finish creating this connection (we are inside its call).
  setTimeout(maybeMove, 0);
}

function sample(): void {
  if (!peer) return;
  net.peers = peer.node.neighbours().length;
  const table = peer.node.table.summary();
  net.contacts = table.contacts;
  net.buckets = table.buckets;
  maybeMove();
}

let moving = false;
function maybeMove(): void {
  if (moving || !peer || !shouldMove(created, peer.node.neighbours().length)) return;
  moving = true;
  try {
    peer.close();
  } finally {
    moveToTwin(sessionStore, location);
  }
}

async function lookupRandom(): Promise<void> {
  if (!peer || net.lookupBusy) return;
  net.lookupBusy = true;
  net.lookupError = null;
  const key = cryptoRandom.bytes(20);
  const started = performance.now();
  try {
    const result = await peer.node.lookup(key, 2);
    if (result.answered === 0) net.lookupError = 'No path answered: the network may be partitioned. Try again in a moment.';
    net.lookup = { key: idToHex(key), nodes: result.nodes, answered: result.answered, ms: Math.round(performance.now() - started) };
  } catch (err) {
    net.lookupError = `Lookup failed: ${String(err)}`;
  } finally {
    net.lookupBusy = false;
  }
}

/** Signs HELLOs with a throwaway key: the peer's check of key against node id must fail. */
async function forgedOps(): Promise<CryptoOps> {
  const impostor = await createIdentity(cryptoRandom);
  return { sign: (_identity, data) => webCryptoOps.sign(impostor, data), verify: webCryptoOps.verify };
}

function exposeForDebugging(p: PeerNode): void {
  const handle = {
    get nodeId() {
      return p.node.hex;
    },
    get created() {
      return created;
    },
    get twinMoves() {
      return twinMoves(sessionStore);
    },
    get signalState() {
      return p.signal.current;
    },
    get attempts() {
      return p.node.channels.attemptsInProgress;
    },
    /** Milliseconds from navigation start to the end of the join. */
    get joinedMs() {
      return joinedMs;
    },
    neighbours: () => p.node.neighbours().map((n) => n.hex),
    /** The signed-in user's name, and messages still waiting for a receipt. */
    get user() {
      return session?.chat?.name ?? null;
    },
    get outbox() {
      return session?.chat?.outboxSize ?? 0;
    },
    /** Recent values of a measurement, e.g. 'dial-ms' (connection setup, dial to HELLO done). */
    samples: (name: string) => [...p.node.stats.samples(name)],
    /** Round trips of `count` sequential PINGs to a neighbour, in ms. */
    ping: async (hex: string, count: number) => {
      const neighbour = p.node.channels.peers.get(hex);
      if (!neighbour) throw new Error('not a neighbour');
      const out: number[] = [];
      for (let i = 0; i < count; i++) {
        const t = performance.now();
        await p.node.direct(neighbour, 'PING', {});
        out.push(performance.now() - t);
      }
      return out;
    },
    stats: () => ({ node: p.node.stats.snapshot(), signal: p.signalStats.snapshot() }),
    /** The 8 closest live nodes to a key (40 hex), by a routed lookup over 2 paths. */
    lookup: async (keyHex: string) => {
      const key = idFromHex(keyHex);
      if (!key) throw new Error('key must be 40 hex digits');
      return p.node.lookup(key, 2);
    },
  };
  (window as unknown as { peerchat: typeof handle }).peerchat = handle;
}

start().catch((err: unknown) => {
  net.phase = 'failed';
  sessionState.screen = 'failed';
  // Ed25519 in WebCrypto is missing from older browsers; say so instead of failing blank.
  net.problem = `This tab could not join the network: ${err instanceof Error ? err.message : String(err)}`;
});
