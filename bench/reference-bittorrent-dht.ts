/**
 * Reference measurement of a classic *iterative* Kademlia: the `bittorrent-dht` npm package
 * (webtorrent; k-rpc underneath, k = 20, alpha = k-rpc's `concurrency`).
 *
 * N real DHT nodes run in this process, each on its own UDP socket bound to 127.0.0.1
 * (loopback only, `bootstrap: false`, so nothing ever leaves the machine). Every outgoing
 * datagram is held for `latencyMs` before it is handed to the socket (one-way latency), by
 * wrapping the dgram socket's `send` and passing that socket in through the `socket` option
 * (bittorrent-dht -> k-rpc -> k-rpc-socket forward their options).
 *
 * Build: nodes join one after another (with the delay switched off, to keep the build short):
 * each `addNode`s up to 3 earlier nodes (always including node 0) and runs k-rpc's
 * `populate` (iterative find_node of its own id). When all have joined, every node runs
 * its own-id lookup once more, so early joiners learn of late ones. Then the delay is
 * switched on and lookups are measured one at a time.
 *
 * One lookup: a seeded-random origin node runs `dht._closest(target, get_peers)` — exactly
 * the iterative lookup `dht.lookup(infoHash)` runs, called directly so we can also record
 * every node that answered. Queries are counted at the socket: every datagram the origin
 * hands to `send` between start and callback that is a `get_peers` query (a bencoded
 * `1:q9:get_peers`). Other datagrams it sends in that window (k-bucket liveness pings)
 * are counted separately. messages = queries * 2 (request + response).
 * "True closest": the 20 node ids nearest the target by exact XOR over all N nodes except
 * the origin; the lookup's result is the 20 nearest among the nodes that answered it.
 *
 *   npx tsx bench/reference-bittorrent-dht.ts   (prints JSON for alpha = 3 and alpha = 16;
 *   N = 500, 200 lookups, 50 ms: about 3 minutes on 2 cores)
 */
import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import DHT from 'bittorrent-dht';

export interface BittorrentDhtOptions {
  nodes: number;
  lookups: number;
  latencyMs: number;
  alpha: number;
  seed: number;
}

export interface Dist {
  median: number;
  p95: number;
}

export interface BittorrentDhtResult {
  nodes: number;
  lookups: number;
  alpha: number;
  latencyMs: number;
  queriesPerLookup: Dist;
  messagesPerLookup: Dist;
  latencyInL: Dist;
  /** Mean over lookups of |result20 ∩ true20| / 20. */
  trueClosest20Fraction: number;
  wallMs: number;
  /** Extra detail, not part of the comparison contract. */
  detail: {
    package: string;
    k: number;
    meanQueriesPerLookup: number;
    meanLatencyInL: number;
    /** Same fraction, judged on bittorrent-dht's own per-lookup result table (what announce() uses). */
    trueClosest20FractionLibTable: number;
    lookupsAllTrue20: number;
    lookupsTimedOut: number;
    /** Non-query datagrams (pings, responses) the origin sent during its lookups, per lookup. */
    otherDatagramsPerLookupMean: number;
    routingTableSize: { min: number; median: number; max: number };
    buildMs: number;
    measureMs: number;
  };
}

const PACKAGE = 'bittorrent-dht@11.0.12';
const K = 20;
const HOST = '127.0.0.1';
const LOOKUP_TIMEOUT_MS = 20_000;
const JOIN_TIMEOUT_MS = 10_000;
const QUERY_MARK = Buffer.from('1:q9:get_peers');

/** Seeded PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomId(rand: () => number): Buffer {
  const b = Buffer.alloc(20);
  for (let i = 0; i < 20; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

function xorCompare(a: Buffer, b: Buffer, target: Buffer): number {
  for (let i = 0; i < target.length; i++) {
    const da = (a[i] ?? 0) ^ (target[i] ?? 0);
    const db = (b[i] ?? 0) ^ (target[i] ?? 0);
    if (da !== db) return da - db;
  }
  return 0;
}

function closestIds(ids: Buffer[], target: Buffer, n: number): Buffer[] {
  return [...ids].sort((a, b) => xorCompare(a, b, target)).slice(0, n);
}

function dist(values: number[]): Dist {
  if (values.length === 0) return { median: NaN, p95: NaN };
  const s = [...values].sort((a, b) => a - b);
  const rank = (q: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
  return { median: rank(0.5), p95: rank(0.95) };
}

const mean = (v: number[]): number => (v.length ? v.reduce((x, y) => x + y, 0) / v.length : NaN);
const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

/** Shared switch for the injected one-way delay, so the build can run without it. */
interface Net {
  delayMs: number;
  timers: Set<NodeJS.Timeout>;
}

