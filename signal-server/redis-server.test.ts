/**
 * Two real signal-server processes (main.ts, REDIS_URL set) on one real redis-server, driven by
 * ws clients that speak the /signal protocol: relays between processes, and what happens while
 * Redis is away (test 5 of issue 17). The same with real engine nodes: redis-nodes.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdentity, type Identity } from '../shared/lib/crypto.ts';
import { ErrorCode } from '../shared/lib/errors.ts';
import { ID_WORK_BITS, idToHex, setIdWorkBits } from '../shared/lib/id.ts';
import { SeededRandom } from '../shared/lib/random.ts';
import { joined, type TestClient } from './test-client.ts';
import { getJson, startServerProcess, type ServerProcess } from './test-process.ts';
import { startRedis, until, type TestRedis } from './test-redis.ts';
import { samplePayload } from '../shared/signal/test-signals.ts';

// The servers are real processes checking ids at the network's work (lib/id.ts), not the 4
// bits vitest's setup gives this process: these tabs' ids carry the real work too.
setIdWorkBits(ID_WORK_BITS);

const PAYLOAD = samplePayload();
let redis: TestRedis;
let servers: ServerProcess[] = [];
const clients: TestClient[] = [];
const ids: Identity[] = [];

beforeAll(async () => {
  redis = await startRedis();
  servers = await Promise.all([0, 1].map(() => startServerProcess({ REDIS_URL: redis.url })));
  const random = new SeededRandom(17);
  for (let i = 0; i < 5; i++) ids.push(await createIdentity(random));
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await Promise.all(servers.map((s) => s.kill()));
  await redis?.stop();
});

/** A tab: its socket and the node id it proved. */
interface Tab {
  client: TestClient;
  id: string;
}

async function join(server: ServerProcess, identity: Identity): Promise<Tab> {
  const client = await joined(server.url, identity);
  clients.push(client);
  return { client, id: idToHex(identity.nodeId) };
}

/** `from` signals `to`; resolves with what `to` got, or with the error `from` got. */
async function signal(from: Tab, to: Tab | string, rid: number): Promise<'delivered' | string> {
  const toId = typeof to === 'string' ? to : to.id;
  from.client.send({ type: 'signal', to: toId, rid, payload: PAYLOAD });
  if (typeof to === 'string') return (await from.client.next('error')).code;
  const got = await to.client.next('signal');
  expect(got).toMatchObject({ from: from.id, to: toId, rid, payload: PAYLOAD });
  return 'delivered';
}

const redisOf = async (server: ServerProcess) => (await getJson(server.url, '/healthz'))['redis'];

describe('two signal-server processes on one Redis', () => {
  let onA: Tab;
  let onB: Tab;

  it('relays between tabs on different processes and hands out tabs of both', async () => {
    expect(await Promise.all(servers.map(redisOf))).toEqual(['ok', 'ok']);
    onA = await join(servers[0]!, ids[0]!);
    onB = await join(servers[1]!, ids[1]!);
    expect(await signal(onA, onB, 1)).toBe('delivered');
    expect(await signal(onB, onA, 2)).toBe('delivered');
    const asker = await join(servers[0]!, ids[2]!);
    asker.client.send({ type: 'peers', n: 8 });
    const answer = await asker.client.next('peers');
    expect(new Set(answer.ids)).toEqual(new Set([onA.id, onB.id]));
    // The count is the network's, not this process's: the tabs of both.
    expect(answer.live).toBe(3);
  });

  it('keeps serving each process alone while Redis is down, says degraded, and recovers when it returns', async () => {
    await redis.stop();
    await until('both say degraded', async () => (await Promise.all(servers.map(redisOf))).every((s) => s === 'degraded'));
    expect((await getJson(servers[0]!.url, '/stats'))['redis']).toBe('degraded');
    const alsoOnA = await join(servers[0]!, ids[3]!); // new tabs still join
    expect(await signal(onA, alsoOnA, 3)).toBe('delivered');
    expect(await signal(onA, onB.id, 4)).toBe(ErrorCode.NotFound); // on the other process

    await redis.start(); // empty: nothing was saved
    await until('both say ok', async () => (await Promise.all(servers.map(redisOf))).every((s) => s === 'ok'), 20_000);
    expect(await signal(onB, alsoOnA, 5)).toBe('delivered'); // joined while Redis was down
    expect(await signal(onA, onB, 6)).toBe('delivered');
    for (const server of servers) {
      const where = `redis://127.0.0.1:${redis.port}`;
      expect(server.output().split(`Redis unreachable at ${where}: relaying locally`)).toHaveLength(2);
      expect(server.output().split(`Redis at ${where} is back: relaying across processes again`)).toHaveLength(2);
    }
  });
});
