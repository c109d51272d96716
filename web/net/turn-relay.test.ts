/**
 * The TURN credentials the signal server mints (ice.ts) against a real coturn: a turnserver on
 * loopback with a secret made for this run, the real server configured through iceFromEnv (as
 * main.ts is), a real SignalClient that authenticates and takes iceServers(), and two real WebRTC
 * connections allowed to use relays only. A credential minted with another secret is the control.
 *
 * The WebRTC part runs in a child process (turn-relay.scenario.ts) for the reason
 * web/net/peer-node.test.ts gives: a run killed by a signal is repeated, up to three runs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { systemClock } from '../../shared/lib/clock.ts';
import { createIdentity, webCryptoOps, type Identity } from '../../shared/lib/crypto.ts';
import { idToHex } from '../../shared/lib/id.ts';
import { cryptoRandom } from '../../shared/lib/random.ts';
import { Stats } from '../../shared/lib/stats.ts';
import type { IceServerEntry } from '../../shared/signal/protocol.ts';
import { SignalClient, type SocketLike } from './signal-client.ts';
// Type only: the scenario itself runs in a child process.
import type { Outcome } from './turn-relay.scenario.ts';
import { iceFromEnv } from '../../signal-server/ice-env.ts';
import { turnCredential } from '../../signal-server/ice.ts';
import { createSignalServer, type SignalServer } from '../../signal-server/server.ts';

const SCENARIO = fileURLToPath(new URL('./turn-relay.scenario.ts', import.meta.url));
const NOT_INSTALLED = 'coturn is not installed: apt-get install coturn';
const MAX_RUNS = 3;
/** How long a relay-only pair may take to open: ~0.15 s measured here, so this is generous. */
const CONNECT_WAIT_MS = 15_000;
/** How long the wrong-secret control is given to (not) connect. */
const CONTROL_WAIT_MS = 3_000;
const RELAY_PORTS = 20;


const secret = randomBytes(24).toString('base64url');
let dir = '';
let turn: ChildProcess | null = null;
let turnLog = '';
let turnUrl = '';
let server: SignalServer | null = null;
let client: SignalClient | null = null;
let identity: Identity;
let minted: IceServerEntry | undefined;

