/**
 * Builds simple-peer for browsers from its own source with the few Node pieces it uses replaced
 * by this folder's files, instead of its prebuilt bundle (which carries Node's stream, Buffer,
 * events and process for browsers: 97 KB raw, 30 KB gzipped, most of the app's start-up JS).
 * Only imports made by simple-peer's own index.js are redirected; get-browser-rtc, err-code and
 * queue-microtask are the real packages. Node (headless nodes, vitest) never loads this plugin.
 * Measured 2026-12-07: simple-peer's code and its stand-ins are 6 KB of gzipped JS.
 */
import { fileURLToPath } from 'node:url';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** simple-peer's dependency -> the file that stands in for it in browsers. */
export const SIMPLE_PEER_BROWSER_DEPS: Readonly<Record<string, string>> = {
  'readable-stream': here('./stream.ts'),
  buffer: here('./buffer.ts'),
  debug: here('./debug.cjs'),
  randombytes: here('./randombytes.cjs'),
};

const SIMPLE_PEER_SOURCE = /[\\/]node_modules[\\/]simple-peer[\\/]index\.js$/;

/** A Vite (and rolldown) plugin: the redirect, for the app build and the dev server's prebundle. */
export function simplePeerBrowserDeps() {
  return {
    name: 'peerchat:simple-peer-browser-deps',
    enforce: 'pre' as const,
    resolveId(source: string, importer: string | undefined): string | null {
      if (!importer || !SIMPLE_PEER_SOURCE.test(importer)) return null;
      return SIMPLE_PEER_BROWSER_DEPS[source] ?? null;
    },
    // Logging is off (debug.cjs): its ~40 calls only build strings, so the minifier may drop
    // them. Their arguments are plain reads. Lines do not move, so the source map stays usable.
    transform(code: string, id: string): { code: string; map: null } | null {
      if (!SIMPLE_PEER_SOURCE.test(id)) return null;
      return { code: code.replaceAll('this._debug(', '/* @__PURE__ */ this._debug('), map: null };
    },
  };
}
