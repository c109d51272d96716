/**
 * The tab's signal-server client against a scripted socket and a fake clock: the handshake,
 * requests and their timeouts, relayed signals answered by the node, is-tab queries, bad frames,
 * heartbeat and jittered reconnect. The real server is exercised in peer-node.test.ts and the
 * browser tests, and here for is-tab.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FakeClock } from '../../shared/lib/clock.ts';
import { createIdentity, webCryptoOps, type Identity } from '../../shared/lib/crypto.ts';
import { fromBase64Url } from '../../shared/lib/encoding.ts';
import { ErrorCode, isPeerchatError } from '../../shared/lib/errors.ts';
import { idToHex } from '../../shared/lib/id.ts';
import { SeededRandom } from '../../shared/lib/random.ts';
import { SignalClose, signalAuthPayload, type ClientMessage, type ServerMessage } from '../../shared/signal/protocol.ts';
import { Stats } from '../../shared/lib/stats.ts';
import { createSignalServer, type SignalServer } from '../../signal-server/server.ts';
import { DEFAULT_LIMITS } from '../../signal-server/limits.ts';
import { IS_TAB_BURST, IS_TAB_PER_SECOND, MAX_PENDING_IS_TAB, SignalClient, type SignalClientState, type SocketLike } from './signal-client.ts';

const OTHER = 'ab'.repeat(20);
const NONCE = 'A'.repeat(43);
/** Longer than the first reconnect delay can be (500 ms + up to 500 ms of jitter). */
const RECONNECT_BOUND_MS = 1_000;

class ScriptedSocket implements SocketLike {
  readyState = 0;
  onopen: SocketLike['onopen'] = null;
  onmessage: SocketLike['onmessage'] = null;
  onclose: SocketLike['onclose'] = null;
  onerror: SocketLike['onerror'] = null;
  readonly sent: ClientMessage[] = [];
  closedWith: number | null = null;

  constructor(readonly url: string) {}