interface Counter {
  queries: number;
  other: number;
}

/** A UDP socket whose every outgoing datagram is delayed by net.delayMs and counted. */
function delayedSocket(net: Net, counter: Counter): Socket {
  const sock = createSocket('udp4');
  let closed = false;
  sock.once('close', () => {
    closed = true;
  });
  const realSend = sock.send.bind(sock) as (...args: unknown[]) => void;
  const send = (...args: unknown[]): void => {
    const buf = args[0];
    if (Buffer.isBuffer(buf) && buf.includes(QUERY_MARK)) counter.queries++;
    else counter.other++;
    if (net.delayMs <= 0) {
      realSend(...args);
      return;
    }
    const t = setTimeout(() => {
      net.timers.delete(t);
      if (!closed) realSend(...args);
    }, net.delayMs);
    net.timers.add(t);
  };
  (sock as unknown as { send: typeof send }).send = send;
  return sock;
}

interface Peer {
  dht: DHT;
  id: Buffer;
  port: number;
  counter: Counter;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function populateSelf(p: Peer): Promise<void> {
  return new Promise((resolve) => {
    p.dht._rpc.populate(p.id, { q: 'find_node', a: { id: p.id, target: p.id } }, () => resolve());
  });
}

export async function measureBittorrentDht(opts: BittorrentDhtOptions): Promise<BittorrentDhtResult> {
  const { nodes: n, lookups, latencyMs, alpha, seed } = opts;
  if (n < K + 2) throw new Error(`need at least ${K + 2} nodes`);
  const t0 = performance.now();
  const net: Net = { delayMs: 0, timers: new Set() };
  const idRand = prng(seed);
  const joinRand = prng(seed ^ 0x5bd1e995);
  const lookupRand = prng(seed ^ 0x1b873593);
  const peers: Peer[] = [];
  const errors: string[] = [];

  try {
    // --- start N nodes on loopback ---
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      let id = randomId(idRand);
      while (seen.has(id.toString('hex'))) id = randomId(idRand);
      seen.add(id.toString('hex'));
      const counter: Counter = { queries: 0, other: 0 };
      const dht = new DHT({
        nodeId: id,
        bootstrap: false,
        concurrency: alpha,
        k: K,
        socket: delayedSocket(net, counter),
      });
      dht.on('error', (err: unknown) => {
        errors.push(err instanceof Error ? err.message : String(err));
      });
      dht.on('warning', () => {});
      await new Promise<void>((resolve) => dht.listen(0, HOST, resolve));
      peers.push({ dht, id, port: dht.address().port, counter });
    }

    // --- build the network: sequential join, then one more self-lookup each ---
    for (let i = 1; i < n; i++) {
      const p = peers[i]!;
      const known = new Set<number>([0]);
      while (known.size < Math.min(3, i)) known.add(Math.floor(joinRand() * i));
      for (const j of known) {
        const q = peers[j]!;
        p.dht.addNode({ id: q.id, host: HOST, port: q.port });
      }
      await withTimeout(populateSelf(p), JOIN_TIMEOUT_MS);
    }
    for (const p of peers) await withTimeout(populateSelf(p), JOIN_TIMEOUT_MS);
    const sizes = peers.map((p) => p.dht._rpc.nodes.count()).sort((a, b) => a - b);
    const buildMs = performance.now() - t0;

    // --- measure, one lookup at a time, with the delay on ---
    net.delayMs = latencyMs;
    await new Promise((r) => setTimeout(r, Math.max(100, 4 * latencyMs)));
    const allIds = peers.map((p) => p.id);
    const queries: number[] = [];
    const others: number[] = [];
    const inL: number[] = [];
    const fractions: number[] = [];
    const libFractions: number[] = [];
    let allTrue = 0;
    let timedOut = 0;
    const m0 = performance.now();

    for (let l = 0; l < lookups; l++) {
      const origin = peers[Math.floor(lookupRand() * n)]!;
      const target = randomId(lookupRand);
      const responders = new Map<string, Buffer>();
      origin.counter.queries = 0;
      origin.counter.other = 0;
      const start = performance.now();
      const outcome = await withTimeout(
        new Promise<void>((resolve) => {
          origin.dht._closest(
            target,
            { q: 'get_peers', a: { id: origin.id, info_hash: target } },
            (reply) => {
              const rid = reply.r?.id;
              if (Buffer.isBuffer(rid) && rid.length === 20) responders.set(rid.toString('hex'), rid);
              return true;
            },
            () => resolve(),
          );
        }),
        LOOKUP_TIMEOUT_MS,
      );
      const elapsed = performance.now() - start;
      if (outcome === 'timeout') {
        timedOut++;
        continue;
      }
      queries.push(origin.counter.queries);
      others.push(origin.counter.other);
      inL.push(elapsed / latencyMs);

      const truth = new Set(
        closestIds(
          allIds.filter((id) => !id.equals(origin.id)),
          target,
          K,
        ).map((id) => id.toString('hex')),
      );
      const found = closestIds([...responders.values()], target, K);
      const hits = found.filter((id) => truth.has(id.toString('hex'))).length;
      fractions.push(hits / K);
      if (hits === K) allTrue++;
      const libTable = origin.dht._tables.get(target.toString('hex'));
      const libFound = libTable ? libTable.closest(target, K) : [];
      libFractions.push(libFound.filter((c) => truth.has(c.id.toString('hex'))).length / K);
    }
    const measureMs = performance.now() - m0;
    if (errors.length) throw new Error(`DHT socket errors: ${errors.slice(0, 3).join('; ')}`);

    return {
      nodes: n,
      lookups,
      alpha,
      latencyMs,
      queriesPerLookup: dist(queries),
      messagesPerLookup: dist(queries.map((q) => q * 2)),
      latencyInL: (() => {
        const d = dist(inL);
        return { median: round(d.median), p95: round(d.p95) };
      })(),
      trueClosest20Fraction: round(mean(fractions), 4),
      wallMs: Math.round(performance.now() - t0),
      detail: {
        package: PACKAGE,
        k: K,
        meanQueriesPerLookup: round(mean(queries)),
        meanLatencyInL: round(mean(inL)),
        trueClosest20FractionLibTable: round(mean(libFractions), 4),
        lookupsAllTrue20: allTrue,
        lookupsTimedOut: timedOut,
        otherDatagramsPerLookupMean: round(mean(others)),
        routingTableSize: {
          min: sizes[0] ?? 0,
          median: sizes[Math.floor(sizes.length / 2)] ?? 0,
          max: sizes[sizes.length - 1] ?? 0,
        },
        buildMs: Math.round(buildMs),
        measureMs: Math.round(measureMs),
      },
    };
  } finally {
    net.delayMs = 0;
    for (const t of net.timers) clearTimeout(t);
    net.timers.clear();
    await Promise.all(peers.map((p) => new Promise<void>((resolve) => p.dht.destroy(() => resolve()))));
  }
}

// By file name too: inside a bundle (npm run bench) every module shares the bundle's URL, and
// the URL test alone would run this CLI before the benchmark proper.
const isMain =
  process.argv[1] !== undefined &&
  /reference-bittorrent-dht\.(ts|mjs)$/.test(process.argv[1]) &&
  import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  // The two alphas run as two separate networks side by side (the process is ~95% idle: the
  // time is the injected delay), which keeps the run near 3 minutes instead of 4. Within each
  // network lookups still run strictly one at a time.
  const results = await Promise.all(
    [3, 16].map((alpha) => measureBittorrentDht({ nodes: 500, lookups: 200, latencyMs: 50, alpha, seed: 1 })),
  );
  console.log(JSON.stringify(results, null, 2));
}
