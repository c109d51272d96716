/**
 * `npm run stack`: a whole deployment on this machine for trying it out: a redis-server of its
 * own (loopback, nothing saved), two signal servers sharing it (signal-server/main.ts with
 * REDIS_URL) and two headless nodes (web/headless/main.ts), peer-1 on server-1 and peer-2 on
 * server-2, keeping their data under .stack/ so a restart keeps their ids and held mail.
 * Every child's lines are prefixed with its name. Ctrl+C or SIGTERM stops the headless nodes,
 * then the servers, then Redis, and exits 0; a child that dies on its own stops the rest, exit 1.
 *
 *   npm run stack -- [--ports 8080,8081] [--status-ports 9090,9091] [--data .stack] [--no-build]
 *
 * Port 0 lets the OS pick (the summary says which it picked). The children get their own
 * process group, so a terminal's Ctrl+C reaches this script alone and the order above holds.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const USAGE = 'usage: npm run stack -- [--ports 8080,8081] [--status-ports 9090,9091] [--data .stack] [--no-build]';
/** redis-server starts in ~10 ms, a server in ~1 s (tsx compiles), a headless node joins in ~2 s. */
const START_WAIT_MS = 60_000;
/** After SIGTERM; then SIGKILL. A headless node saves its routing snapshot first. */
const STOP_WAIT_MS = 10_000;
const NAME_WIDTH = 8;

function fail(message) {
  console.error(message);
  process.exit(2);
}

/** Two port numbers from "a,b", or exits with a line saying what to type. */
function twoPorts(flag, raw) {
  const ports = raw.split(',').map((p) => p.trim());
  if (ports.length !== 2 || ports.some((p) => !/^\d+$/.test(p) || Number(p) > 65535)) {
    fail(`--${flag} must be two port numbers like 8080,8081 (0 picks a free one), not "${raw}"`);
  }
  return ports.map(Number);
}

function parseCli() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        ports: { type: 'string', default: '8080,8081' },
        'status-ports': { type: 'string', default: '9090,9091' },
        data: { type: 'string', default: join(root, '.stack') },
        'no-build': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    fail(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  return {
    ports: twoPorts('ports', values.ports),
    statusPorts: twoPorts('status-ports', values['status-ports']),
    dataDir: resolve(values.data),
    build: !values['no-build'],
  };
}

async function freePort() {
  const probe = createServer();
  const port = await new Promise((ok) => probe.listen(0, '127.0.0.1', () => ok(probe.address().port)));
  await new Promise((ok) => probe.close(ok));
  return port;
}

// ---- Children ----------------------------------------------------------------------------

const children = [];
let stopping = false;

/** Spawns `command` as `name`: its lines prefixed, its end reported once. */
function startChild(name, command, args, env = {}) {
  const proc = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const child = { name, proc, lines: [], listeners: new Set(), ended: false };
  const prefix = `${name.padEnd(NAME_WIDTH)}| `;
  for (const [stream, out] of [[proc.stdout, process.stdout], [proc.stderr, process.stderr]]) {
    let rest = '';
    stream.setEncoding('utf8').on('data', (chunk) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop();
      for (const line of parts) {
        out.write(prefix + line + '\n');
        child.lines.push(line);
      }
      for (const listener of child.listeners) listener();
    });
  }
  child.exited = new Promise((ok) =>
    proc.on('exit', (code, signal) => {
      child.ended = true;
      for (const listener of child.listeners) listener();
      ok({ code, signal });
    }),
  );
  proc.on('error', (err) => console.error(`${prefix}could not start: ${err.message}`));
  void child.exited.then(({ code, signal }) => {
    if (stopping) return;
    console.error(`\nstack   | ${name} exited on its own (${signal ?? `code ${code}`}); stopping the rest.`);
    void stopAll(1);
  });
  children.push(child);
  return child;
}

/** The first match of `pattern` in a line `child` printed; rejects if it ends or takes too long. */
function waitForLine(child, pattern) {
  return new Promise((ok, reject) => {
    const timer = setTimeout(() => done(() => reject(new Error(`${child.name} did not print ${pattern} within ${START_WAIT_MS} ms`))), START_WAIT_MS);
    const check = () => {
      for (const line of child.lines) {
        const match = pattern.exec(line);
        if (match) return done(() => ok(match));
      }
      if (child.ended) done(() => reject(new Error(`${child.name} exited before it was ready`)));
    };
    const done = (settle) => {
      clearTimeout(timer);
      child.listeners.delete(check);
      settle();
    };
    child.listeners.add(check);
    check();
  });
}

