/**
 * Issue 17's tests 3 and 4 with real processes: two signal servers (main.ts with REDIS_URL) on
 * one real redis-server, and real engine nodes that chat (redis-servers.scenario.ts, in a child
 * process for the reason peer-node.test.ts gives; a run killed by a signal is repeated, up to
 * three). A TCP proxy here stands in for a load balancer: it sends each new connection to the
 * first server that accepts it, so when server A dies its tabs come back through it to B.
 */
import { spawn } from 'node:child_process';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../../signal-server/test-process.ts';
import { startRedis, type TestRedis } from '../../signal-server/test-redis.ts';

interface Outcome {
  firstPeersFromBoth: boolean;
  lastFirstPeers: string[];
  onA: string[];
  onB: string[];
  /** Messages delivered (and shown) between alice on A and bob on B, by direction. */
  beforeKill: string[];
  afterKill: string[];
  /** From the kill until B held all four tabs (the two from A back through the proxy). */
  reconnectMs: number;
  erinChatted: boolean;
}

const SCENARIO = fileURLToPath(new URL('./redis-servers.scenario.ts', import.meta.url));
const MAX_RUNS = 3;
const RUN_TIMEOUT_MS = 150_000;
let outcome: Outcome;
const crashes: string[] = [];

/** Each connection goes to the first of `ports` that accepts it, as a load balancer would. */
async function startProxy(ports: number[]): Promise<{ url: string; server: Server; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    client.pause();
    const attempt = (i: number) => {
      if (i >= ports.length) return client.destroy();
      const upstream = createConnection(ports[i]!, '127.0.0.1');
      upstream.once('error', () => attempt(i + 1));
      upstream.once('connect', () => {
        sockets.add(upstream);
        upstream.removeAllListeners('error');
        upstream.on('error', () => client.destroy());
        upstream.on('close', () => {
          sockets.delete(upstream);
          client.destroy();
        });
        client.on('close', () => upstream.destroy());
        client.pipe(upstream).pipe(client);
        client.resume();
      });
    };
    attempt(0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, server, sockets };
}

/** One run with its own Redis, servers and proxy; null when the native library crashed it. */
async function runOnce(): Promise<Outcome | { crashed: string }> {
  let redis: TestRedis | null = null;
  const servers: ServerProcess[] = [];
  let proxy: Awaited<ReturnType<typeof startProxy>> | null = null;
  try {
    redis = await startRedis();
    for (let i = 0; i < 2; i++) servers.push(await startServerProcess({ REDIS_URL: redis.url }));
    const [a, b] = servers as [ServerProcess, ServerProcess];
    proxy = await startProxy([a.port, b.port]);
    const child = spawn(process.execPath, ['--import', 'tsx', SCENARIO, JSON.stringify({ proxy: proxy.url, b: b.url })], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      timeout: RUN_TIMEOUT_MS,
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('message', (m: { step?: string }) => {
      if (m.step !== 'kill-a') return;
      void a.kill().then(() => child.send('done'));
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    if (signal !== null && signal !== 'SIGTERM') return { crashed: signal };
    if (code !== 0) throw new Error(`scenario exited with ${code ?? signal}:\n${stderr}\nserver B:\n${b.output()}`);
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as Outcome;
  } finally {
    for (const s of proxy?.sockets ?? []) s.destroy();
    proxy?.server.close();
    await Promise.all(servers.map((s) => s.kill()));
    await redis?.stop();
  }
}

describe('real engine nodes on two signal-server processes sharing one Redis', () => {
  beforeAll(async () => {
    for (let run = 1; ; run++) {
      const result = await runOnce();
      if (!('crashed' in result)) {
        outcome = result;
        return;
      }
      crashes.push(result.crashed);
      if (run >= MAX_RUNS) throw new Error(`the scenario was killed by ${crashes.join(', ')} in every run`);
    }
  }, MAX_RUNS * (RUN_TIMEOUT_MS + 30_000));

  it('gives a new tab first peers from both processes', () => {
    expect(outcome.firstPeersFromBoth, JSON.stringify(outcome)).toBe(true);
  });

  it('lets tabs on different processes find each other by name and chat both ways', () => {
    expect(outcome.beforeKill).toEqual(['alice->bob', 'bob->alice']);
  });

  it('keeps the killed process\'s tabs chatting over their channels', () => {
    expect(outcome.afterKill).toEqual(['alice->bob', 'bob->alice']);
  });

  it('brings the killed process\'s tabs back through the proxy to the other, and a new tab still joins and chats', () => {
    expect(outcome.erinChatted).toBe(true);
    console.log(`A's tabs were all back on B ${outcome.reconnectMs} ms after A was killed`);
    if (crashes.length > 0) console.warn(`the scenario was killed by ${crashes.join(', ')} and run again`);
  });
});