async function until(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A port free on loopback for TCP (the OS picks it) and for UDP (checked by binding it). */
async function freePort(): Promise<number> {
  for (;;) {
    const tcp = createServer();
    const port = await new Promise<number>((resolve) => tcp.listen(0, '127.0.0.1', () => resolve((tcp.address() as { port: number }).port)));
    await new Promise((resolve) => tcp.close(resolve));
    if (await udpFree(port)) return port;
  }
}

function udpFree(port: number): Promise<boolean> {
  const socket = createSocket('udp4');
  return new Promise((resolve) => {
    socket.once('error', () => resolve(false));
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}

/** The first of RELAY_PORTS consecutive UDP ports all free now, in the ephemeral range. */
async function freeRelayRange(): Promise<number> {
  for (;;) {
    const min = 50_000 + Math.floor(Math.random() * 10_000);
    const free = await Promise.all(Array.from({ length: RELAY_PORTS }, (_, i) => udpFree(min + i)));
    if (free.every(Boolean)) return min;
  }
}

function turnserverInstalled(): boolean {
  return !spawnSync('turnserver', ['--help'], { stdio: 'ignore' }).error;
}

/** Runs the scenario with these ICE servers; repeats a run the native library crashed. */
async function runScenario(iceServers: unknown, waitMs: number): Promise<Outcome> {
  for (let run = 1; ; run++) {
    // The timeout (SIGTERM) bounds a scenario that hangs; a hang is a failure, not a crash.
    const child = spawn(process.execPath, ['--import', 'tsx', SCENARIO, JSON.stringify(iceServers), String(waitMs)], { timeout: waitMs + 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Asynchronous, not spawnSync: coturn's log is read from this process while the child runs.
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    if (signal !== null && signal !== 'SIGTERM' && run < MAX_RUNS) continue;
    if (code !== 0) throw new Error(`scenario exited with ${code ?? signal}:\n${stderr}`);
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as Outcome;
  }
}

function killTurn(): void {
  if (turn && turn.exitCode === null && turn.signalCode === null) turn.kill('SIGKILL');
}

beforeAll(async () => {
  // A clear failure, not a skip: CI installs coturn (.ci/run), so a missing one is a setup fault.
  if (!turnserverInstalled()) throw new Error(NOT_INSTALLED);
  dir = mkdtempSync(join(tmpdir(), 'peerchat-turn-'));
  const port = await freePort();
  const minPort = await freeRelayRange();
  // No config file, STUN and TURN on loopback only; -v, which logs each session's user and
  // result (asserted below); loopback peers, because both relays are on 127.0.0.1; and a pid
  // file and user database of this run's own, so runs never share coturn's system paths.
  turn = spawn('turnserver', [
    '-n', '-v', '--no-tls', '--no-dtls', '--no-cli', '--log-file=stdout', '--allow-loopback-peers',
    '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', `--listening-port=${port}`,
    `--min-port=${minPort}`, `--max-port=${minPort + RELAY_PORTS - 1}`,
    '--use-auth-secret', `--static-auth-secret=${secret}`, '--realm=peerchat.test',
    `--pidfile=${join(dir, 'turnserver.pid')}`, `--userdb=${join(dir, 'turndb')}`,
  ]);
  process.once('exit', killTurn); // should the worker die before afterAll
  turn.stdout!.on('data', (d: Buffer) => (turnLog += d.toString()));
  turn.stderr!.on('data', (d: Buffer) => (turnLog += d.toString()));
  await until(`coturn listening on UDP ${port}`, () => turnLog.includes(`UDP listener opened on: 127.0.0.1:${port}`) || turn!.exitCode !== null, 10_000);
  if (turn.exitCode !== null) throw new Error(`turnserver exited with ${turn.exitCode}:\n${turnLog}`);
  turnUrl = `turn:127.0.0.1:${port}?transport=udp`;

  const ice = iceFromEnv({ TURN_URLS: turnUrl, TURN_SECRET: secret, TURN_TTL_S: '600' });
  if (!ice.ok) throw new Error(ice.message);
  server = createSignalServer({ port: 0, ...(ice.ice ? { ice: ice.ice } : {}) });
  await server.ready;
  identity = await createIdentity(cryptoRandom);
  client = new SignalClient({
    baseUrl: server.url,
    identity,
    ops: webCryptoOps,
    clock: systemClock,
    random: cryptoRandom,
    stats: new Stats(),
    socket: (url) => new WebSocket(url) as unknown as SocketLike,
    onSignal: () => Promise.reject(new Error('no signals expected in this test')),
  });
  client.start();
  await client.ready();
  minted = client.iceServers().find((s) => s.username !== undefined);
}, 30_000);

afterAll(async () => {
  client?.close();
  await server?.close();
  killTurn();
  if (turn && turn.exitCode === null && turn.signalCode === null) await new Promise((resolve) => turn!.once('exit', resolve));
  process.removeListener('exit', killTurn);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('TURN credentials from the signal server against a real coturn', () => {
  it('hands the tab the TURN URL with a username for its node id', () => {
    expect(minted?.urls).toEqual([turnUrl]);
    expect(minted?.username).toMatch(new RegExp(`^\\d+:${idToHex(identity.nodeId)}$`));
  });

  it('connects two relay-only peers through coturn with them, both ways, relay to relay', async () => {
    const outcome = await runScenario([minted], CONNECT_WAIT_MS);
    expect(outcome.connected, `states ${outcome.states.join(', ')}\n${turnLog}`).toBe(true);
    expect(outcome.received).toEqual({ a: ['pong from b'], b: ['ping from a'] });
    expect(outcome.selected).toEqual({ a: ['relay', 'relay'], b: ['relay', 'relay'] });
    expect(turnLog).toContain(`user <${minted!.username}>: incoming packet ALLOCATE processed, success`);
    console.log(`relay-only data channel open in ${outcome.setupMs} ms`);
  });

  it('does not connect with a credential minted from another secret, and coturn says 401', async () => {
    const other = await createIdentity(cryptoRandom);
    const username = `${Math.floor(Date.now() / 1000) + 600}:${idToHex(other.nodeId)}`;
    const wrong = { urls: [turnUrl], username, credential: await turnCredential(`${secret}-not`, username) };
    const outcome = await runScenario([wrong], CONTROL_WAIT_MS);
    expect(outcome.connected).toBe(false);
    expect(outcome.states).not.toContain('connected');
    expect(turnLog).toContain(`user <${username}>: incoming packet message processed, error 401: Unauthorized`);
    expect(turnLog).not.toContain(`user <${username}>: incoming packet ALLOCATE processed, success`);
  });
});
