/**
 * The `ice` frame through a real server: minted for the proven node id just before the welcome,
 * renewed on request with the server's clock, and absent when the server has no ICE servers.
 */
import { createHmac } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createIdentity, type Identity } from '../shared/lib/crypto.ts';
import { idToHex } from '../shared/lib/id.ts';
import { SeededRandom } from '../shared/lib/random.ts';
import { SignalClose } from '../shared/signal/protocol.ts';
import type { IceConfig } from './ice.ts';
import { createSignalServer, type SignalServer, type SignalServerOptions } from './server.ts';
import { joined, TestClient } from './test-client.ts';

const SECRET = 'ice-server-test-secret';
const TURN: IceConfig = { stunUrls: ['stun:s.example:3478'], turnUrls: ['turn:t.example:3478'], turnSecret: SECRET, ttlS: 300 };

let identity: Identity;
let nowMs = 1_796_000_000_000;
const servers: SignalServer[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  identity = await createIdentity(new SeededRandom(11));
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(options: SignalServerOptions): Promise<SignalServer> {
  const server = createSignalServer({ port: 0, random: new SeededRandom(1), now: () => nowMs, ...options });
  servers.push(server);
  await server.ready;
  return server;
}

function connect(server: SignalServer): TestClient {
  const client = TestClient.connect(server.url);
  clients.push(client);
  return client;
}

describe('ICE servers from the signal server', () => {
  it('sends an authenticated tab its STUN URLs and TURN credentials for its node id, before the welcome', async () => {
    const server = await start({ ice: TURN });
    const client = connect(server);
    await client.hello(identity);
    const ice = await client.next('ice');
    await client.next('welcome');
    const username = `${nowMs / 1000 + 300}:${idToHex(identity.nodeId)}`;
    expect(ice).toEqual({
      type: 'ice',
      servers: [
        { urls: ['stun:s.example:3478'] },
        { urls: ['turn:t.example:3478'], username, credential: createHmac('sha1', SECRET).update(username).digest('base64') },
      ],
      ttlS: 300,
    });
    expect(server.stats().turnCredentialsMinted).toBe(1);
  });

  it('mints new credentials with a later expiry when the tab asks again', async () => {
    const server = await start({ ice: TURN });
    const client = connect(server);
    await client.hello(identity);
    const first = await client.next('ice');
    await client.next('welcome');
    nowMs += 240_000;
    client.send({ type: 'ice' });
    const renewed = await client.next('ice');
    const expiry = (ice: typeof first) => Number(ice.servers[1]!.username!.split(':')[0]);
    expect(expiry(renewed) - expiry(first)).toBe(240);
    expect(renewed.servers[1]!.credential).not.toBe(first.servers[1]!.credential);
    expect(server.stats().turnCredentialsMinted).toBe(2);
  });

  it('sends nothing without ICE servers, and an empty list when asked', async () => {
    const server = await start({});
    const client = await joined(server.url, identity); // the welcome is the first frame after hello
    clients.push(client);
    client.send({ type: 'ice' });
    expect(await client.next('ice')).toEqual({ type: 'ice', servers: [] });
    expect(server.stats().turnCredentialsMinted).toBe(0);
  });

  it('refuses an ice request before the welcome, as any other frame', async () => {
    const server = await start({ ice: TURN });
    const client = connect(server);
    await client.opened;
    client.send({ type: 'ice' });
    expect((await client.closed).code).toBe(SignalClose.NotAuthenticated);
    expect(server.stats().rejects).toEqual({ 'not-authenticated': 1 });
    expect(server.stats().turnCredentialsMinted).toBe(0);
  });
});