  send(data: string): void {
    this.sent.push(JSON.parse(data) as ClientMessage);
  }
  close(code = 1000): void {
    this.closedWith = code;
    this.readyState = 3;
  }
  // ---- the server's side
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  deliver(message: ServerMessage | string): void {
    this.onmessage?.({ data: typeof message === 'string' ? message : JSON.stringify(message) });
  }
  drop(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  /**
   * Waits, in event-loop turns rather than time, for the client to send a message of `type`: its
   * hello follows a WebCrypto signature, which the thread pool finishes late on a loaded machine
   * (CI once: "nothing of type hello sent" after a fixed 20 turns).
   */
  async sentOf<T extends ClientMessage['type']>(type: T): Promise<Extract<ClientMessage, { type: T }>> {
    for (let i = 0; i < 100_000 && !this.sent.some((m) => m.type === type); i++) await new Promise<void>((resolve) => setImmediate(resolve));
    return this.last(type);
  }
  last<T extends ClientMessage['type']>(type: T): Extract<ClientMessage, { type: T }> {
    const found = [...this.sent].reverse().find((m) => m.type === type);
    if (!found) throw new Error(`nothing of type ${type} sent`);
    return found as Extract<ClientMessage, { type: T }>;
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

let identity: Identity;
let clock: FakeClock;
let sockets: ScriptedSocket[];
let states: SignalClientState[];
let stats: Stats;
let client: SignalClient;
const answered: { from: string; conn: string }[] = [];

function makeClient(): SignalClient {
  return new SignalClient({
    baseUrl: 'https://peerchat.example/app/',
    identity,
    ops: webCryptoOps,
    clock,
    random: new SeededRandom(5),
    stats,
    socket: (url) => {
      const s = new ScriptedSocket(url);
      sockets.push(s);
      return s;
    },
    onSignal: async (from, payload) => {
      answered.push({ from, conn: payload.conn });
      return { data: ['answer'] };
    },
    onState: (state) => states.push(state),
  });
}

/** Opens the current socket and completes the handshake, naming `features` as today's server does. */
async function welcome(features: string[] | null = ['is-tab']): Promise<ScriptedSocket> {
  const s = sockets.at(-1)!;
  s.open();
  s.deliver({ type: 'challenge', nonce: NONCE });
  await s.sentOf('hello');
  if (features) s.deliver({ type: 'features', names: features });
  s.deliver({ type: 'welcome' });
  return s;
}

beforeEach(async () => {
  identity ??= await createIdentity(new SeededRandom(1));
  clock = new FakeClock();
  sockets = [];
  states = [];
  stats = new Stats();
  answered.length = 0;
  client = makeClient();
});

describe('the signal-server client', () => {
  it('connects to /signal over wss for an https page and proves its node id', async () => {
    client.start();
    expect(sockets[0]!.url).toBe('wss://peerchat.example/signal');
    const s = sockets[0]!;
    s.open();
    s.deliver({ type: 'challenge', nonce: NONCE });
    const hello = await s.sentOf('hello');
    expect(hello.id).toBe(idToHex(identity.nodeId));
    expect(await webCryptoOps.verify(fromBase64Url(hello.key)!, fromBase64Url(hello.sig)!, signalAuthPayload(NONCE))).toBe(true);
    s.deliver({ type: 'welcome' });
    await client.ready();
    expect(states).toEqual(['connecting', 'ready']);
  });

  it('asks for first peers and leaves itself out of the answer, with the server’s count of tabs when it gives one', async () => {
    client.start();
    const s = await welcome();
    const asked = client.peers(idToHex(identity.nodeId), 2);
    await flush();
    expect(s.last('peers').n).toBe(2);
    s.deliver({ type: 'peers', ids: [OTHER, idToHex(identity.nodeId)], live: 41 });
    expect(await asked).toEqual({ ids: [OTHER], live: 41 });
    // An older server gives no count.
    const again = client.peers(idToHex(identity.nodeId), 1);
    await flush();
    s.deliver({ type: 'peers', ids: [OTHER] });
    expect(await again).toEqual({ ids: [OTHER] });
  });

  it('carries a signal batch and matches the reply by sender and request id', async () => {
    client.start();
    const s = await welcome();
    const reply = client.exchange(idToHex(identity.nodeId), OTHER, { conn: 'c1', data: ['offer'] });
    await flush();
    const sent = s.last('signal');
    expect(sent).toMatchObject({ to: OTHER, payload: { conn: 'c1', data: ['offer'] } });
    // A reply from someone else with the same rid is not ours.
    s.deliver({ type: 'signal-reply', from: 'cd'.repeat(20), to: idToHex(identity.nodeId), rid: sent.rid, reply: { data: ['x'] } });
    s.deliver({ type: 'signal-reply', from: OTHER, to: idToHex(identity.nodeId), rid: sent.rid, reply: { data: ['answer'] } });
    expect(await reply).toEqual({ data: ['answer'] });
    expect(stats.get('signal-drop-unmatched-reply')).toBe(1);
  });

  it('rejects a signal the server could not relay, with the server’s reason', async () => {
    client.start();
    const s = await welcome();
    const reply = client.exchange(idToHex(identity.nodeId), OTHER, { conn: 'c1', data: [] });
    await flush();
    s.deliver({ type: 'error', code: ErrorCode.NotFound, rid: s.last('signal').rid, msg: 'gone' });
    await expect(reply).rejects.toSatisfy((err: unknown) => isPeerchatError(err, ErrorCode.NotFound));
  });

  it('times out requests nobody answers', async () => {
    client.start();
    await welcome();
    const reply = client.exchange(idToHex(identity.nodeId), OTHER, { conn: 'c1', data: [] });
    const peers = client.peers(idToHex(identity.nodeId), 2);
    await flush();
    clock.advance(10_000);
    await expect(reply).rejects.toSatisfy((err: unknown) => isPeerchatError(err, ErrorCode.Timeout));
    await expect(peers).rejects.toSatisfy((err: unknown) => isPeerchatError(err, ErrorCode.Timeout));
  });

  it('answers a relayed signal with what the node replies', async () => {
    client.start();
    const s = await welcome();
    s.deliver({ type: 'signal', from: OTHER, to: idToHex(identity.nodeId), rid: 7, payload: { conn: 'x', data: ['offer'] } });
    await flush();
    expect(answered).toEqual([{ from: OTHER, conn: 'x' }]);
    expect(s.last('signal-reply')).toEqual({ type: 'signal-reply', to: OTHER, rid: 7, reply: { data: ['answer'] } });
  });

  it('drops and counts frames it cannot parse, and keeps working', async () => {
    client.start();
    const s = await welcome();
    const bads = ['nope', '{"type":"peers","ids":["zz"]}', `{"type":"peers","ids":[],"live":-1}`, `{"type":"peers","ids":[],"live":1.5}`, '{"type":"launch"}', 'x'.repeat(20_000)];
    for (const bad of bads) s.deliver(bad);
    expect(stats.snapshot('signal-drop')).toEqual({ 'signal-drop-bad-shape': 3, 'signal-drop-not-json': 1, 'signal-drop-too-large': 1, 'signal-drop-unknown-type': 1 });
    const asked = client.peers(idToHex(identity.nodeId), 1);
    await flush();
    s.deliver({ type: 'peers', ids: [OTHER] });
    expect(await asked).toEqual({ ids: [OTHER] });
  });

  it('reconnects after a drop with a growing, jittered delay, and fails what was pending', async () => {
    client.start();
    const s = await welcome();
    const pending = client.exchange(idToHex(identity.nodeId), OTHER, { conn: 'c1', data: [] });
    await flush();
    s.drop(1006);
    await expect(pending).rejects.toSatisfy((err: unknown) => isPeerchatError(err, ErrorCode.ChannelClosed));
    expect(client.current).toBe('offline');
    const delays: number[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      const before = sockets.length;
      const start = clock.now();
      while (sockets.length === before) clock.advance(50);
      delays.push(clock.now() - start);
      sockets.at(-1)!.drop(1006);
    }
    expect(delays[3]!).toBeGreaterThan(delays[0]!);
    for (const d of delays) expect(d).toBeLessThanOrEqual(30_500);
    const before = sockets.length;
    while (sockets.length === before) clock.advance(50);
    await welcome();
    await client.ready();
    expect(client.current).toBe('ready');
  });

  it('sends a heartbeat each period and reconnects when a pong does not come back', async () => {
    client.start();
    const s = await welcome();
    clock.advance(30_000);
    expect(s.sent.filter((m) => m.type === 'ping')).toHaveLength(1);
    s.deliver({ type: 'pong' });
    clock.advance(30_000);
    expect(s.sent.filter((m) => m.type === 'ping')).toHaveLength(2);
    clock.advance(30_000); // no pong this time
    expect(s.closedWith).toBe(SignalClose.Heartbeat);
    expect(stats.get('signal-heartbeat-missed')).toBe(1);
    expect(client.current).toBe('offline');
  });

  it('stops when another tab takes over its node id', async () => {
    client.start();
    const s = await welcome();
    s.drop(SignalClose.Replaced, 'the same id connected again');
    clock.advance(120_000);
    expect(sockets).toHaveLength(1);
    expect(client.current).toBe('replaced');
    await expect(client.ready()).rejects.toThrow();
  });

  it('closes for good: no reconnect, pending requests fail', async () => {
    client.start();
    await welcome();
    const pending = client.peers(idToHex(identity.nodeId), 1);
    client.close();
    await expect(pending).rejects.toSatisfy((err: unknown) => isPeerchatError(err, ErrorCode.Closed));
    clock.advance(120_000);
    expect(sockets).toHaveLength(1);
  });

  it('keeps the ice list sent before the welcome, and asks again at 80% of its lifetime', async () => {
    client.start();
    const s = sockets[0]!;
    s.open();
    s.deliver({ type: 'challenge', nonce: NONCE });
    await s.sentOf('hello');
    const turn = { urls: ['turn:t.example'], username: `100:${idToHex(identity.nodeId)}`, credential: 'c2VjcmV0' };
    s.deliver({ type: 'ice', servers: [{ urls: ['stun:s.example'] }, turn], ttlS: 100 });
    s.deliver({ type: 'welcome' });
    expect(client.iceServers()).toEqual([{ urls: ['stun:s.example'] }, turn]);
    for (let i = 0; i < 2; i++) {
      clock.advance(30_000); // heartbeats, answered so the socket stays up
      s.deliver({ type: 'pong' });
    }
    clock.advance(19_999);
    expect(s.sent.filter((m) => m.type === 'ice')).toHaveLength(0);
    clock.advance(1);
    expect(s.sent.filter((m) => m.type === 'ice')).toHaveLength(1);
  });

  it('drops and counts a malformed ice frame, keeping the list it had', async () => {
    client.start();
    const s = await welcome();
    s.deliver({ type: 'ice', servers: [{ urls: ['stun:s.example'] }] });
    s.deliver(JSON.stringify({ type: 'ice', servers: [{ urls: ['http://evil.example'] }] }));
    s.deliver(JSON.stringify({ type: 'ice', servers: [{ urls: ['turn:t.example'] }], ttlS: 0 }));
    expect(stats.get('signal-drop-bad-shape')).toBe(2);
    expect(client.iceServers()).toEqual([{ urls: ['stun:s.example'] }]);
  });

  it('does not ask for ice while offline, and forgets the list when a server welcomes without one', async () => {
    client.start();
    const s = await welcome();
    s.deliver({ type: 'ice', servers: [{ urls: ['turn:t.example'], username: 'u', credential: 'c' }], ttlS: 10 });
    s.drop(1006);
    clock.advance(8_000);
    expect(s.sent.filter((m) => m.type === 'ice')).toHaveLength(0);
    expect(client.iceServers()).toHaveLength(1); // overlay connections may still use it meanwhile
    clock.advance(RECONNECT_BOUND_MS);
    await welcome();
    expect(client.iceServers()).toEqual([]);
  });
});

describe('the signal-server client asking whether a tab is connected', () => {
  const rejectsWith = (code: ErrorCode) => (err: unknown) => isPeerchatError(err, code);

  it('takes the answer to the rid it asked, only when it names the id asked about', async () => {
    client.start();
    const s = await welcome();
    const asked = client.isTab(OTHER);
    const ask = s.last('is-tab');
    expect(ask.id).toBe(OTHER);
    s.deliver({ type: 'is-tab', rid: ask.rid, id: 'cd'.repeat(20), tab: false }); // another id
    s.deliver({ type: 'is-tab', rid: ask.rid + 1, id: OTHER, tab: false }); // nobody asked
    s.deliver({ type: 'is-tab', rid: ask.rid, id: OTHER, tab: true });
    expect(await asked).toBe(true);
    expect(stats.snapshot('signal-drop')).toEqual({ 'signal-drop-is-tab-mismatch': 1, 'signal-drop-unasked-is-tab': 1 });
    const again = client.isTab(OTHER);
    s.deliver({ type: 'is-tab', rid: s.last('is-tab').rid, id: OTHER, tab: false });
    expect(await again).toBe(false);
  });

  it('rejects BUSY when the server cannot say, telling that error from a signal error by rid', async () => {
    client.start();
    const s = await welcome();
    const signal = client.exchange(idToHex(identity.nodeId), OTHER, { conn: 'c1', data: [] });
    await flush();
    const asked = client.isTab(OTHER);
    const [signalRid, askRid] = [s.last('signal').rid, s.last('is-tab').rid];
    expect(askRid).not.toBe(signalRid);
    s.deliver({ type: 'error', code: ErrorCode.Busy, rid: askRid, msg: 'cannot say' });
    await expect(asked).rejects.toSatisfy(rejectsWith(ErrorCode.Busy));
    s.deliver({ type: 'error', code: ErrorCode.NotFound, rid: signalRid });
    await expect(signal).rejects.toSatisfy(rejectsWith(ErrorCode.NotFound));
    expect(stats.snapshot('signal-drop')).toEqual({});
  });

  it('rejects at once, sending nothing, when not connected, when the server does not name the query, or for a malformed id', async () => {
    await expect(client.isTab(OTHER)).rejects.toSatisfy(rejectsWith(ErrorCode.ChannelClosed));
    client.start();
    const s = await welcome(null); // a server older than is-tab would close the socket on it
    await expect(client.isTab(OTHER)).rejects.toSatisfy(rejectsWith(ErrorCode.UnknownMethod));
    s.drop(1006);
    clock.advance(RECONNECT_BOUND_MS);
    const next = await welcome();
    for (const bad of [OTHER.toUpperCase(), OTHER.slice(2), '']) await expect(client.isTab(bad)).rejects.toSatisfy(rejectsWith(ErrorCode.BadRequest));
    expect([...s.sent, ...next.sent].filter((m) => m.type === 'is-tab')).toEqual([]);
  });

  it(`keeps at most ${MAX_PENDING_IS_TAB} queries waiting, and times them out as other requests`, async () => {
    client.start();
    const s = await welcome();
    // Past the burst, one a pacing token (IS_TAB_PER_SECOND), all within the request timeout.
    const pending = Array.from({ length: MAX_PENDING_IS_TAB }, (_, i) => {
      if (i >= IS_TAB_BURST) clock.advance(Math.ceil(1_000 / IS_TAB_PER_SECOND) + 1);
      return client.isTab(OTHER);
    });
    await expect(client.isTab(OTHER)).rejects.toSatisfy(rejectsWith(ErrorCode.Busy));
    expect(stats.get('signal-is-tab-busy')).toBe(1);
    expect(s.sent.filter((m) => m.type === 'is-tab')).toHaveLength(MAX_PENDING_IS_TAB);
    clock.advance(10_000);
    for (const p of pending) await expect(p).rejects.toSatisfy(rejectsWith(ErrorCode.Timeout));
    const later = client.isTab(OTHER);
    s.deliver({ type: 'is-tab', rid: s.last('is-tab').rid, id: OTHER, tab: true });
    expect(await later).toBe(true);
  });

  it(`paces queries to ${IS_TAB_PER_SECOND} a second after a burst of ${IS_TAB_BURST}, within the server's rate limit, rejecting the rest BUSY`, async () => {
    client.start();
    const s = await welcome();
    const sent = () => s.sent.filter((m) => m.type === 'is-tab').length;
    for (let i = 0; i < IS_TAB_BURST; i++) void client.isTab(OTHER).catch(() => {});
    await expect(client.isTab(OTHER)).rejects.toSatisfy(rejectsWith(ErrorCode.Busy));
    expect(sent()).toBe(IS_TAB_BURST);
    expect(stats.get('signal-is-tab-paced')).toBe(1);
    // The server's limit (DEFAULT_LIMITS) leaves room for signals beside a full burst.
    expect(IS_TAB_BURST).toBeLessThan(DEFAULT_LIMITS.messageBurst / 2);
    expect(IS_TAB_PER_SECOND).toBeLessThan(DEFAULT_LIMITS.messagesPerSecond / 2);
    clock.advance(1_000);
    for (let i = 0; i < IS_TAB_PER_SECOND; i++) void client.isTab(OTHER).catch(() => {});
    expect(sent()).toBe(IS_TAB_BURST + IS_TAB_PER_SECOND);
    await expect(client.isTab(OTHER)).rejects.toSatisfy(rejectsWith(ErrorCode.Busy));
  });

  it('fails what is pending when the socket drops, and asks again only once the new server names the query', async () => {
    client.start();
    const s = await welcome();
    const asked = client.isTab(OTHER);
    s.drop(1006);
    await expect(asked).rejects.toSatisfy(rejectsWith(ErrorCode.ChannelClosed));
    clock.advance(RECONNECT_BOUND_MS);
    await welcome(['something-newer']);
    await expect(client.isTab(OTHER)).rejects.toSatisfy(rejectsWith(ErrorCode.UnknownMethod));
  });
});

describe('the signal-server client asking a real server whether a tab is connected', () => {
  let server: SignalServer;
  const clients: SignalClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server?.close();
  });

  function connect(as: Identity): SignalClient {
    const c = new SignalClient({
      baseUrl: server.url,
      identity: as,
      ops: webCryptoOps,
      clock: new FakeClock(),
      random: new SeededRandom(3),
      stats: new Stats(),
      socket: (url) => new WebSocket(url) as unknown as SocketLike,
      onSignal: async () => ({ busyMs: 1_000 }),
    });
    clients.push(c);
    c.start();
    return c;
  }

  it('says yes for a connected tab and itself, no for a made-up id and for a tab that left', async () => {
    server = createSignalServer({ port: 0, random: new SeededRandom(1) });
    await server.ready;
    const other = await createIdentity(new SeededRandom(2));
    const asker = connect(identity);
    const leaving = connect(other);
    await Promise.all([asker.ready(), leaving.ready()]);
    expect(await asker.isTab(idToHex(other.nodeId))).toBe(true);
    expect(await asker.isTab(idToHex(identity.nodeId))).toBe(true);
    expect(await asker.isTab(OTHER)).toBe(false);
    leaving.close();
    await expect.poll(() => server.stats().authenticated).toBe(1);
    expect(await asker.isTab(idToHex(other.nodeId))).toBe(false);
    expect(server.stats().isTabQueries).toBe(4);
  });
});
