/**
 * What a node id's work costs (shared/lib/id.ts): an honest identity's one search, and a Sybil's
 * grind for an id among a name's r closest. Measured in this Node process and in headless
 * Chromium (the same code, bundled into a blank page), in one run:
 * - the cost of one try (one SHA-256 of tag, key and nonce, as searchIdNonce runs it), over
 *   TRY_SAMPLE tries at 32 bits (which never succeed), in CPU time for Node and wall time in the
 *   page (the median of 5 rounds: the machine is shared); and, for comparison, node:crypto's
 *   SHA-256 of the same bytes, one createHash per try (its per-call overhead dominates: a
 *   grinder in C or on a GPU is one to three orders of magnitude faster, not measured here);
 * - IDENTITIES identity creations at ID_WORK_BITS, each a findIdNonce over a fresh key (in the
 *   page, yielding to the event loop between slices, as a tab does): tries and milliseconds,
 *   mean and p99. Tries are geometric with p = 2^-c, so the p99 is also given from the model
 *   (ln 100 x 2^c tries, x the measured cost of a try), which a few hundred samples only estimate;
 * - grinding: to be among the r = REPLICATION closest of N nodes to a name's key, an id needs
 *   about b = log2(N / r) leading bits of that key; each try succeeds with chance 2^-(b + c),
 *   so one such id costs 2^(b + c) tries, and a majority of a name's holders (r/2 + 1 of them)
 *   that many times over. Given for N = 1,000 and 10,000 at this machine's Node rate.
 *
 *   node scripts/run-bundled.mjs bench/id-work.ts
 * Writes bench/results/id-work.json (relative to the working directory, the project root).
 */
import { chromium } from '@playwright/test';
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM_ARGS, chromiumExecutable } from '../e2e/chromium.ts';
import { REPLICATION } from '../shared/dht/constants.ts';
import { findIdNonce, ID_WORK_BITS, searchIdNonce } from '../shared/lib/id.ts';
import { SeededRandom } from '../shared/lib/random.ts';
import { machineInfo } from './machine.ts';

const TRY_SAMPLE = 400_000;
const IDENTITIES = 200;
const NETWORK_SIZES = [1_000, 10_000];
/** ln(100): the p99 of a geometric number of tries is this many times its mean. */
const P99_FACTOR = Math.log(100);

