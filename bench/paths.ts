/**
 * The path bench: connection setup and RPC round trip over each path WebRTC can take, side by
 * side in one run, on the NAT testbed (e2e/nat/testbed.ts) with the signal server and coturn on
 * its internet as a deployment runs them (e2e/nat/internet.ts). Three scenarios, each with two
 * tabs, alice and bob, each in its own Chromium:
 * - host: two hosts on one home's LAN (a bridge; the router is not on the path), STUN offered
 *   as for srflx, so ICE picks the host pair over the srflx ones by itself;
 * - srflx: two homes behind port-restricted NATs, STUN_URLS (e2e/nat.spec.ts test 2);
 * - relay: two homes behind symmetric NATs, TURN_URLS and TURN_SECRET (test 4).
 * For each: bob joins, then closes and reopens his tab (a new page in his context, so the same
 * identity) REJOINS times; every join dials alice again, and the app's own 'dial-ms' samples
 * (dial start to both HELLOs done, signaling through the server included) are the setup times.
 * Then alice PINGs bob (WARMUP, then ROUND_TRIPS, sequential). The selected ICE pair of every
 * connection must be the scenario's path, or the bench fails: a number for the wrong path is
 * worthless. ADDED_DELAY_MS of netem delay is asked for on the routers' wan links; where the
 * kernel has no netem the JSON says why and the bench runs without it.
 *
 *   npm run bench:paths   (root, iproute2, iptables, coturn and openssl, as the NAT tests)
 * Writes bench/results/paths.json (relative to the working directory, the project root).
 */
import type { Browser, BrowserContext, Page } from '@playwright/test';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { startSignalServer, startTurn, type Turn } from '../e2e/nat/internet.ts';
import { selectedPairs, watchConnections, type SelectedPair } from '../e2e/nat/paths.ts';
import { Testbed, type NatKind } from '../e2e/nat/testbed.ts';
import { quantile } from '../shared/sim/experiment.ts';
import { machineInfo } from './machine.ts';

/** Times bob closes and reopens his tab after his first join: each is one more dial. */
const REJOINS = 10;
const ROUND_TRIPS = 200;
/** PINGs before measuring: the first ones on a fresh channel run cold code. */
const WARMUP = 10;
/** One-way delay asked of netem on every router's wan link. */
const ADDED_DELAY_MS = 20;
/** ICE through STUN or TURN takes seconds; the NAT tests give it as long. */
const CONNECT_TIMEOUT_MS = 60_000;

type Path = 'host' | 'srflx' | 'relay';

interface Scenario {
  path: Path;
  nat: NatKind;
  /** The network the two tabs are on, in words, for the JSON. */
  layout: string;
  build(): Testbed;
  /** The namespaces alice's and bob's browsers run in. */
  hosts(bed: Testbed): [string, string];
  /** The signal server's ICE settings, as a deployment's environment gives them. */
  env(turn: Turn): Record<string, string>;
  /** Why a selected pair is not this path; null when it is. */
  wrongPath(pair: SelectedPair): string | null;
  /** Router wan links a packet crosses outbound, each way: what netem delays (Testbed.addDelay). */
  delayedLinksEachWay: number;
}

const SCENARIOS: Scenario[] = [
  {
    path: 'host',
    nat: 'port-restricted',
    layout: 'two hosts on one home LAN (bridge), no router between them; STUN offered',
    build: () => Testbed.build('port-restricted', 1, { hostsPerHome: 2 }),
    hosts: (bed) => [bed.homes[0]!.hosts[0]!, bed.homes[0]!.hosts[1]!],
    env: (turn) => ({ STUN_URLS: turn.stunUrl }),
    // The remote end is prflx when its check arrives before its (mDNS-named) candidate does.
    wrongPath: (p) =>
      p.local !== 'host' || !/^(host|prflx)$/.test(p.remote) ? 'want a local host candidate and a remote host (or prflx) one'
      : p.remoteAddress && !p.remoteAddress.startsWith('10.10.1.') ? 'want the peer at its LAN address'
      : null,
    delayedLinksEachWay: 0,
  },
  {
    path: 'srflx',
    nat: 'port-restricted',
    layout: 'two homes behind port-restricted NATs; STUN_URLS',
    build: () => Testbed.build('port-restricted', 2),
    hosts: (bed) => [bed.homes[0]!.host, bed.homes[1]!.host],
    env: (turn) => ({ STUN_URLS: turn.stunUrl }),
    wrongPath: (p) => (p.local !== 'srflx' || !/^(srflx|prflx)$/.test(p.remote) ? 'want srflx on this end and srflx (or prflx) on the other' : null),
    delayedLinksEachWay: 1,
  },
  {
    path: 'relay',
    nat: 'symmetric',
    layout: 'two homes behind symmetric NATs; TURN_URLS and TURN_SECRET',
    build: () => Testbed.build('symmetric', 2),
    hosts: (bed) => [bed.homes[0]!.host, bed.homes[1]!.host],
    env: (turn) => ({ TURN_URLS: turn.turnUrl, TURN_SECRET: turn.secret }),
    wrongPath: (p) => (![p.local, p.remote].includes('relay') || [p.local, p.remote].includes('host') ? 'want a relay on at least one end and no host' : null),
    delayedLinksEachWay: 1,
  },
];

