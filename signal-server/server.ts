/**
 * The signal server: one node:http server (node:https given `tls`) that serves the built app
 * (static.ts), `/healthz`, `/stats`, `/metrics` (Prometheus text, metrics.ts), and the `/signal` WebSocket (ws, `noServer`) through which
 * tabs prove their node id, find their first peers and exchange their first SDP (hub.ts), with
 * who is online kept by a backend (backend/; in memory unless given one). Bootstrap only: no
 * chat data.
 *
 *   const server = createSignalServer({ port: 0 });
 *   await server.ready; // server.url is http://127.0.0.1:<port>/
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { webCryptoOps, type CryptoOps } from '../shared/lib/crypto.ts';
import { cryptoRandom, type Random } from '../shared/lib/random.ts';
import { SIGNAL_PATH } from '../shared/signal/protocol.ts';
import type { SignalBackend } from './backend/backend.ts';
import { MemoryBackend } from './backend/memory.ts';
import { Hub } from './hub.ts';
import type { IceConfig } from './ice.ts';
import { DEFAULT_LIMITS, type Limits } from './limits.ts';
import { createMetrics, type RedisState, type ServerStats } from './metrics.ts';
import { serveStatic } from './static.ts';

export { DEFAULT_LIMITS, type Limits } from './limits.ts';
export type { SignalStats } from './hub.ts';
export type { RedisState, ServerStats } from './metrics.ts';

export interface SignalServerOptions {
  /** 0 picks a free port (tests). Default 8080. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The built app; default dist/ of this repository. */
  staticDir?: string;
  limits?: Partial<Limits>;
  /**
   * Clock for the rate limits and TURN credential expiry (tests freeze it). Timeouts and
   * heartbeat use real timers.
   */
  now?: () => number;
  random?: Random;
  ops?: CryptoOps;
  /** Presence, first peers and relays; default a MemoryBackend (one process). close() closes it. */
  backend?: SignalBackend;
  /**
   * PEM certificate and key: serve HTTPS and WSS on the same port. Browsers give the app its
   * secure context (WebCrypto, service worker) only over HTTPS or on localhost.
   */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** STUN and TURN servers to hand each authenticated tab (ice.ts); none without. */
  ice?: IceConfig;
  /**
   * Origins (`https://chat.example.org`) whose pages may open `/signal`; default the server's
   * own origin, as the request names it. A browser always sends Origin, so any other site's page
   * is refused and cannot use its visitors' browsers as Sybils or flood sources; clients that
   * are not browsers send none and are judged by the same limits as tabs.
   */
  allowedOrigins?: readonly string[];
}

export interface SignalServer {
  ready: Promise<void>;
  /** http://host:port/ (https:// with `tls`) once `ready` has resolved. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
  stats(): ServerStats;
  /** Node ids of the authenticated tabs: the server's view of who is online (tests use it). */
  connectedIds(): string[];
}

/** How long close() lets tabs answer the close frame before cutting their sockets. */
const CLOSE_GRACE_MS = 1_000;
const DEFAULT_STATIC_DIR = fileURLToPath(new URL('../dist', import.meta.url));

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** Refuses an upgrade on the raw socket: ws has not taken it over yet. */
function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/**
 * Whether a WebSocket upgrade's Origin may use the server: absent (not a browser), listed, or
 * with no list the very origin the request was sent to (scheme, and the Host header).
 */
export function originAllowed(origin: string | undefined, host: string | undefined, tls: boolean, allowed: readonly string[] | undefined): boolean {
  if (origin === undefined) return true;
  if (allowed !== undefined) return allowed.includes(origin);
  return host !== undefined && origin === `${tls ? 'https' : 'http'}://${host}`;
}

