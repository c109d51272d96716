/**
 * Signal server memory per idle connection: the RSS and V8 heap a signal server process gains
 * for each of 2,000 authenticated, idle tabs (goal: at most 12 KiB RSS per connection), beside a
 * bare `ws` WebSocketServer holding 2,000 idle sockets, measured the same way in the same run.
 *
 * Each server runs in a child process (this same bundle, forked with --expose-gc), so only the
 * server's memory is counted; the clients are `ws` sockets in this process. The child reports
 * process.memoryUsage() after forced gcs, with no connection open after a warm-up (connections
 * opened and closed, so code is compiled and pools exist), then with all connections open and
 * idle. Each state is read twice: at once, and settled, once V8 has given back the young
 * generation it grew for the burst of connecting (see settle()). Per connection = (with all
 * open - with none open) / connections, for each pair; the settled pair is the idle cost and
 * the one checked against the goal, the immediate pair shows what a burst of joins adds on top.
 *   node scripts/run-bundled.mjs bench/signal-server-rss.ts
 * Writes bench/results/signal-server-rss.json (relative to the working directory).
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { machineInfo } from './machine.ts';
import { collectedMemory, settle, type Memory } from './server-memory.ts';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { createIdentity, type Identity } from '../shared/lib/crypto.ts';
import { SeededRandom } from '../shared/lib/random.ts';
import { createSignalServer } from '../signal-server/server.ts';
import { joined } from '../signal-server/test-client.ts';

const CONNECTIONS = 2_000;
const WARMUP_CONNECTIONS = 100;
/** Connections opened at once: enough to be quick, few enough not to trip handshake timeouts. */
const BATCH = 100;
const GOAL_RSS_PER_CONN_KIB = 12;
const HOST = '127.0.0.1';
/** Time to sit idle with everything open before reading, so in-flight work has finished. */
const IDLE_MS = 1_000;
const SETTLE_TIMEOUT_MS = 40_000;

type ServerKind = 'signal' | 'ws';
/** What the bench asks the server child: a reading at once, or once settled. */
type ChildRequest = { settle: boolean };
/** What the server child sends: its url once listening, then one reading per request. */
type ChildMessage =
  | { type: 'ready'; url: string }
  | { type: 'reading'; memory: Memory; settleMs: number; settled: boolean; open: number; authenticated: number };
type Reading = Extract<ChildMessage, { type: 'reading' }>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- The server child ----------------------------------------------------------------------

async function serve(kind: ServerKind): Promise<void> {
  let url: string;
  let counts: () => { open: number; authenticated: number };
  if (kind === 'signal') {
    // Every bench tab comes from 127.0.0.1, so the per-address limits must admit them all.
    const limit = CONNECTIONS + WARMUP_CONNECTIONS;
    const limits = { newIdsPerMinutePerAddress: limit, maxConnections: limit, maxSocketsPerAddress: limit, maxUnauthenticatedPerAddress: BATCH };
    const server = createSignalServer({ port: 0, host: HOST, limits });
    await server.ready;
    url = server.url;
    counts = () => {
      const stats = server.stats();
      return { open: stats.connections, authenticated: stats.authenticated };
    };
  } else {
    const wss = new WebSocketServer({ port: 0, host: HOST });
    await once(wss, 'listening');
    url = `http://${HOST}:${(wss.address() as AddressInfo).port}/`;
    counts = () => ({ open: wss.clients.size, authenticated: 0 });
  }
  const send = (message: ChildMessage) => process.send!(message);
  process.on('message', (request: ChildRequest) =>
    void (async () => {
      const started = Date.now();
      const settled = request.settle ? await settle() : false;
      const settleMs = Date.now() - started;
      send({ type: 'reading', memory: await collectedMemory(), settleMs, settled, ...counts() });
    })(),
  );
  // If the bench dies, the server goes with it instead of holding the port and the sockets.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', url });
}

// ---- The bench -------------------------------------------------------------------------------

function nextMessage(child: ChildProcess): Promise<ChildMessage> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`server child exited (${code}) before answering`));
    child.once('exit', onExit);
    child.once('message', (message) => {
      child.off('exit', onExit);
      resolve(message as ChildMessage);
    });
  });
}

async function reading(child: ChildProcess, request: ChildRequest): Promise<Reading> {
  child.send(request);
  const message = await nextMessage(child);
  if (message.type !== 'reading') throw new Error(`expected a reading, got ${message.type}`);
  return message;
}

/**
 * A reading at once, then a settled one, once the server's own counts say it holds what `ok`
 * wants (closes reach the server a moment after the client sees them).
 */
async function readings(child: ChildProcess, ok: (reading: Reading) => boolean): Promise<{ now: Reading; settled: Reading }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const now = await reading(child, { settle: false });
    if (!ok(now)) continue;
    const settled = await reading(child, { settle: true });
    if (!ok(settled)) throw new Error('connections opened or closed while the server settled');
    return { now, settled };
  }
  throw new Error('the server never reported the expected connection counts');
}

function openPlain(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function openBatched(count: number, connect: (i: number) => Promise<WebSocket>): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let start = 0; start < count; start += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, count - start) }, (_, i) => connect(start + i));
    sockets.push(...(await Promise.all(batch)));
  }
  return sockets;
}

async function closeAll(sockets: WebSocket[]): Promise<void> {
  await Promise.all(
    sockets.map((ws) => {
      const closed = once(ws, 'close');
      ws.close();
      return closed;
    }),
  );
}

const kib = (bytes: number) => Math.round((bytes / 1024) * 100) / 100;
const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

