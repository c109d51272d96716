/**
 * The headless node as people run it (`npm run peer`): its arguments, its log lines, its
 * identity file, and real child processes against a real signal server: the status port
 * answers JSON with the Network panel's fields, SIGTERM stops it with exit 0, and a restart
 * from the same data folder keeps its node id and dials the peers of its routing snapshot.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSignalServer, type SignalServer } from '../../signal-server/server.ts';
import { createIdentity, exportIdentity, type StoredIdentity } from '../../shared/lib/crypto.ts';
import { idToHex } from '../../shared/lib/id.ts';
import { SeededRandom } from '../../shared/lib/random.ts';
import { parseCli } from './args.ts';
import { spawnHeadless, type ChildNode } from './child.ts';
import { IDENTITY_FILE, loadOrCreateIdentity } from './identity-file.ts';
import { formatLine } from './log.ts';

const root = mkdtempSync(join(tmpdir(), 'peerchat-headless-'));
let serial = 0;
const freshDir = () => join(root, `node-${++serial}`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the command line', () => {
  it('takes the signal URL, the data folder and an optional status port', () => {
    expect(parseCli(['--signal', 'http://localhost:8080', '--data', './peer-data', '--status-port', '9090'])).toEqual({
      ok: true,
      args: { signalUrl: 'http://localhost:8080/', dataDir: './peer-data', statusPort: 9090 },
    });
    expect(parseCli(['--signal', 'https://chat.example', '--data', 'd'])).toMatchObject({ ok: true, args: { statusPort: null } });
  });

  it('says in one line what is missing or wrong', () => {
    const message = (argv: string[]) => {
      const r = parseCli(argv);
      return r.ok ? '' : r.message;
    };
    expect(message(['--data', 'd'])).toMatch(/^--signal is required/);
    expect(message(['--signal', 'http://x'])).toMatch(/^--data is required/);
    expect(message(['--signal', 'nope', '--data', 'd'])).toMatch(/^--signal must be a URL/);
    expect(message(['--signal', 'ws://x', '--data', 'd'])).toMatch(/^--signal must start with http/);
    expect(message(['--signal', 'http://x', '--data', 'd', '--status-port', '99999'])).toMatch(/^--status-port must be a port/);
    expect(message(['--signal', 'http://x', '--data', 'd', '--status-port', '-1'])).toMatch(/status-port/);
    expect(message(['--bogus'])).toMatch(/bogus/);
    for (const m of [message(['--data', 'd']), message(['--bogus'])]) expect(m).not.toContain('\n');
  });
});

describe('the log', () => {
  it('writes one greppable line per event: time, "peer", event, key=value fields', () => {
    const at = new Date('2026-12-04T18:30:00.000Z');
    expect(formatLine(at, 'joined', { peers: 3, id: 'ab12', skipped: undefined })).toBe('2026-12-04T18:30:00.000Z peer joined peers=3 id=ab12');
    expect(formatLine(at, 'error', { what: 'not saved: disk full', empty: '' })).toBe('2026-12-04T18:30:00.000Z peer error what="not saved: disk full" empty=""');
    expect(formatLine(at, 'error', { what: 'line\nbreak' })).not.toContain('\n');
  });
});

describe('the identity file', () => {
  it('is created with mode 600 and gives the same node id when loaded again', async () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    const first = await loadOrCreateIdentity(dir);
    expect(first.origin).toBe('created');
    expect(statSync(join(dir, IDENTITY_FILE)).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateIdentity(dir);
    expect(again.origin).toBe('loaded');
    expect(idToHex(again.identity.nodeId)).toBe(idToHex(first.identity.nodeId));
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('keeps the keys of a file saved before ids cost work, and writes their id nonce into it', async () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    const { n: _none, ...old } = await exportIdentity(await createIdentity(new SeededRandom(5)));
    writeFileSync(join(dir, IDENTITY_FILE), JSON.stringify(old), { mode: 0o600 });
    const loaded = await loadOrCreateIdentity(dir);
    expect(loaded.origin).toBe('loaded');
    const saved = JSON.parse(readFileSync(join(dir, IDENTITY_FILE), 'utf8')) as StoredIdentity;
    expect(saved).toEqual({ ...old, n: loaded.identity.idNonce });
    expect(statSync(join(dir, IDENTITY_FILE)).mode & 0o777).toBe(0o600);
    expect(idToHex((await loadOrCreateIdentity(dir)).identity.nodeId)).toBe(idToHex(loaded.identity.nodeId));
  });

  it('narrows a file others could read to mode 600', async () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    await loadOrCreateIdentity(dir);
    chmodSync(join(dir, IDENTITY_FILE), 0o644);
    expect((await loadOrCreateIdentity(dir)).narrowedMode).toBe(0o644);
    expect(statSync(join(dir, IDENTITY_FILE)).mode & 0o777).toBe(0o600);
  });

  it('keeps a file that does not load aside and makes a new identity, for every kind of damage', async () => {
    for (const [n, bad] of ['', '{', 'null', '{"v":1,"signingSeed":"AA","agreementSeed":"AA"}', 'x'.repeat(10_000)].entries()) {
      const dir = freshDir();
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, IDENTITY_FILE), bad);
      const loaded = await loadOrCreateIdentity(dir, 1_000 + n);
      expect(loaded.origin).toBe('replaced');
      expect(readdirSync(dir).sort()).toEqual([IDENTITY_FILE, `${IDENTITY_FILE}.unreadable-${1_000 + n}`]);
      expect((await loadOrCreateIdentity(dir)).origin).toBe('loaded');
    }
  });
});

describe('headless nodes as child processes', () => {
  let server: SignalServer;
  const children: ChildNode[] = [];
  const start = (dir: string) => {
    const c = spawnHeadless(server.url, dir);
    children.push(c);
    return c;
  };
  beforeAll(async () => {
    server = createSignalServer({ port: 0, host: '127.0.0.1' });
    await server.ready;
  });
  afterEach(async () => {
    for (const c of children.splice(0)) await c.stop('SIGKILL');
  });
  afterAll(async () => {
    await server.close();
  });

  it('reports the Network panel’s fields as JSON on its status port and exits 0 on SIGTERM', async () => {
    const a = start(freshDir());
    const joined = await a.waitFor(/ peer joined /);
    const status = await a.status();
    expect(joined).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z peer joined peers=0 id=[0-9a-f]{40} /);
    expect(joined).toContain(`id=${status.nodeId}`);
    expect(status).toMatchObject({ phase: 'joined', peers: 0, signal: { state: 'ready' }, held: { records: 0, mail: 0 } });
    expect(Object.keys(status).sort()).toEqual(
      ['badStoredValues', 'connectionsCreated', 'counters', 'held', 'iceServers', 'nodeId', 'peers', 'phase', 'routingTable', 'signal', 'signalCounters', 'uptimeS'].sort(),
    );
    const url = /url=(\S+)/.exec(await a.waitFor(/ peer status url=/))![1]!;
    expect(new URL(url).hostname).toBe('127.0.0.1');
    expect((await fetch(url.replace('/status', '/healthz'))).status).toBe(200);
    expect(await a.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(a.lines.some((l) => / peer stopped id=/.test(l))).toBe(true);
  }, 60_000);

  it('keeps its node id across a restart and dials the peers of its routing snapshot', async () => {
    const dir = freshDir();
    const a = start(dir);
    const b = start(freshDir());
    await until(async () => (await a.status()).peers >= 1 && (await b.status()).peers >= 1);
    const before = await a.status();
    expect(await a.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    const again = start(dir);
    await again.waitFor(/ peer joined /);
    const after = await again.status();
    expect(after.nodeId).toBe(before.nodeId);
    expect(again.lines.some((l) => / peer identity .*origin=loaded/.test(l))).toBe(true);
    expect(after.counters['join-remembered']).toBeGreaterThanOrEqual(1);
    await until(async () => (await again.status()).peers >= 1);
  }, 90_000);

  it('under the supervisor the e2e tests use, a node killed by SIGSEGV comes back from its folder', async () => {
    const dir = freshDir();
    const a = spawnHeadless(server.url, dir, { restartOnCrash: true });
    children.push(a);
    const before = await a.status();
    const first = a.process;
    first.kill('SIGSEGV');
    await a.waitFor(/^supervisor: the node was killed by SIGSEGV; restarting it/);
    await until(async () => a.process !== first && (await a.status().catch(() => null))?.phase === 'joined');
    expect((await a.status()).nodeId).toBe(before.nodeId);
    expect(a.restarts).toBe(1);
    // What someone sends it is an order, not a crash: it stops for good.
    expect(await a.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(a.restarts).toBe(1);
  }, 60_000);

  it('refuses, in one line and with exit 1, a data folder another node is using', async () => {
    const dir = freshDir();
    const a = start(dir);
    await a.waitFor(/ peer joined /);
    const b = start(dir);
    expect((await b.exited).code).toBe(1);
    expect(b.lines.join('\n')).toMatch(/Cannot start: .*another process/);
  }, 60_000);
});

/** Polls `done` (each call a status read) until true; fails after timeoutMs. */
async function until(done: () => Promise<boolean>, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