/** `0.0.0.0` and `::` listen everywhere; a browser should be sent to localhost. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

export function createSignalServer(options: SignalServerOptions = {}): SignalServer {
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
  const host = options.host ?? '127.0.0.1';
  const staticDir = resolve(options.staticDir ?? DEFAULT_STATIC_DIR);
  const random = options.random ?? cryptoRandom;
  const now = options.now ?? Date.now;
  const backend: SignalBackend = options.backend ?? new MemoryBackend(random, { now });
  const hub = new Hub({ limits, now, random, ops: options.ops ?? webCryptoOps, backend, ...(options.ice ? { ice: options.ice } : {}) });
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxFrameBytes, clientTracking: false });
  let port = options.port ?? 8080;
  const redisState = (): RedisState => backend.state?.() ?? 'off';
  const stats = (): ServerStats => ({ ...hub.stats(), redis: redisState() });
  const metrics = createMetrics(stats);

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' });
      res.end();
      return;
    }
    // Degraded is still 200: the process serves its own tabs, and a load balancer that pulled
    // every process when Redis blinked would serve no one.
    if (path === '/healthz') return sendJson(res, 200, { ok: true, tls: options.tls !== undefined, redis: redisState() });
    if (path === '/stats') return sendJson(res, 200, stats());
    if (path === '/metrics') return void sendMetrics(res);
    serveStatic(staticDir, req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, { ok: false });
      else res.destroy();
    });
  };
  const sendMetrics = async (res: ServerResponse): Promise<void> => {
    const text = await metrics.metrics();
    res.writeHead(200, { 'Content-Type': metrics.contentType, 'Cache-Control': 'no-store' });
    res.end(text);
  };
  // Throws here, before listening, when cert and key are not PEM or do not match.
  // Headers must arrive within headersTimeoutMs (slow-loris); Node checks every interval.
  const timeouts = { headersTimeout: limits.headersTimeoutMs, requestTimeout: 2 * limits.headersTimeoutMs, connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs) };
  const http = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key, ...timeouts }, onRequest)
    : createServer(timeouts, onRequest);

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // A named function, not a closure: a closure here would share this scope with the
    // handleUpgrade callback and keep `req` alive for the socket's life (~1.25 KiB per tab).
    socket.on('error', destroyOnError);
    const address = req.socket.remoteAddress ?? 'unknown';
    if ((req.url ?? '').split('?')[0] !== SIGNAL_PATH) {
      hub.reject('bad-path');
      return refuseUpgrade(socket, 404, 'Not Found');
    }
    if (!originAllowed(req.headers.origin, req.headers.host, options.tls !== undefined, options.allowedOrigins)) {
      hub.reject('bad-origin');
      return refuseUpgrade(socket, 403, 'Forbidden');
    }
    if (hub.size >= limits.maxConnections) {
      hub.reject('max-connections');
      return refuseUpgrade(socket, 503, 'Service Unavailable');
    }
    const refusal = hub.addressRefusal(address);
    if (refusal) {
      hub.reject(refusal);
      return refuseUpgrade(socket, 429, 'Too Many Requests');
    }
    wss.handleUpgrade(req, socket, head, (ws) => hub.accept(ws, address));
  });

  const heartbeat = setInterval(() => hub.heartbeat(), limits.heartbeatMs);
  heartbeat.unref();

  const ready = new Promise<void>((resolveReady, rejectReady) => {
    http.once('error', rejectReady);
    http.listen(port, host, () => {
      port = (http.address() as AddressInfo).port;
      http.off('error', rejectReady);
      resolveReady();
    });
  });

  let closing: Promise<void> | undefined;
  function close(): Promise<void> {
    closing ??= (async () => {
      clearInterval(heartbeat);
      await ready.catch(() => {});
      await hub.closeAll(CLOSE_GRACE_MS);
      await backend.close();
      await new Promise<void>((done) => wss.close(() => done()));
      await new Promise<void>((done) => {
        http.close(() => done());
        http.closeAllConnections();
      });
    })();
    return closing;
  }

  return {
    ready,
    get url() {
      return `${options.tls ? 'https' : 'http'}://${urlHost(host)}:${port}/`;
    },
    get port() {
      return port;
    },
    close,
    stats,
    connectedIds: () => hub.connectedIds(),
  };
}

function destroyOnError(this: Duplex): void {
  this.destroy();
}
