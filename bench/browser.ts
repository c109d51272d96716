/**
 * The browser benchmark: real Chromium tabs (one browser context each, so each its own node
 * identity) with real WebRTC between them, against a signal server in this process serving the
 * built app. What it measures, in one run:
 * - Joins: 10 tabs opened one at a time, each waiting for min(i, 3) live peers as the browser
 *   test does; each tab's joinedMs (navigation start to end of join), and the signals the server
 *   relayed (signal + signal-reply messages) while each tab joined, and per join overall.
 * - Connection setup tab to tab: every tab's 'dial-ms' samples (dial start to both HELLOs done,
 *   signaling through the overlay or the server included), once all have at least 3 peers.
 * - RPC round trip: sequential PINGs over the authenticated data channel between neighbouring
 *   tabs, beside a raw RTCPeerConnection data channel between the same two pages (echoing a
 *   string the size of a PING frame), interleaved in blocks so both see the same load.
 * - Lookups: 20 lookups of random keys from every tab, one at a time, timed in the page, each
 *   checked against the true 8 closest of the server's view of who is online.
 *
 *   npx vite build --logLevel warn && node scripts/run-bundled.mjs bench/browser.ts
 * Writes bench/results/browser.json (relative to the working directory, the project root).
 */
import { chromium, type Browser, type Page } from '@playwright/test';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM_ARGS, chromiumExecutable } from '../e2e/chromium.ts';
import type { PeerchatHandle } from '../e2e/fixtures.ts';
import { machineInfo } from './machine.ts';
import { REPLICATION } from '../shared/dht/constants.ts';
import { closestHexes } from '../shared/lib/id.ts';
import { summarize } from '../shared/sim/experiment.ts';
import { createSignalServer, type SignalServer, type SignalStats } from '../signal-server/server.ts';

const TABS = 10;
const MIN_PEERS = 3;
const PEER_TIMEOUT_MS = 30_000;
const PAIRS = 3;
const ROUND_TRIPS = 200;
/** RPC and raw take turns in blocks of this many, so a burst of load hits both alike. */
const BLOCK = 50;
/** Round trips of each kind before measuring: the first ones on a fresh channel run cold code. */
const WARMUP = 10;
const LOOKUPS_PER_TAB = 20;
/**
 * What a PING request and its reply look like on the wire (shared/dht/protocol.ts), so the raw
 * channel carries the same bytes: `{"t":"req","id":N,"m":"PING","b":{}}` and `{"t":"res",...}`.
 */
const PING_FRAME = '{"t":"req","id":1000,"m":"PING","b":{}}';
const PONG_FRAME = '{"t":"res","id":1000,"b":{}}';

type Lookup = Awaited<ReturnType<PeerchatHandle['lookup']>>;

/** The raw data channel the bench sets up in a page, beside the app's own connections. */
interface RawChannel {
  pc: RTCPeerConnection;
  channel: Promise<RTCDataChannel>;
}
declare global {
  interface Window {
    benchRaw?: RawChannel;
  }
}

interface Tab {
  page: Page;
  nodeId: string;
  errors: string[];
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const stats = (values: number[]) => ({ ...summarize(values), n: values.length });
const randomKey = () => randomBytes(20).toString('hex');

function closest(keyHex: string, ids: string[]): string[] {
  return closestHexes(keyHex, ids, REPLICATION);
}

function relayed(s: SignalStats): number {
  return s.signalsRelayed + s.repliesRelayed;
}

async function waitForPeers(tab: Tab, n: number): Promise<void> {
  // Polled in the page: a round trip through the protocol per poll would load the two cores.
  await tab.page
    .waitForFunction((min) => (window.peerchat?.neighbours().length ?? 0) >= min, n, { polling: 100, timeout: PEER_TIMEOUT_MS })
    .catch(async (err: unknown) => {
      const dump = await tab.page.evaluate(() => ({ signal: window.peerchat?.signalState, stats: window.peerchat?.stats() }));
      throw new Error(`tab ${tab.nodeId.slice(0, 8)} did not reach ${n} peers: ${JSON.stringify(dump)}\n${String(err)}`);
    });
}

async function openTab(browser: Browser, server: SignalServer): Promise<Tab> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(server.url);
  const handle = await page.waitForFunction(() => window.peerchat?.nodeId, undefined, { polling: 100, timeout: PEER_TIMEOUT_MS });
  return { page, nodeId: (await handle.jsonValue()) as string, errors };
}

