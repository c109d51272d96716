/**
 * /metrics as a Prometheus server reads it: every line parses as the text exposition format,
 * and the numbers follow what tabs do. Two servers in one process keep their own numbers.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createIdentity, type Identity } from '../shared/lib/crypto.ts';
import { idToHex } from '../shared/lib/id.ts';
import { SeededRandom } from '../shared/lib/random.ts';
import { RedisBackend } from './backend/redis.ts';
import { createSignalServer, type SignalServer, type SignalServerOptions } from './server.ts';
import { joined, TestClient } from './test-client.ts';
import { startRedis, until, type TestRedis } from './test-redis.ts';
import { samplePayload } from '../shared/signal/test-signals.ts';

const ids: Identity[] = [];
const servers: SignalServer[] = [];
const clients: TestClient[] = [];
let redis: TestRedis;

beforeAll(async () => {
  const random = new SeededRandom(5);
  for (let i = 0; i < 2; i++) ids.push(await createIdentity(random));
  redis = await startRedis();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(() => redis?.stop());

async function start(options: SignalServerOptions = {}): Promise<SignalServer> {
  const server = createSignalServer({ port: 0, random: new SeededRandom(1), ...options });
  servers.push(server);
  await server.ready;
  return server;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(`^(${NAME})(\\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*",?)*\\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$`);

/** Scrapes /metrics, checks every line against the text format, returns sample -> value. */
async function scrape(server: SignalServer): Promise<Map<string, number>> {
  const res = await fetch(new URL('/metrics', server.url));
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '') continue;
    const meta = new RegExp(`^# (HELP|TYPE) (${NAME}) (.+)$`).exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        expect(['counter', 'gauge']).toContain(meta[3]);
        typed.add(meta[2]!);
      }
      continue;
    }
    const sample = SAMPLE.exec(line);
    expect(sample, `not a Prometheus sample line: ${line}`).not.toBeNull();
    expect(typed).toContain(sample![1]); // every sample follows its TYPE line
    samples.set(sample![1]! + (sample![2] ?? ''), Number(sample![3]));
  }
  return samples;
}

describe('/metrics', () => {
  it('parses as Prometheus text and counts sockets, tabs, relays by result and refusals by reason', async () => {
    const server = await start();
    const before = await scrape(server);
    expect(before.get('peerchat_signal_sockets')).toBe(0);
    expect(before.get('peerchat_signal_redis_state{state="off"}')).toBe(1);

    const a = await joined(server.url, ids[0]!);
    clients.push(a);
    const b = await joined(server.url, ids[1]!);
    clients.push(b);
    a.send({ type: 'signal', to: idToHex(ids[1]!.nodeId), rid: 1, payload: samplePayload() });
    await b.next('signal');
    a.send({ type: 'signal', to: '0'.repeat(40), rid: 2, payload: samplePayload() });
    await a.next('error');
    a.send({ type: 'signal', to: idToHex(ids[1]!.nodeId), rid: 3, payload: { conn: 'c', data: ['{"type":"offer","sdp":"not an sdp"}'] } });
    await a.next('error');
    const bad = TestClient.connect(server.url);
    clients.push(bad);
    await bad.next('challenge');
    bad.send('not json');
    await bad.closed;

    const after = await scrape(server);
    expect(after.get('peerchat_signal_sockets')).toBe(2);
    expect(after.get('peerchat_signal_authenticated_tabs')).toBe(2);
    expect(after.get('peerchat_signal_relays_total{result="delivered"}')).toBe(1);
    expect(after.get('peerchat_signal_relays_total{result="not-found"}')).toBe(1);
    expect(after.get('peerchat_signal_relays_total{result="bad-sdp"}')).toBe(1);
    expect(after.get('peerchat_signal_refusals_total{reason="not-json"}')).toBe(1);
    // Another server in this process has numbers of its own.
    expect((await scrape(await start())).get('peerchat_signal_authenticated_tabs')).toBe(0);
  });

  it('shows the Redis state, and degraded while Redis is down', async () => {
    const backend = await RedisBackend.connect({ url: redis.url, random: new SeededRandom(2), prefix: 'metrics:', log: () => {} });
    const server = await start({ backend });
    expect((await scrape(server)).get('peerchat_signal_redis_state{state="ok"}')).toBe(1);
    await redis.stop();
    await until('degraded', () => backend.state() === 'degraded');
    const down = await scrape(server);
    expect([down.get('peerchat_signal_redis_state{state="ok"}'), down.get('peerchat_signal_redis_state{state="degraded"}')]).toEqual([0, 1]);
    await redis.start();
  });
});
