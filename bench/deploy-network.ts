/**
 * deploy.ts's headless node at idle in a 50-tab network. The 50 "tabs" are real engine nodes in
 * Node (web/net/peer-node.ts over simple-peer and @roamhq/wrtc, as web/net/peer-node.scenario.ts
 * builds them), TAB_PROCESSES child processes of this bundle with 10 each; the headless node is
 * `npm run peer`'s entry (web/headless/main.ts under tsx) with a data folder and --status-port,
 * joined first, as an always-on node is. Once every node has peers and the network has had
 * SETTLE_MS to settle, its RSS and CPU (from /proc, all threads) are read over an idle window.
 */
import wrtc from '@roamhq/wrtc';
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Peer from 'simple-peer';
import WebSocket from 'ws';
import { createIdentity } from '../shared/lib/crypto.ts';
import { SeededRandom } from '../shared/lib/random.ts';
import { until } from '../signal-server/test-redis.ts';
import { createPeerNode, type PeerNode } from '../web/net/peer-node.ts';
import type { SocketLike } from '../web/net/signal-client.ts';
import type { PeerConstructor } from '../web/net/webrtc-transport.ts';

export const TABS = 50;
const TAB_PROCESSES = 5;
const MIN_PEERS = 3;
const JOIN_WAIT_MS = 300_000;
const SAMPLE_MS = 5_000;
const POLL_MS = 1_000;
/** Clock ticks per second in /proc/<pid>/stat (getconf CLK_TCK; 100 on Linux). */
const CLK_TCK = 100;

type TabsMessage = { type: 'ready' } | { type: 'peers'; peers: number[] };

/** The tabs child: `count` engine nodes joined one after another, until the bench disconnects. */
export async function runTabsChild(signalUrl: string, count: number, seed: number): Promise<void> {
  const random = new SeededRandom(seed);
  const nodes: PeerNode[] = [];
  for (let i = 0; i < count; i++) {
    const node = createPeerNode({
      baseUrl: signalUrl,
      identity: await createIdentity(random),
      Peer: Peer as unknown as PeerConstructor,
      wrtc,
      socket: (url) => new WebSocket(url) as unknown as SocketLike,
    });
    nodes.push(node);
    await node.start();
  }
  process.on('message', () => process.send!({ type: 'peers', peers: nodes.map((n) => n.node.neighbours().length) } satisfies TabsMessage));
  process.on('disconnect', () => {
    for (const n of nodes) n.close();
    process.exit(0);
  });
  process.send!({ type: 'ready' } satisfies TabsMessage);
}

/** Killed by a signal: the native WebRTC library's known crash (web/net/peer-node.test.ts). */
export class CrashedError extends Error {}

function watch(child: ChildProcess, name: string, ended: { stopping: boolean; crash: string | null }): void {
  child.once('exit', (code, signal) => {
    if (!ended.stopping) ended.crash ??= `${name} exited (${signal ?? code})`;
  });
}

function nextTabsMessage(child: ChildProcess): Promise<TabsMessage> {
  return new Promise((resolve, reject) => {
    const onExit = () => reject(new CrashedError('a tabs child exited'));
    child.once('exit', onExit);
    child.once('message', (m) => {
      child.off('exit', onExit);
      resolve(m as TabsMessage);
    });
  });
}

export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime + stime, fields 14 and 15
}

export function rssBytes(pid: number): number {
  const line = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(line?.[1] ?? 0) * 1024;
}

interface Headless {
  proc: ChildProcess;
  statusUrl: string;
  status(): Promise<{ peers: number; phase: string; connectionsCreated: number; routingTable: { contacts: number } }>;
}

