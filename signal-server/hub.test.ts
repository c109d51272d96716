/**
 * The hub over backends other than the embedded default: one whose calls fail, as a networked
 * backend's do when its server is gone, and one that knows tabs this process has no socket for;
 * and the `is-tab` query over each.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createIdentity, type Identity } from '../shared/lib/crypto.ts';
import { ErrorCode } from '../shared/lib/errors.ts';
import { idToHex } from '../shared/lib/id.ts';
import { SeededRandom } from '../shared/lib/random.ts';
import { SignalClose } from '../shared/signal/protocol.ts';
import type { DeliverResult, LocalTab } from './backend/backend.ts';
import { RecordingTab } from './backend/contract.ts';
import { MemoryBackend } from './backend/memory.ts';
import { createSignalServer, type SignalServer, type SignalServerOptions } from './server.ts';
import { joined, TestClient } from './test-client.ts';
import { samplePayload } from '../shared/signal/test-signals.ts';

type Call = 'register' | 'unregister' | 'pickPeers' | 'relay' | 'isTab';

/** The memory backend with one kind of call failing. */
class BackendDown extends MemoryBackend {
  constructor(private readonly down: Call) {
    super(new SeededRandom(1));
  }
  override register(tab: LocalTab): Promise<void> {
    return this.down === 'register' ? this.fail() : super.register(tab);
  }
  override unregister(tab: LocalTab): Promise<void> {
    return this.down === 'unregister' ? this.fail() : super.unregister(tab);
  }
  override pickPeers(askerId: string, n: number): Promise<string[]> {
    return this.down === 'pickPeers' ? this.fail() : super.pickPeers(askerId, n);
  }
  override relay(to: string, frame: string): Promise<DeliverResult> {
    return this.down === 'relay' ? this.fail() : super.relay(to, frame);
  }
  override isTab(id: string): Promise<boolean> {
    return this.down === 'isTab' ? this.fail() : super.isTab(id);
  }
  private fail(): Promise<never> {
    return Promise.reject(new Error(`${this.down}: connection to the backend lost`));
  }
}

/** The memory backend with register held until the test opens the gate. */
class SlowRegister extends MemoryBackend {
  registering = 0;
  registered = 0;
  open!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.open = resolve));
  constructor() {
    super(new SeededRandom(1));
  }
  override async register(tab: LocalTab): Promise<void> {
    this.registering++;
    await this.gate;
    await super.register(tab);
    this.registered++;
  }
}

const ids: Identity[] = [];
const servers: SignalServer[] = [];
const clients: TestClient[] = [];
const PAYLOAD = samplePayload();

