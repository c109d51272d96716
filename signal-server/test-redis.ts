/**
 * A real redis-server for tests: one of this run's own on a free loopback port, with nothing
 * saved to disk, started and stopped by the test (CI installs Debian's redis-server, .ci/run).
 *
 *   const redis = await startRedis();   // redis.url is redis://127.0.0.1:<port>
 *   await redis.stop();                 // and redis.start() again on the same port
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

const NOT_INSTALLED = 'redis-server is not installed: apt-get install redis-server';
/** Measured ~10 ms here; generous for a loaded CI machine. */
const START_WAIT_MS = 10_000;

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Starts it again (same port) after stop(). */
  start(): Promise<void>;
  /** SIGKILL, as a crash or a lost machine would: nothing is saved. Idempotent. */
  stop(): Promise<void>;
}

/** Resolves once `done()` holds, checking every 20 ms; fails naming `what` after `timeoutMs`. */
export async function until(what: string, done: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A TCP port free on loopback now (the OS picks it). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  const port = await new Promise<number>((resolve) => probe.listen(0, '127.0.0.1', () => resolve((probe.address() as { port: number }).port)));
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export async function startRedis(): Promise<TestRedis> {
  // A clear failure, not a skip: CI installs it, so a missing one is a setup fault.
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).error) throw new Error(NOT_INSTALLED);
  const port = await freePort();
  let child: ChildProcess | null = null;
  const kill = () => child?.kill('SIGKILL');
  process.on('exit', kill); // should the worker die before the test stops it

  async function start(): Promise<void> {
    let log = '';
    const started = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
    child = started;
    started.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    started.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start within ${START_WAIT_MS} ms:\n${log}`)), START_WAIT_MS);
      const check = () => {
        if (!log.includes('Ready to accept connections')) return;
        clearTimeout(timer);
        started.stdout!.off('data', check);
        resolve();
      };
      started.stdout!.on('data', check);
      started.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}:\n${log}`));
      });
    });
  }

  async function stop(): Promise<void> {
    const running = child;
    child = null;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  }

  await start();
  return { port, url: `redis://127.0.0.1:${port}`, start, stop };
}
