/**
 * What the app's JavaScript is made of: builds the app with source maps into a temporary folder
 * (dist/ is left alone), then gives each chunk's bytes to the source files they came from, by
 * package (node_modules) or folder (shared/dht, web/components, ...). A group's gzip share is
 * its share of the chunk's raw bytes times the chunk's gzip -9 size: gzip has no per-file
 * sizes, and this is how source-map-explorer counts too. `npm run bundle:report`; README.md's
 * "What a tab downloads" quotes it. Bytes with no source are Svelte's compiled templates and
 * the bundler's own runtime.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'vite';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Source-map mappings, per generated line: [column, source index or -1] at each segment. */
function segmentsByLine(mappings) {
  let source = 0;
  return mappings.split(';').map((line) => {
    let column = 0;
    return line.split(',').filter(Boolean).map((segment) => {
      const fields = [];
      let value = 0;
      let shift = 0;
      for (const char of segment) {
        const digit = B64.indexOf(char);
        value += (digit & 31) << shift;
        if (digit & 32) shift += 5;
        else {
          fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      column += fields[0];
      if (fields.length > 1) source += fields[1];
      return [column, fields.length > 1 ? source : -1];
    });
  });
}

/** A source path -> its report group. */
function groupOf(source) {
  if (source === null) return '(no source: Svelte templates, bundler runtime)';
  const path = source.replace(/\\/g, '/');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg) return pkg[1] === 'svelte' ? 'svelte (runtime)' : pkg[1];
  const local = /(?:^|\/)((?:shared|web)\/[^/]+(?:\/simple-peer-deps)?)\//.exec(path);
  return local ? local[1] : path.replace(/^(\.\.\/)+/, '');
}

/** Raw bytes of `code` per group, by the chunk's source map. */
function bytesByGroup(code, map) {
  const lines = code.split('\n');
  const groups = new Map();
  const add = (group, n) => groups.set(group, (groups.get(group) ?? 0) + n);
  segmentsByLine(map.mappings).forEach((segments, i) => {
    const line = lines[i] ?? '';
    add(groupOf(null), (segments[0]?.[0] ?? line.length) + 1);
    segments.forEach(([column, source], j) => {
      const end = segments[j + 1]?.[0] ?? line.length;
      add(groupOf(source < 0 ? null : map.sources[source]), end - column);
    });
  });
  for (let i = map.mappings.split(';').length; i < lines.length; i++) add(groupOf(null), lines[i].length + 1);
  return groups;
}

const kb = (bytes) => (bytes / 1000).toFixed(1).padStart(6);

const outDir = mkdtempSync(join(tmpdir(), 'peerchat-bundle-'));
try {
  await build({ root: join(ROOT, 'web'), configFile: join(ROOT, 'vite.config.ts'), logLevel: 'warn', build: { outDir, emptyOutDir: true, sourcemap: true } });
  const assets = join(outDir, 'assets');
  for (const file of readdirSync(assets).filter((f) => f.endsWith('.js')).sort()) {
    const code = readFileSync(join(assets, file), 'utf8');
    const gzip = gzipSync(code, { level: 9 }).length;
    const raw = Buffer.byteLength(code);
    console.log(`\n${file}: ${kb(raw).trim()} KB raw, ${kb(gzip).trim()} KB gzip -9`);
    const groups = [...bytesByGroup(code, JSON.parse(readFileSync(join(assets, `${file}.map`), 'utf8')))].sort((a, b) => b[1] - a[1]);
    const mapped = groups.reduce((sum, [, n]) => sum + n, 0);
    console.log('   raw KB  gzip KB  group');
    for (const [group, n] of groups) if (n > 0) console.log(`  ${kb(n)}   ${kb((n / mapped) * gzip)}  ${group}`);
  }
} finally {
  rmSync(outDir, { recursive: true, force: true });
}