/** Opens the tabs one at a time and counts what the signal server relayed for each. */
async function joinAll(browser: Browser, server: SignalServer) {
  const tabs: Tab[] = [];
  const before: SignalStats[] = [];
  for (let i = 0; i < TABS; i++) {
    before.push(server.stats());
    const tab = await openTab(browser, server);
    tabs.push(tab);
    await waitForPeers(tab, Math.min(i, MIN_PEERS));
    console.error(`tab ${i + 1}/${TABS} joined: ${tab.nodeId.slice(0, 8)}`);
  }
  for (const tab of tabs) await waitForPeers(tab, MIN_PEERS);
  const after = server.stats();
  // A tab's share runs until the next tab opens: the dials its arrival causes (its own and its
  // neighbours' toward it) go on after it has its first peers. The last one's runs until all
  // tabs have MIN_PEERS.
  const perTab = tabs.map((tab, i) => {
    const from = before[i]!;
    const to = before[i + 1] ?? after;
    return {
      tab: i + 1,
      nodeId: tab.nodeId,
      signalsRelayed: relayed(to) - relayed(from),
      peersHandedOut: to.peersHandedOut - from.peersHandedOut,
    };
  });
  return { tabs, perTab, before: before[0]!, after };
}

/** Sets up a raw data channel from a to b, non-trickle, with the offer and answer passed by hand. */
async function rawChannel(a: Page, b: Page): Promise<void> {
  const offer = await a.evaluate(async () => {
    const pc = new RTCPeerConnection({ iceServers: [] });
    const ch = pc.createDataChannel('bench');
    const channel = new Promise<RTCDataChannel>((resolve) => ch.addEventListener('open', () => resolve(ch), { once: true }));
    window.benchRaw = { pc, channel };
    await pc.setLocalDescription(await pc.createOffer());
    while (pc.iceGatheringState !== 'complete') await new Promise((r) => pc.addEventListener('icegatheringstatechange', r, { once: true }));
    return pc.localDescription!.toJSON() as RTCSessionDescriptionInit;
  });
  const answer = await b.evaluate(
    async ({ offer, pong }) => {
      const pc = new RTCPeerConnection({ iceServers: [] });
      const channel = new Promise<RTCDataChannel>((resolve) =>
        pc.addEventListener('datachannel', ({ channel: ch }) => {
          ch.addEventListener('message', () => ch.send(pong));
          resolve(ch);
        }),
      );
      window.benchRaw = { pc, channel };
      await pc.setRemoteDescription(offer);
      await pc.setLocalDescription(await pc.createAnswer());
      while (pc.iceGatheringState !== 'complete') await new Promise((r) => pc.addEventListener('icegatheringstatechange', r, { once: true }));
      return pc.localDescription!.toJSON() as RTCSessionDescriptionInit;
    },
    { offer, pong: PONG_FRAME },
  );
  await a.evaluate(async (answer) => {
    await window.benchRaw!.pc.setRemoteDescription(answer);
    await window.benchRaw!.channel;
  }, answer);
}

/** Sequential round trips on the page's raw channel, timed in the page. */
function rawEcho(page: Page, count: number): Promise<number[]> {
  return page.evaluate(
    async ({ count, ping }) => {
      const ch = await window.benchRaw!.channel;
      const out: number[] = [];
      for (let i = 0; i < count; i++) {
        const t = performance.now();
        const echoed = new Promise((r) => ch.addEventListener('message', r, { once: true }));
        ch.send(ping);
        await echoed;
        out.push(performance.now() - t);
      }
      return out;
    },
    { count, ping: PING_FRAME },
  );
}

function rpcPing(page: Page, neighbour: string, count: number): Promise<number[]> {
  return page.evaluate(({ neighbour, count }) => window.peerchat!.ping(neighbour, count), { neighbour, count });
}