interface Side {
  usPerTry: number;
  identity: { tries: Stats; ms: Stats; p99MsModel: number };
}
interface Stats {
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const r = (x: number) => Math.round(x * 100) / 100;
  return { mean: r(values.reduce((a, b) => a + b, 0) / values.length), p50: r(at(0.5)), p99: r(at(0.99)), max: r(sorted.at(-1)!) };
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function nodeSide(): Side {
  const random = new SeededRandom(1);
  searchIdNonce(random.bytes(32), 0, 50_000, 32); // warm up
  const t0 = cpuMs();
  searchIdNonce(random.bytes(32), 0, TRY_SAMPLE, 32);
  const usPerTry = ((cpuMs() - t0) * 1000) / TRY_SAMPLE;
  const tries: number[] = [];
  const ms: number[] = [];
  for (let i = 0; i < IDENTITIES; i++) {
    const key = random.bytes(32);
    const start = cpuMs();
    tries.push(searchIdNonce(key, 0, 2 ** 32, ID_WORK_BITS)! + 1);
    ms.push(cpuMs() - start);
  }
  return { usPerTry: round2(usPerTry), identity: { tries: stats(tries), ms: stats(ms), p99MsModel: round2((P99_FACTOR * 2 ** ID_WORK_BITS * usPerTry) / 1000) } };
}

/** node:crypto (OpenSSL) on the same 55 bytes, one createHash a try. */
function nativeUsPerTry(): number {
  const input = new Uint8Array(55);
  const t0 = cpuMs();
  for (let n = 0; n < TRY_SAMPLE; n++) {
    input[54] = n & 255;
    input[53] = (n >>> 8) & 255;
    createHash('sha256').update(input).digest();
  }
  return round2(((cpuMs() - t0) * 1000) / TRY_SAMPLE);
}

async function pageBundle(): Promise<string> {
  const out = await build({
    stdin: {
      contents: "import { findIdNonce, searchIdNonce } from './shared/lib/id.ts'; (globalThis as any).idWork = { findIdNonce, searchIdNonce };",
      resolveDir: process.cwd(),
      loader: 'ts',
    },
    bundle: true,
    format: 'iife',
    write: false,
    target: 'es2022',
  });
  return out.outputFiles[0]!.text;
}

/**
 * The same measurements in a blank Chromium page; identity searches yield as a tab's do. Both
 * wall time and the page thread's CPU time (DevTools' Performance.getMetrics ThreadTime): on a
 * shared machine the wall time is the CPU time stretched by whatever else runs.
 */
async function chromiumSide() {
  const browser = await chromium.launch({ executablePath: chromiumExecutable(), args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.addScriptTag({ content: await pageBundle() });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const threadMs = async () => {
      const { metrics } = await cdp.send('Performance.getMetrics');
      return 1000 * (metrics.find((m) => m.name === 'ThreadTime')?.value ?? Number.NaN);
    };
    await page.evaluate(() => (globalThis as unknown as { idWork: { searchIdNonce: typeof searchIdNonce } }).idWork.searchIdNonce(new Uint8Array(32), 0, 50_000, 32));
    const cpu0 = await threadMs();
    const wallUs = await page.evaluate((sample) => {
      const w = (globalThis as unknown as { idWork: { searchIdNonce: typeof searchIdNonce } }).idWork;
      const t0 = performance.now();
      w.searchIdNonce(crypto.getRandomValues(new Uint8Array(32)), 0, sample, 32);
      return ((performance.now() - t0) * 1000) / sample;
    }, TRY_SAMPLE);
    const cpuUsPerTry = ((await threadMs()) - cpu0) * 1000 / TRY_SAMPLE;
    const cpu1 = await threadMs();
    const measured = await page.evaluate(
      async ({ identities, bits }) => {
        const w = (globalThis as unknown as { idWork: { findIdNonce: typeof findIdNonce } }).idWork;
        // As web/src/main.ts yields: a message, which is not clamped as nested timeouts are.
        const yieldToPage = () =>
          new Promise<void>((resolve) => {
            const channel = new MessageChannel();
            channel.port1.onmessage = () => resolve();
            channel.port2.postMessage(null);
          });
        const tries: number[] = [];
        const ms: number[] = [];
        for (let i = 0; i < identities; i++) {
          const start = performance.now();
          tries.push((await w.findIdNonce(crypto.getRandomValues(new Uint8Array(32)), bits, yieldToPage)) + 1);
          ms.push(performance.now() - start);
        }
        return { tries, ms };
      },
      { identities: IDENTITIES, bits: ID_WORK_BITS },
    );
    const cpuMsAll = (await threadMs()) - cpu1;
    const triesAll = measured.tries.reduce((a, b) => a + b, 0);
    return {
      version: browser.version(),
      usPerTryWall: round2(wallUs),
      usPerTryCpu: round2(cpuUsPerTry),
      identity: {
        tries: stats(measured.tries),
        msWall: stats(measured.ms),
        // CPU per identity: the batch's thread time shared out by tries (yields included).
        msCpuMean: round2(cpuMsAll / IDENTITIES),
        usPerTryCpuWithYields: round2((cpuMsAll * 1000) / triesAll),
        p99MsModelCpu: round2((P99_FACTOR * 2 ** ID_WORK_BITS * cpuMsAll * 1000) / triesAll / 1000),
      },
    };
  } finally {
    await browser.close();
  }
}

function grinding(usPerTry: number) {
  const majority = Math.floor(REPLICATION / 2) + 1;
  return NETWORK_SIZES.map((n) => {
    const bits = Math.log2(n / REPLICATION);
    const tries = 2 ** (bits + ID_WORK_BITS);
    return {
      nodes: n,
      prefixBits: round2(bits),
      triesPerId: Math.round(tries),
      secondsPerIdNode: round2((tries * usPerTry) / 1e6),
      idsForMajority: majority,
      secondsForMajorityNode: round2((majority * tries * usPerTry) / 1e6),
      // Before ids cost work: 2^b keys (or hashes) per id.
      triesPerIdBefore: Math.round(2 ** bits),
    };
  });
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0]!;
  const node = nodeSide();
  const nativeUs = nativeUsPerTry();
  const browser = await chromiumSide();
  const result = {
    bench: 'id-work',
    date: new Date().toISOString(),
    machine: machineInfo(),
    // The machine is shared: its load when the run started and ended.
    loadAverage1m: { start: round2(loadAtStart), end: round2(loadavg()[0]!) },
    workBits: ID_WORK_BITS,
    replication: REPLICATION,
    identities: IDENTITIES,
    node,
    nodeCryptoCreateHashUsPerTry: nativeUs,
    chromium: browser,
    grinding: grinding(node.usPerTry),
  };
  mkdirSync(join('bench', 'results'), { recursive: true });
  writeFileSync(join('bench', 'results', 'id-work.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
}

await main();
