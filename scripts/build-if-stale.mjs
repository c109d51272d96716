/**
 * Builds the app into dist/ when the build is missing or older than its sources: shared by
 * `npm start` (start.mjs) and `npm run stack` (stack.mjs).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = fileURLToPath(new URL('..', import.meta.url));
const configFile = join(root, 'vite.config.ts');
const builtIndex = join(root, 'dist', 'index.html');
const SOURCE_DIRS = ['web', 'shared'];
const CONFIG_FILES = ['vite.config.ts', 'package.json'];

/** Newest modification time of the sources that go into the build (tests do not). */
function newestSourceMtime(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return path.endsWith('.test.ts') ? 0 : stat.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(path)) {
    if (entry === 'node_modules') continue;
    newest = Math.max(newest, newestSourceMtime(join(path, entry)));
  }
  return newest;
}

function buildIsStale() {
  if (!existsSync(builtIndex)) return true;
  const sources = [...SOURCE_DIRS, ...CONFIG_FILES].map((p) => join(root, p)).filter(existsSync);
  const newest = Math.max(...sources.map(newestSourceMtime));
  return newest > statSync(builtIndex).mtimeMs;
}

export async function buildIfStale() {
  if (!buildIsStale()) return;
  console.log('Building the app into dist/ ...');
  await build({ configFile, logLevel: 'warn' });
}
