/**
 * Keeps the engine portable: shared/ runs unchanged in a tab, in Node and inside the simulator,
 * so it may not reach for the DOM, IndexedDB, WebRTC, Node or the app around it. The world comes
 * in through the constructor instead (STYLE.md, habit 1).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SHARED = dirname(fileURLToPath(import.meta.url));
const FORBIDDEN_PACKAGES = ['idb', 'simple-peer', 'ws'];
const FORBIDDEN_GLOBALS = [
  'window',
  'document',
  'indexedDB',
  'RTCPeerConnection',
  'localStorage',
  'sessionStorage',
];
const NODE_BUILTINS = new Set(builtinModules);
// One pass over comments and string literals, so a '//' inside a string is not a comment.
const COMMENT_OR_STRING =
  /\/\*[\s\S]*?\*\/|\/\/.*$|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`/gm;
const MODULE_SPECIFIER = /\b(?:from|import|require)\s*\(?\s*(['"])([^'"\n]+)\1/g;
const GLOBAL_USE = new RegExp(`(?<![\\w$.])(${FORBIDDEN_GLOBALS.join('|')})(?![\\w$])`, 'g');

function engineSources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return engineSources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Blanks comments (and strings too, when asked) but keeps every newline, so lines still count. */
function blank(source: string, strings: boolean): string {
  return source.replace(COMMENT_OR_STRING, (match) =>
    match.startsWith('/') || strings ? match.replace(/[^\n]/g, ' ') : match,
  );
}

function lineOf(source: string, index: number): number {
  return source.slice(0, index).split('\n').length;
}

function isNodeBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || NODE_BUILTINS.has(specifier);
}

/** Why an import is not allowed in `file`, or null when it is fine. */
function importProblem(file: string, specifier: string): string | null {
  const inSim = relative(SHARED, file).split(sep)[0] === 'sim';
  if (specifier.startsWith('.')) {
    const target = resolve(dirname(file), specifier);
    if (!target.startsWith(SHARED + sep)) return 'reaches outside shared/';
    const intoSim = relative(SHARED, target).split(sep)[0] === 'sim';
    return intoSim && !inSim ? 'engine imports the simulator, which may use Node' : null;
  }
  if (/(^|\/)(web|signal-server)\//.test(specifier)) return 'imports the app or the server';
  if (FORBIDDEN_PACKAGES.some((p) => specifier === p || specifier.startsWith(p + '/'))) {
    return 'imports an I/O package; take it through a seam (Transport, Store) instead';
  }
  // The simulator's CLI runs in Node; the engine proper must not.
  if (isNodeBuiltin(specifier) && !inSim) return 'imports a Node built-in';
  return null;
}

/** Every boundary violation in one source file, as "file:line: what". */
function violations(file: string, source: string): string[] {
  const name = relative(SHARED, file);
  const found: string[] = [];
  const code = blank(source, false);
  for (const m of code.matchAll(MODULE_SPECIFIER)) {
    const problem = importProblem(file, m[2]!);
    if (problem) found.push(`shared/${name}:${lineOf(code, m.index)}: '${m[2]}' ${problem}`);
  }
  const bare = blank(source, true).replace(/\b(?:globalThis|self)\./g, (s) => ' '.repeat(s.length));
  for (const m of bare.matchAll(GLOBAL_USE)) {
    found.push(`shared/${name}:${lineOf(bare, m.index)}: uses the global '${m[1]}'`);
  }
  return found;
}

describe('engine boundary', () => {
  it('the engine imports nothing from the DOM, IndexedDB, WebRTC or Node', () => {
    const files = engineSources(SHARED);
    expect(files.length).toBeGreaterThan(0);
    const found = files.flatMap((file) => violations(file, readFileSync(file, 'utf8')));
    expect(found, 'shared/ must stay free of I/O; pass the world in instead').toEqual([]);
  });

  it('the check catches forbidden imports and globals but not comments or strings', () => {
    const engineFile = join(SHARED, 'example.ts');
    const bad = [
      "import { openDB } from 'idb';",
      "import Peer from 'simple-peer/simplepeer.min.js';",
      "import { readFile } from 'fs';",
      "const os = await import('node:os');",
      "export { App } from '../web/src/App.ts';",
      'const pc = new RTCPeerConnection();',
      'globalThis.localStorage.clear();',
    ].join('\n');
    expect(violations(engineFile, bad)).toHaveLength(7);

    const fine = [
      "import { idToHex } from './lib/id.ts';",
      "import * as v from 'valibot';",
      '// the window of time before a document expires; indexedDB is not used here',
      "const hint = 'no window, no ws';",
      'const size = options.window;',
    ].join('\n');
    expect(violations(engineFile, fine)).toEqual([]);
  });

  it('the simulator may import Node built-ins but the engine may not import the simulator', () => {
    const simFile = join(SHARED, 'sim', 'cli.ts');
    expect(violations(simFile, "import { parseArgs } from 'node:util';")).toEqual([]);
    expect(violations(join(SHARED, 'node.ts'), "import { run } from './sim/cli.ts';")).toHaveLength(1);
  });
});
