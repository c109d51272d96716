/**
 * The engine's folders are layers and imports only go down (ARCHITECTURE.md): lib/ imports
 * nothing of the engine, signal/ and dht/ import lib/, chat/ imports dht/ and lib/, and the
 * simulator sits on top. And no module anywhere in the repository imports itself through a
 * cycle: a cycle is two files that can only be understood, tested and changed together.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SHARED = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(SHARED, '..');
const SOURCE_DIRS = ['shared', 'web', 'signal-server', 'bench', 'e2e', 'scripts'];

/** What each layer may import from the engine, besides itself. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  lib: [],
  signal: ['lib'],
  dht: ['lib'],
  chat: ['dht', 'lib'],
  sim: ['chat', 'dht', 'signal', 'lib'],
};

const IMPORT = /\b(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|\bimport\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|\bimport\s+['"](\.{1,2}\/[^'"]+)['"]/g;
const COMMENT = /\/\*[\s\S]*?\*\/|^\s*\/\/.*$/gm;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sources(path);
    return /\.(ts|mjs|svelte)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Relative imports of a file, resolved to absolute paths; type-only ones count too. */
export function importsOf(file: string, text = readFileSync(file, 'utf8')): string[] {
  const code = text.replace(COMMENT, '');
  return [...code.matchAll(IMPORT)].map((m) => resolve(dirname(file), (m[1] ?? m[2] ?? m[3])!));
}

function layerOf(file: string): string | null {
  const rel = relative(SHARED, file);
  return rel.startsWith('..') || !rel.includes(sep) ? null : rel.split(sep)[0]!;
}

/** Strongly connected components of more than one file (Tarjan): each is an import cycle. */
export function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (let w = stack.pop()!; ; w = stack.pop()!) {
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

describe('the engine in layers', () => {
  it('imports only go down: lib, then signal and dht, then chat, then the simulator', () => {
    const problems: string[] = [];
    for (const file of sources(SHARED)) {
      const from = layerOf(file);
      if (from === null) continue;
      for (const target of importsOf(file)) {
        const to = layerOf(target);
        if (to === null || to === from || MAY_IMPORT[from]?.includes(to)) continue;
        problems.push(`${relative(ROOT, file)} imports ${relative(ROOT, target)} (${from} may not import ${to})`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('every engine file lives in a layer folder, besides a few at the top', () => {
    const top = sources(SHARED).filter((f) => layerOf(f) === null).map((f) => relative(SHARED, f));
    expect(top.length).toBeLessThanOrEqual(4);
    const unknown = sources(SHARED).map(layerOf).filter((l): l is string => l !== null && !(l in MAY_IMPORT));
    expect(unknown).toEqual([]);
  });

  it('no module in the repository reaches itself through its imports', () => {
    const graph = new Map<string, string[]>();
    for (const dir of SOURCE_DIRS) for (const file of sources(join(ROOT, dir))) graph.set(file, importsOf(file));
    expect(cycles(graph).map((c) => c.map((f) => relative(ROOT, f)))).toEqual([]);
  });

  it('the cycle finder finds a cycle of three and a file importing itself, and nothing in a chain', () => {
    const g = (edges: Record<string, string[]>) => new Map(Object.entries(edges));
    expect(cycles(g({ a: ['b'], b: ['c'], c: ['a'], d: ['a'] }))).toEqual([['a', 'b', 'c']]);
    expect(cycles(g({ a: ['a'] }))).toEqual([['a']]);
    expect(cycles(g({ a: ['b'], b: ['c'], c: [] }))).toEqual([]);
    expect(importsOf('/x/y.ts', "import type { A } from './a.ts';\n// import { B } from './b.ts';\nexport * from '../c.ts';")).toEqual(['/x/a.ts', '/c.ts']);
  });
});
