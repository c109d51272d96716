/**
 * Issue 17's deployment numbers, in one run:
 * 1. Signal relays per second, tab A to tab B: through one process (MemoryBackend), through one
 *    process on Redis (both tabs on it), and from process 1 to process 2 sharing one
 *    redis-server; one relay in flight (sequential) and RELAY_PAIRS pairs at once.
 * 2. Server memory per idle authenticated tab, IDLE_TABS tabs, without and with Redis (and what
 *    redis-server itself holds per tab), measured as bench/signal-server-rss.ts does.
 * 3. A headless node's RSS and CPU at idle in a network of 50 tabs (bench/deploy-network.ts
 *    says what the tabs are).
 * Server processes are children of this bundle (deploy-server.ts), the tabs of parts 1 and 2
 * are `ws` clients in this process, redis-server is one of the run's own (test-redis.ts).
 *   npm run bench:deploy [-- --quick] [-- --only network]   (quick: shorter windows, to try it)
 * Writes bench/results/deploy.json (relative to the working directory, the project root).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { createIdentity, type Identity } from '../shared/lib/crypto.ts';
import { SeededRandom } from '../shared/lib/random.ts';
import { startRedis, type TestRedis } from '../signal-server/test-redis.ts';
import { CrashedError, measureNetworkIdle, runTabsChild, TABS, type NetworkIdle } from './deploy-network.ts';
import { closeTabs, connectTabs, idlePerTab, relayRate, type IdlePerTab, type RelayRate } from './deploy-relay.ts';
import { serveChild, startServerChild, type ServerChild } from './deploy-server.ts';
import { machineInfo } from './machine.ts';

const quick = process.argv.includes('--quick');
/** `--only network`: just part 3, printed and not written (for trying that part alone). */
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const RELAY_PAIRS = 50;
const RELAY_WINDOW_MS = quick ? 2_000 : 5_000;
const RELAY_WARMUP_MS = 1_000;
const IDLE_TABS = 1_000;
const WARMUP_TABS = 100;
const SETTLE_MS = quick ? 10_000 : 30_000;
const IDLE_WINDOW_MS = quick ? 15_000 : 60_000;
const NETWORK_RUNS = 3;
const MIN_FDS = 16_384;

type RelaySetup = 'one process, memory' | 'one process, Redis' | 'two processes, Redis';

async function flush(redis: TestRedis): Promise<void> {
  const client = createClient({ url: redis.url });
  await client.connect();
  await client.flushAll();
  await client.quit();
}

async function redisUsedMemory(url: string): Promise<number> {
  const client = createClient({ url });
  await client.connect();
  const info = await client.info('memory');
  await client.quit();
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}

/** One setup: A tabs on `a`, B tabs on `b` (maybe the same server), sequential then in flight. */
async function relays(a: ServerChild, b: ServerChild, identities: Identity[]): Promise<{ sequential: RelayRate; inFlight: RelayRate }> {
  const as = await connectTabs(a.url, identities.slice(0, RELAY_PAIRS));
  const bs = await connectTabs(b.url, identities.slice(RELAY_PAIRS, 2 * RELAY_PAIRS));
  const pairs = as.map((tab, i): [typeof tab, typeof tab] => [tab, bs[i]!]);
  try {
    await relayRate(pairs, RELAY_WARMUP_MS);
    const sequential = await relayRate(pairs.slice(0, 1), RELAY_WINDOW_MS);
    const inFlight = await relayRate(pairs, RELAY_WINDOW_MS);
    return { sequential, inFlight };
  } finally {
    await closeTabs([...as, ...bs]);
  }
}

async function relayPart(redis: TestRedis, identities: Identity[]): Promise<Record<RelaySetup, { sequential: RelayRate; inFlight: RelayRate }>> {
  const out = {} as Record<RelaySetup, { sequential: RelayRate; inFlight: RelayRate }>;
  const memory = await startServerChild('memory');
  try {
    console.error('relays: one process, MemoryBackend');
    out['one process, memory'] = await relays(memory, memory, identities);
  } finally {
    await memory.stop();
  }
  await flush(redis);
  const [one, two] = [await startServerChild('redis', redis.url), await startServerChild('redis', redis.url)];
  try {
    console.error('relays: one process on Redis');
    out['one process, Redis'] = await relays(one, one, identities);
    console.error('relays: process 1 to process 2 through Redis');
    // Tabs of their own: the first setup's sockets may still be closing on process 1.
    out['two processes, Redis'] = await relays(one, two, identities.slice(2 * RELAY_PAIRS));
  } finally {
    await Promise.all([one.stop(), two.stop()]);
  }
  return out;
}

async function memoryPart(redis: TestRedis, identities: Identity[]): Promise<{ memory: IdlePerTab; redis: IdlePerTab }> {
  const tabs = identities.slice(0, IDLE_TABS);
  const warmup = identities.slice(IDLE_TABS, IDLE_TABS + WARMUP_TABS);
  const memory = await startServerChild('memory');
  let withoutRedis: IdlePerTab;
  try {
    console.error(`memory: ${IDLE_TABS} idle tabs, MemoryBackend`);
    withoutRedis = await idlePerTab(memory, tabs, warmup);
  } finally {
    await memory.stop();
  }
  await flush(redis);
  const onRedis = await startServerChild('redis', redis.url);
  try {
    console.error(`memory: ${IDLE_TABS} idle tabs, RedisBackend`);
    return { memory: withoutRedis, redis: await idlePerTab(onRedis, tabs, warmup, () => redisUsedMemory(redis.url)) };
  } finally {
    await onRedis.stop();
  }
}

