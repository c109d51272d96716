/**
 * `npm start`: build the app if the build is missing or stale, then serve dist/.
 * Vite's preview server stands in until the signal server takes over serving (a later issue).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, preview } from 'vite';

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

const server = await preview({ configFile });
const url = server.resolvedUrls?.local[0] ?? `http://${server.config.preview.host}:${server.config.preview.port}/`;
console.log(`\nPeerchat is running. Open ${url} (Ctrl+C stops it).`);
