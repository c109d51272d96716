/**
 * Serves the built app (dist/) at `/` and again at `/twin/`.
 *
 * Why twice: Chromium lets one renderer process create only 500 RTCPeerConnections in its life,
 * and a reload keeps the process. Navigating between a page served with
 * `Cross-Origin-Opener-Policy: same-origin` + `Cross-Origin-Embedder-Policy: require-corp` and
 * one without swaps the renderer process and so resets the count, while sessionStorage and
 * localStorage survive (MACHINE-NOTES). So `/twin/` carries those headers and `/` does not, and a
 * tab near the cap moves to the other one (ARCHITECTURE.md, "Connections are scarce"). Subresources are same-origin,
 * which require-corp allows without extra headers.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { isTwinPath, TWIN_PREFIX } from '../shared/signal/protocol.ts';


const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Sent with every static response. The built app loads only its own scripts, styles, images,
 * worker and manifest, and talks only to its own origin (`/signal`); WebRTC is not governed by
 * CSP. So a script injected into the page could not load more code or send what it reads
 * elsewhere over fetch or WebSocket; no other site may frame the app (clickjacking a Join or a
 * key-change acceptance); and no page's address leaks in a Referer header.
 */
export const SECURITY_HEADERS = {
  'Content-Security-Policy': [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self'",
    "manifest-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; '),
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
};

const TWIN_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  res.end(text);
}

/**
 * The file path under `root` that a request path names, or null when the path tries to leave
 * root. `..` is refused in the raw and the decoded form: the WHATWG URL parser would quietly
 * resolve it (and `%2e%2e`), turning a traversal attempt into some other file.
 */
export function staticPathFor(root: string, rawPath: string): string | null {
  if (rawPath.includes('..') || rawPath.includes('\\') || rawPath.includes('\0')) return null;
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return null;
  }
  if (decoded.includes('..') || decoded.includes('\\') || decoded.includes('\0')) return null;
  const relative = decoded.endsWith('/') ? decoded + 'index.html' : decoded;
  const full = resolve(join(root, relative));
  return full.startsWith(root + sep) ? full : null;
}

/** Answers a GET or HEAD for a static file; 404 when there is none. */
export async function serveStatic(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const rawPath = (req.url ?? '/').split('?')[0]!;
  const twin = isTwinPath(rawPath);
  if (rawPath === '/twin') {
    res.writeHead(308, { Location: TWIN_PREFIX });
    res.end();
    return;
  }
  const headers: Record<string, string> = twin ? { ...SECURITY_HEADERS, ...TWIN_HEADERS } : { ...SECURITY_HEADERS };
  const path = staticPathFor(root, twin ? rawPath.slice(TWIN_PREFIX.length - 1) : rawPath);
  if (path === null) return sendText(res, 400, 'Bad path: ".." and "\\" are not allowed.\n', headers);
  const info = await stat(path).catch(() => null);
  if (!info?.isFile()) return sendText(res, 404, 'Not found.\n', headers);
  const hashed = path.includes(`${sep}assets${sep}`);
  res.writeHead(200, {
    ...headers,
    'Content-Type': CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': String(info.size),
    // Vite puts content hashes in asset names; everything else (index.html, sw.js) revalidates.
    'Cache-Control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(path);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}