async function networkPart(): Promise<{ result: NetworkIdle; crashes: number }> {
  for (let run = 1; ; run++) {
    const server = await startServerChild('memory');
    try {
      console.error(`headless: ${TABS} tabs and one headless node (settle ${SETTLE_MS / 1000} s, window ${IDLE_WINDOW_MS / 1000} s)`);
      return { result: await measureNetworkIdle(server.url, server.pid, SETTLE_MS, IDLE_WINDOW_MS), crashes: run - 1 };
    } catch (err) {
      if (!(err instanceof CrashedError) || run >= NETWORK_RUNS) throw err;
      console.error(`${err.message}; again (the native WebRTC library's known crash)`);
    } finally {
      await server.stop();
    }
  }
}

async function main(): Promise<void> {
  if (!existsSync(join(process.cwd(), 'web', 'headless', 'main.ts'))) throw new Error('run from the project root: npm run bench:deploy');
  const fdLimit = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  // A process of 10 WebRTC nodes in a 50-node network holds ~9,000 sockets (@roamhq/wrtc
  // opens ~17 per connection), more than the 1,000 idle tabs of part 2 need.
  if (fdLimit !== 'unlimited' && Number(fdLimit) < MIN_FDS) throw new Error(`ulimit -n is ${fdLimit}; raise it (ulimit -n ${MIN_FDS})`);
  const loadAtStart = loadavg().map((l) => Math.round(l * 100) / 100);
  const random = new SeededRandom(17);
  const identities: Identity[] = [];
  for (let i = 0; i < IDLE_TABS + WARMUP_TABS; i++) identities.push(await createIdentity(random));
  const redis = await startRedis();
  let relay, memory;
  try {
    relay = only === 'network' ? null : await relayPart(redis, identities);
    memory = only === 'network' ? null : await memoryPart(redis, identities);
  } finally {
    await redis.stop();
  }
  const network = await networkPart();
  if (relay === null || memory === null) {
    console.error(JSON.stringify(network, null, 2));
    return;
  }
  const out = {
    date: new Date().toISOString(),
    machine: { ...machineInfo(), fdLimit },
    /** 1, 5 and 15 minute load averages: other work on the machine shows in every number. */
    loadAverage: { atStart: loadAtStart, atEnd: loadavg().map((l) => Math.round(l * 100) / 100) },
    quick,
    relays: {
      what: `signal frames (~1.1 KB: a real offer and two candidates) relayed tab A -> tab B, each pair one at a time; sequential = 1 pair, inFlight = ${RELAY_PAIRS} pairs at once; ${RELAY_WINDOW_MS / 1000} s each; per-socket rate limits raised`,
      ...relay,
    },
    idleMemoryPerTab: { what: `${IDLE_TABS} authenticated idle tabs on one server process, settled, after forced GC`, withoutRedis: memory.memory, withRedis: memory.redis },
    headlessAtIdle: {
      what: `one headless node (npm run peer's entry, tsx) in a network of ${TABS} tabs: real engine nodes in Node (peer-node.ts, simple-peer over @roamhq/wrtc), 10 per child process, on one signal server; ${SETTLE_MS / 1000} s to settle after all have 3+ peers, then a ${IDLE_WINDOW_MS / 1000} s idle window; CPU from /proc (all threads)`,
      crashedRuns: network.crashes,
      ...network.result,
    },
  };
  const dir = join(process.cwd(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = quick ? 'deploy-quick.json' : 'deploy.json';
  writeFileSync(join(dir, file), JSON.stringify(out, null, 2) + '\n');
  for (const [setup, r] of Object.entries(relay)) {
    console.error(`${setup.padEnd(22)} sequential ${r.sequential.relaysPerSecond}/s (p50 ${r.sequential.latencyMs.p50} ms), ${RELAY_PAIRS} in flight ${r.inFlight.relaysPerSecond}/s`);
  }
  console.error(`idle tab: ${memory.memory.rssKiB} KiB RSS without Redis, ${memory.redis.rssKiB} KiB with (+${memory.redis.redisKiB} KiB in redis-server)`);
  const h = network.result.headless;
  console.error(`headless at idle among ${TABS} tabs: ${h.rssMiB.median} MiB RSS, ${h.cpuPercentOfOneCore}% of a core, ${h.peers} peers`);
  console.error(`wrote bench/results/${file}`);
}

const [flag, role, ...rest] = process.argv.slice(2);
if (flag === '--child' && role === 'server') await serveChild(rest[0] === 'redis' ? 'redis' : 'memory', rest[1]);
else if (flag === '--child' && role === 'tabs') await runTabsChild(rest[0]!, Number(rest[1]), Number(rest[2]));
else {
  await main();
  process.exit(0);
}
