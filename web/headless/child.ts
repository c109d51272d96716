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
  /** The process running now (a new one after each restart). */
  readonly process: ChildProcess;
  /** Every line it printed so far (stdout and stderr, across restarts), in order. */
  lines: string[];
  /** Resolves with the first line (past or future) matching `pattern`; rejects on timeout or exit. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Its /status, from the process running now, once it logged where that is. */
  status(): Promise<NodeStatus>;
  /** How many times a crash restarted it (see SpawnOptions.restartOnCrash). */
  readonly restarts: number;
  /** Resolves with how it ended (the last process, when it was restarted). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (SIGTERM by default) and waits for the exit; at once if it already ended. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnOptions {
  /** Arguments after the signal URL, data folder and status port. */
  extraArgs?: string[];
  /**
   * Start it again from its folder when the native WebRTC library crashes it (a signal this
   * side did not send), as the README's supervisor does (systemd Restart=always): a test of
   * what the node holds then sees what users see. Each restart is logged as a line.
   */
  restartOnCrash?: boolean;
}

/** Signals that end a node by a crash rather than by someone's hand. */
const CRASH_SIGNALS: ReadonlySet<string> = new Set(['SIGSEGV', 'SIGBUS', 'SIGABRT', 'SIGILL', 'SIGFPE']);

export function spawnHeadless(signalUrl: string, dataDir: string, options: SpawnOptions = {}): ChildNode {
  const args = [MAIN, '--signal', signalUrl, '--data', dataDir, '--status-port', '0', ...(options.extraArgs ?? [])];
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  let ended = false;
  let stopping = false;
  let restarts = 0;
  /** Index in `lines` where the running process's output starts. */
  let since = 0;
  let child!: ChildProcess;
  let resolveExit!: (how: { code: number | null; signal: NodeJS.Signals | null }) => void;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => (resolveExit = resolve));
  const notify = (): void => {
    for (const l of listeners) l();
  };
  const run = (): void => {
    child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout!, child.stderr!]) {
      let rest = '';
      stream.setEncoding('utf8').on('data', (chunk: string) => {
        const parts = (rest + chunk).split('\n');
        rest = parts.pop()!;
        lines.push(...parts);
        notify();
      });
    }
    child.on('exit', (code, signal) => {
      if (options.restartOnCrash && !stopping && signal !== null && CRASH_SIGNALS.has(signal)) {
        restarts++;
        lines.push(`supervisor: the node was killed by ${signal}; restarting it from ${dataDir}`);
        since = lines.length;
        run();
        return;
      }
      ended = true;
      notify();
      resolveExit({ code, signal });
    });
  };
  run();
  const waitFor = (pattern: RegExp, timeoutMs = 60_000, from = 0): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const line = lines.slice(from).find((l) => pattern.test(l));
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
    get process() {
      return child;
    },
    get restarts() {
      return restarts;
    },
    lines,
    waitFor: (pattern, timeoutMs) => waitFor(pattern, timeoutMs),
    exited,
    async status() {
      if (ended) throw new Error(`headless node has exited; it cannot report its status:\n${lines.slice(-20).join('\n')}`);
      const url = /url=(\S+)/.exec(await waitFor(/ peer status url=/, undefined, since))![1]!;
      return (await (await fetch(url)).json()) as NodeStatus;
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      stopping = true;
      if (!ended) child.kill(signal);
      return exited;
    },
  };
}