/** Up to PAIRS disjoint pairs of tabs that are each other's DHT neighbours. */
async function neighbourPairs(tabs: Tab[]): Promise<[Tab, Tab][]> {
  const byId = new Map(tabs.map((t) => [t.nodeId, t]));
  const used = new Set<string>();
  const pairs: [Tab, Tab][] = [];
  for (const a of tabs) {
    if (pairs.length === PAIRS) break;
    if (used.has(a.nodeId)) continue;
    const ids = await a.page.evaluate(() => window.peerchat!.neighbours());
    const b = ids.map((id) => byId.get(id)).find((t) => t && !used.has(t.nodeId));
    if (!b) continue;
    used.add(a.nodeId).add(b.nodeId);
    pairs.push([a, b]);
  }
  return pairs;
}

async function roundTrips(tabs: Tab[]) {
  const pairs = await neighbourPairs(tabs);
  const perPair = [];
  for (const [a, b] of pairs) {
    await rawChannel(a.page, b.page);
    await rpcPing(a.page, b.nodeId, WARMUP);
    await rawEcho(a.page, WARMUP);
    const rpc: number[] = [];
    const raw: number[] = [];
    for (let done = 0; done < ROUND_TRIPS; done += BLOCK) {
      rpc.push(...(await rpcPing(a.page, b.nodeId, BLOCK)));
      raw.push(...(await rawEcho(a.page, BLOCK)));
    }
    await Promise.all([a, b].map((t) => t.page.evaluate(() => window.benchRaw!.pc.close())));
    perPair.push({ from: a.nodeId, to: b.nodeId, rpcMs: stats(rpc), rawMs: stats(raw), rpc, raw });
    console.error(`round trips ${a.nodeId.slice(0, 8)} -> ${b.nodeId.slice(0, 8)}: rpc ${JSON.stringify(stats(rpc))}, raw ${JSON.stringify(stats(raw))}`);
  }
  return {
    pairs: perPair.length,
    rpcMs: stats(perPair.flatMap((p) => p.rpc)),
    rawMs: stats(perPair.flatMap((p) => p.raw)),
    perPair: perPair.map(({ from, to, rpcMs, rawMs }) => ({ from, to, rpcMs, rawMs })),
  };
}

interface Disagreement {
  from: string;
  key: string;
  answered: number;
  got: string[];
  expected: string[];
  /** Same nodes, other order: a sorting bug rather than a routing one. */
  sameSet: boolean;
}

async function lookups(tabs: Tab[], server: SignalServer) {
  const latencies: number[] = [];
  const disagreements: Disagreement[] = [];
  let exact = 0;
  let total = 0;
  let noAnswer = 0;
  let onlineMismatch = 0;
  for (const tab of tabs) {
    const online = server.connectedIds();
    // The oracle is the server's view; if it is not exactly the tabs opened, say so in the result.
    if (online.length !== tabs.length || !tabs.every((t) => online.includes(t.nodeId))) onlineMismatch++;
    const keys = Array.from({ length: LOOKUPS_PER_TAB }, randomKey);
    const results = await tab.page.evaluate(async (keys) => {
      const out: { ms: number; result: Lookup }[] = [];
      for (const key of keys) {
        const t = performance.now();
        const result = await window.peerchat!.lookup(key);
        out.push({ ms: performance.now() - t, result });
      }
      return out;
    }, keys);
    results.forEach(({ ms, result }, i) => {
      const key = keys[i]!;
      const expected = closest(key, online);
      total++;
      latencies.push(ms);
      if (result.answered === 0) noAnswer++;
      if (result.nodes.join() === expected.join()) exact++;
      else {
        const sameSet = result.nodes.length === expected.length && expected.every((h) => result.nodes.includes(h));
        disagreements.push({ from: tab.nodeId, key, answered: result.answered, got: result.nodes, expected, sameSet });
      }
    });
  }
  return {
    lookups: total,
    latencyMs: stats(latencies),
    trueClosest: { exact, of: total, fraction: exact / total },
    noPathAnswered: noAnswer,
    onlineViewMismatches: onlineMismatch,
    disagreements,
  };
}

async function nodeCounter(tabs: Tab[], name: string): Promise<number> {
  let sum = 0;
  for (const t of tabs) sum += await t.page.evaluate((n) => window.peerchat!.stats().node[n] ?? 0, name);
  return sum;
}