async function startHeadless(signalUrl: string, dataDir: string): Promise<Headless> {
  const main = join(process.cwd(), 'web', 'headless', 'main.ts');
  const proc = spawn(process.execPath, ['--import', 'tsx', main, '--signal', signalUrl, '--data', dataDir, '--status-port', '0'], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const statusUrl = await until('the headless node joining', () => / peer joined /.test(log) || proc.exitCode !== null, 60_000).then(
    () => / peer status url=(\S+)/.exec(log)?.[1],
    () => undefined,
  );
  if (!statusUrl || proc.exitCode !== null) {
    proc.kill('SIGKILL');
    throw new Error(`headless node did not start:\n${log}`);
  }
  return { proc, statusUrl, status: async () => (await (await fetch(statusUrl)).json()) as Awaited<ReturnType<Headless['status']>> };
}

export interface ProcessIdle {
  rssMiB: { median: number; max: number };
  cpuPercentOfOneCore: number;
}

export interface NetworkIdle {
  headless: ProcessIdle & { peers: number; routingContacts: number; connectionsCreated: number };
  /** Each tabs child holds TABS / TAB_PROCESSES engine nodes; per tab = the child's / that. */
  tabProcess: ProcessIdle & { tabs: number };
  signalServer: ProcessIdle;
  joinMs: number;
  minTabPeers: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round1 = (n: number) => Math.round(n * 10) / 10;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** Samples the processes' RSS every SAMPLE_MS and their CPU over `windowMs`. */
async function idleWindow(pids: number[], windowMs: number): Promise<ProcessIdle[]> {
  const cpuBefore = pids.map(cpuSeconds);
  const samples: number[][] = pids.map(() => []);
  const started = Date.now();
  while (Date.now() - started < windowMs) {
    pids.forEach((pid, i) => samples[i]!.push(rssBytes(pid)));
    await sleep(Math.min(SAMPLE_MS, windowMs - (Date.now() - started)));
  }
  const seconds = (Date.now() - started) / 1000;
  return pids.map((pid, i) => ({
    rssMiB: { median: round1(median(samples[i]!) / 2 ** 20), max: round1(Math.max(...samples[i]!) / 2 ** 20) },
    cpuPercentOfOneCore: Math.round(((cpuSeconds(pid) - cpuBefore[i]!) / seconds) * 1000) / 10,
  }));
}

/** One run: a headless node, then the tabs, then settling and the idle window. */
export async function measureNetworkIdle(signalUrl: string, serverPid: number, settleMs: number, windowMs: number): Promise<NetworkIdle> {
  const dataDir = mkdtempSync(join(tmpdir(), 'peerchat-bench-headless-'));
  const ended = { stopping: false, crash: null as string | null };
  const tabsChildren: ChildProcess[] = [];
  let headless: Headless | null = null;
  try {
    headless = await startHeadless(signalUrl, dataDir);
    watch(headless.proc, 'the headless node', ended);
    const started = Date.now();
    const perChild = TABS / TAB_PROCESSES;
    for (let i = 0; i < TAB_PROCESSES; i++) {
      const child = fork(process.argv[1]!, ['--child', 'tabs', signalUrl, String(perChild), String(1000 + i)]);
      watch(child, `tabs child ${i}`, ended);
      tabsChildren.push(child);
    }
    for (const child of tabsChildren) if ((await nextTabsMessage(child)).type !== 'ready') throw new Error('tabs child did not start');
    let peers: number[] = [];
    const allPeers = async () => {
      const answers = await Promise.all(tabsChildren.map((c) => (c.send('peers'), nextTabsMessage(c))));
      return answers.flatMap((a) => (a.type === 'peers' ? a.peers : []));
    };
    // Polled once a second: the wait should not add load to the network it waits for.
    for (const deadline = Date.now() + JOIN_WAIT_MS; ; await sleep(POLL_MS)) {
      if (ended.crash) throw new CrashedError(ended.crash);
      peers = await allPeers();
      if (peers.every((p) => p >= MIN_PEERS) && (await headless.status()).peers >= MIN_PEERS) break;
      if (Date.now() > deadline) throw new Error(`not every node had ${MIN_PEERS} peers within ${JOIN_WAIT_MS} ms: ${peers.join(' ')}`);
    }
    const joinMs = Date.now() - started;
    await sleep(settleMs);
    const pids = [headless.proc.pid!, tabsChildren[0]!.pid!, serverPid];
    const [h, tab, server] = await idleWindow(pids, windowMs);
    if (ended.crash) throw new CrashedError(ended.crash);
    const status = await headless.status();
    peers = await allPeers();
    return {
      headless: { ...h!, peers: status.peers, routingContacts: status.routingTable.contacts, connectionsCreated: status.connectionsCreated },
      tabProcess: { ...tab!, tabs: perChild },
      signalServer: server!,
      joinMs,
      minTabPeers: Math.min(...peers),
    };
  } finally {
    ended.stopping = true;
    const exits = [headless?.proc, ...tabsChildren].filter((c): c is ChildProcess => !!c && c.exitCode === null && c.signalCode === null).map((c) => new Promise((resolve) => c.once('exit', resolve)));
    headless?.proc.kill('SIGTERM');
    for (const c of tabsChildren) if (c.connected) c.disconnect();
    await Promise.all(exits);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
