import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientOptions } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createIdentity, type Identity } from '../shared/lib/crypto.ts';
import { ErrorCode } from '../shared/lib/errors.ts';
import { idToHex, nodeIdFromSigningKey } from '../shared/lib/id.ts';
import { nonceWithoutWork } from '../shared/lib/test-ids.ts';
import { SeededRandom } from '../shared/lib/random.ts';
import { SignalClose } from '../shared/signal/protocol.ts';
import { createSignalServer, type SignalServer, type SignalServerOptions } from './server.ts';
import { joined, TestClient } from './test-client.ts';
import { SAMPLE_ANSWER, SAMPLE_CANDIDATES, SAMPLE_OFFER, samplePayload, sampleReply } from '../shared/signal/test-signals.ts';

let staticDir: string;
const ids: Identity[] = [];
const servers: SignalServer[] = [];
const clients: TestClient[] = [];
let clock = 0;

beforeAll(async () => {
  staticDir = await mkdtemp(join(tmpdir(), 'peerchat-static-'));
  await writeFile(join(staticDir, 'index.html'), '<!doctype html><title>peerchat</title>');
  await mkdir(join(staticDir, 'assets'));
  await writeFile(join(staticDir, 'assets', 'app.js'), 'console.log(1);');
  const random = new SeededRandom(4);
  for (let i = 0; i < 6; i++) ids.push(await createIdentity(random));
});

afterAll(() => rm(staticDir, { recursive: true, force: true }));

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A server on a free port with a frozen clock (tests move `clock`) and a seeded random. */
async function start(options: SignalServerOptions = {}): Promise<SignalServer> {
  clock = 0;
  const server = createSignalServer({ port: 0, staticDir, now: () => clock, random: new SeededRandom(1), ...options });
  servers.push(server);
  await server.ready;
  return server;
}

function connect(server: SignalServer, options?: ClientOptions): TestClient {
  const client = TestClient.connect(server.url, options);
  clients.push(client);
  return client;
}

async function joinAs(server: SignalServer, identity: Identity): Promise<TestClient> {
  const client = await joined(server.url, identity);
  clients.push(client);
  return client;
}

/** After whatever a test did, a new tab still completes the handshake. */
async function expectStillServing(server: SignalServer): Promise<void> {
  const client = await joinAs(server, ids[5]!);
  await client.close();
}

async function json(server: SignalServer, path: string): Promise<unknown> {
  const res = await fetch(new URL(path, server.url));
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return res.json();
}

/** A GET with the path sent byte for byte (fetch would resolve `..` before sending). */
function rawGet(server: SignalServer, path: string): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('signal server handshake', () => {
  it('welcomes a tab that signs the nonce with the key its id is the hash of', async () => {
    const server = await start();
    await joinAs(server, ids[0]!);
    expect(server.stats().authenticated).toBe(1);
  });

  it('closes a tab whose id is not the hash of its key', async () => {
    const server = await start();
    const client = connect(server);
    await client.hello(ids[0]!, { id: idToHex(ids[1]!.nodeId) });
    expect((await client.closed).code).toBe(SignalClose.AuthFailed);
    expect(server.stats().rejects['bad-id']).toBe(1);
    await expectStillServing(server);
  });

  it('closes a tab whose id nonce does not carry the work, before its signature is checked', async () => {
    const server = await start();
    const client = connect(server);
    const key = ids[0]!.signingPublic;
    const n = nonceWithoutWork(key);
    // The id that key and nonce make with no work asked: what a Sybil would grind cheaply.
    await client.hello(ids[0]!, { n, id: idToHex(nodeIdFromSigningKey(key, n, 0)!) });
    expect((await client.closed).code).toBe(SignalClose.AuthFailed);
    expect(server.stats().rejects['bad-id-work']).toBe(1);
    await expectStillServing(server);
  });

  it('closes a tab whose signature is not over this connection nonce', async () => {
    const server = await start();
    const client = connect(server);
    await client.hello(ids[0]!, { nonce: 'A'.repeat(43) });
    expect((await client.closed).code).toBe(SignalClose.AuthFailed);
    expect(server.stats().rejects['bad-signature']).toBe(1);
    await expectStillServing(server);
  });

  it('closes a tab that does not say hello within the handshake timeout', async () => {
    const server = await start({ limits: { handshakeTimeoutMs: 500 } });
    const client = connect(server);
    expect((await client.closed).code).toBe(SignalClose.HandshakeTimeout);
    expect(server.stats().rejects['handshake-timeout']).toBe(1);
    await expectStillServing(server);
  });

  it('replaces the older socket when the same id authenticates again, as after a reload', async () => {
    const server = await start();
    const first = await joinAs(server, ids[0]!);
    await joinAs(server, ids[0]!);
    expect((await first.closed).code).toBe(SignalClose.Replaced);
    expect(server.stats().authenticated).toBe(1);
  });
});