async function main(): Promise<void> {
  const dist = join(process.cwd(), 'dist');
  if (!existsSync(join(dist, 'index.html'))) {
    throw new Error(`no built app in ${dist}: run \`npx vite build --logLevel warn\` first`);
  }
  const loadBefore = loadavg();
  const started = performance.now();
  const server = createSignalServer({ port: 0, host: '127.0.0.1', staticDir: dist });
  let browser: Browser | undefined;
  try {
    await server.ready;
    browser = await chromium.launch({ executablePath: chromiumExecutable(), args: CHROMIUM_ARGS });

    const joined = await joinAll(browser, server);
    const { tabs } = joined;
    const joinedMs: number[] = [];
    for (const t of tabs) {
      // joinedMs is set when start() resolves, which can trail the first peers by a moment.
      const h = await t.page.waitForFunction(() => window.peerchat?.joinedMs ?? null, undefined, { polling: 100, timeout: PEER_TIMEOUT_MS });
      joinedMs.push((await h.jsonValue()) as number);
    }
    const dialMs: number[] = [];
    for (const t of tabs) dialMs.push(...(await t.page.evaluate(() => window.peerchat!.samples('dial-ms'))));
    const dialsViaBootstrap = await nodeCounter(tabs, 'dials-via-bootstrap');
    const dialsViaOverlay = await nodeCounter(tabs, 'dials-via-overlay');
    const neighbourCounts = await Promise.all(tabs.map((t) => t.page.evaluate(() => window.peerchat!.neighbours().length)));
    console.error(`all ${TABS} tabs have >= ${MIN_PEERS} peers (${neighbourCounts.join(' ')}); ${dialMs.length} dial samples`);

    const rtt = await roundTrips(tabs);
    const lookup = await lookups(tabs, server);
    const atEnd = server.stats();
    const signalsDuringJoins = relayed(joined.after) - relayed(joined.before);

    const out = {
      date: new Date().toISOString(),
      machine: {
        ...machineInfo(),
        chromium: browser.version(),
        /** 1, 5 and 15 minute load averages: other work on the machine shows here. */
        loadavgBefore: loadBefore.map(round1),
        loadavgAfter: loadavg().map(round1),
      },
      tabs: TABS,
      join: {
        joinedMs: stats(joinedMs),
        signalsRelayedPerJoin: round1(signalsDuringJoins / TABS),
        signalsRelayedDuringJoins: signalsDuringJoins,
        /** Relayed after every tab had MIN_PEERS, through the round trips and lookups. */
        signalsRelayedAfterJoins: relayed(atEnd) - relayed(joined.after),
        dialsViaBootstrap,
        dialsViaOverlay,
        neighbourCounts,
        perTab: joined.perTab.map((p, i) => ({ ...p, joinedMs: joinedMs[i] })),
      },
      connectionSetupMs: stats(dialMs),
      roundTrip: rtt,
      lookup,
      pageErrors: tabs.flatMap((t) => t.errors),
      wallMs: Math.round(performance.now() - started),
      reference: 'roundTrip.rawMs: a raw RTCPeerConnection data channel between the same two pages, interleaved with the PINGs',
    };
    const dir = join(process.cwd(), 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'browser.json'), JSON.stringify(out, null, 2) + '\n');

    const s = (x: { median: number; p95: number; n: number }) => `median ${x.median} ms, p95 ${x.p95} ms (n=${x.n})`;
    console.error(`
joined:            ${s(out.join.joinedMs)}
signals per join:  ${out.join.signalsRelayedPerJoin} (${out.join.perTab.map((p) => p.signalsRelayed).join(' ')})
connection setup:  ${s(out.connectionSetupMs)}
rpc round trip:    ${s(rtt.rpcMs)}
raw data channel:  ${s(rtt.rawMs)}
lookup:            ${s(lookup.latencyMs)}; true closest ${lookup.trueClosest.exact}/${lookup.trueClosest.of}
page errors:       ${out.pageErrors.length}; load ${out.machine.loadavgBefore.join(' ')} -> ${out.machine.loadavgAfter.join(' ')}
wrote bench/results/browser.json`);
  } finally {
    await browser?.close();
    await server.close();
  }
}

await main();
