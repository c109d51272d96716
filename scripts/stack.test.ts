/**
 * `npm run stack` as a person runs it: the script in its own process on free ports (0: the OS
 * picks) with a data folder of the test's own and no build (the servers then serve no app,
 * which nothing here asks for). Everything it starts must come up, find each other and go away
 * on SIGTERM. Needs redis-server, as the Redis tests do (CI installs it, .ci/run).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { until } from '../signal-server/test-redis.ts';

const STACK = fileURLToPath(new URL('./stack.mjs', import.meta.url));
/** Redis, two servers (tsx compiles each) and two headless nodes joining, on a loaded CI machine. */
const START_WAIT_MS = 90_000;
const STOP_WAIT_MS = 30_000;

interface Summary {
  servers: string[];
  redisPort: number;
  statusUrls: string[];
  pids: number[];
}

/** The URLs and pids the summary printed, once it has printed all of them. */
function parseSummary(out: string): Summary | null {
  const servers = [...out.matchAll(/^ {2}open {4}(\S+) {2}\(server-\d, pid (\d+)\)/gm)];
  const redis = /^ {2}redis {3}redis:\/\/127\.0\.0\.1:(\d+) {2}\(pid (\d+)/m.exec(out);
  const peers = [...out.matchAll(/^ {2}peer-\d {2}(\S+)\/status {2}\(pid (\d+)/gm)];
  if (servers.length < 2 || !redis || peers.length < 2 || !out.includes('Ctrl+C stops everything')) return null;
  return {
    servers: servers.map((m) => m[1]!),
    redisPort: Number(redis[1]),
    statusUrls: peers.map((m) => m[1]!),
    pids: [...servers, redis, ...peers].map((m) => Number(m[2])),
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

async function json(url: string): Promise<Record<string, unknown>> {
  return (await (await fetch(url)).json()) as Record<string, unknown>;
}

describe('npm run stack', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'peerchat-stack-test-'));
  let stack: ChildProcess | null = null;
  let out = '';
  let summary: Summary | null = null;

  afterAll(() => {
    // On failure the script may still run, and its children have their own process group.
    stack?.kill('SIGKILL');
    for (const pid of summary?.pids ?? []) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts Redis, two servers sharing it and two headless nodes that reach each other, and stops them all on SIGTERM', async () => {
    const started = spawn(process.execPath, [STACK, '--ports', '0,0', '--status-ports', '0,0', '--data', dataDir, '--no-build'], { stdio: ['ignore', 'pipe', 'pipe'] });
    stack = started;
    started.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    started.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => started.once('exit', (code, signal) => resolve([code, signal])));

    await until(`the stack's summary\n${out}`, () => (summary = parseSummary(out)) !== null || started.exitCode !== null, START_WAIT_MS);
    expect(summary, out).not.toBeNull();
    const { servers, statusUrls, pids, redisPort } = summary!;

    for (const server of servers) expect(await json(new URL('/healthz', server).href)).toMatchObject({ ok: true, redis: 'ok' });
    const peersOf = async (url: string) => (await json(`${url}/status`))['peers'] as number;
    await until(`both headless nodes having a peer\n${out}`, async () => (await peersOf(statusUrls[0]!)) >= 1 && (await peersOf(statusUrls[1]!)) >= 1, START_WAIT_MS);

    started.kill('SIGTERM');
    const [code, signal] = await Promise.race([exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit after SIGTERM\n${out}`)), STOP_WAIT_MS))]);
    expect({ code, signal }, out).toEqual({ code: 0, signal: null });
    expect(pids.filter(alive), out).toEqual([]);
    expect(await accepts(redisPort)).toBe(false);
    // Headless nodes first, then servers, then Redis.
    const stops = [...out.matchAll(/^stack {3}\| (\S+) stopped \((.*)\)$/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(stops.slice(0, 2).sort()).toEqual(['peer-1 exit 0', 'peer-2 exit 0']);
    expect(stops.slice(2, 4).sort()).toEqual(['server-1 exit 0', 'server-2 exit 0']);
    expect(stops[4]).toMatch(/^redis /);
  }, START_WAIT_MS * 2 + STOP_WAIT_MS);
});