describe('signal server peers and relay', () => {
  it('hands out up to n other tabs, never the asker, and says how many tabs it has', async () => {
    const server = await start();
    const [a] = await Promise.all(ids.slice(0, 4).map((id) => joinAs(server, id)));
    a!.send({ type: 'peers', n: 8 });
    const answer = await a!.next('peers');
    expect(answer.live).toBe(4);
    const all = answer.ids;
    expect(new Set(all)).toEqual(new Set(ids.slice(1, 4).map((id) => idToHex(id.nodeId))));
    const singles: string[] = [];
    for (let i = 0; i < 4; i++) {
      a!.send({ type: 'peers', n: 1 });
      singles.push(...(await a!.next('peers')).ids);
    }
    for (const id of singles) expect(all).toContain(id);
    expect(server.stats().peersHandedOut).toBe(7);
  });

  it('relays a signal to its target and the reply back, stamped with the sender id', async () => {
    const server = await start();
    const [a, b] = await Promise.all([joinAs(server, ids[0]!), joinAs(server, ids[1]!)]);
    const [aHex, bHex] = [idToHex(ids[0]!.nodeId), idToHex(ids[1]!.nodeId)];
    // Candidates only, as a later batch of an attempt carries.
    const payload = { conn: 'c1', data: SAMPLE_CANDIDATES };
    a!.send({ type: 'signal', to: bHex, rid: 7, payload });
    expect(await b!.next('signal')).toEqual({ type: 'signal', from: aHex, to: bHex, rid: 7, payload });
    b!.send({ type: 'signal-reply', to: aHex, rid: 7, reply: sampleReply() });
    expect(await a!.next('signal-reply')).toEqual({ type: 'signal-reply', from: bHex, to: aHex, rid: 7, reply: sampleReply() });
    expect(server.stats()).toMatchObject({ signalsRelayed: 1, offersRelayed: 0, repliesRelayed: 1 });
    // A batch carrying an offer opens a connection, and is counted as one signaled here.
    a!.send({ type: 'signal', to: bHex, rid: 8, payload: samplePayload('c2') });
    await b!.next('signal');
    expect(server.stats()).toMatchObject({ signalsRelayed: 2, offersRelayed: 1 });
  });

  it('relays only WebRTC signaling a tab sends: anything else is refused with BAD_REQUEST, counted, and never reaches the target', async () => {
    const server = await start();
    const [a, b] = await Promise.all([joinAs(server, ids[0]!), joinAs(server, ids[1]!)]);
    const [aHex, bHex] = [idToHex(ids[0]!.nodeId), idToHex(ids[1]!.nodeId)];
    const candidate = (line: string) => JSON.stringify({ type: 'candidate', candidate: { candidate: line, sdpMLineIndex: 0, sdpMid: '0' } });
    const offer = JSON.parse(SAMPLE_OFFER) as { sdp: string };
    // What a tab would send to use the server as a free relay (chat, files), and what no tab sends.
    const refused: [string[], string][] = [
      [['hello bob, this is not signaling'], 'bad-signal'],
      [[JSON.stringify({ type: 'renegotiate', renegotiate: true })], 'bad-signal'],
      [[JSON.stringify({ type: 'offer', sdp: `v=0\r\n${'x-file-chunk=QUJDRA==\r\n'.repeat(50)}` })], 'bad-sdp'],
      [[JSON.stringify({ type: 'offer', sdp: offer.sdp.replace('m=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'm=audio 9 UDP/TLS/RTP/SAVPF 111') })], 'bad-sdp'],
      [[JSON.stringify({ type: 'offer', sdp: offer.sdp + 'a=x-secret:\u0000\r\n' })], 'bad-sdp'],
      [[SAMPLE_OFFER, candidate('meet me at 5, bob')], 'bad-candidate'],
      [[SAMPLE_ANSWER], 'unexpected-sdp'],
      [[SAMPLE_OFFER, SAMPLE_OFFER], 'unexpected-sdp'],
    ];
    for (const [i, [data, reason]] of refused.entries()) {
      a.send({ type: 'signal', to: bHex, rid: 100 + i, payload: { conn: 'c1', data } });
      expect(await a.next('error'), reason).toMatchObject({ code: ErrorCode.BadRequest, rid: 100 + i });
    }
    b.send({ type: 'signal-reply', to: aHex, rid: 200, reply: { data: [SAMPLE_OFFER] } });
    expect(await b.next('error')).toMatchObject({ code: ErrorCode.BadRequest, rid: 200 });
    a.send({ type: 'signal', to: bHex, rid: 300, payload: samplePayload() });
    expect((await b.next('signal')).rid).toBe(300); // the first frame b got: none of the refused
    expect(server.stats()).toMatchObject({
      signalsRelayed: 1,
      offersRelayed: 1,
      repliesRelayed: 0,
      relays: { delivered: 1, 'bad-signal': 2, 'bad-sdp': 3, 'bad-candidate': 1, 'unexpected-sdp': 3 },
      authenticated: 2, // refused relays do not cost the sockets
    });
  });

  it('answers a signal to an id that is not connected with NOT_FOUND and its rid', async () => {
    const server = await start();
    const a = await joinAs(server, ids[0]!);
    a.send({ type: 'signal', to: 'ab'.repeat(20), rid: 9, payload: { conn: 'c', data: [] } });
    expect(await a.next('error')).toMatchObject({ code: ErrorCode.NotFound, rid: 9 });
    expect(server.stats().signalsRelayed).toBe(0);
  });

  it('closes a tab that asks for peers before it is welcomed', async () => {
    const server = await start();
    const client = connect(server);
    await client.next('challenge');
    client.send({ type: 'peers', n: 1 });
    expect((await client.closed).code).toBe(SignalClose.NotAuthenticated);
  });
});

describe('signal server limits', () => {
  it('closes a frame over 16 KiB with 1009 and counts it', async () => {
    const server = await start();
    const client = connect(server);
    await client.opened;
    client.send('x'.repeat(16 * 1024 + 1));
    expect((await client.closed).code).toBe(1009);
    expect(server.stats().rejects['too-large']).toBe(1);
    await expectStillServing(server);
  });

  it('closes bad JSON and unknown types with 4400 and counts them in /stats', async () => {
    const server = await start();
    const bad = connect(server);
    await bad.opened;
    bad.send('{nope');
    expect(await bad.closed).toEqual({ code: SignalClose.BadMessage, reason: 'not-json' });
    const unknown = await joinAs(server, ids[0]!);
    unknown.send('{"type":"gossip"}');
    expect(await unknown.closed).toEqual({ code: SignalClose.BadMessage, reason: 'unknown-type' });
    expect(await json(server, '/stats')).toMatchObject({ rejects: { 'not-json': 1, 'unknown-type': 1 } });
    await expectStillServing(server);
  });

  it('closes a tab that floods past its message burst with 1008 rate limit', async () => {
    const server = await start({ limits: { messagesPerSecond: 20, messageBurst: 40 } });
    const client = await joinAs(server, ids[0]!);
    for (let i = 0; i < 45; i++) client.send({ type: 'ping' });
    expect(await client.closed).toEqual({ code: 1008, reason: 'rate limit' });
    expect(server.stats().rejects['rate-limit']).toBe(1);
    await expectStillServing(server);
  });

  it('limits new ids per address, not reconnects of a known id, and refills over time', async () => {
    const server = await start({ limits: { newIdsPerMinutePerAddress: 2 } });
    await joinAs(server, ids[0]!);
    await joinAs(server, ids[1]!);
    const third = connect(server);
    await third.hello(ids[2]!);
    expect((await third.closed).code).toBe(SignalClose.NewIdRateLimit);
    await joinAs(server, ids[0]!); // a reload of a known id costs nothing
    clock += 30_000; // one token back at 2 per minute
    await joinAs(server, ids[2]!);
    expect(server.stats().rejects['new-id-rate-limit']).toBe(1);
  });

  it('rejects the upgrade with 503 once the connection cap is reached', async () => {
    const server = await start({ limits: { maxConnections: 2 } });
    await Promise.all([connect(server).opened, connect(server).opened]);
    const error = await connect(server).opened.catch((e: Error) => e);
    expect(String(error)).toMatch(/503/);
    expect(server.stats().rejects['max-connections']).toBe(1);
  });

  it('refuses pages of another origin with 403, and admits its own and non-browser clients', async () => {
    const server = await start();
    const own = new URL(server.url).origin;
    const error = await connect(server, { origin: 'https://evil.example' }).opened.catch((e: Error) => e);
    expect(String(error)).toMatch(/403/);
    expect(server.stats().rejects['bad-origin']).toBe(1);
    await connect(server, { origin: own }).opened;
    await connect(server).opened;
    const listed = await start({ allowedOrigins: ['https://chat.example.org'] });
    await connect(listed, { origin: 'https://chat.example.org' }).opened;
    expect(String(await connect(listed, { origin: new URL(listed.url).origin }).opened.catch((e: Error) => e))).toMatch(/403/);
  });

  it('caps sockets that never authenticate per address, so one machine cannot take the server', async () => {
    // The attack: one address opens sockets that never say hello, up to the global cap.
    const server = await start({ limits: { maxConnections: 20, maxUnauthenticatedPerAddress: 4, handshakeTimeoutMs: 60_000 } });
    const attacker = { localAddress: '127.0.0.2' };
    const attempts = await Promise.all(Array.from({ length: 12 }, () => connect(server, attacker).opened.then(() => 'open', (e: Error) => String(e))));
    expect(attempts.filter((a) => a === 'open')).toHaveLength(4);
    expect(attempts.filter((a) => /429/.test(a))).toHaveLength(8);
    expect(server.stats().rejects['address-unauthenticated']).toBe(8);
    // Everyone else still gets in, up to the global cap.
    await expectStillServing(server);
    for (let i = 0; i < 3; i++) await joinAs(server, ids[i]!);
    expect(server.stats().authenticated).toBe(3);
  });

  it('caps all sockets per address, authenticated or not, and frees a place when one closes', async () => {
    const server = await start({ limits: { maxSocketsPerAddress: 2 } });
    const first = await joinAs(server, ids[0]!);
    await joinAs(server, ids[1]!);
    expect(String(await connect(server).opened.catch((e: Error) => e))).toMatch(/429/);
    expect(server.stats().rejects['address-sockets']).toBe(1);
    await first.close();
    await expect.poll(() => server.stats().connections).toBe(1);
    await joinAs(server, ids[2]!);
  });

  it('closes a connection whose request headers trickle in (slow-loris)', async () => {
    const server = await start({ limits: { headersTimeoutMs: 300 } });
    const socket = createConnection({ host: '127.0.0.1', port: server.port });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET /signal HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const closed = new Promise<string>((resolve) => {
      let answer = '';
      socket.on('data', (d: Buffer) => (answer += d.toString()));
      socket.once('close', () => resolve(answer));
    });
    // Keeps sending a header line now and then, never the blank line that ends the headers.
    const trickle = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 100);
    try {
      expect(await closed).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });

  it('terminates a tab that stops answering heartbeat pings and keeps one that answers', async () => {
    const server = await start({ limits: { heartbeatMs: 300 } });
    const deaf = connect(server, { autoPong: false });
    const live = connect(server);
    let pings = 0;
    const threePings = new Promise<void>((resolve) => live.ws.on('ping', () => ++pings === 3 && resolve()));
    expect((await deaf.closed).code).toBe(1006);
    await threePings;
    expect(live.ws.readyState).toBe(live.ws.OPEN);
    expect(server.stats().rejects['heartbeat']).toBe(1);
  });
});

describe('signal server http', () => {
  it('answers /healthz and /stats with JSON', async () => {
    const server = await start();
    await joinAs(server, ids[0]!);
    expect(await json(server, '/healthz')).toEqual({ ok: true, tls: false, redis: 'off' });
    expect(await json(server, '/stats')).toEqual({
      connections: 1,
      authenticated: 1,
      signalsRelayed: 0,
      offersRelayed: 0,
      repliesRelayed: 0,
      peersHandedOut: 0,
      isTabQueries: 0,
      turnCredentialsMinted: 0,
      rejects: {},
      relays: {},
      redis: 'off',
    });
  });

  it('serves index.html at / and files with their content type, and 404 for missing ones', async () => {
    const server = await start();
    const index = await fetch(server.url);
    expect(index.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await index.text()).toContain('<title>peerchat</title>');
    const script = await fetch(new URL('/assets/app.js', server.url));
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await fetch(new URL('/missing.js', server.url))).status).toBe(404);
  });

  it('rejects paths that try to leave the static directory', async () => {
    const server = await start();
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/twin/../index.html', '/assets/..%2f..%2fx']) {
      expect((await rawGet(server, path)).status, path).toBe(400);
    }
    await expectStillServing(server);
  });

  it('sends a CSP that allows only the app\'s own origin, no framing and no referrer, on every response', async () => {
    const server = await start();
    for (const path of ['/', '/assets/app.js', '/twin/', '/missing.js', '/../x']) {
      const { headers } = await rawGet(server, path);
      const csp = String(headers['content-security-policy']);
      expect(csp, path).toContain("script-src 'self'");
      expect(csp, path).toContain("connect-src 'self'");
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).not.toMatch(/unsafe-(inline|eval)/);
      expect(headers['x-frame-options'], path).toBe('DENY');
      expect(headers['referrer-policy'], path).toBe('no-referrer');
      expect(headers['x-content-type-options'], path).toBe('nosniff');
    }
  });

  it('serves the twin app under /twin/ with COOP and COEP, and / without them', async () => {
    const server = await start();
    const main = await rawGet(server, '/');
    expect(main.headers['cross-origin-opener-policy']).toBeUndefined();
    expect(main.headers['cross-origin-embedder-policy']).toBeUndefined();
    for (const path of ['/twin/', '/twin/assets/app.js']) {
      const twin = await rawGet(server, path);
      expect(twin.status).toBe(200);
      expect(twin.headers['cross-origin-opener-policy']).toBe('same-origin');
      expect(twin.headers['cross-origin-embedder-policy']).toBe('require-corp');
    }
  });
});
