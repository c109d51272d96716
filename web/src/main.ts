/**
 * The composition root: the one place that builds things from the real world (sessionStorage,
 * localStorage, IndexedDB, WebCrypto, WebSocket, WebRTC, the page's clock), builds the engine
 * with them, and wires it to the UI. Everything else takes what it needs from here:
 * - network-controller.ts runs the node for the Network panel and the twin-URL move;
 * - session.ts binds the chat to the signed-in screens;
 * - web/storage/ picks the tab's identity and keeps the user's settings;
 * - debug-handle.ts is `window.peerchat`, for the console and the browser tests.
 *
 * A page that is not a secure context (plain http off localhost) gets InsecureScreen instead
 * (insecure-page.ts, a chunk loaded only then): secure-context.ts says why.
 *
 * `?forge-hello` makes this tab sign its channel HELLOs with a key that is not the one its node
 * id is the hash of: a test hook to show that every other tab refuses such a peer.
 */
import { mount } from 'svelte';
import { systemClock, type Clock } from '../../shared/lib/clock.ts';
import { createIdentity, webCryptoOps, type CryptoOps } from '../../shared/lib/crypto.ts';
import { cryptoRandom } from '../../shared/lib/random.ts';
import { BrowserPeer } from '../net/browser-peer.ts';
import { createPeerNode, type PeerNode } from '../net/peer-node.ts';
import type { SocketLike } from '../net/signal-client.ts';
import { NetworkState } from '../state/network.svelte.ts';
import { SessionState, type SessionActions } from '../state/session.svelte.ts';
import { SettingsState, type SaveSetting } from '../state/settings.svelte.ts';
import { iceServers, loadSettings, saveSettings as storeSettings } from '../storage/settings.ts';
import { openTabIdentity, rememberIdentity, type TabIdentity } from '../storage/tab-identity.ts';
import { storageOr } from '../storage/web-storage.ts';
import App from './App.svelte';
import { shareLink } from './cold-start.ts';
import { createDebugHandle } from './debug-handle.ts';
import { NetworkController } from './network-controller.ts';
import { Session } from './session.ts';
import { AppState, type AppActions } from '../state/app.svelte.ts';
import { InstallOffer, WorkerUpdates } from './app-lifecycle.ts';
import { Attention } from './attention.ts';
import { BrowserAttention } from './browser-attention.ts';
import './app.css';

/** Times from page load, as joinedMs and the lookup timings report them; timers as usual. */
const pageClock: Clock = { ...systemClock, now: () => performance.now() };

/** What the app's parts share once runApp has built them; `session` once the engine exists. */
interface AppParts {
  tabStorage: { storage: Storage; persistent: boolean };
  sessionState: SessionState;
  settings: SettingsState;
  controller: NetworkController;
  session: Session | null;
  attention: BrowserAttention;
  /** Saves settings, as the Network panel's form does. */
  save: SaveSetting;
}

const target = document.getElementById('app');
if (!target) throw new Error('index.html must contain <div id="app">');
// Before anything is built: without a secure context WebCrypto and the service worker are
// missing, and the app would fail later in ways that do not say why.
// Which is rare: the screen that says why and what to do is a chunk of its own (insecure-page.ts).
if (window.isSecureContext && globalThis.crypto?.subtle !== undefined) runApp(target);
else void import('./insecure-page.ts').then(({ showInsecure }) => showInsecure(target));