async function stopChild(child) {
  if (child.ended) return;
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => {
    console.error(`stack   | ${child.name} did not stop within ${STOP_WAIT_MS} ms; killing it`);
    child.proc.kill('SIGKILL');
  }, STOP_WAIT_MS);
  const { code, signal } = await child.exited;
  clearTimeout(timer);
  console.log(`stack   | ${child.name} stopped (${signal ?? `exit ${code}`})`);
}

let redisDir = null;
let stopped = null;

/** Headless nodes first (they say goodbye through the servers), then servers, then Redis. */
function stopAll(code) {
  stopping = true;
  stopped ??= stopInOrder(code);
  return stopped;
}

async function stopInOrder(code) {
  for (const kind of ['peer', 'server', 'redis']) {
    await Promise.all(children.filter((c) => c.name.startsWith(kind)).map(stopChild));
  }
  if (redisDir) rmSync(redisDir, { recursive: true, force: true });
  console.log(`stack   | stopped${code === 0 ? '' : ` (exit ${code})`}`);
  process.exit(code);
}

// ---- The stack ---------------------------------------------------------------------------

async function startRedis() {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).error) {
    console.error('redis-server is not installed: apt-get install redis-server (Debian/Ubuntu), then npm run stack again.');
    process.exit(1);
  }
  const port = await freePort();
  redisDir = mkdtempSync(join(tmpdir(), 'peerchat-stack-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', redisDir, '--save', '', '--appendonly', 'no'];
  const redis = startChild('redis', 'redis-server', args);
  await waitForLine(redis, /Ready to accept connections/);
  return { child: redis, url: `redis://127.0.0.1:${port}` };
}

async function startServer(name, port, redisUrl) {
  const env = { PORT: String(port), HOST: process.env.HOST ?? 'localhost', REDIS_URL: redisUrl };
  const server = startChild(name, process.execPath, ['--import', 'tsx', 'signal-server/main.ts'], env);
  const [, url] = await waitForLine(server, /Open (https?:\/\/\S+\/)/);
  return { child: server, url };
}

async function startPeer(name, signalUrl, statusPort, dataDir) {
  const data = join(dataDir, name);
  mkdirSync(data, { recursive: true });
  const args = ['--import', 'tsx', 'web/headless/main.ts', '--signal', signalUrl, '--data', data, '--status-port', String(statusPort)];
  const peer = startChild(name, process.execPath, args);
  const [, statusUrl] = await waitForLine(peer, / peer status url=(\S+)/);
  return { child: peer, statusUrl: statusUrl.replace(/\/status$/, ''), data };
}

async function main() {
  const cli = parseCli();
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      if (stopping) return;
      console.log(`\nstack   | ${sig}: stopping the headless nodes, then the servers, then Redis`);
      void stopAll(0);
    });
  }
  // Should this script die of an error, its detached children go with it.
  process.on('exit', () => children.forEach((c) => !c.ended && c.proc.kill('SIGKILL')));
  if (cli.build) {
    const { buildIfStale } = await import('./build-if-stale.mjs');
    await buildIfStale();
  }
  const redis = await startRedis();
  const servers = await Promise.all(cli.ports.map((port, i) => startServer(`server-${i + 1}`, port, redis.url)));
  const peers = [];
  // peer-1 first, so peer-2 finds it as its first peer through the other server and Redis.
  for (let i = 0; i < 2; i++) {
    const peer = await startPeer(`peer-${i + 1}`, servers[i].url, cli.statusPorts[i], cli.dataDir);
    if (i === 0) await waitForLine(peer.child, / peer joined /);
    peers.push(peer);
  }
  const shown = (path) => (relative(process.cwd(), path).startsWith('..') ? path : relative(process.cwd(), path) || '.');
  console.log(
    [
      '',
      'Peerchat stack is running: one network on two signal servers sharing one Redis.',
      ...servers.map((s, i) => `  open    ${s.url}  (server-${i + 1}, pid ${s.child.proc.pid})`),
      `  redis   ${redis.url}  (pid ${redis.child.proc.pid}, nothing saved)`,
      ...peers.map((p, i) => `  peer-${i + 1}  ${p.statusUrl}/status  (pid ${p.child.proc.pid}, on server-${i + 1}, data ${shown(p.data)})`),
      'Open one tab on each server: they chat through the same network. Ctrl+C stops everything.',
      '',
    ].join('\n'),
  );
}

main().catch((err) => {
  if (stopping) return;
  console.error(`stack   | ${err instanceof Error ? err.message : String(err)}; stopping the rest.`);
  void stopAll(1);
});