const round1 = (x: number) => Math.round(x * 10) / 10;
const stats = (values: number[]) => ({ median: quantile(values, 0.5), p90: quantile(values, 0.9), p95: quantile(values, 0.95), n: values.length });

interface Tab {
  context: BrowserContext;
  page: Page;
}

async function openTab(context: BrowserContext, url: string, errors: string[]): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(url);
  return page;
}

async function newTab(browser: Browser, url: string, errors: string[]): Promise<Tab> {
  const context = await browser.newContext();
  await watchConnections(context);
  return { context, page: await openTab(context, url, errors) };
}

/** Resolves with the page's node id once it has at least one authenticated peer. */
async function connected(page: Page, who: string): Promise<string> {
  await page.waitForFunction(() => (window.peerchat?.neighbours().length ?? 0) >= 1, undefined, { polling: 100, timeout: CONNECT_TIMEOUT_MS }).catch(async (err: unknown) => {
    const dump = await page.evaluate(() => ({ signal: window.peerchat?.signalState, stats: window.peerchat?.stats() })).catch(() => null);
    throw new Error(`${who} did not connect within ${CONNECT_TIMEOUT_MS} ms: ${JSON.stringify(dump)}\n${String(err)}`);
  });
  return page.evaluate(() => window.peerchat!.nodeId);
}

/** The page's connected pairs, after checking each is the scenario's path. */
async function checkedPairs(page: Page, who: string, scenario: Scenario): Promise<SelectedPair[]> {
  const pairs = await selectedPairs(page);
  if (pairs.length === 0) throw new Error(`${scenario.path}: ${who} has no connected RTCPeerConnection to read a path from`);
  for (const pair of pairs) {
    const wrong = scenario.wrongPath(pair);
    if (wrong) throw new Error(`${scenario.path} bench took another path at ${who}: ${JSON.stringify(pair)}; ${wrong}`);
  }
  return pairs;
}

const dialSamples = (page: Page) => page.evaluate(() => window.peerchat!.samples('dial-ms'));

/**
 * Bob joins, then rejoins REJOINS times; each join's 'dial-ms' samples. Before each rejoin alice
 * must have noticed bob's tab is gone: she refuses (BUSY) a second channel from a peer whose
 * first is under CONNECT_TIMEOUT_MS old, so a quicker return would time her ICE timeout instead
 * of a dial. Then each join is a fresh one: usually bob dials, through the server; alice, left
 * with no peer, asks the server too and may dial first.
 */
async function joins(scenario: Scenario, alice: Tab, bob: Tab, url: string, errors: string[]) {
  const perJoin: { join: number; ms: number; dialer: 'alice' | 'bob'; wallMs: number }[] = [];
  let aliceSeen = 0;
  for (let join = 1; join <= 1 + REJOINS; join++) {
    const t = performance.now();
    if (join > 1) {
      const bobId = await bob.page.evaluate(() => window.peerchat!.nodeId);
      await bob.page.close();
      await alice.page.waitForFunction((id) => !window.peerchat!.neighbours().includes(id), bobId, { polling: 100, timeout: CONNECT_TIMEOUT_MS });
      bob.page = await openTab(bob.context, url, errors);
    }
    await connected(bob.page, `bob (join ${join})`);
    await checkedPairs(bob.page, `bob (join ${join})`, scenario);
    const wallMs = Math.round(performance.now() - t);
    // A fresh page has fresh counters: all bob's samples are this join's.
    for (const ms of await dialSamples(bob.page)) perJoin.push({ join, ms, dialer: 'bob', wallMs });
    const aliceAll = await dialSamples(alice.page);
    for (const ms of aliceAll.slice(aliceSeen)) perJoin.push({ join, ms, dialer: 'alice', wallMs });
    aliceSeen = aliceAll.length;
  }
  return perJoin;
}

/** Sequential PINGs from alice to bob, timed in alice's page. */
function ping(page: Page, to: string, count: number): Promise<number[]> {
  return page.evaluate(({ to, count }) => window.peerchat!.ping(to, count), { to, count });
}

