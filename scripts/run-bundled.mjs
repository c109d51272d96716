#!/usr/bin/env node
/**
 * Runs a TypeScript entry point (the simulator, the benchmarks) as one esbuild bundle under
 * plain node with --expose-gc. tsx would work too, but it keeps function names with a helper
 * that gives every closure a property array, which inflates the heap the simulator reports
 * per node by half; a bundle measures the engine as a browser runs it.
 *   node scripts/run-bundled.mjs shared/sim/cli.ts --nodes 1000 ...
 */
import { build } from 'esbuild';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run-bundled.mjs <entry.ts> [args...]');
  process.exit(2);
}
const outDir = join(root, 'node_modules', '.cache', 'peerchat-bundles');
mkdirSync(outDir, { recursive: true });
// One file per run, removed after it: runs started together (two worktrees sharing one
// node_modules, a bench beside a simulation) never load each other's half-written bundle.
const outfile = join(outDir, `${basename(entry).replace(/\.ts$/, '')}-${process.pid}.mjs`);
await build({
  entryPoints: [resolve(root, entry)],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile,
  logLevel: 'warning',
  // Keep node_modules packages external so their own resolution (and native parts) apply.
  packages: 'external',
});
// A 64 MiB young generation (semi-space; V8's default is 16 MiB on 64-bit): the simulator makes
// promises and frames by the million and most die young, and with the default too many of them
// live through two scavenges into the old generation, whose collections walk the whole heap. At
// N = 10,000 this took the run from 377 s to 348 s and the lookup phase from 86 s to 77 s. The
// heap the simulator reports per node is measured after a full collection and does not change.
const child = spawn(process.execPath, ['--expose-gc', '--max-semi-space-size=64', outfile, ...args], { stdio: 'inherit', cwd: root });
child.on('exit', (code, signal) => {
  rmSync(outfile, { force: true });
  process.exit(signal ? 1 : (code ?? 1));
});
// Ctrl+C reaches the child too (same process group): this process waits for it to exit and
// removes the bundle. A SIGTERM sent to this process alone is passed on.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