function perConnection(from: Memory, to: Memory) {
  return {
    rssKiB: kib((to.rss - from.rss) / CONNECTIONS),
    heapUsedKiB: kib((to.heapUsed - from.heapUsed) / CONNECTIONS),
    externalKiB: kib((to.external - from.external) / CONNECTIONS),
  };
}

function inMiB(r: Reading) {
  const { rss, heapUsed, external, newSpace } = r.memory;
  return { open: r.open, rss: mib(rss), heapUsed: mib(heapUsed), external: mib(external), newSpace: mib(newSpace), settleMs: r.settleMs };
}

async function measure(kind: ServerKind, identities: Identity[]) {
  const child = fork(process.argv[1]!, ['--child', kind], { execArgv: ['--expose-gc'] });
  try {
    const ready = await nextMessage(child);
    if (ready.type !== 'ready') throw new Error('server child did not start');
    const signal = kind === 'signal';
    const connect = (i: number): Promise<WebSocket> =>
      signal ? joined(ready.url, identities[i]!).then((client) => client.ws) : openPlain(ready.url);

    // The warm-up uses the identities after the measured ones, so no measured tab replaces one.
    await closeAll(await openBatched(WARMUP_CONNECTIONS, (i) => connect(CONNECTIONS + i)));
    const none = await readings(child, (r) => r.open === 0);

    const started = performance.now();
    const held = await openBatched(CONNECTIONS, connect);
    const connectMs = Math.round(performance.now() - started);
    await sleep(IDLE_MS);
    const all = await readings(child, (r) => r.open === CONNECTIONS && (!signal || r.authenticated === CONNECTIONS));
    for (const ws of held) ws.terminate();

    if (!none.settled.settled || !all.settled.settled) {
      console.error(`warning: ${kind}: V8 did not shrink its young generation within ${SETTLE_TIMEOUT_MS} ms; the idle numbers include it`);
    }
    const idle = perConnection(none.settled.memory, all.settled.memory);
    return {
      server: signal ? 'peerchat signal server (authenticated, idle)' : 'bare ws WebSocketServer (idle)',
      connections: CONNECTIONS,
      rssPerConnKiB: idle.rssKiB,
      heapPerConnKiB: idle.heapUsedKiB,
      externalPerConnKiB: idle.externalKiB,
      settled: none.settled.settled && all.settled.settled,
      /** Read right after connecting: the idle cost plus the young generation grown for the burst. */
      afterBurstPerConn: perConnection(none.now.memory, all.now.memory),
      connectMs,
      readingsMiB: {
        noneOpen: inMiB(none.now),
        noneOpenSettled: inMiB(none.settled),
        allOpen: inMiB(all.now),
        allOpenSettled: inMiB(all.settled),
      },
    };
  } finally {
    child.kill();
  }
}

async function main(): Promise<void> {
  // Both processes hold one descriptor per connection, and the server child inherits this limit.
  const fdLimit = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  if (fdLimit !== 'unlimited' && Number(fdLimit) < CONNECTIONS + WARMUP_CONNECTIONS + 100) {
    throw new Error(`ulimit -n is ${fdLimit}; ${CONNECTIONS} connections need more (raise it with ulimit -n 4096)`);
  }
  const random = new SeededRandom(1);
  const identities: Identity[] = [];
  for (let i = 0; i < CONNECTIONS + WARMUP_CONNECTIONS; i++) identities.push(await createIdentity(random));

  console.error(`reference: bare ws WebSocketServer, ${CONNECTIONS} idle connections`);
  const reference = await measure('ws', identities);
  console.error(`peerchat: signal server, ${CONNECTIONS} authenticated idle connections`);
  const peerchat = await measure('signal', identities);

  const out = {
    date: new Date().toISOString(),
    machine: { ...machineInfo(), fdLimit },
    connections: CONNECTIONS,
    rssPerConnKiB: peerchat.rssPerConnKiB,
    heapPerConnKiB: peerchat.heapPerConnKiB,
    goal: {
      rssPerConnKiBAtMost: GOAL_RSS_PER_CONN_KIB,
      met: peerchat.rssPerConnKiB <= GOAL_RSS_PER_CONN_KIB,
      metRightAfterConnecting: peerchat.afterBurstPerConn.rssKiB <= GOAL_RSS_PER_CONN_KIB,
    },
    peerchat,
    reference,
  };
  // Relative to the working directory (the project root): this file runs from a bundle elsewhere.
  const dir = join(process.cwd(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'signal-server-rss.json'), JSON.stringify(out, null, 2) + '\n');

  const line = (r: typeof peerchat) =>
    `${r.rssPerConnKiB} KiB RSS, ${r.heapPerConnKiB} KiB heap per idle connection ` +
    `(right after connecting: ${r.afterBurstPerConn.rssKiB} KiB RSS; ${CONNECTIONS} connected in ${r.connectMs} ms)`;
  console.error(`\nsignal server: ${line(peerchat)}`);
  console.error(`bare ws:       ${line(reference)}`);
  const verdict = (met: boolean) => (met ? 'met' : 'NOT met');
  console.error(
    `goal <= ${GOAL_RSS_PER_CONN_KIB} KiB RSS per idle connection: ${verdict(out.goal.met)} ` +
      `(right after connecting: ${verdict(out.goal.metRightAfterConnecting)})`,
  );
  console.error('wrote bench/results/signal-server-rss.json');
}

const childKind = process.argv[2] === '--child' ? process.argv[3] : undefined;
if (childKind === 'signal' || childKind === 'ws') await serve(childKind);
else await main();