function runApp(target: HTMLElement): void {
  const tabStorage = storageOr(() => sessionStorage);
  const localStore = storageOr(() => localStorage).storage;
  const net = new NetworkState();
  // Opened offline, the shell comes from the service worker's cache: it says it waits for peers.
  const online = () => (net.online = navigator.onLine);
  online();
  window.addEventListener('online', online);
  window.addEventListener('offline', online);
  const settings = new SettingsState(loadSettings(localStore));
  const controller = new NetworkController({ net, tabStorage: tabStorage.storage, location, clock: pageClock, random: cryptoRandom });
  const sessionState = new SessionState();
  const attention = new BrowserAttention(() => settings.values.notifications, (state) => (sessionState.notifications = state));
  sessionState.notifications = attention.state();
  const save = settingSaver(localStore, settings, () => controller.iceSettingsChanged());
  const app: AppParts = { tabStorage, sessionState, settings, controller, session: null, attention, save };
  if (!tabStorage.persistent) {
    net.problem = 'This browser blocks storage for this site: the tab works, but gets a new node ID on every reload.';
  }
  const appState = new AppState();
  mount(App, {
    target,
    props: {
      app: appState,
      appActions: appLifecycle(appState),
      net,
      session: app.sessionState,
      settings,
      actions: sessionActions(app),
      onLookup: () => void controller.lookupRandom(),
      onSaveSetting: save,
      shareUrl: shareLink(location.origin),
    },
  });
  start(app).catch((err: unknown) => {
    app.sessionState.screen = 'failed';
    // Ed25519 in WebCrypto is missing from older browsers; say so instead of failing blank.
    controller.fail(`This tab could not join the network: ${err instanceof Error ? err.message : String(err)}`);
  });
}

/**
 * The install offer and the service worker's updates (app-lifecycle.ts). The worker registers
 * here: a new version waits until the user says "Update now".
 */
function appLifecycle(state: AppState): AppActions {
  const offer = new InstallOffer(window, state);
  // The build's worker only: the dev server serves none (vite.config.ts).
  const updates = import.meta.env.PROD && 'serviceWorker' in navigator ? new WorkerUpdates(navigator.serviceWorker, '/sw.js', () => (state.updateReady = true), () => location.reload()) : null;
  return {
    install: () => void offer.install(),
    update: () => updates?.update(),
  };
}

/** The components get these before the engine exists; until then there is nothing to act on. */
function sessionActions(app: AppParts): SessionActions {
  return {
    join: (name) => app.session?.join(name) ?? Promise.resolve(),
    continueAs: (nodeId) => app.session?.continueAs(nodeId),
    signOut: () => app.session?.signOut(),
    findUser: (name) => app.session?.findUser(name) ?? Promise.resolve(),
    openConversation: (peer) => app.session?.openConversation(peer),
    acceptRequest: (key) => app.session?.acceptRequest(key) ?? Promise.resolve(),
    blockRequest: (key) => app.session?.blockRequest(key) ?? Promise.resolve(),
    send: (text) => app.session?.send(text) ?? Promise.resolve(),
    createGroup: (name, members) => app.session?.createGroup(name, members) ?? Promise.resolve(),
    acceptGroup: (id) => app.session?.acceptGroup(id) ?? Promise.resolve(),
    leaveGroup: (id) => app.session?.leaveGroup(id) ?? Promise.resolve(),
    addToGroup: (id, names) => app.session?.addToGroup(id, names) ?? Promise.resolve(),
    removeFromGroup: (id, name) => app.session?.removeFromGroup(id, name) ?? Promise.resolve(),
    retry: (id) => app.session?.retry(id),
    setNotifications: async (on) => {
      app.sessionState.notifications = await app.attention.set(on, (value) => app.save({ notifications: value }));
    },
    exportIdentity: (passphrase) => app.session?.exportIdentity(passphrase) ?? Promise.resolve(),
    importIdentity: (file, passphrase) => app.session?.importIdentity(file, passphrase) ?? Promise.reject(new Error('Still starting: try again in a moment.')),
    downloadHistory: async () => app.session?.downloadHistory(),
    deleteIdentity: () => app.session?.deleteIdentity() ?? Promise.resolve(),
  };
}

/** Offers `text` as a file to save, the way a link with `download` does. */
function download({ fileName, text }: { fileName: string; text: string }): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.click();
  // After the click has handed the file to the browser's download.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * Lets the page run between slices of the id-nonce search. A message, not setTimeout(0): nested
 * timeouts are clamped to 4 ms, which measured as a third more time for the whole search.
 */