/** What netem added on this scenario's path, one way, and what to say about it. */
function delayOf(scenario: Scenario, problem: string | null) {
  if (problem) return { addedOneWayDelayMs: 0, delayNote: `no delay added: ${problem}` };
  const ms = ADDED_DELAY_MS * scenario.delayedLinksEachWay;
  const note =
    scenario.delayedLinksEachWay === 0
      ? `netem added ${ADDED_DELAY_MS} ms on the router's wan link, which the tabs' path does not cross (their signaling to the server does)`
      : `netem added ${ADDED_DELAY_MS} ms on each router's wan link, outbound: each way crosses one (the sender's), so the round trip gains ${2 * ms} ms`;
  return { addedOneWayDelayMs: ms, delayNote: note };
}

async function runScenario(scenario: Scenario, browserVersion: (version: string) => void) {
  const started = performance.now();
  const bed = scenario.build();
  try {
    const delayProblem = bed.addDelay(ADDED_DELAY_MS);
    const turn = await startTurn(bed);
    const server = await startSignalServer(bed, scenario.env(turn));
    const trust = [`--unsafely-treat-insecure-origin-as-secure=${server.url}`];
    const [aliceNs, bobNs] = scenario.hosts(bed);
    const errors: string[] = [];
    const aliceBrowser = await bed.browser(aliceNs, trust);
    browserVersion(aliceBrowser.version());
    const alice = await newTab(aliceBrowser, server.url, errors);
    // alice has no one to dial until bob arrives; she is ready once the server has her.
    await alice.page.waitForFunction(() => window.peerchat?.signalState === 'ready', undefined, { polling: 100, timeout: CONNECT_TIMEOUT_MS });
    const bob = await newTab(await bed.browser(bobNs, trust), server.url, errors);
    const perJoin = await joins(scenario, alice, bob, server.url, errors);
    const bobId = await connected(bob.page, 'bob');
    await alice.page.waitForFunction((id) => window.peerchat!.neighbours().includes(id), bobId, { polling: 100, timeout: CONNECT_TIMEOUT_MS });
    const pairs = { alice: await checkedPairs(alice.page, 'alice', scenario), bob: await checkedPairs(bob.page, 'bob', scenario) };
    await ping(alice.page, bobId, WARMUP);
    const rtt = await ping(alice.page, bobId, ROUND_TRIPS);
    const result = {
      path: scenario.path,
      layout: scenario.layout,
      selectedPairs: pairs,
      setupMs: stats(perJoin.map((d) => d.ms)),
      rttMs: stats(rtt),
      /** Each join's setup samples, who dialed, and the bench's time from closing bob's tab to connected. */
      setupPerJoin: perJoin.map((d) => ({ ...d, ms: round1(d.ms) })),
      ...delayOf(scenario, delayProblem),
      pageErrors: errors,
      wallMs: Math.round(performance.now() - started),
    };
    console.error(`${scenario.path}: setup ${JSON.stringify(result.setupMs)}, rtt ${JSON.stringify(result.rttMs)}, pairs ${JSON.stringify(pairs.bob)}`);
    return result;
  } finally {
    await bed.close();
  }
}

async function main(): Promise<void> {
  if (!existsSync(join(process.cwd(), 'dist', 'index.html'))) {
    throw new Error(`no built app in ${join(process.cwd(), 'dist')}: run \`npx vite build --logLevel warn\` first`);
  }
  const loadBefore = loadavg();
  const started = performance.now();
  const scenarios = [];
  let chromium = '';
  for (const scenario of SCENARIOS) scenarios.push(await runScenario(scenario, (version) => (chromium = version)));
  const out = {
    date: new Date().toISOString(),
    machine: { ...machineInfo(), chromium, loadavgBefore: loadBefore.map(round1), loadavgAfter: loadavg().map(round1) },
    rejoins: REJOINS,
    roundTrips: ROUND_TRIPS,
    scenarios,
    wallMs: Math.round(performance.now() - started),
    note:
      'Network namespaces on one machine (veths and bridges, no real wire): the paths differ in NATs and coturn crossed, not in distance; ' +
      'setupMs is the app\'s dial-ms (dial start to both HELLOs done, signaling through the server and ICE gathering included); rttMs is PING over the authenticated channel.',
  };
  const dir = join(process.cwd(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'paths.json'), JSON.stringify(out, null, 2) + '\n');
  const line = (x: { median: number; p90: number; n: number }) => `${x.median} / ${x.p90} ms (n=${x.n})`;
  console.error('\npath   setup median/p90          rtt median/p90           added one-way');
  for (const s of out.scenarios) console.error(`${s.path.padEnd(6)} ${line(s.setupMs).padEnd(25)} ${line(s.rttMs).padEnd(24)} ${s.addedOneWayDelayMs} ms`);
  console.error(`${out.scenarios[0]!.delayNote}\nwrote bench/results/paths.json`);
}
await main();
