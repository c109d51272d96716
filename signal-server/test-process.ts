/**
 * A real signal-server process for tests: `node --import tsx signal-server/main.ts`, configured
 * by its environment as a deployment is, on a free loopback port. Resolves once it prints its
 * URL; `output` collects what it logs, so a test can wait for a line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { until } from './test-redis.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
/** ~1 s measured here (tsx compiles on the way); generous for a loaded CI machine. */
const START_WAIT_MS = 30_000;

export interface ServerProcess {
  readonly url: string;
  readonly port: number;
  /** Everything it printed, stdout and stderr. */
  output(): string;
  /** SIGKILL: a crash or a lost machine, no goodbye to its tabs. */
  kill(): Promise<void>;
  /** SIGTERM: a clean stop. */
  stop(): Promise<void>;
}

export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  let log = '';
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', ...env },
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit); // should the worker die before the test stops it
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  await until(`the signal server printing its URL\n${log}`, () => /Open http:\/\/[^ ]+:\d+\//.test(log) || child.exitCode !== null, START_WAIT_MS);
  if (child.exitCode !== null) throw new Error(`signal server exited with ${child.exitCode}:\n${log}`);
  const url = /Open (http:\/\/[^ ]+:\d+\/)/.exec(log)![1]!;
  const end = async (signal: NodeJS.Signals) => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  };
  return {
    url,
    port: Number(new URL(url).port),
    output: () => log,
    kill: () => end('SIGKILL'),
    stop: () => end('SIGTERM'),
  };
}

/** GET a JSON endpoint of a server. */
export async function getJson(baseUrl: string, path: string): Promise<Record<string, unknown>> {
  const res = await fetch(new URL(path, baseUrl));
  return (await res.json()) as Record<string, unknown>;
}
