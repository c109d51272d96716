/**
 * SHA-256 on the engine's inputs, three implementations measured in the same run:
 * - hand-rolled: the synchronous sha256Sync the engine carried until @noble/hashes replaced it,
 *   read from git history (HAND_ROLLED below) and transpiled here, so the comparison can be run
 *   again without keeping a copy of it in the tree; skipped when git cannot show it;
 * - @noble/hashes: what `shared/lib/id.ts` uses;
 * - node:crypto: OpenSSL's native hash, the reference for what a synchronous hash can cost (a
 *   tab has no synchronous native SHA-256: WebCrypto's digest is async).
 * Inputs: 32-byte keys (node id = SHA-256 of an Ed25519 key, every HELLO and record check),
 * "user:" + name (every name lookup), and 1 KiB and 16 KiB buffers.
 * Each implementation runs ROUNDS rounds of ROUND_MS per input, round-robin so all see the same
 * load, after a warm-up; the result is the median round's operations per second of this
 * process's CPU time, not wall time: on a shared machine the process may get a third of a core,
 * and CPU time is what a hash costs the one thread it runs on.
 *   node scripts/run-bundled.mjs bench/sha256.ts
 * Writes bench/results/sha256.json (relative to the working directory, the project root).
 */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { transform } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SeededRandom } from '../shared/lib/random.ts';
import { machineInfo } from './machine.ts';

type Hash = (data: Uint8Array) => Uint8Array;

/** The last commit that has the hand-rolled SHA-256, and where it was. */
const HAND_ROLLED = '795831a35f21e3476d4c15f8643e9a7a4cee91af:shared/lib/sha256.ts';
const ROUNDS = 7;
const ROUND_MS = 200;
const WARMUP_MS = 300;
/** Distinct inputs of each kind, hashed in turn, so no run hashes one buffer over and over. */
const DISTINCT = 64;

async function handRolled(): Promise<Hash | null> {
  let source: string;
  try {
    source = execFileSync('git', ['show', HAND_ROLLED], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
  const { code } = await transform(source, { loader: 'ts', format: 'esm', target: 'node20' });
  const module = (await import(`data:text/javascript,${encodeURIComponent(code)}`)) as { sha256Sync: Hash };
  return module.sha256Sync;
}

function inputs(): Record<string, Uint8Array[]> {
  const random = new SeededRandom(1);
  const encoder = new TextEncoder();
  const many = (make: (i: number) => Uint8Array) => Array.from({ length: DISTINCT }, (_, i) => make(i));
  return {
    key32: many(() => random.bytes(32)),
    // Usernames are 3-32 characters of [a-z0-9_-]; these are 5-20, as people pick them.
    userName: many((i) => encoder.encode('user:' + 'abcdefghijklmnopqrst'.slice(0, 5 + (i % 16)) + i)),
    buffer1KiB: many(() => random.bytes(1024)),
    buffer16KiB: many(() => random.bytes(16 * 1024)),
  };
}

/** Milliseconds of CPU time this process has used. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Operations per CPU second of one implementation on one kind of input, over about `ms`. */
function opsPerSecond(hash: Hash, data: Uint8Array[], ms: number): number {
  let ops = 0;
  const start = cpuMs();
  let elapsed = 0;
  // Read the clock every DISTINCT hashes only, so reading it costs little beside a 32-byte hash.
  while (elapsed < ms) {
    for (const d of data) hash(d);
    ops += data.length;
    elapsed = cpuMs() - start;
  }
  return (ops * 1000) / elapsed;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

const hashes: Record<string, Hash> = {
  nobleHashes: nobleSha256,
  nodeCrypto: (d) => createHash('sha256').update(d).digest(),
};
const old = await handRolled();
if (old) hashes.handRolled = old;
else console.error(`git cannot show ${HAND_ROLLED}: the hand-rolled SHA-256 is left out`);

const byInput: Record<string, Record<string, number>> = {};
for (const [kind, data] of Object.entries(inputs())) {
  // All three must agree before their speeds mean anything.
  const digests = new Set(Object.values(hashes).map((h) => data.map((d) => hex(h(d))).join()));
  if (digests.size !== 1) throw new Error(`the implementations disagree on ${kind}`);
  const rounds: Record<string, number[]> = {};
  for (const [name, hash] of Object.entries(hashes)) {
    opsPerSecond(hash, data, WARMUP_MS);
    rounds[name] = [];
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, hash] of Object.entries(hashes)) rounds[name]!.push(opsPerSecond(hash, data, ROUND_MS));
  }
  byInput[kind] = Object.fromEntries(Object.entries(rounds).map(([name, xs]) => [name, Math.round(median(xs))]));
  console.error(kind, JSON.stringify(byInput[kind]));
}

const out = {
  date: new Date().toISOString(),
  machine: machineInfo(),
  method: `per CPU second; median of ${ROUNDS} rounds of ${ROUND_MS} ms CPU, round-robin, after ${WARMUP_MS} ms of warm-up`,
  handRolledFrom: old ? HAND_ROLLED : null,
  opsPerSecond: byInput,
  // How many times the hand-rolled one's speed @noble/hashes reaches, per input.
  nobleVsHandRolled: old
    ? Object.fromEntries(Object.entries(byInput).map(([k, v]) => [k, Math.round((v.nobleHashes! / v.handRolled!) * 100) / 100]))
    : null,
};
const dir = join(process.cwd(), 'bench', 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'sha256.json'), JSON.stringify(out, null, 2) + '\n');
console.log(JSON.stringify(out, null, 2));
