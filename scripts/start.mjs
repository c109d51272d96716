/**
 * `npm start`: build the app if the build is missing or stale, then run the signal server, which
 * serves dist/ and `/signal` on one port (PORT, HOST). tsx's API loads the TypeScript entry in
 * this same process, so Ctrl+C reaches it directly.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsImport } from 'tsx/esm/api';
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

if (buildIsStale()) {
  console.log('Building the app into dist/ ...');
  await build({ configFile, logLevel: 'warn' });
}

await tsImport('../signal-server/main.ts', import.meta.url);
