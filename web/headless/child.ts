/**
 * A headless node as a child process (`node --import tsx web/headless/main.ts`), for the tests
 * that need real ones: web/headless/headless.test.ts and e2e/headless.spec.ts. A child, because
 * the native WebRTC library can crash its process (web/net/peer-node.test.ts says when), and
 * because what is tested is the command people run: its log, its status port, its signals.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { NodeStatus } from './status.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

export interface ChildNode {
  process: ChildProcess;
  /** Every line it printed so far (stdout and stderr), in order. */
  lines: string[];
  /** Resolves with the first line (past or future) matching `pattern`; rejects on timeout or exit. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Its /status, once it logged where that is. */
  status(): Promise<NodeStatus>;
  /** Resolves with how it ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (SIGTERM by default) and waits for the exit; at once if it already ended. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnHeadless(signalUrl: string, dataDir: string, extraArgs: string[] = []): ChildNode {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--signal', signalUrl, '--data', dataDir, '--status-port', '0', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  let ended = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      ended = true;
      for (const l of listeners) l();
      resolve({ code, signal });
    }),
  );
  for (const stream of [child.stdout!, child.stderr!]) {
    let rest = '';
    stream.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop()!;
      lines.push(...parts);
      for (const l of listeners) l();
    });
  }
  const waitFor = (pattern: RegExp, timeoutMs = 60_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const line = lines.find((l) => pattern.test(l));
        if (line !== undefined) done(() => resolve(line));
        else if (ended) done(() => reject(new Error(`headless node exited before logging ${pattern}:\n${lines.join('\n')}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`headless node did not log ${pattern} in ${timeoutMs} ms:\n${lines.join('\n')}`))), timeoutMs);
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        listeners.delete(check);
        settle();
      };
      listeners.add(check);
      check();
    });
  return {
    process: child,
    lines,
    waitFor,
    exited,
    async status() {
      const url = /url=(\S+)/.exec(await waitFor(/ peer status url=/))![1]!;
      return (await (await fetch(url)).json()) as NodeStatus;
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (!ended) child.kill(signal);
      return exited;
    },
  };
}
