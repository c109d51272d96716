/**
 * Runs the signal server: `node --import tsx signal-server/main.ts` (npm start does this after
 * building). PORT (default 8080) and HOST (default localhost) pick where it listens; TLS_CERT
 * and TLS_KEY (PEM files, both or neither) make it serve HTTPS and WSS on that port. STUN_URLS,
 * TURN_URLS, TURN_SECRET and TURN_TTL_S (ice-env.ts) give every tab ICE servers; ALLOWED_ORIGINS
 * (origins-env.ts) lists the sites whose pages may use /signal (default: its own origin).
 * REDIS_URL (redis-env.ts) puts presence and relays in Redis, so many processes serve as one.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cryptoRandom } from '../shared/lib/random.ts';
import type { SignalBackend } from './backend/backend.ts';
import { MemoryBackend } from './backend/memory.ts';
import { RedisBackend } from './backend/redis.ts';
import { createSignalServer, type SignalServer } from './server.ts';
import { iceFromEnv } from './ice-env.ts';
import { originsFromEnv } from './origins-env.ts';
import { redisFromEnv } from './redis-env.ts';
import { tlsFromEnv } from './tls-env.ts';

const port = Number(process.env['PORT'] ?? 8080);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number (0-65535), not "${process.env['PORT']}".`);
  process.exit(2);
}
const host = process.env['HOST'] ?? 'localhost';
const staticDir = fileURLToPath(new URL('../dist', import.meta.url));

const redis = redisFromEnv(process.env);
if (!redis.ok) {
  console.error(redis.message);
  process.exit(2);
}
const tls = tlsFromEnv(process.env, (path) => readFileSync(path));
if (!tls.ok) {
  console.error(tls.message);
  process.exit(2);
}
const origins = originsFromEnv(process.env);
if (!origins.ok) {
  console.error(origins.message);
  process.exit(2);
}
const ice = iceFromEnv(process.env);
if (!ice.ok) {
  console.error(ice.message);
  process.exit(2);
}
// The one place a deployment picks its backend (backend/): every process on one Redis, or
// this process alone, in memory. Without Redis at start it serves alone until Redis comes.
const backend: SignalBackend = redis.url ? await RedisBackend.connect({ url: redis.url, random: cryptoRandom }) : new MemoryBackend(cryptoRandom);
let server: SignalServer;
try {
  server = createSignalServer({
    port,
    host,
    staticDir,
    backend,
    tls: tls.tls,
    ...(ice.ice ? { ice: ice.ice } : {}),
    ...(origins.origins ? { allowedOrigins: origins.origins } : {}),
  });
} catch (err) {
  // Only the https server throws here: files that are not a PEM certificate and its key.
  console.error(`TLS_CERT and TLS_KEY must be a PEM certificate and its private key: ${String(err)}`);
  process.exit(2);
}
try {
  await server.ready;
} catch (err) {
  const code = (err as { code?: string }).code;
  console.error(code === 'EADDRINUSE' ? `Port ${port} is in use; set PORT to another one.` : String(err));
  process.exit(1);
}
console.log(`\nPeerchat is running. Open ${server.url} (Ctrl+C stops it).`);
// URLs only: the TURN secret and the credentials minted from it are never printed.
if (backend instanceof RedisBackend) console.log(`Presence and relays in Redis (process ${backend.process}): ${backend.state()}.`);
if (ice.ice) console.log(`ICE servers for tabs: ${[...ice.ice.stunUrls, ...ice.ice.turnUrls].join(', ')}`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    void server.close().then(() => process.exit(0));
  });
}
