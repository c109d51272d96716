/**
 * deploy.ts's signal-server processes: this same bundle forked with `--child server <backend>
 * [redis url]`, running createSignalServer with a MemoryBackend (one process alone) or a
 * RedisBackend (processes sharing one redis-server), as main.ts would pick with REDIS_URL. Its
 * limits are raised so the bench measures the server, not its rate limits: every bench tab
 * comes from 127.0.0.1 and sends as fast as the server answers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { cryptoRandom } from '../shared/lib/random.ts';
import type { SignalBackend } from '../signal-server/backend/backend.ts';
import { MemoryBackend } from '../signal-server/backend/memory.ts';
import { RedisBackend } from '../signal-server/backend/redis.ts';
import { createSignalServer } from '../signal-server/server.ts';
import { collectedMemory, settle, type Memory } from './server-memory.ts';

export type BackendKind = 'memory' | 'redis';

const MANY = 1_000_000;
const BENCH_LIMITS = {
  messagesPerSecond: MANY,
  messageBurst: MANY,
  newIdsPerMinutePerAddress: MANY,
  maxConnections: 20_000,
  maxSocketsPerAddress: 20_000,
  maxUnauthenticatedPerAddress: 20_000,
};

type Request = { type: 'memory' };
type Message =
  | { type: 'ready'; url: string }
  | { type: 'memory'; memory: Memory; settled: boolean; authenticated: number; relays: Record<string, number> };
export type MemoryReading = Extract<Message, { type: 'memory' }>;

/** The child's side: serves until the bench disconnects. */
export async function serveChild(kind: BackendKind, redisUrl: string | undefined): Promise<void> {
  // The bench's relays and connections do not need a line each; Redis state changes would.
  const backend: SignalBackend =
    kind === 'redis' ? await RedisBackend.connect({ url: redisUrl!, random: cryptoRandom, log: (line) => console.error(line) }) : new MemoryBackend(cryptoRandom);
  const server = createSignalServer({ port: 0, host: '127.0.0.1', backend, limits: BENCH_LIMITS });
  await server.ready;
  process.on('message', (request: Request) =>
    void (async () => {
      if (request.type !== 'memory') return;
      const settled = await settle();
      const stats = server.stats();
      process.send!({ type: 'memory', memory: await collectedMemory(), settled, authenticated: stats.authenticated, relays: stats.relays } satisfies Message);
    })(),
  );
  process.on('disconnect', () => void server.close().then(() => process.exit(0)));
  process.send!({ type: 'ready', url: server.url } satisfies Message);
}

export interface ServerChild {
  url: string;
  pid: number;
  /** Settled, after forced collections, with what the server holds. */
  memory(): Promise<MemoryReading>;
  stop(): Promise<void>;
}

function nextMessage(child: ChildProcess): Promise<Message> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`server child exited (${code}) before answering`));
    child.once('exit', onExit);
    child.once('message', (message) => {
      child.off('exit', onExit);
      resolve(message as Message);
    });
  });
}

/** Forks a server child (this bundle, process.argv[1]) and waits until it listens. */
export async function startServerChild(kind: BackendKind, redisUrl?: string): Promise<ServerChild> {
  const child = fork(process.argv[1]!, ['--child', 'server', kind, ...(redisUrl ? [redisUrl] : [])], { execArgv: ['--expose-gc'] });
  const ready = await nextMessage(child);
  if (ready.type !== 'ready') throw new Error('server child did not start');
  return {
    url: ready.url,
    pid: child.pid!,
    async memory() {
      child.send({ type: 'memory' } satisfies Request);
      const reading = await nextMessage(child);
      if (reading.type !== 'memory') throw new Error(`expected a memory reading, got ${reading.type}`);
      return reading;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.disconnect();
      await exited;
    },
  };
}
