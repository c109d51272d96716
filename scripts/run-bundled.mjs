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
import { mkdirSync } from 'node:fs';
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
const outfile = join(outDir, basename(entry).replace(/\.ts$/, '') + '.mjs');
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
const child = spawn(process.execPath, ['--expose-gc', outfile, ...args], { stdio: 'inherit', cwd: root });
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