function yieldToPage(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

/** Settings take effect for the next connections the node makes (it reads them each time). */
function settingSaver(localStore: Storage, settings: SettingsState, saved: () => void): SaveSetting {
  return (values) => {
    const result = storeSettings(localStore, values);
    if (!result.ok) return result.message;
    settings.values = { ...settings.values, ...result.values };
    saved();
    return null;
  };
}

async function start(app: AppParts): Promise<void> {
  const { tabStorage, sessionState, controller } = app;
  if (controller.moveIfSpent()) return;
  // The node id costs work (lib/id.ts, ~0.1 s of CPU on average): the search yields to the page between
  // slices, so it stays responsive; the Network panel says "generating…" meanwhile.
  const tab = await openTabIdentity(tabStorage.storage, yieldToPage);
  if (tab.problem) sessionState.storageProblem = tab.problem;
  const peer = await buildPeerNode(app, tab);
  window.peerchat = createDebugHandle({ peer, controller, chat: () => app.session?.chat ?? null, notifications: () => app.attention.shown });
  const joined = controller.start(peer);
  const attention = new Attention(app.attention, {
    identity: peer.node.hex,
    open: (conversation) => (conversation === null ? app.session?.openRequests() : app.session?.openConversation(conversation)),
    now: pageClock.now,
  });
  app.attention.clicked = (data) => attention.clicked(data);
  app.attention.free = () => sessionState.screen === 'signed-out';
  const session = new Session({
    state: sessionState,
    node: peer.node,
    records: peer.records,
    identity: tab.identity,
    joined,
    waitingForOthers: () => controller.waitingForOthers,
    persistent: tab.persistent,
    switchTo: (nodeId) => {
      rememberIdentity(tabStorage.storage, nodeId);
      location.reload();
    },
    download,
    shutdown: async () => {
      peer.close();
      await tab.store.close();
    },
    attention,
    looking: () => !app.attention.away(),
  });
  const lookedBack = () => {
    if (!app.attention.away()) session.lookedBack();
  };
  document.addEventListener('visibilitychange', lookedBack);
  window.addEventListener('focus', lookedBack);
  app.session = session;
  controller.watchHolders(() => session.chat?.holders() ?? null);
  // A notification clicked with no Peerchat window open says what it was about in the fragment,
  // or the worker hands the join screen that fragment (open-hint.ts): a chunk of its own, as few
  // pages have one.
  const hints = () => import('./open-hint.ts');
  const open = (data: unknown) => attention.clicked(data);
  app.attention.hinted = (hash) => void hints().then((m) => m.takeHint(window, sessionState, peer.node.hex, open, hash)).catch(() => undefined);
  await session.start();
  if (location.hash) void hints().then((m) => m.followHint(window, sessionState, peer.node.hex, open)).catch(() => undefined);
  await joined;
}

async function buildPeerNode({ settings, controller }: AppParts, tab: TabIdentity): Promise<PeerNode> {
  const forge = new URLSearchParams(location.search).has('forge-hello');
  return createPeerNode({
    baseUrl: `${location.origin}/`,
    identity: tab.identity,
    Peer: BrowserPeer,
    // The DOM types spell the handlers with `this` and Event subtypes; the shape is the same.
    socket: (url) => new WebSocket(url) as unknown as SocketLike,
    createdBefore: controller.created,
    store: tab.store,
    // None by default: on one machine and most LANs host candidates connect. The signal
    // server may add its own (STUN_URLS, TURN_URLS); peer-node.ts puts them after these.
    // Read for each new connection: a saved STUN or TURN server applies without a reload.
    iceServers: () => iceServers(settings.values),
    onCreated: controller.onCreated,
    onSignalState: controller.onSignalState,
    onIceUrls: controller.onIceUrls,
    ...(forge ? { ops: await forgedOps() } : {}),
  });
}

/** Signs HELLOs with a throwaway key: the peer's check of key against node id must fail. */
async function forgedOps(): Promise<CryptoOps> {
  const impostor = await createIdentity(cryptoRandom);
  return { sign: (_identity, data) => webCryptoOps.sign(impostor, data), verify: webCryptoOps.verify };
}