beforeAll(async () => {
  const random = new SeededRandom(7);
  for (let i = 0; i < 2; i++) ids.push(await createIdentity(random));
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(options: SignalServerOptions): Promise<SignalServer> {
  const server = createSignalServer({ port: 0, random: new SeededRandom(1), ...options });
  servers.push(server);
  await server.ready;
  return server;
}

function track(client: TestClient): TestClient {
  clients.push(client);
  return client;
}

describe('signal server over a failing backend', () => {
  const asks: Record<Exclude<Call, 'unregister' | 'isTab'>, (server: SignalServer) => Promise<TestClient>> = {
    register: async (server) => {
      const client = track(TestClient.connect(server.url));
      await client.hello(ids[0]!);
      return client;
    },
    pickPeers: async (server) => {
      const client = track(await joined(server.url, ids[0]!));
      client.send({ type: 'peers', n: 8 });
      return client;
    },
    relay: async (server) => {
      const client = track(await joined(server.url, ids[0]!));
      client.send({ type: 'signal', to: idToHex(ids[1]!.nodeId), rid: 1, payload: PAYLOAD });
      return client;
    },
  };

  for (const [call, ask] of Object.entries(asks)) {
    it(`closes a tab with 1001 when ${call} fails, and counts a backend-error`, async () => {
      const server = await start({ backend: new BackendDown(call as Call) });
      const client = await ask(server);
      expect((await client.closed).code).toBe(SignalClose.GoingAway);
      expect(server.stats()).toMatchObject({ connections: 0, authenticated: 0, rejects: { 'backend-error': 1 } });
    });
  }

  it('counts a failed unregister as a backend-error and goes on serving', async () => {
    const server = await start({ backend: new BackendDown('unregister') });
    await track(await joined(server.url, ids[0]!)).close();
    await expect.poll(() => server.stats().rejects['backend-error']).toBe(1);
    track(await joined(server.url, ids[1]!));
    expect(server.stats().authenticated).toBe(1);
  });
});

describe('signal server over a backend with tabs on other processes', () => {
  it('hands out and relays to a tab it has no socket for, and answers BUSY when that tab is not reading', async () => {
    const backend = new MemoryBackend(new SeededRandom(1));
    const server = await start({ backend });
    const local = track(await joined(server.url, ids[0]!));
    const remote = new RecordingTab(idToHex(ids[1]!.nodeId));
    await backend.register(remote);
    local.send({ type: 'peers', n: 8 });
    expect((await local.next('peers')).ids).toEqual([remote.id]);
    local.send({ type: 'signal', to: remote.id, rid: 3, payload: PAYLOAD });
    await expect.poll(() => remote.frames.length).toBe(1);
    expect(JSON.parse(remote.frames[0]!)).toEqual({ type: 'signal', from: idToHex(ids[0]!.nodeId), to: remote.id, rid: 3, payload: PAYLOAD });
    remote.busy = true;
    local.send({ type: 'signal', to: remote.id, rid: 4, payload: PAYLOAD });
    expect(await local.next('error')).toMatchObject({ code: ErrorCode.Busy, rid: 4 });
    expect(server.stats()).toMatchObject({ signalsRelayed: 1, offersRelayed: 1 });
  });

  it('does not leave registered a tab that left while its registration was in flight', async () => {
    const backend = new SlowRegister();
    const server = await start({ backend });
    const client = track(TestClient.connect(server.url));
    await client.hello(ids[0]!);
    await expect.poll(() => backend.registering).toBe(1);
    client.ws.terminate();
    await expect.poll(() => server.stats().connections).toBe(0);
    backend.open();
    await expect.poll(() => backend.registered).toBe(1);
    expect(await backend.pickPeers(idToHex(ids[1]!.nodeId), 8)).toEqual([]);
    expect(server.stats().authenticated).toBe(0);
  });

  it('closes a local tab as replaced when its id registers on another process', async () => {
    const backend = new MemoryBackend(new SeededRandom(1));
    const server = await start({ backend });
    const local = track(await joined(server.url, ids[0]!));
    await backend.register(new RecordingTab(idToHex(ids[0]!.nodeId)));
    expect((await local.closed).code).toBe(SignalClose.Replaced);
    expect(server.stats()).toMatchObject({ connections: 0, authenticated: 0, rejects: { replaced: 1 } });
    expect(server.connectedIds()).toEqual([]);
  });
});

describe('the is-tab query', () => {
  const MADE_UP = 'ab'.repeat(20);

  it('names is-tab among its features just before the welcome', async () => {
    const server = await start({});
    const client = track(TestClient.connect(server.url));
    await client.hello(ids[0]!);
    expect(await client.next('features')).toEqual({ type: 'features', names: ['is-tab'] });
    await client.next('welcome');
  });

  it('answers true for a connected tab and for the asker itself, false for a made-up id, and counts them', async () => {
    const server = await start({});
    const asker = track(await joined(server.url, ids[0]!));
    const other = idToHex(ids[1]!.nodeId);
    asker.send({ type: 'is-tab', id: other, rid: 1 });
    expect(await asker.next('is-tab')).toEqual({ type: 'is-tab', rid: 1, id: other, tab: false });
    const otherTab = track(await joined(server.url, ids[1]!));
    asker.send({ type: 'is-tab', id: other, rid: 2 });
    expect(await asker.next('is-tab')).toEqual({ type: 'is-tab', rid: 2, id: other, tab: true });
    asker.send({ type: 'is-tab', id: idToHex(ids[0]!.nodeId), rid: 3 });
    expect(await asker.next('is-tab')).toMatchObject({ rid: 3, tab: true });
    asker.send({ type: 'is-tab', id: MADE_UP, rid: 4 });
    expect(await asker.next('is-tab')).toEqual({ type: 'is-tab', rid: 4, id: MADE_UP, tab: false });
    await otherTab.close();
    await expect.poll(() => server.stats().authenticated).toBe(1);
    asker.send({ type: 'is-tab', id: other, rid: 5 });
    expect(await asker.next('is-tab')).toMatchObject({ rid: 5, tab: false });
    expect(server.stats().isTabQueries).toBe(5);
  });

  it('answers true for a tab registered on another process', async () => {
    const backend = new MemoryBackend(new SeededRandom(1));
    const server = await start({ backend });
    const asker = track(await joined(server.url, ids[0]!));
    const remote = new RecordingTab(idToHex(ids[1]!.nodeId));
    await backend.register(remote);
    asker.send({ type: 'is-tab', id: remote.id, rid: 9 });
    expect(await asker.next('is-tab')).toMatchObject({ rid: 9, id: remote.id, tab: true });
  });

  it('closes a tab that asks before its welcome with 4401, as for any frame but hello', async () => {
    const server = await start({});
    const client = track(TestClient.connect(server.url));
    await client.next('challenge');
    client.send({ type: 'is-tab', id: MADE_UP, rid: 1 });
    expect((await client.closed).code).toBe(SignalClose.NotAuthenticated);
    expect(server.stats()).toMatchObject({ isTabQueries: 0, rejects: { 'not-authenticated': 1 } });
  });

  it('answers BUSY with the rid when the backend cannot say, never false, and keeps the socket', async () => {
    const server = await start({ backend: new BackendDown('isTab') });
    const client = track(await joined(server.url, ids[0]!));
    client.send({ type: 'is-tab', id: MADE_UP, rid: 77 });
    expect(await client.next('error')).toMatchObject({ type: 'error', code: ErrorCode.Busy, rid: 77 });
    client.send({ type: 'ping' });
    await client.next('pong');
    expect(server.stats()).toMatchObject({ authenticated: 1, isTabQueries: 0, rejects: {} });
  });
});
